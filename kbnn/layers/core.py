"""Quantized densely-connected layer."""

from __future__ import annotations

import keras
from keras import ops

from kbnn.layers.base import QuantLayerMixin


@keras.saving.register_keras_serializable(package="kbnn")
class QuantDense(QuantLayerMixin, keras.layers.Dense):
    """``keras.layers.Dense`` with quantized inputs and kernel.

    Computes ``activation(q_in(inputs) @ q_k(kernel) + bias)``. The kernel variable stays
    a float latent weight (tagged with ``kernel_quantizer``'s precision); only the
    forward pass sees its quantized value.

    Args:
        units, activation, use_bias, kernel_initializer, bias_initializer,
        kernel_regularizer, bias_regularizer, activity_regularizer, kernel_constraint,
        bias_constraint, lora_rank, lora_alpha, quantization_config: as in
            ``keras.layers.Dense``.
        input_quantizer: Quantizer for the inputs (identifier accepted by
            ``kbnn.quantizers.get``); ``None`` keeps them full precision.
        kernel_quantizer: Quantizer for the kernel; ``None`` keeps it full precision.
        **kwargs: Base layer keyword arguments (``name``, ``dtype``, ...).
    """

    def __init__(
        self,
        units,
        activation=None,
        use_bias=True,
        kernel_initializer="glorot_uniform",
        bias_initializer="zeros",
        kernel_regularizer=None,
        bias_regularizer=None,
        activity_regularizer=None,
        kernel_constraint=None,
        bias_constraint=None,
        lora_rank=None,
        lora_alpha=None,
        quantization_config=None,
        input_quantizer=None,
        kernel_quantizer=None,
        **kwargs,
    ):
        super().__init__(
            units=units,
            activation=activation,
            use_bias=use_bias,
            kernel_initializer=kernel_initializer,
            bias_initializer=bias_initializer,
            kernel_regularizer=kernel_regularizer,
            bias_regularizer=bias_regularizer,
            activity_regularizer=activity_regularizer,
            kernel_constraint=kernel_constraint,
            bias_constraint=bias_constraint,
            lora_rank=lora_rank,
            lora_alpha=lora_alpha,
            quantization_config=quantization_config,
            input_quantizer=input_quantizer,
            weight_quantizers={"kernel_quantizer": kernel_quantizer},
            **kwargs,
        )

    def quantized_op(self, inputs, padding):
        del padding  # Dense has no padding.
        return ops.matmul(inputs, self.quantized_weight("kernel_quantizer"))
