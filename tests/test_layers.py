"""Quantized layers: forward equivalence with Keras, padding, signatures, serialization, training."""

import inspect
import json

import keras
import numpy as np
import pytest
import tensorflow as tf

import kbnn
from kbnn import layers as kl
from kbnn import quantizers, variables

RNG = np.random.default_rng(0)


def np_sign(x):
    return np.where(x >= 0, 1.0, -1.0).astype(np.float32)


def rand(*shape):
    return RNG.standard_normal(shape).astype(np.float32)


# Quant layer -> Keras parent, the quantizer arguments, and an input shape of the right rank.
PAIRS = {
    kl.QuantDense: (keras.layers.Dense, ("kernel_quantizer",), (2, 6)),
    kl.QuantConv1D: (keras.layers.Conv1D, ("kernel_quantizer",), (2, 9, 4)),
    kl.QuantConv2D: (keras.layers.Conv2D, ("kernel_quantizer",), (2, 8, 7, 4)),
    kl.QuantConv3D: (keras.layers.Conv3D, ("kernel_quantizer",), (2, 5, 6, 5, 2)),
    kl.QuantDepthwiseConv2D: (keras.layers.DepthwiseConv2D, ("depthwise_quantizer",), (2, 8, 7, 4)),
    kl.QuantSeparableConv2D: (
        keras.layers.SeparableConv2D,
        ("depthwise_quantizer", "pointwise_quantizer"),
        (2, 8, 7, 4),
    ),
    kl.QuantConv2DTranspose: (keras.layers.Conv2DTranspose, ("kernel_quantizer",), (2, 5, 4, 4)),
}
QUANT_ARGS = {
    "input_quantizer",
    "kernel_quantizer",
    "depthwise_quantizer",
    "pointwise_quantizer",
    "pad_values",
}


def keras_twin(layer, **overrides):
    """The Keras parent layer with the same configuration, minus the quantization arguments."""
    config = {k: v for k, v in layer.get_config().items() if k not in QUANT_ARGS}
    config.update(overrides)
    config["name"] = layer.name + "_twin"
    return PAIRS[type(layer)][0].from_config(config)


# (class, constructor kwargs): strides, dilation, groups, padding modes, bias on/off.
FORWARD_CASES = [
    (kl.QuantDense, dict(units=5)),
    (kl.QuantDense, dict(units=3, use_bias=False, activation="relu")),
    (kl.QuantConv1D, dict(filters=4, kernel_size=3, strides=2, padding="same")),
    (kl.QuantConv1D, dict(filters=4, kernel_size=3, dilation_rate=2, groups=2)),
    (kl.QuantConv1D, dict(filters=2, kernel_size=3, padding="causal", use_bias=False)),
    (kl.QuantConv2D, dict(filters=4, kernel_size=3, strides=2, padding="same")),
    (kl.QuantConv2D, dict(filters=4, kernel_size=(3, 2), dilation_rate=(2, 1), groups=2, use_bias=False)),
    (kl.QuantConv3D, dict(filters=3, kernel_size=2, strides=(1, 2, 1), padding="same")),
    (kl.QuantDepthwiseConv2D, dict(kernel_size=3, strides=2, depth_multiplier=2, padding="same")),
    (kl.QuantDepthwiseConv2D, dict(kernel_size=3, dilation_rate=2, use_bias=False)),
    (kl.QuantSeparableConv2D, dict(filters=5, kernel_size=3, strides=2, depth_multiplier=2, padding="same")),
    (kl.QuantSeparableConv2D, dict(filters=3, kernel_size=2, dilation_rate=2, use_bias=False)),
    (kl.QuantConv2DTranspose, dict(filters=3, kernel_size=3, strides=2, padding="same")),
    (kl.QuantConv2DTranspose, dict(filters=2, kernel_size=3, strides=2, output_padding=1, use_bias=False)),
]


def _case_id(case):
    cls, kwargs = case
    return (
        cls.__name__ + "-" + "-".join(f"{k}={v}" for k, v in kwargs.items() if k not in ("filters", "units"))
    )


@pytest.mark.parametrize("case", FORWARD_CASES, ids=[_case_id(c) for c in FORWARD_CASES])
def test_binary_layer_equals_keras_layer_on_signs(case):
    cls, kwargs = case
    _, weight_args, shape = PAIRS[cls]
    layer = cls(
        input_quantizer="ste_sign",
        **{arg: "ste_sign" for arg in weight_args},
        bias_initializer="random_normal",
        **kwargs,
    )
    x = rand(*shape)
    y = keras.ops.convert_to_numpy(layer(x))

    twin = keras_twin(layer)
    twin.build(shape)
    # Kernels (every weight but the bias) binarized; the bias as is.
    weights = layer.get_weights()
    n_kernels = len(weight_args)
    twin.set_weights([np_sign(w) for w in weights[:n_kernels]] + weights[n_kernels:])
    expected = keras.ops.convert_to_numpy(twin(np_sign(x)))
    assert y.shape == expected.shape
    np.testing.assert_allclose(y, expected, atol=1e-5)
    # The latent weights are untouched floats, not the binarized values.
    assert not np.all(np.abs(weights[0]) == 1.0)


def _same_pad_widths(size, k, s, d):
    total = max((-(-size // s) - 1) * s + (k - 1) * d + 1 - size, 0)
    return (total // 2, total - total // 2)


PAD_CASES = [
    (kl.QuantConv1D, dict(filters=3, kernel_size=4, strides=2)),
    (kl.QuantConv2D, dict(filters=3, kernel_size=3, strides=2)),
    (kl.QuantConv2D, dict(filters=3, kernel_size=(2, 3), dilation_rate=2)),
    (kl.QuantConv3D, dict(filters=2, kernel_size=2)),
    (kl.QuantDepthwiseConv2D, dict(kernel_size=3, strides=2)),
    (kl.QuantSeparableConv2D, dict(filters=3, kernel_size=4)),
]


@pytest.mark.parametrize("case", PAD_CASES, ids=[_case_id(c) for c in PAD_CASES])
def test_pad_values_one_equals_explicit_ones_padding_then_valid(case):
    cls, kwargs = case
    _, weight_args, shape = PAIRS[cls]
    x = rand(*shape)
    layer = cls(padding="same", pad_values=1.0, bias_initializer="random_normal", **kwargs)
    y = keras.ops.convert_to_numpy(layer(x))

    rank = len(shape) - 2
    k = layer.kernel_size
    s, d = layer.strides, layer.dilation_rate
    widths = [(0, 0)] + [_same_pad_widths(shape[1 + i], k[i], s[i], d[i]) for i in range(rank)] + [(0, 0)]
    assert any(w != (0, 0) for w in widths)
    valid = keras_twin(layer, padding="valid")
    padded = np.pad(x, widths, constant_values=1.0)
    valid.build(padded.shape)
    valid.set_weights(layer.get_weights())
    expected = keras.ops.convert_to_numpy(valid(padded))
    np.testing.assert_allclose(y, expected, rtol=1e-5, atol=1e-5)

    # pad_values=0 is exactly the Keras layer with padding="same".
    zero = cls(padding="same", pad_values=0.0, **kwargs)
    zero.build(shape)
    zero.set_weights(layer.get_weights())
    same = keras_twin(layer)
    same.build(shape)
    same.set_weights(layer.get_weights())
    np.testing.assert_allclose(zero(x), same(x), rtol=1e-5, atol=1e-5)
    assert not np.allclose(zero(x), y)


def test_pad_values_one_with_causal_conv1d_left_pads_with_ones():
    x = rand(2, 7, 3)
    layer = kl.QuantConv1D(2, 3, dilation_rate=2, padding="causal", pad_values=1.0)
    y = keras.ops.convert_to_numpy(layer(x))
    valid = keras_twin(layer, padding="valid")
    padded = np.pad(x, [(0, 0), (4, 0), (0, 0)], constant_values=1.0)
    valid.build(padded.shape)
    valid.set_weights(layer.get_weights())
    np.testing.assert_allclose(y, valid(padded), rtol=1e-5, atol=1e-5)


def test_pad_values_one_with_unknown_spatial_size():
    layer = kl.QuantConv2D(2, 3, strides=2, padding="same", pad_values=1.0)
    inputs = keras.Input((None, None, 3))
    model = keras.Model(inputs, layer(inputs))
    x = rand(1, 7, 6, 3)
    valid = keras_twin(layer, padding="valid")
    padded = np.pad(x, [(0, 0), (1, 1), (0, 1), (0, 0)], constant_values=1.0)
    valid.build(padded.shape)
    valid.set_weights(layer.get_weights())
    np.testing.assert_allclose(model.predict(x, verbose=0), valid(padded), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda: kl.QuantConv2D(2, 3, padding="same", pad_values=0.5), "pad_values=0.5"),
        (lambda: kl.QuantConv2D(2, 3, padding="same", pad_values=True), "pad_values=True"),
        (lambda: kl.QuantConv2D(2, 3, padding="valid", pad_values=1.0), "padding='valid'"),
        (
            lambda: kl.QuantConv2DTranspose(2, 3, padding="same", pad_values=1.0),
            "only supports pad_values=0.0",
        ),
        (lambda: kl.QuantDense(2, pad_values=0.0), "has no `pad_values`"),
        (lambda: kl.QuantDense(2, kernel_quantizer="no_such_quantizer"), "no_such_quantizer"),
    ],
)
def test_invalid_arguments_say_what_was_received(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_keras_post_training_quantization_is_refused():
    layer = kl.QuantDense(2)
    layer.build((1, 3))
    with pytest.raises(NotImplementedError, match="mode='int8'"):
        layer.quantize("int8")


@pytest.mark.parametrize("cls", list(PAIRS), ids=lambda c: c.__name__)
def test_signature_matches_keras_parent(cls):
    parent = PAIRS[cls][0]
    ours = inspect.signature(cls.__init__).parameters
    theirs = inspect.signature(parent.__init__).parameters
    for name, p in theirs.items():
        if p.kind in (p.VAR_KEYWORD, p.VAR_POSITIONAL):
            continue
        assert name in ours, f"{cls.__name__} lacks Keras argument {name!r}"
        assert ours[name].default == p.default, f"{cls.__name__}.{name} default differs from Keras"
    # Positional callers see the Keras order first, then our extras.
    names = [n for n, p in ours.items() if p.kind is p.POSITIONAL_OR_KEYWORD]
    keras_names = [n for n, p in theirs.items() if p.kind is p.POSITIONAL_OR_KEYWORD]
    assert names[: len(keras_names)] == keras_names
    extras = set(names[len(keras_names) :])
    expected = {"input_quantizer", *PAIRS[cls][1]} | (set() if cls is kl.QuantDense else {"pad_values"})
    assert extras == expected
    assert "kwargs" in ours
    if "pad_values" in ours:
        assert ours["pad_values"].default == 0.0
    # Every extra round-trips through get_config.
    assert expected <= set(cls(**_minimal_args(cls)).get_config())


def _minimal_args(cls):
    if cls is kl.QuantDense:
        return {"units": 2}
    if cls is kl.QuantDepthwiseConv2D:
        return {"kernel_size": 1}
    return {"filters": 2, "kernel_size": 1}


def test_precision_properties_and_variable_tags():
    conv = kl.QuantConv2D(2, 3, input_quantizer="ste_sign", kernel_quantizer="ste_sign")
    conv.build((1, 5, 5, 3))
    assert conv.input_precision == 1 and conv.kernel_precision == 1
    assert variables.is_binary_variable(conv.kernel)
    assert variables.precision_of_variable(conv.bias) is None
    assert conv.weight_precisions() == {conv.kernel.path: 1, conv.bias.path: None}

    fp = kl.QuantDense(2, input_quantizer="ste_sign")
    fp.build((1, 3))
    assert fp.input_precision == 1 and fp.kernel_precision is None
    assert not variables.is_binary_variable(fp.kernel)

    sep = kl.QuantSeparableConv2D(2, 3, depthwise_quantizer="ste_sign")
    sep.build((1, 5, 5, 3))
    assert sep.depthwise_precision == 1 and sep.pointwise_precision is None and sep.kernel_precision is None
    assert sep.weight_precisions() == {
        sep.depthwise_kernel.path: 1,
        sep.pointwise_kernel.path: None,
        sep.bias.path: None,
    }
    sep2 = kl.QuantSeparableConv2D(2, 3, depthwise_quantizer="ste_sign", pointwise_quantizer=TwoBit())
    assert sep2.kernel_precision == 2

    dw = kl.QuantDepthwiseConv2D(3, depthwise_quantizer="ste_sign", use_bias=False)
    dw.build((1, 5, 5, 3))
    assert dw.depthwise_precision == 1 and dw.kernel_precision == 1
    assert dw.weight_precisions() == {dw.kernel.path: 1}

    # A plain callable without a declared precision counts as full precision.
    custom = kl.QuantDense(2, kernel_quantizer=lambda w: keras.ops.tanh(w))
    custom.build((1, 3))
    assert custom.kernel_precision is None


@keras.saving.register_keras_serializable(package="kbnn_test")
class TwoBit(quantizers.Quantizer):
    """Test quantizer declaring 2 bits (rounds to {-1.5, -0.5, 0.5, 1.5})."""

    precision = 2

    def call(self, inputs):
        q = keras.ops.clip(keras.ops.floor(inputs) + 0.5, -1.5, 1.5)
        return inputs + keras.ops.stop_gradient(q - inputs)


@keras.saving.register_keras_serializable(package="kbnn_test")
class ScaledSign(quantizers.Quantizer):
    """Stateful test quantizer: ``alpha * ste_sign(x)`` with a trainable ``alpha``."""

    precision = 1

    def build(self, input_shape):
        self.alpha = self.add_weight(name="alpha", shape=(), initializer="ones")

    def call(self, inputs):
        return keras.ops.cast(self.alpha, inputs.dtype) * quantizers.ste_sign(inputs)


def test_stateful_quantizer_is_tracked_and_trained():
    layer = kl.QuantDense(3, kernel_quantizer=ScaledSign(), input_quantizer="ste_sign")
    layer.build((2, 4))
    alpha = layer.kernel_quantizer.alpha
    assert any(v is alpha for v in layer.trainable_weights)
    assert layer.weight_precisions()[alpha.path] is None
    x = rand(2, 4)
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(layer(x) ** 2)
    grad = tape.gradient(loss, alpha.value)
    assert grad is not None and float(grad) != 0.0


def test_gradients_reach_latent_weights_through_the_ste():
    layer = kl.QuantConv2D(
        2, 3, padding="same", input_quantizer="ste_sign", kernel_quantizer="ste_sign", use_bias=False
    )
    x = tf.constant(rand(2, 5, 5, 3) * 0.8)
    layer.build(x.shape)
    latent = layer.kernel.numpy()
    latent[0, 0, 0, :] = 1.5  # outside the STE window: no gradient there
    layer.kernel.assign(latent)
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(x)
        y = layer(x)
        loss = tf.reduce_sum(y * tf.range(1.0, 1.0 + y.shape[-1]))
    g_kernel = tape.gradient(loss, layer.kernel.value).numpy()
    g_input = tape.gradient(loss, x).numpy()

    # Straight-through: the gradient w.r.t. the binary kernel / input, masked by |.| <= 1.
    wb, xb = tf.constant(np_sign(latent)), tf.constant(np_sign(x.numpy()))
    with tf.GradientTape(persistent=True) as tape:
        tape.watch([wb, xb])
        y_ref = tf.nn.conv2d(xb, wb, 1, "SAME")
        loss_ref = tf.reduce_sum(y_ref * tf.range(1.0, 1.0 + y_ref.shape[-1]))
    np.testing.assert_allclose(
        g_kernel, tape.gradient(loss_ref, wb).numpy() * (np.abs(latent) <= 1), atol=1e-5
    )
    np.testing.assert_allclose(
        g_input, tape.gradient(loss_ref, xb).numpy() * (np.abs(x.numpy()) <= 1), atol=1e-5
    )
    assert np.all(g_kernel[0, 0, 0, :] == 0) and np.any(g_kernel != 0)


def _functional_model():
    inputs = keras.Input((8, 8, 3))
    x = kl.QuantConv2D(
        4, 3, padding="same", pad_values=1.0, kernel_quantizer="ste_sign", kernel_constraint="weight_clip"
    )(inputs)
    x = kl.ShiftBatchNormalization()(x)
    x = kl.QuantDepthwiseConv2D(
        3, padding="same", pad_values=1.0, input_quantizer="ste_sign", depthwise_quantizer=ScaledSign()
    )(x)
    x = kl.QuantSeparableConv2D(
        4,
        3,
        strides=2,
        padding="same",
        input_quantizer="ste_sign",
        depthwise_quantizer="ste_sign",
        pointwise_quantizer=TwoBit(),
    )(x)
    x = kl.QuantConv2DTranspose(2, 2, strides=2, input_quantizer="ste_sign", kernel_quantizer="ste_sign")(x)
    x = keras.layers.Reshape((8, 16))(x)
    x = kl.QuantConv1D(
        3, 3, padding="causal", pad_values=1.0, input_quantizer="ste_sign", kernel_quantizer="ste_sign"
    )(x)
    x = keras.layers.Reshape((8, 3, 1, 1))(x)
    x = kl.QuantConv3D(
        2, 2, padding="same", pad_values=1.0, input_quantizer="ste_sign", kernel_quantizer="ste_sign"
    )(x)
    x = keras.layers.Flatten()(x)
    outputs = kl.QuantDense(
        3, input_quantizer="ste_sign", kernel_quantizer="ste_sign", kernel_regularizer="bipolar"
    )(x)
    return keras.Model(inputs, outputs)


def _sequential_model():
    return keras.Sequential(
        [
            keras.Input((6, 2)),
            kl.QuantConv1D(4, 3, padding="same", pad_values=1.0, kernel_quantizer=ScaledSign()),
            kl.ShiftBatchNormalization(momentum=0.5),
            keras.layers.Flatten(),
            kl.QuantDense(2, input_quantizer="ste_sign", kernel_quantizer="ste_sign"),
        ]
    )


def _perturb(model):
    """Make every weight (also quantizer state and BN statistics) non-default."""
    for v in model.weights:
        v.assign(
            keras.ops.cast(
                rand(*v.shape) * 0.5 + (1.0 if "variance" in v.path or "alpha" in v.path else 0.0), v.dtype
            )
        )


def _round_trip(model, x, tmp_path):
    _perturb(model)
    expected = model.predict(x, verbose=0)
    path = tmp_path / "model.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), expected)
    for a, b in zip(model.weights, loaded.weights):
        assert a.name == b.name
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    # Precision tags come back on reload (they are re-applied when the layer builds).
    for a, b in zip(model.layers, loaded.layers):
        assert type(a) is type(b)
        if isinstance(a, kl.QuantLayerMixin):
            # (Paths may gain a model prefix on reload; compare in weight order.)
            assert list(a.weight_precisions().values()) == list(b.weight_precisions().values())
            assert any(bits == 1 for bits in b.weight_precisions().values())
            assert json.loads(json.dumps(a.get_config())) == json.loads(json.dumps(b.get_config()))
    return loaded


def test_save_load_sequential(tmp_path):
    model = _sequential_model()
    loaded = _round_trip(model, rand(3, 6, 2), tmp_path)
    assert isinstance(loaded.layers[0].kernel_quantizer, ScaledSign)
    assert loaded.layers[0].weight_precisions()[loaded.layers[0].kernel.path] == 1


def test_save_load_functional(tmp_path):
    model = _functional_model()
    loaded = _round_trip(model, rand(2, 8, 8, 3), tmp_path)
    assert isinstance(loaded.layers[1].kernel_constraint, kbnn.constraints.WeightClip)
    assert isinstance(loaded.layers[-1].kernel_regularizer, kbnn.regularizers.Bipolar)


def test_save_load_mixed_precision(tmp_path):
    previous = keras.mixed_precision.dtype_policy()
    keras.mixed_precision.set_dtype_policy("mixed_float16")
    try:
        model = _functional_model()
        conv = model.layers[1]
        assert conv.compute_dtype == "float16" and conv.kernel.dtype == "float32"
        assert conv.kernel_quantizer.compute_dtype == "float16"
        assert model.output.dtype == "float16"
        _round_trip(model, rand(2, 8, 8, 3), tmp_path)
    finally:
        keras.mixed_precision.set_dtype_policy(previous)
    assert keras.mixed_precision.dtype_policy().name == previous.name


def test_fit_lowers_the_loss_and_keeps_latent_weights_float():
    keras.utils.set_random_seed(1)
    x = RNG.standard_normal((64, 6, 6, 1)).astype(np.float32)
    y = (x[:, :3].mean(axis=(1, 2, 3)) > x[:, 3:].mean(axis=(1, 2, 3))).astype(np.int32)
    model = keras.Sequential(
        [
            keras.Input((6, 6, 1)),
            kl.QuantConv2D(
                8,
                3,
                padding="same",
                pad_values=1.0,
                kernel_quantizer="ste_sign",
                kernel_constraint="weight_clip",
                use_bias=False,
            ),
            kl.ShiftBatchNormalization(),
            kl.QuantConv2D(
                8,
                3,
                strides=2,
                input_quantizer="ste_sign",
                kernel_quantizer="ste_sign",
                kernel_constraint="weight_clip",
                use_bias=False,
            ),
            keras.layers.Flatten(),
            kl.QuantDense(
                2, input_quantizer="ste_sign", kernel_quantizer="ste_sign", kernel_constraint="weight_clip"
            ),
        ]
    )
    model.compile(keras.optimizers.Adam(0.01), keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    history = model.fit(x, y, epochs=6, batch_size=16, verbose=0)
    losses = history.history["loss"]
    assert losses[-1] < 0.8 * losses[0], losses
    for layer in (model.layers[0], model.layers[2], model.layers[4]):
        kernel = layer.kernel.numpy()
        assert kernel.dtype == np.float32
        assert np.all(np.abs(kernel) <= 1.0)  # WeightClip held
        assert len(np.unique(kernel)) > 2  # latent, not binarized
