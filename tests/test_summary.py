"""kbnn.summary: numbers checked against hand arithmetic (per sample, batch excluded)."""

import json
import math

import keras
import pytest

from kbnn.layers import (
    QuantConv1D,
    QuantConv2D,
    QuantConv2DTranspose,
    QuantConv3D,
    QuantDense,
    QuantDepthwiseConv2D,
    QuantSeparableConv2D,
    ShiftBatchNormalization,
)
from kbnn.summary import LayerSummary, ModelSummary, packed_weight_bytes, summary
from kbnn.variables import tag_precision

L = keras.layers


def _q(bits):
    """Quantizer for ``bits`` (1: ste_sign, 2: ste_tern, None: full precision)."""
    return {None: None, 1: "ste_sign", 2: "ste_tern"}[bits]


def QDense(units, input_bits=None, kernel_bits=None, **kw):
    return QuantDense(units, input_quantizer=_q(input_bits), kernel_quantizer=_q(kernel_bits), **kw)


def QConv2D(filters, k, input_bits=None, kernel_bits=None, **kw):
    return QuantConv2D(filters, k, input_quantizer=_q(input_bits), kernel_quantizer=_q(kernel_bits), **kw)


def _rows(s: ModelSummary) -> dict[str, LayerSummary]:
    return {r.name: r for r in s.layers}


def _quiet(model):
    return summary(model, print_fn=None)


# ---------------------------------------------------------------- the hand-computed model


@pytest.fixture(scope="module")
def hand_model():
    inp = keras.Input((8, 8, 3))
    x = QConv2D(16, 3, kernel_bits=1, name="c1")(inp)  # float input, binary kernel -> 6x6x16
    x = L.BatchNormalization(name="bn")(x)
    x = QConv2D(32, 3, padding="same", use_bias=False, input_bits=1, kernel_bits=1, name="c2")(x)  # 6x6x32
    x = L.MaxPooling2D(2, name="pool")(x)  # 3x3x32
    x = L.Flatten(name="flat")(x)  # 288
    x = QDense(10, input_bits=1, kernel_bits=1, name="d1")(x)
    y = L.Dense(10, name="d2")(x)
    return keras.Model(inp, y, name="hand")


def test_hand_computed_model_rows(hand_model):
    rows = _rows(_quiet(hand_model))
    assert list(rows) == ["c1", "bn", "c2", "pool", "flat", "d1", "d2"]  # no InputLayer row

    # c1: kernel 3*3*3*16 = 432 binary, bias 16 float32.
    # packed: Cout*kh*kw = 144 rows of ceil(3/32) = 1 word -> 576 B; bias 16*4 = 64 B.
    # MACs 6*6 positions * 16 * 3*3*3 = 15552, input float -> 0 binary.
    c1 = rows["c1"]
    assert c1.params == {1: 432, 32: 16}
    assert c1.memory_bytes == 576 + 64
    assert (c1.macs, c1.binary_macs) == (15552, 0)
    assert c1.output_shape == (None, 6, 6, 16)
    assert (c1.input_precision, c1.input_bits, c1.input_dtype) == (None, 32, "float32")
    assert c1.weight_precisions == [1]

    # bn: gamma, beta (trainable) + moving mean/var (non-trainable), 16 each, float32.
    bn = rows["bn"]
    assert bn.params == {32: 64}
    assert (bn.trainable_params, bn.non_trainable_params, bn.memory_bytes, bn.macs) == (32, 32, 256, 0)

    # c2: kernel 3*3*16*32 = 4608 binary, no bias; 32*9 = 288 rows of ceil(16/32) = 1 word -> 1152 B.
    # MACs 6*6 * 32 * 3*3*16 = 165888, binary input and kernel -> all binary.
    c2 = rows["c2"]
    assert c2.params == {1: 4608}
    assert c2.memory_bytes == 1152
    assert (c2.macs, c2.binary_macs) == (165888, 165888)
    assert (c2.input_precision, c2.input_bits) == (1, 1)

    assert (rows["pool"].macs, rows["pool"].params, rows["flat"].macs) == (0, {}, 0)
    assert rows["flat"].output_shape == (None, 288)

    # d1: kernel 288*10 = 2880 binary: 10 rows of ceil(288/32) = 9 words -> 360 B; bias 40 B.
    # MACs 288*10 = 2880, all binary.
    d1 = rows["d1"]
    assert d1.params == {1: 2880, 32: 10}
    assert d1.memory_bytes == 360 + 40
    assert (d1.macs, d1.binary_macs) == (2880, 2880)

    # d2: float Dense on d1's 10 outputs: 10*10 + 10 = 110 params, 440 B, 100 MACs.
    d2 = rows["d2"]
    assert d2.params == {32: 110}
    assert (d2.memory_bytes, d2.macs, d2.binary_macs) == (440, 100, 0)


def test_hand_computed_model_totals(hand_model):
    s = _quiet(hand_model)
    # binary params 432 + 4608 + 2880 = 7920; float 16 + 64 + 10 + 110 = 200.
    assert s.params == {1: 7920, 32: 200}
    assert s.total_params == 8120
    assert (s.trainable_params, s.non_trainable_params) == (8088, 32)
    # 640 + 256 + 1152 + 400 + 440 = 2888 B packed; 8120 * 4 = 32480 B as float32.
    assert s.memory_bytes == 2888
    assert s.float32_bytes == 32480
    assert s.compression_ratio == pytest.approx(32480 / 2888)
    # MACs 15552 + 165888 + 2880 + 100 = 184420; binary 165888 + 2880 = 168768.
    assert (s.macs, s.binary_macs, s.other_macs) == (184420, 168768, 184420 - 168768)
    assert s.binary_mac_fraction == pytest.approx(168768 / 184420)


def test_text_output_has_key_numbers(hand_model):
    printed = []
    s = summary(hand_model, print_fn=printed.append)
    assert len(printed) == 1 and printed[0] == s.to_text() == str(s)
    text = printed[0]
    for needle in [
        "c2 (QuantConv2D)",
        "(None, 6, 6, 32)",
        "1-bit",
        "float32",
        "1b:4,608",
        "32b:64",
        "165,888",
        "15,552",
        "Total params: 8,120 (1-bit: 7,920, 32-bit: 200)",
        "Model size: 2,888 bytes",
        "Float-32 equivalent: 32,480 bytes",
        f"Compression ratio: {32480 / 2888:.2f}x",  # 11.25x
        "MACs: 184,420",
        "binary: 168,768",
        f"binarized: {100 * 168768 / 184420:.2f}%",  # 91.51%
    ]:
        assert needle in text, needle


def test_to_dict_is_json_and_matches(hand_model):
    d = json.loads(json.dumps(_quiet(hand_model).to_dict()))
    assert d["totals"]["memory_bytes"] == 2888
    assert d["totals"]["params"] == {"1": 7920, "32": 200}
    assert [r["name"] for r in d["layers"]][:3] == ["c1", "bn", "c2"]
    assert d["layers"][2]["binary_macs"] == 165888


# ---------------------------------------------------------------- packing rule


def test_packed_weight_bytes_rule():
    # Conv kernel (3, 3, 40, 8): 8*9 = 72 rows of ceil(40/32) = 2 words -> 576 B.
    assert packed_weight_bytes((3, 3, 40, 8), 1) == 72 * 2 * 4
    # 2-bit: two bit-planes.
    assert packed_weight_bytes((3, 3, 40, 8), 2) == 2 * 72 * 2 * 4
    # Dense (100, 10): 10 rows of ceil(100/32) = 4 words.
    assert packed_weight_bytes((100, 10), 1) == 10 * 4 * 4
    # Exactly 64 channels: no padding word.
    assert packed_weight_bytes((64, 3), 1) == 3 * 2 * 4
    # Transposed conv kernel (3, 3, Cout=8, Cin=40) packs along axis -1.
    assert packed_weight_bytes((3, 3, 8, 40), 1, channel_axis=-1) == 72 * 2 * 4
    # Rank 1: one row.
    assert packed_weight_bytes((33,), 1) == 2 * 4


def test_tagged_k_bit_weight_and_channels_over_32():
    inp = keras.Input((4, 4, 40))
    layer = QConv2D(8, 3, kernel_bits=2, input_bits=2, use_bias=False, name="t")
    m = keras.Model(inp, layer(inp))
    row = _rows(_quiet(m))["t"]
    # 3*3*40*8 = 2880 params at 2 bits; 72 rows * ceil(40/32)=2 words * 2 planes * 4 B = 1152 B.
    assert row.params == {2: 2880}
    assert row.memory_bytes == 1152
    # 2x2 output * 8 * 360 = 11520 MACs, none binary (2-bit operands).
    assert (row.macs, row.binary_macs) == (11520, 0)


# ---------------------------------------------------------------- MAC formulas per layer kind


def _single(layer, input_shape):
    inp = keras.Input(input_shape)
    m = keras.Model(inp, layer(inp))
    return _rows(_quiet(m))[layer.name]


@pytest.mark.parametrize(
    "make, input_shape, expected",
    [
        # Conv1D dilated, grouped: out length 20 - 2*2 = 16; 16 * 8 * 3 * (4/2) = 768.
        (lambda: L.Conv1D(8, 3, dilation_rate=2, groups=2, name="k"), (20, 4), 16 * 8 * 3 * 2),
        # Conv1D strided, same padding: ceil(21/3) = 7 positions; 7 * 5 * 4 * 6.
        (lambda: L.Conv1D(5, 4, strides=3, padding="same", name="k"), (21, 6), 7 * 5 * 4 * 6),
        # Conv3D strided same: out (3, 4, 4); 48 * 6 * (2*3*3) * 3.
        (lambda: L.Conv3D(6, (2, 3, 3), strides=2, padding="same", name="k"), (5, 8, 8, 3), 48 * 6 * 18 * 3),
        # Conv2D channels_first: (3, 10, 10) -> (4, 8, 8); 64 * 4 * 9 * 3.
        (lambda: L.Conv2D(4, 3, data_format="channels_first", name="k"), (3, 10, 10), 64 * 4 * 27),
        # Conv2D groups=4: Cin/groups = 2; out 5x5; 25 * 12 * 9 * 2.
        (lambda: L.Conv2D(12, 3, groups=4, name="k"), (7, 7, 8), 25 * 12 * 9 * 2),
        # DepthwiseConv2D mult 2, stride 2: out 4x4; 16 * 9 * 4 * 2.
        (lambda: L.DepthwiseConv2D(3, strides=2, depth_multiplier=2, name="k"), (9, 9, 4), 16 * 9 * 4 * 2),
        # SeparableConv2D: dw 6*6 * 9 * 4*2 + pw 6*6 * 8 * 5.
        (lambda: L.SeparableConv2D(5, 3, depth_multiplier=2, name="k"), (8, 8, 4), 36 * 72 + 36 * 40),
        # Conv2DTranspose stride 2: input spatial 4x4; 16 * 9 * Cin 6 * Cout 5.
        (lambda: L.Conv2DTranspose(5, 3, strides=2, name="k"), (4, 4, 6), 16 * 9 * 6 * 5),
        # Conv1DTranspose: input length 10; 10 * 3 * 2 * 7.
        (lambda: L.Conv1DTranspose(7, 3, strides=2, name="k"), (10, 2), 10 * 3 * 2 * 7),
        # Dense on a rank-3 input: 5 positions * 6 in * 7 out.
        (lambda: L.Dense(7, name="k"), (5, 6), 5 * 6 * 7),
    ],
)
def test_macs_match_hand_formulas(make, input_shape, expected):
    row = _single(make(), input_shape)
    assert row.macs == expected
    assert row.binary_macs == 0


_B = {"input_quantizer": "ste_sign"}


@pytest.mark.parametrize(
    "make, input_shape, macs, params, kernel_bytes, bias_bytes",
    [
        # QuantConv1D dilated: out 16; 16 * 8 * 3 * 4. Kernel (3, 4, 8): 24 rows of 1 word.
        (
            lambda: QuantConv1D(8, 3, dilation_rate=2, kernel_quantizer="ste_sign", name="k", **_B),
            (20, 4),
            16 * 8 * 3 * 4,
            96,
            24 * 4,
            8 * 4,
        ),
        # QuantConv3D: out (3, 4, 4); 48 * 6 * 18 * 3. Kernel (2, 3, 3, 3, 6): 108 rows of 1 word.
        (
            lambda: QuantConv3D(
                6, (2, 3, 3), strides=2, padding="same", kernel_quantizer="ste_sign", name="k", **_B
            ),
            (5, 8, 8, 3),
            48 * 6 * 18 * 3,
            324,
            108 * 4,
            6 * 4,
        ),
        # QuantDepthwiseConv2D: out 4x4x8; 16 * 9 * 4 * 2. Kernel (3, 3, 4, 2) packed along Cin=4: 18 rows.
        (
            lambda: QuantDepthwiseConv2D(
                3, strides=2, depth_multiplier=2, depthwise_quantizer="ste_sign", name="k", **_B
            ),
            (9, 9, 4),
            16 * 9 * 4 * 2,
            72,
            18 * 4,
            8 * 4,
        ),
        # QuantConv2DTranspose: input 4x4; 16 * 9 * 6 * 5. Kernel (3, 3, 5, 6) packed along Cin=6: 45 rows.
        (
            lambda: QuantConv2DTranspose(5, 3, strides=2, kernel_quantizer="ste_sign", name="k", **_B),
            (4, 4, 6),
            16 * 9 * 6 * 5,
            270,
            45 * 4,
            5 * 4,
        ),
    ],
)
def test_binary_quant_layers(make, input_shape, macs, params, kernel_bytes, bias_bytes):
    row = _single(make(), input_shape)
    assert (row.macs, row.binary_macs) == (macs, macs)
    assert row.params[1] == params
    assert row.memory_bytes == kernel_bytes + bias_bytes
    assert (row.input_precision, row.weight_precisions) == (1, [1])


def test_binary_kernel_float_input_has_no_binary_macs():
    row = _single(QuantConv1D(8, 3, kernel_quantizer="ste_sign", name="k"), (10, 4))
    assert (row.macs, row.binary_macs) == (8 * 8 * 3 * 4, 0)


def test_shift_batch_norm_is_zero_macs():
    row = _single(ShiftBatchNormalization(name="k"), (4, 4, 6))
    assert row.macs == 0 and row.note == ""
    assert row.params == {32: row.total_params} and row.total_params > 0


def test_separable_binary_macs_only_in_depthwise_part():
    # input 1-bit, both kernels 1-bit: the depthwise part is binary (6*6 * 9 * 4 = 1296);
    # the pointwise part reads the multi-bit depthwise sums: 6*6 * 4 * 8 = 1152 not binary.
    layer = QuantSeparableConv2D(
        8,
        3,
        input_quantizer="ste_sign",
        depthwise_quantizer="ste_sign",
        pointwise_quantizer="ste_sign",
        name="k",
    )
    row = _single(layer, (8, 8, 4))
    assert (row.macs, row.binary_macs, row.other_macs) == (1296 + 1152, 1296, 1152)
    # depthwise kernel 3*3*4*1 = 36 binary: 9 rows of 1 word; pointwise 4*8 = 32: 8 rows of 1 word.
    assert row.params == {1: 36 + 32, 32: 8}
    assert row.memory_bytes == 9 * 4 + 8 * 4 + 8 * 4


def test_transposed_kernel_packs_along_input_channels():
    # Keras transposed kernel (3, 3, Cout=4, Cin=40), tagged binary: 36 rows of ceil(40/32) = 2 words.
    layer = L.Conv2DTranspose(4, 3, use_bias=False, name="k")
    inp = keras.Input((2, 2, 40))
    m = keras.Model(inp, layer(inp))
    tag_precision(layer.weights[0], 1)
    row = _rows(_quiet(m))["k"]
    assert row.params == {1: 3 * 3 * 4 * 40}
    assert row.memory_bytes == 36 * 2 * 4  # axis -2 (Cout=4) would give 360 rows of 1 word = 1440


# ---------------------------------------------------------------- any layer, nested models


class Scale(L.Layer):
    """A custom layer the summary knows nothing about."""

    def build(self, input_shape):
        self.w = self.add_weight(shape=(input_shape[-1],), name="w")
        self.steps = self.add_weight(shape=(), name="steps", trainable=False, dtype="int32")

    def call(self, x):
        return x * self.w


class MyDense(L.Dense):
    """A custom Dense kind: MACs are computed through isinstance."""


def test_unknown_layers_full_precision_and_na():
    inp = keras.Input((6,))
    x = Scale(name="scale")(inp)
    x = MyDense(3, name="mine")(x)
    x = L.EinsumDense("ab,bc->ac", (2,), name="ein")(x)
    s = _quiet(keras.Model(inp, x))
    rows = _rows(s)
    # Scale: 6 float32 + one int32 scalar, all counted at their dtype: 6*4 + 4 bytes.
    assert rows["scale"].params == {32: 7}
    assert (rows["scale"].trainable_params, rows["scale"].non_trainable_params) == (6, 1)
    assert rows["scale"].memory_bytes == 28
    assert rows["scale"].macs is None and rows["ein"].macs is None
    assert rows["mine"].macs == 18 and rows["mine"].params == {32: 21}
    assert rows["ein"].params == {32: 6}
    assert s.macs == 18  # n/a rows add nothing
    assert s.memory_bytes == 28 + 84 + 24
    text = s.to_text()
    assert "scale (Scale)" in text and "n/a" in text
    assert "MACs n/a (not counted): scale, ein" in text


def test_float16_weights_counted_at_their_size():
    inp = keras.Input((4,))
    m = keras.Model(inp, L.Dense(3, dtype="float16", name="h")(inp))
    row = _rows(_quiet(m))["h"]
    assert row.params == {16: 15}
    assert (row.memory_bytes, row.float32_bytes) == (30, 60)


class Owner(keras.Model):
    """A subclassed model with a weight of its own besides its layers."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.inner = L.Dense(4, name="inner")

    def build(self, input_shape):
        self.inner.build(input_shape)
        self.gain = self.add_weight(shape=(4,), name="gain")

    def call(self, x):
        return self.inner(x) * self.gain


def test_nested_models_walked_recursively():
    seq = keras.Sequential(
        [keras.Input((12,)), QDense(8, input_bits=1, kernel_bits=1, name="qd"), L.ReLU(name="r")], name="seq"
    )
    inp = keras.Input((4, 3))
    x = L.Flatten(name="flat")(inp)
    x = seq(x)
    owner = Owner(name="own")
    y = owner(x)
    s = _quiet(keras.Model(inp, y))
    rows = _rows(s)
    assert list(rows) == ["flat", "seq/qd", "seq/r", "own/inner", "own"]
    # seq/qd: 12*8 binary (8 rows of 1 word = 32 B) + 8 float bias (32 B); 12*8 = 96 binary MACs.
    qd = rows["seq/qd"]
    assert qd.params == {1: 96, 32: 8}
    assert (qd.memory_bytes, qd.macs, qd.binary_macs) == (64, 96, 96)
    assert qd.output_shape == (None, 8)
    assert rows["own/inner"].params == {32: 36}
    assert rows["own"].params == {32: 4} and "outside its layers" in rows["own"].note
    assert s.params == {1: 96, 32: 8 + 36 + 4}
    assert s.binary_macs == 96


class Tied(L.Layer):
    """Reuses another layer's kernel (tied weights): its ``weights`` list that variable too."""

    def __init__(self, source, **kwargs):
        super().__init__(**kwargs)
        self.source = source

    def call(self, x):
        return keras.ops.matmul(x, self.source.kernel)


def test_shared_weights_counted_once():
    shared = L.Dense(5, use_bias=False, name="sh")
    inp = keras.Input((3,))
    x = L.Dense(3, use_bias=False, name="to3")(shared(inp))
    y = Tied(shared, name="tied")(x)
    s = _quiet(keras.Model(inp, y))
    rows = _rows(s)
    # sh: 3*5 = 15 and to3: 5*3 = 15 parameters; the tied layer lists sh's kernel but adds none.
    assert rows["tied"].params == {} and rows["tied"].memory_bytes == 0
    assert s.total_params == 30


def test_unbuilt_model_rejected():
    with pytest.raises(ValueError, match="not built"):
        summary(keras.Sequential([L.Dense(3)]), print_fn=None)
    with pytest.raises(ValueError, match="keras.Model"):
        summary(L.Dense(3), print_fn=None)


def test_float_model_ratio_one_and_no_binary():
    inp = keras.Input((3,))
    s = _quiet(keras.Model(inp, L.Dense(2)(inp)))
    assert s.compression_ratio == 1.0
    assert s.binary_mac_fraction == 0.0
    assert math.isclose(s.float32_bytes, s.memory_bytes)
