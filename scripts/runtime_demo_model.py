"""The demo's m.tflite with inputs and the x86-64 kbnn.Interpreter outputs (MAIN environment).

    python scripts/runtime_demo_model.py OUT_DIR

Runs ``kbnn demo --epochs 1 --quiet --out OUT_DIR`` when OUT_DIR/m.tflite is missing (about 35 s:
the demo's architecture and conversion, only shorter training), then writes OUT_DIR/x.npy (the
demo's 450 digits test images, NHWC float32) and OUT_DIR/expected.npy (``kbnn.Interpreter`` on
them, 1 thread) plus OUT_DIR/meta.json (the runtime that computed them). The runtime-only checks
(scripts/runtime_check.py: the kbnn-runtime venv, the aarch64 wheel under QEMU) compare with these.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys


def main(out: str) -> None:
    os.makedirs(out, exist_ok=True)
    model = os.path.join(out, "m.tflite")
    if not os.path.isfile(model):
        subprocess.run(
            [sys.executable, "-m", "kbnn", "demo", "--epochs", "1", "--quiet", "--out", out],
            check=True,
            stdout=subprocess.DEVNULL,
        )
    import numpy as np

    import kbnn
    from kbnn import demo

    x = demo.as_images(demo.load_digits_data().x_test)
    interpreter = kbnn.Interpreter(model, num_threads=1)
    y = interpreter.predict(x)
    np.save(os.path.join(out, "x.npy"), x)
    np.save(os.path.join(out, "expected.npy"), y)
    with open(os.path.join(out, "meta.json"), "w") as f:
        json.dump({"runtime": interpreter.runtime, "images": len(x)}, f)
    print(f"{model}: {len(x)} images, outputs {y.shape} from {interpreter.runtime}")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(sys.argv[1])
