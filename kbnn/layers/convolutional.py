"""Quantized convolution layers.

Each layer subclasses the Keras layer of the same name (minus ``Quant``), takes exactly its
constructor arguments with the same defaults, and adds:

* ``input_quantizer``: quantizer applied to the input;
* ``kernel_quantizer`` (``QuantDepthwiseConv2D``: ``depthwise_quantizer``;
  ``QuantSeparableConv2D``: ``depthwise_quantizer`` and ``pointwise_quantizer``):
  quantizer applied to the latent float kernel in the forward pass;
* ``pad_values`` (``0.0`` or ``1.0``): the value ``padding="same"`` (and, for
  ``QuantConv1D``, ``padding="causal"``) fills the border with. ``1.0`` is +1, the
  value a bitpacked binary kernel pads with for free ("same-one" padding, no border
  correction needed); it is implemented as explicit padding of the quantized input
  followed by a ``"valid"`` convolution, so training sees exactly what inference runs.
  ``0.0`` (the default) gives the Keras layer's zero padding. ``pad_values=1.0`` with
  ``padding="valid"`` is an error rather than a silent no-op.
"""

from __future__ import annotations

import keras
from keras import ops

from kbnn.layers.base import QuantLayerMixin

_QUANT_ARGS_DOC = """
        input_quantizer: Quantizer for the inputs (any identifier accepted by
            ``kbnn.quantizers.get``); ``None`` keeps them full precision.
        pad_values: ``0.0`` (zero padding, as Keras) or ``1.0`` (pad the quantized input
            with +1). ``1.0`` requires ``padding="same"``{causal}.
        **kwargs: Base layer keyword arguments (``name``, ``dtype``, ...)."""


class QuantConvBase(QuantLayerMixin):
    """Forward op shared by ``QuantConv1D``/``QuantConv2D``/``QuantConv3D``."""

    _has_pad_values = True
    _pad_value_paddings = ("same",)

    def quantized_op(self, inputs, padding):
        return ops.conv(
            inputs,
            self.quantized_weight("kernel_quantizer"),
            strides=list(self.strides),
            padding=padding,
            dilation_rate=self.dilation_rate,
            data_format=self.data_format,
        )


@keras.saving.register_keras_serializable(package="kbnn")
class QuantConv1D(QuantConvBase, keras.layers.Conv1D):
    __doc__ = (
        """``keras.layers.Conv1D`` with quantized inputs and kernel.

    ``padding="causal"`` left-pads with ``pad_values`` too: both zero-padding modes leave
    the same border problem for a binary kernel, and +1 solves it the same way.

    Args:
        filters, kernel_size, strides, padding, data_format, dilation_rate, groups,
        activation, use_bias, kernel_initializer, bias_initializer, kernel_regularizer,
        bias_regularizer, activity_regularizer, kernel_constraint, bias_constraint: as in
            ``keras.layers.Conv1D``.
        kernel_quantizer: Quantizer for the kernel; ``None`` keeps it full precision."""
        + _QUANT_ARGS_DOC.format(causal=' or "causal"')
        + "\n    "
    )

    _pad_value_paddings = ("same", "causal")

    def __init__(
        self,
        filters,
        kernel_size,
        strides=1,
        padding="valid",
        data_format=None,
        dilation_rate=1,
        groups=1,
        activation=None,
        use_bias=True,
        kernel_initializer="glorot_uniform",
        bias_initializer="zeros",
        kernel_regularizer=None,
        bias_regularizer=None,
        activity_regularizer=None,
        kernel_constraint=None,
        bias_constraint=None,
        input_quantizer=None,
        kernel_quantizer=None,
        pad_values=0.0,
        **kwargs,
    ):
        super().__init__(
            filters=filters,
            kernel_size=kernel_size,
            strides=strides,
            padding=padding,
            data_format=data_format,
            dilation_rate=dilation_rate,
            groups=groups,
            activation=activation,
            use_bias=use_bias,
            kernel_initializer=kernel_initializer,
            bias_initializer=bias_initializer,
            kernel_regularizer=kernel_regularizer,
            bias_regularizer=bias_regularizer,
            activity_regularizer=activity_regularizer,
            kernel_constraint=kernel_constraint,
            bias_constraint=bias_constraint,
            input_quantizer=input_quantizer,
            weight_quantizers={"kernel_quantizer": kernel_quantizer},
            pad_values=pad_values,
            **kwargs,
        )


@keras.saving.register_keras_serializable(package="kbnn")
class QuantConv2D(QuantConvBase, keras.layers.Conv2D):
    __doc__ = (
        """``keras.layers.Conv2D`` with quantized inputs and kernel.

    Example:
        A binary convolution with same-one padding (the form kbnn's bitpacked kernels run
        without border correction)::

            QuantConv2D(64, 3, padding="same", input_quantizer="ste_sign",
                        kernel_quantizer="ste_sign", pad_values=1.0, use_bias=False)

    Args:
        filters, kernel_size, strides, padding, data_format, dilation_rate, groups,
        activation, use_bias, kernel_initializer, bias_initializer, kernel_regularizer,
        bias_regularizer, activity_regularizer, kernel_constraint, bias_constraint: as in
            ``keras.layers.Conv2D``.
        kernel_quantizer: Quantizer for the kernel; ``None`` keeps it full precision."""
        + _QUANT_ARGS_DOC.format(causal="")
        + "\n    "
    )

    def __init__(
        self,
        filters,
        kernel_size,
        strides=(1, 1),
        padding="valid",
        data_format=None,
        dilation_rate=(1, 1),
        groups=1,
        activation=None,
        use_bias=True,
        kernel_initializer="glorot_uniform",
        bias_initializer="zeros",
        kernel_regularizer=None,
        bias_regularizer=None,
        activity_regularizer=None,
        kernel_constraint=None,
        bias_constraint=None,
        input_quantizer=None,
        kernel_quantizer=None,
        pad_values=0.0,
        **kwargs,
    ):
        super().__init__(
            filters=filters,
            kernel_size=kernel_size,
            strides=strides,
            padding=padding,
            data_format=data_format,
            dilation_rate=dilation_rate,
            groups=groups,
            activation=activation,
            use_bias=use_bias,
            kernel_initializer=kernel_initializer,
            bias_initializer=bias_initializer,
            kernel_regularizer=kernel_regularizer,
            bias_regularizer=bias_regularizer,
            activity_regularizer=activity_regularizer,
            kernel_constraint=kernel_constraint,
            bias_constraint=bias_constraint,
            input_quantizer=input_quantizer,
            weight_quantizers={"kernel_quantizer": kernel_quantizer},
            pad_values=pad_values,
            **kwargs,
        )


@keras.saving.register_keras_serializable(package="kbnn")
class QuantConv3D(QuantConvBase, keras.layers.Conv3D):
    __doc__ = (
        """``keras.layers.Conv3D`` with quantized inputs and kernel.

    Args:
        filters, kernel_size, strides, padding, data_format, dilation_rate, groups,
        activation, use_bias, kernel_initializer, bias_initializer, kernel_regularizer,
        bias_regularizer, activity_regularizer, kernel_constraint, bias_constraint: as in
            ``keras.layers.Conv3D``.
        kernel_quantizer: Quantizer for the kernel; ``None`` keeps it full precision."""
        + _QUANT_ARGS_DOC.format(causal="")
        + "\n    "
    )

    def __init__(
        self,
        filters,
        kernel_size,
        strides=(1, 1, 1),
        padding="valid",
        data_format=None,
        dilation_rate=(1, 1, 1),
        groups=1,
        activation=None,
        use_bias=True,
        kernel_initializer="glorot_uniform",
        bias_initializer="zeros",
        kernel_regularizer=None,
        bias_regularizer=None,
        activity_regularizer=None,
        kernel_constraint=None,
        bias_constraint=None,
        input_quantizer=None,
        kernel_quantizer=None,
        pad_values=0.0,
        **kwargs,
    ):
        super().__init__(
            filters=filters,
            kernel_size=kernel_size,
            strides=strides,
            padding=padding,
            data_format=data_format,
            dilation_rate=dilation_rate,
            groups=groups,
            activation=activation,
            use_bias=use_bias,
            kernel_initializer=kernel_initializer,
            bias_initializer=bias_initializer,
            kernel_regularizer=kernel_regularizer,
            bias_regularizer=bias_regularizer,
            activity_regularizer=activity_regularizer,
            kernel_constraint=kernel_constraint,
            bias_constraint=bias_constraint,
            input_quantizer=input_quantizer,
            weight_quantizers={"kernel_quantizer": kernel_quantizer},
            pad_values=pad_values,
            **kwargs,
        )


@keras.saving.register_keras_serializable(package="kbnn")
class QuantDepthwiseConv2D(QuantLayerMixin, keras.layers.DepthwiseConv2D):
    __doc__ = (
        """``keras.layers.DepthwiseConv2D`` with quantized inputs and depthwise kernel.

    ``kernel_precision`` equals ``depthwise_precision`` (its only kernel).

    Args:
        kernel_size, strides, padding, depth_multiplier, data_format, dilation_rate,
        activation, use_bias, depthwise_initializer, bias_initializer,
        depthwise_regularizer, bias_regularizer, activity_regularizer,
        depthwise_constraint, bias_constraint: as in ``keras.layers.DepthwiseConv2D``.
        depthwise_quantizer: Quantizer for the depthwise kernel; ``None`` keeps it full
            precision."""
        + _QUANT_ARGS_DOC.format(causal="")
        + "\n    "
    )

    _weight_quantizers = {"depthwise_quantizer": "kernel"}
    _has_pad_values = True
    _pad_value_paddings = ("same",)

    def __init__(
        self,
        kernel_size,
        strides=(1, 1),
        padding="valid",
        depth_multiplier=1,
        data_format=None,
        dilation_rate=(1, 1),
        activation=None,
        use_bias=True,
        depthwise_initializer="glorot_uniform",
        bias_initializer="zeros",
        depthwise_regularizer=None,
        bias_regularizer=None,
        activity_regularizer=None,
        depthwise_constraint=None,
        bias_constraint=None,
        input_quantizer=None,
        depthwise_quantizer=None,
        pad_values=0.0,
        **kwargs,
    ):
        super().__init__(
            kernel_size=kernel_size,
            strides=strides,
            padding=padding,
            depth_multiplier=depth_multiplier,
            data_format=data_format,
            dilation_rate=dilation_rate,
            activation=activation,
            use_bias=use_bias,
            depthwise_initializer=depthwise_initializer,
            bias_initializer=bias_initializer,
            depthwise_regularizer=depthwise_regularizer,
            bias_regularizer=bias_regularizer,
            activity_regularizer=activity_regularizer,
            depthwise_constraint=depthwise_constraint,
            bias_constraint=bias_constraint,
            input_quantizer=input_quantizer,
            weight_quantizers={"depthwise_quantizer": depthwise_quantizer},
            pad_values=pad_values,
            **kwargs,
        )

    @property
    def depthwise_precision(self) -> int | None:
        """Bits of the quantized depthwise kernel; ``None`` for full precision."""
        return self.kernel_precision

    def quantized_op(self, inputs, padding):
        return ops.depthwise_conv(
            inputs,
            self.quantized_weight("depthwise_quantizer"),
            strides=self.strides,
            padding=padding,
            dilation_rate=self.dilation_rate,
            data_format=self.data_format,
        )


@keras.saving.register_keras_serializable(package="kbnn")
class QuantSeparableConv2D(QuantLayerMixin, keras.layers.SeparableConv2D):
    __doc__ = (
        """``keras.layers.SeparableConv2D`` with quantized inputs and kernels.

    The input is quantized once, before the depthwise step; the depthwise output goes to
    the pointwise step unquantized (as in the Keras layer, the two steps are one op).
    ``pad_values`` pads the depthwise step (the pointwise step is 1x1).

    Args:
        filters, kernel_size, strides, padding, data_format, dilation_rate,
        depth_multiplier, activation, use_bias, depthwise_initializer,
        pointwise_initializer, bias_initializer, depthwise_regularizer,
        pointwise_regularizer, bias_regularizer, activity_regularizer,
        depthwise_constraint, pointwise_constraint, bias_constraint: as in
            ``keras.layers.SeparableConv2D``.
        depthwise_quantizer: Quantizer for the depthwise kernel.
        pointwise_quantizer: Quantizer for the pointwise kernel."""
        + _QUANT_ARGS_DOC.format(causal="")
        + "\n    "
    )

    _weight_quantizers = {
        "depthwise_quantizer": "depthwise_kernel",
        "pointwise_quantizer": "pointwise_kernel",
    }
    _has_pad_values = True
    _pad_value_paddings = ("same",)

    def __init__(
        self,
        filters,
        kernel_size,
        strides=(1, 1),
        padding="valid",
        data_format=None,
        dilation_rate=(1, 1),
        depth_multiplier=1,
        activation=None,
        use_bias=True,
        depthwise_initializer="glorot_uniform",
        pointwise_initializer="glorot_uniform",
        bias_initializer="zeros",
        depthwise_regularizer=None,
        pointwise_regularizer=None,
        bias_regularizer=None,
        activity_regularizer=None,
        depthwise_constraint=None,
        pointwise_constraint=None,
        bias_constraint=None,
        input_quantizer=None,
        depthwise_quantizer=None,
        pointwise_quantizer=None,
        pad_values=0.0,
        **kwargs,
    ):
        super().__init__(
            filters=filters,
            kernel_size=kernel_size,
            strides=strides,
            padding=padding,
            data_format=data_format,
            dilation_rate=dilation_rate,
            depth_multiplier=depth_multiplier,
            activation=activation,
            use_bias=use_bias,
            depthwise_initializer=depthwise_initializer,
            pointwise_initializer=pointwise_initializer,
            bias_initializer=bias_initializer,
            depthwise_regularizer=depthwise_regularizer,
            pointwise_regularizer=pointwise_regularizer,
            bias_regularizer=bias_regularizer,
            activity_regularizer=activity_regularizer,
            depthwise_constraint=depthwise_constraint,
            pointwise_constraint=pointwise_constraint,
            bias_constraint=bias_constraint,
            input_quantizer=input_quantizer,
            weight_quantizers={
                "depthwise_quantizer": depthwise_quantizer,
                "pointwise_quantizer": pointwise_quantizer,
            },
            pad_values=pad_values,
            **kwargs,
        )

    @property
    def depthwise_precision(self) -> int | None:
        """Bits of the quantized depthwise kernel; ``None`` for full precision."""
        from kbnn.quantizers import precision_of

        return precision_of(self.depthwise_quantizer)

    @property
    def pointwise_precision(self) -> int | None:
        """Bits of the quantized pointwise kernel; ``None`` for full precision."""
        from kbnn.quantizers import precision_of

        return precision_of(self.pointwise_quantizer)

    def quantized_op(self, inputs, padding):
        return ops.separable_conv(
            inputs,
            self.quantized_weight("depthwise_quantizer"),
            self.quantized_weight("pointwise_quantizer"),
            strides=self.strides,
            padding=padding,
            dilation_rate=self.dilation_rate,
            data_format=self.data_format,
        )


@keras.saving.register_keras_serializable(package="kbnn")
class QuantConv2DTranspose(QuantLayerMixin, keras.layers.Conv2DTranspose):
    """``keras.layers.Conv2DTranspose`` with quantized inputs and kernel.

    ``pad_values`` is accepted for a uniform signature but only ``0.0`` is valid: a
    transposed convolution inserts zeros between input pixels (``strides``) and crops its
    output for ``padding="same"``, so there is no input border to fill with +1.

    Args:
        filters, kernel_size, strides, padding, output_padding, data_format,
        dilation_rate, activation, use_bias, kernel_initializer, bias_initializer,
        kernel_regularizer, bias_regularizer, activity_regularizer, kernel_constraint,
        bias_constraint: as in ``keras.layers.Conv2DTranspose``.
        input_quantizer: Quantizer for the inputs; ``None`` keeps them full precision.
        kernel_quantizer: Quantizer for the kernel; ``None`` keeps it full precision.
        pad_values: Must be ``0.0``.
        **kwargs: Base layer keyword arguments (``name``, ``dtype``, ...).
    """

    _has_pad_values = True
    _pad_value_paddings = ()
    _no_pad_values_reason = (
        "a transposed convolution inserts zeros between input pixels and crops its output "
        "for padding='same', so there is no input border to fill with +1."
    )

    def __init__(
        self,
        filters,
        kernel_size,
        strides=(1, 1),
        padding="valid",
        output_padding=None,
        data_format=None,
        dilation_rate=(1, 1),
        activation=None,
        use_bias=True,
        kernel_initializer="glorot_uniform",
        bias_initializer="zeros",
        kernel_regularizer=None,
        bias_regularizer=None,
        activity_regularizer=None,
        kernel_constraint=None,
        bias_constraint=None,
        input_quantizer=None,
        kernel_quantizer=None,
        pad_values=0.0,
        **kwargs,
    ):
        super().__init__(
            filters=filters,
            kernel_size=kernel_size,
            strides=strides,
            padding=padding,
            output_padding=output_padding,
            data_format=data_format,
            dilation_rate=dilation_rate,
            activation=activation,
            use_bias=use_bias,
            kernel_initializer=kernel_initializer,
            bias_initializer=bias_initializer,
            kernel_regularizer=kernel_regularizer,
            bias_regularizer=bias_regularizer,
            activity_regularizer=activity_regularizer,
            kernel_constraint=kernel_constraint,
            bias_constraint=bias_constraint,
            input_quantizer=input_quantizer,
            weight_quantizers={"kernel_quantizer": kernel_quantizer},
            pad_values=pad_values,
            **kwargs,
        )

    def quantized_op(self, inputs, padding):
        return ops.conv_transpose(
            inputs,
            self.quantized_weight("kernel_quantizer"),
            strides=list(self.strides),
            padding=padding,
            output_padding=self.output_padding,
            dilation_rate=self.dilation_rate,
            data_format=self.data_format,
        )
