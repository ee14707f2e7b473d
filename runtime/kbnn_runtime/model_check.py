"""Checks a .tflite file for what the stock runtime does not validate, before it is loaded.

The stock TFLite runtime trusts several facts of a model file that, when wrong, corrupt memory
inside its kernels (XNNPACK or the builtin ones) instead of raising an error: a QUANTIZE output
with scale 0 or NaN, a RESHAPE whose output dtype differs from its input's (the copy overflows),
a MEAN whose declared output shape disagrees with its input and axes (XNNPACK overflows the heap
after a batch resize). ``kbnn_runtime.Interpreter`` (= ``kbnn.Interpreter``), ``benchmark`` and
``kbnn-run`` run :func:`check_model` on the bytes first and raise :class:`ModelCheckError` (a
``ModelError``, hence a ``ValueError``) naming the tensor or operator, so a file kbnn loads never
takes the process down.

What is checked (every subgraph):

* structure: operator code and tensor indices in range, input 0 and every output present (not
  -1; for the builtin ops listed here every input but FULLY_CONNECTED's bias), no operator reading
  its own output, no tensor written by two operators, constant buffers of the size their shape
  and dtype need;
* quantization parameters of quantized tensors (int8, uint8, int16, int4): every scale finite and
  > 0, every zero point in the dtype's range, as many zero points as scales, and a per-axis
  quantization whose ``quantized_dimension`` exists and has as many entries as scales;
* dtypes of builtin ops whose output has the dtype of their (first) input (RESHAPE, pooling,
  convolutions, element-wise and layout ops ...); QUANTIZE writes a quantized dtype with
  quantization parameters, DEQUANTIZE reads a quantized tensor;
* declared shapes that follow from the inputs: MEAN / SUM / REDUCE_MAX (input shape, constant
  axes, ``keep_dims``) and RESHAPE (same element count, where the new shape is a constant);
* windows: strides and dilations of CONV_2D / DEPTHWISE_CONV_2D / pooling >= 1, pooling windows
  of at most twice the declared input (larger ones make the stock kernels loop for minutes).

The file is read with a small bounds-checked flatbuffer reader (field numbers of TFLite's
``schema.fbs``), so this module needs neither TensorFlow nor the ``flatbuffers`` package.
"""

from __future__ import annotations

import math
import struct

from kbnn_runtime.interpreter import ModelCheckError

__all__ = ["ModelCheckError", "check_model"]

# TensorType (schema.fbs): name, numpy-style element size (0: not fixed / not checked)
_TYPES = {
    0: ("float32", 4),
    1: ("float16", 2),
    2: ("int32", 4),
    3: ("uint8", 1),
    4: ("int64", 8),
    5: ("string", 0),
    6: ("bool", 1),
    7: ("int16", 2),
    8: ("complex64", 8),
    9: ("int8", 1),
    10: ("float64", 8),
    11: ("complex128", 16),
    12: ("uint64", 8),
    13: ("resource", 0),
    14: ("variant", 0),
    15: ("uint32", 4),
    16: ("uint16", 2),
    17: ("int4", 0),
    18: ("bfloat16", 2),
}
# Quantized dtypes: zero point range.
_QRANGE = {9: (-128, 127), 3: (0, 255), 7: (-32768, 32767), 17: (-8, 7)}

# BuiltinOperator codes (schema.fbs).
ADD, AVERAGE_POOL_2D, CONCATENATION, CONV_2D, DEPTHWISE_CONV_2D, DEPTH_TO_SPACE = 0, 1, 2, 3, 4, 5
DEQUANTIZE, FULLY_CONNECTED, LOGISTIC, MAX_POOL_2D, MUL = 6, 9, 14, 17, 18
RELU, RELU_N1_TO_1, RELU6 = 19, 20, 21
RESHAPE, RESIZE_BILINEAR, SOFTMAX, SPACE_TO_DEPTH, TANH, CUSTOM, PAD = 22, 23, 25, 26, 28, 32, 34
TRANSPOSE, MEAN, SUB, SQUEEZE, STRIDED_SLICE, MAXIMUM, MINIMUM = 39, 40, 41, 43, 45, 55, 57
PADV2, SLICE, EXPAND_DIMS, SUM, REDUCE_MAX, RESIZE_NEAREST_NEIGHBOR = 60, 65, 70, 74, 82, 97
LEAKY_RELU, QUANTIZE, HARD_SWISH = 98, 114, 117
_NAMES = {
    v: k
    for k, v in dict(
        ADD=ADD,
        AVERAGE_POOL_2D=AVERAGE_POOL_2D,
        CONCATENATION=CONCATENATION,
        CONV_2D=CONV_2D,
        DEPTHWISE_CONV_2D=DEPTHWISE_CONV_2D,
        DEPTH_TO_SPACE=DEPTH_TO_SPACE,
        DEQUANTIZE=DEQUANTIZE,
        FULLY_CONNECTED=FULLY_CONNECTED,
        LOGISTIC=LOGISTIC,
        MAX_POOL_2D=MAX_POOL_2D,
        MUL=MUL,
        RELU=RELU,
        RELU_N1_TO_1=RELU_N1_TO_1,
        RELU6=RELU6,
        RESHAPE=RESHAPE,
        RESIZE_BILINEAR=RESIZE_BILINEAR,
        SOFTMAX=SOFTMAX,
        SPACE_TO_DEPTH=SPACE_TO_DEPTH,
        TANH=TANH,
        CUSTOM=CUSTOM,
        PAD=PAD,
        TRANSPOSE=TRANSPOSE,
        MEAN=MEAN,
        SUB=SUB,
        SQUEEZE=SQUEEZE,
        STRIDED_SLICE=STRIDED_SLICE,
        MAXIMUM=MAXIMUM,
        MINIMUM=MINIMUM,
        PADV2=PADV2,
        SLICE=SLICE,
        EXPAND_DIMS=EXPAND_DIMS,
        SUM=SUM,
        REDUCE_MAX=REDUCE_MAX,
        RESIZE_NEAREST_NEIGHBOR=RESIZE_NEAREST_NEIGHBOR,
        LEAKY_RELU=LEAKY_RELU,
        QUANTIZE=QUANTIZE,
        HARD_SWISH=HARD_SWISH,
    ).items()
}
# Ops whose output 0 has the dtype of input 0 (float -> float, int8 -> int8, ...).
_SAME_TYPE = {
    ADD,
    AVERAGE_POOL_2D,
    CONCATENATION,
    CONV_2D,
    DEPTHWISE_CONV_2D,
    DEPTH_TO_SPACE,
    FULLY_CONNECTED,
    LOGISTIC,
    MAX_POOL_2D,
    MUL,
    RELU,
    RELU_N1_TO_1,
    RELU6,
    RESHAPE,
    RESIZE_BILINEAR,
    SPACE_TO_DEPTH,
    TANH,
    PAD,
    TRANSPOSE,
    MEAN,
    SUB,
    SQUEEZE,
    STRIDED_SLICE,
    MAXIMUM,
    MINIMUM,
    PADV2,
    SLICE,
    EXPAND_DIMS,
    SUM,
    REDUCE_MAX,
    RESIZE_NEAREST_NEIGHBOR,
    LEAKY_RELU,
    HARD_SWISH,
}
_REDUCERS = {MEAN, SUM, REDUCE_MAX}
_MAX_ITEMS = 1 << 22  # vector lengths beyond this are treated as corrupt


class _Corrupt(Exception):
    pass


class _Buf:
    """Bounds-checked reads of a flatbuffer (little endian)."""

    def __init__(self, data: bytes):
        self.data = data
        self.n = len(data)

    def _get(self, fmt: str, at: int):
        size = struct.calcsize(fmt)
        if at < 0 or at + size > self.n:
            raise _Corrupt(f"offset {at} out of the file ({self.n} bytes)")
        return struct.unpack_from(fmt, self.data, at)[0]

    def u8(self, at):
        return self._get("<B", at)

    def i32(self, at):
        return self._get("<i", at)

    def u32(self, at):
        return self._get("<I", at)

    def u16(self, at):
        return self._get("<H", at)

    def table(self, at: int) -> _Table:
        return _Table(self, at)


class _Table:
    def __init__(self, buf: _Buf, pos: int):
        self.buf, self.pos = buf, pos
        self.vtable = pos - buf.i32(pos)
        self.vsize = buf.u16(self.vtable)

    def _field(self, index: int):
        slot = 4 + 2 * index
        if slot + 2 > self.vsize:
            return None
        off = self.buf.u16(self.vtable + slot)
        return self.pos + off if off else None

    def scalar(self, index: int, fmt: str, default=0):
        at = self._field(index)
        return default if at is None else self.buf._get(fmt, at)

    def table(self, index: int):
        at = self._field(index)
        return None if at is None else self.buf.table(at + self.buf.u32(at))

    def _vector(self, index: int):
        at = self._field(index)
        if at is None:
            return None, 0
        start = at + self.buf.u32(at)
        count = self.buf.u32(start)
        if count > _MAX_ITEMS:
            raise _Corrupt(f"vector of {count} items")
        return start + 4, count

    def vector(self, index: int, fmt: str):
        start, count = self._vector(index)
        if start is None:
            return None
        size = struct.calcsize(fmt)
        if start + size * count > self.buf.n:
            raise _Corrupt("vector past the end of the file")
        return list(struct.unpack_from("<" + fmt[-1] * count, self.buf.data, start)) if count else []

    def vector_len(self, index: int) -> int | None:
        start, count = self._vector(index)
        if start is None:
            return None
        if start + count > self.buf.n:
            raise _Corrupt("vector past the end of the file")
        return count

    def bytes_at(self, index: int):
        start, count = self._vector(index)
        if start is None:
            return None
        if start + count > self.buf.n:
            raise _Corrupt("vector past the end of the file")
        return self.buf.data[start : start + count]

    def tables(self, index: int) -> list:
        start, count = self._vector(index)
        if start is None:
            return []
        out = []
        for i in range(count):
            elem = start + 4 * i
            out.append(self.buf.table(elem + self.buf.u32(elem)))
        return out

    def string(self, index: int) -> str | None:
        raw = self.bytes_at(index)
        return None if raw is None else raw.decode("utf-8", "replace")


class _Tensor:
    def __init__(self, index: int, table: _Table):
        self.index = index
        self.shape = table.vector(0, "i") or []
        self.type = table.scalar(1, "<b")
        self.buffer = table.scalar(2, "<I")
        self.name = table.string(3) or f"#{index}"
        self.quant = table.table(4)
        self.sparse = table.table(6) is not None

    def label(self) -> str:
        return f"tensor {self.index} ({self.name!r}, {_type_name(self.type)} {self.shape})"


def _type_name(t: int) -> str:
    return _TYPES.get(t, (f"type {t}", 0))[0]


def _op_name(code: int, custom: str | None) -> str:
    if code == CUSTOM:
        return custom or "CUSTOM"
    return _NAMES.get(code, f"builtin op {code}")


def check_model(content: bytes) -> None:
    """Raises :class:`ModelCheckError` naming the tensor/operator when the model holds a value
    the stock runtime could crash on (see the module docstring); returns None otherwise.

    A file whose structure this reader cannot follow is left to the runtime's own verifier."""
    try:
        _check(_Buf(content))
    except _Corrupt:
        return  # the runtime's flatbuffer verifier reports a broken file


def _fail(message: str):
    raise ModelCheckError(
        f"The model cannot be run safely: {message}. Re-convert the model (or fix the "
        "file); the TFLite runtime does not check this and may crash on it."
    )


def _check(buf: _Buf):
    model = buf.table(buf.u32(0))
    codes = []
    for c in model.tables(1):
        code = max(c.scalar(0, "<b"), c.scalar(3, "<i"))
        codes.append((code, c.string(1)))
    buffers = model.tables(4)
    for sg_index, sg in enumerate(model.tables(2)):
        where = "" if sg_index == 0 else f"subgraph {sg_index}: "
        tensors = [_Tensor(i, t) for i, t in enumerate(sg.tables(0))]
        producer: dict[int, int] = {}
        op_names: dict[int, str] = {}
        for op_index, op in enumerate(sg.tables(3)):
            code_index = op.scalar(0, "<I")
            if code_index >= len(codes):
                _fail(
                    f"{where}operator {op_index} has opcode index {code_index}, the model has "
                    f"{len(codes)} operator codes"
                )
            code, custom = codes[code_index]
            name = f"{where}operator {op_index} ({_op_name(code, custom)})"
            op_names[op_index] = name
            inputs = op.vector(1, "i") or []
            outputs = op.vector(2, "i") or []
            for t in (*inputs, *outputs):
                if t != -1 and not 0 <= t < len(tensors):
                    _fail(f"{name} refers to tensor {t}; the subgraph has {len(tensors)} tensors")
            if inputs and inputs[0] == -1:
                _fail(f"{name} has no input 0 (tensor index -1, 'optional'): the op needs it")
            if -1 in outputs:
                _fail(f"{name} has an output with tensor index -1")
            if code in _NAMES and code != CUSTOM:
                optional = {2} if code == FULLY_CONNECTED else set()  # FC's bias may be absent
                missing = [k for k, t in enumerate(inputs) if t == -1 and k not in optional]
                if missing:
                    _fail(f"{name} has no input {missing[0]} (tensor index -1, 'optional'): the op needs it")
            own = set(inputs) & set(outputs) - {-1}
            if own:
                _fail(f"{name} reads its own output {tensors[min(own)].label()} (malformed wiring)")
            for t in outputs:
                if t == -1:
                    continue
                if t in producer:
                    _fail(f"{name} writes {tensors[t].label()}, which operator {producer[t]} writes too")
                producer[t] = op_index
        for t in tensors:
            _check_tensor(t, buffers, where, op_names.get(producer.get(t.index, -1)))
        for op_index, op in enumerate(sg.tables(3)):
            code, custom = codes[op.scalar(0, "<I")]
            name = op_names[op_index]
            inputs = op.vector(1, "i") or []
            outputs = op.vector(2, "i") or []
            if code != CUSTOM:
                _check_builtin(
                    code,
                    name,
                    op,
                    [tensors[i] if i != -1 else None for i in inputs],
                    [tensors[i] if i != -1 else None for i in outputs],
                    buffers,
                )


def _check_tensor(t: _Tensor, buffers: list, where: str, producer: str | None):
    if producer:
        where = f"{where}{producer}: output "
    if any(d < 0 for d in t.shape):
        _fail(f"{where}{t.label()} has a negative dimension")
    q = t.quant
    if q is not None and t.type in _QRANGE:
        scales = q.vector(2, "f") or []
        zeros = q.vector(3, "q") or []
        if scales:
            for s in scales:
                if not (math.isfinite(s) and s > 0):
                    _fail(f"{where}{t.label()} is quantized with scale {s!r}; a scale must be finite and > 0")
            lo, hi = _QRANGE[t.type]
            if zeros and len(zeros) != len(scales):
                _fail(
                    f"{where}{t.label()} has {len(scales)} quantization scales but {len(zeros)} zero points"
                )
            for z in zeros:
                if not lo <= z <= hi:
                    _fail(
                        f"{where}{t.label()} has zero point {z}, outside the {_type_name(t.type)} "
                        f"range [{lo}, {hi}]"
                    )
            if len(scales) > 1:
                axis = q.scalar(6, "<i")
                if not 0 <= axis < len(t.shape) or t.shape[axis] != len(scales):
                    _fail(
                        f"{where}{t.label()} has {len(scales)} per-axis scales on quantized_dimension "
                        f"{axis}, which does not match its shape"
                    )
    size = _TYPES.get(t.type, ("", 0))[1]
    if t.buffer and size and not t.sparse and t.buffer < len(buffers):
        data_len = buffers[t.buffer].vector_len(0)
        if data_len:  # constant data stored inline (an external/offset buffer is not checked)
            need = size * math.prod(t.shape)
            if data_len != need:
                _fail(
                    f"{where}{t.label()} has a constant buffer of {data_len} bytes; its shape and "
                    f"dtype need {need}"
                )


def _const_ints(t: _Tensor | None, buffers: list):
    if t is None or not t.buffer or t.buffer >= len(buffers) or t.type not in (2, 4):
        return None
    raw = buffers[t.buffer].bytes_at(0)
    if not raw:
        return None
    fmt = f"<{len(raw) // (4 if t.type == 2 else 8)}{'i' if t.type == 2 else 'q'}"
    return list(struct.unpack_from(fmt, raw, 0))


# (stride_w, stride_h, dilation_w, dilation_h, filter_w, filter_h) field numbers in the options
# table (schema.fbs: Conv2DOptions, DepthwiseConv2DOptions, Pool2DOptions); None: not a field.
_WINDOW_FIELDS = {
    CONV_2D: (1, 2, 4, 5, None, None),
    DEPTHWISE_CONV_2D: (1, 2, 5, 6, None, None),
    MAX_POOL_2D: (1, 2, None, None, 3, 4),
    AVERAGE_POOL_2D: (1, 2, None, None, 3, 4),
}


def _check_window(code: int, name: str, options, x: _Tensor):
    """Strides and dilations >= 1; a pooling window >= 1 and at most twice the declared input (a
    larger one only adds padding: the stock kernels then loop over it for minutes)."""
    if options is None:
        _fail(f"{name} has no options (strides)")
    sw, sh, dw, dh, fw, fh = _WINDOW_FIELDS[code]
    for label, field, default in (
        ("stride_w", sw, 0),
        ("stride_h", sh, 0),
        ("dilation_w_factor", dw, 1),
        ("dilation_h_factor", dh, 1),
        ("filter_width", fw, 0),
        ("filter_height", fh, 0),
    ):
        if field is not None and options.scalar(field, "<i", default) < 1:
            _fail(f"{name} has {label}={options.scalar(field, '<i', default)}; it must be >= 1")
    if fw is not None and len(x.shape) == 4:
        for label, field, dim in (("filter_width", fw, x.shape[2]), ("filter_height", fh, x.shape[1])):
            size = options.scalar(field, "<i", 0)
            if size > 2 * max(dim, 1):
                _fail(
                    f"{name} has {label}={size} for an input of {dim} (declared {x.label()}); at most "
                    f"{2 * max(dim, 1)}"
                )


def _check_window_output(code: int, name: str, options, x: _Tensor, ins: list, y: _Tensor):
    """The declared output shape of a 2-D convolution / pooling must be the one its input, filter,
    strides, dilations and padding give (a wrong one makes the runtime plan buffers of that size:
    a [1, 2^30, 3, 4] max-pool output kept it busy for minutes)."""
    if len(x.shape) != 4 or len(y.shape) != 4 or min(x.shape) < 1:
        return
    sw, sh, dw, dh, fw, fh = _WINDOW_FIELDS[code]
    stride = (options.scalar(sh, "<i"), options.scalar(sw, "<i"))
    dil = (options.scalar(dh, "<i", 1), options.scalar(dw, "<i", 1)) if dh is not None else (1, 1)
    same = options.scalar(0, "<b") == 0  # Padding: SAME = 0, VALID = 1
    if fw is not None:
        window, channels = (options.scalar(fh, "<i"), options.scalar(fw, "<i")), x.shape[3]
    else:
        f = ins[1] if len(ins) > 1 else None
        if f is None or len(f.shape) != 4:
            return
        if code == CONV_2D:
            window, channels = (f.shape[1], f.shape[2]), f.shape[0]
        else:
            window, channels = (f.shape[1], f.shape[2]), f.shape[3]
    out = []
    for n, k, s, d in zip(x.shape[1:3], window, stride, dil):
        eff = (k - 1) * d + 1
        out.append(-(-n // s) if same else max(0, -(-(n - eff + 1) // s)))
    want = [x.shape[0], *out, channels]
    if list(y.shape) != want:
        _fail(
            f"{name} declares output {y.label()}, but its input {x.label()}, window {list(window)}, "
            f"strides {list(stride)} and {'SAME' if same else 'VALID'} padding give {want}"
        )


def _check_builtin(code: int, name: str, op: _Table, ins: list, outs: list, buffers: list):
    x = ins[0] if ins else None
    y = outs[0] if outs else None
    if x is None or y is None:
        return
    if code in _SAME_TYPE and x.type != y.type:
        if not (code in (CONV_2D, DEPTHWISE_CONV_2D, FULLY_CONNECTED) and x.type == 0):
            _fail(
                f"{name} reads {_type_name(x.type)} {x.label()} but writes {_type_name(y.type)} "
                f"{y.label()}; this op keeps the dtype of its input"
            )
        elif y.type != 0:
            _fail(f"{name} reads float32 {x.label()} but writes {y.label()}")
    if code == CONCATENATION:
        for other in ins[1:]:
            if other is not None and other.type != y.type:
                _fail(f"{name} concatenates {other.label()} into {_type_name(y.type)} {y.label()}")
    if code == QUANTIZE:
        if y.type not in _QRANGE or y.quant is None or not (y.quant.vector(2, "f") or []):
            _fail(f"{name} writes {y.label()}, which is not a quantized tensor with a scale")
    if code == DEQUANTIZE and x.type not in (*_QRANGE, 1):  # float16 weights are dequantized too
        _fail(f"{name} reads {x.label()}, which is not a quantized (or float16) tensor")
    if code == DEQUANTIZE and x.type in _QRANGE and (x.quant is None or not (x.quant.vector(2, "f") or [])):
        _fail(f"{name} reads {x.label()}, which has no quantization scale")
    if code in (CONV_2D, DEPTHWISE_CONV_2D, MAX_POOL_2D, AVERAGE_POOL_2D):
        _check_window(code, name, op.table(4), x)
        _check_window_output(code, name, op.table(4), x, ins, y)
    if code in _REDUCERS and len(ins) >= 2:
        axes = _const_ints(ins[1], buffers)
        if axes is None:
            return
        rank = len(x.shape)
        norm = set()
        for a in axes:
            if not -rank <= a < rank:
                _fail(f"{name} reduces axis {a} of the rank-{rank} {x.label()}")
            norm.add(a % rank)
        options = op.table(4)
        keep = bool(options.scalar(0, "<B")) if options is not None else False
        want = (
            [1 if d in norm else s for d, s in enumerate(x.shape)]
            if keep
            else [s for d, s in enumerate(x.shape) if d not in norm]
        )
        if list(y.shape) != want:
            _fail(
                f"{name} declares output {y.label()}, but reducing {x.label()} over axes {sorted(norm)} "
                f"(keep_dims={keep}) gives shape {want}"
            )
    if code == RESHAPE and x.shape:
        # The element count is checked only where the new shape is known from the file: a constant
        # shape input (without -1) or, with no shape input, the declared output. A shape computed at
        # run time (e.g. from SHAPE of a dynamic batch) leaves a placeholder declared output ([1, 1]).
        if len(ins) >= 2 and ins[1] is not None:
            target = _const_ints(ins[1], buffers)
        else:
            target = list(y.shape)
        if target is not None and all(t >= 0 for t in target) and math.prod(x.shape) != math.prod(target):
            _fail(
                f"{name} reshapes {x.label()} ({math.prod(x.shape)} elements) into {y.label()} "
                f"(new shape {target}: {math.prod(target)} elements)"
            )
