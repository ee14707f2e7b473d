"""The end-to-end demo behind ``kbnn demo``.

``kbnn demo`` (:func:`run`) is the whole kbnn pipeline on scikit-learn's bundled 8×8 digits,
in about two minutes on two CPU cores:

1. train a small float CNN, the *teacher* (:func:`build_digits_cnn` with its quantizers off);
2. distil a binary CNN of the same architecture from it (:class:`kbnn.distillation.Distiller`:
   task loss + KD on the output distribution + attention matching at every block output).
   The student is a float stem convolution, four Bi-Real blocks (:func:`kbnn.blocks.bireal_block`:
   binary 3×3 convolutions, ApproxSign activations, magnitude-aware binary weights, real
   shortcuts) and a float classifier;
3. convert both with :func:`kbnn.convert` (the binary one gets bitpacked ``KbnnBconv2d`` ops, the
   teacher is the *float twin*: builtins only) and run them with :class:`kbnn.Interpreter`;
4. print test accuracy in Keras and in TFLite with the fraction of identical predictions, the
   ``.tflite`` sizes and the median single-image latency (1 thread; kbnn delegate vs XNNPACK),
   and write ``m.tflite`` and a PNG chart of size and latency. int8 is in every comparison: the
   student is also converted with int8 non-binary layers (``m_int8.tflite``,
   ``kbnn.convert(..., representative_dataset=...)``) and the float twin with post-training int8
   quantization (``m_int8_twin.tflite``); the report and chart name the kbnn kernel ISA and CPU.

:func:`compare_distillation` (``kbnn demo --compare-distillation``) trains the student with and
without distillation over several seeds. The earlier BinaryNet-style MLP stays available as
:func:`train_binary_mlp` / :func:`run_mlp`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import statistics
import time

import numpy as np


@dataclasses.dataclass
class DigitsData:
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray


def load_digits_data(test_fraction: float = 0.25, seed: int = 0) -> DigitsData:
    """scikit-learn's bundled digits (1,797 8×8 images), scaled to [-1, 1], stratified split."""
    try:
        from sklearn.datasets import load_digits
        from sklearn.model_selection import train_test_split
    except ImportError as e:  # pragma: no cover - exercised only without the extra
        raise ImportError(
            "The digits demo needs scikit-learn for its bundled data set. "
            "Install it with: pip install 'kbnn[demo]'"
        ) from e
    digits = load_digits()
    x = (digits.data.astype("float32") / 8.0) - 1.0  # pixel values 0..16 -> [-1, 1]
    y = digits.target.astype("int64")
    x_tr, x_te, y_tr, y_te = train_test_split(x, y, test_size=test_fraction, random_state=seed, stratify=y)
    return DigitsData(x_tr, y_tr, x_te, y_te)


def as_images(x: np.ndarray) -> np.ndarray:
    """Flat digits ``(N, 64)`` → NHWC images ``(N, 8, 8, 1)``."""
    return np.asarray(x, dtype="float32").reshape(-1, 8, 8, 1)


# --------------------------------------------------------------------------------------------
# The BinaryNet MLP (the first demo; kept for the tests and as the simplest example)
# --------------------------------------------------------------------------------------------


def build_binary_mlp(input_dim: int = 64, hidden: int = 256, num_classes: int = 10, depth: int = 2):
    """BinaryNet MLP: a float-input first layer with binary weights, then fully binary layers.

    Every hidden ``QuantDense`` binarizes its kernel with ``ste_sign``; every layer after
    the first also binarizes its input, so those layers are XNOR/popcount layers once
    converted. Batch normalization follows each dense layer (BinaryNet, Courbariaux et al. 2016).
    """
    import keras

    from kbnn import constraints
    from kbnn.layers import QuantDense

    binary = dict(
        kernel_quantizer="ste_sign",
        kernel_constraint=constraints.WeightClip(1.0),
        use_bias=False,
    )
    inputs = keras.Input((input_dim,), name="pixels")
    x = QuantDense(hidden, name="dense_in", **binary)(inputs)
    x = keras.layers.BatchNormalization(momentum=0.9, name="bn_in")(x)
    for i in range(depth - 1):
        x = QuantDense(hidden, input_quantizer="ste_sign", name=f"dense_{i + 1}", **binary)(x)
        x = keras.layers.BatchNormalization(momentum=0.9, name=f"bn_{i + 1}")(x)
    x = QuantDense(num_classes, input_quantizer="ste_sign", name="dense_out", **binary)(x)
    x = keras.layers.BatchNormalization(momentum=0.9, name="bn_out")(x)
    outputs = keras.layers.Activation("softmax", name="softmax")(x)
    return keras.Model(inputs, outputs, name="binary_mlp")


@dataclasses.dataclass
class DemoResult:
    test_accuracy: float
    train_seconds: float
    epochs: int
    model: object


def train_binary_mlp(
    epochs: int = 40, batch_size: int = 64, seed: int = 0, verbose: int = 0, data: DigitsData | None = None
) -> DemoResult:
    """Train the binarized MLP on digits; return test accuracy and wall time."""
    import keras

    keras.utils.set_random_seed(seed)
    data = data or load_digits_data(seed=seed)
    model = build_binary_mlp()
    model.compile(
        optimizer=keras.optimizers.Adam(1e-2),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    callbacks = [keras.callbacks.ReduceLROnPlateau("loss", factor=0.5, patience=4, min_lr=1e-4)]
    start = time.perf_counter()
    model.fit(
        data.x_train,
        data.y_train,
        epochs=epochs,
        batch_size=batch_size,
        verbose=verbose,
        callbacks=callbacks,
        shuffle=True,
    )
    seconds = time.perf_counter() - start
    _, acc = model.evaluate(data.x_test, data.y_test, verbose=0)
    return DemoResult(float(acc), seconds, epochs, model)


def run_mlp(epochs: int = 40, seed: int = 0, verbose: int = 1, print_fn=print) -> DemoResult:
    """Train, evaluate and summarize the binarized MLP; print a report."""
    data = load_digits_data(seed=seed)
    print_fn(
        f"kbnn demo: binarized MLP on scikit-learn digits "
        f"({len(data.x_train)} train / {len(data.x_test)} test images)"
    )
    result = train_binary_mlp(epochs=epochs, seed=seed, verbose=verbose, data=data)
    from kbnn.summary import summary

    summary(result.model, print_fn=print_fn)
    print_fn(
        f"test accuracy: {result.test_accuracy * 100:.2f}%  "
        f"(trained {result.epochs} epochs in {result.train_seconds:.1f} s)"
    )
    return result


# --------------------------------------------------------------------------------------------
# The binary CNN: Bi-Real blocks, distilled from a float teacher of the same architecture
# --------------------------------------------------------------------------------------------

#: Channels of the four Bi-Real blocks (two at 8×8, two at 4×4). Multiples of 32: one packed
#: word per 32 channels, no padding bits.
CNN_FILTERS = (32, 32, 64, 64)
#: Layers whose outputs are attention-matched between teacher and student (every block output).
FEATURE_LAYERS = tuple(f"block{i + 1}_add" for i in range(len(CNN_FILTERS)))


FLOAT_ACTIVATION = "hard_tanh"


def build_digits_cnn(
    binary: bool = True, filters=CNN_FILTERS, num_classes: int = 10, name: str | None = None
):
    """A small Bi-Real CNN for 8×8 digits; ``binary=False`` gives its float twin (the teacher).

    ``stem`` (float 3×3 conv, 32 channels) → BN → four :func:`kbnn.blocks.bireal_block` (binary
    3×3 convolutions with ApproxSign activations and magnitude-aware binary weights, +1 padding
    that the bitpacked kernel gets for free, real shortcuts; the third block downsamples to 4×4)
    → global average pooling → float ``Dense`` classifier → softmax. Layer names are the same in
    both variants, so weights copy by name and attention pairs are ``(name, name)``.
    """
    import keras

    from kbnn.blocks import bireal_block

    if binary:
        quant = dict(input_quantizer="approx_sign", kernel_quantizer="magnitude_aware_sign")
    else:  # float weights; hard tanh, the float relative of sign, where the student binarizes
        quant = dict(input_quantizer=keras.activations.get(FLOAT_ACTIVATION), kernel_quantizer=None)
    inputs = keras.Input((8, 8, 1), name="image")
    x = keras.layers.Conv2D(filters[0], 3, padding="same", use_bias=False, name="stem_conv")(inputs)
    x = keras.layers.BatchNormalization(momentum=0.9, name="stem_bn")(x)
    for i, f in enumerate(filters):
        strides = 2 if i > 0 and f != filters[i - 1] else 1
        x = bireal_block(x, f, strides=strides, pad_values=1.0, name=f"block{i + 1}", **quant)
    x = keras.layers.GlobalAveragePooling2D(name="pool")(x)
    x = keras.layers.Dense(num_classes, name="classifier")(x)
    outputs = keras.layers.Activation("softmax", name="softmax")(x)
    return keras.Model(inputs, outputs, name=name or ("binary_cnn" if binary else "float_cnn"))


def _tqdm_callback(desc: str, epochs: int, enabled: bool = True):
    """A Keras callback that advances one tqdm bar per epoch (loss / accuracy in the postfix)."""
    import keras
    from tqdm.auto import tqdm

    class TqdmEpochs(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            self.bar = tqdm(
                total=epochs, desc=desc, unit="epoch", disable=not enabled, leave=True, dynamic_ncols=True
            )

        def on_epoch_end(self, epoch, logs=None):
            logs = logs or {}
            shown = {k: f"{v:.3f}" for k, v in logs.items() if k in ("loss", "accuracy", "val_accuracy")}
            self.bar.set_postfix(shown, refresh=False)
            self.bar.update(1)

        def on_train_end(self, logs=None):
            self.bar.close()

    return TqdmEpochs()


def _optimizer(lr: float, epochs: int, steps_per_epoch: int):
    import keras

    schedule = keras.optimizers.schedules.CosineDecay(
        lr, decay_steps=max(1, epochs * steps_per_epoch), alpha=0.01
    )
    return keras.optimizers.Adam(schedule)


def _accuracy(model, x, y) -> float:
    return float(np.mean(np.argmax(model.predict(x, verbose=0, batch_size=256), axis=-1) == y))


def train_teacher(
    data: DigitsData, epochs: int, *, batch_size: int = 32, lr: float = 3e-3, progress: bool = True
):
    """The float teacher (the CNN with its quantizers off), trained on the task loss."""
    teacher = build_digits_cnn(binary=False)
    steps = -(-len(data.x_train) // batch_size)
    teacher.compile(
        optimizer=_optimizer(lr, epochs, steps), loss="sparse_categorical_crossentropy", metrics=["accuracy"]
    )
    teacher.fit(
        as_images(data.x_train),
        data.y_train,
        epochs=epochs,
        batch_size=batch_size,
        verbose=0,
        shuffle=True,
        callbacks=[_tqdm_callback("teacher (float)", epochs, progress)],
    )
    return teacher


def train_student(
    data: DigitsData,
    epochs: int,
    teacher=None,
    *,
    distill: bool = True,
    batch_size: int = 32,
    lr: float = 3e-3,
    alpha_kd: float = 1.0,
    alpha_attention: float = 10.0,
    temperature: float = 2.0,
    init_from_teacher: bool = True,
    progress: bool = True,
):
    """The binary CNN: distilled from ``teacher`` (``distill=True``) or trained on labels only.

    Both variants start from the teacher's weights when ``init_from_teacher`` (copied by layer
    name; a binary convolution keeps the float kernel as its latent weights) and use the same
    optimizer and schedule, so ``distill`` is the only difference between them.
    """
    from kbnn.distillation import Distiller, copy_weights_by_name

    student = build_digits_cnn(binary=True)
    if init_from_teacher and teacher is not None:
        copy_weights_by_name(teacher, student)
    steps = -(-len(data.x_train) // batch_size)
    optimizer = _optimizer(lr, epochs, steps)
    if distill:
        if teacher is None:
            raise ValueError("`distill=True` needs a teacher. Received: teacher=None")
        trainer = Distiller(
            student,
            teacher,
            feature_pairs=[(n, n) for n in FEATURE_LAYERS],
            alpha_kd=alpha_kd,
            alpha_attention=alpha_attention,
            temperature=temperature,
        )
        desc = "student (binary, distilled)"
    else:
        trainer, desc = student, "student (binary, labels only)"
    trainer.compile(optimizer=optimizer, loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    trainer.fit(
        as_images(data.x_train),
        data.y_train,
        epochs=epochs,
        batch_size=batch_size,
        verbose=0,
        shuffle=True,
        callbacks=[_tqdm_callback(desc, epochs, progress)],
    )
    if teacher is not None:
        teacher.trainable = True  # Distiller froze it while it ran
    return student


def _median_latency_us(interpreter, image: np.ndarray, runs: int = 300, warmup: int = 20) -> float:
    """Median wall time of ``invoke()`` on one image (µs), the input set once beforehand."""
    interpreter.predict(image)  # resizes to batch 1 and allocates
    raw = interpreter.interpreter if hasattr(interpreter, "interpreter") else interpreter
    raw.set_tensor(raw.get_input_details()[0]["index"], image)
    for _ in range(warmup):
        raw.invoke()
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        raw.invoke()
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1e6


@contextlib.contextmanager
def _native_stderr_captured():
    """Sends file descriptor 2 to a temporary file (the TFLite converter logs every custom op
    there); replays it if the block raises, so nothing is lost on failure."""
    import sys
    import tempfile

    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as tmp:
        os.dup2(tmp.fileno(), 2)
        try:
            yield
        except BaseException:
            os.dup2(saved, 2)
            tmp.seek(0)
            sys.stderr.write(tmp.read().decode(errors="replace"))
            raise
        finally:
            os.dup2(saved, 2)
            os.close(saved)


class _FloatInterpreter:
    """The stock interpreter without the kbnn delegate (float builtins run on XNNPACK)."""

    def __init__(self, content: bytes, num_threads: int = 1):
        from kbnn.interpreter import stock_interpreter

        self.interpreter = stock_interpreter(content, num_threads=num_threads)
        self.interpreter.allocate_tensors()

    def predict(self, x):
        raw = self.interpreter
        d = raw.get_input_details()[0]
        if tuple(x.shape) != tuple(d["shape"]):
            raw.resize_tensor_input(d["index"], list(x.shape))
            raw.allocate_tensors()
        raw.set_tensor(d["index"], np.asarray(x, dtype="float32"))
        raw.invoke()
        return raw.get_tensor(raw.get_output_details()[0]["index"])


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo (else the platform's processor string)."""
    import platform

    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith(("model name", "Model", "Hardware")):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def write_chart(
    path: str,
    float_bytes: int,
    kbnn_bytes: int,
    float_us: float,
    kbnn_us: float,
    title: str = "kbnn demo: binary CNN on digits (8×8)",
    int8_twin=None,
    kbnn_int8=None,
) -> str:
    """Two bar charts (``.tflite`` size and median 1-thread latency): float twin vs kbnn, plus the
    int8 twin and the kbnn int8-rest model when given as ``(bytes, µs)`` pairs."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = ["float twin\n(TFLite, XNNPACK)"]
    sizes, times, colors = [float_bytes / 1024], [float_us], ["#9e9e9e"]
    if int8_twin is not None:
        labels.append("int8 twin\n(TFLite, XNNPACK)")
        sizes.append(int8_twin[0] / 1024)
        times.append(int8_twin[1])
        colors.append("#bdbdbd")
    labels.append("kbnn binary\n(+ kbnn delegate)")
    sizes.append(kbnn_bytes / 1024)
    times.append(kbnn_us)
    colors.append("#1f77b4")
    if kbnn_int8 is not None:
        labels.append("kbnn binary,\nint8 rest")
        sizes.append(kbnn_int8[0] / 1024)
        times.append(kbnn_int8[1])
        colors.append("#0b4f8a")
    n_base = 2 if int8_twin is not None else 1  # the twins come first, the kbnn bars after them
    base_us, base_bytes = min(times[:n_base]), min(sizes[:n_base])
    best_us, best_bytes = min(times[n_base:]), min(sizes[n_base:])
    vs = "best of float/int8 twin" if int8_twin is not None else "float twin"
    fig, axes = plt.subplots(1, 2, figsize=(11 if len(labels) > 2 else 9, 4.4), dpi=110)
    panels = [
        (
            axes[0],
            sizes,
            "KiB",
            "model size (.tflite)",
            f"{base_bytes / best_bytes:.1f}× smaller than the {vs}",
            "{:.1f} KiB",
        ),
        (
            axes[1],
            times,
            "µs per image",
            "median latency, 1 thread, batch 1",
            f"{base_us / best_us:.2f}× "
            + ("faster" if best_us <= base_us else "slower (!)")
            + f" than the {vs}",
            "{:.0f} µs",
        ),
    ]
    for ax, values, unit, heading, ratio, fmt in panels:
        bars = ax.bar(labels, values, color=colors, width=0.55)
        for bar, v in zip(bars, values):
            ax.annotate(
                fmt.format(v),
                (bar.get_x() + bar.get_width() / 2, bar.get_height()),
                ha="center",
                va="bottom",
                xytext=(0, 3),
                textcoords="offset points",
                fontsize=10,
            )
        ax.set_ylabel(unit)
        ax.set_title(f"{heading}\nkbnn: {ratio}", fontsize=11)
        ax.set_ylim(0, max(values) * 1.18)
        ax.spines[["top", "right"]].set_visible(False)
        ax.tick_params(axis="x", labelsize=8 if len(labels) > 2 else 9)
    fig.suptitle(title, fontsize=12)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


@dataclasses.dataclass
class CnnDemoResult:
    """What :func:`run_cnn_demo` measured (accuracies are fractions of the test set)."""

    teacher_accuracy: float
    keras_accuracy: float
    tflite_accuracy: float
    agreement: float
    float_tflite_accuracy: float
    kbnn_bytes: int
    float_bytes: int
    kbnn_latency_us: float
    float_latency_us: float
    train_seconds: float
    total_seconds: float
    tflite_path: str
    chart_path: str
    int8_accuracy: float = 0.0  # kbnn model with int8 non-binary layers (m_int8.tflite), TFLite
    int8_bytes: int = 0
    int8_latency_us: float = 0.0
    int8_twin_accuracy: float = 0.0  # the float twin, post-training int8 quantization (m_int8_twin.tflite)
    int8_twin_bytes: int = 0
    int8_twin_latency_us: float = 0.0
    isa: str = ""  # the kbnn kernel ISA of this CPU
    cpu: str = ""
    student: object = dataclasses.field(repr=False, default=None)
    teacher: object = dataclasses.field(repr=False, default=None)

    @property
    def test_accuracy(self) -> float:
        return self.keras_accuracy


def run_cnn_demo(
    epochs: int = 30,
    teacher_epochs: int | None = None,
    seed: int = 0,
    out: str = ".",
    progress: bool = True,
    latency_runs: int = 300,
    print_fn=print,
) -> CnnDemoResult:
    """Teacher → distilled binary CNN → ``kbnn.convert`` → ``kbnn.Interpreter``; print a report.

    Args:
        epochs: Distillation epochs of the binary student.
        teacher_epochs: Epochs of the float teacher (default: ``epochs // 2``, at least 1).
        seed: Seed of the data split, the initialisation and the shuffling.
        out: Directory for ``m.tflite``, ``m_float.tflite`` and ``kbnn_demo.png`` (created).
        progress: tqdm bars for training and conversion.
        latency_runs: Timed single-image invocations per model.
        print_fn: Where the report goes.
    """
    import warnings

    import keras

    import kbnn
    from kbnn.summary import summary

    t_start = time.perf_counter()
    teacher_epochs = max(1, epochs // 2) if teacher_epochs is None else teacher_epochs
    keras.utils.set_random_seed(seed)
    data = load_digits_data(seed=seed)
    x_test = as_images(data.x_test)
    print_fn(
        f"kbnn demo: binary CNN (Bi-Real blocks) on scikit-learn digits, 8×8 "
        f"({len(data.x_train)} train / {len(data.x_test)} test images)"
    )
    print_fn(f"TFLite runtime: {kbnn.interpreter.runtime_name()}")
    isa, cpu = kbnn.interpreter.kernel_isa(), cpu_model()
    print_fn(f"kbnn kernel ISA: {isa}   CPU: {cpu}")

    t0 = time.perf_counter()
    teacher = train_teacher(data, teacher_epochs, progress=progress)
    student = train_student(data, epochs, teacher, distill=True, progress=progress)
    train_seconds = time.perf_counter() - t0
    summary(student, print_fn=print_fn)

    os.makedirs(out, exist_ok=True)
    tflite_path = os.path.join(out, "m.tflite")
    float_path = os.path.join(out, "m_float.tflite")
    print_fn("converting the binary CNN and its float twin with kbnn.convert ...")
    with _native_stderr_captured(), warnings.catch_warnings():
        # The float twin's blocks have a float activation where the student binarizes: they are
        # float layers on purpose, which the converter would warn about.
        warnings.simplefilter("ignore", kbnn.convert.ConversionWarning)
        _, report = kbnn.convert(student, tflite_path, progress=False, return_report=True)
        float_bytes = len(kbnn.convert(teacher, float_path, progress=False))
        # int8: the student's non-binary layers, and the whole float twin (post-training
        # quantization), both calibrated on the training images.
        x_train = as_images(data.x_train)
        rep = [x_train[i : i + 64] for i in range(0, len(x_train), 64)]
        int8_path, int8_twin_path = (
            os.path.join(out, "m_int8.tflite"),
            os.path.join(out, "m_int8_twin.tflite"),
        )
        int8_bytes = len(kbnn.convert(student, int8_path, progress=False, representative_dataset=rep))
        int8_twin_bytes = len(
            kbnn.convert(teacher, int8_twin_path, progress=False, representative_dataset=rep)
        )
    kbnn_bytes = os.path.getsize(tflite_path)
    if report.not_lowered:
        print_fn(f"warning: layers not lowered to kbnn ops: {[r.name for r in report.not_lowered]}")

    keras_pred = np.argmax(student.predict(x_test, verbose=0, batch_size=256), axis=-1)
    teacher_pred = np.argmax(teacher.predict(x_test, verbose=0, batch_size=256), axis=-1)
    kbnn_interp = kbnn.Interpreter(tflite_path, num_threads=1)
    tflite_pred = np.argmax(kbnn_interp.predict(x_test), axis=-1)
    float_interp = _FloatInterpreter(open(float_path, "rb").read(), num_threads=1)
    float_pred = np.argmax(float_interp.predict(x_test), axis=-1)
    int8_interp = kbnn.Interpreter(int8_path, num_threads=1)
    int8_pred = np.argmax(int8_interp.predict(x_test), axis=-1)
    twin8_interp = _FloatInterpreter(open(int8_twin_path, "rb").read(), num_threads=1)
    twin8_pred = np.argmax(twin8_interp.predict(x_test), axis=-1)

    y = data.y_test
    one = x_test[:1]
    kbnn_us = _median_latency_us(kbnn_interp, one, runs=latency_runs)
    float_us = _median_latency_us(float_interp, one, runs=latency_runs)
    int8_us = _median_latency_us(int8_interp, one, runs=latency_runs)
    twin8_us = _median_latency_us(twin8_interp, one, runs=latency_runs)
    accuracies = (
        f"test accuracy: binary {np.mean(tflite_pred == y) * 100:.1f}% (int8 rest "
        f"{np.mean(int8_pred == y) * 100:.1f}%), float twin {np.mean(float_pred == y) * 100:.1f}% "
        f"(int8 {np.mean(twin8_pred == y) * 100:.1f}%)"
    )
    chart_path = write_chart(
        os.path.join(out, "kbnn_demo.png"),
        float_bytes,
        kbnn_bytes,
        float_us,
        kbnn_us,
        title=f"kbnn demo: binary CNN on digits (8×8); kbnn kernels: {isa}, {cpu}\n{accuracies}",
        int8_twin=(int8_twin_bytes, twin8_us),
        kbnn_int8=(int8_bytes, int8_us),
    )

    result = CnnDemoResult(
        teacher_accuracy=float(np.mean(teacher_pred == y)),
        keras_accuracy=float(np.mean(keras_pred == y)),
        tflite_accuracy=float(np.mean(tflite_pred == y)),
        agreement=float(np.mean(keras_pred == tflite_pred)),
        float_tflite_accuracy=float(np.mean(float_pred == y)),
        kbnn_bytes=kbnn_bytes,
        float_bytes=float_bytes,
        kbnn_latency_us=kbnn_us,
        float_latency_us=float_us,
        train_seconds=train_seconds,
        total_seconds=0.0,
        tflite_path=tflite_path,
        chart_path=chart_path,
        int8_accuracy=float(np.mean(int8_pred == y)),
        int8_bytes=int8_bytes,
        int8_latency_us=int8_us,
        int8_twin_accuracy=float(np.mean(twin8_pred == y)),
        int8_twin_bytes=int8_twin_bytes,
        int8_twin_latency_us=twin8_us,
        isa=isa,
        cpu=cpu,
        student=student,
        teacher=teacher,
    )
    n = len(y)
    lowered = sum(1 for r in report.layers if r.status == "lowered")
    print_fn("")
    print_fn(
        f"trained teacher {teacher_epochs} + student {epochs} epochs in {train_seconds:.1f} s; "
        f"{lowered} layers lowered to kbnn ops"
    )
    print_fn(
        f"test accuracy   float teacher (Keras)   {result.teacher_accuracy * 100:6.2f}%   "
        f"(TFLite: {result.float_tflite_accuracy * 100:.2f}%)"
    )
    print_fn(f"                binary CNN (Keras)      {result.keras_accuracy * 100:6.2f}%")
    print_fn(
        f"                binary CNN (TFLite)     {result.tflite_accuracy * 100:6.2f}%   "
        f"(int8 non-binary layers: {result.int8_accuracy * 100:.2f}%; float twin int8: "
        f"{result.int8_twin_accuracy * 100:.2f}%)"
    )
    print_fn(
        f"identical predictions Keras vs TFLite: {result.agreement * 100:.2f}% "
        f"({int(np.sum(keras_pred == tflite_pred))}/{n} test images)"
    )
    print_fn(
        f"model size      float twin {float_bytes:,} B   int8 twin {int8_twin_bytes:,} B   kbnn "
        f"{kbnn_bytes:,} B   "
        f"kbnn int8-rest {int8_bytes:,} B   ({float_bytes / kbnn_bytes:.1f}× smaller than float)"
    )
    print_fn(
        f"latency (median, batch 1, 1 thread, kbnn kernels {isa})   float twin/XNNPACK {float_us:.1f} µs   "
        f"int8 twin/XNNPACK {twin8_us:.1f} µs   kbnn {kbnn_us:.1f} µs   kbnn int8-rest {int8_us:.1f} µs   "
        f"({float_us / kbnn_us:.2f}× {'faster' if kbnn_us <= float_us else 'slower'} than float, "
        f"{twin8_us / kbnn_us:.2f}× vs int8)"
    )
    result.total_seconds = time.perf_counter() - t_start
    print_fn(
        f"wrote {tflite_path}, {int8_path}, {float_path}, {int8_twin_path}, {chart_path}   "
        f"(total {result.total_seconds:.1f} s)"
    )
    return result


def compare_distillation(
    seeds=(0, 1, 2),
    epochs: int = 30,
    teacher_epochs: int | None = None,
    init_from_teacher: bool = True,
    progress: bool = False,
    print_fn=print,
) -> dict:
    """Binary CNN test accuracy with and without distillation, per seed and averaged.

    For each seed: one float teacher; then two students with the same initialisation (the
    teacher's weights, or a fresh seeded initialisation with ``init_from_teacher=False``),
    optimizer, schedule and epochs, one trained with
    :class:`~kbnn.distillation.Distiller` (task + KD + attention matching), one on the labels
    only. Returns ``{"distilled": [...], "labels_only": [...], "teacher": [...]}``.
    """
    import keras

    teacher_epochs = max(1, epochs // 2) if teacher_epochs is None else teacher_epochs
    res = {"teacher": [], "distilled": [], "labels_only": []}
    for seed in seeds:
        data = load_digits_data(seed=seed)
        x_test = as_images(data.x_test)
        keras.utils.set_random_seed(seed)
        teacher = train_teacher(data, teacher_epochs, progress=progress)
        res["teacher"].append(_accuracy(teacher, x_test, data.y_test))
        for key, distill in (("distilled", True), ("labels_only", False)):
            keras.utils.set_random_seed(seed + 1000)
            student = train_student(
                data, epochs, teacher, distill=distill, init_from_teacher=init_from_teacher, progress=progress
            )
            res[key].append(_accuracy(student, x_test, data.y_test))
        print_fn(
            f"seed {seed}: teacher {res['teacher'][-1] * 100:.2f}%  distilled "
            f"{res['distilled'][-1] * 100:.2f}%  "
            f"labels only {res['labels_only'][-1] * 100:.2f}%"
        )
    for key in res:
        print_fn(f"mean {key:12s} {np.mean(res[key]) * 100:.2f}%  (std {np.std(res[key]) * 100:.2f})")
    return res


def run(epochs: int = 30, seed: int = 0, out: str = ".", verbose: int = 1, print_fn=print) -> CnnDemoResult:
    """``kbnn demo``: the binary-CNN pipeline (:func:`run_cnn_demo`); ``verbose=0`` hides the bars."""
    return run_cnn_demo(epochs=epochs, seed=seed, out=out, progress=bool(verbose), print_fn=print_fn)


# --------------------------------------------------------------------------------------------
# Fully binary CNN: bit-plane first layer, multi-base binary blocks (no float convolution)
# --------------------------------------------------------------------------------------------


def build_bitplane_cnn(
    bases: int = 1,
    stem: str = "bitplane",
    filters: int = 64,
    blocks_per_stage: int = 2,
    name: str | None = None,
):
    """A binary CNN for 8×8 digits whose first layer is binary too (no float convolution at all).

    ``stem="bitplane"``: :class:`kbnn.layers.BitPlaneInput` (8 bits of the [-1, 1] input) → a
    binary-weight 3×3 ``QuantConv2D`` (BinaryNet's bit-plane first layer, 8 binary convolutions
    once converted); ``stem="float"``: a float 3×3 ``Conv2D`` instead (the comparison point).
    Then BN and two stages of ``blocks_per_stage`` Bi-Real-style blocks (binary 3×3 conv → BN →
    + identity; 2×2 max pooling between the stages), flatten and a binary ``QuantDense``
    classifier → BN → softmax. ``bases`` = 1 uses ``approx_sign`` activations and
    ``magnitude_aware_sign`` weights; ``bases`` > 1 uses ``MultiBaseSign(bases, "shift")`` for
    the activations and ``MultiBaseSign(bases)`` (ABC-Net) for the weights of the blocks, so
    each block convolution is ``bases²`` binary convolutions once converted.
    """
    import keras

    from kbnn.layers import BitPlaneInput, QuantConv2D, QuantDense
    from kbnn.quantizers import MultiBaseSign

    if stem not in ("bitplane", "float"):
        raise ValueError(f"`stem` must be 'bitplane' or 'float'. Received: stem={stem!r}")

    def quant():
        if bases == 1:
            return dict(input_quantizer="approx_sign", kernel_quantizer="magnitude_aware_sign")
        return dict(input_quantizer=MultiBaseSign(bases, mode="shift"), kernel_quantizer=MultiBaseSign(bases))

    inputs = keras.Input((8, 8, 1), name="image")
    if stem == "bitplane":
        x = BitPlaneInput(bits=8, value_range=(-1.0, 1.0), name="planes")(inputs)
        x = QuantConv2D(
            filters,
            3,
            padding="same",
            kernel_quantizer="magnitude_aware_sign",
            use_bias=False,
            name="stem_conv",
        )(x)
    else:
        x = keras.layers.Conv2D(filters, 3, padding="same", use_bias=False, name="stem_conv")(inputs)
    x = keras.layers.BatchNormalization(momentum=0.9, name="stem_bn")(x)
    for stage in range(2):
        if stage:
            x = keras.layers.MaxPooling2D(name=f"pool{stage}")(x)
        for b in range(blocks_per_stage):
            prefix = f"s{stage + 1}b{b + 1}"
            y = QuantConv2D(filters, 3, padding="same", use_bias=False, name=f"{prefix}_conv", **quant())(x)
            y = keras.layers.BatchNormalization(momentum=0.9, name=f"{prefix}_bn")(y)
            x = keras.layers.Add(name=f"{prefix}_add")([x, y])
    x = keras.layers.Flatten(name="flatten")(x)
    x = QuantDense(10, use_bias=False, name="classifier", **quant())(x)
    x = keras.layers.BatchNormalization(momentum=0.9, name="classifier_bn")(x)
    outputs = keras.layers.Activation("softmax", name="softmax")(x)
    return keras.Model(inputs, outputs, name=name or f"{stem}_cnn_{bases}b")


def train_bitplane_cnn(
    data: DigitsData,
    *,
    bases: int = 1,
    stem: str = "bitplane",
    epochs: int = 30,
    batch_size: int = 32,
    lr: float = 3e-3,
    seed: int = 0,
    progress: bool = False,
    **kw,
):
    """Train :func:`build_bitplane_cnn` on the labels (Adam, cosine decay); returns the model."""
    import keras

    keras.utils.set_random_seed(seed)
    model = build_bitplane_cnn(bases=bases, stem=stem, **kw)
    steps = -(-len(data.x_train) // batch_size)
    model.compile(
        optimizer=_optimizer(lr, epochs, steps), loss="sparse_categorical_crossentropy", metrics=["accuracy"]
    )
    model.fit(
        as_images(data.x_train),
        data.y_train,
        epochs=epochs,
        batch_size=batch_size,
        verbose=0,
        shuffle=True,
        callbacks=[_tqdm_callback(model.name, epochs, progress)],
    )
    return model
