#!/usr/bin/env bash
# Build a separate virtual environment with the incumbent toolchain (Larq, Larq Zoo,
# Larq Compute Engine on TF 2.16) used to regenerate tests/fixtures/larq and to run the
# Larq Zoo-sized comparisons. Not a CI requirement: CI uses only the committed fixtures.
#
#   bash scripts/make_lce_env.sh              # venv at $KBNN_LCE_VENV (default /work/lce-venv)
#   $KBNN_LCE_VENV/bin/python tests/fixtures/larq/make_fixtures.py
set -euo pipefail
VENV="${KBNN_LCE_VENV:-/work/lce-venv}"
PY="${PYTHON:-python3.11}"
if [ ! -x "$VENV/bin/python" ]; then
  "$PY" -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install -q --upgrade pip
"$VENV/bin/python" -m pip install -q \
  "tensorflow==2.16.2" "tf-keras==2.16.0" "larq==0.14.0" \
  "larq-compute-engine==0.16.0" "larq-zoo==2.4.0" "zookeeper==1.4.0" "numpy<2" "h5py"
# TF 2.16 defaults to Keras 3; Larq needs tf-keras (Keras 2).
cat > "$VENV/bin/lce-python" <<EOS
#!/usr/bin/env bash
TF_USE_LEGACY_KERAS=1 exec "$VENV/bin/python" "\$@"
EOS
chmod +x "$VENV/bin/lce-python"
TF_USE_LEGACY_KERAS=1 "$VENV/bin/python" -c "import tensorflow as tf, larq, larq_zoo, larq_compute_engine as lce, numpy; print('TF', tf.__version__, 'larq', larq.__version__, 'numpy', numpy.__version__)"
echo "LCE venv ready: $VENV (run fixture scripts with $VENV/bin/lce-python)"
