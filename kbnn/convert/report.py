"""The last stage of the converter: what every Keras layer became (:class:`ConversionReport`).

:func:`make_report` builds it from the plan (each step fills its own row,
:meth:`kbnn.convert.plan.Step.report_row`); :func:`mark_precisions` adds what an int8
conversion made of each layer, read from the quantized file.
"""

from __future__ import annotations

import dataclasses

import keras

from kbnn.convert import int8 as q8


@dataclasses.dataclass
class LayerReport:
    name: str
    class_name: str
    status: str  # "lowered" | "folded" | "builtin" | "float (not lowered)" | "input"
    op: str  # custom op name, "folded into <layer>", or "builtin"
    output_type: str = ""  # float32 / bitpacked for lowered ops
    input: str = ""  # "quantize" / "bitpacked" for binary ops
    weight_bits: int | None = None  # bits of the exported weights (1 = bitpacked); None without weights
    weight_bytes: int = 0  # bytes of the exported weights/constants of this layer
    binary_macs: int = 0  # per sample: XNOR-popcount MACs of the binary ops emitted for this layer
    op_count: int = 1  # kbnn conv/FC ops emitted for this layer (a multi-base layer: one per weight base)
    reason: str = ""  # why a quantized layer was not lowered
    precision: str = ""  # int8 conversions: "int8" / "float32" (what the layer computes in), "1-bit"


@dataclasses.dataclass
class ConversionReport:
    """Every Keras layer and what it became in the exported file."""

    model_name: str
    layers: list
    file_bytes: int = 0
    int8: bool = False  # converted with representative_dataset (int8 for the non-binary layers)
    interface: str = "float32"  # int8 conversions: "<input>/<output>" types of the model
    int8_choice: str = ""  # int8 conversions: the int8_layers choice ("all", "stem" or "list")
    converter_log: str = ""  # what TF's converter / quantizer printed (kept off the terminal)
    checked: str = (
        ""  # what ran on the written file (kbnn.Interpreter, zero input, output shapes), or why not
    )

    @property
    def not_lowered(self) -> list:
        """Rows of quantized layers exported as float, with their reasons."""
        return [r for r in self.layers if r.reason]

    @property
    def lowered(self) -> list:
        return [r for r in self.layers if r.status == "lowered"]

    def row(self, name: str) -> LayerReport:
        for r in self.layers:
            if r.name == name:
                return r
        raise KeyError(name)

    @property
    def weight_bytes(self) -> int:
        return sum(r.weight_bytes for r in self.layers)

    @property
    def int8_layers(self) -> list:
        """Rows of the non-binary layers that compute in int8 (int8 conversions)."""
        return [r for r in self.layers if r.precision == "int8"]

    def to_text(self) -> str:
        head = ("layer", "class", "exported as", "out", "w bits", "w bytes") + (
            ("dtype",) if self.int8 else ()
        )
        rows = [head] + [
            (
                r.name,
                r.class_name,
                r.op + (f"  [{r.reason}]" if r.reason else ""),
                r.output_type,
                "-" if r.weight_bits is None else str(r.weight_bits),
                str(r.weight_bytes),
            )
            + ((r.precision or "-",) if self.int8 else ())
            for r in self.layers
        ]
        widths = [max(len(row[i]) for row in rows) for i in range(len(head))]
        lines = [f"kbnn conversion report: {self.model_name}"]
        for i, row in enumerate(rows):
            lines.append("  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip())
            if i == 0:
                lines.append("  ".join("-" * w for w in widths))
        lines.append(
            f"lowered: {len(self.lowered)} ops; not lowered: {len(self.not_lowered)}; "
            f"weights: {self.weight_bytes} bytes; file: {self.file_bytes} bytes"
        )
        if self.int8:
            floats = [r.name for r in self.layers if r.precision == "float32"]
            lines.append(
                f"int8 ({self.int8_choice or 'all'}): {len(self.int8_layers)} non-binary layers compute in "
                f"int8 ({', '.join(r.name for r in self.int8_layers) or 'none'}); float32: "
                f"{', '.join(floats) if floats else 'none'}; model input/output: {self.interface}"
            )
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.to_text()


def make_report(model, plan) -> ConversionReport:
    """One row per layer of ``model`` (InputLayers excluded), filled by the layer's first step."""
    by_layer: dict = {}
    for st in plan:
        by_layer.setdefault(st.node.name, []).append(st)
    rows = []
    for layer in model.layers:
        if isinstance(layer, keras.layers.InputLayer):
            continue
        steps = by_layer.get(layer.name, [])
        row = LayerReport(layer.name, type(layer).__name__, "builtin", "builtin")
        if not steps:
            row.status, row.op = "unused", "-"
        else:
            steps[0].report_row(row, plan)
        rows.append(row)
    return ConversionReport(model.name, rows)


def mark_precisions(report: ConversionReport, graph, content: bytes, interface: str, scopes=None) -> None:
    """Fills ``precision`` (and int8 input/output of the binary ops) from the quantized model."""
    report.int8, report.interface = True, interface
    ops = q8.op_types(content, [r.name for r in report.layers], [k[0] for k in graph.outputs], scopes)
    rows = {r.name: r for r in report.layers}
    for node in graph.nodes:
        row = rows.get(node.name)
        if row is None or row.status in ("unused", "folded"):
            continue
        entries = ops.get(node.name, [])
        if row.status == "lowered":
            row.precision = "1-bit"
            for op, in_type, out_type in entries:
                if op == "KbnnQuantize" and in_type == "int8":
                    row.input = "quantize (int8)"
                elif op in ("KbnnBconv2d", "KbnnBFullyConnected") and out_type == "int8":
                    row.output_type = "int8"
            continue
        kinds = {
            "float32" if "float32" in (i, o) else "int8"
            for _, i, o in entries
            if {i, o} & {"int8", "float32"}
        }
        if kinds:
            row.precision = "float32" if "float32" in kinds else "int8"
        elif node.inputs and node.inputs[0][0] in rows:  # no op of its own: computed in its producer's op
            src = rows[node.inputs[0][0]]
            row.precision = (
                src.precision
                if src.precision in ("int8", "float32")
                else (src.output_type if src.output_type in ("int8", "float32") else "")
            )
        if row.precision == "int8" and row.weight_bits == 32:  # int8 weights (approximately: int32 biases)
            row.weight_bits, row.weight_bytes = 8, row.weight_bytes // 4
