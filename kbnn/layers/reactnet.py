"""Per-channel real-valued layers of ReActNet and BNext: RPReLU and the mix-to-binary scale.

References:

* Liu, Shen, Savvides, Cheng, "ReActNet: Towards Precise Binary Neural Network with Generalized
  Activation Functions", ECCV 2020 (arXiv:2003.03488), section 3.2, eq. (5) (RPReLU).
* Guo, Bethge, Meinel, Yang, "Join the High Accuracy Club on ImageNet with A Binary Neural
  Network Ticket", arXiv:2211.12933 (BNext), section 3 (the channel-wise mix-to-binary
  attention's learnable mixing scale).

Both are element-wise per channel (last axis): ``kbnn.summary`` counts no MACs for them.
"""

from __future__ import annotations

import keras
from keras import ops

__all__ = ["RPReLU", "ChannelMix"]


def _channels(input_shape, layer: str) -> int:
    channels = input_shape[-1] if input_shape else None
    if channels is None:
        raise ValueError(
            f"{layer} needs a known channel count (last axis) for its per-channel parameters. "
            f"Received: input_shape={input_shape}"
        )
    return int(channels)


@keras.saving.register_keras_serializable(package="kbnn")
class RPReLU(keras.layers.Layer):
    r"""ReActNet's RPReLU: shift, PReLU, shift, every parameter per channel.

    .. math::
        f(x_c) = \begin{cases} x_c - \gamma_c + \zeta_c & x_c > \gamma_c \\
                 \beta_c (x_c - \gamma_c) + \zeta_c & x_c \le \gamma_c \end{cases}

    (ReActNet eq. (5)): ``gamma`` moves the input before the PReLU, ``beta`` is the PReLU's
    negative-side slope, ``zeta`` moves the output. At ``x_c = gamma_c`` both branches give
    ``zeta_c``, so the function is continuous.

    Initial values: ``gamma = zeta = 0`` and ``beta = 0.25`` (the reference code's ``nn.PReLU``
    default), i.e. a fresh RPReLU is a PReLU with slope 0.25.

    Args:
        slope_initializer: Initializer of ``beta`` (default 0.25).
        **kwargs: ``keras.layers.Layer`` arguments (``name``, ``dtype``...).
    """

    def __init__(self, slope_initializer=0.25, **kwargs):
        super().__init__(**kwargs)
        if isinstance(slope_initializer, (int, float)) and not isinstance(slope_initializer, bool):
            slope_initializer = keras.initializers.Constant(float(slope_initializer))
        self.slope_initializer = keras.initializers.get(slope_initializer)
        self.supports_masking = True

    def build(self, input_shape):
        c = _channels(input_shape, "RPReLU")
        self.gamma = self.add_weight(shape=(c,), name="gamma", initializer="zeros")
        self.beta = self.add_weight(shape=(c,), name="beta", initializer=self.slope_initializer)
        self.zeta = self.add_weight(shape=(c,), name="zeta", initializer="zeros")
        self.built = True

    def call(self, inputs):
        v = inputs - ops.cast(self.gamma, inputs.dtype)
        beta = ops.cast(self.beta, inputs.dtype)
        return ops.where(ops.greater(v, 0), v, beta * v) + ops.cast(self.zeta, inputs.dtype)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config["slope_initializer"] = keras.initializers.serialize(self.slope_initializer)
        return config


@keras.saving.register_keras_serializable(package="kbnn")
class ChannelMix(keras.layers.Layer):
    r"""BNext's learnable mix of two tensors: ``s_c · a + (1 − s_c) · b`` per channel.

    Called on ``[a, b]`` of the same shape. ``s`` (``scale``, initial 0.5) is kept in [0, 1]: the
    forward pass uses ``clip(s, 0, 1)`` (the reference code clamps the parameter in place while
    training; the clip gives the same forward values and no gradient outside the range).

    Args:
        initial: Initial ``s`` (in [0, 1]).
        **kwargs: ``keras.layers.Layer`` arguments.
    """

    def __init__(self, initial: float = 0.5, **kwargs):
        super().__init__(**kwargs)
        if isinstance(initial, bool) or not isinstance(initial, (int, float)) or not 0.0 <= initial <= 1.0:
            raise ValueError(f"`initial` must be a number in [0, 1]. Received: initial={initial!r}")
        self.initial = float(initial)

    def build(self, input_shape):
        if not (isinstance(input_shape, (list, tuple)) and len(input_shape) == 2):
            raise ValueError(f"ChannelMix is called on [a, b]. Received: input_shape={input_shape}")
        a, b = (tuple(s) for s in input_shape)
        if a[-1] != b[-1]:
            raise ValueError(f"ChannelMix needs a and b with the same channel count. Received: {a} and {b}")
        c = _channels(a, "ChannelMix")
        self.scale = self.add_weight(
            shape=(c,), name="scale", initializer=keras.initializers.Constant(self.initial)
        )
        self.built = True

    def call(self, inputs):
        a, b = inputs
        s = ops.clip(ops.cast(self.scale, a.dtype), 0.0, 1.0)
        return s * a + (1.0 - s) * b

    def compute_output_shape(self, input_shape):
        return input_shape[0]

    def get_config(self):
        config = super().get_config()
        config["initial"] = self.initial
        return config
