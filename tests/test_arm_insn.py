"""benchmarks/arm_insn.py, the ARM instruction-count proxy: its QEMU plugin counts exactly, and the
steady-state difference and the address -> function attribution add up.

The plugin (benchmarks/qemu_plugin/kbnn_insn_count.c) is built with the host gcc and counts
benchmarks/qemu_plugin/selftest.c, a static aarch64 program whose loop runs a known number of
instructions, under qemu-aarch64 in both counting modes. Skipped, with the package to install, where
qemu-aarch64, gcc or the aarch64 cross toolchain are missing (scripts/install_system_deps.sh installs
them). A few seconds: no TensorFlow, no sysroot, no download.
"""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

import arm_insn  # noqa: E402

TOOLS = {
    "qemu-aarch64": "qemu-user",
    "gcc": "gcc",
    "aarch64-linux-gnu-gcc": "gcc-aarch64-linux-gnu",
    "aarch64-linux-gnu-nm": "binutils-aarch64-linux-gnu",
}
MISSING = [f"{t} (apt-get install {p})" for t, p in TOOLS.items() if not shutil.which(t)]
needs_tools = pytest.mark.skipif(
    bool(MISSING),
    reason="the ARM instruction-count proxy needs "
    + ", ".join(MISSING)
    + ": bash scripts/install_system_deps.sh",
)

A, B = 1000, 4000  # loop iterations of windows 1 and 2


@pytest.fixture(scope="module")
def selftest(tmp_path_factory):
    d = tmp_path_factory.mktemp("arm_insn")
    plugin = arm_insn.build_plugin(d)
    exe = d / "selftest"
    subprocess.run(
        [
            "aarch64-linux-gnu-gcc",
            "-O1",
            "-static",
            str(ROOT / "benchmarks" / "qemu_plugin" / "selftest.c"),
            "-o",
            str(exe),
        ],
        check=True,
    )
    runs = {}
    for mode in ("tb", "insn"):
        prefix = d / f"w-{mode}"
        proc = subprocess.run(
            arm_insn.qemu_command("cortex-a72", plugin, prefix, [exe, A, B], mode=mode, sysroot=None),
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert proc.returncode == 0, proc.stderr
        runs[mode] = ([arm_insn.read_window(Path(f"{prefix}.{k}")) for k in range(4)], proc.stdout)
        assert not Path(f"{prefix}.4").exists()
    return exe, runs


@pytest.mark.integration
@needs_tools
@pytest.mark.parametrize("mode", ["tb", "insn"])
def test_plugin_counts_the_known_loop_exactly(selftest, mode):
    _, runs = selftest
    windows, _ = runs[mode]
    assert all(w.total > 0 for w in windows), [w.total for w in windows]
    # window 2 runs the 2-instruction loop B - A more times than window 1; everything else is the same
    assert windows[2].total - windows[1].total == 2 * (B - A)
    counts = arm_insn.steady_state(windows[1], windows[2], A, B)
    assert counts.per_invoke == 2.0
    loop = {m: c for c, m in counts.by_addr.values() if m in ("subs", "b.ne")}
    assert loop == {"subs": 1.0, "b.ne": 1.0}
    # the two call sites in main differ by address only: +1 and -1 per address, nothing in total
    assert sum(c for c, m in counts.by_addr.values() if m not in loop) == pytest.approx(0, abs=1e-12)


@pytest.mark.integration
@needs_tools
def test_block_and_instruction_counting_agree(selftest):
    _, runs = selftest
    for tb, insn in zip(runs["tb"][0], runs["insn"][0]):
        assert tb.total == insn.total
        assert tb.by_addr == insn.by_addr


@pytest.mark.integration
@needs_tools
def test_attribution_to_symbols_sums_to_the_total(selftest):
    exe, runs = selftest
    windows, maps = runs["tb"]
    attributor = arm_insn.Attributor(maps)
    counts = arm_insn.steady_state(windows[1], windows[2], A, B)
    b = arm_insn.breakdown(counts, attributor)
    assert b.functions[0] == ((exe.name, "kbnn_selftest_loop"), 2.0)
    # a whole window: every instruction lands on a function of the static binary (main, close, ...)
    whole = arm_insn.Counts(windows[2].total, {a: (c, m) for a, (c, m) in windows[2].by_addr.items()})
    wb = arm_insn.breakdown(whole, attributor)
    assert sum(v for _, v in wb.functions) == pytest.approx(windows[2].total)
    assert sum(v for _, v in wb.components) == pytest.approx(windows[2].total)
    assert sum(v for _, v in wb.mnemonics) == pytest.approx(windows[2].total)
    names = {fn for (_, fn), _ in wb.functions}
    assert {"kbnn_selftest_loop", "main"} <= names, names
    assert dict(wb.functions)[(exe.name, "kbnn_selftest_loop")] == 2 * B + 1  # + its ret
    assert dict(wb.mnemonics)["subs"] >= B


def test_function_names_lose_their_parameter_lists():
    assert arm_insn.short("kbnn::f(unsigned long, int const*)") == "kbnn::f"
    assert (
        arm_insn.short("ns::(anonymous namespace)::Op::Emit(unsigned long) const")
        == "ns::(anonymous namespace)::Op::Emit"
    )
    assert (
        arm_insn.short("ns::g(int)::{lambda(int)#1}::operator()(int) const")
        == "ns::g(int)::{lambda(int)#1}::operator()"
    )
    assert arm_insn.short("(libc.so.6: no symbol)") == "(libc.so.6: no symbol)"
    assert arm_insn.short("xnn_compute_igemm") == "xnn_compute_igemm"


def test_window_file_must_add_up(tmp_path):
    bad = tmp_path / "w.0"
    bad.write_text("# kbnn_insn_count window 0 mode tb insns 10\n400000 3 add\n")
    with pytest.raises(ValueError, match="do not sum"):
        arm_insn.read_window(bad)
    bad.write_text("hello\n")
    with pytest.raises(ValueError, match="not a kbnn_insn_count window"):
        arm_insn.read_window(bad)


def test_output_comparison():
    """arm_insn.compare: bit-exact, close with the same argmax, or a failure that says why."""
    import numpy as np

    y = np.array([[0.5, 2.0, -1.0], [3.0, 0.0, 1.0]], np.float32)
    assert arm_insn.compare(y.copy(), y) == (True, "bit-exact")
    ok, text = arm_insn.compare(y + np.float32(1e-5), y)
    assert ok and "argmax same" in text, text
    ok, text = arm_insn.compare(y[:, ::-1].copy(), y)
    assert not ok and "argmax DIFFERS" in text, text
    ok, text = arm_insn.compare(y + np.float32(0.01), y)  # same argmax, but far beyond 1e-4 of max |y|
    assert not ok and "max |diff| 0.01" in text, text
    assert arm_insn.compare(y[:1], y)[0] is False


@pytest.mark.integration
@needs_tools
def test_tiny_model_on_the_aarch64_wheel(tmp_path):
    """The benchmark's own path on a tiny kbnn model and its float twin: guest_invoke.py under
    qemu-aarch64 with the plugin, the steady-state difference and the attribution to libraries."""
    # checked when the test runs, not at collection: tests/test_aarch64_runtime_wheel.py builds the
    # site earlier in the same session
    if not arm_insn.site_ready():
        pytest.skip(
            f"{arm_insn.SITE} (the aarch64 kbnn-runtime wheel beside ai-edge-litert 1.4.0) is "
            "missing: scripts/test_aarch64_runtime_wheel.sh builds it (tests/"
            "test_aarch64_runtime_wheel.py, earlier in the suite)"
        )
    import keras

    import kbnn

    keras.utils.set_random_seed(0)
    inp = keras.Input((8, 8, 3))
    x = keras.layers.Conv2D(32, 3, padding="same", use_bias=False)(inp)
    x = keras.layers.BatchNormalization()(x)
    x = kbnn.layers.QuantConv2D(
        32, 3, padding="same", input_quantizer="ste_sign", kernel_quantizer="ste_sign", use_bias=False
    )(x)
    x = keras.layers.BatchNormalization()(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    model = keras.Model(inp, keras.layers.Dense(4)(x))
    import compare

    paths = {"kbnn": tmp_path / "kbnn.tflite", "float": tmp_path / "float.tflite"}
    paths["kbnn"].write_bytes(kbnn.convert(model, progress=False))
    paths["float"].write_bytes(compare.tflite_float(compare.float_twin(model)))
    plugin = arm_insn.build_plugin(tmp_path)
    guest, counts = arm_insn.run_guest(
        "cortex-a72", plugin, paths, tmp_path / "run", n=1, m=3, warmup=1, timeout=600, check_threads=2
    )
    # what was counted is right: aarch64 = x86 (within the float stem's FMA differences) and 2 threads
    # = 1 thread on the guest, for kbnn (failures returned) and the float twin (printed)
    assert arm_insn.check_outputs("tiny", "cortex-a72", paths, tmp_path / "run", 2) == []
    assert (tmp_path / "run" / "kbnn.out2.npy").is_file() and (tmp_path / "run" / "float.out.npy").is_file()
    assert guest["litert"] == "1.4.0" and guest["machine"] == "aarch64"
    attributor = arm_insn.Attributor(guest["maps"])
    for name, c in counts.items():
        assert c.per_invoke > 0 and c.window_n > 0 and c.window_m > 0, (name, c)
        # the whole windows per invoke include the loop and the marker once: close to steady state
        assert c.per_invoke == pytest.approx(c.window_m, rel=0.2), (name, c)
        b = arm_insn.breakdown(c, attributor)
        for part in (b.components, b.functions, b.mnemonics):
            assert sum(v for _, v in part) == pytest.approx(c.per_invoke, rel=1e-9)
        comps = dict(b.components)
        assert comps.get("TFLite builtins/XNNPACK", 0) > 0, b.components
    kb = arm_insn.breakdown(counts["kbnn"], attributor)
    assert dict(kb.components).get("kbnn delegate", 0) > 0.3 * counts["kbnn"].per_invoke, kb.components
    top = kb.functions[:5]
    assert any(comp == "kbnn delegate" and "kbnn::" in fn for (comp, fn), _ in top), top
    assert "kbnn delegate" not in dict(arm_insn.breakdown(counts["float"], attributor).components)
