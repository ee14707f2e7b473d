"""The kbnn TensorFlow ops (bitpacked binary layers) and NumPy packing helpers.

The ops live in the C++ op library ``_kbnn_tf_ops.so`` (``kernels/tf``), built against the
installed TensorFlow by ``pip install -e .`` and copied into ``kbnn/_lib/``. The environment
variable ``KBNN_TF_OPS_PATH`` points at another build. The library is loaded on first use, so
``import kbnn.ops`` and the NumPy helpers work without it.

Op names, inputs and attributes come from :mod:`kbnn.convert.schema`; every wrapper here takes
the schema's attribute names as keyword arguments. Tensor conventions (docs/architecture.md §3):

* bitpacked tensors are ``int32`` tensors whose last axis holds ``ceil(C / 32)`` words;
  bit 1 = -1, bit 0 = +1, LSB = channel 0 of the word, unused high bits 0; ``sign(0) = +1``;
* binary layers compute ``y = multiplier[c] * dot + bias[c]`` (``dot`` = the ±1 dot product),
  then the fused activation; ``T`` selects float32 ``y``, bitpacked ``y < 0`` words
  (``tf.int32``) or int8 ``round(y / int8_scale) + int8_zero_point``.
"""

from __future__ import annotations

import os
import pathlib
import threading

import numpy as np

from kbnn.convert import schema

__all__ = [
    "OpLibraryNotFoundError",
    "built_with_tensorflow",
    "library_path",
    "load_library",
    "quantize",
    "dequantize",
    "bconv2d",
    "bconv2d_residual",
    "bfully_connected",
    "bmaxpool2d",
    "pack_bits",
    "unpack_bits",
    "pack_filters",
    "pack_dense",
    "packed_words",
]

LIBRARY_NAME = "_kbnn_tf_ops.so"
ENV_PATH = "KBNN_TF_OPS_PATH"
_LIB_DIR = pathlib.Path(__file__).resolve().parent / "_lib"

BUILD_HINT = (
    "Build it with `pip install -e ./runtime -e .` (or `pip install ./runtime .`) from the kbnn "
    "source tree — this runs CMake on kernels/ with -DKBNN_BUILD_TF_OPS=ON and copies the library into "
    "kbnn/_lib/ — or "
    "build it by hand (cmake -S kernels -B build/kbnn-python -DKBNN_BUILD_TF_OPS=ON "
    "-DKBNN_BUILD_TESTS=OFF -DKBNN_BUILD_BENCH=OFF && cmake --build build/kbnn-python -j2) and "
    f"set {ENV_PATH}=build/kbnn-python/tf/{LIBRARY_NAME}."
)


class OpLibraryNotFoundError(ImportError):
    """The kbnn TF op library is missing or cannot be loaded (the message says how to build it)."""


packed_words = schema.packed_words

_lock = threading.Lock()
_library = None


def library_path() -> pathlib.Path:
    """Where the op library is looked for: ``$KBNN_TF_OPS_PATH``, else ``kbnn/_lib/``."""
    env = os.environ.get(ENV_PATH)
    return pathlib.Path(env) if env else _LIB_DIR / LIBRARY_NAME


def built_with_tensorflow(path=None):
    """The TensorFlow version the op library at ``path`` was compiled against (None if unknown)."""
    import re

    try:
        data = pathlib.Path(path or library_path()).read_bytes()
    except OSError:
        return None
    m = re.search(rb"kbnn-tf-ops-built-with-tensorflow=([0-9A-Za-z.\-+]+);", data)
    return m.group(1).decode() if m else None


def load_library():
    """Loads (once) and returns the op library module (``tf.load_op_library``).

    Raises:
        OpLibraryNotFoundError: the library is missing or does not load into this TensorFlow.
    """
    global _library
    if _library is not None:
        return _library
    with _lock:
        if _library is None:
            import tensorflow as tf

            path = library_path()
            if not path.is_file():
                raise OpLibraryNotFoundError(f"kbnn TF op library not found at {path}. {BUILD_HINT}")
            built = built_with_tensorflow(path)
            if built is not None and built.split(".")[:2] != tf.__version__.split(".")[:2]:
                raise OpLibraryNotFoundError(
                    f"kbnn TF op library {path} was built against TensorFlow {built}, but this is "
                    f"TensorFlow {tf.__version__}; a TF op library only loads into the release it "
                    f"was compiled for. Rebuild it: {BUILD_HINT}"
                )
            try:
                _library = tf.load_op_library(str(path))
            except Exception as e:  # tf.errors.NotFoundError for undefined symbols, ...
                raise OpLibraryNotFoundError(
                    f"kbnn TF op library {path} does not load into TensorFlow {tf.__version__} "
                    f"(built against another TensorFlow?): {e}. Rebuild it: {BUILD_HINT}"
                ) from e
    return _library


def _call(op_name: str, inputs, **attrs):
    """Runs the op ``op_name`` with ``inputs`` in schema order (the raw wrappers are keyword-only)."""
    op = schema.OPS_BY_NAME[op_name]
    kwargs = {t.name: value for t, value in zip(op.inputs, inputs, strict=True)}
    return getattr(load_library(), op_name)(**kwargs, **attrs)


# ------------------------------------------------------------------------------------------
# Attribute normalization
# ------------------------------------------------------------------------------------------

_OUTPUT_TYPE_ALIASES = {
    "float32": "float32",
    "float": "float32",
    "bitpacked": "int32",
    "int32": "int32",
    "int8": "int8",
}


def _output_dtype(T):
    """``T`` as a tf.DType: tf.float32 / tf.int32 (bitpacked) / tf.int8, or the schema names
    "float32" / "bitpacked" / "int8"."""
    import tensorflow as tf

    if isinstance(T, str):
        key = _OUTPUT_TYPE_ALIASES.get(T.lower())
        if key is None:
            raise ValueError(f"T must be one of {schema.OUTPUT_TYPES} or a tf.DType. Received: T={T!r}")
        return tf.as_dtype(key)
    dtype = tf.as_dtype(T)
    if dtype not in (tf.float32, tf.int32, tf.int8):
        raise ValueError(f"T must be tf.float32, tf.int32 (bitpacked) or tf.int8. Received: T={T!r}")
    return dtype


def _static_dim(tensor, axis: int, what: str) -> int:
    dim = tensor.shape[axis] if tensor.shape.rank is not None else None
    if dim is None:
        raise ValueError(f"{what} is not statically known; pass it explicitly.")
    return int(dim)


def _transform(multiplier, bias, channels_out_from):
    """Default multiplier 1 and bias 0 of length Cout."""
    import tensorflow as tf

    if multiplier is None or bias is None:
        cout = channels_out_from()
        if multiplier is None:
            multiplier = tf.ones([cout], tf.float32)
        if bias is None:
            bias = tf.zeros([cout], tf.float32)
    return (tf.convert_to_tensor(multiplier, tf.float32), tf.convert_to_tensor(bias, tf.float32))


def _output_attrs(activation, clamp_min, clamp_max, T, int8_scale, int8_zero_point):
    return dict(
        activation=str(activation).upper(),
        clamp_min=float(clamp_min),
        clamp_max=float(clamp_max),
        T=_output_dtype(T),
        int8_scale=float(int8_scale),
        int8_zero_point=int(int8_zero_point),
    )


# ------------------------------------------------------------------------------------------
# Ops
# ------------------------------------------------------------------------------------------


def quantize(x, thresholds=None, name=None):
    """``KbnnQuantize``: float32 ``[..., C]`` → bitpacked int32 ``[..., ceil(C/32)]``: bit = x < 0, or
    with ``thresholds`` (float32 ``[C]``, one per channel: ReActNet's RSign shift) bit = x < thresholds[c]
    (NaN gives 0)."""
    import tensorflow as tf

    x = tf.convert_to_tensor(x, tf.float32)
    extra = [] if thresholds is None else [tf.convert_to_tensor(thresholds, tf.float32)]
    return _call("KbnnQuantize", [x, extra], name=name)


def dequantize(x, channels, name=None):
    """``KbnnDequantize``: bitpacked int32 ``[..., ceil(C/32)]`` → ±1 float32 ``[..., channels]``."""
    import tensorflow as tf

    return _call("KbnnDequantize", [tf.convert_to_tensor(x, tf.int32)], channels=int(channels), name=name)


def _conv_geometry(
    filter,  # noqa: A002  (the schema's input name)
    channels_in,
    filter_height,
    filter_width,
    stride_height,
    stride_width,
    dilation_height,
    dilation_width,
    padding,
    pad_values,
    groups,
):
    """The int32 filter tensor and the geometry attributes shared by the binary convolutions
    (filter_height / filter_width default to the filter's static shape)."""
    import tensorflow as tf

    filter = tf.convert_to_tensor(filter, tf.int32)  # noqa: A001
    if filter_height is None:
        filter_height = _static_dim(filter, 1, "filter_height (filter dimension 1)")
    if filter_width is None:
        filter_width = _static_dim(filter, 2, "filter_width (filter dimension 2)")
    return filter, dict(
        channels_in=int(channels_in),
        filter_height=int(filter_height),
        filter_width=int(filter_width),
        stride_height=int(stride_height),
        stride_width=int(stride_width),
        dilation_height=int(dilation_height),
        dilation_width=int(dilation_width),
        padding=str(padding).upper(),
        pad_values=int(pad_values),
        groups=int(groups),
    )


def bconv2d(
    x,
    filter,  # noqa: A002  (the schema's input name)
    multiplier=None,
    bias=None,
    *,
    channels_in,
    filter_height=None,
    filter_width=None,
    stride_height=1,
    stride_width=1,
    dilation_height=1,
    dilation_width=1,
    padding="VALID",
    pad_values=1,
    groups=1,
    activation="NONE",
    clamp_min=float("-inf"),
    clamp_max=float("inf"),
    T="float32",
    int8_scale=1.0,
    int8_zero_point=0,
    name=None,
):
    """``KbnnBconv2d``: binary 2-D convolution with the fused output transform.

    Args:
        x: bitpacked int32 NHWC ``[N, H, W, ceil(channels_in/32)]``.
        filter: bitpacked int32 OHWI ``[Cout, KH, KW, ceil((channels_in/groups)/32)]``
            (:func:`pack_filters`).
        multiplier, bias: float32 ``[Cout]``; None means 1 / 0.
        channels_in: logical input channels.
        filter_height, filter_width: None reads them from ``filter``'s static shape.
        padding: "VALID" or "SAME"; ``pad_values`` (SAME only) 1 pads with +1, 0 with zeros.
        activation: "NONE", "RELU", "RELU6" or "CLAMP" (``clamp_min``/``clamp_max``).
        T: output type: "float32"/tf.float32 → ``[N, OH, OW, Cout]`` float32, "bitpacked"/tf.int32 →
            ``[N, OH, OW, ceil(Cout/32)]`` words, "int8"/tf.int8 → ``[N, OH, OW, Cout]`` int8.
    """
    import tensorflow as tf

    filter, geometry = _conv_geometry(  # noqa: A001
        filter,
        channels_in,
        filter_height,
        filter_width,
        stride_height,
        stride_width,
        dilation_height,
        dilation_width,
        padding,
        pad_values,
        groups,
    )
    multiplier, bias = _transform(multiplier, bias, lambda: _static_dim(filter, 0, "channels_out"))
    return _call(
        "KbnnBconv2d",
        [tf.convert_to_tensor(x, tf.int32), filter, multiplier, bias],
        **geometry,
        name=name,
        **_output_attrs(activation, clamp_min, clamp_max, T, int8_scale, int8_zero_point),
    )


def bconv2d_residual(
    x,
    filter,  # noqa: A002  (the schema's input name)
    multiplier,
    bias,
    residual,
    *,
    channels_in,
    filter_height=None,
    filter_width=None,
    stride_height=1,
    stride_width=1,
    dilation_height=1,
    dilation_width=1,
    padding="VALID",
    pad_values=1,
    groups=1,
    activation="NONE",
    clamp_min=float("-inf"),
    clamp_max=float("inf"),
    name=None,
):
    """``KbnnBconv2dResidual``: :func:`bconv2d` with float output, the residual add and the
    re-binarization of the sum fused (one Bi-Real block).

    Returns ``(output, output_bits)``: ``output = activation(multiplier * dot + bias) + residual``
    (float32 ``[N, OH, OW, Cout]``; ``residual`` has that shape) and ``output_bits`` = the
    bitpacked signs of ``output`` (bit = ``output < 0``), what :func:`quantize` gives.
    """
    import tensorflow as tf

    filter, geometry = _conv_geometry(  # noqa: A001
        filter,
        channels_in,
        filter_height,
        filter_width,
        stride_height,
        stride_width,
        dilation_height,
        dilation_width,
        padding,
        pad_values,
        groups,
    )
    multiplier, bias = _transform(multiplier, bias, lambda: _static_dim(filter, 0, "channels_out"))
    attrs = _output_attrs(activation, clamp_min, clamp_max, "float32", 1.0, 0)
    for key in ("T", "int8_scale", "int8_zero_point"):
        attrs.pop(key, None)
    return tuple(
        _call(
            "KbnnBconv2dResidual",
            [
                tf.convert_to_tensor(x, tf.int32),
                filter,
                multiplier,
                bias,
                tf.convert_to_tensor(residual, tf.float32),
            ],
            **geometry,
            name=name,
            **attrs,
        )
    )


def bfully_connected(
    x,
    weights,
    multiplier=None,
    bias=None,
    *,
    input_size,
    activation="NONE",
    clamp_min=float("-inf"),
    clamp_max=float("inf"),
    T="float32",
    int8_scale=1.0,
    int8_zero_point=0,
    name=None,
):
    """``KbnnBFullyConnected``: bitpacked ``[N, ceil(K/32)]`` × bitpacked weights
    ``[Cout, ceil(K/32)]`` (:func:`pack_dense`) with the fused output transform; ``input_size``
    is K. Output as for :func:`bconv2d`: ``[N, Cout]`` float32/int8 or ``[N, ceil(Cout/32)]``."""
    import tensorflow as tf

    weights = tf.convert_to_tensor(weights, tf.int32)
    multiplier, bias = _transform(multiplier, bias, lambda: _static_dim(weights, 0, "channels_out"))
    return _call(
        "KbnnBFullyConnected",
        [tf.convert_to_tensor(x, tf.int32), weights, multiplier, bias],
        input_size=int(input_size),
        name=name,
        **_output_attrs(activation, clamp_min, clamp_max, T, int8_scale, int8_zero_point),
    )


def bmaxpool2d(
    x,
    *,
    channels,
    filter_height,
    filter_width,
    stride_height=1,
    stride_width=1,
    padding="VALID",
    name=None,
):
    """``KbnnBMaxPool2d``: max pooling of bitpacked NHWC ``[N, H, W, ceil(channels/32)]`` (the AND
    of the packed bits); SAME padding ignores the padded taps (like ``tf.nn.max_pool``)."""
    import tensorflow as tf

    return _call(
        "KbnnBMaxPool2d",
        [tf.convert_to_tensor(x, tf.int32)],
        channels=int(channels),
        filter_height=int(filter_height),
        filter_width=int(filter_width),
        stride_height=int(stride_height),
        stride_width=int(stride_width),
        padding=str(padding).upper(),
        name=name,
    )


def stem_conv2d(
    x,
    weights,
    filter_scale,
    multiplier,
    bias,
    slope=None,
    *,
    strides=(1, 1),
    padding="VALID",
    activation="NONE",
    pool_size=None,
    pool_strides=None,
    pool_padding="VALID",
    name=None,
):
    """``KbnnStemConv2d``: the real-valued stem on int8 (kernels/include/kbnn/stem_conv2d.h).
    ``x`` float32 NHWC ``[N, H, W, Cin]`` (Cin <= 16), quantized per call and batch item
    (s_x = max|x| / 127); ``weights`` (the op's ``filter`` input) symmetric int8 OHWI
    ``[Cout, KH, KW, Cin]`` in [-127, 127] with per-channel ``filter_scale``;
    ``y = float(acc) * (s_x * s_w) * multiplier + bias``, then ``activation`` (NONE, RELU,
    PRELU with ``slope``) and an optional max pool."""
    import tensorflow as tf

    weights = tf.convert_to_tensor(weights, tf.int8)
    cout = _static_dim(weights, 0, "channels_out")
    vecs = [filter_scale, multiplier, bias, np.zeros(cout, np.float32) if slope is None else slope]
    vecs = [tf.reshape(tf.convert_to_tensor(v, tf.float32), [cout]) for v in vecs]
    pool = (0, 0) if pool_size is None else tuple(int(v) for v in pool_size)
    pool_strides = pool if pool_strides is None else tuple(int(v) for v in pool_strides)
    return _call(
        "KbnnStemConv2d",
        [tf.convert_to_tensor(x, tf.float32), weights, *vecs],
        channels_in=_static_dim(weights, 3, "channels_in"),
        filter_height=_static_dim(weights, 1, "filter_height"),
        filter_width=_static_dim(weights, 2, "filter_width"),
        stride_height=int(strides[0]),
        stride_width=int(strides[1]),
        padding=str(padding).upper(),
        activation=str(activation).upper(),
        pool_height=pool[0],
        pool_width=pool[1],
        pool_stride_height=max(1, pool_strides[0]),
        pool_stride_width=max(1, pool_strides[1]),
        pool_padding=str(pool_padding).upper(),
        name=name,
    )


# ------------------------------------------------------------------------------------------
# NumPy packing (identical to kbnn::QuantizeFloat / kbnn::PackFilters)
# ------------------------------------------------------------------------------------------

_SHIFTS = np.arange(32, dtype=np.uint64)


def pack_bits(x) -> np.ndarray:
    """Bitpacks ``x`` ``[..., C]`` along the last axis: int32 ``[..., ceil(C/32)]``, bit = x < 0
    (so 0, -0.0 and NaN are +1), LSB = channel 0 of each word, padding bits 0."""
    x = np.asarray(x)
    if x.ndim < 1:
        raise ValueError(f"pack_bits needs an array of rank >= 1 (channels last). Received: shape={x.shape}")
    c = x.shape[-1]
    words = packed_words(c)
    bits = np.zeros(x.shape[:-1] + (words * 32,), dtype=np.uint64)
    bits[..., :c] = x < 0
    bits = bits.reshape(x.shape[:-1] + (words, 32))
    packed = np.bitwise_or.reduce(bits << _SHIFTS, axis=-1)
    return packed.astype(np.uint32).view(np.int32)


def unpack_bits(words, channels: int) -> np.ndarray:
    """Inverse of :func:`pack_bits`: int32 ``[..., ceil(channels/32)]`` → ±1 float32 ``[..., channels]``."""
    w = np.asarray(words)
    if w.ndim < 1 or w.shape[-1] != packed_words(channels):
        raise ValueError(
            f"unpack_bits expects [..., {packed_words(channels)}] words for channels={channels}. "
            f"Received shape {w.shape}"
        )
    u = w.astype(np.int64).astype(np.uint32).astype(np.uint64)
    bits = (u[..., :, None] >> _SHIFTS) & 1
    bits = bits.reshape(w.shape[:-1] + (-1,))[..., :channels]
    return np.where(bits == 1, -1.0, 1.0).astype(np.float32)


def pack_filters(w_ohwi) -> np.ndarray:
    """Packs float filters OHWI ``[Cout, KH, KW, Cin/groups]`` into the bconv2d filter layout
    ``[Cout, KH, KW, ceil((Cin/groups)/32)]`` (bit = w < 0), like ``kbnn::PackFilters``.
    (A Keras Conv2D kernel is HWIO: ``np.transpose(kernel, (3, 0, 1, 2))`` gives OHWI.)"""
    w = np.asarray(w_ohwi)
    if w.ndim != 4:
        raise ValueError(f"pack_filters expects OHWI filters of rank 4. Received shape {w.shape}")
    return pack_bits(w)


def pack_dense(w) -> np.ndarray:
    """Packs dense weights ``[Cout, K]`` along K into ``[Cout, ceil(K/32)]`` words (bit = w < 0).
    (A Keras Dense kernel is ``[K, Cout]``: pass ``kernel.T``.)"""
    w = np.asarray(w)
    if w.ndim != 2:
        raise ValueError(f"pack_dense expects weights [Cout, K] of rank 2. Received shape {w.shape}")
    return pack_bits(w)
