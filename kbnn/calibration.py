"""Re-estimating batch-norm moving statistics on data: :func:`recalibrate_batchnorm`.

Why a BNN needs it. A batch norm normalizes with the statistics of the current batch during
training and with its *moving* mean and variance at inference (Ioffe & Szegedy, "Batch
Normalization: Accelerating Deep Network Training by Reducing Internal Covariate Shift", ICML
2015, section 3.1 and Algorithm 2). The moving statistics are exponential averages over the
training steps (``momentum`` 0.99 in Keras), so they mostly describe the activations of the
weights of the last ~100 steps. In a binary network a small change of a latent weight can flip
its sign and change the binarized layer's output by a large, discrete step, so the activations
keep moving until the end of training and the moving averages lag behind them: the model then
does much worse at inference (``training=False``) than during training. Short trainings (a few
hundred steps, where the moving averages have not even forgotten their initial values 0 / 1)
show this most. The cure is the one used for SWA (Izmailov et al., "Averaging Weights Leads to
Wider Optima and Better Generalization", UAI 2018, section 3.2, and PyTorch's
``torch.optim.swa_utils.update_bn``): with the weights fixed, run the data through the model in
training mode once and set every batch norm's statistics to the average over those batches.

What :func:`recalibrate_batchnorm` computes. For batches ``B_1 .. B_K`` of ``x`` (sizes
``n_1 .. n_K``), every batch norm ends with

    moving_mean     = sum_k n_k mean_k / sum_k n_k
    moving_variance = sum_k n_k var_k  / sum_k n_k

where ``mean_k`` / ``var_k`` are the per-feature mean and (biased, as Keras computes it) variance
of that layer's input over batch ``k``, i.e. the sample-size weighted average of the batch
statistics (Ioffe & Szegedy's population estimate ``E_B[mu_B]``, ``E_B[sigma_B^2]``, without the
``m / (m - 1)`` factor, which Keras' moving variance does not apply either). It is implemented with
the layer's own update rule ``moving = momentum * moving + (1 - momentum) * batch``: the momentum
of batch ``k`` is ``N_{k-1} / N_k`` (``N_k = n_1 + .. + n_k``), so batch 1 overwrites the old
statistics (momentum 0) and batch ``k`` gets the weight ``n_k / N_k``. Within a pass, downstream
batch norms see their inputs normalized by the upstream ones' batch statistics, exactly as in
training. Only public Keras API is used (``layer.momentum``, ``model(x, training=True)``); the
momenta are restored afterwards. Layers that behave differently in training (dropout, stochastic
quantizers) do so during the pass, as they do in training.
"""

from __future__ import annotations

import numpy as np

__all__ = ["recalibrate_batchnorm", "batch_norm_layers"]


def batch_norm_layers(model) -> list:
    """Every layer of ``model`` (nested models included) that keeps moving statistics with a
    ``momentum``: Keras ``BatchNormalization`` and kbnn ``ShiftBatchNormalization``."""
    import keras

    from kbnn.layers import ShiftBatchNormalization

    found, seen = [], set()

    def walk(layer):
        if id(layer) in seen:
            return
        seen.add(id(layer))
        if isinstance(layer, (keras.layers.BatchNormalization, ShiftBatchNormalization)):
            found.append(layer)
        for sub in getattr(layer, "layers", None) or []:
            walk(sub)

    for layer in model.layers:
        walk(layer)
    return found


def _batches(x, batch_size: int):
    """``(batch, size)`` pairs of ``x``: an array, a list/tuple of arrays (one per model input)
    or a dict of arrays by input name, sliced along the first axis."""
    if isinstance(x, dict):
        n = {len(v) for v in x.values()}
        arrays = None
    elif isinstance(x, (list, tuple)):
        n = {len(v) for v in x}
        arrays = list(x)
    else:
        n = {len(x)}
        arrays = None
    if len(n) != 1:
        raise ValueError(f"`x`: every input must have the same number of samples. Received: {sorted(n)}")
    total = n.pop()
    if total == 0:
        raise ValueError("`x` is empty: recalibrating batch norms needs at least one sample")
    for start in range(0, total, batch_size):
        stop = min(start + batch_size, total)
        if isinstance(x, dict):
            yield {k: np.asarray(v[start:stop]) for k, v in x.items()}, stop - start
        elif arrays is not None:
            yield [np.asarray(a[start:stop]) for a in arrays], stop - start
        else:
            yield np.asarray(x[start:stop]), stop - start


def recalibrate_batchnorm(model, x, *, batch_size: int = 256, max_samples: int | None = None):
    """Re-estimates every batch norm's moving mean / variance of ``model`` on the inputs ``x``.

    One pass over ``x`` in training mode (``model(batch, training=True)``) with the weights
    fixed; each batch norm's moving statistics become the sample-weighted average of its batch
    statistics over the pass (module docstring: the formula and why binary networks need it).
    Nothing else changes: trainable weights are untouched and the layers' ``momentum`` is
    restored.

    Args:
        model: A built ``keras.Model`` (Functional, Sequential or subclassed; nested models are
            walked). A model without batch norms is returned unchanged.
        x: Inputs: an array ``[N, ...]`` (typically the training images, without labels), a
            list of arrays (one per model input) or a dict by input name.
        batch_size: Samples per forward pass; use the training batch size or larger (tiny batches
            give noisy per-batch statistics).
        max_samples: Use at most the first ``max_samples`` samples (``None``: all).

    Returns:
        ``model`` (the same object), for chaining.

    Raises:
        ValueError: an unbuilt model, empty data, inputs of different lengths, or a bad
            ``batch_size`` / ``max_samples``.
    """
    import keras

    if not isinstance(model, keras.Model) or not model.built:
        raise ValueError(f"`model` must be a built keras.Model. Received: model={model!r}")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"`batch_size` must be a positive int. Received: batch_size={batch_size!r}")
    if max_samples is not None:
        if isinstance(max_samples, bool) or not isinstance(max_samples, int) or max_samples < 1:
            raise ValueError(
                f"`max_samples` must be a positive int or None. Received: max_samples={max_samples!r}"
            )
        if isinstance(x, dict):
            x = {k: v[:max_samples] for k, v in x.items()}
        elif isinstance(x, (list, tuple)):
            x = [v[:max_samples] for v in x]
        else:
            x = x[:max_samples]
    norms = batch_norm_layers(model)
    if not norms:
        return model
    saved = [layer.momentum for layer in norms]
    seen = 0
    try:
        for batch, size in _batches(x, batch_size):
            for layer in norms:
                layer.momentum = seen / (seen + size)  # batch k gets weight n_k / N_k
            model(batch, training=True)
            seen += size
    finally:
        for layer, momentum in zip(norms, saved):
            layer.momentum = momentum
    return model
