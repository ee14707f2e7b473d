"""The README's first command: ``kbnn demo`` (distilled binary CNN → .tflite → interpreter),
and the binarized MLP it started as."""

import time

import numpy as np
import pytest

import kbnn
from kbnn import cli, demo

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def test_digits_data_is_real_and_scaled():
    data = demo.load_digits_data()
    assert data.x_train.shape[1] == 64 and len(data.x_train) + len(data.x_test) == 1797
    assert data.x_train.min() == -1.0 and data.x_train.max() == 1.0
    # Stratified split: every class is present in the test set.
    assert set(np.unique(data.y_test)) == set(range(10))
    assert demo.as_images(data.x_test).shape == (len(data.x_test), 8, 8, 1)


def test_binary_mlp_layers_are_binary():
    model = demo.build_binary_mlp(hidden=32)
    quant = [l for l in model.layers if l.__class__.__name__ == "QuantDense"]
    assert len(quant) == 3
    assert all(l.kernel_precision == 1 for l in quant)
    # The first layer sees float pixels; all later dense layers are XNOR/popcount layers.
    assert quant[0].input_precision is None
    assert all(l.input_precision == 1 for l in quant[1:])


def test_binarized_mlp_reaches_90_percent_on_digits():
    start = time.perf_counter()
    result = demo.train_binary_mlp()
    seconds = time.perf_counter() - start
    print(
        f"\nbinarized MLP on digits: test accuracy {result.test_accuracy:.4f}, "
        f"fit {result.train_seconds:.1f} s, total {seconds:.1f} s"
    )
    assert result.test_accuracy >= 0.90
    # Hidden-layer kernels are binary in the forward pass: sign of the latent weights.
    dense = result.model.get_layer("dense_1")
    w = np.asarray(dense.kernel)
    assert np.all(np.abs(w) <= 1.0 + 1e-6)  # WeightClip keeps latent weights in [-1, 1]


def test_digits_cnn_student_is_binary_and_twin_is_float():
    student = demo.build_digits_cnn(binary=True)
    teacher = demo.build_digits_cnn(binary=False)
    # Same architecture, same layer names: weights copy by name, attention pairs are (n, n).
    assert [l.name for l in student.layers] == [l.name for l in teacher.layers]
    for name in demo.FEATURE_LAYERS:
        assert student.get_layer(name).output.shape == teacher.get_layer(name).output.shape
    s_convs = [l for l in student.layers if l.__class__.__name__ == "QuantConv2D"]
    t_convs = [l for l in teacher.layers if l.__class__.__name__ == "QuantConv2D"]
    assert len(s_convs) == len(demo.CNN_FILTERS) == len(t_convs)
    assert all(l.kernel_precision == 1 and l.input_precision == 1 for l in s_convs)
    assert all(l.kernel_quantizer is None for l in t_convs)
    # Float stem and float classifier.
    assert student.get_layer("stem_conv").__class__.__name__ == "Conv2D"
    assert student.get_layer("classifier").__class__.__name__ == "Dense"


def _check_demo_outputs(result, out):
    tflite = out / "m.tflite"
    assert tflite.is_file() and tflite.stat().st_size == result.kbnn_bytes
    assert tflite.read_bytes()[4:8] == b"TFL3"
    png = out / "kbnn_demo.png"
    assert png.is_file() and png.stat().st_size > 1000
    assert png.read_bytes()[:8] == PNG_SIGNATURE
    # The converted model predicts exactly what the Keras model predicts, on every test image.
    assert result.agreement == 1.0
    assert result.tflite_accuracy == result.keras_accuracy
    # Bitpacked weights: the kbnn file is several times smaller than its float twin.
    assert result.float_bytes > 4 * result.kbnn_bytes
    assert result.kbnn_latency_us > 0 and result.float_latency_us > 0
    # int8 in the comparison: the kbnn model with int8 non-binary layers and the int8 twin.
    assert (out / "m_int8.tflite").stat().st_size == result.int8_bytes > 0
    assert (out / "m_int8_twin.tflite").stat().st_size == result.int8_twin_bytes > 0
    assert result.int8_latency_us > 0 and result.int8_twin_latency_us > 0
    assert result.int8_twin_bytes < result.float_bytes / 2
    assert result.isa == kbnn.interpreter.kernel_isa() and result.cpu


def test_cnn_demo_end_to_end_reduced_budget(tmp_path):
    lines = []
    result = demo.run_cnn_demo(
        epochs=6, seed=0, out=str(tmp_path), progress=False, latency_runs=30, print_fn=lines.append
    )
    text = "\n".join(lines)
    print("\n" + text)
    _check_demo_outputs(result, tmp_path)
    assert result.keras_accuracy >= 0.90
    # int8 non-binary layers: at most ~2 test images lost at this reduced budget (the full-budget
    # test below holds the 0.5-point bar).
    assert result.int8_accuracy >= result.tflite_accuracy - 0.01
    assert "identical predictions Keras vs TFLite: 100.00%" in text
    for needle in (
        "binary CNN (TFLite)",
        "model size",
        "latency (median",
        "m.tflite",
        "TFLite runtime: ai_edge_litert ",
        f"kbnn kernel ISA: {result.isa}",
        "int8 twin/XNNPACK",
        "kbnn int8-rest",
        "int8 non-binary layers:",
    ):
        assert needle in text


@pytest.mark.slow
def test_cnn_demo_full_budget_reaches_95_percent(tmp_path):
    result = demo.run_cnn_demo(out=str(tmp_path), progress=False, latency_runs=100, print_fn=lambda *_: None)
    _check_demo_outputs(result, tmp_path)
    assert result.keras_accuracy >= 0.95
    assert result.int8_accuracy >= result.tflite_accuracy - 0.005  # int8-rest loses at most 0.5 points


def test_cli_demo_wires_its_options(monkeypatch, tmp_path):
    calls = []

    class Fake:
        test_accuracy, agreement = 0.99, 1.0

    def fake_run(**kwargs):
        calls.append(kwargs)
        return Fake()

    monkeypatch.setattr(demo, "run", fake_run)
    assert cli.main(["demo", "--epochs", "3", "--seed", "7", "--out", str(tmp_path), "--quiet"]) == 0
    assert calls == [dict(epochs=3, seed=7, out=str(tmp_path), verbose=0)]
    Fake.agreement = 0.99  # a .tflite that disagrees with Keras fails the command
    assert cli.main(["demo", "--epochs", "1"]) == 1
