"""Issue 22, item 7: file-level fuzz of the runtime (tests/support/fuzz_files.py). Mutated .tflite files
(LCE fixtures and hand-built kbnn models: option bytes, shapes, output shapes, dtypes, quantization
scales / zero points, builtin options, operator inputs) run in child processes; every case must be
rejected with a clear exception or give identical results for reference vs optimized kernels,
1 vs 2 threads and one batch-2 run vs two batch-1 runs. No signal, no hang.

Default run: a seeded sample (KBNN_FUZZ_FILES cases, default 250: about a minute on 2 cores).
``KBNN_NIGHTLY=1`` or ``-m slow``: test_fuzz_files_nightly runs KBNN_FUZZ_FILES_NIGHTLY (default 4000)
with another seed.
"""

from __future__ import annotations

import collections
import os
from pathlib import Path

import numpy as np
import pytest

import kbnn_runtime
from support import fuzz_files
from support import tflite_builder as tb
from support.crash_models import CASES as CRASH_CASES
from support.tflite_builder import FLOAT32, INT8, INT32, fb

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures" / "larq"
RUNTIME_PATH = str(Path(kbnn_runtime.__file__).resolve().parents[1])
pytestmark = pytest.mark.usefixtures("delegate_env")


def _kbnn_chain(cin=40, cout=33, h=6, t_out=0, int8_in=False):
    """x -> KbnnQuantize -> KbnnBconv2d (bitpacked) -> KbnnBMaxPool2d -> KbnnBconv2d -> out."""
    rng = np.random.default_rng(cin * 7 + h)
    mb = tb.ModelBuilder()
    x = mb.tensor((1, h, h, cin), INT8 if int8_in else FLOAT32, name="x")
    if int8_in:
        mb.quantize(x, [0.05], [3])
    q = mb.tensor((1, h, h, tb.words(cin)), INT32)
    mb.custom("KbnnQuantize", [x], [q], dict(kbnn_version=1))
    f1 = rng.standard_normal((cout, 3, 3, cin)).astype(np.float32)
    c1 = tb.add_bconv(
        mb,
        q,
        1,
        h,
        h,
        f1,
        rng.uniform(0.5, 1.5, cout).astype(np.float32),
        rng.standard_normal(cout).astype(np.float32),
        out_shape=(1, h, h, tb.words(cout)),
        T=2,
        padding="SAME",
    )
    p = mb.tensor((1, h // 2, h // 2, tb.words(cout)), INT32)
    mb.custom(
        "KbnnBMaxPool2d",
        [c1],
        [p],
        dict(
            kbnn_version=1,
            channels=cout,
            filter_height=2,
            filter_width=2,
            stride_height=2,
            stride_width=2,
            padding="VALID",
        ),
    )
    f2 = rng.standard_normal((8, 2, 2, cout)).astype(np.float32)
    y = tb.add_bconv(
        mb,
        p,
        1,
        h // 2,
        h // 2,
        f2,
        rng.uniform(0.5, 1.5, 8).astype(np.float32),
        rng.standard_normal(8).astype(np.float32),
        out_shape=(1, h // 2 - 1, h // 2 - 1, 8),
        T=t_out,
    )
    if t_out == 9:
        mb.quantize(y, [1.0], [0])
    return mb.build([x], [y])


def _kbnn_dense(k=70, cout=12):
    rng = np.random.default_rng(k)
    mb = tb.ModelBuilder()
    x = mb.tensor((1, k), FLOAT32, name="x")
    q = mb.tensor((1, tb.words(k)), INT32)
    mb.custom("KbnnQuantize", [x], [q], dict(kbnn_version=1))
    w = mb.tensor((cout, tb.words(k)), INT32, tb.pack(rng.standard_normal((cout, k))))
    m = mb.tensor((cout,), FLOAT32, rng.uniform(0.5, 1.5, cout))
    b = mb.tensor((cout,), FLOAT32, rng.standard_normal(cout))
    y = mb.tensor((1, cout), FLOAT32, name="y")
    mb.custom(
        "KbnnBFullyConnected",
        [q, w, m, b],
        [y],
        dict(
            kbnn_version=1,
            input_size=k,
            activation="RELU",
            clamp_min=float("-inf"),
            clamp_max=float("inf"),
            T=0,
            int8_scale=1.0,
            int8_zero_point=0,
        ),
    )
    return mb.build([x], [y])


def _builtin_int8():
    """QUANTIZE -> int8 MAX_POOL_2D -> DEQUANTIZE: builtin ops with quantization parameters."""
    mb = tb.ModelBuilder()
    x = mb.tensor((1, 6, 6, 4), FLOAT32, name="x")
    q = mb.tensor((1, 6, 6, 4), INT8)
    mb.quantize(q, [0.05], [2])
    p = mb.tensor((1, 3, 3, 4), INT8)
    mb.quantize(p, [0.05], [2])
    y = mb.tensor((1, 3, 3, 4), FLOAT32, name="y")
    mb.builtin(fb.BuiltinOperator.QUANTIZE, [x], [q])
    o = fb.Pool2DOptionsT()
    o.padding, o.strideH, o.strideW, o.filterHeight, o.filterWidth = fb.Padding.VALID, 2, 2, 2, 2
    mb.builtin(fb.BuiltinOperator.MAX_POOL_2D, [q], [p], fb.BuiltinOptions.Pool2DOptions, o)
    mb.builtin(fb.BuiltinOperator.DEQUANTIZE, [p], [y])
    return mb.build([x], [y])


def seed_models() -> dict:
    seeds = {
        f.stem: f.read_bytes()
        for f in sorted(FIXTURES.glob("*.tflite"))
        if f.stem in ("chain", "chain.int8", "grouped", "mixed", "int8out.int8", "qat.int8")
    }
    seeds.update(
        kbnn_chain=_kbnn_chain(),
        kbnn_chain_int8=_kbnn_chain(int8_in=True, t_out=9),
        kbnn_dense=_kbnn_dense(),
        builtin_int8=_builtin_int8(),
    )
    return seeds


def _env():
    return dict(os.environ, PYTHONPATH=os.pathsep.join([RUNTIME_PATH, os.environ.get("PYTHONPATH", "")]))


def _fuzz(tmp_path, n: int, seed: int):
    seeds = seed_models()
    for _name, content in seeds.items():  # the seeds themselves load and run clean
        kbnn_runtime.check_model(content)
    cases = fuzz_files.make_cases(seeds, n, seed, tmp_path)
    results = fuzz_files.run_cases(tmp_path, cases, env=_env())
    counts = collections.Counter(r["outcome"] for r in results)
    print(f"file fuzz: {n} cases, seed {seed}: {dict(counts)}")
    bad = [r for r in results if r["outcome"] not in ("rejected", "identical", "sanitizer_oom")]
    assert len(results) == n, f"{len(results)} results for {n} cases"
    assert not bad, "\n".join(
        f"case {r['case']} ({r.get('seed')}: {r.get('mutation')}): {r['outcome']}: {r.get('error')}"
        for r in bad[:20]
    )
    return counts


def test_fuzz_seeds_run_identically(tmp_path):
    """The differential check on the unmutated seeds: all load and agree (no mutation)."""
    seeds = seed_models()
    tmp_path.mkdir(exist_ok=True)
    for name, content in seeds.items():
        path = tmp_path / f"{name}.tflite"
        path.write_bytes(content)
        assert fuzz_files.run_case(str(path))["outcome"] == "identical", name


def test_fuzz_harness_reports_a_crash_and_goes_on(tmp_path):
    """Negative control: a child killed by a signal is reported as "crash" for its case, and the
    following cases still run in a fresh child."""
    seeds = seed_models()
    cases = fuzz_files.make_cases({"kbnn_dense": seeds["kbnn_dense"]}, 3, 1, tmp_path)
    # case 1 kills its child: replace the file by a script marker the child recognises
    env = dict(_env(), KBNN_FUZZ_KILL_CASE="1")
    results = fuzz_files.run_cases(tmp_path, cases, env=env)
    assert [r["outcome"] for r in results][1] == "crash"
    assert len(results) == 3 and results[2]["outcome"] in ("rejected", "identical")


def test_fuzz_crash_generator_files_are_rejected(tmp_path):
    """The crash files of tests/support/crash_models.py (no kbnn op) through the harness: all rejected."""
    cases = []
    for i, (name, (build, _)) in enumerate(sorted(CRASH_CASES.items())):
        path = tmp_path / f"case{i:05d}.tflite"
        path.write_bytes(build())
        cases.append({"case": i, "seed": name, "path": str(path), "mutation": "none"})
    (tmp_path / "cases.json").write_text(__import__("json").dumps(cases))
    results = fuzz_files.run_cases(tmp_path, cases, env=_env())
    assert [r["outcome"] for r in results] == ["rejected"] * len(cases), results


def test_fuzz_files_seeded_sample(tmp_path):
    counts = _fuzz(tmp_path, int(os.environ.get("KBNN_FUZZ_FILES", "250")), seed=22)
    assert counts["identical"] > 0 and counts["rejected"] > 0


@pytest.mark.slow
def test_fuzz_files_nightly(tmp_path, request):
    if os.environ.get("KBNN_NIGHTLY") != "1" and "slow" not in (request.config.getoption("markexpr") or ""):
        pytest.skip("slow: set KBNN_NIGHTLY=1 or pass -m slow")
    _fuzz(
        tmp_path,
        int(os.environ.get("KBNN_FUZZ_FILES_NIGHTLY", "4000")),
        seed=int(os.environ.get("KBNN_FUZZ_SEED", "2026")),
    )
