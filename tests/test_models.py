"""Model zoo: every model builds and trains a step; MAC counts against hand formulas."""

import keras
import numpy as np
import pytest

import kbnn
from kbnn import models
from kbnn.layers import QuantConv2D, QuantDense


def _train_one_step(model, num_classes, batch=2, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(batch, *model.input_shape[1:])).astype("float32")
    y = rng.integers(0, num_classes, size=batch)
    model.compile(
        optimizer=keras.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy", run_eagerly=True
    )
    before = [v.numpy().copy() for v in model.trainable_variables]
    loss = model.train_on_batch(x, y)
    assert np.isfinite(loss)
    changed = sum(not np.array_equal(b, v.numpy()) for b, v in zip(before, model.trainable_variables))
    assert changed >= 0.9 * len(before), f"only {changed}/{len(before)} variables moved"
    out = model.predict(x, verbose=0)
    assert out.shape == (batch, num_classes)
    np.testing.assert_allclose(out.sum(axis=1), 1.0, rtol=1e-4)


# Small inputs where the architecture allows it (the layer structure is the published one).
SMALL = [
    ("BinaryNetMLP", lambda: models.BinaryNetMLP((8, 8, 1), 10, hidden_units=(64, 64, 64)), 10),
    ("BinaryNetCNN", lambda: models.BinaryNetCNN((8, 8, 3), 10), 10),
    ("BiRealNet18", lambda: models.BiRealNet18((32, 32, 3), 10), 10),
    ("RealToBinaryNet18", lambda: models.RealToBinaryNet18((32, 32, 3), 10), 10),
    ("XNORNet", lambda: models.XNORNet((64, 64, 3), 10), 10),
]


@pytest.mark.parametrize("name,build,num_classes", SMALL, ids=[s[0] for s in SMALL])
def test_model_builds_and_trains_one_step(name, build, num_classes):
    keras.utils.set_random_seed(0)
    _train_one_step(build(), num_classes)


def test_first_and_last_layers_stay_real_as_in_the_papers():
    # Bi-Real / Real-to-Binary / XNOR-Net: real stem and classifier, everything else binary.
    for model in (
        models.BiRealNet18((32, 32, 3), 10),
        models.RealToBinaryNet18((32, 32, 3), 10),
        models.XNORNet((64, 64, 3), 10),
    ):
        quant = [l for l in model.layers if isinstance(l, (QuantConv2D, QuantDense))]
        assert quant and all(l.input_precision == 1 and l.kernel_precision == 1 for l in quant), model.name
        real = [
            l
            for l in model.layers
            if isinstance(l, (keras.layers.Conv2D, keras.layers.Dense)) and l not in quant
        ]
        first_mac = next(l for l in model.layers if isinstance(l, (keras.layers.Conv2D, keras.layers.Dense)))
        last_mac = [l for l in model.layers if isinstance(l, (keras.layers.Conv2D, keras.layers.Dense))][-1]
        assert first_mac in real and last_mac in real, model.name
    # BinaryNet: binary weights everywhere, real pixels into the first layer only.
    model = models.BinaryNetCNN((8, 8, 3), 10)
    quant = [l for l in model.layers if isinstance(l, (QuantConv2D, QuantDense))]
    assert len(quant) == 9 and all(l.kernel_precision == 1 for l in quant)
    assert quant[0].input_precision is None and all(l.input_precision == 1 for l in quant[1:])
    assert isinstance(quant[0].kernel_constraint, kbnn.constraints.WeightClip)


def test_real_valued_variants_have_no_binary_macs():
    model = models.RealToBinaryNet18((32, 32, 3), 10, input_quantizer=None, kernel_quantizer=None)
    assert kbnn.summary(model, print_fn=None).binary_macs == 0


def test_zoo_rejects_bad_arguments():
    with pytest.raises(ValueError, match="Received: input_shape"):
        models.BiRealNet18((32, 32), 10)
    with pytest.raises(ValueError, match="Received: num_classes=0"):
        models.BinaryNetCNN((32, 32, 3), 0)
    with pytest.raises(ValueError, match="Received: input_shape"):
        models.XNORNet((32, 32, 3), 10)


# ----------------------------------------------------------------------------- MAC counts
# Hand formulas from the published architectures (per image; MACs = output positions ×
# kernel size). "binary" = 1-bit activations × 1-bit weights.


def _resnet18_macs(h, num_classes):
    """(binary, real) MACs of the Bi-Real / Real-to-Binary ResNet-18 layout at h×h×3."""
    stem_out = -(-h // 2)
    real = stem_out**2 * 7 * 7 * 3 * 64 + 512 * num_classes
    r = -(-stem_out // 2)  # after the 3×3/2 max pool
    binary, c_in = 0, 64
    for s, f in enumerate((64, 128, 256, 512)):
        if s:
            r = -(-r // 2)
            real += r * r * c_in * f  # 1×1 shortcut conv after 2×2 average pooling
        binary += r * r * 9 * c_in * f + 3 * r * r * 9 * f * f
        c_in = f
    return binary, real


def _gates_macs():
    """Real-to-Binary gates (r = 8): in → in/8 → out dense layers, 16 of them."""
    total, c_in = 0, 64
    for f in (64, 128, 256, 512):
        for c in (c_in, f, f, f):
            total += c * (c // 8) + (c // 8) * f
        c_in = f
    return total


def _binarynet_cnn_macs(h, w):
    binary = (
        h * w * 9 * 128 * 128
        + (h // 2) * (w // 2) * 9 * (128 * 256 + 256 * 256)
        + (h // 4) * (w // 4) * 9 * (256 * 512 + 512 * 512)
        + (h // 8) * (w // 8) * 512 * 1024
        + 1024 * 1024
        + 1024 * 10
    )
    real = h * w * 9 * 3 * 128
    return binary, real


def _check(model, binary, real):
    s = kbnn.summary(model, print_fn=None)
    assert s.binary_macs == binary, (model.name, s.binary_macs, binary)
    assert s.other_macs == real, (model.name, s.other_macs, real)
    assert all(row.macs is not None for row in s.layers), [r.name for r in s.layers if r.macs is None]
    return s


def test_macs_binarynet_cnn_cifar10():
    binary, real = _binarynet_cnn_macs(32, 32)
    assert binary == 613_427_200 and real == 3_538_944
    s = _check(models.BinaryNetCNN((32, 32, 3), 10), binary, real)
    assert s.binary_mac_fraction >= 0.95  # 99.4 %


def test_macs_small_inputs_fast():
    """Same formulas at small inputs (fast representative of the paper-size checks)."""
    _check(models.BinaryNetCNN((16, 16, 3), 10), *_binarynet_cnn_macs(16, 16))
    _check(models.BiRealNet18((32, 32, 3), 10), *_resnet18_macs(32, 10))
    binary, real = _resnet18_macs(32, 10)
    _check(models.RealToBinaryNet18((32, 32, 3), 10), binary, real + _gates_macs())


def test_macs_binarynet_mlp_mnist():
    binary = 4096 * 4096 * 2 + 4096 * 10
    real = 784 * 4096  # the first layer reads real pixels
    s = _check(models.BinaryNetMLP((28, 28, 1), 10), binary, real)
    assert s.binary_mac_fraction == pytest.approx(binary / (binary + real))  # 91.3 %


def test_macs_bireal_net18_imagenet():
    binary, real = _resnet18_macs(224, 1000)
    assert binary == 1_676_279_808 and real == 137_793_536
    s = _check(models.BiRealNet18((224, 224, 3), 1000), binary, real)
    # The paper's cost model (Liu et al. 2018, Table 4): 1.68e9 BOPs, FLOPs = real + BOPs/64 = 1.63e8.
    assert binary == pytest.approx(1.68e9, rel=0.01)
    assert real + binary / 64 == pytest.approx(1.63e8, rel=0.02)
    # 92.4 % binary: the real stem (118 M MACs) alone is 6.5 % of the total, so the 95 %
    # mark is out of reach for the published ResNet-18 layout.
    assert s.binary_mac_fraction == pytest.approx(0.924, abs=0.001)


def test_macs_real_to_binary_net18_imagenet():
    binary, real = _resnet18_macs(224, 1000)
    real += _gates_macs()
    s = _check(models.RealToBinaryNet18((224, 224, 3), 1000), binary, real)
    assert s.binary_mac_fraction == pytest.approx(0.924, abs=0.001)


def test_macs_xnornet_imagenet():
    binary = (
        27 * 27 * 5 * 5 * 96 * 256
        + 13 * 13 * 9 * (256 * 384 + 384 * 384 + 384 * 256)
        + 9216 * 4096
        + 4096 * 4096
    )
    real = 56 * 56 * 11 * 11 * 3 * 96 + 4096 * 1000
    _check(models.XNORNet((224, 224, 3), 1000), binary, real)


# ----------------------------------------------------------------------------- examples


def _load_example(name):
    import importlib.util
    import pathlib

    path = pathlib.Path(__file__).resolve().parents[1] / "examples" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"example_{name}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_examples_import_and_build_without_data():
    cifar = _load_example("cifar10_binarynet")
    assert "NOT RUN HERE" in cifar.__doc__ and cifar.REPORTED_TEST_ERROR == {
        "theano": 0.1140,
        "torch7": 0.1015,
    }
    model = cifar.build_model((8, 8, 3), 10, loss="hinge")
    assert model.layers[-1].name == "bn_out"  # square hinge on the batch-normalised scores
    assert cifar.build_model((8, 8, 3), 10, loss="xent").layers[-1].name == "softmax"
    r2b = _load_example("imagenet_real_to_binary")
    assert "NOT RUN HERE" in r2b.__doc__
    student = r2b.build_fn("ste_sign", "ste_sign", input_shape=(32, 32, 3), num_classes=5)
    teacher = r2b.build_fn(None, None, input_shape=(32, 32, 3), num_classes=5)
    for name in r2b.ATTENTION_LAYERS:
        assert student.get_layer(name).output.shape == teacher.get_layer(name).output.shape
    kbnn.distillation.Distiller(student, teacher, feature_pairs=[(n, n) for n in r2b.ATTENTION_LAYERS])


@pytest.mark.slow  # ~25 s: graph tracing of the 32×32 network on a shared CPU
def test_cifar10_recipe_runs_on_stand_in_data(monkeypatch, tmp_path):
    """The training function end to end on 20 random 32×32 images (no CIFAR-10 here)."""
    cifar = _load_example("cifar10_binarynet")
    rng = np.random.default_rng(0)

    def fake_load_data(subset=None):
        x = rng.uniform(-1, 1, size=(20, 32, 32, 3)).astype("float32")
        y = rng.integers(0, 10, size=20)
        return (x, y), (x[:10], y[:10])

    monkeypatch.setattr(cifar, "load_data", fake_load_data)
    keras.utils.set_random_seed(0)
    model, error = cifar.train(epochs=1, batch_size=10, loss="hinge", model_path=str(tmp_path / "m.keras"))
    assert 0.0 <= error <= 1.0
    assert (tmp_path / "m.keras").exists()
