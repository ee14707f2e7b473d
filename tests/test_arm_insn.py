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

TOOLS = {"qemu-aarch64": "qemu-user", "gcc": "gcc", "aarch64-linux-gnu-gcc": "gcc-aarch64-linux-gnu",
         "aarch64-linux-gnu-nm": "binutils-aarch64-linux-gnu"}
MISSING = [f"{t} (apt-get install {p})" for t, p in TOOLS.items() if not shutil.which(t)]
pytestmark = pytest.mark.skipif(bool(MISSING), reason="the ARM instruction-count proxy needs "
                                + ", ".join(MISSING) + ": bash scripts/install_system_deps.sh")

A, B = 1000, 4000  # loop iterations of windows 1 and 2


@pytest.fixture(scope="module")
def selftest(tmp_path_factory):
    d = tmp_path_factory.mktemp("arm_insn")
    plugin = arm_insn.build_plugin(d)
    exe = d / "selftest"
    subprocess.run(["aarch64-linux-gnu-gcc", "-O1", "-static",
                    str(ROOT / "benchmarks" / "qemu_plugin" / "selftest.c"), "-o", str(exe)], check=True)
    runs = {}
    for mode in ("tb", "insn"):
        prefix = d / f"w-{mode}"
        proc = subprocess.run(arm_insn.qemu_command("cortex-a72", plugin, prefix, [exe, A, B], mode=mode,
                                                    sysroot=None),
                              capture_output=True, text=True, timeout=60)
        assert proc.returncode == 0, proc.stderr
        runs[mode] = ([arm_insn.read_window(Path(f"{prefix}.{k}")) for k in range(4)], proc.stdout)
        assert not Path(f"{prefix}.4").exists()
    return exe, runs


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


def test_block_and_instruction_counting_agree(selftest):
    _, runs = selftest
    for tb, insn in zip(runs["tb"][0], runs["insn"][0]):
        assert tb.total == insn.total
        assert tb.by_addr == insn.by_addr


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


def test_window_file_must_add_up(tmp_path):
    bad = tmp_path / "w.0"
    bad.write_text("# kbnn_insn_count window 0 mode tb insns 10\n400000 3 add\n")
    with pytest.raises(ValueError, match="do not sum"):
        arm_insn.read_window(bad)
    bad.write_text("hello\n")
    with pytest.raises(ValueError, match="not a kbnn_insn_count window"):
        arm_insn.read_window(bad)
