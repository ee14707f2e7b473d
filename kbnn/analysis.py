"""What to binarize: the per-layer sensitivity probe of the BNN surveys.

Binary-network surveys (e.g. Qin et al., "Binary Neural Networks: A Survey", Pattern
Recognition 2020; Yuan & Agaian, "A comprehensive review of Binary Neural Network",
2023) describe how practitioners find the layers on the "critical path" of accuracy: change
the precision of one layer at a time and measure the task metric.
:func:`layer_sensitivity` does both directions:

* **restore**: in the quantized model, one binary layer at a time is restored to full
  precision (its input and weight quantizers removed, or replaced by those of the float
  model's layer of the same name when a float model is given; its latent weights used as
  they are, no retraining); the metric gain says how much accuracy that layer's
  binarization costs;
* **binarize**: in a float model, one layer at a time is binarized (it gets the quantizers
  of the same-named layer of the quantized model); the metric drop says how much that layer
  alone suffers from binarization. The Dense/Conv layers that the quantized model keeps in
  full precision (typically the first and last) are binarized too, with ``ste_sign`` input
  and kernel quantizers by default (a plain Keras layer becomes its kbnn ``Quant*`` twin with
  the same weights), so the probe also tells whether keeping them float is what matters.

Beside the metric change, every row carries the layer's MACs and its share of the binary
MACs (:func:`kbnn.summary`) and the measured latency of its kbnn ops
(``kbnn.summary(latency=True)``: converted with :func:`kbnn.convert`, timed with
:func:`kbnn.benchmark`, ops mapped to layers through the conversion report), i.e. what
keeping the layer in full precision costs against what it gains.

How variants are built: from the model's config (``get_config`` / ``from_config``, so the
layers and quantizers must be registered Keras serializables, as every kbnn one is) with the
one layer's quantizer arguments changed, then every weight copied from the original (the
changed layer's own kernel/bias by their names; quantizer state it gains starts at its
initial value). Only layers of the top-level Functional or Sequential model are probed.

Batch norm recalibration (``recalibrate_batchnorm=True``, the default): a layer whose
precision changes feeds a batch norm whose moving statistics were estimated for the other
precision, so each variant (and the unchanged model, for a fair baseline) gets fresh moving
statistics from the calibration data with :func:`kbnn.recalibrate_batchnorm` (one forward pass in
training mode over up to ``calibration_samples`` samples, as one batch: moving statistics = the
statistics of that pass; see ``kbnn/calibration.py``). Layers that behave differently in
training (dropout, stochastic quantizers) do so during that pass. Because the recalibrated
baselines can differ a lot from what ``model.evaluate`` gives (stale moving statistics are common
in BNNs), the report gives both: ``quantized_metric`` / ``float_metric`` (recalibrated) beside
``quantized_metric_as_is`` / ``float_metric_as_is`` (the models as they are).

Without ``float_model``, the float baseline of the "binarize" direction is *derived*: the binary
model with its probed layers' quantizers removed, i.e. its latent weights used as float weights.
That network was never trained as a float network; when it scores worse than the binary model
itself, "binarizing one layer" of it moves it back towards the network that was trained, and the
metric change would read as a *gain* of binarization. Such a baseline is not one: the binarize
direction is then not reported (``binarize_note`` says why; pass the trained float twin as
``float_model`` to get it).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

__all__ = ["LayerSensitivity", "SensitivityReport", "layer_sensitivity"]

_DIRECTIONS = ("restore", "binarize")


@dataclasses.dataclass
class LayerSensitivity:
    """One layer of a :class:`SensitivityReport` (``None`` where a direction was not run).

    Attributes:
        name: Layer name.
        class_name: Layer class.
        restored_metric: Metric of the quantized model with this layer in full precision.
        restore_delta: ``restored_metric - quantized baseline`` (gain of keeping it float).
        binarized_metric: Metric of the float model with only this layer binarized.
        binarize_delta: ``binarized_metric - float baseline`` (usually negative: the loss).
        macs: MACs of the layer per sample.
        binary_macs: Binary MACs of the layer in the quantized model.
        binary_mac_share: ``binary_macs`` / all binary MACs of the quantized model.
        mac_share: ``macs`` / all MACs of the quantized model.
        latency_ms: Median latency of the layer's kbnn ops (``None``: not measured or not
            lowered to a kbnn op).
        latency_note: Why ``latency_ms`` is None, when it is.
    """

    name: str
    class_name: str
    restored_metric: float | None = None
    restore_delta: float | None = None
    binarized_metric: float | None = None
    binarize_delta: float | None = None
    macs: int | None = None
    binary_macs: int = 0
    binary_mac_share: float = 0.0
    mac_share: float = 0.0
    latency_ms: float | None = None
    latency_note: str = ""

    def score(self, direction: str) -> float | None:
        """Sensitivity in ``direction``: the gain when restored, the loss when binarized."""
        if direction == "restore":
            return self.restore_delta
        if direction == "binarize":
            return None if self.binarize_delta is None else -self.binarize_delta
        raise ValueError(f"`direction` must be one of {_DIRECTIONS}. Received: direction={direction!r}")


@dataclasses.dataclass
class SensitivityReport:
    """What :func:`layer_sensitivity` returns: baselines, one row per probed layer, timings.

    Higher ``metric`` is better (``higher_is_better=False`` metrics are reported as they are
    and ranked accordingly).
    """

    model_name: str
    metric_name: str
    higher_is_better: bool
    directions: tuple
    quantized_metric: float | None
    float_metric: float | None
    layers: list
    model_latency_ms: float | None = None
    seconds: float = 0.0
    recalibrated: bool = True
    quantized_metric_as_is: float | None = None  # the quantized model as it is (no BN re-estimation)
    float_metric_as_is: float | None = None  # the float model as it is
    float_derived: bool = False  # no float_model given: the float model is the latent-weight one
    binarize_note: str = ""  # why the binarize direction was not reported, when it was not

    def _signed(self, value):
        return value if value is None or self.higher_is_better else -value

    def ranking(self, direction: str | None = None) -> list[str]:
        """Layer names, most sensitive first.

        ``direction="restore"``: by the metric gained when the layer is restored;
        ``"binarize"``: by the metric lost when it alone is binarized; ``None``: by the mean of
        the two ranks over the directions that were run and apply to the layer (a layer
        that is full precision in the quantized model has only a binarize rank; ties: the
        first direction's order).
        """
        if direction is not None:
            if direction not in self.directions:
                raise ValueError(
                    f"The {direction!r} direction was not run. Received: direction={direction!r}"
                )
            scored = [
                (self._signed(r.score(direction)), r.name)
                for r in self.layers
                if r.score(direction) is not None
            ]
            order = sorted(range(len(scored)), key=lambda i: (-scored[i][0], i))
            return [scored[i][1] for i in order]
        ranks: dict[str, list[int]] = {}
        for d in self.directions:
            for position, name in enumerate(self.ranking(d)):
                ranks.setdefault(name, []).append(position)
        order = [n for d in self.directions for n in self.ranking(d)]
        return sorted(ranks, key=lambda n: (sum(ranks[n]) / len(ranks[n]), order.index(n)))

    def row(self, name: str) -> LayerSensitivity:
        for r in self.layers:
            if r.name == name:
                return r
        raise KeyError(f"No layer {name!r} in the report; layers: {[r.name for r in self.layers]}")

    def to_dict(self) -> dict:
        """Plain-data form (JSON-serializable)."""
        return {
            "model": self.model_name,
            "metric": self.metric_name,
            "higher_is_better": self.higher_is_better,
            "directions": list(self.directions),
            "quantized_metric": self.quantized_metric,
            "float_metric": self.float_metric,
            "model_latency_ms": self.model_latency_ms,
            "recalibrated": self.recalibrated,
            "quantized_metric_as_is": self.quantized_metric_as_is,
            "float_metric_as_is": self.float_metric_as_is,
            "float_derived": self.float_derived,
            "binarize_note": self.binarize_note,
            "seconds": self.seconds,
            "ranking": self.ranking(),
            "rankings": {d: self.ranking(d) for d in self.directions},
            "layers": [dataclasses.asdict(r) for r in self.layers],
        }

    def to_text(self) -> str:
        """A table: metric change per direction, MACs, binary-MAC share, latency, rank."""
        rank = {name: i + 1 for i, name in enumerate(self.ranking())}
        header = ["Layer (type)"]
        if "restore" in self.directions:
            header.append(f"restore Δ{self.metric_name}")
        if "binarize" in self.directions:
            header.append(f"binarize Δ{self.metric_name}")
        header += ["MACs", "binary MAC share", "latency (ms)", "rank"]
        table = [header]
        for r in self.layers:
            cells = [f"{r.name} ({r.class_name})"]
            for direction in _DIRECTIONS:
                if direction in self.directions:
                    value = getattr(r, f"{direction}_delta")
                    cells.append("-" if value is None else f"{value:+.4f}")
            cells += [
                "n/a" if r.macs is None else f"{r.macs:,}",
                f"{100 * r.binary_mac_share:.1f}%",
                f"{r.latency_ms:.4f}" if r.latency_ms is not None else (r.latency_note or "-"),
                str(rank.get(r.name, "-")),
            ]
            table.append(cells)
        widths = [max(len(row[i]) for row in table) for i in range(len(header))]
        rule = "-" * (sum(widths) + 2 * (len(widths) - 1))

        def line(cells):
            return "  ".join(
                c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths))
            )

        out = [
            f'Layer sensitivity: "{self.model_name}" ({self.metric_name}, '
            f"{'higher' if self.higher_is_better else 'lower'} is better)",
            rule,
            line(header),
            rule,
        ]
        out += [line(row) for row in table[1:]]
        out.append(rule)

        def both(value, as_is):
            if not self.recalibrated or as_is is None:
                return f"{value:.4f}"
            return f"{as_is:.4f} as is, {value:.4f} with batch-norm statistics re-estimated"

        if self.quantized_metric is not None:
            value = both(self.quantized_metric, self.quantized_metric_as_is)
            out.append(
                f"quantized model {self.metric_name}: {value} "
                "(restore Δ = one layer in full precision − the re-estimated value)"
                if self.recalibrated
                else f"quantized model {self.metric_name}: {self.quantized_metric:.4f} "
                "(restore Δ = one layer in full precision − this)"
            )
        if self.float_metric is not None:
            kind = (
                "float model (derived: the binary model's latent weights)"
                if self.float_derived
                else "float model"
            )
            out.append(
                f"{kind} {self.metric_name}: {both(self.float_metric, self.float_metric_as_is)}"
                + (
                    ""
                    if self.binarize_note
                    else " (binarize Δ = one layer binarized − "
                    + ("the re-estimated value)" if self.recalibrated else "this)")
                )
            )
        if self.binarize_note:
            out.append(f"binarize Δ not reported: {self.binarize_note}")
        if self.model_latency_ms is not None:
            out.append(f"whole-model latency (kbnn delegate, median): {self.model_latency_ms:.4f} ms")
        if any(r.restore_delta is None for r in self.layers) and "restore" in self.directions:
            out.append("restore Δ '-': the layer is full precision in the quantized model")
        out.append(
            "batch norm statistics re-estimated per variant"
            if self.recalibrated
            else "batch norm statistics as trained (not re-estimated)"
        )
        out.append(f"ranking (most sensitive first): {', '.join(self.ranking())}")
        out.append(f"({self.seconds:.1f} s)")
        return "\n".join(out)

    def __str__(self) -> str:
        return self.to_text()

    def plot(self, path=None, *, title: str | None = None):
        """Bar charts of the metric change per layer (one panel per direction) and of the
        layers' binary-MAC share and latency; written to ``path`` when given (Agg backend).

        Returns:
            The matplotlib ``Figure``.
        """
        import matplotlib

        if path is not None:
            matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        names = [r.name for r in self.layers]
        y = np.arange(len(names))
        panels = len(self.directions) + 1
        fig, axes = plt.subplots(
            1, panels, figsize=(3.6 * panels + 1.5, 0.42 * len(names) + 2.0), dpi=110, sharey=True
        )
        colors = {"restore": "#2ca02c", "binarize": "#d62728"}
        labels = {
            "restore": f"Δ{self.metric_name}: layer restored to float",
            "binarize": f"Δ{self.metric_name}: layer binarized alone",
        }
        for ax, direction in zip(axes, self.directions):
            values = [getattr(r, f"{direction}_delta") for r in self.layers]
            ax.barh(y, [0.0 if v is None else v for v in values], color=colors[direction])
            missing = (
                "not reported (no trained float twin)"
                if direction == "binarize" and self.binarize_note
                else "float in the quantized model"
            )
            for i, v in enumerate(values):
                if v is None:
                    ax.annotate(
                        missing, (0, i), xytext=(3, -3), textcoords="offset points", fontsize=7, color="gray"
                    )
            ax.axvline(0, color="black", lw=0.8)
            ax.set_title(labels[direction], fontsize=9)
            ax.grid(True, axis="x", alpha=0.3)
        ax = axes[-1]
        ax.barh(y, [100 * r.binary_mac_share for r in self.layers], color="#1f77b4")
        unit, scale, digits = _latency_unit([r.latency_ms for r in self.layers])
        ax.set_title("share of binary MACs (%)" + (f" · latency ({unit})" if unit else ""), fontsize=9)
        for i, r in enumerate(self.layers):
            if r.latency_ms is not None:  # the unit of the title, on every label
                ax.annotate(
                    f"{scale * r.latency_ms:.{digits}f} {unit}",
                    (100 * r.binary_mac_share, i),
                    xytext=(3, -3),
                    textcoords="offset points",
                    fontsize=7,
                )
        axes[0].set_yticks(y)
        axes[0].set_yticklabels(names, fontsize=8)
        axes[0].invert_yaxis()
        fig.suptitle(title or f"layer sensitivity: {self.model_name}", fontsize=11)
        fig.tight_layout()
        if path is not None:
            fig.savefig(path)
        return fig


# ------------------------------------------------------------------------------ helpers


def _latency_unit(latencies_ms) -> tuple[str, float, int]:
    """``(unit, factor from ms, decimals)`` for one latency panel: µs when every measured
    latency is below 1 ms, else ms; ``("", 1, 0)`` when none was measured."""
    measured = [v for v in latencies_ms if v is not None]
    if not measured:
        return "", 1.0, 0
    if max(measured) < 1.0:
        return "µs", 1000.0, 1
    return "ms", 1.0, 3


def _accuracy(y_true, y_pred) -> float:
    y_pred = np.asarray(y_pred)
    y_true = np.asarray(y_true)
    if y_pred.ndim < 2 or y_pred.shape[-1] == 1:
        raise ValueError(
            "metric='accuracy' needs class scores of shape (batch, classes); pass a callable "
            f"`metric(y_true, y_pred)` for other outputs. Received: output shape {y_pred.shape}"
        )
    if y_true.ndim == y_pred.ndim:  # one-hot
        y_true = np.argmax(y_true, axis=-1)
    return float(np.mean(np.argmax(y_pred, axis=-1) == y_true.reshape(y_pred.shape[:-1])))


def _crossentropy(y_true, y_pred) -> float:
    """Mean negative log-likelihood of the true class; softmax applied unless rows are probabilities."""
    y_pred = np.asarray(y_pred, dtype="float64")
    y_true = np.asarray(y_true)
    if y_pred.ndim != 2 or y_pred.shape[-1] < 2:
        raise ValueError(
            "metric='crossentropy' needs class scores of shape (batch, classes). "
            f"Received: output shape {y_pred.shape}"
        )
    if not (np.all(y_pred >= 0) and np.allclose(y_pred.sum(axis=-1), 1.0, atol=1e-3)):
        shifted = y_pred - y_pred.max(axis=-1, keepdims=True)
        y_pred = np.exp(shifted) / np.exp(shifted).sum(axis=-1, keepdims=True)
    if y_true.ndim == 2:
        y_true = np.argmax(y_true, axis=-1)
    picked = y_pred[np.arange(len(y_pred)), y_true.reshape(-1).astype("int64")]
    return float(-np.mean(np.log(np.clip(picked, 1e-12, 1.0))))


def _resolve_metric(metric, higher_is_better):
    if metric == "accuracy":
        return _accuracy, "accuracy", True if higher_is_better is None else bool(higher_is_better)
    if metric == "crossentropy":
        return _crossentropy, "crossentropy", False if higher_is_better is None else bool(higher_is_better)
    if callable(metric):
        name = getattr(metric, "__name__", "metric")
        return metric, name, True if higher_is_better is None else bool(higher_is_better)
    raise ValueError(
        "`metric` must be 'accuracy', 'crossentropy' or a callable metric(y_true, y_pred) -> float. "
        f"Received: metric={metric!r}"
    )


def _is_binary_layer(layer) -> bool:
    from kbnn import quantizers

    table = getattr(layer, "_weight_quantizers", None)
    if not isinstance(table, dict):
        return False
    bits = [quantizers.precision_of(getattr(layer, "input_quantizer", None))]
    bits += [quantizers.precision_of(getattr(layer, arg)) for arg in table]
    return 1 in bits


def _quantizer_args(layer) -> list[str]:
    return ["input_quantizer", *layer._weight_quantizers]


def _layer_configs(config) -> list[dict]:
    layers = config.get("layers") if isinstance(config, dict) else None
    if not isinstance(layers, list):
        raise ValueError(
            "layer_sensitivity needs a Functional or Sequential model (its config lists its layers)."
        )
    return layers


def _quant_class(layer):
    """The kbnn ``Quant*`` class mirroring a plain Keras Dense/Conv layer, or None."""
    import keras

    from kbnn import layers as q

    if isinstance(layer, q.QuantLayerMixin):
        return None
    for keras_cls, quant_cls in (
        (keras.layers.Dense, q.QuantDense),
        (keras.layers.Conv2DTranspose, q.QuantConv2DTranspose),
        (keras.layers.DepthwiseConv2D, q.QuantDepthwiseConv2D),
        (keras.layers.Conv1D, q.QuantConv1D),
        (keras.layers.Conv2D, q.QuantConv2D),
        (keras.layers.Conv3D, q.QuantConv3D),
    ):
        if type(layer) is keras_cls:
            return quant_cls
    return None


_SWAP = "__quant_class__"


def _variant(model, changes: dict[str, dict]):
    """A copy of ``model`` with ``changes[name]`` merged into those layers' configs, weights copied.

    A change holding ``_SWAP: QuantClass`` also turns the plain Keras layer into that kbnn class
    (same arguments plus the quantizers; the same weights).
    """
    import keras

    config = model.get_config()
    for layer_config in _layer_configs(config):
        name = layer_config["config"].get("name")
        if name in changes:
            change = dict(changes[name])
            quant_cls = change.pop(_SWAP, None)
            layer_config["config"].update(change)
            if quant_cls is not None:
                swapped = keras.saving.serialize_keras_object(quant_cls.from_config(layer_config["config"]))
                for key in ("module", "class_name", "registered_name", "config"):
                    layer_config[key] = swapped[key]
    clone = model.__class__.from_config(config)
    for layer in clone.layers:
        try:
            source = model.get_layer(layer.name)
        except ValueError:
            continue
        if layer.name not in changes:
            layer.set_weights(source.get_weights())
            continue
        by_path = {v.path[len(source.path) + 1 :]: v for v in source.weights}
        for variable in layer.weights:
            original = by_path.get(variable.path[len(layer.path) + 1 :])
            if original is not None and tuple(original.shape) == tuple(variable.shape):
                variable.assign(keras.ops.convert_to_numpy(original))
    return clone


def _recalibrate(model, x_cal) -> None:
    """Moving statistics of every batch norm = those of one training-mode pass over ``x_cal``
    (:func:`kbnn.recalibrate_batchnorm` with the whole calibration set as one batch)."""
    from kbnn.calibration import recalibrate_batchnorm

    recalibrate_batchnorm(model, x_cal, batch_size=max(1, len(x_cal)))


def _predict(model, x, batch_size: int) -> np.ndarray:
    import keras

    outputs = [
        keras.ops.convert_to_numpy(model(x[i : i + batch_size], training=False))
        for i in range(0, len(x), batch_size)
    ]
    return np.concatenate(outputs, axis=0)


def _check_layers(requested, candidates, where):
    if requested is None:
        return candidates
    names = list(requested)
    unknown = [n for n in names if n not in candidates]
    if unknown:
        raise ValueError(
            f"`layers` {unknown} cannot be probed in {where}; candidates: {candidates}. "
            f"Received: layers={names!r}"
        )
    return names


# ------------------------------------------------------------------------------ the probe


def layer_sensitivity(
    model,
    x,
    y,
    *,
    float_model=None,
    directions: Sequence[str] = _DIRECTIONS,
    metric: str | Callable[[Any, Any], float] = "accuracy",
    higher_is_better: bool | None = None,
    layers: Sequence[str] | None = None,
    float_layers: bool = True,
    default_quantizers: dict | None = None,
    recalibrate_batchnorm: bool = True,
    calibration_x=None,
    calibration_samples: int = 1024,
    batch_size: int = 256,
    latency: bool = True,
    num_threads: int = 1,
    runs: int = 30,
) -> SensitivityReport:
    """Metric change per binary layer, restoring it to float or binarizing it alone.

    Args:
        model: The quantized model (Functional or Sequential, built): its layers with a
            1-bit input or weight quantizer are probed.
        x: Evaluation inputs (array).
        y: Evaluation targets (class indices or one-hot for ``metric="accuracy"``).
        float_model: The float model: same layer names as ``model`` (e.g. the float twin of
            the digits demo). The ``"binarize"`` direction binarizes its layers; the
            ``"restore"`` direction gives a restored layer the quantizer arguments of the
            float model's layer (e.g. a hard-tanh activation). ``None``: full precision means
            no quantizers, and the float model is ``model`` with every probed layer's
            quantizers removed (its latent weights as float weights).
        directions: ``("restore", "binarize")`` or one of them.
        metric: ``"accuracy"`` (argmax of the output), ``"crossentropy"`` (mean negative
            log-likelihood of the true class, lower is better: a continuous metric that
            separates layers a few test samples cannot) or ``metric(y_true, y_pred) -> float``.
        higher_is_better: Overrides the metric's direction (a callable's default: True).
        layers: Names of the layers to probe (default: every binary layer of ``model`` and,
            with ``float_layers``, its full-precision Dense/Conv layers).
        float_layers: In the ``"binarize"`` direction, also binarize the Dense/Conv layers
            that are full precision in ``model`` (typically the first and last layers, which
            BNNs keep in float) with ``default_quantizers``: the probe then says whether
            keeping them float is what matters. Their restore columns stay empty.
        default_quantizers: Quantizer arguments for those layers (default:
            ``{"input_quantizer": "ste_sign", "kernel_quantizer": "ste_sign"}``).
        recalibrate_batchnorm: Re-estimate batch-norm statistics per variant (module doc).
        calibration_x: Inputs for the recalibration (default: ``x``).
        calibration_samples: At most this many calibration samples (the first ones).
        batch_size: Evaluation batch size.
        latency: Measure each layer's kbnn-op latency (``kbnn.summary(latency=True)``:
            converts the model and times it with the kbnn delegate).
        num_threads: Threads of the latency measurement.
        runs: Timed invocations of the latency measurement.

    Returns:
        A :class:`SensitivityReport` (``to_text()``, ``plot()``, ``ranking()``).

    Raises:
        ValueError: on an unbuilt or nested model, a model without binary layers, unknown
            ``layers``, a ``float_model`` without the probed layer names, bad arguments.
    """
    import keras

    from kbnn.summary import summary

    started = time.perf_counter()
    if not isinstance(model, keras.Model) or not model.built:
        raise ValueError(f"`model` must be a built keras.Model. Received: model={model!r}")
    directions = tuple(directions)
    if (
        not directions
        or any(d not in _DIRECTIONS for d in directions)
        or len(set(directions)) != len(directions)
    ):
        raise ValueError(
            f"`directions` must be a non-empty subset of {_DIRECTIONS}. Received: directions={directions!r}"
        )
    metric_fn, metric_name, higher = _resolve_metric(metric, higher_is_better)
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"`batch_size` must be a positive int. Received: batch_size={batch_size!r}")
    _layer_configs(model.get_config())
    x = np.asarray(x)
    y = np.asarray(y)
    if len(x) != len(y) or len(x) == 0:
        raise ValueError(
            f"`x` and `y` must hold the same, non-zero number of samples. Received: {len(x)} and {len(y)}"
        )
    x_cal = np.asarray(x if calibration_x is None else calibration_x)[:calibration_samples]

    binary = [layer.name for layer in model.layers if _is_binary_layer(layer)]
    if not binary:
        raise ValueError(
            f"Model {model.name!r} has no binary layer (a kbnn quantized layer with a 1-bit input or "
            "weight quantizer) to probe."
        )
    full_precision = []
    if float_layers and "binarize" in directions:
        full_precision = [
            layer.name
            for layer in model.layers
            if layer.name not in binary
            and (
                _quant_class(layer) is not None
                or (
                    hasattr(layer, "_weight_quantizers")
                    and list(layer._weight_quantizers) == ["kernel_quantizer"]
                )
            )
        ]
    candidates = [
        layer.name for layer in model.layers if layer.name in binary or layer.name in full_precision
    ]
    names = _check_layers(layers, candidates, f"model {model.name!r}")
    if default_quantizers is None:
        default_quantizers = {"input_quantizer": "ste_sign", "kernel_quantizer": "ste_sign"}
    if not isinstance(default_quantizers, dict) or set(default_quantizers) - {
        "input_quantizer",
        "kernel_quantizer",
    }:
        raise ValueError(
            "`default_quantizers` must be a dict with keys among 'input_quantizer', 'kernel_quantizer'. "
            f"Received: default_quantizers={default_quantizers!r}"
        )

    def evaluate(variant) -> float:
        if recalibrate_batchnorm:
            _recalibrate(variant, x_cal)
        return float(metric_fn(y, _predict(variant, x, batch_size)))

    def evaluate_as_is(variant) -> float:
        return float(metric_fn(y, _predict(variant, x, batch_size)))

    def worse(a, b) -> bool:
        return a < b if higher else a > b

    binary_names = [n for n in names if n in binary]
    quantized_args = {
        n: {
            a: keras.saving.serialize_keras_object(getattr(model.get_layer(n), a))
            for a in _quantizer_args(model.get_layer(n))
        }
        for n in binary_names
    }
    rows = {n: LayerSensitivity(name=n, class_name=type(model.get_layer(n)).__name__) for n in names}

    # Full precision of a probed layer: no quantizers, or those of the float model's layer of the
    # same name (e.g. the hard-tanh activation the demo's float twin has where it binarizes).
    float_args = {n: {a: None for a in quantized_args[n]} for n in binary_names}
    if float_model is not None:
        _layer_configs(float_model.get_config())
        float_by_name = {layer.name: layer for layer in float_model.layers}
        missing = [n for n in names if n not in float_by_name]
        if missing:
            raise ValueError(
                f"`float_model` {float_model.name!r} has no layers named {missing}: each probed layer of "
                "`model` is compared with the same-named layer of the float model."
            )
        for n in binary_names:
            for a in float_args[n]:
                if not hasattr(float_by_name[n], a):
                    raise ValueError(
                        f"Layer {n!r} of `float_model` has no `{a}`: it must be the same kind of "
                        f"(kbnn quantized) layer as in `model`. Received: {type(float_by_name[n]).__name__}"
                    )
                float_args[n][a] = keras.saving.serialize_keras_object(getattr(float_by_name[n], a))

    quantized_metric = float_metric = quantized_as_is = float_as_is = None
    binarize_note = ""
    float_derived = float_model is None
    if "restore" in directions:
        quantized_as_is = evaluate_as_is(_variant(model, {}))
        quantized_metric = evaluate(_variant(model, {}))
        for n in binary_names:
            row = rows[n]
            row.restored_metric = evaluate(_variant(model, {n: float_args[n]}))
            row.restore_delta = row.restored_metric - quantized_metric
    if "binarize" in directions:
        if float_model is None:
            float_model = _variant(model, float_args)
        float_as_is = evaluate_as_is(_variant(float_model, {}))
        float_metric = evaluate(_variant(float_model, {}))
        if float_derived:
            reference = quantized_metric if quantized_metric is not None else evaluate(_variant(model, {}))
            if worse(float_metric, reference):
                binarize_note = (
                    f"without float_model, the float model is {model.name!r} with its latent weights as "
                    f"float weights, never trained as a float network: its {metric_name} "
                    f"{float_metric:.4f} is worse than the binary model's {reference:.4f}, so binarizing "
                    "one of its layers would read as a gain. Pass the trained float twin as float_model= "
                    "to measure what binarizing costs"
                )
        for n in names if not binarize_note else []:
            row = rows[n]
            if n in quantized_args:
                change = quantized_args[n]
            else:
                layer = float_model.get_layer(n)
                quant_cls = _quant_class(layer)
                if quant_cls is None and not hasattr(layer, "_weight_quantizers"):
                    raise ValueError(
                        f"Layer {n!r} of `float_model` is a {type(layer).__name__}, which kbnn cannot "
                        "binarize (Dense/Conv layers or kbnn quantized layers can be)."
                    )
                change = dict(default_quantizers, **({_SWAP: quant_cls} if quant_cls is not None else {}))
            row.binarized_metric = evaluate(_variant(float_model, {n: change}))
            row.binarize_delta = row.binarized_metric - float_metric

    stats = summary(model, print_fn=None, latency=latency, num_threads=num_threads, runs=runs)
    by_name = {r.name: r for r in stats.layers}
    for n in names:
        info, row = by_name.get(n), rows[n]
        if info is None:
            continue
        row.macs, row.binary_macs = info.macs, info.binary_macs
        row.binary_mac_share = info.binary_macs / stats.binary_macs if stats.binary_macs else 0.0
        row.mac_share = (info.macs or 0) / stats.macs if stats.macs else 0.0
        row.latency_ms, row.latency_note = info.latency_ms, info.latency_note
    return SensitivityReport(
        model_name=model.name,
        metric_name=metric_name,
        higher_is_better=higher,
        directions=directions,
        quantized_metric=quantized_metric,
        float_metric=float_metric,
        layers=[rows[n] for n in names],
        model_latency_ms=stats.latency_ms,
        seconds=time.perf_counter() - started,
        recalibrated=bool(recalibrate_batchnorm),
        quantized_metric_as_is=quantized_as_is,
        float_metric_as_is=float_as_is,
        float_derived=float_derived and "binarize" in directions,
        binarize_note=binarize_note,
    )
