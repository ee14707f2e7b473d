"""int8 for the non-binary layers: ``kbnn.convert(model, representative_dataset=...)``.

The float parts of a kbnn model (the stem, shortcut convolutions, adds, pooling, the classifier)
become int8 TFLite builtins, which XNNPACK runs with its int8 kernels; the binary ops stay kbnn
ops and read / write int8 where their neighbours are int8.

How (after the float ``.tflite`` with kbnn CUSTOM ops is written as usual):

1. *Calibration*: the float file runs in the stock interpreter with the kbnn delegate (XNNPACK
   off, ``experimental_preserve_all_tensors``) on every batch of the representative data; the
   running min / max of every float activation tensor is recorded. The stock TFLite calibrator
   cannot do this step: it has no way to run the kbnn CUSTOM ops.
2. *Quantization*: the min / max go into the tensors' quantization parameters (what the stock
   calibrator writes) and TensorFlow's own post-training quantizer (``mlir_quantize`` of
   ``tensorflow.lite.python.convert``, the one ``TFLiteConverter`` runs after calibration; an
   internal TF function, hence the pinned TF release) turns the builtins into int8 builtins: int8
   activations, per-channel int8 weights, int32 biases. It treats the kbnn ops as float ops and
   puts a DEQUANTIZE before and a QUANTIZE after each of them.
3. *Fusion*: ``DEQUANTIZE -> KbnnQuantize`` becomes a KbnnQuantize that reads the int8 tensor
   (bit = ``q < zero_point``, i.e. ``x < 0`` for ``x = scale * (q - zero_point)``), and
   ``KbnnBconv2d / KbnnBFullyConnected (float) -> QUANTIZE`` becomes the binary op with int8
   output (``T = int8``, ``int8_scale`` / ``int8_zero_point`` = the QUANTIZE's parameters; the
   kernels compute ``round(y / scale) + zero_point`` from the float ``y`` directly).

``int8_layers="stem"`` or a list of layer names (``kbnn.convert``) narrows step 2: only the
activation tensors of the chosen layers' builtins keep their ranges (:func:`layer_tensors`), and
the quantizer leaves the ops without ranges float, so the other layers (and the residual fusion)
stay as in the float model.

The model keeps float input and output (a QUANTIZE after the input, a DEQUANTIZE before the
output) unless ``inference_input_type`` / ``inference_output_type`` ask for int8 (like
``TFLiteConverter.inference_input_type``); the input / output quantization parameters are then in
the interpreter's ``input_details()[i]["quantization"]``.
"""

from __future__ import annotations

import re

import numpy as np

from kbnn.convert.flatbuffer import model_bytes, read_model
from kbnn.convert.schema import TFLITE_BUILTIN_OPS, TFLITE_TENSOR_TYPES

INT8_TYPES = ("float32", "int8")

_TENSOR_FLOAT32, _TENSOR_INT8 = TFLITE_TENSOR_TYPES["float32"], TFLITE_TENSOR_TYPES["int8"]
_QUANTIZE, _DEQUANTIZE = TFLITE_BUILTIN_OPS["QUANTIZE"], TFLITE_BUILTIN_OPS["DEQUANTIZE"]
_BINARY_OPS = ("KbnnBconv2d", "KbnnBFullyConnected")


class RepresentativeDatasetError(ValueError):
    """The representative dataset is empty, or a batch does not match the model's inputs."""


def interface_type(value, what: str) -> str:
    """``"float32"`` or ``"int8"`` from a string, a NumPy or a TF dtype."""
    name = getattr(value, "name", None) or (np.dtype(value).name if isinstance(value, type) else value)
    if isinstance(name, str):
        name = {"float": "float32", "tf.float32": "float32", "tf.int8": "int8"}.get(name, name)
    if not isinstance(name, str) or name not in INT8_TYPES:
        raise ValueError(
            f"`{what}` must be 'float32' or 'int8' (or tf.float32 / tf.int8 / np.int8). "
            f"Received: {what}={value!r}"
        )
    return name


# ----------------------------------------------------------------------------------------
# Representative data
# ----------------------------------------------------------------------------------------


def _checked_array(i: int, name: str, shape, a) -> np.ndarray:
    """Input ``name`` of representative batch ``i`` as float32, checked against the input ``shape``."""
    a = np.asarray(a)
    if a.dtype.kind not in "fiub":
        raise RepresentativeDatasetError(
            f"representative batch {i}, input {name!r}: dtype {a.dtype} is not a real number type "
            "(give float32 data as the model takes it)"
        )
    want = tuple(shape[1:])
    if a.ndim == len(want) and all(w is None or w == d for w, d in zip(want, a.shape)):
        raise RepresentativeDatasetError(
            f"representative batch {i}, input {name!r}: shape {a.shape} has no batch dimension; the "
            f"model takes [batch, {', '.join(str(w) for w in want)}] (use x[None] for one sample)"
        )
    if a.ndim != len(want) + 1 or any(w is not None and w != d for w, d in zip(want, a.shape[1:])):
        raise RepresentativeDatasetError(
            f"representative batch {i}, input {name!r}: shape {a.shape} does not match the model input "
            f"[batch, {', '.join(str(w) for w in want)}]"
        )
    if a.shape[0] == 0:
        raise RepresentativeDatasetError(f"representative batch {i}, input {name!r} is empty (batch 0)")
    a = a.astype(np.float32)
    if not np.all(np.isfinite(a)):
        raise RepresentativeDatasetError(
            f"representative batch {i}, input {name!r} contains NaN or infinite values"
        )
    return a


def iter_batches(representative_dataset, inputs):
    """Validated batches of ``representative_dataset``: lists of float32 arrays, one per input.

    ``representative_dataset`` is an iterable of batches, or a callable returning one (like
    ``TFLiteConverter.representative_dataset``); a batch is an array (single-input models), a
    list / tuple of arrays in input order, or a dict keyed by input name. Each array has the
    input's shape with a leading batch dimension and a real numeric dtype (cast to float32).

    Args:
        inputs: ``[(name, shape, dtype)]`` of the model inputs, shape with the batch dimension.
    """
    data = representative_dataset() if callable(representative_dataset) else representative_dataset
    if isinstance(data, (np.ndarray, dict)) or not hasattr(data, "__iter__"):
        raise RepresentativeDatasetError(
            "`representative_dataset` must be an iterable of batches (or a callable returning one), e.g. "
            "`[x[i:i + 32] for i in range(0, 256, 32)]` or a generator yielding `[x_batch]`. Received: "
            f"{type(data).__name__}"
        )
    names = [n for n, _, _ in inputs]
    count = 0
    for i, batch in enumerate(data):
        if isinstance(batch, dict):
            missing = [n for n in names if n not in batch]
            if missing:
                raise RepresentativeDatasetError(
                    f"representative batch {i} is a dict without the input(s) {missing}; the model inputs "
                    f"are {names}. Received keys: {sorted(batch)}"
                )
            arrays = [batch[n] for n in names]
        elif isinstance(batch, (list, tuple)):
            arrays = list(batch)
        else:
            arrays = [batch]
        if len(arrays) != len(inputs):
            raise RepresentativeDatasetError(
                f"representative batch {i} has {len(arrays)} array(s); the model has {len(inputs)} input(s) "
                f"{names} (yield a list with one array per input)"
            )
        out = [_checked_array(i, name, shape, a) for (name, shape, _), a in zip(inputs, arrays)]
        count += 1
        yield out
    if count == 0:
        raise RepresentativeDatasetError(
            "`representative_dataset` yielded no batches: give a few hundred typical inputs (e.g. training "
            "images), they set the int8 ranges of every non-binary layer"
        )


# ----------------------------------------------------------------------------------------
# Calibration and quantization
# ----------------------------------------------------------------------------------------


def _is_constant(model, t) -> bool:
    buf = model.buffers[t.buffer] if 0 < t.buffer < len(model.buffers) else None
    return buf is not None and buf.data is not None and len(buf.data) > 0


def _activation_tensors(model) -> list:
    """Indices of the non-constant float32 tensors of the main subgraph."""
    return [
        i
        for i, t in enumerate(model.subgraphs[0].tensors)
        if t.type == _TENSOR_FLOAT32 and not _is_constant(model, t)
    ]


def calibrate(content: bytes, batches) -> dict:
    """``{tensor index: (min, max)}`` of the float activations of the float kbnn model ``content``
    over ``batches`` (lists of arrays, one per input), run with the kbnn delegate."""
    import kbnn_runtime as kr

    tensors = _activation_tensors(read_model(content))
    interp = kr.stock_interpreter(
        content, kbnn_delegate=True, delegate_threads=1, preserve_all_tensors=True, default_delegates=False
    )
    details = interp.get_input_details()
    stats: dict = {}
    shapes = None
    for arrays in batches:
        if shapes != [a.shape for a in arrays]:
            for a, d in zip(arrays, details):
                interp.resize_tensor_input(d["index"], list(a.shape))
            interp.allocate_tensors()
            shapes = [a.shape for a in arrays]
        for a, d in zip(arrays, details):
            interp.set_tensor(d["index"], a)
        try:
            interp.invoke()
        except (RuntimeError, ValueError) as e:
            raise kr.runtime_error(e) from e
        for t in tensors:
            try:
                v = interp.get_tensor(t)
            except ValueError:  # not materialized (owned by a delegate partition)
                continue
            if v.size == 0:
                continue
            lo, hi = float(np.min(v)), float(np.max(v))
            if not (np.isfinite(lo) and np.isfinite(hi)):
                name = kr.tensor_name(interp, t)
                raise RepresentativeDatasetError(
                    f"the float model computes NaN or infinite values in tensor {name!r} on the "
                    "representative data: int8 ranges cannot be set (check the model and the data)"
                )
            old = stats.get(t)
            stats[t] = (lo, hi) if old is None else (min(old[0], lo), max(old[1], hi))
    del interp
    return stats


def quantize(content: bytes, stats: dict, input_type: str = "float32", output_type: str = "float32") -> bytes:
    """The int8 model: ``stats`` written as calibration ranges, TF's post-training quantizer, then
    the kbnn int8 fusions (:func:`fuse_int8`)."""
    import tensorflow as tf
    from tensorflow.lite.python import schema_py_generated as schema
    from tensorflow.lite.python.convert import mlir_quantize

    model = read_model(content)
    g = model.subgraphs[0]
    for t, (lo, hi) in stats.items():
        q = schema.QuantizationParametersT()
        q.min, q.max = [lo], [hi]
        g.tensors[t].quantization = q
    types = {"float32": tf.float32, "int8": tf.int8}
    quantized = mlir_quantize(
        model_bytes(model), input_data_type=types[input_type], output_data_type=types[output_type]
    )
    model = read_model(quantized)
    fuse_int8(model)
    return model_bytes(model)


def _op_name(model, op) -> str:
    code = model.operatorCodes[op.opcodeIndex]
    if code.customCode:
        return code.customCode.decode() if isinstance(code.customCode, bytes) else str(code.customCode)
    return str(max(code.builtinCode, code.deprecatedBuiltinCode))


def _is_builtin(model, op, builtin: int) -> bool:
    code = model.operatorCodes[op.opcodeIndex]
    return not code.customCode and max(code.builtinCode, code.deprecatedBuiltinCode) == builtin


def _per_tensor(t):
    """``(scale, zero_point)`` of an int8 tensor quantized per tensor, else None."""
    q = t.quantization
    if t.type != _TENSOR_INT8 or q is None or q.scale is None or len(q.scale) != 1:
        return None
    zp = 0 if q.zeroPoint is None or len(q.zeroPoint) == 0 else int(q.zeroPoint[0])
    return float(q.scale[0]), zp


def fuse_int8(model) -> dict:
    """In place: DEQUANTIZE -> KbnnQuantize and KbnnBconv2d / KbnnBFullyConnected -> QUANTIZE
    fusions (module docstring). Returns ``{"int8_inputs": n, "int8_outputs": n}``."""
    from flatbuffers import flexbuffers

    g = model.subgraphs[0]
    ops = list(g.operators)
    outputs = set(int(t) for t in g.outputs)
    producer, consumers = {}, {}
    for i, op in enumerate(ops):
        for t in op.outputs:
            producer[int(t)] = i
        for t in op.inputs:
            if t >= 0:
                consumers.setdefault(int(t), []).append(i)
    remove, counts = set(), {"int8_inputs": 0, "int8_outputs": 0}
    for i, op in enumerate(ops):
        name = _op_name(model, op)
        if name == "KbnnQuantize":
            t = int(op.inputs[0])
            p = producer.get(t)
            if p is None or not _is_builtin(model, ops[p], _DEQUANTIZE):
                continue
            src = int(ops[p].inputs[0])
            if _per_tensor(g.tensors[src]) is None:
                continue
            op.inputs[0] = src
            consumers[t].remove(i)
            consumers.setdefault(src, []).append(i)
            counts["int8_inputs"] += 1
            if not consumers[t] and t not in outputs:
                remove.add(p)
        elif name in _BINARY_OPS:
            t = int(op.outputs[0])
            cons = consumers.get(t, [])
            if t in outputs or len(cons) != 1 or not _is_builtin(model, ops[cons[0]], _QUANTIZE):
                continue
            dst = int(ops[cons[0]].outputs[0])
            params = _per_tensor(g.tensors[dst])
            if params is None:
                continue
            options = flexbuffers.Loads(bytes(bytearray(op.customOptions)))
            options.update(T=_TENSOR_INT8, int8_scale=params[0], int8_zero_point=params[1])
            op.customOptions = list(flexbuffers.Dumps(options))
            op.outputs[0] = dst
            g.tensors[dst].name = g.tensors[t].name  # keeps the layer's name scope
            remove.add(cons[0])
            counts["int8_outputs"] += 1
    g.operators = [op for i, op in enumerate(ops) if i not in remove]
    return counts


# ----------------------------------------------------------------------------------------
# What became int8 (for the conversion report)
# ----------------------------------------------------------------------------------------


def _scopes(tensor_name: str) -> list:
    """The name scopes (first path component) of each location in a TFLite tensor name."""
    return [part.split("/", 1)[0] for part in tensor_name.split(";") if "/" in part]


def _match_layer(scope: str, layer_names: set) -> str | None:
    if scope in layer_names:
        return scope
    m = re.fullmatch(r"(.+)_\d+", scope)  # Keras uniquifies a re-entered name scope: "conv_1"
    return m.group(1) if m and m.group(1) in layer_names else None


def _op_layers(model, names: set, output_layers, scopes=None) -> list:
    """``[(op, {layer names})]`` for the ops of the main subgraph except QUANTIZE / DEQUANTIZE,
    attributed as :func:`op_types` describes. ``scopes``: the traced map name scope -> layer
    names (``LoweredModel.scopes``); a scope found there is attributed by it, others by name."""
    g = model.subgraphs[0]
    outputs = [int(t) for t in g.outputs]
    consumers = {}
    for op in g.operators:
        for t in op.inputs:
            consumers.setdefault(int(t), []).append(op)
    found = []
    for op in g.operators:
        if _is_builtin(model, op, _QUANTIZE) or _is_builtin(model, op, _DEQUANTIZE):
            continue
        out = int(op.outputs[0])
        tname = g.tensors[out].name
        tname = tname.decode() if isinstance(tname, bytes) else str(tname)
        layers = set()
        for sc in _scopes(tname):
            if scopes and sc in scopes:
                layers |= set(scopes[sc]) & names
            elif (n := _match_layer(sc, names)) is not None:
                layers.add(n)
        if not layers:
            ends = [out] + [
                int(c.outputs[0]) for c in consumers.get(out, []) if _is_builtin(model, c, _DEQUANTIZE)
            ]
            layers = {
                output_layers[outputs.index(e)]
                for e in ends
                if e in outputs and outputs.index(e) < len(output_layers)
            }
        found.append((op, layers))
    return found


def layer_tensors(content: bytes, layer_names, output_layers, chosen, scopes=None) -> set:
    """Indices of the float activation tensors of the builtin ops of the layers ``chosen`` in the
    float model ``content``: their outputs and non-constant inputs. Only these get calibration
    ranges, so TF's quantizer makes only these ops int8 and leaves the others float."""
    model = read_model(content)
    g = model.subgraphs[0]
    chosen = set(chosen)
    tensors = set()
    for op, layers in _op_layers(model, set(layer_names), output_layers, scopes):
        if not layers & chosen or model.operatorCodes[op.opcodeIndex].customCode:
            continue
        for t in list(op.inputs) + list(op.outputs):
            t = int(t)
            if t >= 0 and g.tensors[t].type == _TENSOR_FLOAT32 and not _is_constant(model, g.tensors[t]):
                tensors.add(t)
    return tensors


def op_types(content: bytes, layer_names, output_layers, scopes=None) -> dict:
    """``{layer name: [(op, input type, output type), ...]}`` for the ops of the quantized model,
    types "int8" / "float32" / "bitpacked" of the first non-constant input and of the output.
    QUANTIZE / DEQUANTIZE (interface and boundary conversions) are left out.

    Ops are attributed through the layer name scopes in their output tensor names; an op whose
    output is a model output (directly or through a DEQUANTIZE) belongs to that output's layer
    (``output_layers``, in model output order).
    """
    model = read_model(content)
    g = model.subgraphs[0]
    type_names = {v: k for k, v in TFLITE_TENSOR_TYPES.items()}  # float32 / bitpacked / int8
    found: dict = {}
    for op, layers in _op_layers(model, set(layer_names), output_layers, scopes):
        out = int(op.outputs[0])
        ins = [int(t) for t in op.inputs if t >= 0 and not _is_constant(model, g.tensors[int(t)])]
        in_type = type_names.get(g.tensors[ins[0]].type, "other") if ins else "-"
        entry = (_op_name(model, op), in_type, type_names.get(g.tensors[out].type, "other"))
        for layer in layers:
            found.setdefault(layer, []).append(entry)
    return found
