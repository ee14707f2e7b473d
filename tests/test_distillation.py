"""Distillation: attention maps, KD loss, the Distiller and the multi-stage recipe."""

import keras
import numpy as np
import pytest

import kbnn  # noqa: F401
from kbnn import distillation
from kbnn.distillation import (
    Distiller,
    attention_map,
    attention_matching_loss,
    copy_weights_by_name,
    distribution_loss,
    real_to_binary_recipe,
)
from kbnn.layers import QuantConv2D


def _np_attention(x):
    q = (x.astype(np.float64) ** 2).sum(axis=-1).reshape(x.shape[0], -1)
    return q / np.linalg.norm(q, axis=1, keepdims=True)


def test_attention_map_matches_numpy():
    x = np.random.default_rng(0).normal(size=(2, 3, 4, 5)).astype("float32")
    got = keras.ops.convert_to_numpy(attention_map(x))
    assert got.shape == (2, 12)
    np.testing.assert_allclose(got, _np_attention(x), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(got, axis=1), 1.0, rtol=1e-5)


def test_attention_map_rejects_rank_two():
    with pytest.raises(ValueError, match="Received: x.shape"):
        attention_map(np.zeros((2, 3), "float32"))


def test_attention_matching_loss_matches_numpy():
    rng = np.random.default_rng(1)
    pairs = [
        (rng.normal(size=(3, 4, 4, 6)), rng.normal(size=(3, 4, 4, 2))),  # channel counts may differ
        (rng.normal(size=(3, 2, 2, 5)), rng.normal(size=(3, 2, 2, 5))),
    ]
    pairs = [(t.astype("float32"), s.astype("float32")) for t, s in pairs]
    got = float(keras.ops.convert_to_numpy(attention_matching_loss(pairs)))
    ref = sum(np.linalg.norm(_np_attention(t) - _np_attention(s), axis=1).mean() for t, s in pairs)
    assert got == pytest.approx(ref, rel=1e-5)
    assert float(keras.ops.convert_to_numpy(attention_matching_loss([]))) == 0.0
    # A map matched with a positive multiple of itself costs (almost) nothing.
    same = float(keras.ops.convert_to_numpy(attention_matching_loss([(pairs[0][0], 3.0 * pairs[0][0])])))
    assert same < 1e-5


def test_attention_matching_loss_rejects_spatial_mismatch():
    with pytest.raises(ValueError, match="same spatial size"):
        attention_matching_loss([(np.zeros((1, 4, 4, 2), "float32"), np.zeros((1, 2, 2, 2), "float32"))])


def test_distribution_loss_matches_numpy():
    rng = np.random.default_rng(2)
    zt, zs = rng.normal(size=(4, 5)), rng.normal(size=(4, 5))
    temperature = 3.0

    def softmax(z):
        e = np.exp(z - z.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)

    pt, ps = softmax(zt / temperature), softmax(zs / temperature)
    ref = temperature**2 * np.mean(np.sum(pt * (np.log(pt) - np.log(ps)), axis=1))
    got = float(
        keras.ops.convert_to_numpy(distribution_loss(zt, zs, temperature=temperature, from_logits=True))
    )
    assert got == pytest.approx(ref, rel=1e-5)
    # Probabilities in (the zoo models end with a softmax) give the same loss.
    got_p = distribution_loss(softmax(zt), softmax(zs), temperature=temperature, from_logits=False)
    assert float(keras.ops.convert_to_numpy(got_p)) == pytest.approx(ref, rel=1e-4)


def _build(input_quantizer=None, kernel_quantizer=None, name="net"):
    """A tiny CNN; the same layer names whatever the quantizers (for weight copying)."""
    inp = keras.Input((6, 6, 1), name="input")
    x = keras.layers.Conv2D(4, 3, padding="same", name="stem")(inp)
    x = keras.layers.BatchNormalization(name="stem_bn")(x)
    x = QuantConv2D(
        8,
        3,
        padding="same",
        use_bias=False,
        input_quantizer=input_quantizer,
        kernel_quantizer=kernel_quantizer,
        name="features",
    )(x)
    x = keras.layers.BatchNormalization(name="features_bn")(x)
    x = keras.layers.GlobalAveragePooling2D(name="pool")(x)
    out = keras.layers.Dense(3, activation="softmax", name="logits")(x)
    return keras.Model(inp, out, name=name)


def _data(n=48, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, size=n)
    x = rng.normal(scale=0.3, size=(n, 6, 6, 1)).astype("float32")
    x[:, :2, :, 0] += (y == 0)[:, None, None]  # class-dependent bright bands
    x[:, 4:, :, 0] += (y == 1)[:, None, None]
    x[:, :, 4:, 0] += (y == 2)[:, None, None]
    return x, y


def _distiller(seed=0, **kwargs):
    keras.utils.set_random_seed(seed)
    teacher = _build(name="teacher")
    student = _build("ste_sign", "ste_sign", name="student")
    kwargs = {
        "feature_pairs": [("features_bn", "features_bn")],
        "alpha_kd": 1.0,
        "alpha_attention": 2.0,
        "temperature": 2.0,
        **kwargs,
    }
    distiller = Distiller(student, teacher, **kwargs)
    distiller.compile(
        optimizer=keras.optimizers.Adam(0.02), loss="sparse_categorical_crossentropy", metrics=["accuracy"]
    )
    return distiller, student, teacher


def test_distiller_trains_reports_components_and_freezes_teacher():
    x, y = _data()
    distiller, student, teacher = _distiller()
    teacher_before = [w.copy() for w in teacher.get_weights()]
    student_before = [w.copy() for w in student.get_weights()]
    history = distiller.fit(x, y, batch_size=16, epochs=6, verbose=0, shuffle=False)
    loss = history.history["loss"]
    for key in ("task_loss", "kd_loss", "attention_loss", "accuracy"):
        assert key in history.history, history.history.keys()
    assert loss[-1] < loss[0], loss
    assert history.history["attention_loss"][0] > 0.0
    for before, after in zip(teacher_before, teacher.get_weights()):
        np.testing.assert_array_equal(before, after)  # weights and BN statistics untouched
    assert any(not np.array_equal(b, a) for b, a in zip(student_before, student.get_weights()))
    # Only the student's variables are trainable through the distiller.
    assert {id(v) for v in distiller.trainable_variables} == {id(v) for v in student.trainable_variables}
    # evaluate: the total is the weighted sum of the reported components.
    logs = distiller.evaluate(x, y, batch_size=16, verbose=0, return_dict=True)
    total = logs["task_loss"] + 1.0 * logs["kd_loss"] + 2.0 * logs["attention_loss"]
    assert logs["loss"] == pytest.approx(total, rel=1e-4)


def test_distiller_weights_select_the_losses():
    x, y = _data(n=16)
    distiller, _, _ = _distiller(alpha_task=0.0, alpha_kd=0.0, alpha_attention=1.0)
    logs = distiller.evaluate(x, y, verbose=0, return_dict=True)
    assert logs["loss"] == pytest.approx(logs["attention_loss"], rel=1e-5)
    assert logs["kd_loss"] == 0.0 and logs["task_loss"] > 0.0


def test_student_saves_and_reloads_alone(tmp_path):
    x, y = _data(n=16)
    distiller, student, _ = _distiller()
    distiller.fit(x, y, batch_size=8, epochs=1, verbose=0)
    path = tmp_path / "student.keras"
    distiller.student.save(path)
    loaded = keras.saving.load_model(path)
    assert loaded.name == "student" and len(loaded.layers) == len(student.layers)
    np.testing.assert_allclose(
        loaded.predict(x, verbose=0), distiller.predict(x, verbose=0), rtol=1e-5, atol=1e-6
    )


def test_distiller_rejects_bad_arguments():
    teacher, student = _build(name="t"), _build(name="s")
    with pytest.raises(ValueError, match="no_such_layer"):
        Distiller(student, teacher, feature_pairs=[("no_such_layer", "features")])
    with pytest.raises(ValueError, match="Received: temperature=0"):
        Distiller(student, teacher, temperature=0)
    with pytest.raises(ValueError, match="Received: alpha_kd=-1"):
        Distiller(student, teacher, alpha_kd=-1)
    with pytest.raises(ValueError, match="different models"):
        Distiller(student, student)


def test_copy_weights_by_name():
    a, b = _build(name="a"), _build("ste_sign", "ste_sign", name="b")
    copied = copy_weights_by_name(a, b)
    assert set(copied) == {"stem", "stem_bn", "features", "features_bn", "logits"}
    for wa, wb in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_array_equal(wa, wb)
    inp = keras.Input((6, 6, 1))
    other = keras.Model(inp, keras.layers.Conv2D(2, 1, name="stem")(inp))  # same name, other shape
    with pytest.raises(ValueError, match="stem"):
        copy_weights_by_name(a, other, strict=True)


def test_real_to_binary_recipe_three_stages(monkeypatch):
    x, y = _data(n=16)
    keras.utils.set_random_seed(0)
    calls = []

    def build_fn(input_quantizer, kernel_quantizer):
        calls.append((input_quantizer, kernel_quantizer))
        return _build(input_quantizer, kernel_quantizer, name=f"stage{len(calls)}")

    teachers = []
    original = distillation.Distiller.__init__

    def spy(self, student, teacher, **kwargs):
        teachers.append(teacher.name)
        original(self, student, teacher, **kwargs)

    monkeypatch.setattr(distillation.Distiller, "__init__", spy)
    result = real_to_binary_recipe(
        build_fn,
        x,
        y,
        epochs=(1, 1, 0),
        batch_size=8,
        feature_layers=["features_bn"],
        optimizer=lambda: keras.optimizers.Adam(1e-2),
    )
    assert calls == [(None, None), ("ste_sign", None), ("ste_sign", "ste_sign")]
    assert teachers == ["stage1", "stage2"]  # stage 3 learns from stage 2, as in the paper
    assert set(result.histories) == {"stage1", "stage2", "stage3"}
    assert "attention_loss" in result.histories["stage2"].history
    # Stage 3 trained for 0 epochs: it is exactly the stage-2 network with binary weights.
    for w2, w3 in zip(result.stage2.get_weights(), result.student.get_weights()):
        np.testing.assert_array_equal(w2, w3)
    assert result.student.get_layer("features").kernel_precision == 1
    assert result.stage2.get_layer("features").kernel_precision is None
    assert result.teacher.trainable and result.stage2.trainable
