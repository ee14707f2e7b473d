"""Quantizers: the functions and layers that turn latent float values into low-bit values.

Every quantizer exists in two forms, after the convention larq made familiar:

* a plain function (``ste_sign(x, clip_value=1.0)``) with a straight-through or surrogate
  gradient, written with ``keras.ops`` only;
* a serializable class (``SteSign(clip_value=1.0)``) registered with Keras under the
  ``"kbnn"`` package and reachable through a string alias (``"ste_sign"``).

Quantizer classes are ``keras.layers.Layer`` subclasses so that quantizers with state
(PACT's learnable clipping bound, DSQ's and IR-Net's annealed temperatures) are tracked,
trained and saved by the layer that owns them like any other sub-layer.

Bit convention shared with the converter and the C++ kernels: ``sign(0) = +1``. Every
quantizer that rounds uses "round half up" (``floor(v + 0.5)``) rather than round-half-to-even,
so that ties go the same way as ``sign(0) = +1`` (e.g. 1-bit DoReFa, 1-bit DSQ).

Each class declares ``precision``: the number of bits its output needs (1 for the sign
family, 2 for ternary, ``k`` for k-bit quantizers). ``None`` means "not a low-bit
quantizer" and is what ``precision_of`` reports for user callables that do not declare one.
Functions carry the same information as a ``precision`` attribute (for quantizers with a
``k_bit`` argument: the precision at the default ``k_bit``; use the class for other widths).

All constants are cast to the input's dtype, so the quantizers run on ``float16`` /
``bfloat16`` compute tensors (mixed precision). Stateful quantizers keep their variables in
the variable dtype (``float32`` under ``mixed_float16``) and cast them when they are read.

The package's modules (every public name is imported from ``kbnn.quantizers``):

* ``_base`` — the alias registry, argument validation, the ``keras.ops`` helpers, the base
  classes :class:`Quantizer` and :class:`FunctionQuantizer` (the one generic layer form of a
  stateless quantizer function), and ``get`` / ``serialize`` / ``deserialize`` /
  ``precision_of``;
* ``binary`` — the 1-bit sign family (``ste_sign`` ... ``ir_net_ede``);
* ``multibit`` — ternary and k-bit quantizers (``ste_tern``, ``dorefa``, ``dsq``, ``pact``);
* ``multibase`` — :class:`MultiBaseSign` and :func:`binary_bases`;
* ``reactnet`` — :class:`RSign` (ReActNet's sign after a learnable per-channel threshold).
"""

from kbnn.quantizers._base import (
    FunctionQuantizer,
    Quantizer,
    _round_ste,  # noqa: F401  (kbnn.layers.bitplane's straight-through rounding)
    deserialize,
    get,
    precision_of,
    register_alias,
    serialize,
    sign,
)
from kbnn.quantizers.binary import (
    ApproxSign,
    IRNetEDE,
    MagnitudeAwareSign,
    SteHeaviside,
    SteSign,
    StochasticSign,
    SwishSign,
    approx_sign,
    ir_net_ede,
    magnitude_aware_sign,
    ste_heaviside,
    ste_sign,
    stochastic_sign,
    swish_sign,
)
from kbnn.quantizers.multibase import MultiBaseSign, binary_bases
from kbnn.quantizers.multibase import (
    abc_shifts as abc_shifts,  # the ABC-Net shifts, kbnn.quantizers.abc_shifts
)
from kbnn.quantizers.multibit import DSQ, PACT, DoReFa, SteTern, dorefa, dsq, pact, ste_tern
from kbnn.quantizers.reactnet import RSign

__all__ = [
    "Quantizer",
    "FunctionQuantizer",
    "get",
    "serialize",
    "deserialize",
    "precision_of",
    "register_alias",
    "sign",
    "ste_sign",
    "SteSign",
    "stochastic_sign",
    "StochasticSign",
    "approx_sign",
    "ApproxSign",
    "swish_sign",
    "SwishSign",
    "magnitude_aware_sign",
    "MagnitudeAwareSign",
    "ste_heaviside",
    "SteHeaviside",
    "ste_tern",
    "SteTern",
    "dorefa",
    "DoReFa",
    "dsq",
    "DSQ",
    "ir_net_ede",
    "IRNetEDE",
    "pact",
    "PACT",
    "MultiBaseSign",
    "binary_bases",
    "RSign",
]

# The public objects keep the module path they had when kbnn/quantizers.py was one module, so
# that ``serialize()`` output and the configs in saved ``.keras`` files stay the same.
for _name in __all__ + ["abc_shifts"]:
    globals()[_name].__module__ = __name__
del _name
