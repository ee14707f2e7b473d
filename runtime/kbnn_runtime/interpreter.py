"""Run kbnn .tflite models in the stock LiteRT interpreter with the kbnn delegate attached.

The kbnn ops (``KbnnBconv2d`` ...) are TFLite CUSTOM ops. They are executed by
``libkbnn_delegate.so``, an *external delegate* that every stock runtime can load
(``ai_edge_litert``, ``tf.lite``, ``tflite_runtime``). This module finds the library, attaches it,
and turns the runtimes' terse errors into messages that say what to do::

    import kbnn_runtime                 # or: import kbnn (kbnn.Interpreter is this class)
    interpreter = kbnn_runtime.Interpreter("model.tflite", num_threads=2)
    y = interpreter.predict(x)          # resizes the batch when x's batch differs

It needs only numpy and a stock runtime: it is the module ``kbnn_runtime.interpreter`` of the
``kbnn-runtime`` distribution (``pip install ./runtime``), which ``kbnn`` re-exports as
``kbnn.interpreter``. See docs/interpreter.md for attaching the delegate to the other runtimes by hand.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "DelegateMissingError",
    "DelegateNotFoundError",
    "Interpreter",
    "KbnnDelegateError",
    "ModelCheckError",
    "ModelError",
    "RuntimeFailureError",
    "delegate_path",
    "explain_error",
    "kernel_isa",
    "load_delegate",
    "runtime_error",
    "runtime_name",
    "stock_interpreter",
    "tensor_name",
]

LIBRARY_NAME = "libkbnn_delegate.so"
ENV_PATH = "KBNN_DELEGATE_PATH"
KERNELS = ("auto", "reference", "scalar", "avx2", "avx512", "neon")
INSTALL_HINT = (
    "Install kbnn-runtime with `pip install ./runtime` from the kbnn source tree (for development: "
    "`python setup.py build_ext --inplace` there), or point the environment variable "
    f"{ENV_PATH} at an existing {LIBRARY_NAME}."
)
ATTACH_HINT = (
    "Attach the kbnn delegate: `kbnn_runtime.Interpreter(model)` (= `kbnn.Interpreter`), or with a "
    "stock interpreter `Interpreter(model_path=..., experimental_delegates=[kbnn_runtime.load_delegate()])` "
    "(tf.lite: `tf.lite.experimental.load_delegate(kbnn_runtime.delegate_path())`). "
    "See docs/interpreter.md."
)


class KbnnDelegateError(RuntimeError):
    """The kbnn delegate reported an error (bad op options, shapes, types, ...)."""


class DelegateMissingError(RuntimeError):
    """A model with kbnn ops was run in an interpreter without the kbnn delegate."""


class RuntimeFailureError(RuntimeError):
    """The TFLite runtime (XNNPACK, a builtin kernel, the interpreter) failed on the model: not an
    error of the kbnn delegate."""


class DelegateNotFoundError(FileNotFoundError):
    """libkbnn_delegate.so is not installed / not where KBNN_DELEGATE_PATH points."""


class ModelError(ValueError):
    """The .tflite file is missing, truncated or not a valid TFLite model."""


class ModelCheckError(ModelError):
    """The .tflite file holds a value the TFLite runtime does not check and could crash on (a
    quantization scale <= 0, an op whose output dtype or declared shape contradicts its input ...);
    raised before the interpreter is built (``kbnn_runtime.model_check``)."""


def delegate_path() -> str:
    """Path of libkbnn_delegate.so: $KBNN_DELEGATE_PATH, else the copy inside the package."""
    env = os.environ.get(ENV_PATH)
    if env:
        if not os.path.isfile(env):
            raise DelegateNotFoundError(f"{ENV_PATH}={env!r} is not a file. {INSTALL_HINT}")
        return env
    path = Path(__file__).resolve().parent / "_lib" / LIBRARY_NAME
    if not path.is_file():
        raise DelegateNotFoundError(f"{LIBRARY_NAME} not found at {path}. {INSTALL_HINT}")
    return str(path)


def kernel_isa() -> str:
    """The ISA of the kbnn kernels that ``kernel="auto"`` runs on this CPU (e.g. ``"avx2"``,
    ``"neon"``, ``"scalar"``; ``"reference"`` when KBNN_KERNEL=reference forces it), as
    reported by the delegate library's ``kbnn_delegate_kernel_isa()``."""
    import ctypes

    path = delegate_path()
    try:
        fn = ctypes.CDLL(path).kbnn_delegate_kernel_isa
    except (OSError, AttributeError) as e:
        raise DelegateNotFoundError(
            f"{path} has no kbnn_delegate_kernel_isa (an older build?): {e}. {INSTALL_HINT}"
        ) from e
    fn.restype, fn.argtypes = ctypes.c_char_p, []
    return fn().decode()


def _delegate_options(num_threads, kernel) -> dict:
    options = {}
    if num_threads is not None:
        if (
            isinstance(num_threads, bool)
            or not isinstance(num_threads, (int, np.integer))
            or not 1 <= int(num_threads) <= 256
        ):
            raise ValueError(
                f"num_threads must be an int in [1, 256] or None. Received: num_threads={num_threads!r}"
            )
        options["num_threads"] = str(int(num_threads))
    if kernel is not None:
        if kernel not in KERNELS:
            raise ValueError(f"kernel must be one of {KERNELS} or None. Received: kernel={kernel!r}")
        options["kernel"] = kernel
    return options


RUNTIME_ENV = "KBNN_RUNTIME"
RUNTIMES = ("ai_edge_litert", "tflite_runtime", "tf.lite")
_DISTRIBUTIONS = {
    "ai_edge_litert": "ai-edge-litert",
    "tflite_runtime": "tflite-runtime",
    "tf.lite": "tensorflow",
}
_warned_fallback = False


def _import_runtime(name: str):
    if name == "ai_edge_litert":
        from ai_edge_litert import interpreter as module

        return module
    if name == "tflite_runtime":
        from tflite_runtime import interpreter as module

        return module
    import tensorflow as tf

    return _TfLiteRuntime(tf)


def _runtime():
    """The stock interpreter module: ai_edge_litert, else tflite_runtime, else tf.lite.

    ``$KBNN_RUNTIME`` (one of ``RUNTIMES``) forces one of them. The module gets a ``kbnn_runtime``
    attribute with the name used (see :func:`runtime_name`).
    """
    forced = os.environ.get(RUNTIME_ENV, "").strip()
    if forced:
        if forced not in RUNTIMES:
            raise ValueError(
                f"{RUNTIME_ENV}={forced!r} is not a TFLite runtime kbnn knows; use one of "
                f"{', '.join(RUNTIMES)} or unset it to pick the first one installed."
            )
        try:
            module = _import_runtime(forced)
        except ImportError as e:
            raise ImportError(
                f"{RUNTIME_ENV}={forced} but that runtime cannot be imported ({e}): "
                f"pip install {_DISTRIBUTIONS[forced]}, or unset {RUNTIME_ENV}."
            ) from e
        return _tag(module, forced)
    for name in RUNTIMES:
        try:
            module = _import_runtime(name)
        except ImportError:
            continue
        if name == "tf.lite":
            _warn_fallback()
        return _tag(module, name)
    raise ImportError(
        "kbnn_runtime.Interpreter needs a TFLite runtime: pip install ai-edge-litert "
        "(or tflite-runtime where that is what the platform has)"
    )


def _tag(module, name: str):
    try:
        module.kbnn_runtime = name
    except AttributeError:  # pragma: no cover - module objects take attributes
        pass
    return module


def _warn_fallback():
    global _warned_fallback
    if not _warned_fallback:
        _warned_fallback = True
        import warnings

        warnings.warn(
            "kbnn: ai_edge_litert is not installed; running on tf.lite.Interpreter, which "
            "TensorFlow marks as deprecated. pip install 'ai-edge-litert>=2.3,<2.4'.",
            RuntimeWarning,
            stacklevel=3,
        )


def runtime_name(runtime=None) -> str:
    """Which stock runtime runs the models, with its version: ``"ai_edge_litert 2.3.0"``,
    ``"tflite_runtime 2.14.0"`` or ``"tf.lite (tensorflow 2.21.0)"``.

    Args:
      runtime: a module returned by the runtime lookup; None: the one ``kbnn.Interpreter`` uses.
    """
    name = getattr(runtime if runtime is not None else _runtime(), "kbnn_runtime", "unknown")
    try:
        from importlib.metadata import PackageNotFoundError, version

        try:
            ver = version(_DISTRIBUTIONS.get(name, name))
        except PackageNotFoundError:
            ver = version("tensorflow-cpu") if name == "tf.lite" else "?"
    except Exception:  # noqa: BLE001 - metadata is informative only
        ver = "?"
    return f"tf.lite (tensorflow {ver})" if name == "tf.lite" else f"{name} {ver}"


class _TfLiteRuntime:
    """tf.lite exposed with the ai_edge_litert names (Interpreter, load_delegate)."""

    def __init__(self, tf):
        self.Interpreter = tf.lite.Interpreter
        self.load_delegate = tf.lite.experimental.load_delegate
        self.OpResolverType = tf.lite.experimental.OpResolverType


def load_delegate(num_threads: int | None = None, kernel: str | None = None):
    """Loads the kbnn delegate as the stock runtime's delegate object.

    The runtime is ai_edge_litert when installed, else tflite_runtime, else tf.lite.

    Args:
      num_threads: threads of the delegate's pool (the calling thread included). None: the
        interpreter's ``num_threads`` when it sets one, else the machine's cores capped at 4.
      kernel: "auto" (default), "reference", "scalar", "avx2", "avx512" or "neon".

    Returns:
      The runtime's ``Delegate`` object, for ``experimental_delegates=[...]``.
    """
    litert = _runtime()
    options = _delegate_options(num_threads, kernel)
    path = delegate_path()
    try:
        return litert.load_delegate(path, options)
    except ValueError as e:
        raise KbnnDelegateError(f"Could not create the kbnn delegate from {path}: {e}") from e


def stock_interpreter(
    content: bytes,
    *,
    num_threads: int | None = None,
    kbnn_delegate: bool = False,
    delegate_threads: int | None = None,
    preserve_all_tensors: bool = False,
    default_delegates: bool = True,
):
    """A stock interpreter (the runtime :func:`runtime_name` names) on the model bytes ``content``,
    for callers that need its raw API, e.g. every intermediate tensor (int8 calibration) or no kbnn
    delegate at all (a float twin on XNNPACK).

    Args:
      num_threads: the interpreter's threads (None: the runtime's default).
      kbnn_delegate: attach the kbnn delegate (:func:`load_delegate` with ``delegate_threads``);
        a failure to create the interpreter then raises as :func:`runtime_error` maps it.
      preserve_all_tensors: keep every intermediate tensor readable after ``invoke``.
      default_delegates: False: no default delegate (XNNPACK) takes over the builtins.
    """
    litert = _runtime()
    kwargs: dict = {"model_content": content}
    if num_threads is not None:
        kwargs["num_threads"] = num_threads
    if preserve_all_tensors:
        kwargs["experimental_preserve_all_tensors"] = True
    if not default_delegates:
        kwargs["experimental_op_resolver_type"] = litert.OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES
    if not kbnn_delegate:
        return litert.Interpreter(**kwargs)
    try:
        delegates = [load_delegate(num_threads=delegate_threads)]
        return litert.Interpreter(experimental_delegates=delegates, **kwargs)
    except (ValueError, RuntimeError) as e:
        raise runtime_error(e) from e


def tensor_name(interpreter, index: int) -> str:
    """The name of tensor ``index`` of a stock interpreter (:func:`stock_interpreter`)."""
    return interpreter._get_tensor_details(index, 0)["name"]


def runtime_error(e: BaseException, delegate_attached: bool = False) -> BaseException:
    """The kbnn exception for an error a stock interpreter raised: kbnn delegate messages ->
    :class:`KbnnDelegateError` (or :class:`DelegateMissingError`), the rest ->
    :class:`RuntimeFailureError`; raise it ``from e``."""
    return _wrap(e, delegate_attached)


_UNRESOLVED = re.compile(r"Encountered unresolved custom op: (\w+)")


def explain_error(exc: BaseException) -> BaseException:
    """Maps a runtime error about kbnn ops to a kbnn exception with an actionable message.

    Returns the kbnn exception (raise it ``from exc``), or ``exc`` itself when it is unrelated::

        try:
            interpreter.allocate_tensors()
        except RuntimeError as e:
            raise kbnn.interpreter.explain_error(e) from e
    """
    if isinstance(exc, (KbnnDelegateError, DelegateMissingError, DelegateNotFoundError, ModelError)):
        return exc
    message = str(exc)
    if "kbnn delegate" in message:
        # The runtime concatenates reported errors: keep each kbnn message once, without the
        # runtime's generic follow-ups ("Encountered unresolved custom op", "Node number ...").
        parts = re.findall(
            r"kbnn delegate: .*?(?=kbnn delegate: |Encountered unresolved|Node number \d|$)",
            message,
            flags=re.S,
        )
        lines = [p.strip() for p in parts if p.strip()] or [message]
        return KbnnDelegateError("\n".join(dict.fromkeys(lines)))
    match = _UNRESOLVED.search(message)
    if match and match.group(1).startswith("Kbnn"):
        return DelegateMissingError(
            f"The model uses the kbnn op {match.group(1)}, which the interpreter cannot run "
            f"without the kbnn delegate. {ATTACH_HINT}"
        )
    if match and match.group(1).startswith("Lce"):
        return DelegateMissingError(
            f"The model uses the Larq Compute Engine op {match.group(1)}: the kbnn delegate runs "
            f"LCE files too. {ATTACH_HINT}"
        )
    return exc


class Interpreter:
    """The stock interpreter (ai_edge_litert; else tflite_runtime or tf.lite) with the kbnn
    delegate attached.

    Args:
      model: path to a .tflite file, or its bytes.
      num_threads: threads for the kbnn ops and the interpreter's own (float) ops.
      kernel: kbnn kernel choice, see `load_delegate`.
    """

    def __init__(
        self,
        model: str | os.PathLike | bytes | bytearray,
        num_threads: int | None = None,
        kernel: str | None = None,
    ):
        litert = _runtime()
        self._runtime_name = runtime_name(litert)
        if isinstance(model, (bytes, bytearray, memoryview)):
            content = bytes(model)
        elif isinstance(model, (str, os.PathLike)):
            try:
                content = Path(model).read_bytes()
            except OSError as e:
                raise ModelError(f"Cannot read the model file {os.fspath(model)!r}: {e}") from e
        else:
            raise TypeError(f"model must be a path or bytes. Received: model={type(model).__name__}")
        _check_model_bytes(content)
        self._delegate = load_delegate(num_threads=num_threads, kernel=kernel)
        try:
            self._interpreter = litert.Interpreter(
                model_content=content, experimental_delegates=[self._delegate], num_threads=num_threads
            )
        except (ValueError, RuntimeError, MemoryError) as e:
            err = explain_error(e)
            if err is e:
                raise ModelError(f"The TFLite runtime rejected the model: {e}") from e
            raise err from e
        self._allocate()
        # The shapes predict accepts: the model's declared input shapes (-1: dynamic dimension).
        self._signature = [input_signature(d) for d in self.input_details]

    def _wrap(self, e: BaseException) -> BaseException:
        """The kbnn exception for a runtime error of this interpreter (the delegate is attached)."""
        return _wrap(e, delegate_attached=True)

    # -- stock-interpreter access ----------------------------------------------------------------
    @property
    def interpreter(self):
        """The underlying stock interpreter (``ai_edge_litert.interpreter.Interpreter``)."""
        return self._interpreter

    @property
    def runtime(self) -> str:
        """The stock runtime that runs this model, with its version (e.g. ``"ai_edge_litert 2.3.0"``)."""
        return self._runtime_name

    @property
    def input_details(self) -> list[dict]:
        return self._interpreter.get_input_details()

    @property
    def output_details(self) -> list[dict]:
        return self._interpreter.get_output_details()

    def _allocate(self):
        try:
            self._interpreter.allocate_tensors()
        except (RuntimeError, ValueError) as e:
            raise self._wrap(e) from e
        except MemoryError as e:
            raise ModelError(
                "The runtime ran out of memory allocating the model's tensors "
                f"(corrupted model or shapes too large): {e}"
            ) from e

    def resize_input(self, input: int | str, shape: Sequence[int]) -> None:  # noqa: A002 - public name
        """Resizes one model input to ``shape`` (all dimensions) and reallocates the tensors.

        For models that really are dynamic (e.g. a fully convolutional model run on another image
        size): ``predict`` checks every non-batch dimension against the model's declared input
        shape, and after ``resize_input`` against this one. The batch (dimension 0) is resized by
        ``predict`` itself. ``input``: the input's position or name.
        """
        details = self.input_details
        if isinstance(input, str):
            names = [d["name"] for d in details]
            if input not in names:
                raise ValueError(f"No model input named {input!r}; model inputs: {names}")
            i = names.index(input)
        elif isinstance(input, (int, np.integer)) and 0 <= int(input) < len(details):
            i = int(input)
        else:
            raise ValueError(
                f"input must be an input name or a position in [0, {len(details)}). Received: input={input!r}"
            )
        try:
            shape = [int(s) for s in shape]
        except (TypeError, ValueError):
            raise ValueError(f"shape must be a sequence of ints. Received: shape={shape!r}") from None
        if len(shape) != len(self._signature[i]) or any(s < 1 for s in shape):
            raise ValueError(
                f"Input {details[i]['name']!r} has rank {len(self._signature[i])}: the new "
                f"shape must have {len(self._signature[i])} dimensions >= 1. Received: {shape}"
            )
        try:
            self._interpreter.resize_tensor_input(details[i]["index"], shape)
        except (RuntimeError, ValueError) as e:
            raise self._wrap(e) from e
        self._allocate()
        self._signature[i] = list(shape)

    def expected_shape(self, index: int = 0) -> tuple:
        """The shape ``predict`` accepts for input ``index``: ``None`` for the batch (any size >= 1)
        and for dimensions the model declares dynamic (-1), the declared size elsewhere."""
        return _expected_shape(self._signature[index])

    def _check_input(self, i: int, a: Any, d: dict) -> np.ndarray:
        return check_input(a, d, self._signature[i])

    def predict(self, *inputs: Any) -> np.ndarray | list[np.ndarray]:
        """Runs a batch: one array per model input (or a list/tuple/dict of them).

        Every input must have the model's shape except for the batch (dimension 0, >= 1): another
        image size or channel count is an error naming the expected shape (use
        :meth:`resize_input` for models that really are dynamic). dtypes: see :func:`_cast_input`
        (float inputs take float16/32/64 and small integers; no complex; integer inputs take
        integers within their range, never floats). A batch different from the current one
        resizes the inputs and reallocates the tensors. Returns one array, or a list when the
        model has several outputs.
        """
        details = self.input_details
        if len(inputs) == 1 and isinstance(inputs[0], dict):
            by_name = inputs[0]
            try:
                arrays = [by_name[d["name"]] for d in details]
            except KeyError as e:
                raise ValueError(f"Missing input {e}; model inputs: {[d['name'] for d in details]}") from None
        elif len(inputs) == 1 and isinstance(inputs[0], (list, tuple)) and len(details) > 1:
            arrays = list(inputs[0])
        else:
            arrays = list(inputs)
        if len(arrays) != len(details):
            raise ValueError(f"The model has {len(details)} inputs, received {len(arrays)}.")
        arrays = [self._check_input(i, a, d) for i, (a, d) in enumerate(zip(arrays, details))]
        resized = False
        for a, d in zip(arrays, details):
            if tuple(a.shape) != tuple(d["shape"]):
                try:
                    self._interpreter.resize_tensor_input(d["index"], list(a.shape))
                except (RuntimeError, ValueError) as e:
                    raise self._wrap(e) from e
                resized = True
        if resized:
            self._allocate()
        try:
            for a, d in zip(arrays, details):
                self._interpreter.set_tensor(d["index"], a)
            self._interpreter.invoke()
            outs = [self._interpreter.get_tensor(d["index"]) for d in self.output_details]
        except (RuntimeError, ValueError) as e:
            raise self._wrap(e) from e
        return outs[0] if len(outs) == 1 else outs

    __call__ = predict


def _wrap(e: BaseException, delegate_attached: bool = False) -> BaseException:
    """Maps a runtime error: kbnn delegate messages -> KbnnDelegateError, the rest (XNNPACK, the
    TFLite kernels, the interpreter) -> RuntimeFailureError; with the delegate attached, an
    unresolved kbnn op is reported as such, not as a missing delegate."""
    err = explain_error(e)
    if isinstance(err, DelegateMissingError) and delegate_attached:
        return KbnnDelegateError(
            f"The kbnn delegate is attached but did not take over every kbnn/LCE op of the model "
            f"(malformed graph or op options?). The runtime said: {e}"
        )
    if err is not e:
        return err
    return RuntimeFailureError(f"The TFLite runtime failed on this model (not a kbnn op): {e}")


def input_signature(details: dict) -> list:
    """The declared shape of an input (``shape_signature``: -1 for a dynamic dimension)."""
    sig = details.get("shape_signature")
    sig = list(sig) if sig is not None and len(sig) == len(details["shape"]) else list(details["shape"])
    return [int(s) for s in sig]


def _expected_shape(signature: Sequence[int]) -> tuple:
    return tuple(None if (d == 0 or s < 0) else int(s) for d, s in enumerate(signature))


def check_input(a: Any, details: dict, signature: Sequence[int] | None = None) -> np.ndarray:
    """``a`` as the array fed to the input described by ``details`` (an entry of
    ``input_details``), or ValueError naming the expected shape. Every dimension but the batch
    (dimension 0, >= 1) must equal ``signature``'s (default: the input's declared shape; -1 =
    any); dtypes as in :func:`_cast_input`. Used by ``Interpreter.predict``, ``benchmark`` and
    ``kbnn-run``."""
    name = details["name"]
    want = _expected_shape(input_signature(details) if signature is None else signature)
    shown = (
        "("
        + ", ".join("batch" if k == 0 else ("any" if s is None else str(s)) for k, s in enumerate(want))
        + ")"
    )
    a = np.asarray(a)
    a = _cast_input(a, np.dtype(details["dtype"]), name, details.get("quantization"))
    if a.ndim != len(want):
        raise ValueError(
            f"Input {name!r} must have shape {shown} ({len(want)} dimensions), received shape {a.shape}."
        )
    bad = [k for k, s in enumerate(want) if s is not None and a.shape[k] != s]
    if bad:
        hint = ""
        if len(want) == 4 and a.shape[1] == want[3] and tuple(a.shape[2:]) == tuple(want[1:3]):
            hint = (
                " The array looks channels-first (NCHW); the model takes NHWC: np.transpose(x, (0, 2, 3, 1))."
            )
        raise ValueError(
            f"Input {name!r} must have shape {shown}, received shape {a.shape} "
            f"(dimension {bad[0]} is {a.shape[bad[0]]}, the model expects {want[bad[0]]})."
            f"{hint} For a model that really takes other sizes, call "
            "interpreter.resize_input(...) first."
        )
    if want and a.shape[0] < 1:
        raise ValueError(
            f"Input {name!r} has an empty batch (shape {a.shape}): predict needs at least one sample."
        )
    return a


_FLOAT_EXACT_INT = 1 << 24  # integers up to 2^24 are exact in float32


def _cast_input(a: np.ndarray, dtype: np.dtype, name: str, quantization=None) -> np.ndarray:
    """The array ``predict`` feeds to a model input of ``dtype``, or ValueError. Accepted:

    * float32 inputs: float32 as is; float16 and float64 cast to float32 (float64 values beyond
      the float32 range are refused; the rounding to float32 is the documented cast); bool and
      integers within +-2^24 (exact in float32). Complex, strings and objects are refused.
    * integer inputs (int8/uint8/int16/int32/int64): integer arrays whose values fit the dtype;
      floats are refused (quantize them first).
    * other dtypes: exactly that dtype.
    """
    src = a.dtype
    if src == dtype:
        return a
    accepted = f"{dtype.name}"
    if dtype.kind == "f":
        accepted = f"{dtype.name} (float16/float64 and integers within +-2^24 are cast to {dtype.name})"
        if src.kind == "f":
            with np.errstate(over="ignore"):
                out = a.astype(dtype)
            if src.itemsize > dtype.itemsize and np.any(np.isinf(out) & np.isfinite(a)):
                raise ValueError(
                    f"Input {name!r} holds {src.name} values beyond the {dtype.name} range; "
                    f"the model takes {dtype.name}."
                )
            return out
        if src.kind in "biu":
            if (
                src.kind != "b"
                and a.size
                and (int(a.max()) > _FLOAT_EXACT_INT or int(a.min()) < -_FLOAT_EXACT_INT)
            ):
                raise ValueError(
                    f"Input {name!r} holds integers beyond +-2^24, which {dtype.name} cannot "
                    f"represent exactly; pass {dtype.name} data."
                )
            return a.astype(dtype)
    elif dtype.kind in "iu":
        if src.kind == "f":
            raise ValueError(
                f"Input {name!r} is an {dtype.name} input (an int8 model interface; (scale, zero_point) = "
                f"{quantization}): quantize the data first, q = round(x / scale) + zero_point. "
                "Received float data."
            )
        if src.kind in "iu":
            info = np.iinfo(dtype)
            if a.size and (int(a.max()) > info.max or int(a.min()) < info.min):
                raise ValueError(
                    f"Input {name!r} holds values outside the {dtype.name} range [{info.min}, {info.max}]."
                )
            return a.astype(dtype)
        accepted = f"{dtype.name} (or integers within its range)"
    raise ValueError(
        f"Input {name!r} takes {accepted}; received {src.name} data"
        + (" (the imaginary part would be lost)." if src.kind == "c" else ".")
    )


def _check_model_bytes(content: bytes):
    """Cheap sanity checks before the runtime's own flatbuffer verifier sees the bytes."""
    if len(content) < 8:
        raise ModelError(f"Not a TFLite model: {len(content)} bytes (truncated or empty file).")
    if content[4:8] != b"TFL3":
        raise ModelError(
            "Not a TFLite model: the file identifier is "
            f"{content[4:8]!r}, expected b'TFL3' (corrupted or not a .tflite file)."
        )
    root = int.from_bytes(content[:4], "little")
    if root >= len(content):
        raise ModelError(
            "Not a TFLite model: the root offset points past the end of the file (truncated file)."
        )
    _check_lce_op_versions(content)
    from kbnn_runtime.model_check import check_model

    check_model(content)


LCE_OP_VERSION = 1  # the op version larq-compute-engine 0.16 writes and the delegate maps


def _custom_op_versions(content: bytes) -> list[tuple[str, int]]:
    """(custom_code, version) of the model's CUSTOM operator codes, read with a minimal,
    bounds-checked flatbuffer walk (Model.operator_codes: field 1; OperatorCode.custom_code:
    field 1, version: field 2, default 1). Returns [] when the buffer does not parse."""
    n = len(content)

    def u32(at):
        if at < 0 or at + 4 > n:
            raise IndexError
        return int.from_bytes(content[at : at + 4], "little")

    def field(table, index):
        vtable = table - int.from_bytes(content[table : table + 4], "little", signed=True)
        vsize = int.from_bytes(content[vtable : vtable + 2], "little")
        slot = 4 + 2 * index
        if vtable < 0 or slot + 2 > vsize:
            return None
        off = int.from_bytes(content[vtable + slot : vtable + slot + 2], "little")
        return table + off if off else None

    try:
        root = u32(0)
        codes_at = field(root, 1)
        if codes_at is None:
            return []
        vec = codes_at + u32(codes_at)
        out = []
        for i in range(min(u32(vec), 100000)):
            elem = vec + 4 + 4 * i
            code = elem + u32(elem)
            name_at = field(code, 1)
            if name_at is None:
                continue
            s = name_at + u32(name_at)
            name = content[s + 4 : s + 4 + u32(s)].decode("utf-8", "replace")
            version_at = field(code, 2)
            version = (
                int.from_bytes(content[version_at : version_at + 4], "little", signed=True)
                if version_at is not None
                else 1
            )
            out.append((name, version))
        return out
    except (IndexError, ValueError):
        return []


def _check_lce_op_versions(content: bytes):
    """The runtimes do not pass a custom op's version to delegates: check LCE's here."""
    for name, version in _custom_op_versions(content):
        if name.startswith("Lce") and version != LCE_OP_VERSION:
            raise ModelError(
                f"The Larq Compute Engine op {name} has version {version}; kbnn maps version "
                f"{LCE_OP_VERSION} (written by larq-compute-engine 0.16). Re-convert the model with "
                "larq-compute-engine 0.16, or convert the Keras model with kbnn.convert."
            )
