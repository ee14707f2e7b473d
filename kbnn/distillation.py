"""Knowledge distillation for binary networks: output distributions and attention maps.

:class:`Distiller` trains a student (typically binary) against a frozen teacher (typically
real-valued) with a weighted sum of three losses:

* the task loss given to ``compile`` (e.g. cross-entropy with the labels);
* the output-distribution loss of Hinton, Vinyals & Dean, "Distilling the Knowledge in a
  Neural Network" (arXiv:1503.02531, 2015), used for low-precision students by Mishra &
  Marr, "Apprentice: Using Knowledge Distillation Techniques to Improve Low-Precision
  Network Accuracy" (ICLR 2018): ``T² · KL(softmax(z_t / T) ‖ softmax(z_s / T))``
  (:func:`distribution_loss`);
* the attention-matching loss of Zagoruyko & Komodakis, "Paying More Attention to
  Attention" (ICLR 2017), as used between real-valued and binary blocks by Martinez et al.,
  "Training Binary Neural Networks with Real-to-Binary Convolutions" (ICLR 2020, section
  4.2) (:func:`attention_map`, :func:`attention_matching_loss`).

:func:`real_to_binary_recipe` runs the multi-stage schedule of Martinez et al. (section 4.2):
real-valued network → binary activations with real weights → fully binary network.

:func:`two_step` runs ReActNet's recipe (Liu et al., ECCV 2020, arXiv:2003.03488, sections 4 and
5.1): a real-valued teacher; step 1 trains binary activations with real weights, step 2 binary
activations and weights initialised from step 1, both with the *distributional loss* (section
3.3, eq. (6)): the KL divergence from the teacher's softmax to the student's,
``L = (1/n) Σ_i Σ_c p_c^R(x_i) log(p_c^R(x_i) / p_c^B(x_i))`` — :func:`distribution_loss` at
temperature 1, used alone (no cross-entropy with the labels).

Everything is written with ``keras.ops``; ``Distiller.train_step`` uses ``tf.GradientTape``
(kbnn trains on the TensorFlow backend of Keras 3).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any

import keras
from keras import ops

__all__ = [
    "attention_map",
    "attention_matching_loss",
    "distribution_loss",
    "Distiller",
    "copy_weights_by_name",
    "real_to_binary_recipe",
    "MultiStageResult",
    "two_step",
    "TwoStepResult",
]

_EPS = 1e-12


def attention_map(x):
    r"""Spatial attention map of a feature map (Zagoruyko & Komodakis, ICLR 2017).

    :math:`Q = \mathrm{vec}(\sum_c A_c^2)`, L2-normalised per sample:
    :math:`Q / \lVert Q \rVert_2`. This is the map Martinez et al. (ICLR 2020) match between
    the real-valued teacher and the binary student.

    Args:
        x: Feature map of shape ``(batch, height, width, channels)`` (channels last), or
            any ``(batch, ..., channels)`` tensor.

    Returns:
        Tensor ``(batch, height * width)``, each row of unit L2 norm (all-zero rows stay 0).

    Raises:
        ValueError: for an input of rank < 3.
    """
    x = ops.convert_to_tensor(x)
    if len(x.shape) < 3:
        raise ValueError(
            "`attention_map` expects a (batch, ..., channels) feature map of rank >= 3. "
            f"Received: x.shape={tuple(x.shape)}"
        )
    q = ops.sum(ops.square(x), axis=-1)
    q = ops.reshape(q, (ops.shape(q)[0], -1))
    norm = ops.sqrt(ops.sum(ops.square(q), axis=-1, keepdims=True))
    return q / ops.maximum(norm, _EPS)


def attention_matching_loss(pairs: Sequence[tuple[Any, Any]]):
    r"""Attention-matching loss, summed over pairs of feature maps.

    For each ``(teacher_features, student_features)`` pair:
    :math:`\frac{1}{B}\sum_b \lVert Q_T^{(b)} - Q_S^{(b)} \rVert_2` with ``Q`` =
    :func:`attention_map`; the pair losses are summed (Martinez et al., ICLR 2020, eq. 2).
    The teacher side is not stopped here; :class:`Distiller` never differentiates the teacher.

    Args:
        pairs: Sequence of ``(teacher_features, student_features)``; the two maps of a pair
            must have the same batch size and spatial size (channel counts may differ).

    Returns:
        Scalar loss tensor (0.0 for an empty sequence).

    Raises:
        ValueError: if the spatial sizes of a pair differ.
    """
    total = ops.convert_to_tensor(0.0)
    for i, (t, s) in enumerate(pairs):
        t = ops.convert_to_tensor(t)
        s = ops.convert_to_tensor(s)
        if tuple(t.shape[1:-1]) != tuple(s.shape[1:-1]):
            raise ValueError(
                "Attention matching needs teacher and student feature maps of the same spatial "
                f"size. Received: pair {i} with teacher shape {tuple(t.shape)} and student "
                f"shape {tuple(s.shape)}"
            )
        diff = attention_map(ops.cast(t, "float32")) - attention_map(ops.cast(s, "float32"))
        # eps inside the root keeps the gradient finite where the maps coincide.
        dist = ops.sqrt(ops.sum(ops.square(diff), axis=-1) + _EPS)
        total = total + ops.mean(dist)
    return total


def _as_logits(y, from_logits: bool):
    y = ops.cast(ops.convert_to_tensor(y), "float32")
    if from_logits:
        return y
    # log p differs from the logits by a per-sample constant, which softmax ignores.
    return ops.log(ops.clip(y, _EPS, 1.0))


def distribution_loss(teacher_output, student_output, *, temperature: float = 1.0, from_logits: bool = False):
    r"""Hinton et al. (2015) distillation loss: ``T² · KL(p_T^τ ‖ p_S^τ)``, batch mean.

    :math:`p^\tau = \mathrm{softmax}(z / T)`; the :math:`T^2` factor keeps the gradient
    magnitude independent of the temperature (Hinton et al., section 2).

    Args:
        teacher_output: Teacher logits or probabilities ``(batch, classes)``.
        student_output: Student logits or probabilities ``(batch, classes)``.
        temperature: Softmax temperature ``T > 0``.
        from_logits: ``True`` if the outputs are logits; ``False`` (the zoo models end with
            a softmax) treats them as probabilities and uses their logarithm as logits.

    Returns:
        Scalar loss tensor.
    """
    if not temperature > 0:
        raise ValueError(f"`temperature` must be positive. Received: temperature={temperature!r}")
    zt = _as_logits(teacher_output, from_logits) / temperature
    zs = _as_logits(student_output, from_logits) / temperature
    log_pt = ops.log_softmax(zt, axis=-1)
    log_ps = ops.log_softmax(zs, axis=-1)
    kl = ops.sum(ops.exp(log_pt) * (log_pt - log_ps), axis=-1)
    return (temperature**2) * ops.mean(kl)


def _replicas_in_sync() -> int:
    """Replicas of the current ``tf.distribute`` strategy (1 outside any strategy)."""
    import tensorflow as tf

    return tf.distribute.get_strategy().num_replicas_in_sync


def _check_weight(value, arg):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        raise ValueError(f"`{arg}` must be a non-negative number. Received: {arg}={value!r}")
    return float(value)


class Distiller(keras.Model):
    """Train a student against a frozen teacher: task + KD + attention-matching losses.

    ``loss = alpha_task · task + alpha_kd · KD + alpha_attention · AT`` where ``task`` is
    the loss given to ``compile`` (plus the student's regularization losses), ``KD`` is
    :func:`distribution_loss` between the two outputs and ``AT`` is
    :func:`attention_matching_loss` over ``feature_pairs``. The teacher runs in inference
    mode (batch norm uses its moving statistics) and is never updated. ``fit``/``evaluate``
    report ``loss`` (the weighted total) and ``task_loss``, ``kd_loss``, ``attention_loss``
    (unweighted) besides the compiled metrics, which are computed on the student output.

    Under a ``tf.distribute`` strategy the KD and attention terms are scaled per replica
    like Keras scales the compiled loss, so training matches one device on the same global
    batch and the logged losses are global-batch means (docs/distributed.md).

    ``predict``/``__call__`` return the student's output. Save the student alone with
    ``distiller.student.save("student.keras")``; the Distiller itself is a training wrapper
    and is not meant to be saved.

    Example::

        distiller = Distiller(student, teacher, feature_pairs=[("s1_out", "s1_out")],
                              alpha_kd=1.0, alpha_attention=30.0, temperature=1.0)
        distiller.compile(optimizer="adam", loss="sparse_categorical_crossentropy",
                          metrics=["accuracy"])
        distiller.fit(x, y, epochs=10)
        distiller.student.save("student.keras")

    Args:
        student: The model being trained. With ``feature_pairs`` it must be a functional
            (or Sequential) model so that the named layers' outputs can be read.
        teacher: The frozen model; same requirement. Its ``trainable`` is set to False.
        feature_pairs: ``[(teacher_layer_name, student_layer_name), ...]`` whose output
            feature maps are attention-matched (same spatial size within a pair).
        alpha_task: Weight of the task loss.
        alpha_kd: Weight of the output-distribution (KL) loss.
        alpha_attention: Weight of the attention-matching loss.
        temperature: Softmax temperature of the KD loss.
        from_logits: Whether the two models output logits (``False``: probabilities).
        **kwargs: Passed to ``keras.Model`` (e.g. ``name``).
    """

    def __init__(
        self,
        student: keras.Model,
        teacher: keras.Model,
        *,
        feature_pairs: Sequence[tuple[str, str]] = (),
        alpha_task: float = 1.0,
        alpha_kd: float = 1.0,
        alpha_attention: float = 0.0,
        temperature: float = 1.0,
        from_logits: bool = False,
        **kwargs,
    ):
        super().__init__(**kwargs)
        for arg, model in (("student", student), ("teacher", teacher)):
            if not isinstance(model, keras.Model):
                raise ValueError(f"`{arg}` must be a keras.Model. Received: {arg}={model!r}")
        if student is teacher:
            raise ValueError(
                "`student` and `teacher` must be different models. Received the same model twice."
            )
        self.alpha_task = _check_weight(alpha_task, "alpha_task")
        self.alpha_kd = _check_weight(alpha_kd, "alpha_kd")
        self.alpha_attention = _check_weight(alpha_attention, "alpha_attention")
        if not temperature > 0:
            raise ValueError(f"`temperature` must be positive. Received: temperature={temperature!r}")
        self.temperature = float(temperature)
        self.from_logits = bool(from_logits)
        pairs = []
        for pair in feature_pairs:
            if not (
                isinstance(pair, (tuple, list)) and len(pair) == 2 and all(isinstance(n, str) for n in pair)
            ):
                raise ValueError(
                    "`feature_pairs` must be a list of (teacher_layer_name, student_layer_name) "
                    f"string pairs. Received: {pair!r}"
                )
            pairs.append((pair[0], pair[1]))
        self.feature_pairs = pairs

        self.student = student
        self.teacher = teacher
        teacher.trainable = False
        self._student_run = self._feature_model(student, [s for _, s in pairs], "student")
        self._teacher_run = self._feature_model(teacher, [t for t, _ in pairs], "teacher")

        self.task_loss_tracker = keras.metrics.Mean(name="task_loss")
        self.kd_loss_tracker = keras.metrics.Mean(name="kd_loss")
        self.attention_loss_tracker = keras.metrics.Mean(name="attention_loss")

    @staticmethod
    def _feature_model(model, layer_names, role):
        if not layer_names:
            return None
        try:
            outputs = [model.get_layer(n).output for n in layer_names]
            inputs = model.inputs
        except (ValueError, AttributeError) as e:
            raise ValueError(
                f"Could not read the {role} feature maps {layer_names} from model {model.name!r}: "
                "attention matching needs a functional or Sequential model containing these "
                f"layers. Received: {role}={model.name!r} ({e})"
            ) from e
        return keras.Model(inputs, [model.output, *outputs], name=f"{model.name}_features")

    @staticmethod
    def _forward(model, feature_model, x, training):
        if feature_model is None:
            return model(x, training=training), []
        out = feature_model(x, training=training)
        return out[0], list(out[1:])

    def call(self, inputs, training=None):
        return self.student(inputs, training=training)

    def _distill_losses(self, x, y, sample_weight, training):
        t_out, t_feats = self._forward(self.teacher, self._teacher_run, x, False)
        t_out = ops.stop_gradient(t_out)
        t_feats = [ops.stop_gradient(f) for f in t_feats]
        s_out, s_feats = self._forward(self.student, self._student_run, x, training)
        task = self._compute_loss(x=x, y=y, y_pred=s_out, sample_weight=sample_weight, training=training)
        task = ops.cast(task, "float32")
        if self.alpha_kd > 0:
            kd = distribution_loss(t_out, s_out, temperature=self.temperature, from_logits=self.from_logits)
        else:
            kd = ops.convert_to_tensor(0.0)
        att = attention_matching_loss(list(zip(t_feats, s_feats)))
        # Under a tf.distribute strategy each replica sees its share of the global batch and
        # the gradients of the replicas are summed. Keras already divides the compiled loss
        # by the number of replicas (so `task` is this replica's share of the global-batch
        # mean); the KD and attention terms are batch means of this replica's samples and get
        # the same factor. The trackers receive the unscaled (per-replica mean) values.
        replicas = _replicas_in_sync()
        task_mean = task * replicas
        total = self.alpha_task * task_mean + self.alpha_kd * kd + self.alpha_attention * att
        return s_out, total / replicas, total, task_mean, kd, att

    def _update_trackers(self, x, total, task, kd, att):
        batch = ops.shape(next(t for t in keras.tree.flatten(x) if t is not None))[0]
        self._loss_tracker.update_state(total, sample_weight=batch)
        self.task_loss_tracker.update_state(task, sample_weight=batch)
        self.kd_loss_tracker.update_state(kd, sample_weight=batch)
        self.attention_loss_tracker.update_state(att, sample_weight=batch)

    def train_step(self, data):
        import tensorflow as tf

        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        with tf.GradientTape() as tape:
            s_out, share, total, task, kd, att = self._distill_losses(x, y, sample_weight, training=True)
            scaled = self.optimizer.scale_loss(share)
        variables = self.student.trainable_variables
        grads = tape.gradient(scaled, variables)
        self.optimizer.apply(grads, variables)
        self._update_trackers(x, total, task, kd, att)
        return self.compute_metrics(x, y, s_out, sample_weight=sample_weight)

    def test_step(self, data):
        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        s_out, _, total, task, kd, att = self._distill_losses(x, y, sample_weight, training=False)
        self._update_trackers(x, total, task, kd, att)
        return self.compute_metrics(x, y, s_out, sample_weight=sample_weight)

    def get_config(self):
        # Training wrapper only: save `distiller.student` instead.
        config = super().get_config()
        config.update(
            {
                "feature_pairs": self.feature_pairs,
                "alpha_task": self.alpha_task,
                "alpha_kd": self.alpha_kd,
                "alpha_attention": self.alpha_attention,
                "temperature": self.temperature,
                "from_logits": self.from_logits,
            }
        )
        return config


def copy_weights_by_name(source: keras.Model, target: keras.Model, *, strict: bool = False) -> list[str]:
    """Copy the weights of every layer of ``target`` that has a same-named layer in ``source``.

    Layers are matched by name and copied when their weight lists have the same shapes
    (a ``QuantConv2D`` keeps its latent float kernel whatever its quantizers, so a layer
    trained with real weights initialises the binary-weight layer of the next stage).

    Args:
        source: Model to copy from.
        target: Model to copy into.
        strict: If True, raise when a target layer with weights has no compatible source.

    Returns:
        Names of the layers whose weights were copied.

    Raises:
        ValueError: with ``strict=True``, naming the layers that could not be matched.
    """
    src = {layer.name: layer for layer in source.layers}
    copied, missing = [], []
    for layer in target.layers:
        if not layer.weights:
            continue
        other = src.get(layer.name)
        if other is None or [tuple(v.shape) for v in other.weights] != [
            tuple(v.shape) for v in layer.weights
        ]:
            missing.append(layer.name)
            continue
        layer.set_weights(other.get_weights())
        copied.append(layer.name)
    if strict and missing:
        raise ValueError(
            f"No same-named layer with matching weight shapes in {source.name!r} for: {missing}. "
            f"Received: source={source.name!r}, target={target.name!r}"
        )
    return copied


@dataclasses.dataclass
class MultiStageResult:
    """What :func:`real_to_binary_recipe` returns.

    Attributes:
        teacher: Stage 1, the real-valued network.
        stage2: Stage 2, binary activations and real weights.
        student: Stage 3, binary activations and binary weights.
        histories: ``{"stage1": History, "stage2": History, "stage3": History}``.
    """

    teacher: keras.Model
    stage2: keras.Model
    student: keras.Model
    histories: dict


def _fresh_optimizer(optimizer):
    if callable(optimizer) and not isinstance(optimizer, keras.optimizers.Optimizer):
        return optimizer()
    if isinstance(optimizer, keras.optimizers.Optimizer):
        raise ValueError(
            "Each stage needs its own optimizer: pass a string or a zero-argument factory "
            f"(e.g. `lambda: keras.optimizers.Adam(1e-3)`). Received: optimizer={optimizer!r}"
        )
    return keras.optimizers.get(optimizer)


def real_to_binary_recipe(
    build_fn: Callable[..., keras.Model],
    x,
    y=None,
    *,
    epochs: int | Sequence[int] = 1,
    batch_size: int | None = None,
    validation_data=None,
    optimizer: str | Callable[[], keras.optimizers.Optimizer] = "adam",
    loss="sparse_categorical_crossentropy",
    metrics=("accuracy",),
    input_quantizer="ste_sign",
    kernel_quantizer="ste_sign",
    feature_layers: Sequence[str] = (),
    alpha_task: float = 1.0,
    alpha_kd: float = 1.0,
    alpha_attention: float = 30.0,
    temperature: float = 1.0,
    stage3_teacher: str = "stage2",
    callbacks=None,
    verbose: int = 0,
) -> MultiStageResult:
    """Multi-stage training of Martinez et al. (ICLR 2020, section 4.2, "progressive" recipe).

    1. A real-valued network ``build_fn(None, None)`` is trained on the task loss.
    2. A network with binary activations and real weights,
       ``build_fn(input_quantizer, None)``, is initialised from stage 1 (weights copied by
       layer name) and distilled from it (task + KD + attention matching).
    3. The binary network ``build_fn(input_quantizer, kernel_quantizer)`` is initialised from
       stage 2 and distilled from the stage-2 network (our reading of the paper's
       progressive teacher-student sequence, where each step learns from the previous one;
       ``stage3_teacher="stage1"`` uses the real-valued network instead).

    The paper's ImageNet values are ``alpha_attention = 30`` (β in the paper) with the
    attention maps taken at the end of every ResNet block; pass those layer names (the
    same names exist in every stage because ``build_fn`` builds one architecture) in
    ``feature_layers``.

    Args:
        build_fn: ``build_fn(input_quantizer, kernel_quantizer) -> keras.Model``; must give
            its layers the same names every time it is called.
        x: Training inputs (array, or a ``tf.data.Dataset`` yielding ``(x, y)``).
        y: Training targets (``None`` with a dataset).
        epochs: Epochs per stage, an int for all three or a 3-sequence.
        batch_size: Passed to ``fit``.
        validation_data: Passed to ``fit``.
        optimizer: Optimizer alias or zero-argument factory (a fresh optimizer per stage).
        loss: Task loss passed to ``compile``.
        metrics: Metrics passed to ``compile``.
        input_quantizer: Activation quantizer of stages 2 and 3.
        kernel_quantizer: Weight quantizer of stage 3.
        feature_layers: Layer names whose outputs are attention-matched.
        alpha_task: Weight of the task loss in stages 2 and 3.
        alpha_kd: Weight of the KD loss in stages 2 and 3.
        alpha_attention: Weight of the attention-matching loss in stages 2 and 3.
        temperature: KD temperature.
        stage3_teacher: ``"stage2"`` (paper) or ``"stage1"``.
        callbacks: Passed to every ``fit``.
        verbose: Passed to every ``fit``.

    Returns:
        A :class:`MultiStageResult`.
    """
    if isinstance(epochs, int):
        epochs = (epochs,) * 3
    epochs = tuple(epochs)
    if len(epochs) != 3 or any(isinstance(e, bool) or not isinstance(e, int) or e < 0 for e in epochs):
        raise ValueError(f"`epochs` must be an int or 3 non-negative ints. Received: epochs={epochs!r}")
    if stage3_teacher not in ("stage1", "stage2"):
        raise ValueError(
            f"`stage3_teacher` must be 'stage1' or 'stage2'. Received: stage3_teacher={stage3_teacher!r}"
        )
    fit_kwargs = dict(
        batch_size=batch_size, validation_data=validation_data, callbacks=callbacks, verbose=verbose
    )
    if y is not None:
        fit_kwargs["y"] = y
    pairs = [(n, n) for n in feature_layers]
    metrics = list(metrics) if metrics else None
    histories = {}

    teacher = build_fn(None, None)
    teacher.compile(optimizer=_fresh_optimizer(optimizer), loss=loss, metrics=metrics)
    histories["stage1"] = teacher.fit(x, epochs=epochs[0], **fit_kwargs)

    def distill(student, teacher_model, n_epochs):
        distiller = Distiller(
            student,
            teacher_model,
            feature_pairs=pairs,
            alpha_task=alpha_task,
            alpha_kd=alpha_kd,
            alpha_attention=alpha_attention,
            temperature=temperature,
        )
        distiller.compile(optimizer=_fresh_optimizer(optimizer), loss=loss, metrics=metrics)
        history = distiller.fit(x, epochs=n_epochs, **fit_kwargs)
        student.trainable = True
        return history

    stage2 = build_fn(input_quantizer, None)
    copy_weights_by_name(teacher, stage2)
    histories["stage2"] = distill(stage2, teacher, epochs[1])

    student = build_fn(input_quantizer, kernel_quantizer)
    copy_weights_by_name(stage2, student)
    histories["stage3"] = distill(student, stage2 if stage3_teacher == "stage2" else teacher, epochs[2])
    # Every model comes back trainable (Distiller froze the teachers while it ran).
    teacher.trainable = True
    stage2.trainable = True
    return MultiStageResult(teacher=teacher, stage2=stage2, student=student, histories=histories)


@dataclasses.dataclass
class TwoStepResult:
    """What :func:`two_step` returns.

    Attributes:
        teacher: The real-valued teacher (the one given, or the one trained in step 0).
        step1: Binary activations, real weights (ReActNet's step 1).
        student: Binary activations and weights (step 2), initialised from ``step1``.
        histories: ``{"teacher": History or None, "step1": History, "step2": History}``.
    """

    teacher: keras.Model
    step1: keras.Model
    student: keras.Model
    histories: dict


def two_step(
    build_fn: Callable[..., keras.Model],
    x,
    y=None,
    *,
    teacher: keras.Model | None = None,
    teacher_epochs: int = 1,
    epochs: int | Sequence[int] = 1,
    batch_size: int | None = None,
    validation_data=None,
    optimizer: str | Callable[[], keras.optimizers.Optimizer] = "adam",
    loss="sparse_categorical_crossentropy",
    metrics=("accuracy",),
    input_quantizer="rsign",
    kernel_quantizer="magnitude_aware_sign",
    alpha_task: float = 0.0,
    alpha_kd: float = 1.0,
    temperature: float = 1.0,
    from_logits: bool = False,
    callbacks=None,
    verbose: int = 0,
) -> TwoStepResult:
    """ReActNet's two-step training with the distributional loss (Liu et al., ECCV 2020, §4-5.1).

    0. The teacher: ``teacher`` (a trained real-valued ``keras.Model``; ReActNet used a
       ResNet-34), or, when ``None``, ``build_fn(None, None)`` trained ``teacher_epochs`` on the
       task loss.
    1. ``build_fn(input_quantizer, None)`` — binary activations, real weights — is trained
       against the frozen teacher with ``alpha_kd · distributional loss + alpha_task · task``
       (ReActNet: the distributional loss alone, ``alpha_task = 0``).
    2. ``build_fn(input_quantizer, kernel_quantizer)`` — binary activations and weights — gets
       step 1's weights (by layer name: latent kernels, RSign thresholds, RPReLU and BN
       parameters) and is trained the same way against the same teacher.

    Example (docs/reactnet.md)::

        build = lambda iq, kq: kbnn.models.ReActNetA((32, 32, 3), 10, input_quantizer=iq,
                                                     kernel_quantizer=kq, width=0.25)
        result = kbnn.distillation.two_step(build, x, y, teacher=my_float_model, epochs=(30, 30),
                                            optimizer=lambda: keras.optimizers.Adam(1e-3))
        result.student.save("reactnet.keras")

    Args:
        build_fn: ``build_fn(input_quantizer, kernel_quantizer) -> keras.Model``, giving its
            layers the same names every call (every kbnn zoo builder does).
        x: Training inputs (array, or a ``tf.data.Dataset`` yielding ``(x, y)``).
        y: Training targets (``None`` with a dataset).
        teacher: A trained teacher, or ``None`` to train ``build_fn(None, None)``. Its output
            must be probabilities (``from_logits=False``) or logits (``True``) like the student's.
        teacher_epochs: Epochs of the teacher when ``teacher`` is None.
        epochs: Epochs of steps 1 and 2: an int for both or a 2-sequence.
        batch_size: Passed to ``fit``.
        validation_data: Passed to ``fit``.
        optimizer: Optimizer alias or zero-argument factory (a fresh optimizer per step).
        loss: Task loss given to ``compile`` (weighted by ``alpha_task``).
        metrics: Metrics given to ``compile``.
        input_quantizer: Activation quantizer of both steps (``"rsign"``).
        kernel_quantizer: Weight quantizer of step 2 (``"magnitude_aware_sign"``).
        alpha_task: Weight of the task loss (0: ReActNet).
        alpha_kd: Weight of the distributional loss.
        temperature: Softmax temperature (1: ReActNet).
        from_logits: Whether the models output logits.
        callbacks: Passed to every ``fit``.
        verbose: Passed to every ``fit``.

    Returns:
        A :class:`TwoStepResult` (every model trainable again).

    Raises:
        ValueError: for bad ``epochs``/``teacher``, or a step-2 model whose weights cannot all
            be initialised from step 1 (different layer names or shapes).
    """
    if isinstance(epochs, int) and not isinstance(epochs, bool):
        epochs = (epochs,) * 2
    epochs = tuple(epochs)
    if len(epochs) != 2 or any(isinstance(e, bool) or not isinstance(e, int) or e < 0 for e in epochs):
        raise ValueError(f"`epochs` must be an int or 2 non-negative ints. Received: epochs={epochs!r}")
    if teacher is not None and not isinstance(teacher, keras.Model):
        raise ValueError(
            "`teacher` must be a trained keras.Model or None (train build_fn(None, None) first). "
            f"Received: teacher={teacher!r}"
        )
    if isinstance(teacher_epochs, bool) or not isinstance(teacher_epochs, int) or teacher_epochs < 0:
        raise ValueError(f"`teacher_epochs` must be a non-negative int. Received: {teacher_epochs!r}")
    fit_kwargs = dict(
        batch_size=batch_size, validation_data=validation_data, callbacks=callbacks, verbose=verbose
    )
    if y is not None:
        fit_kwargs["y"] = y
    metrics = list(metrics) if metrics else None
    histories = {"teacher": None}
    teacher_was_trainable = True if teacher is None else teacher.trainable
    if teacher is None:
        teacher = build_fn(None, None)
        teacher.compile(optimizer=_fresh_optimizer(optimizer), loss=loss, metrics=metrics)
        histories["teacher"] = teacher.fit(x, epochs=teacher_epochs, **fit_kwargs)

    def distill(student, n_epochs):
        distiller = Distiller(
            student,
            teacher,
            alpha_task=alpha_task,
            alpha_kd=alpha_kd,
            temperature=temperature,
            from_logits=from_logits,
        )
        distiller.compile(optimizer=_fresh_optimizer(optimizer), loss=loss, metrics=metrics)
        history = distiller.fit(x, epochs=n_epochs, **fit_kwargs)
        student.trainable = True
        return history

    step1 = build_fn(input_quantizer, None)
    histories["step1"] = distill(step1, epochs[0])
    student = build_fn(input_quantizer, kernel_quantizer)
    copy_weights_by_name(step1, student, strict=True)
    histories["step2"] = distill(student, epochs[1])
    teacher.trainable = teacher_was_trainable
    return TwoStepResult(teacher=teacher, step1=step1, student=student, histories=histories)
