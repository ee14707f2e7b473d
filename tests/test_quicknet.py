"""kbnn.models.QuickNet* against Larq Zoo 2.4 (fixture: Larq Zoo's QuickNet factory at CI size,
random weights and batch-norm statistics, tests/fixtures/larq/quicknet_tiny*). The full-size
models are checked layer by layer by scripts/larq_zoo_check.py in the LCE environment."""

import warnings
from pathlib import Path

import numpy as np
import pytest

FIXTURES = Path(__file__).parent / "fixtures" / "larq"


def _tiny(weights):
    from kbnn.models.quicknet import _quicknet

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return _quicknet("quicknet_tiny", (1, 2), (16, 32), (32, 32, 3), 10, True, weights)


@pytest.mark.parametrize("weights", ["quicknet_tiny_weights.h5", "quicknet_tiny.h5"])
def test_larq_zoo_weights_give_larq_zoo_outputs(weights):
    data = np.load(FIXTURES / "quicknet_tiny.npz")
    model = _tiny(FIXTURES / weights)
    got = np.asarray(model(data["inputs"], training=False))
    np.testing.assert_allclose(got, data["larq"], rtol=1e-5, atol=2e-6)
    np.testing.assert_array_equal(got.argmax(-1), data["larq"].argmax(-1))


def test_converted_quicknet_and_lce_file(delegate_env, tmp_path):
    import kbnn

    data = np.load(FIXTURES / "quicknet_tiny.npz")
    model = _tiny(FIXTURES / "quicknet_tiny_weights.h5")
    kbnn.convert(model, str(tmp_path / "q.tflite"), progress=False)
    got = np.asarray(kbnn.Interpreter(tmp_path / "q.tflite").predict(data["inputs"]))
    np.testing.assert_allclose(got, data["larq"], rtol=1e-5, atol=2e-6)
    np.testing.assert_array_equal(got.argmax(-1), data["larq"].argmax(-1))
    lce = kbnn.Interpreter(FIXTURES / "quicknet_tiny.tflite")
    got = np.stack([np.asarray(lce.predict(x[None]))[0] for x in data["inputs"]])
    np.testing.assert_allclose(got, data["lce"], rtol=1e-5, atol=2e-6)


def test_public_builders_and_wrong_weight_file(tmp_path):
    import kbnn
    from kbnn.compat import LarqImportError

    small = kbnn.models.QuickNetSmall(input_shape=(64, 64, 3), num_classes=7)
    assert small.output_shape == (None, 7)
    assert [
        l.filters
        for l in small.layers
        if type(l).__name__ == "QuantConv2D" and l.kernel_quantizer is not None
    ][::4] == [32, 64, 256, 512]
    notop = kbnn.models.QuickNetLarge(input_shape=(32, 32, 3), include_top=False)
    assert sum(type(l).__name__ == "Add" for l in notop.layers) == 6 + 8 + 12 + 6
    with pytest.raises(LarqImportError, match="architectures differ"):
        kbnn.models.QuickNet(
            input_shape=(32, 32, 3), num_classes=10, weights=FIXTURES / "quicknet_tiny_weights.h5"
        )
    with pytest.raises(LarqImportError, match="architectures differ"):
        kbnn.models.BiRealNet18(
            input_shape=(32, 32, 3), num_classes=10, weights=FIXTURES / "quicknet_tiny_weights.h5"
        )
    with pytest.raises(LarqImportError, match="Cannot read"):
        kbnn.models.QuickNet(weights=FIXTURES / "larq_only.npz")
    import h5py

    with h5py.File(tmp_path / "empty.h5", "w") as f:
        f.create_group("x")
    with pytest.raises(LarqImportError, match="no layer_names"):
        kbnn.models.QuickNet(weights=tmp_path / "empty.h5")


def test_blurpool_initializer():
    import keras

    from kbnn.models.quicknet import BlurPool

    k = np.asarray(BlurPool()((3, 3, 2, 1)))
    np.testing.assert_allclose(k[:, :, 0, 0], np.outer([1, 2, 1], [1, 2, 1]) / 16)
    assert keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(BlurPool()))
    with pytest.raises(ValueError, match="2, 3 or 5"):
        BlurPool()((4, 4, 1, 1))
