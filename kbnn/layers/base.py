"""The machinery every quantized layer shares.

Every ``Quant*`` layer is a thin subclass of the Keras layer it extends, with
:class:`QuantLayerMixin` first in its bases::

    class QuantConv2D(QuantLayerMixin, keras.layers.Conv2D): ...

The Keras layer keeps what it does well: argument normalization and validation, weight
creation (``build``), shape inference, ``get_config``, LoRA. The mixin adds the
quantizers, ``pad_values`` and the precision bookkeeping, and owns the forward pass.

Why the mixin owns ``call`` rather than overriding a Keras hook (checked against
Keras 3.15):

* ``BaseConv.convolution_op(inputs, kernel)`` is the natural seam for Conv2D/Conv3D, but
  ``Conv1D.call`` does not route through it, and the depthwise, separable and transposed
  layers read their kernels as plain attributes inside ``call`` with no seam at all.
* The ``kernel`` property of ``Dense`` and ``BaseConv`` is also what their
  ``save_own_variables`` writes: quantizing there would save the binarized weights
  instead of the latent float weights that training needs.

So each subclass implements one small method, :meth:`QuantLayerMixin.quantized_op`
(the bare linear operation: ``ops.matmul``, ``ops.conv``, ...), and the mixin's ``call``
is: quantize the input, pad it (``pad_values``), ``quantized_op``, bias, activation.
Only public ``keras.ops`` and public layer attributes are used, which is also exactly
the graph the converter lowers.
"""

from __future__ import annotations

import numbers
import warnings

import keras
from keras import ops

from kbnn import constraints as constraints_lib
from kbnn import quantizers as quantizers_lib
from kbnn import regularizers as regularizers_lib
from kbnn import variables as variables_lib

_PAD_VALUES = (0.0, 1.0)


def _is_variable(value) -> bool:
    return isinstance(value, keras.Variable)


class QuantLayerMixin:
    """Adds input/weight quantizers, ``pad_values`` and precision queries to a Keras layer.

    Subclasses set two class attributes:

    * ``_weight_quantizers``: maps each weight-quantizer argument to the attribute that
      holds the weight it quantizes, e.g. ``{"kernel_quantizer": "kernel"}`` or
      ``{"depthwise_quantizer": "depthwise_kernel", "pointwise_quantizer":
      "pointwise_kernel"}``. The attribute name is also the Keras variable's name.
    * ``_has_pad_values``: whether the layer takes a ``pad_values`` argument, and
      ``_pad_value_paddings``: the ``padding`` modes for which ``pad_values=1.0`` is
      meaningful (empty: only ``0.0`` is accepted).

    and implement :meth:`quantized_op`.
    """

    _weight_quantizers: dict[str, str] = {"kernel_quantizer": "kernel"}
    _has_pad_values: bool = False
    _no_pad_values_reason: str = ""
    _pad_value_paddings: tuple[str, ...] = ()

    def __init__(self, *, input_quantizer=None, weight_quantizers=None, pad_values=None, **kwargs):
        # kbnn aliases ("weight_clip", "bipolar") are not in Keras' own lookup tables.
        for key, value in kwargs.items():
            if isinstance(value, str) and key.endswith("_constraint"):
                kwargs[key] = constraints_lib.get(value)
            elif isinstance(value, str) and key.endswith("_regularizer"):
                kwargs[key] = regularizers_lib.get(value)
        # The Keras layer first: it validates and normalizes its own arguments and
        # initializes the tracker that makes quantizer layers tracked sub-layers.
        super().__init__(**kwargs)
        weight_quantizers = dict(weight_quantizers or {})
        if set(weight_quantizers) != set(self._weight_quantizers):
            raise ValueError(
                f"{type(self).__name__} expects the weight quantizers "
                f"{sorted(self._weight_quantizers)}. Received: {sorted(weight_quantizers)}"
            )
        self.input_quantizer = self._get_quantizer(input_quantizer, "input_quantizer")
        for arg, identifier in weight_quantizers.items():
            setattr(self, arg, self._get_quantizer(identifier, arg))
        self.pad_values = self._validate_pad_values(pad_values)
        q = self.input_quantizer
        if isinstance(q, quantizers_lib.MultiBaseSign) and q.mode == "weights":
            from kbnn.layers.mistakes import ModelMistakeWarning, weights_mode_input_message

            warnings.warn(
                weights_mode_input_message(self.name, type(self).__name__), ModelMistakeWarning, stacklevel=3
            )

    def __call__(self, *args, **kwargs):
        # A sign input quantizer on BitPlaneInput's output (non-negative integers) is a constant +1:
        # refuse it when the model is built (BitPlaneInput tags its symbolic output).
        x = args[0] if args else kwargs.get("inputs")
        tag = getattr(x, "_kbnn_bitplane", None)
        if tag is not None:
            from kbnn.layers.mistakes import binarizes, bitplane_sign_message

            if binarizes(self.input_quantizer):
                raise ValueError(bitplane_sign_message(self, tag[0], tag[1]))
        return super().__call__(*args, **kwargs)

    # ------------------------------------------------------------------ arguments

    def _get_quantizer(self, identifier, arg):
        try:
            quantizer = quantizers_lib.get(identifier)
        except ValueError as e:
            raise ValueError(f"Invalid `{arg}` for {type(self).__name__}: {e}") from e
        if isinstance(identifier, str) and isinstance(quantizer, keras.layers.Layer):
            # An alias builds a fresh quantizer: give it this layer's dtype policy so that
            # e.g. `dtype="float64"` or mixed precision applies to the quantizer too.
            quantizer.dtype_policy = self.dtype_policy
        return quantizer

    def _validate_pad_values(self, pad_values):
        if not self._has_pad_values:
            if pad_values is not None:
                raise ValueError(
                    f"{type(self).__name__} has no `pad_values`. Received: pad_values={pad_values!r}"
                )
            return None
        is_number = isinstance(pad_values, numbers.Real) and not isinstance(pad_values, bool)
        if not is_number or pad_values not in _PAD_VALUES:
            raise ValueError(
                "`pad_values` must be 0.0 (zero padding, the Keras default) or 1.0 (pad with "
                f"+1, the value a binary kernel gets for free). Received: pad_values={pad_values!r}"
            )
        pad_values = float(pad_values)
        if pad_values != 0.0 and self.padding not in self._pad_value_paddings:
            if not self._pad_value_paddings:
                raise ValueError(
                    f"{type(self).__name__} only supports pad_values=0.0: {self._no_pad_values_reason} "
                    f"Received: pad_values={pad_values!r}"
                )
            raise ValueError(
                f"`pad_values={pad_values}` only has an effect with padding in "
                f"{list(self._pad_value_paddings)} for {type(self).__name__}. "
                f"Received: padding={self.padding!r}, pad_values={pad_values!r}"
            )
        return pad_values

    def quantize(self, mode=None, type_check=True, config=None):
        """Keras post-training quantization is not supported on kbnn layers.

        Raises:
            NotImplementedError: always; the layer already quantizes through its quantizers.
        """
        raise NotImplementedError(
            f"{type(self).__name__} quantizes through its kbnn quantizers; Keras post-training "
            f"quantization cannot be combined with it. Received: mode={mode!r}"
        )

    # ------------------------------------------------------------------ precision

    @property
    def input_precision(self) -> int | None:
        """Bits of the quantized input (1 for binary); ``None`` for full precision."""
        return quantizers_lib.precision_of(self.input_quantizer)

    @property
    def kernel_precision(self) -> int | None:
        """Bits of the quantized kernel(s); ``None`` if any kernel is full precision.

        For layers with several kernels (separable) this is the largest of their
        precisions, or ``None`` as soon as one of them is not quantized.
        """
        bits = [quantizers_lib.precision_of(getattr(self, arg)) for arg in self._weight_quantizers]
        if any(b is None for b in bits):
            return None
        return max(bits)

    def weight_precisions(self) -> dict[str, int | None]:
        """Precision of every weight of the layer (sub-layers included), keyed by ``variable.path``.

        Latent kernels report their quantizer's bits; biases, quantizer state (e.g. a
        learnable clipping bound) and any other weight report ``None`` (full precision).
        """
        return {v.path: variables_lib.precision_of_variable(v) for v in self.weights}

    # ------------------------------------------------------------------ build

    def _own_variable(self, name):
        value = getattr(self, name, None)
        if _is_variable(value):
            return value
        # `kernel` is a property that returns a tensor when LoRA is enabled; find the
        # latent variable by its name among the layer's own weights.
        for v in self.weights:
            if v.path == f"{self.path}/{name}":
                return v
        return None

    def build(self, input_shape):
        super().build(input_shape)
        for arg, attr in self._weight_quantizers.items():
            quantizer = getattr(self, arg)
            variable = self._own_variable(attr)
            if variable is None:  # pragma: no cover - a Keras change we would want to hear about
                raise RuntimeError(f"{type(self).__name__}.build did not create the weight {attr!r}.")
            variables_lib.tag_precision(variable, quantizers_lib.precision_of(quantizer))
            self._build_quantizer(quantizer, tuple(variable.shape))
        self._build_quantizer(self.input_quantizer, tuple(input_shape))

    @staticmethod
    def _build_quantizer(quantizer, shape):
        # Stateful quantizers (a learnable bound, ...) must exist before weights are loaded.
        if isinstance(quantizer, keras.layers.Layer) and not quantizer.built:
            quantizer.build(shape)

    # ------------------------------------------------------------------ forward

    def quantized_weight(self, arg: str):
        """The weight quantized by the quantizer passed as ``arg`` (e.g. ``"kernel_quantizer"``)."""
        # `ops.copy` reads the variable into a tensor (`tf.identity`): quantizers with a
        # custom gradient must see a tensor, not a variable they would then "use".
        weight = ops.cast(ops.copy(getattr(self, self._weight_quantizers[arg])), self.compute_dtype)
        quantizer = getattr(self, arg)
        return weight if quantizer is None else quantizer(weight)

    def quantized_op(self, inputs, padding):
        """The layer's linear operation on quantized inputs (already padded).

        Args:
            inputs: The quantized (and, for ``pad_values=1.0``, explicitly padded) input.
            padding: The padding mode to pass to the Keras op (``"valid"`` after explicit
                padding).

        Returns:
            The output before bias and activation.
        """
        raise NotImplementedError

    def _spatial_axes(self):
        if self.data_format == "channels_last":
            return list(range(1, self.rank + 1))
        return list(range(2, self.rank + 2))

    def _explicit_padding(self, inputs):
        """Pads ``inputs`` explicitly when Keras' own padding would not fill with ``pad_values``.

        Returns:
            ``(inputs, padding)``: the possibly padded input and the padding mode left for
            the op (``"valid"`` once padded explicitly).
        """
        padding = getattr(self, "padding", None)
        if padding == "causal":
            # Same as Keras' Conv1D: left-pad by the dilated kernel extent.
            widths = [(self.dilation_rate[0] * (self.kernel_size[0] - 1), 0)]
        elif padding == "same" and self.pad_values:
            widths = []
            shape = ops.shape(inputs)
            for i, axis in enumerate(self._spatial_axes()):
                size = inputs.shape[axis]
                if size is None:
                    size = shape[axis]
                k, s, d = self.kernel_size[i], self.strides[i], self.dilation_rate[i]
                total = (((size + s - 1) // s) - 1) * s + (k - 1) * d + 1 - size
                total = max(total, 0) if isinstance(total, int) else ops.maximum(total, 0)
                widths.append((total // 2, total - total // 2))
        else:
            return inputs, padding
        pad_width = [(0, 0)] * len(inputs.shape)
        for axis, w in zip(self._spatial_axes(), widths):
            pad_width[axis] = w
        inputs = ops.pad(inputs, pad_width, constant_values=self.pad_values or 0.0)
        return inputs, "valid"

    def _add_bias(self, outputs):
        if getattr(self, "data_format", "channels_last") == "channels_last":
            return ops.add(outputs, self.bias)
        bias_shape = (1, -1) + (1,) * self.rank
        return ops.add(outputs, ops.reshape(self.bias, bias_shape))

    def call(self, inputs):
        if self.input_quantizer is not None:
            inputs = self.input_quantizer(inputs)
        inputs, padding = self._explicit_padding(inputs)
        outputs = self.quantized_op(inputs, padding)
        if self.use_bias:
            outputs = self._add_bias(outputs)
        if self.activation is not None:
            outputs = self.activation(outputs)
        return outputs

    # ------------------------------------------------------------------ config

    def get_config(self):
        config = super().get_config()
        config["input_quantizer"] = quantizers_lib.serialize(self.input_quantizer)
        for arg in self._weight_quantizers:
            config[arg] = quantizers_lib.serialize(getattr(self, arg))
        if self._has_pad_values:
            config["pad_values"] = self.pad_values
        return config
