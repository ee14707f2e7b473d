"""The README's "A first binarized model" runs as written: it trains on scikit-learn's bundled
digits to >= 90 % test accuracy (Keras and TFLite), converts every layer it presents as binary
(no ConversionWarning: no weights-only binarization) and runs the file in kbnn.Interpreter."""

import contextlib
import io
import pathlib
import re
import warnings

import pytest

import kbnn

README = pathlib.Path(__file__).resolve().parents[1] / "README.md"


def readme_section_code(title: str) -> str:
    text = README.read_text(encoding="utf-8")
    start = text.index(f"## {title}")
    end = text.find("\n## ", start + 1)
    section = text[start : end if end >= 0 else len(text)]
    blocks = re.findall(r"```python\n(.*?)```", section, flags=re.S)
    assert blocks, f"no python code block in README section {title!r}"
    return "\n".join(blocks)


def test_readme_section_is_extracted():
    code = readme_section_code("A first binarized model")
    assert "kbnn.convert(" in code and "kbnn.Interpreter(" in code and "model.fit(" in code


@pytest.mark.usefixtures("delegate_env")
def test_readme_first_model_runs_as_written(tmp_path, monkeypatch):
    pytest.importorskip("sklearn")
    code = readme_section_code("A first binarized model")
    monkeypatch.chdir(tmp_path)
    out = io.StringIO()
    with warnings.catch_warnings():
        warnings.simplefilter("error", kbnn.convert.ConversionWarning)  # e.g. a weights-only layer
        warnings.simplefilter("error", kbnn.checks.ModelMistakeWarning)
        with contextlib.redirect_stdout(out):
            namespace = {"__name__": "readme_example"}
            exec(compile(code, "README.md", "exec"), namespace)
    printed = out.getvalue()
    keras_acc = float(re.search(r"^test accuracy: ([0-9.]+)$", printed, re.M).group(1))
    tflite_acc = float(re.search(r"^TFLite test accuracy: ([0-9.]+)$", printed, re.M).group(1))
    assert keras_acc >= 0.90, printed
    assert tflite_acc >= 0.90, printed
    assert (tmp_path / "digits.tflite").stat().st_size > 0
    report = namespace["report"]
    model = namespace["model"]
    assert not report.not_lowered
    binary = [layer.name for layer in model.layers if isinstance(layer, kbnn.layers.base.QuantLayerMixin)]
    assert binary and all(report.row(n).status == "lowered" for n in binary)
    assert "need TFLite custom op" not in printed  # TF's converter chatter stays in the report
