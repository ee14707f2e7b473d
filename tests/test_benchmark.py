"""kbnn.benchmark, `kbnn benchmark`, the delegate's profile option and summary(latency=True).

Structure only: no assertion compares timings between models or variants."""

import json

import numpy as np
import pytest

# kbnn.load_delegate / kbnn.Interpreter find the library through KBNN_DELEGATE_PATH (conftest.py).
pytestmark = pytest.mark.usefixtures("delegate_env")


def _model():
    import keras

    import kbnn

    keras.utils.set_random_seed(3)
    kw = dict(
        input_quantizer="ste_sign",
        kernel_quantizer="ste_sign",
        kernel_constraint="weight_clip",
        use_bias=False,
    )
    inp = keras.Input((12, 12, 3))
    x = keras.layers.Conv2D(16, 3, padding="same", name="stem")(inp)
    x = kbnn.layers.QuantConv2D(40, 3, padding="same", name="b1", **kw)(x)
    x = keras.layers.BatchNormalization(name="bn1")(x)
    x = keras.layers.MaxPooling2D(2, name="pool1")(x)
    x = kbnn.layers.QuantConv2D(32, 3, padding="same", name="b2", **kw)(x)
    x = keras.layers.BatchNormalization(name="bn2")(x)
    x = keras.layers.Flatten(name="flat")(x)
    x = kbnn.layers.QuantDense(10, name="fc", **kw)(x)
    return keras.Model(inp, x, name="tiny")


@pytest.fixture(scope="module")
def converted():
    import kbnn

    model = _model()
    data, report = kbnn.convert(model, progress=False, return_report=True)
    return model, data, report


def _kbnn_nodes(data):
    import kbnn

    it = kbnn.Interpreter(data, num_threads=1)
    return {
        d["index"]: d["op_name"] for d in it.interpreter._get_ops_details() if d["op_name"].startswith("Kbnn")
    }


def test_benchmark_structure(converted):
    import kbnn

    _, data, _ = converted
    r = kbnn.benchmark(data, num_threads=1, runs=7, warmup=2)
    assert r.runs == 7 and len(r.samples_ms) == 7 and len(r.warmup_ms) == 2
    assert all(t > 0 for t in r.samples_ms + r.warmup_ms)
    assert r.p10_ms <= r.median_ms <= r.p90_ms
    assert r.min_ms <= r.median_ms
    nodes = _kbnn_nodes(data)
    assert len(nodes) >= 4
    assert {o.node: o.op for o in r.ops} == nodes  # one entry per kbnn op, none other
    for o in r.ops:
        assert o.count == 7
        assert 0 < o.p10_ms <= o.median_ms <= o.p90_ms
        assert o.output_shape and o.output_shape[0] == 1
    assert r.kbnn_ms > 0
    assert {b[1] for b in r.builtin_ops} >= {"CONV_2D"}
    d = json.loads(json.dumps(r.to_dict()))
    assert d["ops"][0]["op"] == r.ops[0].op
    text = r.to_text()
    assert "KbnnBconv2d" in text and "median" in text
    assert r.runtime.startswith("ai_edge_litert ") and f"runtime={r.runtime}" in text.splitlines()[0]
    assert r.isa == kbnn.interpreter.kernel_isa() and f"isa={r.isa}" in text.splitlines()[0]


def test_builtin_groups_tile_the_invoke(converted):
    """The builtin ops are timed per group (the gaps around the kbnn nodes, from the delegate's
    node start/end times): the stem CONV_2D before the first kbnn node, each builtin in one group."""
    import kbnn

    _, data, _ = converted
    r = kbnn.benchmark(data, num_threads=1, runs=5, warmup=1)
    assert r.groups and not r.groups_note, r.groups_note
    kbnn_nodes = {o.node for o in r.ops}
    for g in r.groups:
        assert g.count == 5 and 0 <= g.p10_ms <= g.median_ms <= g.p90_ms
        assert g.after is None or g.after in kbnn_nodes
        assert g.before is None or g.before in kbnn_nodes
        assert all(b in r.builtin_ops for b in g.ops)
    first = r.groups[0]
    assert first.after is None and [o[1] for o in first.ops] == ["CONV_2D"]
    assert r.groups[-1].before is None
    # every builtin op of the plan is in exactly one group
    assert sorted(b for g in r.groups for b in g.ops) == sorted(r.builtin_ops)
    assert sum(g.median_ms for g in r.groups) <= r.median_ms
    assert "builtin: CONV_2D" in r.to_text() and "builtin groups" in r.to_text()


def test_gaps_tile_each_invoke_and_refuse_a_foreign_clock():
    from kbnn_runtime.benchmark import _gaps

    nodes = [
        {"node": 4, "op": "KbnnBconv2d", "ns": 30, "count": 1, "start_ns": 1100, "end_ns": 1130},
        {"node": 1, "op": "KbnnQuantize", "ns": 20, "count": 1, "start_ns": 1050, "end_ns": 1070},
    ]
    gaps, why = _gaps(nodes, 1000, 1200)
    assert why == "" and gaps == [((None, 1), 50), ((1, 4), 30), ((4, None), 70)]
    assert sum(ns for _, ns in gaps) + sum(n["ns"] for n in nodes) == 200  # tiles the invoke exactly
    assert _gaps([], 5, 9) == ([((None, None), 4)], "")
    gaps, why = _gaps(nodes, 2000, 3000)  # node times before the invoke: another clock
    assert gaps == [] and "clock" in why
    gaps, why = _gaps([{"node": 1, "op": "KbnnQuantize", "ns": 1, "count": 1}], 0, 9)
    assert gaps == [] and "start/end" in why


def test_benchmark_path_threads_kernel_and_inputs(converted, tmp_path):
    import kbnn

    _, data, _ = converted
    path = tmp_path / "m.tflite"
    path.write_bytes(data)
    x = np.zeros((1, 12, 12, 3), np.float32)
    r = kbnn.benchmark(str(path), num_threads=2, runs=3, warmup=0, kernel="reference", inputs=[x])
    assert r.num_threads == 2 and r.kernel == "reference" and r.model == str(path)
    assert r.warmup_ms == [] and len(r.ops) == len(_kbnn_nodes(data))
    with pytest.raises(ValueError, match="runs"):
        kbnn.benchmark(data, runs=0)
    with pytest.raises(ValueError, match="warmup"):
        kbnn.benchmark(data, warmup=-1)
    with pytest.raises(kbnn.interpreter.ModelError):
        kbnn.benchmark(b"not a model at all")


def test_delegate_profile_option_validated():
    import kbnn

    runtime = kbnn.interpreter._runtime()
    with pytest.raises(ValueError, match="profile"):
        runtime.load_delegate(kbnn.interpreter.delegate_path(), {"profile": "bad id!"})
    with pytest.raises(ValueError, match="profile"):
        runtime.load_delegate(kbnn.interpreter.delegate_path(), {"profile": ""})


def test_cli_benchmark(converted, tmp_path, capsys):
    from kbnn import cli

    _, data, _ = converted
    path = tmp_path / "m.tflite"
    path.write_bytes(data)
    assert cli.main(["benchmark", str(path), "--threads", "1", "--runs", "3", "--warmup", "1"]) == 0
    out = capsys.readouterr().out
    assert "KbnnBconv2d" in out and "invoke: median" in out
    assert "runtime=ai_edge_litert " in out.splitlines()[0]
    assert cli.main(["benchmark", str(path), "--runs", "2", "--warmup", "0", "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["runs"] == 2 and d["ops"]
    assert cli.main(["benchmark", str(tmp_path / "missing.tflite")]) == 2


def test_summary_latency_column(converted):
    import kbnn

    model, _, report = converted
    plain = kbnn.summary(model, print_fn=None)
    assert plain.benchmark is None and plain.latency_ms is None
    assert "Latency" not in plain.to_text()

    lines = []
    s = kbnn.summary(model, print_fn=lines.append, latency=True, num_threads=1, runs=5, warmup=1)
    text = lines[0]
    assert "Latency (ms)" in text and "kbnn ops" in text
    rows = {r.name: r for r in s.layers}
    for name in ("b1", "pool1", "b2", "fc"):  # every lowered layer has its own measured time
        assert report.row(name).status == "lowered"
        assert rows[name].latency_ms is not None and rows[name].latency_ms > 0, name
    assert rows["bn1"].latency_ms is None and rows["bn1"].latency_note == "in b1"
    # the builtin stem conv: timed with its group (before the first kbnn node), listed under the table
    assert rows["stem"].latency_note == "group 0"
    assert "builtin group 0 (at the start): " in text and "CONV_2D" in text
    # Every kbnn op was attributed to a layer, so the rows add up to the sum of the op medians.
    assert all(o.layer for o in s.benchmark.ops)
    total = sum(r.latency_ms or 0.0 for r in s.layers)
    assert total == pytest.approx(sum(o.median_ms for o in s.benchmark.ops))
    assert 0 < total <= 3 * max(s.benchmark.samples_ms)
    assert s.latency_ms == s.benchmark.median_ms > 0
    # Non-timed columns are the same as without latency.
    assert [r.binary_macs for r in s.layers] == [r.binary_macs for r in plain.layers]
