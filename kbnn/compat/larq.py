"""Larq (tf-keras) models → Keras 3 models of kbnn layers.

Larq 0.13 / 0.14 models are saved by tf-keras 2.x; Keras 3 cannot load them because their
configs name ``larq.quantizers`` / ``larq.constraints`` objects and ``larq.layers`` classes.
:func:`load_larq_model` reads the HDF5 file with h5py (neither larq nor tf-keras is imported),
rewrites every Larq object of the model config into its kbnn equivalent (a clear error names
anything that does not map), and lets Keras 3's loader for tf-keras ``.h5`` files rebuild the
standard layers and copy the weights. kbnn's ``Quant*`` layers keep the Keras weight order, so
the weights load unchanged.
"""

from __future__ import annotations

import copy
import inspect
import json
import os
import shutil
import tempfile
import warnings
from pathlib import Path
from typing import Any

import keras

from kbnn import constraints as kbnn_constraints
from kbnn import layers as kbnn_layers
from kbnn import quantizers as kq
from kbnn.compat.errors import LarqImportError
from kbnn.compat.larq_zoo import load_larq_zoo_weights
from kbnn.initializers import BlurPool

__all__ = ["LarqImportError", "load_larq_model", "load_larq_zoo_weights", "map_larq_config"]


# Larq quantizer class → (kbnn class, {larq arg: kbnn arg}); None: the identity (NoOp).
_QUANTIZERS: dict[str, tuple[type | None, dict[str, str]]] = {
    "SteSign": (kq.SteSign, {"clip_value": "clip_value"}),
    "ApproxSign": (kq.ApproxSign, {}),
    "SwishSign": (kq.SwishSign, {"beta": "beta"}),
    "MagnitudeAwareSign": (kq.MagnitudeAwareSign, {"clip_value": "clip_value"}),
    "SteHeaviside": (kq.SteHeaviside, {"clip_value": "clip_value"}),
    "SteTern": (
        kq.SteTern,
        {
            "threshold_value": "threshold_value",
            "ternary_weight_networks": "ternary_weight_networks",
            "clip_value": "clip_value",
        },
    ),
    "DoReFa": (kq.DoReFa, {"k_bit": "k_bit", "mode": "mode"}),
    "NoOp": (None, {}),
}
_QUANTIZER_ALIASES = {
    "ste_sign": "SteSign",
    "approx_sign": "ApproxSign",
    "swish_sign": "SwishSign",
    "magnitude_aware_sign": "MagnitudeAwareSign",
    "ste_heaviside": "SteHeaviside",
    "ste_tern": "SteTern",
    "dorefa_quantizer": "DoReFa",
    "DoReFaQuantizer": "DoReFa",
    "NoOpQuantizer": "NoOp",
}
# Keys of a Larq quantizer config that are Keras Layer bookkeeping or training-only metrics.
_QUANTIZER_IGNORED = {"name", "trainable", "dtype", "metrics", "precision"}

_CONSTRAINTS = {"WeightClip": kbnn_constraints.WeightClip, "weight_clip": kbnn_constraints.WeightClip}

# Larq layer → kbnn layer. The arguments are the same (kbnn mirrors the Keras signatures).
_LAYERS = {
    "QuantDense": kbnn_layers.QuantDense,
    "QuantConv1D": kbnn_layers.QuantConv1D,
    "QuantConv2D": kbnn_layers.QuantConv2D,
    "QuantConv3D": kbnn_layers.QuantConv3D,
    "QuantDepthwiseConv2D": kbnn_layers.QuantDepthwiseConv2D,
    "QuantSeparableConv2D": kbnn_layers.QuantSeparableConv2D,
    "QuantConv2DTranspose": kbnn_layers.QuantConv2DTranspose,
}
_UNMAPPED_LAYERS = {
    "QuantSeparableConv1D": "kbnn has no QuantSeparableConv1D; rebuild the layer as "
    "QuantDepthwiseConv1D-free QuantConv1D blocks or keep it in Larq",
    "QuantConv3DTranspose": "kbnn has no QuantConv3DTranspose",
    "QuantLocallyConnected1D": "Keras 3 has no LocallyConnected layers",
    "QuantLocallyConnected2D": "Keras 3 has no LocallyConnected layers",
}
_QUANTIZER_KEYS = ("input_quantizer", "kernel_quantizer", "depthwise_quantizer", "pointwise_quantizer")
_CONSTRAINT_KEYS = ("kernel_constraint", "bias_constraint", "depthwise_constraint", "pointwise_constraint")
# tf-keras layer-config keys a kbnn layer does not take, and the value that makes dropping them
# exact.
_DROPPABLE = {"groups": 1}
# tf-keras separable convolutions carry kernel_* arguments they never use (Keras 3 dropped them).
_UNUSED_BY_CLASS = {"QuantSeparableConv2D": {"kernel_initializer", "kernel_regularizer", "kernel_constraint"}}


def _class_and_config(obj) -> tuple[str, dict]:
    if isinstance(obj, str):
        return obj, {}
    if isinstance(obj, dict) and "class_name" in obj:
        return obj["class_name"], dict(obj.get("config") or {})
    raise LarqImportError(f"Cannot interpret {obj!r} as a Larq object config.")


def _quantizer(obj, where: str):
    if obj is None:
        return None
    name, config = _class_and_config(obj)
    name = _QUANTIZER_ALIASES.get(name, name)
    if name not in _QUANTIZERS:
        raise LarqImportError(
            f"{where}: the Larq quantizer {name!r} has no kbnn equivalent (mapped: "
            f"{sorted(_QUANTIZERS)}). Write it as a kbnn quantizer (see kbnn.quantizers) and "
            "register it, or retrain with a mapped quantizer."
        )
    cls, args = _QUANTIZERS[name]
    unknown = set(config) - set(args) - _QUANTIZER_IGNORED
    if unknown:
        raise LarqImportError(f"{where}: Larq quantizer {name} has unknown arguments {sorted(unknown)}.")
    if cls is None:  # NoOp: a precision tag, the identity in the forward pass
        return None
    return keras.saving.serialize_keras_object(cls(**{args[k]: v for k, v in config.items() if k in args}))


def _constraint(obj, where: str):
    if obj is None:
        return None
    name, config = _class_and_config(obj)
    module = obj.get("module", "") if isinstance(obj, dict) else ""
    if name in _CONSTRAINTS and (not module or module.startswith("larq")):
        unknown = set(config) - {"clip_value"}
        if unknown:
            raise LarqImportError(f"{where}: Larq constraint {name} has unknown arguments {sorted(unknown)}.")
        return keras.saving.serialize_keras_object(_CONSTRAINTS[name](**config))
    if module.startswith("larq"):
        raise LarqImportError(
            f"{where}: the Larq constraint {name!r} has no kbnn equivalent (mapped: {sorted(_CONSTRAINTS)})."
        )
    return obj  # a standard Keras constraint: Keras' loader maps it


def _layer(layer: dict) -> dict:
    name = layer.get("class_name")
    cfg = layer.get("config", {})
    where = f"layer {cfg.get('name', '?')!r} ({name})"
    if name in _UNMAPPED_LAYERS:
        raise LarqImportError(f"{where}: does not map to kbnn: {_UNMAPPED_LAYERS[name]}.")
    module = layer.get("module") or ""
    if name not in _LAYERS:
        if module.startswith("larq"):
            raise LarqImportError(f"{where}: unknown Larq layer (mapped: {sorted(_LAYERS)}).")
        keras_cls = getattr(keras.layers, str(name), None)
        if (
            isinstance(keras_cls, type)
            and cfg.get("groups", None) == 1
            and "groups" not in inspect.signature(keras_cls.__init__).parameters
        ):
            # tf-keras writes groups=1 for DepthwiseConv2D, which Keras 3 does not take.
            layer = dict(layer, config={k: v for k, v in cfg.items() if k != "groups"})
        return layer
    cls = _LAYERS[name]
    new_cfg = dict(cfg)
    for key in _QUANTIZER_KEYS:
        if key in new_cfg:
            new_cfg[key] = _quantizer(new_cfg[key], f"{where}.{key}")
    for key in _CONSTRAINT_KEYS:
        if key in new_cfg:
            new_cfg[key] = _constraint(new_cfg[key], f"{where}.{key}")
    params = set(inspect.signature(cls.__init__).parameters) | {
        "name",
        "trainable",
        "dtype",
        "batch_input_shape",
        "batch_size",
    }
    if new_cfg.pop("metrics", None):
        # Larq's training metrics (flip_ratio) only monitor training.
        warnings.warn(
            f"{where}: Larq training metrics {cfg['metrics']!r} are dropped (inference is unaffected).",
            stacklevel=3,
        )
    for key in list(new_cfg):
        if key in params:
            continue
        if key in _UNUSED_BY_CLASS.get(name, ()) or (
            key in _DROPPABLE and new_cfg[key] in (_DROPPABLE[key], [], None)
        ):
            del new_cfg[key]
            continue
        raise LarqImportError(f"{where}: argument {key}={new_cfg[key]!r} has no kbnn equivalent.")
    out = dict(layer)
    out["class_name"] = cls.__name__
    out.pop("module", None)
    out.pop("registered_name", None)
    out["config"] = new_cfg
    return out


# tf-keras TFOpLambda layers (tensor operators written on Keras tensors, e.g. Larq Zoo's
# `x + residual`) → the equivalent Keras 3 merge layer.
_TF_OPS = {
    "__operators__.add": "Add",
    "math.add": "Add",
    "math.multiply": "Multiply",
    "__operators__.sub": "Subtract",
    "math.subtract": "Subtract",
}


def _is_node_ref(v) -> bool:
    return isinstance(v, list) and len(v) == 3 and isinstance(v[0], str)


def _tf_op_lambda(layer: dict) -> dict:
    cfg = layer.get("config", {})
    fn = cfg.get("function")
    where = f"layer {cfg.get('name', '?')!r} (TFOpLambda {fn})"
    nodes = layer.get("inbound_nodes") or []
    if fn not in _TF_OPS or len(nodes) != 1:
        raise LarqImportError(
            f"{where}: tf-keras operator layers map only for "
            f"{sorted(_TF_OPS)} with one call; rewrite it with a Keras layer."
        )
    node = nodes[0]
    if not (isinstance(node, list) and len(node) == 4 and isinstance(node[3], dict)):
        raise LarqImportError(f"{where}: unexpected inbound node {node!r}.")
    kwargs = {k: v for k, v in node[3].items() if k != "name" or v is not None}
    if set(kwargs) != {"y"} or not _is_node_ref(kwargs["y"]):
        raise LarqImportError(
            f"{where}: only `x {fn} y` between two layer outputs maps; got arguments {sorted(kwargs)}."
        )
    y = kwargs["y"]
    return {
        "class_name": _TF_OPS[fn],
        "config": {
            "name": cfg["name"],
            "trainable": cfg.get("trainable", True),
            "dtype": cfg.get("dtype", "float32"),
        },
        "name": layer.get("name", cfg["name"]),
        "inbound_nodes": [[[node[0], node[1], node[2], {}], [y[0], y[1], y[2], {}]]],
    }


def _initializer(obj):
    """Larq Zoo's `blurpool_initializer` function → kbnn's BlurPool initializer."""
    if (
        isinstance(obj, dict)
        and obj.get("class_name") == "function"
        and obj.get("config") == "blurpool_initializer"
    ):
        return keras.saving.serialize_keras_object(BlurPool())
    return obj


def _lambda(layer: dict, lambda_layers: dict) -> dict:
    """A tf-keras Lambda layer holds Python bytecode, which is never executed here: the caller
    says what it computes (``"identity"`` or a function)."""
    name = layer.get("config", {}).get("name", "?")  # map_larq_config checked it is listed
    what = lambda_layers[name]
    cfg = {k: v for k, v in layer["config"].items() if k in ("name", "trainable", "dtype")}
    if what == "identity":
        return dict(layer, class_name="Identity", config=cfg)
    if callable(what):
        return dict(layer, class_name="KbnnMappedLambda", config=cfg)
    raise LarqImportError(f"lambda_layers[{name!r}] must be 'identity' or a function, got {what!r}.")


def _all_layers(obj):
    """Every layer config of a model config, nested models included."""
    if isinstance(obj, dict):
        if obj.get("class_name") in ("Functional", "Sequential", "Model") and isinstance(
            obj.get("config"), dict
        ):
            for layer in obj["config"].get("layers", []):
                yield layer
                yield from _all_layers(layer)
        else:
            for v in obj.values():
                yield from _all_layers(v)
    elif isinstance(obj, list):
        for v in obj:
            yield from _all_layers(v)


def map_larq_config(model_config: dict, lambda_layers: dict | None = None) -> dict:
    """Rewrites a tf-keras model config (``{"class_name": "Functional" | "Sequential" |
    "Model", "config": ...}``) with Larq objects into one of kbnn objects. Nested models are
    mapped too. ``lambda_layers`` maps Lambda layer names to ``"identity"`` or a function.
    Raises :class:`LarqImportError` naming whatever does not map."""
    config = copy.deepcopy(model_config)
    lambda_layers = lambda_layers or {}
    missing = [
        l.get("config", {}).get("name", "?")
        for l in _all_layers(config)
        if l.get("class_name") == "Lambda" and l.get("config", {}).get("name") not in lambda_layers
    ]
    if missing:
        listed = ", ".join(f"{n!r}: 'identity'" for n in missing)
        raise LarqImportError(
            f"Lambda layers {missing} hold Python code stored in the file, which kbnn does not "
            f"run. Say what each computes: load_larq_model(path, lambda_layers={{{listed}}}) "
            "or functions (Larq Zoo's Real-to-Binary nets use identity Lambdas)."
        )

    def convert(layer):
        kind = layer.get("class_name")
        if kind == "TFOpLambda":
            return _tf_op_lambda(layer)
        if kind == "Lambda":
            return _lambda(layer, lambda_layers)
        return _layer(layer)

    def walk(obj):
        if isinstance(obj, dict):
            if obj.get("class_name") in ("Functional", "Sequential", "Model") and isinstance(
                obj.get("config"), dict
            ):
                layers = obj["config"].get("layers", [])
                obj["config"]["layers"] = [walk(convert(l)) for l in layers]
                return obj
            return {k: walk(_initializer(v)) for k, v in obj.items()}
        if isinstance(obj, list):
            return [walk(v) for v in obj]
        return obj

    return walk(config)


def _custom_objects(lambda_layers: dict) -> dict[str, Any]:
    functions = {k: v for k, v in lambda_layers.items() if callable(v)}

    class KbnnMappedLambda(keras.layers.Layer):
        """A tf-keras Lambda layer replaced by the function the caller gave for its name."""

        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.function = functions[self.name]

        def call(self, inputs):
            return self.function(inputs)

    objs = {cls.__name__: cls for cls in _LAYERS.values()}
    objs["BlurPool"] = BlurPool
    objs["KbnnMappedLambda"] = KbnnMappedLambda
    objs.update({cls.__name__: cls for cls, _ in _QUANTIZERS.values() if cls is not None})
    objs["WeightClip"] = kbnn_constraints.WeightClip
    return objs


def load_larq_model(path: str | os.PathLike, lambda_layers: dict | None = None) -> keras.Model:
    """Loads a Larq model saved by tf-keras as a Keras 3 model made of kbnn layers.

    Args:
      path: a ``.h5`` file written by ``model.save("m.h5")`` with tf-keras 2.x and Larq
        0.13 / 0.14 (a full model: config and weights), or a tf-keras SavedModel directory
        (``model.save("dir")``: the config is read from ``keras_metadata.pb``, the weights from
        the ``variables`` checkpoint).
      lambda_layers: ``{layer name: "identity" | function}`` for tf-keras ``Lambda`` layers,
        whose stored Python bytecode kbnn never runs (an unlisted one is an error naming it).

    Returns:
      The ``keras.Model``, uncompiled, with the weights (batch-norm statistics included) copied.
      Its outputs equal Larq's up to float rounding; ``kbnn.convert`` exports it.

    Raises:
      LarqImportError: a quantizer, constraint or layer without a kbnn equivalent (named), or a
        file that is not a full tf-keras HDF5 model.

    Example::

        model = kbnn.compat.load_larq_model("quicknet.h5")
        kbnn.convert(model, "quicknet.tflite")
    """
    import h5py

    path = Path(path)
    if path.is_dir():
        with tempfile.TemporaryDirectory() as tmp:
            h5 = os.path.join(tmp, "savedmodel.h5")
            _savedmodel_to_h5(path, h5)
            return load_larq_model(h5, lambda_layers)
    try:
        f = h5py.File(path, "r")
    except OSError as e:
        raise LarqImportError(
            f"Cannot read {path} as HDF5 ({e}). Save the Larq model with "
            "model.save('model.h5') (tf-keras 2.x)."
        ) from e
    with f:
        raw = f.attrs.get("model_config")
        if raw is None:
            raise LarqImportError(
                f"{path} has no model config (a weights-only file?). Build the architecture in "
                "kbnn and load the weights with model.load_weights, or save the full Larq model."
            )
        if "model_weights" not in f:
            raise LarqImportError(f"{path} has no model_weights group.")
        model_config = json.loads(raw.decode() if isinstance(raw, bytes) else raw)
    mapped = map_larq_config(model_config, lambda_layers)
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = os.path.join(tmp, "model.h5")
        shutil.copyfile(path, tmp_path)
        with h5py.File(tmp_path, "r+") as f:
            f.attrs["model_config"] = json.dumps(mapped)
            f.attrs.pop("training_config", None)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                model = keras.models.load_model(
                    tmp_path, custom_objects=_custom_objects(lambda_layers or {}), compile=False
                )
            except (TypeError, ValueError, KeyError) as e:
                raise LarqImportError(f"Keras could not rebuild the mapped model from {path}: {e}") from e
    if (
        isinstance(model, keras.Model)
        and len(model.inputs) == 1
        and len(model.outputs) == 1
        and not isinstance(model, keras.Sequential)
    ):
        # tf-keras configs list single inputs/outputs: take plain tensors (no structure warnings).
        model = keras.Model(model.inputs[0], model.outputs[0], name=model.name)
    return model


# Keras weight order within a layer, by variable name (covers Dense / Conv* / Depthwise /
# Separable / BatchNormalization and their Quant* versions).
_WEIGHT_ORDER = [
    "kernel",
    "depthwise_kernel",
    "pointwise_kernel",
    "bias",
    "gamma",
    "beta",
    "moving_mean",
    "moving_variance",
]


def _proto_fields(buf: bytes):
    """(field number, value) pairs of a serialized protobuf message (varint and
    length-delimited fields; others skipped)."""
    i, n = 0, len(buf)

    def varint(i):
        r = shift = 0
        while True:
            if i >= n:
                raise LarqImportError("corrupted keras_metadata.pb")
            c = buf[i]
            i += 1
            r |= (c & 0x7F) << shift
            shift += 7
            if c < 0x80:
                return r, i

    while i < n:
        key, i = varint(i)
        field, wire = key >> 3, key & 7
        if wire == 0:
            value, i = varint(i)
        elif wire == 2:
            size, i = varint(i)
            value, i = buf[i : i + size], i + size
        elif wire in (1, 5):
            value, i = None, i + (8 if wire == 1 else 4)
        else:
            raise LarqImportError("corrupted keras_metadata.pb")
        yield field, value


def _savedmodel_to_h5(directory: Path, out: str) -> None:
    """Writes a tf-keras SavedModel directory as a full-model legacy .h5 file: the model config
    from keras_metadata.pb (SavedMetadata.nodes[root].metadata), the weights from the variables
    checkpoint, placed by the checkpoint's object graph (layer_with_weights-N is layer-K)."""
    import h5py
    import numpy as np

    meta_path = directory / "keras_metadata.pb"
    if not meta_path.is_file() or not (directory / "variables").is_dir():
        raise LarqImportError(
            f"{directory} is not a tf-keras SavedModel directory (no "
            "keras_metadata.pb / variables). Save the Larq model with "
            "model.save('model.h5') or model.save('dir') in tf-keras."
        )
    root_meta = None
    for field, node in _proto_fields(meta_path.read_bytes()):
        if field != 1:
            continue
        entries = dict(_proto_fields(node))
        if entries.get(3) == b"root":
            root_meta = json.loads(entries.get(5, b"{}"))
    if not root_meta or "config" not in root_meta:
        raise LarqImportError(
            f"{meta_path} has no model config (a subclassed model?); only "
            "Functional / Sequential Larq models map."
        )
    model_config = root_meta.get("model_config") or {
        "class_name": root_meta["class_name"],
        "config": root_meta["config"],
    }
    import tensorflow as tf
    from tensorflow.core.protobuf import trackable_object_graph_pb2

    reader = tf.train.load_checkpoint(str(directory / "variables" / "variables"))
    graph = trackable_object_graph_pb2.TrackableObjectGraph()
    graph.ParseFromString(reader.get_tensor("_CHECKPOINTABLE_OBJECT_GRAPH"))
    children = {c.local_name: c.node_id for c in graph.nodes[0].children}
    layer_of_node = {nid: int(name[6:]) for name, nid in children.items() if name.startswith("layer-")}
    layers = model_config["config"].get("layers", [])
    weights: dict[int, list[tuple[str, Any]]] = {}
    for name, nid in children.items():
        if not name.startswith("layer_with_weights-"):
            continue
        k = layer_of_node.get(nid)
        if k is None or k >= len(layers):
            raise LarqImportError(f"{directory}: cannot place {name} in the model's layers.")
        values = []
        for child in graph.nodes[nid].children:
            if child.local_name not in _WEIGHT_ORDER:
                continue
            attrs = graph.nodes[child.node_id].attributes
            if not attrs:
                continue
            values.append((child.local_name, reader.get_tensor(attrs[0].checkpoint_key)))
        values.sort(key=lambda kv: _WEIGHT_ORDER.index(kv[0]))
        weights[k] = values
    with h5py.File(out, "w") as f:
        f.attrs["model_config"] = json.dumps(model_config)
        f.attrs["keras_version"] = root_meta.get("keras_version", "2.16.0")
        f.attrs["backend"] = "tensorflow"
        mw = f.create_group("model_weights")
        names = [l.get("config", {}).get("name", l.get("name")) for l in layers]
        mw.attrs["layer_names"] = [n.encode() for n in names]
        mw.attrs["keras_version"] = f.attrs["keras_version"]
        mw.attrs["backend"] = "tensorflow"
        for k, name in enumerate(names):
            g = mw.create_group(name)
            wn = [f"{name}/{w}:0" for w, _ in weights.get(k, [])]
            g.attrs["weight_names"] = [w.encode() for w in wn]
            for w, (_, value) in zip(wn, weights.get(k, [])):
                g.create_dataset(w, data=np.asarray(value))
