"""kbnn vs int8 and float TFLite on aarch64: instructions per invoke() under qemu-aarch64.

AN INSTRUCTION-COUNT PROXY, NEVER A TIME: QEMU's TCG executes the aarch64 code on this x86 host and a
plugin counts the guest instructions executed. The loops that matter are throughput-bound on simple
vector ops (EOR/CNT/ADD against SDOT/SMMLA/FMLA), so the ratio of two counts is a first proxy for the
ratio of two run times on a real core, not a measurement of it (no caches, latencies, issue widths).

    python benchmarks/arm_insn.py cnn32 bireal18                  # -cpu max, cortex-a76, cortex-a72
    python benchmarks/arm_insn.py cnn32 --cpus cortex-a76 --reuse-wheel --top 20
    python benchmarks/arm_insn.py bireal18 --variants kbnn kbnn-int8stem int8 --markdown
    python benchmarks/arm_insn.py cnn32 --json counts.json

Models (benchmarks/compare.py builds them: ``compare.build``): cnn32 (6 binary 3x3 convs at 32x32)
and bireal18 (kbnn.models.BiRealNet18, 224x224). Variants, converted here on x86 with TensorFlow:
  kbnn           kbnn.convert(model), the default conversion; the stock interpreter + the kbnn delegate
  kbnn-stem      kbnn.convert(..., stem="int8"): the stem as one KbnnStemConv2d (only on request)
  kbnn-int8stem  kbnn.convert(..., representative_dataset=..., int8_layers="stem") (only on request)
  int8           the float twin, post-training full-integer quantization (XNNPACK int8)
  float          the float twin (XNNPACK f32)

What it does, all cached under build/ (rerun costs only what changed):
 1. builds benchmarks/qemu_plugin/kbnn_insn_count.c (a QEMU 7.2 TCG plugin, API version 1) with the
    host gcc into build/arm-insn/;
 2. the aarch64 kbnn-runtime wheel, installed beside the aarch64 ai-edge-litert 1.4.0 wheel in the
    arm64 Python 3.11 sysroot: runs scripts/test_aarch64_runtime_wheel.sh with KBNN_DIST=build/arm-insn-dist
    (emptied first, so scripts/build_wheels.sh builds the release wheels from this checkout), which
    installs the aarch64 one into build/arm64-runtime-site and checks the demo model's outputs
    under QEMU against x86) unless --reuse-wheel finds that site already there;
 3. per model and -cpu: one qemu-aarch64 process (benchmarks/qemu_plugin/guest_invoke.py) runs every
    variant with 1 thread: warm-up, then a window of N invokes and a window of M invokes (defaults 2
    and 5); per invoke = (count of the M window - count of the N window) / (M - N): steady state,
    start-up and the Python loop cancel;
 4. checks what was counted (``--check-threads T``, default 2; 0 skips): each variant's output on the
    guest against the same file on this x86 host for the same input, and a T-thread interpreter's
    output on the guest against 1 thread's. kbnn variants must be bit-exact or within 1e-4 of the
    largest output with the same argmax (a float stem runs different FMA contractions on each ISA)
    against x86, and bit-exact across threads; otherwise the run exits 1 after printing the counts;
 5. prints per model the table (kbnn, int8, float side by side, kbnn/int8 and kbnn/float), then per
    variant the breakdown: instructions by component (kbnn delegate, TFLite builtins/XNNPACK, Python,
    libc, ...) and by function (the delegate's own symbols from `nm -C`; other libraries by their
    symbols where they have them), and the mnemonic mix. QEMU 7.2's disassembler does not name
    SDOT/SMMLA (dotprod/i8mm): they are counted as ".byte".

Needs (Debian): qemu-user, gcc, g++-aarch64-linux-gnu (binutils: aarch64-linux-gnu-nm), cmake, ninja,
libflatbuffers-dev (scripts/install_system_deps.sh), the main environment (TensorFlow, kbnn) and, the
first time, Debian's and PyPI's servers (the arm64 sysroot and wheels).
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import io
import json
import os
import re
import shutil
import struct
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PLUGIN_SRC = ROOT / "benchmarks" / "qemu_plugin" / "kbnn_insn_count.c"
GUEST = ROOT / "benchmarks" / "qemu_plugin" / "guest_invoke.py"
BUILD = ROOT / "build"
WORK = BUILD / "arm-insn"
SYSROOT = BUILD / "arm64-sysroot"
SITE = BUILD / "arm64-runtime-site"
LITERT = "ai-edge-litert==1.4.0"
CPUS = ("max", "cortex-a76", "cortex-a72")
VARIANTS = ("kbnn", "kbnn-stem", "kbnn-int8stem", "int8", "float")
DEFAULT_VARIANTS = ("kbnn", "int8", "float")
PROXY = "INSTRUCTION-COUNT PROXY (qemu-aarch64 TCG plugin: guest instructions executed, not a time)"
BYTE_NOTE = '".byte" = instructions QEMU 7.2 cannot disassemble: SDOT/UDOT (dotprod), SMMLA (i8mm), ...'
DOWNLOAD_FAILED = 3


class ToolMissing(RuntimeError):
    """A tool the benchmark needs is not installed (the message names the Debian package)."""


def check_tools() -> None:
    for tool, package in (
        ("qemu-aarch64", "qemu-user"),
        ("gcc", "gcc"),
        ("aarch64-linux-gnu-nm", "binutils-aarch64-linux-gnu (g++-aarch64-linux-gnu)"),
    ):
        if not shutil.which(tool):
            raise ToolMissing(
                f"{tool} not found: apt-get install {package} "
                "(bash scripts/install_system_deps.sh installs it)"
            )


# ---- 1. the plugin -----------------------------------------------------------------------------------
def build_plugin(out_dir: Path = WORK) -> Path:
    """Compiles kbnn_insn_count.c with the host gcc (again only when the source is newer)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    lib = out_dir / "libkbnn_insn_count.so"
    if not lib.exists() or lib.stat().st_mtime < PLUGIN_SRC.stat().st_mtime:
        subprocess.run(
            [
                "gcc",
                "-shared",
                "-fPIC",
                "-O2",
                "-Wall",
                "-fvisibility=hidden",
                str(PLUGIN_SRC),
                "-o",
                str(lib),
                "-lpthread",
            ],
            check=True,
        )
    return lib


# ---- 2. the aarch64 site -------------------------------------------------------------------------------
def site_ready() -> bool:
    return (
        (SITE / "kbnn_runtime" / "_lib" / "libkbnn_delegate.so").is_file()
        and (SITE / "ai_edge_litert").is_dir()
        and (SYSROOT / "usr" / "bin" / "python3.11").is_file()
        and any(SITE.glob("ai_edge_litert-1.4.0.dist-info"))
    )


def prepare_site(reuse: bool) -> None:
    """build/arm64-runtime-site: this checkout's aarch64 wheel beside ai-edge-litert 1.4.0."""
    if reuse and site_ready():
        print(f"reusing {SITE} (--reuse-wheel)", flush=True)
        return
    demo = BUILD / "runtime-demo"
    # The script installs the release wheel it finds in KBNN_DIST (building the wheels when there is
    # none): a directory of the benchmark's own, emptied first, so that the counts are of this
    # checkout's code and never of a stale wheel left in dist/.
    dist = BUILD / "arm-insn-dist"
    shutil.rmtree(dist, ignore_errors=True)
    env = dict(os.environ, PYTHON=sys.executable, KBNN_AARCH64_LITERT=LITERT, KBNN_DIST=str(dist))
    if not (demo / "expected.npy").is_file():
        print(f"the demo model for the wheel check: scripts/runtime_demo_model.py {demo}", flush=True)
        subprocess.run(
            [sys.executable, str(ROOT / "scripts" / "runtime_demo_model.py"), str(demo)],
            check=True,
            env=env,
            cwd=ROOT,
        )
    print(
        "the aarch64 wheel: scripts/test_aarch64_runtime_wheel.sh (build_wheels.sh, install, check)",
        flush=True,
    )
    proc = subprocess.run(
        ["bash", str(ROOT / "scripts" / "test_aarch64_runtime_wheel.sh"), str(demo)], env=env, cwd=ROOT
    )
    if proc.returncode == DOWNLOAD_FAILED:
        raise SystemExit("downloading the arm64 sysroot / aarch64 wheels failed (Debian or PyPI unreachable)")
    if proc.returncode != 0 or not site_ready():
        raise SystemExit(f"scripts/test_aarch64_runtime_wheel.sh failed (exit {proc.returncode})")


# ---- 3. models and the guest run -----------------------------------------------------------------------
def convert(model_name: str, variants, out_dir: Path) -> dict:
    """Writes out_dir/<variant>.tflite for each variant; returns {variant: path}."""
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    sys.path.insert(0, str(ROOT / "benchmarks"))
    import compare

    import kbnn

    model, twin = compare.build(model_name)
    makers = {
        "kbnn": lambda: kbnn.convert(model, progress=False),
        "kbnn-stem": lambda: kbnn.convert(model, stem="int8", progress=False),
        "kbnn-int8stem": lambda: compare.kbnn_int8(model, int8_layers="stem"),
        "int8": lambda: compare.tflite_int8(twin),
        "float": lambda: compare.tflite_float(twin),
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {}
    for v in variants:
        paths[v] = out_dir / f"{v}.tflite"
        with contextlib.redirect_stdout(io.StringIO()):  # the TFLite converter's SavedModel listing
            paths[v].write_bytes(makers[v]())
    sizes = ", ".join(f"{v} {p.stat().st_size / 1024:.0f} KiB" for v, p in paths.items())
    print(f"{model_name}: converted {sizes} -> {out_dir}", flush=True)
    return paths


def qemu_env() -> dict:
    """The guest's environment, as scripts/test_aarch64_runtime_wheel.sh runs it."""
    return {
        "PATH": "/usr/bin:/bin",
        "HOME": str(BUILD),
        "PYTHONPATH": str(SITE),
        "PYTHONHOME": str(SYSROOT / "usr"),
        "PYTHONDONTWRITEBYTECODE": "1",
        "QEMU_LD_PREFIX": str(SYSROOT),
    }


def qemu_command(
    cpu: str, plugin: Path, prefix: Path, program: list, mode: str = "tb", sysroot: Path | None = SYSROOT
) -> list:
    """qemu-aarch64 with the plugin: windows to PREFIX.0, PREFIX.1, ... (see kbnn_insn_count.c)."""
    return (
        ["qemu-aarch64", "-cpu", cpu]
        + (["-L", str(sysroot)] if sysroot else [])
        + ["-plugin", f"{plugin},out={prefix},mode={mode}"]
        + [str(p) for p in program]
    )


def run_guest(
    cpu: str,
    plugin: Path,
    models: dict,
    out_dir: Path,
    n: int,
    m: int,
    warmup: int,
    timeout: float | None = None,
    check_threads: int = 0,
) -> tuple[dict, dict]:
    """One qemu-aarch64 process running every model; returns (guest result, {variant: Counts}).

    Each model's inputs and output are saved in out_dir for :func:`check_outputs` (with
    ``check_threads`` T > 0, also the output of a T-thread interpreter on the same inputs)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    for old in [*out_dir.glob("w.*"), *out_dir.glob("*.npy")]:
        old.unlink()
    spec = out_dir / "spec.json"
    spec.write_text(
        json.dumps(
            {
                "n": n,
                "m": m,
                "warmup": warmup,
                "threads": 1,
                "models": [
                    {"name": k, "path": str(p), "kbnn": k.startswith("kbnn")} for k, p in models.items()
                ],
                "save_dir": str(out_dir),
                "check_threads": check_threads,
            }
        )
    )
    cmd = qemu_command(cpu, plugin, out_dir / "w", [SYSROOT / "usr" / "bin" / "python3.11", GUEST, spec])
    proc = subprocess.run(cmd, env=qemu_env(), cwd=ROOT, capture_output=True, text=True, timeout=timeout)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("KBNN_GUEST_RESULT ")]
    if proc.returncode != 0 or not lines:
        raise RuntimeError(
            f"the guest failed under qemu-aarch64 -cpu {cpu} (exit {proc.returncode}):\n"
            f"{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
        )
    result = json.loads(lines[-1].split(" ", 1)[1])
    counts = {}
    for name, (w_n, w_m) in result["windows"].items():
        counts[name] = steady_state(
            read_window(out_dir / f"w.{w_n}"), read_window(out_dir / f"w.{w_m}"), n, m
        )
    return result, counts


# ---- reading the plugin's windows ----------------------------------------------------------------------
@dataclass
class Window:
    total: int
    by_addr: dict  # address -> [count, mnemonic]


def read_window(path: Path) -> Window:
    """One window file of kbnn_insn_count (header + "ADDRESS COUNT MNEMONIC" lines)."""
    by_addr = {}
    with open(path) as f:
        head = f.readline().split()
        if head[:2] != ["#", "kbnn_insn_count"] or "insns" not in head:
            raise ValueError(f"{path} is not a kbnn_insn_count window file")
        total = int(head[head.index("insns") + 1])
        for line in f:
            a, c, mnem = line.split()
            by_addr[int(a, 16)] = [int(c), mnem]
    if sum(c for c, _ in by_addr.values()) != total:
        raise ValueError(f"{path}: the lines do not sum to the header's total")
    return Window(total, by_addr)


@dataclass
class Counts:
    """Instructions per invoke, steady state: (window M - window N) / (M - N), per address."""

    per_invoke: float
    by_addr: dict = field(repr=False)  # address -> (per-invoke count, mnemonic)
    window_n: float = 0.0  # window N / N and window M / M (whole windows per invoke)
    window_m: float = 0.0


def steady_state(wn: Window, wm: Window, n: int, m: int) -> Counts:
    by_addr = {}
    for a in wn.by_addr.keys() | wm.by_addr.keys():
        cm, mn = wm.by_addr.get(a, (0, None))
        cn, nn = wn.by_addr.get(a, (0, None))
        if cm != cn:
            by_addr[a] = ((cm - cn) / (m - n), mn or nn)
    return Counts((wm.total - wn.total) / (m - n), by_addr, wn.total / n if n else float("nan"), wm.total / m)


# ---- correctness of what was counted: aarch64 against x86, 2 threads against 1 ---------------------------
def x86_output(variant: str, path: Path, inputs: list):
    """The variant's output on this x86 host for the guest's inputs (kbnn: the stock interpreter with
    this checkout's kbnn delegate, as on the guest; others: ai_edge_litert with XNNPACK)."""
    if variant.startswith("kbnn"):
        import kbnn_runtime

        interp = kbnn_runtime.Interpreter(str(path), num_threads=1).interpreter
    else:
        from ai_edge_litert import interpreter as litert

        interp = litert.Interpreter(model_path=str(path), num_threads=1)
        interp.allocate_tensors()
    for d, x in zip(interp.get_input_details(), inputs):
        interp.set_tensor(d["index"], x)
    interp.invoke()
    return interp.get_tensor(interp.get_output_details()[0]["index"])


def compare(a, b) -> tuple[bool, str]:
    """(acceptable, description) of output a against the expected b: bit-exact, or the same argmax
    per row with max |a - b| <= 1e-4 * max |b| (float stems run different FMA contractions per ISA)."""
    import numpy as np

    if a.shape != b.shape:
        return False, f"shape {a.shape} != {b.shape}"
    if np.array_equal(a, b):
        return True, "bit-exact"
    a64, b64 = a.astype(np.float64), b.astype(np.float64)
    diff = float(np.max(np.abs(a64 - b64)))
    scale = float(np.max(np.abs(b64))) or 1.0
    rows = a64.reshape(a64.shape[0], -1)
    same_argmax = bool(np.array_equal(rows.argmax(-1), b64.reshape(rows.shape).argmax(-1)))
    ok = same_argmax and diff <= 1e-4 * scale
    return (
        ok,
        f"max |diff| {diff:.3g} (of max |y| {scale:.3g}), argmax {'same' if same_argmax else 'DIFFERS'}",
    )


def check_outputs(model: str, cpu: str, paths: dict, out_dir: Path, threads: int) -> list:
    """Prints, per variant, aarch64 vs x86 and (threads > 0) aarch64 T threads vs 1 thread; returns
    the failures of kbnn variants (int8/float TFLite are printed only: not kbnn's to keep)."""
    import numpy as np

    failures = []
    print(f"  outputs ({model} -cpu {cpu}, the guest's fixed random input):")
    for v, path in paths.items():
        ins = sorted(out_dir.glob(f"{v}.in*.npy"), key=lambda p: int(p.name.rsplit(".in", 1)[1][:-4]))
        arm = np.load(out_dir / f"{v}.out.npy")
        checks = [("aarch64 vs x86", *compare(arm, x86_output(v, path, [np.load(p) for p in ins])))]
        if threads:
            checks.append(
                (f"aarch64 {threads} threads vs 1", *compare(np.load(out_dir / f"{v}.out{threads}.npy"), arm))
            )
        for what, ok, text in checks:
            kept = v.startswith("kbnn")
            print(f"    {v:14s} {what}: {text}{'' if ok or not kept else '  <-- FAILED'}")
            if kept and not ok:
                failures.append(f"{model} {v} -cpu {cpu}: {what}: {text}")
    return failures


# ---- 4. attribution: addresses -> component and function -----------------------------------------------
def parse_maps(maps) -> list:
    """[(start, end, offset, path)] of file-backed mappings; ``maps``: /proc/self/maps text or rows."""
    if isinstance(maps, str):
        rows = []
        for line in maps.splitlines():
            parts = line.split(None, 5)
            if len(parts) == 6 and parts[5].strip().startswith("/"):
                start, end = (int(v, 16) for v in parts[0].split("-"))
                rows.append((start, end, int(parts[2], 16), parts[5].strip()))
        return rows
    return [tuple(r) for r in maps]


def load_bias(path: str, rows: list) -> int:
    """What to subtract from a run-time address to get the ELF's link-time address."""
    try:
        with open(path, "rb") as f:
            head = f.read(18)
    except OSError:
        head = b""
    if head[:4] == b"\x7fELF" and struct.unpack_from("<H", head, 16)[0] == 2:  # ET_EXEC: absolute
        return 0
    lowest = min((r for r in rows if r[3] == path), key=lambda r: r[2])
    return lowest[0] - lowest[2]


_NM_CACHE: dict = {}


def function_symbols(path: str) -> list:
    """[(start, size, name)] of the text symbols of an ELF file, sorted; .symtab, else .dynsym."""
    if path in _NM_CACHE:
        return _NM_CACHE[path]
    syms = []
    for extra in ([], ["-D"]):
        try:
            out = subprocess.run(
                ["aarch64-linux-gnu-nm", "-C", "--defined-only", "-S", *extra, path],
                capture_output=True,
                text=True,
                check=True,
            ).stdout
        except (subprocess.CalledProcessError, OSError):
            continue
        for line in out.splitlines():
            m = re.match(r"([0-9a-f]+) ([0-9a-f]+) ([tTwWiI]) (.+)", line)
            if m:
                syms.append((int(m.group(1), 16), int(m.group(2), 16), m.group(4)))
        if syms:
            break
    syms.sort()
    _NM_CACHE[path] = syms
    return syms


def component(path: str) -> str:
    name = os.path.basename(path)
    if name == "libkbnn_delegate.so":
        return "kbnn delegate"
    if "/ai_edge_litert/" in path or "/tflite_runtime/" in path:
        return "TFLite builtins/XNNPACK"
    if "/numpy" in path or name.startswith("libopenblas") or name.startswith("libscipy_openblas"):
        return "numpy"
    if "python3" in name:
        return "Python"
    if name.startswith(("libc.", "libm.", "ld-linux", "libstdc++", "libgcc_s", "libpthread")):
        return "libc/libm/libstdc++"
    return name


def short(name: str, width: int = 96) -> str:
    """A demangled C++ name without its parameter list (``ns::f(int, float) const`` -> ``ns::f``),
    cut to ``width`` characters."""
    tail = name.rstrip()
    for suffix in (" const", " &", " &&"):
        if tail.endswith(")" + suffix):
            tail = tail[: -len(suffix)]
    if tail.endswith(")") and not tail.startswith("("):
        depth = 0
        for i in range(len(tail) - 1, -1, -1):
            depth += {")": 1, "(": -1}.get(tail[i], 0)
            if depth == 0:
                if i > 0:
                    name = tail[:i]
                break
    return name if len(name) <= width else name[: width - 3] + "..."


class Attributor:
    """Maps guest addresses to (component, function) through the guest's /proc/self/maps."""

    def __init__(self, maps):
        self.rows = sorted(parse_maps(maps))
        self.starts = [r[0] for r in self.rows]
        self.bias = {}

    def load_base(self, name: str) -> int | None:
        """Where the guest loaded the library ``name`` (its lowest mapping), or None."""
        rows = [r for r in self.rows if os.path.basename(r[3]) == name]
        return min(r[0] - r[2] for r in rows) if rows else None

    def where(self, addr: int) -> tuple[str, str]:
        import bisect

        i = bisect.bisect_right(self.starts, addr) - 1
        if i < 0 or addr >= self.rows[i][1]:
            return "unmapped (JIT/anonymous)", "?"
        path = self.rows[i][3]
        if path not in self.bias:
            self.bias[path] = load_bias(path, self.rows)
        link = addr - self.bias[path]
        syms = function_symbols(path)
        j = bisect.bisect_right(syms, (link, float("inf"), "")) - 1
        comp = component(path)
        if j >= 0 and (syms[j][1] == 0 or link < syms[j][0] + syms[j][1]):
            return comp, syms[j][2]
        return comp, f"({os.path.basename(path)}: no symbol)"


@dataclass
class Breakdown:
    total: float
    components: list  # [(component, per invoke)], largest first
    functions: list  # [((component, function), per invoke)], largest first
    mnemonics: list  # [(mnemonic, per invoke)], largest first


def breakdown(counts: Counts, attributor: Attributor) -> Breakdown:
    comps, funcs, mnems = collections.Counter(), collections.Counter(), collections.Counter()
    for addr, (c, mnem) in counts.by_addr.items():
        comp, fn = attributor.where(addr)
        comps[comp] += c
        funcs[(comp, fn)] += c
        mnems[mnem] += c
    return Breakdown(counts.per_invoke, comps.most_common(), funcs.most_common(), mnems.most_common())


# ---- printing -------------------------------------------------------------------------------------------
def mega(v: float) -> str:
    """Millions, 3 significant digits at least: 6.42 M, 66.8 M, 373 M."""
    v /= 1e6
    return f"{v:.2f} M" if v < 10 else f"{v:.1f} M" if v < 100 else f"{v:.0f} M"


def print_table(model: str, results: dict, variants) -> list:
    """results: {cpu: {variant: Counts}}; returns the Markdown rows."""
    ratios = [("kbnn", "int8"), ("kbnn", "float"), ("kbnn-int8stem", "int8")]
    ratios = [(a, b) for a, b in ratios if a in variants and b in variants]
    head = ["-cpu"] + [f"{v}" for v in variants] + [f"{a}/{b}" for a, b in ratios]
    print(f"\n{model}: instructions per invoke (1 thread, steady state) -- {PROXY}")
    print("  ".join(f"{h:>14}" for h in head))
    rows = []
    for cpu, r in results.items():
        cells = [cpu] + [mega(r[v].per_invoke) for v in variants]
        cells += [f"{r[a].per_invoke / r[b].per_invoke:.2f}x" for a, b in ratios]
        print("  ".join(f"{c:>14}" for c in cells))
        rows.append(f"| {model} | `{cpu}` | " + " | ".join(c.replace("x", "×") for c in cells[1:]) + " |")
    md_head = (
        "| model | -cpu | "
        + " | ".join(f"{v} insns" for v in variants)
        + " | "
        + " | ".join(f"{a}/{b}" for a, b in ratios)
        + " |"
    )
    return [md_head, "|---|---|" + "--:|" * (len(variants) + len(ratios))] + rows


def print_breakdown(title: str, b: Breakdown, top: int):
    print(f"\n{title}: {mega(b.total)} instructions per invoke -- {PROXY}")
    print("  by component: " + ", ".join(f"{c} {100 * v / b.total:.1f}%" for c, v in b.components if v > 0))
    print(f"  top {top} functions (share, instructions per invoke, component: function):")
    for (comp, fn), v in b.functions[:top]:
        print(f"    {100 * v / b.total:5.1f}%  {v / 1e6:9.3f} M  {comp}: {short(fn)}")
    print(f"  top {top} mnemonics ({BYTE_NOTE}):")
    print("    " + ", ".join(f"{mn} {100 * v / b.total:.1f}%" for mn, v in b.mnemonics[:top]))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0] + " (an instruction-count proxy)")
    parser.add_argument("models", nargs="+", choices=("cnn32", "bireal18"))
    parser.add_argument(
        "--cpus", nargs="+", default=list(CPUS), help="qemu -cpu models (default: %(default)s)"
    )
    parser.add_argument("--variants", nargs="+", choices=VARIANTS, default=list(DEFAULT_VARIANTS))
    parser.add_argument("--n", type=int, default=2, help="invokes of the first window (default: 2)")
    parser.add_argument("--m", type=int, default=5, help="invokes of the second window (default: 5)")
    parser.add_argument("--warmup", type=int, default=1, help="invokes before the windows (default: 1)")
    parser.add_argument("--top", type=int, default=12, help="functions and mnemonics listed (default: 12)")
    parser.add_argument(
        "--reuse-wheel",
        action="store_true",
        help="use build/arm64-runtime-site as it is (else: rebuilt from this checkout)",
    )
    parser.add_argument("--markdown", action="store_true", help="also print the tables as Markdown rows")
    parser.add_argument("--json", help="write every figure (and the breakdowns) to this JSON file")
    parser.add_argument(
        "--check-threads",
        type=int,
        default=2,
        help="after counting (1 thread), also run T threads on the guest and require kbnn's outputs to equal "
        "1 thread's (0: skip; default: %(default)s)",
    )
    args = parser.parse_args(argv)
    if not 0 <= args.n < args.m:
        parser.error("need 0 <= --n < --m")
    try:
        check_tools()
    except ToolMissing as e:
        parser.error(str(e))
    variants = [v for v in VARIANTS if v in args.variants]

    t0 = time.time()
    plugin = build_plugin()
    prepare_site(args.reuse_wheel)
    qemu = subprocess.run(["qemu-aarch64", "--version"], capture_output=True, text=True).stdout.splitlines()[
        0
    ]
    print(
        f"\n{PROXY}\n{qemu}; 1 thread; per invoke = (window of {args.m} invokes - window of {args.n}) / "
        f"{args.m - args.n}; {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}",
        flush=True,
    )
    markdown, report, failures = [], {}, []
    for model in args.models:
        paths = convert(model, variants, WORK / model)
        results = {}
        for cpu in args.cpus:
            t = time.time()
            guest, counts = run_guest(
                cpu,
                plugin,
                paths,
                WORK / f"{model}-{cpu}",
                args.n,
                args.m,
                args.warmup,
                check_threads=args.check_threads,
            )
            results[cpu] = counts
            attributor = Attributor(guest["maps"])
            base = attributor.load_base("libkbnn_delegate.so")
            where = f"; libkbnn_delegate.so loaded at {base:#x}" if base is not None else ""
            print(
                f"[{model} -cpu {cpu}: {time.time() - t:.0f} s under qemu; "
                f"ai-edge-litert {guest['litert']}, Python {guest['python']} {guest['machine']}{where}]",
                flush=True,
            )
            for v in variants:
                b = breakdown(counts[v], attributor)
                print_breakdown(f"{model} {v} -cpu {cpu}", b, args.top)
                print(
                    f"  (windows as a whole: {mega(counts[v].window_n)} per invoke over {args.n}, "
                    f"{mega(counts[v].window_m)} over {args.m})"
                )
                report.setdefault(model, {}).setdefault(cpu, {})[v] = {
                    "per_invoke": counts[v].per_invoke,
                    "window_n": counts[v].window_n,
                    "window_m": counts[v].window_m,
                    "components": b.components,
                    "functions": [[c, f, v2] for (c, f), v2 in b.functions[:50]],
                    "mnemonics": b.mnemonics[:50],
                }
            failures += check_outputs(model, cpu, paths, WORK / f"{model}-{cpu}", args.check_threads)
        markdown += print_table(model, results, variants) + [""]
    if args.markdown:
        print("\n" + "\n".join(markdown))
    if args.json:
        Path(args.json).write_text(
            json.dumps({"proxy": PROXY, "n": args.n, "m": args.m, "results": report}, indent=1)
        )
    print(f"\n(done in {time.time() - t0:.0f} s; {PROXY})")
    if failures:
        print(
            "kbnn's aarch64 outputs are WRONG (the counts above are of a wrong computation):",
            *failures,
            sep="\n  ",
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
