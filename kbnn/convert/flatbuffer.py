"""Reading and writing ``.tflite`` flatbuffers as TF's object API (``schema_py_generated``
``ModelT``), for the stages that edit the converted file (int8, the input/output order)."""

from __future__ import annotations


def read_model(content: bytes):
    """The ``ModelT`` object tree of the flatbuffer ``content``."""
    from tensorflow.lite.tools import flatbuffer_utils

    return flatbuffer_utils.convert_bytearray_to_object(bytearray(content))


def model_bytes(model) -> bytes:
    """The flatbuffer of the ``ModelT`` ``model``."""
    from tensorflow.lite.tools import flatbuffer_utils

    return bytes(flatbuffer_utils.convert_object_to_bytearray(model))


def io_in_keras_order(data: bytes) -> bytes:
    """Puts the main subgraph's inputs and outputs in the Keras model's order.

    The TFLite converter may list a multi-output model's outputs in another order than the
    traced function returned them (e.g. ``PartitionedCall:1, :0, :2``), so an interpreter would
    return them permuted. The signature keeps the traced order (``output_0``, ``output_1`` ...):
    the subgraph's lists are rewritten to follow it. Files without a signature are left as they are.
    """
    model = read_model(data)
    if not model.signatureDefs or not model.subgraphs:
        return data
    sig = model.signatureDefs[0]
    graph = model.subgraphs[sig.subgraphIndex or 0]
    changed = False
    for entries, attr in ((sig.inputs, "inputs"), (sig.outputs, "outputs")):
        current = [int(t) for t in getattr(graph, attr)]
        keyed = []
        for e in entries or []:
            name = e.name.decode() if isinstance(e.name, bytes) else str(e.name)
            suffix = name.rsplit("_", 1)[-1]
            if not suffix.isdigit():
                return data  # not the converter's generated names: leave the file alone
            keyed.append((int(suffix), int(e.tensorIndex)))
        wanted = [t for _, t in sorted(keyed)]
        if sorted(wanted) != sorted(current):
            return data
        if wanted != current:
            setattr(graph, attr, wanted)
            changed = True
    return model_bytes(model) if changed else data
