"""ReActNet-A, ReActNet on Bi-Real-18 and BNext: the papers' op counts, layout, weights files, export.

Counting convention (the papers'): BOPs = binary MACs, FLOPs = the other conv/dense MACs, OPs =
BOPs / 64 + FLOPs; ``kbnn.summary``'s ``binary_macs`` / ``other_macs``.
"""

import warnings

import keras
import numpy as np
import pytest

import kbnn
from kbnn import models
from kbnn.layers import QuantConv2D, RPReLU
from kbnn.quantizers import RSign


def _counts(model):
    s = kbnn.summary(model, print_fn=None)
    return s.binary_macs, s.other_macs


def test_reactnet_a_counts_equal_the_paper():
    # ReActNet (Liu et al., ECCV 2020), Table 4: ReActNet-A 4.82e9 BOPs, 0.12e8 FLOPs, 0.87e8 OPs.
    bops, flops = _counts(models.ReActNetA())
    assert bops == 4_816_896_000 and flops == 11_862_016
    assert (round(bops / 1e9, 2), round(flops / 1e8, 2), round((bops / 64 + flops) / 1e8, 2)) == (
        4.82,
        0.12,
        0.87,
    )


def test_reactnet_resnet18_counts():
    # ReActNet, Table 4: the Bi-Real-18 based ReActNet has Bi-Real Net-18's 1.68e9 BOPs; its real
    # convolutions (7x7 stem, three 1x1 shortcuts, classifier) are 1.38e8 FLOPs by this convention.
    bops, flops = _counts(models.ReActNetResNet18())
    assert bops == 1_676_279_808 and flops == 137_793_536
    assert (round(bops / 1e9, 2), round(flops / 1e8, 2)) == (1.68, 1.38)


def test_bnext_t_counts():
    # BNext (Guo et al., arXiv:2211.12933): BNext-T has ReActNet-A's binary convolutions (4.82e9
    # BOPs); FLOPs add the squeeze-and-excitation 1x1 convs: 0.13e8, OPs 0.89e8.
    bops, flops = _counts(models.BNextT())
    assert bops == 4_816_896_000 and flops == 13_344_512
    assert (round(flops / 1e8, 2), round((bops / 64 + flops) / 1e8, 2)) == (0.13, 0.89)


def test_reactnet_a_layout_follows_the_paper():
    m = models.ReActNetA((32, 32, 3), 10, width=0.25)
    convs = [layer for layer in m.layers if isinstance(layer, QuantConv2D)]
    # 13 binary 3x3 convs, 8 single 1x1 and 5 doubling blocks with two concatenated 1x1 convs.
    assert len(convs) == 13 + 8 + 2 * 5
    assert all(isinstance(c.input_quantizer, RSign) for c in convs)
    assert len({id(c.input_quantizer) for c in convs}) == len(convs)  # no threshold shared by accident
    assert sum(isinstance(layer, RPReLU) for layer in m.layers) == 26
    assert [layer.name for layer in m.layers if layer.name.endswith("_concat")] == [
        f"block{i}_concat" for i in (1, 2, 4, 6, 12)
    ]
    assert [layer.name for layer in m.layers if layer.name.endswith("_pool") and "block" in layer.name] == [
        f"block{i}_pool" for i in (2, 4, 6, 12)
    ]
    assert isinstance(m.get_layer("stem_conv"), keras.layers.Conv2D) and not isinstance(
        m.get_layer("stem_conv"), QuantConv2D
    )


SMALL = [
    ("ReActNetA", lambda **k: models.ReActNetA((32, 32, 3), 10, width=0.125, **k)),
    ("ReActNetResNet18", lambda **k: models.ReActNetResNet18((32, 32, 3), 10, width=0.125, **k)),
    ("BNextT", lambda **k: models.BNextT((32, 32, 3), 10, width=0.125, **k)),
]


def _call(model, x):
    return keras.ops.convert_to_numpy(model(x, training=False))  # eager: no tf.function tracing


@pytest.mark.parametrize("name,build", SMALL, ids=[s[0] for s in SMALL])
def test_small_model_trains_round_trips_and_converts(name, build, tmp_path):
    keras.utils.set_random_seed(0)
    model = build()
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2, 32, 32, 3)).astype("float32")
    y = rng.integers(0, 10, size=2)
    model.compile(
        optimizer=keras.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy", run_eagerly=True
    )
    thresholds = [v for v in model.trainable_variables if "threshold" in v.path]
    before = [v.numpy().copy() for v in thresholds]
    assert np.isfinite(model.train_on_batch(x, y))
    assert any(not np.array_equal(b, v.numpy()) for b, v in zip(before, thresholds))  # RSign trains
    want = _call(model, x)
    if name == "ReActNetResNet18":  # weights= (one loader for the three builders; CI time)
        path = tmp_path / "w.weights.h5"
        model.save_weights(path)
        np.testing.assert_array_equal(_call(build(weights=str(path)), x), want)
    if name == "ReActNetA":  # .keras round trip (RSign thresholds, RPReLU); ChannelMix: test_reactnet_layers
        model.save(tmp_path / "m.keras")
        np.testing.assert_array_equal(_call(keras.saving.load_model(tmp_path / "m.keras"), x), want)
    # The export runs today; RSign is not yet on the converter's allowlist of binarizations, so the
    # binary convolutions stay float convolutions (reported, not silently dropped).
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        data, report = kbnn.convert(model, progress=False, return_report=True, batch_size=1)
    assert len(data) > 0
    unlowered = [r for r in report.layers if r.status == "float (not lowered)"]
    assert unlowered and all("RSign" in r.reason for r in unlowered), [(r.name, r.reason) for r in unlowered]


def test_weights_argument_errors(tmp_path):
    with pytest.raises(ValueError, match="must be None or the path"):
        models.ReActNetA((32, 32, 3), 10, width=0.25, weights=3)
    with pytest.raises(ValueError, match=r"named `\*\.weights\.h5`"):
        models.ReActNetA((32, 32, 3), 10, width=0.25, weights="imagenet")
    with pytest.raises(ValueError, match="does not exist"):
        models.BNextT((32, 32, 3), 10, width=0.25, weights=str(tmp_path / "missing.weights.h5"))
    models.ReActNetResNet18((32, 32, 3), 10, width=0.125).save_weights(tmp_path / "a.weights.h5")
    with pytest.raises(ValueError, match="Could not load"):
        models.ReActNetResNet18((32, 32, 3), 7, width=0.125, weights=str(tmp_path / "a.weights.h5"))
    with pytest.raises(ValueError, match="`size` must be one of"):
        models.BNext(size="huge")
