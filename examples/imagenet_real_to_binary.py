"""Train Real-to-Binary Net (ResNet-18 layout) on ImageNet with the multi-stage recipe.

NOT RUN HERE: ImageNet is not available on the kbnn development machines; this recipe has
only been imported and its models built (tests/test_models.py); no accuracy from it is
claimed. For comparison, Martinez, Yang, Bulat & Tzimiropoulos, "Training Binary Neural
Networks with Real-to-Binary Convolutions" (ICLR 2020) report 65.4 % top-1 ImageNet
accuracy for the full method (their strong baseline without the data-driven gate and
attention matching: 60.9 %).

What it does (:func:`kbnn.distillation.real_to_binary_recipe`):

1. trains the real-valued twin of the architecture;
2. trains binary activations / real weights, initialised from and distilled from stage 1
   (cross-entropy + KD + attention matching at the output of every ResNet block,
   ``block{k}b_add``, weight ``alpha_attention = 30`` as the paper's β);
3. trains binary activations and weights, initialised from and distilled from stage 2.

The data pipeline reads an ImageNet-style directory tree (``train/<class>/*.JPEG``,
``val/<class>/*.JPEG``) with ``keras.utils.image_dataset_from_directory``, random crops and
flips for training. The learning-rate schedule and epoch counts are arguments: set them
to the paper's (section 5 of the paper) for a faithful reproduction.

Usage::

    python examples/imagenet_real_to_binary.py /data/imagenet --epochs 75 75 75
"""

from __future__ import annotations

import argparse
import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import keras

import kbnn

REPORTED_TOP1 = 0.654
ATTENTION_LAYERS = [f"block{k}b_add" for k in range(1, 9)]


def build_fn(
    input_quantizer, kernel_quantizer, input_shape=(224, 224, 3), num_classes: int = 1000
) -> keras.Model:
    """One architecture for all three stages: same layer names, different quantizers."""
    return kbnn.models.RealToBinaryNet18(
        input_shape, num_classes, input_quantizer=input_quantizer, kernel_quantizer=kernel_quantizer
    )


def make_datasets(root: str, batch_size: int = 256, image_size: int = 224):
    import tensorflow as tf

    def load(split, shuffle):
        return keras.utils.image_dataset_from_directory(
            os.path.join(root, split),
            image_size=(image_size + 32, image_size + 32),
            batch_size=None,
            shuffle=shuffle,
            label_mode="int",
        )

    mean = tf.constant([0.485, 0.456, 0.406]) * 255.0
    std = tf.constant([0.229, 0.224, 0.225]) * 255.0

    def train_map(x, y):
        x = tf.image.random_crop(x, (image_size, image_size, 3))
        x = tf.image.random_flip_left_right(x)
        return (x - mean) / std, y

    def val_map(x, y):
        x = tf.image.resize_with_crop_or_pad(x, image_size, image_size)
        return (x - mean) / std, y

    auto = tf.data.AUTOTUNE
    train = load("train", True).map(train_map, num_parallel_calls=auto).batch(batch_size).prefetch(auto)
    val = load("val", False).map(val_map, num_parallel_calls=auto).batch(batch_size).prefetch(auto)
    return train, val


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("data", help="ImageNet root with train/ and val/ class folders")
    parser.add_argument("--epochs", type=int, nargs=3, default=[75, 75, 75])
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--save", default="real_to_binary_net18.keras")
    args = parser.parse_args(argv)
    train, val = make_datasets(args.data, args.batch_size)
    result = kbnn.distillation.real_to_binary_recipe(
        build_fn,
        train,
        epochs=tuple(args.epochs),
        validation_data=val,
        optimizer=lambda: keras.optimizers.Adam(args.lr),
        feature_layers=ATTENTION_LAYERS,
        alpha_task=1.0,
        alpha_kd=1.0,
        alpha_attention=30.0,
        temperature=1.0,
        verbose=1,
    )
    kbnn.summary(result.student)
    result.student.save(args.save)
    result.student.compile(loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    acc = result.student.evaluate(val, return_dict=True)["accuracy"]
    print(f"top-1: {100 * acc:.2f} %  (paper: {100 * REPORTED_TOP1:.1f} %)")


if __name__ == "__main__":
    main()
