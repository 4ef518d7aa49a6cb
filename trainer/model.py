"""The SkinLens network: MobileNetV2 with its preprocessing and a small head, in one graph.

The model takes raw RGB in 0..255 (float32, NHWC) and outputs class probabilities, so
nothing outside the graph normalises pixels: not the trainer, not the browser.

    image (0..255) -> Rescaling(1/127.5, -1) -> MobileNetV2 (no top) -> GlobalAveragePooling
        -> Dropout -> Dense "logits" -> Rescaling(1/T) "temperature" -> Softmax "probabilities"

``temperature`` is 1 until calibration sets it; it is a plain layer so the exported graph
carries the calibrated probabilities.

The model has two more outputs. ``feature_distance`` (see ``FeatureDistance``) says how unlike the
training images an input is, for the out-of-scope warning. ``cam``: the class activation maps (Zhou et al. 2016). With a
global-average-pooling + Dense head, class c's logit is the spatial mean of ``W_c · A(i, j) + b_c``
over the last feature map A, so applying the same Dense layer at every position gives, exactly
and without gradients, how much each position pushed each class: (h, w, classes) per image.
"""

from __future__ import annotations

import keras
from keras import layers, ops

from .config import Config

BACKBONE = "mobilenetv2"


def build_backbone(config: Config) -> keras.Model:
    """The ImageNet MobileNetV2 feature extractor (no top) for ``config``'s size and alpha.

    ``config.weights`` is "imagenet" (Keras downloads its file on first use), a path to a
    no-top weights file, or "none" for random weights (tests).
    """
    weights = None if config.weights in ("none", "", None) else config.weights
    return keras.applications.MobileNetV2(
        input_shape=(config.image_size, config.image_size, 3),
        alpha=config.alpha,
        include_top=False,
        weights=weights,
    )


def build_model(config: Config, num_classes: int) -> tuple[keras.Model, keras.Model]:
    """Builds the classifier and the feature model that shares its backbone.

    Returns:
        (model, features): ``model`` maps raw images to probabilities; ``features`` maps raw
        images to the pooled backbone features the head reads (used to train the head
        quickly on cached features while the backbone is frozen).
    """
    size = config.image_size
    image = keras.Input((size, size, 3), name="image", dtype="float32")
    x = layers.Rescaling(1 / 127.5, offset=-1, name="preprocess")(image)
    backbone = build_backbone(config)
    # training=False keeps BatchNorm in inference mode even while the top layers fine-tune:
    # updating its statistics on small batches of a new domain would undo what it learnt.
    feature_map = backbone(x, training=False)
    pooled = layers.GlobalAveragePooling2D(name="pool")(feature_map)
    x = layers.Dropout(config.dropout, name="dropout")(pooled)
    dense = layers.Dense(num_classes, name="logits")
    logits = dense(x)
    scaled = layers.Rescaling(1.0, name="temperature")(logits)
    probabilities = layers.Softmax(name="probabilities")(scaled)
    cam = layers.Identity(name="cam")(dense(feature_map))
    distance = FeatureDistance(name="feature_distance")(pooled)
    model = keras.Model(image, {"probabilities": probabilities, "cam": cam, "feature_distance": distance},
                        name="skinlens")
    features = keras.Model(image, pooled, name="skinlens_features")
    return model, features


class FeatureDistance(layers.Layer):
    """How unlike the training images an input is: mean over features of ((f - mean) / std)².

    A diagonal Mahalanobis distance of the pooled backbone features, about 1 for a typical
    training image and far larger for a photo of something else (see trainer/scope.py). The
    mean and std are fitted after training with ``set_feature_statistics``.
    """

    def build(self, input_shape):
        dim = input_shape[-1]
        self.mean = self.add_weight(shape=(dim,), initializer="zeros", trainable=False, name="mean")
        self.inv_std = self.add_weight(shape=(dim,), initializer="ones", trainable=False, name="inv_std")

    def call(self, features):
        return ops.mean(ops.square((features - self.mean) * self.inv_std), axis=-1)


def set_feature_statistics(model: keras.Model, features) -> None:
    """Fits ``feature_distance`` to pooled features of training images (n, dim)."""
    import numpy as np

    features = np.asarray(features, np.float64)
    std = features.std(axis=0) + 1e-3  # features that never fire must not divide by zero
    model.get_layer("feature_distance").set_weights([features.mean(axis=0).astype(np.float32),
                                                     (1.0 / std).astype(np.float32)])
    model.predict_function = None


def logits_model(model: keras.Model) -> keras.Model:
    """The same layers as ``model``, outputting logits: what stage 2 trains (loss from logits)."""
    return keras.Model(model.input, model.get_layer("logits").output, name="skinlens_logits")


def build_head(feature_dim: int, num_classes: int, dropout: float) -> keras.Model:
    """The head alone, on pooled features: its ``logits`` weights drop into ``build_model``'s."""
    pooled = keras.Input((feature_dim,), name="pooled")
    x = layers.Dropout(dropout, name="dropout")(pooled)
    logits = layers.Dense(num_classes, name="logits")(x)
    return keras.Model(pooled, logits, name="skinlens_head")


def set_temperature(model: keras.Model, temperature: float) -> None:
    """Bakes a calibration temperature into the model (probabilities = softmax(logits / T))."""
    model.get_layer("temperature").scale = 1.0 / float(temperature)
    model.predict_function = None  # predict() traced the old scale as a constant
