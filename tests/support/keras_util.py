"""Keras helpers shared by the parity tests and scripts/runtime_parity_models.py."""

import keras
import numpy as np


def randomize_batchnorm(model, seed=0):
    """Random BatchNormalization parameters and statistics (negative gammas included), so that
    batch-norm folding is exercised by parity checks. Returns the model."""
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            c = layer.moving_mean.shape[0]
            if layer.scale:
                layer.gamma.assign(rng.uniform(-1.5, 1.5, c) + 0.05)
            if layer.center:
                layer.beta.assign(rng.normal(size=c))
            layer.moving_mean.assign(rng.normal(size=c) * 2)
            layer.moving_variance.assign(rng.uniform(0.5, 4.0, c))
    return model
