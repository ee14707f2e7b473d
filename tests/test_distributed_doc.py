"""docs/distributed.md's MirroredStrategy example: its device set-up, run as written in a fresh
process (logical devices must be configured before TensorFlow uses a device), must give 2
replicas on this CPU-only machine, not 1 (`MirroredStrategy()` alone makes one CPU replica).
The training under MirroredStrategy itself is tests/test_distributed.py's subject; only the
example's lines up to `with strategy.scope():` run here (the whole example takes minutes)."""

import os
import pathlib
import re
import subprocess
import sys

DOC = pathlib.Path(__file__).resolve().parents[1] / "docs" / "distributed.md"
ROOT = DOC.parents[1]


def strategy_setup() -> str:
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(encoding="utf-8"), flags=re.S)
    assert blocks, "docs/distributed.md has no python block"
    code = blocks[0]
    assert "with strategy.scope():" in code and "MirroredStrategy" in code
    return code[: code.index("with strategy.scope():")]


def test_mirrored_strategy_example_gives_two_replicas_on_cpu(tmp_path):
    script = tmp_path / "example.py"
    script.write_text(strategy_setup() + "\nassert strategy.num_replicas_in_sync == 2\n")
    env = dict(os.environ, CUDA_VISIBLE_DEVICES="", KERAS_BACKEND="tensorflow", TF_CPP_MIN_LOG_LEVEL="2")
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), str(ROOT / "runtime"), env.get("PYTHONPATH", "")])
    proc = subprocess.run(
        [sys.executable, str(script)], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "replicas: 2" in proc.stdout, proc.stdout[-2000:]
