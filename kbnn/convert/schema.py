"""The kbnn op schema: the single source of truth for op names, versions, inputs and attributes.

Three consumers read it:

* the converter (``kbnn.convert``) emits ops with exactly these names and attributes;
* the TF op library (``kernels/tf``) registers the TF ops from the generated C++ mirror
  ``kernels/include/kbnn/schema_generated.h``;
* the TFLite delegate (``kernels/tflite``) claims CUSTOM nodes by these names, checks
  ``kbnn_version`` and parses the flexbuffer custom options (the TF attributes, which the
  TFLite converter copies into a flexbuffer map) against these attribute names and types.

``python -m kbnn.convert.schema --write`` regenerates the C++ header; a test fails when the
checked-in header differs from what this module generates.

Tensor conventions (docs/architecture.md §3): bitpacked tensors are ``int32`` tensors whose last axis
holds ``ceil(C / 32)`` words (bit 1 = -1, LSB = channel 0 of the word, padding bits 0);
``sign(0) = +1``. Binary layer outputs are ``y = multiplier[c] * dot + bias[c]`` followed by
the fused activation; a bitpacked output stores the bit ``y < 0``.
"""

from __future__ import annotations

import dataclasses
import pathlib
import sys

SCHEMA_VERSION = 1
"""Bumped whenever an op's inputs, outputs or attributes change incompatibly."""

VERSION_ATTR = "kbnn_version"

PADDINGS = ("VALID", "SAME")
ACTIVATIONS = ("NONE", "RELU", "RELU6", "CLAMP")
STEM_ACTIVATIONS = ("NONE", "RELU", "PRELU")
OUTPUT_TYPES = ("float32", "bitpacked", "int8")
# The TF type attr ``T`` selects the output type: float -> float32, int32 -> bitpacked words,
# int8 -> int8. The TFLite converter writes it into the custom options as the TFLite
# TensorType enum value (FLOAT32=0, INT32=2, INT8=9).
OUTPUT_TF_TYPES = {"float32": "float", "bitpacked": "int32", "int8": "int8"}
TFLITE_TENSOR_TYPES = {"float32": 0, "bitpacked": 2, "int8": 9}
# TFLite BuiltinOperator codes of the builtins the int8 conversion rewrites around the kbnn ops.
TFLITE_BUILTIN_OPS = {"DEQUANTIZE": 6, "QUANTIZE": 114}


@dataclasses.dataclass(frozen=True)
class Attr:
    """One op attribute. ``type`` is the TF attr type: "int", "float", "string", "bool" or "type"."""

    name: str
    type: str
    default: object = None
    allowed: tuple = ()
    doc: str = ""
    minimum: int | None = None  # int attrs: the TF ``>= minimum`` constraint (a list length attr)

    def tf_spec(self) -> str:
        """The TF ``REGISTER_OP(...).Attr(...)`` spec string."""
        if self.allowed and self.type == "type":
            kind = "{" + ", ".join(self.allowed) + "}"
        elif self.allowed:
            kind = "{" + ", ".join(f"'{a}'" for a in self.allowed) + "}"
        elif self.minimum is not None:
            kind = f"{self.type} >= {self.minimum}"
        else:
            kind = self.type
        if self.default is None:
            return f"{self.name}: {kind}"
        if self.type == "type":
            default = self.default
        elif self.type == "string":
            default = f"'{self.default}'"
        elif self.type == "bool":
            default = "true" if self.default else "false"
        else:
            default = repr(self.default)
        return f"{self.name}: {kind} = {default}"


@dataclasses.dataclass(frozen=True)
class Tensor:
    name: str
    dtype: str  # "float", "int32" (bitpacked), "int8", "T" for an attr-selected type, "N * float": optional
    doc: str = ""

    @property
    def optional(self) -> bool:
        """A list input of attr-given length (``N * float``, N in {0, 1}): absent when N = 0, so
        a TFLite node may end before it."""
        return "*" in self.dtype


@dataclasses.dataclass(frozen=True)
class OpDef:
    name: str
    version: int
    inputs: tuple
    outputs: tuple
    attrs: tuple
    doc: str

    def attr(self, name: str) -> Attr:
        for a in self.attrs:
            if a.name == name:
                return a
        raise KeyError(f"op {self.name} has no attribute {name!r}")


_VERSION = Attr(VERSION_ATTR, "int", SCHEMA_VERSION, doc="schema version the op was written with")
_ACTIVATION = (
    Attr("activation", "string", "NONE", ACTIVATIONS, "fused activation applied to y"),
    Attr("clamp_min", "float", float("-inf"), doc="lower bound for activation CLAMP"),
    Attr("clamp_max", "float", float("inf"), doc="upper bound for activation CLAMP"),
)
_OUTPUT = (
    Attr(
        "T", "type", "DT_FLOAT", ("float", "int32", "int8"), "output: float32, bitpacked int32 words, or int8"
    ),
    Attr("int8_scale", "float", 1.0, doc="int8 output: q = round(y / int8_scale) + int8_zero_point"),
    Attr("int8_zero_point", "int", 0, doc="int8 output zero point"),
)

_CONV_ATTRS = (
    Attr("channels_in", "int", doc="logical input channels Cin"),
    Attr("filter_height", "int"),
    Attr("filter_width", "int"),
    Attr("stride_height", "int", 1),
    Attr("stride_width", "int", 1),
    Attr("dilation_height", "int", 1),
    Attr("dilation_width", "int", 1),
    Attr("padding", "string", "VALID", PADDINGS),
    Attr("pad_values", "int", 1, doc="SAME only: 1 pads with +1 (free), 0 with zeros (exact)"),
    Attr("groups", "int", 1),
)

OPS = (
    OpDef(
        name="KbnnQuantize",
        version=1,
        inputs=(
            Tensor(
                "input", "float", "float32 [..., C]; in .tflite files also int8 (bit = q < its zero point)"
            ),
            Tensor(
                "thresholds",
                "N * float",
                "optional (N = 1), constant: bit = (x < thresholds[c]); float32 [C], or int32 [C] in the "
                "quantized domain for int8 input (bit = q < thresholds[c])",
            ),
        ),
        outputs=(Tensor("output", "int32", "bitpacked [..., ceil(C/32)]"),),
        attrs=(
            _VERSION,
            Attr("N", "int", 0, doc="threshold tensors: 0 (bit = x < 0) or 1 (per-channel)", minimum=0),
        ),
        doc="Bitpack along the last axis: bit = (x < 0), or (x < thresholds[c]) with the optional "
        "per-channel thresholds (ReActNet's RSign).",
    ),
    OpDef(
        name="KbnnDequantize",
        version=1,
        inputs=(Tensor("input", "int32", "bitpacked [..., ceil(C/32)]"),),
        outputs=(Tensor("output", "float", "float32 [..., C] of +-1"),),
        attrs=(_VERSION, Attr("channels", "int", doc="C, the logical channel count")),
        doc="Unpack bitpacked words to +-1 floats.",
    ),
    OpDef(
        name="KbnnBconv2d",
        version=1,
        inputs=(
            Tensor("input", "int32", "bitpacked NHWC [N, H, W, ceil(Cin/32)]"),
            Tensor("filter", "int32", "bitpacked OHWI [Cout, KH, KW, ceil((Cin/groups)/32)]"),
            Tensor("multiplier", "float", "[Cout]"),
            Tensor("bias", "float", "[Cout]"),
        ),
        outputs=(
            Tensor(
                "output",
                "T",
                "float32 [N, OH, OW, Cout] | int32 bitpacked [N, OH, OW, ceil(Cout/32)] | int8",
            ),
        ),
        attrs=(
            _VERSION,
            *_CONV_ATTRS,
            *_ACTIVATION,
            *_OUTPUT,
        ),
        doc="Binary 2-D convolution (XNOR + popcount) with a fused per-channel output transform.",
    ),
    OpDef(
        name="KbnnBconv2dResidual",
        version=1,
        inputs=(
            Tensor("input", "int32", "bitpacked NHWC [N, H, W, ceil(Cin/32)]"),
            Tensor("filter", "int32", "bitpacked OHWI [Cout, KH, KW, ceil((Cin/groups)/32)]"),
            Tensor("multiplier", "float", "[Cout]"),
            Tensor("bias", "float", "[Cout]"),
            Tensor("residual", "float", "float32 [N, OH, OW, Cout], added after the activation"),
        ),
        outputs=(
            Tensor("output", "float", "float32 [N, OH, OW, Cout]: activation(m * dot + b) + residual"),
            Tensor("output_bits", "int32", "bitpacked [N, OH, OW, ceil(Cout/32)]: bit = (output < 0)"),
        ),
        attrs=(
            _VERSION,
            *_CONV_ATTRS,
            *_ACTIVATION,
        ),
        doc="KbnnBconv2d (float output) fused with the residual ADD after it and the re-binarization "
        "(KbnnQuantize) of the sum: one Bi-Real block's binary conv, shortcut add and next sign.",
    ),
    OpDef(
        name="KbnnBFullyConnected",
        version=1,
        inputs=(
            Tensor("input", "int32", "bitpacked [N, ceil(K/32)]"),
            Tensor("weights", "int32", "bitpacked [Cout, ceil(K/32)]"),
            Tensor("multiplier", "float", "[Cout]"),
            Tensor("bias", "float", "[Cout]"),
        ),
        outputs=(Tensor("output", "T", "float32 [N, Cout] | int32 bitpacked [N, ceil(Cout/32)] | int8"),),
        attrs=(
            _VERSION,
            Attr("input_size", "int", doc="K, the logical input length"),
            *_ACTIVATION,
            *_OUTPUT,
        ),
        doc="Binary fully connected layer with a fused per-channel output transform.",
    ),
    OpDef(
        name="KbnnBMaxPool2d",
        version=1,
        inputs=(Tensor("input", "int32", "bitpacked NHWC [N, H, W, ceil(C/32)]"),),
        outputs=(Tensor("output", "int32", "bitpacked NHWC [N, OH, OW, ceil(C/32)]"),),
        attrs=(
            _VERSION,
            Attr("channels", "int", doc="logical channels C"),
            Attr("filter_height", "int"),
            Attr("filter_width", "int"),
            Attr("stride_height", "int", 1),
            Attr("stride_width", "int", 1),
            Attr("padding", "string", "VALID", PADDINGS),
        ),
        doc="Max pooling on bitpacked data (AND of the packed bits).",
    ),
    OpDef(
        name="KbnnStemConv2d",
        version=1,
        inputs=(
            Tensor("input", "float", "float32 NHWC [N, H, W, Cin], Cin <= 16"),
            Tensor("filter", "int8", "symmetric int8 OHWI [Cout, KH, KW, Cin] in [-127, 127]"),
            Tensor("filter_scale", "float", "[Cout]: s_w, the filter's per-channel scale"),
            Tensor("multiplier", "float", "[Cout]: the folded batch norm's scale"),
            Tensor("bias", "float", "[Cout]: the folded conv bias + batch norm offset"),
            Tensor("slope", "float", "[Cout]: PReLU slope (activation PRELU; else ignored)"),
        ),
        outputs=(Tensor("output", "float", "float32 NHWC [N, OH, OW, Cout] (after the pool)"),),
        attrs=(
            _VERSION,
            Attr("channels_in", "int", doc="Cin"),
            Attr("filter_height", "int"),
            Attr("filter_width", "int"),
            Attr("stride_height", "int", 1),
            Attr("stride_width", "int", 1),
            Attr("padding", "string", "VALID", PADDINGS),
            Attr("activation", "string", "NONE", STEM_ACTIVATIONS, "after the batch norm"),
            Attr("pool_height", "int", 0, doc="max pool after the activation; 0: none"),
            Attr("pool_width", "int", 0),
            Attr("pool_stride_height", "int", 1),
            Attr("pool_stride_width", "int", 1),
            Attr("pool_padding", "string", "VALID", PADDINGS),
        ),
        doc="Real-valued stem on int8: input quantized per invoke and item (s_x = max|x| / 127), "
        "int8 conv, y = float(acc) * (s_x * s_w) * multiplier + bias, activation, max pool "
        "(kernels/include/kbnn/stem_conv2d.h).",
    ),
)

OPS_BY_NAME = {op.name: op for op in OPS}


def packed_words(channels: int) -> int:
    """32-bit words that hold ``channels`` packed bits."""
    return (int(channels) + 31) // 32


# ----------------------------------------------------------------------------------------
# C++ mirror
# ----------------------------------------------------------------------------------------

HEADER_PATH = (
    pathlib.Path(__file__).resolve().parents[2] / "kernels" / "include" / "kbnn" / "schema_generated.h"
)


def _c_string(text: str) -> str:
    """``text`` escaped for a C string literal."""
    return text.replace("\\", "\\\\").replace('"', '\\"')


def _cpp_ident(name: str) -> str:
    return "k" + "".join(part.capitalize() for part in name.split("_"))


def _header_prelude() -> list:
    """The header's lines before the ops: includes, versions and the C++ types of the tables."""
    tt = TFLITE_TENSOR_TYPES
    return [
        "// GENERATED by `python -m kbnn.convert.schema --write` from kbnn/convert/schema.py.",
        "// Do not edit: tests/test_schema.py fails when this file and the schema disagree.",
        "#pragma once",
        "#include <cstddef>",
        "",
        "namespace kbnn {",
        "namespace schema {",
        "",
        f"constexpr int kSchemaVersion = {SCHEMA_VERSION};",
        f'constexpr const char kVersionAttr[] = "{VERSION_ATTR}";',
        "",
        "// kType: a TF type attr; in TFLite custom options it is the TFLite TensorType enum value.",
        "enum class AttrType { kInt, kFloat, kString, kBool, kType };",
        f"constexpr int kTfLiteFloat32Enum = {tt['float32']}, kTfLiteInt32Enum = {tt['bitpacked']}, "
        f"kTfLiteInt8Enum = {tt['int8']};",
        "",
        "struct AttrDef {",
        "  const char* name;",
        "  AttrType type;",
        "  const char* tf_spec;  // the REGISTER_OP Attr() spec",
        "};",
        "",
        "struct TensorDef {",
        "  const char* name;",
        "  const char* dtype;  // float | int32 | int8 | T",
        "};",
        "",
        "struct OpDef {",
        "  const char* name;",
        "  int version;",
        "  const TensorDef* inputs;",
        "  size_t num_inputs;",
        "  const TensorDef* outputs;",
        "  size_t num_outputs;",
        "  const AttrDef* attrs;",
        "  size_t num_attrs;",
        "};",
        "",
    ]


_CPP_ATTR_TYPES = {
    "int": "AttrType::kInt",
    "float": "AttrType::kFloat",
    "string": "AttrType::kString",
    "bool": "AttrType::kBool",
    "type": "AttrType::kType",
}


def _op_lines(op) -> list:
    """The header's constants and tables of one op."""
    types = _CPP_ATTR_TYPES
    ident = op.name[len("Kbnn") :]
    out = [f"// {op.name}: {op.doc}"]
    out.append(f'constexpr const char k{ident}Name[] = "{op.name}";')
    out.append(f"constexpr int k{ident}Version = {op.version};")
    for i, t in enumerate(op.inputs):
        out.append(f"constexpr int k{ident}Input{_cpp_ident(t.name)[1:]} = {i};  // {t.doc}")
    out.append(f"constexpr TensorDef k{ident}Inputs[] = {{")
    out += [f'    {{"{t.name}", "{t.dtype}"}},' for t in op.inputs]
    out.append("};")
    out.append(f"constexpr TensorDef k{ident}Outputs[] = {{")
    out += [f'    {{"{t.name}", "{t.dtype}"}},' for t in op.outputs]
    out.append("};")
    out.append(f"constexpr AttrDef k{ident}Attrs[] = {{")
    out += [f'    {{"{a.name}", {types[a.type]}, "{_c_string(a.tf_spec())}"}},' for a in op.attrs]
    out.append("};")
    out.append("")
    return out


def generate_cpp_header() -> str:
    """The C++ header mirroring this schema (op names, versions, attribute names and types)."""
    out = _header_prelude()
    for op in OPS:
        out += _op_lines(op)
    out.append("constexpr OpDef kOps[] = {")
    for op in OPS:
        ident = op.name[len("Kbnn") :]
        out.append(
            f"    {{k{ident}Name, k{ident}Version, k{ident}Inputs, {len(op.inputs)}, "
            f"k{ident}Outputs, {len(op.outputs)}, k{ident}Attrs, {len(op.attrs)}}},"
        )
    out.append("};")
    out.append(f"constexpr size_t kNumOps = {len(OPS)};")
    out.append("")
    for group, values in (("Padding", PADDINGS), ("Activation", ACTIVATIONS), ("OutputType", OUTPUT_TYPES)):
        out.append(f"constexpr const char* k{group}Names[] = {{" + ", ".join(f'"{v}"' for v in values) + "};")
    out += ["", "}  // namespace schema", "}  // namespace kbnn", ""]
    return "\n".join(out)


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    text = generate_cpp_header()
    if argv == ["--write"]:
        HEADER_PATH.write_text(text)
        print(f"wrote {HEADER_PATH}")
        return 0
    if argv == ["--check"]:
        current = HEADER_PATH.read_text() if HEADER_PATH.exists() else ""
        if current != text:
            print(f"{HEADER_PATH} is out of date: run python -m kbnn.convert.schema --write", file=sys.stderr)
            return 1
        return 0
    print(text)
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
