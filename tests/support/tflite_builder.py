"""Test utility: assembles small .tflite models with kbnn CUSTOM ops directly (no converter).

Models are built with TensorFlow's generated flatbuffer schema (`schema_py_generated`: ModelT,
SubGraphT, OperatorT, BufferT, packed with `flatbuffers.Builder` under the "TFL3" identifier).
Custom options are flexbuffer maps (`flatbuffers.flexbuffers.Dumps`), exactly as the TFLite
converter writes a TF op's attrs. Also holds the NumPy references the delegate is checked with.
"""

from __future__ import annotations

import flatbuffers
import numpy as np
from flatbuffers import flexbuffers
from tensorflow.lite.python import schema_py_generated as fb

FLOAT32, INT32, INT8 = fb.TensorType.FLOAT32, fb.TensorType.INT32, fb.TensorType.INT8
_NP = {FLOAT32: np.float32, INT32: np.int32, INT8: np.int8}


def options(**attrs) -> bytes:
    """Flexbuffer map of attrs (ints as ints, floats as floats, strings as strings)."""
    return bytes(flexbuffers.Dumps(attrs))


class ModelBuilder:
    """One-subgraph model builder: tensors, constant buffers, custom and builtin operators."""

    def __init__(self):
        self.tensors = []
        self.buffers = [fb.BufferT()]  # buffer 0: the empty sentinel
        self.operators = []
        self.opcodes = []  # (builtin_code, custom_name)

    def tensor(self, shape, dtype, data=None, name=None) -> int:
        t = fb.TensorT()
        t.shape = np.asarray(shape, dtype=np.int32)
        t.type = dtype
        t.name = name or f"t{len(self.tensors)}"
        t.buffer = 0
        if data is not None:
            arr = np.ascontiguousarray(np.asarray(data, dtype=_NP[dtype]).reshape(shape))
            b = fb.BufferT()
            b.data = np.frombuffer(arr.tobytes(), dtype=np.uint8)
            self.buffers.append(b)
            t.buffer = len(self.buffers) - 1
        self.tensors.append(t)
        return len(self.tensors) - 1

    def _opcode(self, builtin, custom=None) -> int:
        key = (builtin, custom)
        if key not in self.opcodes:
            self.opcodes.append(key)
        return self.opcodes.index(key)

    def custom(self, name, inputs, outputs, custom_options: bytes | dict | None):
        op = fb.OperatorT()
        op.opcodeIndex = self._opcode(fb.BuiltinOperator.CUSTOM, name)
        op.inputs = list(inputs)
        op.outputs = list(outputs)
        if isinstance(custom_options, dict):
            custom_options = options(**custom_options)
        if custom_options is not None:
            op.customOptions = np.frombuffer(custom_options, dtype=np.uint8)
        op.customOptionsFormat = fb.CustomOptionsFormat.FLEXBUFFERS
        self.operators.append(op)

    def builtin(self, code, inputs, outputs, options_type=None, options=None):
        """Appends a builtin operator (``fb.BuiltinOperator`` code) with optional options
        (``options_type``: an ``fb.BuiltinOptions`` value, ``options``: its ``...OptionsT``)."""
        op = fb.OperatorT()
        op.opcodeIndex = self._opcode(code)
        op.inputs, op.outputs = list(inputs), list(outputs)
        if options_type is not None:
            op.builtinOptionsType = options_type
            op.builtinOptions = options
        self.operators.append(op)

    def quantize(self, t, scale, zero_point, quantized_dimension=0):
        """Sets tensor t's quantization parameters (lists of scales and zero points)."""
        q = fb.QuantizationParametersT()
        q.scale = np.asarray(scale, np.float32).reshape(-1)
        q.zeroPoint = np.asarray(zero_point, np.int64).reshape(-1)
        q.quantizedDimension = quantized_dimension
        self.tensors[t].quantization = q

    def add(self, a, b, out):
        op = fb.OperatorT()
        op.opcodeIndex = self._opcode(fb.BuiltinOperator.ADD)
        op.inputs, op.outputs = [a, b], [out]
        op.builtinOptionsType = fb.BuiltinOptions.AddOptions
        op.builtinOptions = fb.AddOptionsT()
        self.operators.append(op)

    def build(self, inputs, outputs) -> bytes:
        sg = fb.SubGraphT()
        sg.tensors, sg.operators = self.tensors, self.operators
        sg.inputs, sg.outputs = list(inputs), list(outputs)
        sg.name = "main"
        model = fb.ModelT()
        model.version = 3
        model.description = "kbnn test model"
        model.subgraphs = [sg]
        model.buffers = self.buffers
        codes = []
        for builtin, custom in self.opcodes:
            c = fb.OperatorCodeT()
            c.builtinCode = builtin
            c.deprecatedBuiltinCode = min(builtin, 127)
            c.version = 1
            if custom is not None:
                c.customCode = custom
            codes.append(c)
        model.operatorCodes = codes
        b = flatbuffers.Builder(1024)
        b.Finish(model.Pack(b), file_identifier=b"TFL3")
        return bytes(b.Output())


# ---------------------------------------------------------------------------------------------
# Bit conventions and NumPy references (docs/architecture.md §3).


def words(c: int) -> int:
    return (c + 31) // 32


def pack(x: np.ndarray) -> np.ndarray:
    """Packs the last axis of float x into int32 words: bit 1 = negative (x < 0), LSB first."""
    x = np.asarray(x)
    c = x.shape[-1]
    bits = (x < 0).astype(np.uint8)
    pad = words(c) * 32 - c
    bits = np.concatenate([bits, np.zeros(x.shape[:-1] + (pad,), np.uint8)], axis=-1)
    packed = np.packbits(bits, axis=-1, bitorder="little")
    return np.ascontiguousarray(packed).view("<u4").astype(np.uint32).view(np.int32)


def unpack(w: np.ndarray, c: int) -> np.ndarray:
    """Packed int32 words → ±1 floats with c channels."""
    b = np.unpackbits(np.ascontiguousarray(w.astype("<i4")).view(np.uint8), axis=-1, bitorder="little")
    return np.where(b[..., :c] == 1, -1.0, 1.0).astype(np.float32)


def sign(x):
    return np.where(np.asarray(x) < 0, -1.0, 1.0).astype(np.float32)


def _out_size(n, k, s, d, padding):
    ek = (k - 1) * d + 1
    if padding == "SAME":
        o = -(-n // s)
        total = max((o - 1) * s + ek - n, 0)
        return o, total // 2
    return (n - ek) // s + 1, 0


def conv_dot(x, w, stride=(1, 1), dilation=(1, 1), padding="VALID", pad_value=1, groups=1):
    """Integer dot products of a float conv on ±1 data: x NHWC, w OHWI (per group)."""
    xs, ws = sign(x).astype(np.float64), sign(w).astype(np.float64)
    n, h, wd, cin = xs.shape
    cout, kh, kw, cg = ws.shape
    oh, pt = _out_size(h, kh, stride[0], dilation[0], padding)
    ow, pl = _out_size(wd, kw, stride[1], dilation[1], padding)
    big = np.full(
        (n, h + 2 * (kh * dilation[0]) + 2 * pt, wd + 2 * (kw * dilation[1]) + 2 * pl, cin), float(pad_value)
    )
    big[:, pt : pt + h, pl : pl + wd, :] = xs
    out = np.zeros((n, oh, ow, cout))
    og = cout // groups
    for i in range(kh):
        for j in range(kw):
            r0, c0 = i * dilation[0], j * dilation[1]
            patch = big[
                :,
                r0 : r0 + (oh - 1) * stride[0] + 1 : stride[0],
                c0 : c0 + (ow - 1) * stride[1] + 1 : stride[1],
                :,
            ]
            for g in range(groups):
                out[..., g * og : (g + 1) * og] += np.einsum(
                    "nhwc,oc->nhwo", patch[..., g * cg : (g + 1) * cg], ws[g * og : (g + 1) * og, i, j, :]
                )
    return out


def transform(dot, multiplier, bias, activation="NONE"):
    y = (np.float32(1) * multiplier.astype(np.float32) * dot.astype(np.float32)).astype(np.float32)
    y = (y + bias.astype(np.float32)).astype(np.float32)
    if activation == "RELU":
        y = np.where(y > 0, y, np.float32(0)).astype(np.float32)
    elif activation == "RELU6":
        y = np.minimum(np.maximum(y, 0), 6).astype(np.float32)
    return y


def maxpool_ref(x, k, s, padding="VALID"):
    """Max pool of sign(x) (float reference on ±1 data); SAME pads are ignored."""
    xs = sign(x)
    n, h, w, c = xs.shape
    oh, pt = _out_size(h, k[0], s[0], 1, padding)
    ow, pl = _out_size(w, k[1], s[1], 1, padding)
    big = np.full((n, h + 2 * k[0] + 2 * pt, w + 2 * k[1] + 2 * pl, c), -np.inf, np.float32)
    big[:, pt : pt + h, pl : pl + w] = xs
    out = np.full((n, oh, ow, c), -np.inf, np.float32)
    for i in range(k[0]):
        for j in range(k[1]):
            out = np.maximum(
                out, big[:, i : i + (oh - 1) * s[0] + 1 : s[0], j : j + (ow - 1) * s[1] + 1 : s[1]]
            )
    return out


def bconv_attrs(cin, kh, kw, T=0, **kw_attrs):
    a = dict(
        kbnn_version=1,
        channels_in=cin,
        filter_height=kh,
        filter_width=kw,
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
        T=T,
        int8_scale=1.0,
        int8_zero_point=0,
    )
    a.update(kw_attrs)
    return a


def add_bconv(mb, x_t, n, h, w, filters, multiplier, bias, out_shape=None, T=0, out_t=None, **attrs):
    """Appends a KbnnBconv2d node reading bitpacked x_t; filters are float OHWI (packed here)."""
    cout, kh, kw, cg = filters.shape
    groups = attrs.get("groups", 1)
    f_t = mb.tensor((cout, kh, kw, words(cg)), INT32, pack(filters))
    m_t = mb.tensor((cout,), FLOAT32, multiplier)
    b_t = mb.tensor((cout,), FLOAT32, bias)
    if out_t is None:
        dtype = {0: FLOAT32, 2: INT32, 9: INT8}[T]
        out_t = mb.tensor(out_shape, dtype)
    mb.custom("KbnnBconv2d", [x_t, f_t, m_t, b_t], [out_t], bconv_attrs(cg * groups, kh, kw, T=T, **attrs))
    return out_t


# ---------------------------------------------------------------------------------------------
# The delegate library for tests.

REPO = __import__("pathlib").Path(__file__).resolve().parents[2]
_LIB_CACHE = {}


def _stale(lib) -> bool:
    """True when a kernels/ source is newer than the library (a dev tree after an edit)."""
    built = lib.stat().st_mtime
    for sub in ("tflite", "src", "include"):
        for f in (REPO / "kernels" / sub).rglob("*"):
            if f.suffix in (".cc", ".h", ".txt") and f.stat().st_mtime > built:
                return True
    return False


def delegate_library() -> str:
    """Path of libkbnn_delegate.so: $KBNN_DELEGATE_PATH, the checkout's kbnn_runtime/_lib copy, or a
    CMake build into build/delegate-test (so the tests run before setup.py's build_ext)."""
    import os
    import subprocess

    if "path" in _LIB_CACHE:
        return _LIB_CACHE["path"]
    env = os.environ.get("KBNN_DELEGATE_PATH")
    installed = REPO / "runtime" / "kbnn_runtime" / "_lib" / "libkbnn_delegate.so"
    if env and os.path.isfile(env):
        path = env
    elif installed.is_file() and not _stale(installed):
        path = str(installed)
    else:
        build = REPO / "build" / "delegate-test"
        build.mkdir(parents=True, exist_ok=True)
        for cmd in (
            [
                "cmake",
                "-S",
                str(REPO / "kernels"),
                "-B",
                str(build),
                "-DCMAKE_BUILD_TYPE=Release",
                "-DKBNN_BUILD_TESTS=OFF",
                "-DKBNN_BUILD_BENCH=OFF",
                "-DKBNN_BUILD_DELEGATE=ON",
            ],
            ["cmake", "--build", str(build), "--target", "kbnn_delegate", "-j2"],
        ):
            r = subprocess.run(cmd, capture_output=True, text=True)
            if r.returncode != 0:
                raise RuntimeError(
                    f"building libkbnn_delegate.so failed: {' '.join(cmd)}\n"
                    f"{r.stdout[-3000:]}\n{r.stderr[-3000:]}"
                )
        path = str(build / "tflite" / "libkbnn_delegate.so")
    _LIB_CACHE["path"] = path
    return path
