"""Helpers of the test suite (no tests here): tflite_builder (hand-built .tflite files and the
test delegate library), keras_util (model set-up shared by converter tests), crash_models (files
that crash the stock runtime), fuzz_files (file-level fuzz) and distributed_harness (a subprocess
that trains under tf.distribute).

Tests import them as ``from support import tflite_builder as tb``: pytest's default "prepend"
import mode puts tests/ (no __init__.py there) on sys.path. Scripts outside tests/ put tests/ on
sys.path first (scripts/check_tflite_identical.py, scripts/runtime_parity_models.py).
"""
