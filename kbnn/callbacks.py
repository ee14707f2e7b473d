"""Training callbacks: hyperparameter schedules, progressive quantization, flip ratio.

* :class:`HyperparameterScheduler` sets one hyperparameter of an optimizer (Bop's
  ``gamma``, a sub-optimizer of a :class:`kbnn.optimizers.CaseOptimizer`), of the model's
  quantizers (DSQ's ``alpha``) or of any layer, from ``schedule(epoch)`` or
  ``schedule(step)``.
* :class:`ProgressiveQuantization` steers the model's quantizers from soft to hard over
  training by feeding them the fraction of training done (``set_progress(fraction)``).
* :class:`FlipRatio` logs the fraction of binary weights whose sign flipped, per binary layer
  and overall, per epoch (and per step); :func:`plot_flip_ratio` draws it.

All of them work under ``tf.distribute`` strategies (they run in the cross-replica context
between steps; docs/distributed.md).

How a value reaches its target (:func:`set_hyperparameter`): a ``set_<name>(value)``
method is called if the target has one; otherwise a ``keras.Variable`` attribute is
assigned; otherwise the attribute is set with ``setattr`` (properties such as
``Bop.gamma`` assign their variable). Only the first two reach a train step that is
already traced: a plain Python attribute read inside ``call`` is frozen into the traced
function, so annealed quantizer state must live in a variable (that is what DSQ's
``alpha`` is) or be set through a method that assigns one.

How quantizers are found (:func:`find_quantizers`): the model's layers are walked through
the public ``layers`` lists of nested models, then each layer's quantizer attributes
(``input_quantizer``, ``kernel_quantizer``, ``depthwise_quantizer``,
``pointwise_quantizer``) and, to reach the sub-layers of custom blocks, every attribute of
a layer that holds a Keras layer (or a list/tuple/dict of them). Only
:class:`kbnn.quantizers.Quantizer` instances are reported; quantizers given as plain
functions have no state to anneal. No private Keras API is used.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import Any

import keras
import numpy as np

from kbnn.quantizers import Quantizer
from kbnn.variables import is_binary_variable

__all__ = [
    "FlipRatio",
    "HyperparameterScheduler",
    "ProgressiveQuantization",
    "find_quantizers",
    "plot_flip_ratio",
    "set_hyperparameter",
]

QUANTIZER_ATTRIBUTES = ("input_quantizer", "kernel_quantizer", "depthwise_quantizer", "pointwise_quantizer")
_UPDATE_FREQS = ("epoch", "step")


def _children(obj) -> Iterator[Any]:
    try:
        layers = obj.layers if isinstance(obj, keras.Model) else None
    except Exception:  # noqa: BLE001 - a model whose layers cannot be listed yet
        layers = None
    if layers:
        yield from layers
    for name in QUANTIZER_ATTRIBUTES:
        value = getattr(obj, name, None)
        if isinstance(value, keras.layers.Layer):
            yield value
    for value in list(vars(obj).values()):
        if isinstance(value, keras.layers.Layer):
            yield value
        elif isinstance(value, (list, tuple)):
            yield from (v for v in value if isinstance(v, keras.layers.Layer))
        elif isinstance(value, dict):
            yield from (v for v in value.values() if isinstance(v, keras.layers.Layer))


def _walk_layers(root) -> Iterator[keras.layers.Layer]:
    seen = set()
    stack = [root]
    while stack:
        obj = stack.pop()
        if id(obj) in seen:
            continue
        seen.add(id(obj))
        yield obj
        stack.extend(reversed(list(_children(obj))))


def find_quantizers(model) -> list:
    """All :class:`kbnn.quantizers.Quantizer` instances inside ``model``, each once.

    Args:
        model: A Keras model or layer.

    Returns:
        The quantizer layers, in depth-first order of discovery.
    """
    return [layer for layer in _walk_layers(model) if isinstance(layer, Quantizer)]


def _has_hyperparameter(obj, name: str) -> bool:
    if callable(getattr(obj, f"set_{name}", None)):
        return True
    try:
        getattr(obj, name)
    except AttributeError:
        return False
    return True


def set_hyperparameter(obj, name: str, value) -> None:
    """Set hyperparameter ``name`` of ``obj`` to ``value``.

    Calls ``obj.set_<name>(value)`` if it exists; else assigns the attribute if it is a
    ``keras.Variable``; else ``setattr(obj, name, value)``.

    Raises:
        AttributeError: if ``obj`` has neither ``set_<name>`` nor an attribute ``name``.
    """
    setter = getattr(obj, f"set_{name}", None)
    if callable(setter):
        setter(value)
        return
    current = getattr(obj, name)  # Raises AttributeError for a missing hyperparameter.
    if isinstance(current, keras.Variable):
        current.assign(value)
    else:
        setattr(obj, name, value)


def _check_schedule(schedule, update_freq, verbose):
    if not callable(schedule):
        raise ValueError(f"`schedule` must be callable. Received: schedule={schedule!r}")
    if update_freq not in _UPDATE_FREQS:
        raise ValueError(
            f"`update_freq` must be one of {_UPDATE_FREQS}. Received: update_freq={update_freq!r}"
        )
    if verbose not in (0, 1, True, False):
        raise ValueError(f"`verbose` must be 0 or 1. Received: verbose={verbose!r}")


def _scalar(value):
    try:
        return float(keras.ops.convert_to_numpy(value))
    except Exception:  # noqa: BLE001 - not a scalar tensor: logged as it is
        return value


def _describe(obj) -> str:
    return f"{obj.__class__.__name__}({getattr(obj, 'name', '?')!r})"


class HyperparameterScheduler(keras.callbacks.Callback):
    """Set a hyperparameter from a schedule during training.

    The value ``schedule(epoch)`` is set at the beginning of every epoch
    (``update_freq="epoch"``, the epoch index as Keras counts it, so ``initial_epoch``
    carries over), or ``schedule(step)`` before every train step (``update_freq="step"``,
    with ``step`` the model optimizer's ``iterations``, which keeps counting across
    ``fit`` calls). The last value set is added to the epoch logs under the
    hyperparameter's name.

    Targets, resolved when training begins:

    * ``target``: an object (optimizer, layer, quantizer) or a list of them, or the
      string ``"quantizers"``: every quantizer of the model (:func:`find_quantizers`) that
      has the hyperparameter.
    * else ``optimizer``: that optimizer; if it lacks the hyperparameter and is a
      :class:`kbnn.optimizers.CaseOptimizer`, every sub-optimizer that has it.
    * else the model's optimizer, resolved the same way (so ``"gamma"`` finds the Bop
      inside a CaseOptimizer).

    Example:
        ``HyperparameterScheduler(lambda epoch: 1e-4 * 0.1 ** epoch, "gamma")`` decays
        Bop's adaptivity rate of a model compiled with Bop or a CaseOptimizer holding one.

    Args:
        schedule: Callable mapping an epoch (or step) index to the value.
        hyperparameter: Name of the hyperparameter (attribute, or ``set_<name>`` method).
        optimizer: Optimizer that holds the hyperparameter (default: the model's).
        target: Object(s) that hold the hyperparameter, or ``"quantizers"``; exclusive
            with ``optimizer``.
        update_freq: ``"epoch"`` or ``"step"``.
        verbose: 1 prints each update.

    Raises:
        ValueError: on invalid arguments, or when training begins and no target has
            the hyperparameter.
    """

    def __init__(
        self,
        schedule: Callable[[int], Any],
        hyperparameter: str,
        optimizer=None,
        target=None,
        update_freq: str = "epoch",
        verbose: int = 0,
    ):
        super().__init__()
        _check_schedule(schedule, update_freq, verbose)
        if not isinstance(hyperparameter, str) or not hyperparameter:
            raise ValueError(
                f"`hyperparameter` must be a non-empty string. Received: hyperparameter={hyperparameter!r}"
            )
        if optimizer is not None and target is not None:
            raise ValueError(
                "Pass at most one of `optimizer` and `target`. Received: "
                f"optimizer={optimizer!r}, target={target!r}"
            )
        if isinstance(target, str) and target != "quantizers":
            raise ValueError(
                f"`target` must be an object, a list of objects or 'quantizers'. Received: target={target!r}"
            )
        self.schedule = schedule
        self.hyperparameter = hyperparameter
        self.optimizer = optimizer
        self.target = target
        self.update_freq = update_freq
        self.verbose = int(verbose)
        self.targets: list = []
        self._last_value = None

    def _resolve_optimizer_targets(self, optimizer) -> list:
        from kbnn.optimizers import CaseOptimizer

        if isinstance(optimizer, keras.optimizers.LossScaleOptimizer):
            optimizer = optimizer.inner_optimizer
        if isinstance(optimizer, CaseOptimizer):
            try:
                if _has_hyperparameter(optimizer, self.hyperparameter):
                    return [optimizer]
            except Exception:  # noqa: BLE001 - the wrapper's own attribute unreadable: ask the parts
                pass
            return [o for o in optimizer.optimizers if _has_hyperparameter(o, self.hyperparameter)]
        return [optimizer] if _has_hyperparameter(optimizer, self.hyperparameter) else []

    def _resolve_targets(self) -> list:
        if isinstance(self.target, str):
            targets = [q for q in find_quantizers(self.model) if _has_hyperparameter(q, self.hyperparameter)]
            where = "the model's quantizers"
        elif self.target is not None:
            targets = list(self.target) if isinstance(self.target, (list, tuple)) else [self.target]
            missing = [t for t in targets if not _has_hyperparameter(t, self.hyperparameter)]
            if missing:
                raise ValueError(
                    f"HyperparameterScheduler: {', '.join(map(_describe, missing))} has no "
                    f"hyperparameter {self.hyperparameter!r} (no attribute and no "
                    f"`set_{self.hyperparameter}` method). Received: target={self.target!r}"
                )
            where = "target"
        else:
            optimizer = self.optimizer if self.optimizer is not None else self.model.optimizer
            if optimizer is None:
                raise ValueError("HyperparameterScheduler needs a compiled model or an `optimizer`.")
            targets = self._resolve_optimizer_targets(optimizer)
            where = _describe(optimizer)
        if not targets:
            raise ValueError(
                f"HyperparameterScheduler found no {self.hyperparameter!r} to schedule in {where}. "
                f"Received: hyperparameter={self.hyperparameter!r}"
            )
        return targets

    def _apply(self, index: int, label: str):
        value = self.schedule(index)
        for target in self.targets:
            set_hyperparameter(target, self.hyperparameter, value)
        self._last_value = value
        if self.verbose:
            print(
                f"\n{label} {index}: HyperparameterScheduler setting {self.hyperparameter} "
                f"to {_scalar(value)}."
            )

    def on_train_begin(self, logs=None):
        self.targets = self._resolve_targets()

    def on_epoch_begin(self, epoch, logs=None):
        if self.update_freq == "epoch":
            self._apply(epoch, "Epoch")

    def on_train_batch_begin(self, batch, logs=None):
        if self.update_freq == "step":
            self._apply(int(keras.ops.convert_to_numpy(self.model.optimizer.iterations)), "Step")

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None and self._last_value is not None:
            logs[self.hyperparameter] = _scalar(self._last_value)


class ProgressiveQuantization(keras.callbacks.Callback):
    """Steer the model's quantizers from soft to hard over the course of ``fit``.

    Every quantizer of the model (:func:`find_quantizers`) that has the hyperparameter
    (by default ``progress``: a ``set_progress(fraction)`` method, as IR-Net's EDE
    quantizer has, or a ``progress`` variable) receives ``schedule(fraction)``, where
    ``fraction`` runs linearly from 0 at the first epoch (or step) of this ``fit`` call to
    1 at the last one. When training ends the quantizers are left at ``schedule(1.0)``,
    i.e. fully hard, so the trained model is the one that gets converted. The last
    fraction set in each epoch is added to the epoch logs as ``quantization_fraction``.

    With another ``hyperparameter`` and a ``schedule`` this anneals any quantizer
    attribute over the fraction of training, e.g. DSQ's temperature:
    ``ProgressiveQuantization(lambda f: 0.2 * 0.01 ** f, hyperparameter="alpha")``.

    Args:
        schedule: Callable mapping the training fraction in ``[0, 1]`` to the value set;
            identity by default.
        hyperparameter: Name of the quantizer hyperparameter (attribute, or
            ``set_<name>`` method).
        update_freq: ``"epoch"`` or ``"step"`` (``"step"`` needs a known number of
            steps per epoch).
        verbose: 1 prints each update.

    Raises:
        ValueError: on invalid arguments, or when training begins and no quantizer of
            the model has the hyperparameter.
    """

    def __init__(
        self,
        schedule: Callable[[float], Any] | None = None,
        hyperparameter: str = "progress",
        update_freq: str = "epoch",
        verbose: int = 0,
    ):
        super().__init__()
        schedule = schedule if schedule is not None else (lambda fraction: fraction)
        _check_schedule(schedule, update_freq, verbose)
        if not isinstance(hyperparameter, str) or not hyperparameter:
            raise ValueError(
                f"`hyperparameter` must be a non-empty string. Received: hyperparameter={hyperparameter!r}"
            )
        self.schedule = schedule
        self.hyperparameter = hyperparameter
        self.update_freq = update_freq
        self.verbose = int(verbose)
        self.quantizers: list = []
        self._epoch = 0
        self._fraction = None

    def _set(self, fraction: float):
        fraction = min(max(float(fraction), 0.0), 1.0)
        self._fraction = fraction
        value = self.schedule(fraction)
        for quantizer in self.quantizers:
            set_hyperparameter(quantizer, self.hyperparameter, value)
        if self.verbose:
            print(
                f"\nProgressiveQuantization: fraction {fraction:.4f}, setting {self.hyperparameter} "
                f"to {_scalar(value)} on {len(self.quantizers)} quantizer(s)."
            )
        return value

    def on_train_begin(self, logs=None):
        self.quantizers = [
            q for q in find_quantizers(self.model) if _has_hyperparameter(q, self.hyperparameter)
        ]
        if not self.quantizers:
            raise ValueError(
                f"ProgressiveQuantization found no quantizer with {self.hyperparameter!r} "
                f"(attribute or `set_{self.hyperparameter}` method) in model {self.model.name!r}. "
                f"Received: hyperparameter={self.hyperparameter!r}"
            )
        self._epochs = int(self.params.get("epochs") or 1)
        self._steps = self.params.get("steps")
        if self.update_freq == "step" and not self._steps:
            raise ValueError(
                "ProgressiveQuantization(update_freq='step') needs the number of steps per "
                "epoch; pass `steps_per_epoch` to fit or use update_freq='epoch'. "
                f"Received: steps={self._steps!r}"
            )

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch
        if self.update_freq == "epoch":
            self._set(epoch / max(self._epochs - 1, 1))

    def on_train_batch_begin(self, batch, logs=None):
        if self.update_freq == "step":
            total = self._epochs * self._steps
            self._set((self._epoch * self._steps + batch) / max(total - 1, 1))

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None and self._fraction is not None:
            logs["quantization_fraction"] = self._fraction

    def on_train_end(self, logs=None):
        self._set(1.0)


class _BinaryWeight:
    """One binary weight tensor watched by :class:`FlipRatio`: its key and how to read its signs."""

    def __init__(self, key: str, variable, layer=None, quantizer_arg: str | None = None):
        self.key, self.variable, self.layer, self.quantizer_arg = key, variable, layer, quantizer_arg
        self.size = int(np.prod(variable.shape))

    def signs(self) -> np.ndarray:
        """``True`` where the binarized weight is negative (``sign(0) = +1``)."""
        if self.layer is not None:
            # The quantizer's output: the sign it takes (also for quantizers that center or
            # scale the latent weights before the sign, e.g. IR-Net's Libra-PB).
            value = self.layer.quantized_weight(self.quantizer_arg)
        else:
            value = self.variable
        return np.asarray(keras.ops.convert_to_numpy(value)) < 0


def _binary_weights(model) -> list[_BinaryWeight]:
    """Every 1-bit weight of ``model``: quantized-layer kernels, then other tagged variables."""
    found, seen = [], set()
    for layer in _walk_layers(model):
        table = getattr(layer, "_weight_quantizers", None)
        if not isinstance(table, dict) or not callable(getattr(layer, "quantized_weight", None)):
            continue
        for arg, attr in table.items():
            variable = layer._own_variable(attr)
            if variable is None or id(variable) in seen or not is_binary_variable(variable):
                continue
            seen.add(id(variable))
            found.append((layer, arg, attr, variable))
    names = [layer.name for layer, *_ in found]
    watched = [
        _BinaryWeight(
            layer.name
            if names.count(layer.name) == 1 and len(layer._weight_quantizers) == 1
            else f"{layer.name}/{attr}",
            variable,
            layer,
            arg,
        )
        for layer, arg, attr, variable in found
    ]
    for variable in model.weights:
        if id(variable) not in seen and is_binary_variable(variable):
            seen.add(id(variable))
            watched.append(_BinaryWeight(variable.path, variable))
    return watched


class FlipRatio(keras.callbacks.Callback):
    """Logs the fraction of binary weights whose sign flipped, per binary layer and overall.

    A binary weight *flips* when the sign of its binarized value changes (``sign(0) = +1``).
    With latent-weight training (Adam, SGD... on the real-valued kernel behind a sign
    quantizer) that is the sign of the quantizer's output; with :class:`kbnn.optimizers.Bop`
    the weights are ``±1`` and a flip is exactly a Bop flip. The flip ratio is the survey's
    signal of whether binary training has settled (Helwegen et al., "Latent Weights Do Not
    Exist", NeurIPS 2019, use it to read Bop's ``gamma`` and ``threshold``; it decays towards 0
    as training converges).

    Watched weights: every 1-bit kernel of a kbnn quantized layer (nested models included)
    and any other variable tagged binary (:func:`kbnn.variables.is_binary_variable`).

    What is logged:

    * epoch logs (hence ``History`` and a ``keras.callbacks.TensorBoard`` placed *after*
      this callback): ``flip_ratio`` (flipped / total over all binary weights) and
      ``flip_ratio/<layer>`` per layer: the fraction of weights whose sign at the end of the
      epoch differs from the start of it (a weight that flips twice in an epoch counts 0);
    * with ``update_freq="step"``: the same between consecutive steps, in
      :attr:`step_history` (``{key: [ratio per step]}``) and, with ``log_dir``, in TensorBoard
      as ``batch_flip_ratio...``; the epoch logs then also get ``flip_ratio_events`` (the sum of the
      per-step flips of the epoch divided by the number of binary weights: flips counted
      every step, so it is >= ``flip_ratio``);
    * :attr:`history`: ``{key: [value per epoch]}`` of the same epoch values.

    Args:
        update_freq: ``"epoch"``, or ``"step"`` to also record every train step (reads the
            binary weights after each step: cheap for small models, a host copy of every
            binary kernel per step for large ones).
        log_dir: Directory (or a ``keras.callbacks.TensorBoard`` instance, whose
            ``log_dir`` is used) to write the ratios to as TensorBoard scalars, under
            ``<log_dir>/train`` like Keras' own callback (tags ``epoch_flip_ratio...``,
            ``batch_flip_ratio...``; written with TensorFlow alone, the ``tensorboard``
            package is only needed to view them). ``None``: no summary file of its own.
        per_layer: Also log every layer (``False``: only the overall ratio).
        prefix: Name of the logged keys.

    Raises:
        ValueError: on invalid arguments, or when training begins and the model has no
            binary weight.
    """

    def __init__(
        self, update_freq: str = "epoch", log_dir=None, per_layer: bool = True, prefix: str = "flip_ratio"
    ):
        super().__init__()
        if update_freq not in _UPDATE_FREQS:
            raise ValueError(
                f"`update_freq` must be one of {_UPDATE_FREQS}. Received: update_freq={update_freq!r}"
            )
        if isinstance(log_dir, keras.callbacks.TensorBoard):
            log_dir = log_dir.log_dir
        if log_dir is not None and not isinstance(log_dir, (str, os.PathLike)):
            raise ValueError(
                "`log_dir` must be a directory path, a keras.callbacks.TensorBoard or None. "
                f"Received: log_dir={log_dir!r}"
            )
        if not isinstance(prefix, str) or not prefix:
            raise ValueError(f"`prefix` must be a non-empty string. Received: prefix={prefix!r}")
        self.update_freq = update_freq
        self.log_dir = None if log_dir is None else os.fspath(log_dir)
        self.per_layer = bool(per_layer)
        self.prefix = prefix
        self.history: dict[str, list[float]] = {}
        self.step_history: dict[str, list[float]] = {}
        self.weights: list[_BinaryWeight] = []
        self._writer = None
        self._epoch_signs = self._step_signs = None
        self._epoch_events = 0
        self._global_step = 0

    @property
    def keys(self) -> list[str]:
        """The logged keys: overall first, then one per layer (when ``per_layer``)."""
        keys = [self.prefix]
        if self.per_layer:
            keys += [f"{self.prefix}/{w.key}" for w in self.weights]
        return keys

    def _signs(self) -> list[np.ndarray]:
        return [w.signs() for w in self.weights]

    def _ratios(self, before, after) -> tuple[dict[str, float], int]:
        flipped = [int(np.count_nonzero(a != b)) for a, b in zip(before, after)]
        total = sum(w.size for w in self.weights)
        ratios = {self.prefix: sum(flipped) / total}
        if self.per_layer:
            for w, n in zip(self.weights, flipped):
                ratios[f"{self.prefix}/{w.key}"] = n / w.size
        return ratios, sum(flipped)

    def _write(self, tag_prefix: str, values: dict[str, float], step: int):
        if self.log_dir is None:
            return
        import tensorflow as tf

        if self._writer is None:
            self._writer = tf.summary.create_file_writer(os.path.join(self.log_dir, "train"))
        # tf.summary.write with the scalars plugin's metadata is what tf.summary.scalar writes,
        # without needing the tensorboard package installed.
        metadata = tf.compat.v1.SummaryMetadata(
            plugin_data=tf.compat.v1.SummaryMetadata.PluginData(plugin_name="scalars")
        )
        with self._writer.as_default():
            for key, value in values.items():
                tf.summary.write(
                    f"{tag_prefix}_{key}", tf.constant(value, tf.float32), step=step, metadata=metadata
                )
        self._writer.flush()

    def on_train_begin(self, logs=None):
        self.weights = _binary_weights(self.model)
        if not self.weights:
            raise ValueError(
                f"FlipRatio found no binary weight in model {self.model.name!r}: it watches the "
                "1-bit kernels of kbnn quantized layers (kernel_quantizer='ste_sign', ...) and "
                "variables tagged with kbnn.variables.tag_precision(variable, 1)."
            )
        self._global_step = (
            int(keras.ops.convert_to_numpy(self.model.optimizer.iterations))
            if getattr(self.model, "optimizer", None) is not None
            else 0
        )

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch_signs = self._signs()
        self._step_signs = self._epoch_signs
        self._epoch_events = 0

    def on_train_batch_end(self, batch, logs=None):
        if self.update_freq != "step":
            return
        signs = self._signs()
        ratios, flipped = self._ratios(self._step_signs, signs)
        self._step_signs = signs
        self._epoch_events += flipped
        for key, value in ratios.items():
            self.step_history.setdefault(key, []).append(value)
        self._write("batch", ratios, self._global_step)
        self._global_step += 1

    def on_epoch_end(self, epoch, logs=None):
        if self._epoch_signs is None:
            return
        ratios, _ = self._ratios(self._epoch_signs, self._signs())
        if self.update_freq == "step":
            ratios[f"{self.prefix}_events"] = self._epoch_events / sum(w.size for w in self.weights)
        for key, value in ratios.items():
            self.history.setdefault(key, []).append(value)
        if logs is not None:
            logs.update(ratios)
        self._write("epoch", ratios, epoch)

    def on_train_end(self, logs=None):
        if self._writer is not None:
            self._writer.close()
            self._writer = None


def plot_flip_ratio(
    source,
    path=None,
    *,
    per_layer: bool = True,
    steps: bool | None = None,
    log_scale: bool = True,
    prefix: str = "flip_ratio",
    ax=None,
    label: str | None = None,
    title: str | None = None,
    color=None,
):
    """Plot flip ratios (matplotlib, Agg when it writes a file) from a fit.

    Args:
        source: A :class:`FlipRatio` callback, a ``keras.callbacks.History`` (or
            ``model.fit``'s return value) or a ``{key: [values]}`` dict.
        path: Write the figure there (PNG, ...) when given.
        per_layer: Draw one line per layer besides the overall ratio.
        steps: Plot the per-step series (``FlipRatio(update_freq="step")``) instead of the
            per-epoch one; default: per-step when the source has it.
        log_scale: Logarithmic y axis (zeros are drawn at the bottom of the axis).
        prefix: The ``prefix`` the callback was created with.
        ax: Draw into this matplotlib axis (several runs on one chart: call once per run
            with a ``label``).
        label: Legend label of the overall line (default: "all binary weights").
        title: Axis title.
        color: Color of the overall line (matplotlib's cycle by default).

    Returns:
        The matplotlib ``Figure``.

    Raises:
        ValueError: if the source has no flip-ratio series.
    """
    if isinstance(source, FlipRatio):
        use_steps = bool(source.step_history) if steps is None else steps
        series, prefix = (source.step_history if use_steps else source.history), source.prefix
    else:
        use_steps = False
        series = source.history if isinstance(source, keras.callbacks.History) else source
    if not isinstance(series, dict) or prefix not in series:
        raise ValueError(
            f"No {prefix!r} series to plot: pass a FlipRatio callback, the History of a fit that used one, "
            f"or a dict with a {prefix!r} key. Received keys: "
            f"{sorted(series) if isinstance(series, dict) else type(source).__name__}"
        )
    import matplotlib

    if ax is None and path is not None:
        matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if ax is None:
        fig, ax = plt.subplots(figsize=(7, 4), dpi=110)
    else:
        fig = ax.figure

    def draw(key, **kw):
        values = np.asarray(series[key], dtype="float64")
        x = np.arange(1, len(values) + 1)
        if log_scale:
            values = np.where(values > 0, values, np.nan)
        ax.plot(x, values, **kw)

    draw(prefix, lw=2.2, label=label or "all binary weights", color=color)
    if per_layer:
        for key in sorted(k for k in series if k.startswith(prefix + "/")):
            draw(key, lw=1.0, alpha=0.7, label=key[len(prefix) + 1 :])
    if log_scale:
        ax.set_yscale("log")
    ax.set_xlabel("step" if use_steps else "epoch")
    ax.set_ylabel("fraction of binary weights flipped")
    if title:
        ax.set_title(title)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    if path is not None:
        fig.savefig(path)
    return fig
