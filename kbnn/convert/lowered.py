"""Stage 3 of the converter: the plan -> a :class:`LoweredModel`, a TF function over kbnn ops.

:func:`run_plan` evaluates the plan on TF tensors, each step emitting its own ops
(:meth:`kbnn.convert.plan.Step.emit`); the op module is the compiled kbnn TF op library or the
plain-TF reference of the same semantics (:func:`backend`).
"""

from __future__ import annotations

import contextlib
import dataclasses

import keras

from kbnn.convert.graph import Graph
from kbnn.convert.report import ConversionReport


def op_backend(name):
    """The op module: ``"kbnn"`` (the compiled TF op library), ``"reference"`` or ``"auto"``."""
    if name == "reference":
        from kbnn.convert import reference_ops

        return reference_ops
    try:
        from kbnn import ops

        ops.load_library()
    except Exception as e:
        if name == "auto":
            from kbnn.convert import reference_ops

            return reference_ops
        raise RuntimeError(
            "The kbnn TF op library is not available (build it with `pip install -e ./runtime -e .`); "
            "it is needed "
            f"to write .tflite files with kbnn CUSTOM ops. Import error: {e}"
        ) from e
    return ops


def run_plan(graph, plan, inputs, ops, scopes=None):
    """Evaluate the plan on TF tensors ``inputs`` (one per model input) with the op module ``ops``.

    ``scopes`` (a dict, filled while tracing a graph): the first name-scope component of every op
    each step creates -> the set of layer names that created ops under it. TF uniquifies re-entered
    scopes (a Keras layer ``conv`` may trace as ``conv_1``, which is also another layer's name), so
    the int8 report attributes the ops of the written file through this map, not by name guessing.
    """
    import tensorflow as tf

    values = {}
    bits = {}  # float tensor -> its bitpacked signs (the second output of KbnnBconv2dResidual)
    for (key, _, _), x in zip(graph.inputs, inputs):
        values[key] = x
    graph_ops = _graph_op_recorder(scopes)
    for st in plan:
        target = st.scheduled()  # a residual Add folded into a conv runs the conv at its place
        if target is None:
            continue
        with graph_ops(target.node.name):
            target.emit(values, bits, ops, tf)
    outs = [values[k] for k in graph.outputs]
    return outs[0] if len(outs) == 1 else outs


def _graph_op_recorder(scopes):
    """A context factory ``(layer name) -> context`` recording the scopes of the ops a step creates."""
    if scopes is None:
        return lambda name: contextlib.nullcontext()
    import tensorflow as tf

    @contextlib.contextmanager
    def record(name):
        g = tf.compat.v1.get_default_graph()
        before = len(g.get_operations())
        yield
        for op in g.get_operations()[before:]:
            if "/" in op.name:
                scopes.setdefault(op.name.split("/", 1)[0], set()).add(name)

    return record


@dataclasses.dataclass
class LoweredModel:
    """The lowering of a Keras model: its graph, plan, report and a TF function over kbnn ops."""

    model: keras.Model
    graph: Graph
    plan: list
    report: ConversionReport
    ops: object
    batch_size: int | None = None
    scopes: dict = dataclasses.field(default_factory=dict)  # name scope -> layers (filled by tracing)

    def input_signature(self):
        import tensorflow as tf

        return [
            tf.TensorSpec((self.batch_size,) + tuple(shape[1:]), dtype or "float32")
            for _, shape, dtype in self.graph.inputs
        ]

    def tf_function(self):
        import tensorflow as tf

        @tf.function(input_signature=self.input_signature(), autograph=False)
        def lowered(*inputs):
            return run_plan(self.graph, self.plan, inputs, self.ops, scopes=self.scopes)

        return lowered

    def __call__(self, *inputs):
        import tensorflow as tf

        return run_plan(self.graph, self.plan, [tf.convert_to_tensor(x) for x in inputs], self.ops)
