"""The SkinLens network: MobileNetV2 with its preprocessing and a small head, in one graph.

The model takes raw RGB in 0..255 (float32, NHWC) and outputs class probabilities, so
nothing outside the graph normalises pixels: not the trainer, not the browser.

    image (0..255) -> [ShadesOfGray] -> Rescaling(1/127.5, -1) -> DihedralViews(n) -> MobileNetV2 (no top)
        -> MergeViews(n) -> GlobalAveragePooling -> Dropout -> Dense "logits"
        -> Rescaling(1/T) "temperature" -> ClassBias "class_bias" -> Softmax "probabilities"

``DihedralViews`` is test-time augmentation inside the graph: the backbone sees the image in n of
its 8 flips/transposes, and ``MergeViews`` turns each view's feature map back to the image's own
orientation and averages them. The head is linear after pooling, so the logits are exactly the
mean of the views' logits, and the activation map stays aligned with the photo. Training builds
the same model with n = 1; the exported one has ``config.tta_views`` and the same weights.
``temperature`` (1) and ``class_bias`` (0) are set by calibration; they are plain layers so the
exported graph carries the calibrated probabilities.

With ``config.clinical`` the model has a second input, ``clinical``: the vector of age, sex and body
site (trainer/clinical.py). ``ClinicalOffset`` turns it into a per-class offset added to the logits
before calibration, exactly 0 when every field is missing, so that a photo alone gets the image
model's answer:

    image -> ... -> Dense "logits" -+-> Add "with_clinical" -> temperature -> class_bias -> Softmax
    clinical -> ClinicalOffset -----+

The model has more outputs. ``logits``: the image's logits, before the clinical offset and the
calibration (what the report and the browser's signals read). ``feature_distance`` (see
``FeatureDistance``) says how unlike the training images an input is, and ``out_of_scope`` (see
``OutOfScope``) how likely it is not a dermoscopic close-up at all, for the out-of-scope warning. ``cam``: the class activation maps (Zhou et al. 2016). With a
global-average-pooling + Dense head, class c's logit is the spatial mean of ``W_c · A(i, j) + b_c``
over the last feature map A, so applying the same Dense layer at every position gives, exactly
and without gradients, how much each position pushed each class: (h, w, classes) per image.
"""

from __future__ import annotations

import keras
from keras import layers, ops

from . import clinical
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
        name=BACKBONE,
    )


def build_model(config: Config, num_classes: int, views: int = 1) -> tuple[keras.Model, keras.Model]:
    """Builds the classifier and the feature model that shares its backbone.

    Args:
        views: dihedral views averaged inside the graph (1 for training; ``config.tta_views`` to export).

    Returns:
        (model, features): ``model`` maps raw images to probabilities; ``features`` maps raw
        images to the pooled backbone features the head reads (used to train the head
        quickly on cached features while the backbone is frozen).
    """
    size = config.image_size
    image = keras.Input((size, size, 3), name="image", dtype="float32")
    x = ShadesOfGray(name="colour_constancy")(image) if config.colour_constancy else image
    x = layers.Rescaling(1 / 127.5, offset=-1, name="preprocess")(x)
    backbone = build_backbone(config)
    # BatchNorm stays in inference mode because stage 2 sets its layers non-trainable (in Keras 3
    # the outer model's training flag would override training=False here): updating its statistics
    # on small batches of a new domain would undo what it learnt.
    feature_map = MergeViews(views, name="merge_views")(backbone(DihedralViews(views, name="views")(x), training=False))
    pooled = layers.GlobalAveragePooling2D(name="pool")(feature_map)
    x = layers.Dropout(config.dropout, name="dropout")(pooled)
    dense = layers.Dense(num_classes, name="logits")
    logits = image_logits = dense(x)
    inputs = image
    if config.clinical:
        clinical_vector = keras.Input((clinical.layout(config.questions).size,), name="clinical", dtype="float32")
        offset = ClinicalOffset(num_classes, name="clinical_offset")(clinical_vector)
        logits = layers.Add(name="with_clinical")([logits, offset])
        inputs = {"image": image, "clinical": clinical_vector}
    scaled = ClassBias(name="class_bias")(layers.Rescaling(1.0, name="temperature")(logits))
    probabilities = layers.Softmax(name="probabilities")(scaled)
    cam = layers.Identity(name="cam")(dense(feature_map))
    distance = FeatureDistance(name="feature_distance")(pooled)
    out_of_scope = OutOfScope(name="out_of_scope")(pooled)
    picture_kind = PictureKind(name="picture_kind")(pooled)
    model = keras.Model(inputs, {"probabilities": probabilities, "logits": image_logits, "cam": cam,
                                 "feature_distance": distance, "out_of_scope": out_of_scope,
                                 "picture_kind": picture_kind}, name="skinlens")
    features = keras.Model(image, pooled, name="skinlens_features")
    return model, features


# The 8 symmetries of a square image, as (transpose, flip rows, flip columns): the first 1, 2, 4 or 8
# are the views a model averages (identity; + mirror; + the other flips; + the transposes).
DIHEDRAL = ((False, False, False), (False, False, True), (False, True, False), (False, True, True),
            (True, False, False), (True, False, True), (True, True, False), (True, True, True))


def dihedral(x, transpose: bool, flip_rows: bool, flip_cols: bool):
    """One symmetry of a batch of square NHWC images (transpose first, then the flips)."""
    if transpose:
        x = ops.transpose(x, (0, 2, 1, 3))
    if flip_rows:
        x = ops.flip(x, axis=1)
    if flip_cols:
        x = ops.flip(x, axis=2)
    return x


def undo_dihedral(x, transpose: bool, flip_rows: bool, flip_cols: bool):
    """The inverse of ``dihedral`` (the flips undone first, then the transpose)."""
    if flip_cols:
        x = ops.flip(x, axis=2)
    if flip_rows:
        x = ops.flip(x, axis=1)
    if transpose:
        x = ops.transpose(x, (0, 2, 1, 3))
    return x


class DihedralViews(layers.Layer):
    """(b, s, s, c) -> (n * b, s, s, c): the batch in ``n`` dihedral views, view-major."""

    def __init__(self, n: int = 1, **kwargs):
        super().__init__(**kwargs)
        if n not in (1, 2, 4, 8):
            raise ValueError(f"views must be 1, 2, 4 or 8, not {n}")
        self.n = n

    def call(self, x):
        if self.n == 1:
            return x
        return ops.concatenate([dihedral(x, *d) for d in DIHEDRAL[:self.n]], axis=0)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "n": self.n}


class MergeViews(layers.Layer):
    """(n * b, h, w, c) feature maps of ``DihedralViews`` -> (b, h, w, c): each view turned back, averaged."""

    def __init__(self, n: int = 1, **kwargs):
        super().__init__(**kwargs)
        self.n = n

    def call(self, x):
        if self.n == 1:
            return x
        h, w, c = x.shape[1], x.shape[2], x.shape[3]
        per_view = ops.reshape(x, (self.n, -1, h, w, c))
        return ops.mean(ops.stack([undo_dihedral(per_view[i], *DIHEDRAL[i]) for i in range(self.n)]), axis=0)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "n": self.n}


class ShadesOfGray(layers.Layer):
    """Colour constancy (Finlayson & Trezzi 2004, p = 6), per image: each channel is scaled so the
    illuminant estimated by its 6-norm becomes grey. Input and output in 0..255."""

    def __init__(self, p: float = 6.0, **kwargs):
        super().__init__(**kwargs)
        self.p = p

    def call(self, x):
        unit = x / 255.0
        illuminant = ops.power(ops.mean(ops.power(unit, self.p), axis=(1, 2), keepdims=True), 1.0 / self.p)
        gain = ops.mean(illuminant, axis=-1, keepdims=True) / ops.maximum(illuminant, 1e-6)
        return ops.clip(x * gain, 0.0, 255.0)

    def get_config(self):
        return {**super().get_config(), "p": self.p}


class ClassBias(layers.Layer):
    """Adds a fixed per-class bias to the logits: the class-prior part of the calibration."""

    def build(self, input_shape):
        self.bias = self.add_weight(shape=(input_shape[-1],), initializer="zeros", trainable=False, name="bias")

    def call(self, logits):
        return logits + self.bias


class ClinicalOffset(layers.Layer):
    """Per-class logit offset from the clinical vector: ``scale * (mlp(v) - mlp(missing))``.

    ``mlp`` (Dense-ReLU-Dense) is a classifier of the metadata alone, trained on the training split
    (``trainer.train.fit_clinical``): its logits minus its logits for a person about whom nothing is
    known are how much age, sex and site move each class's log-odds, as in Bayes' rule when image
    and metadata are independent given the diagnosis. ``scale`` (non-trainable) is fitted on
    validation and shrinks that where they are not. The offset is exactly 0 when every field is
    missing, so the model then gives the image model's answer.
    """

    def __init__(self, num_classes: int, hidden: int = 32, **kwargs):
        super().__init__(**kwargs)
        self.num_classes, self.hidden = num_classes, hidden
        self.hidden_layer = layers.Dense(hidden, activation="relu", name="hidden")
        self.output_layer = layers.Dense(num_classes, name="output")

    def build(self, input_shape):
        self.missing = clinical.Layout.of_size(input_shape[-1]).missing  # its layout is its input's width
        self.hidden_layer.build(input_shape)
        self.output_layer.build((None, self.hidden))
        self.scale = self.add_weight(shape=(), initializer="ones", trainable=False, name="scale")

    def mlp(self, v):
        return self.output_layer(self.hidden_layer(v))

    def call(self, v):
        missing = ops.convert_to_tensor(self.missing[None], dtype=v.dtype)
        return self.scale * (self.mlp(v) - self.mlp(missing))

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.num_classes)

    def get_config(self):
        return {**super().get_config(), "num_classes": self.num_classes, "hidden": self.hidden}


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


class OutOfScope(layers.Layer):
    """The probability that an input is not a dermoscopic close-up of a skin lesion.

    A logistic regression on the pooled backbone features, ``sigmoid(f · kernel + bias)``, fitted after
    training on training lesions against pictures of other things (``trainer.scope.fit_detector``).
    Until it is fitted the kernel is 0 and the bias very negative: it then says "in scope" for all.
    """

    def build(self, input_shape):
        self.kernel = self.add_weight(shape=(input_shape[-1],), initializer="zeros", trainable=False, name="kernel")
        self.bias = self.add_weight(shape=(), initializer=keras.initializers.Constant(-20.0), trainable=False,
                                    name="bias")

    def call(self, features):
        return ops.sigmoid(ops.sum(features * self.kernel, axis=-1) + self.bias)

    def compute_output_shape(self, input_shape):
        return (input_shape[0],)


class PictureKind(OutOfScope):
    """The probability that a lesion is shown in an ordinary photo (a phone's or a camera's) rather than a
    dermoscopic close-up: the kind of picture the model judged, whose own threshold and figures the page uses.

    The same form as ``OutOfScope``, fitted after training on training lesions of both kinds
    (``trainer.scope.fit_picture_kind``); unfitted, it says "dermoscopic" (0) for all.
    """


def set_feature_statistics(model: keras.Model, features) -> None:
    """Fits ``feature_distance`` to pooled features of training images (n, dim)."""
    import numpy as np

    features = np.asarray(features, np.float64)
    std = features.std(axis=0) + 1e-3  # features that never fire must not divide by zero
    model.get_layer("feature_distance").set_weights([features.mean(axis=0).astype(np.float32),
                                                     (1.0 / std).astype(np.float32)])
    model.predict_function = None


def load_weights(model: keras.Model, path) -> None:
    """``model.load_weights(path)``, also for a run saved before the model had its ``out_of_scope`` or
    ``picture_kind`` output: such a layer then stays unfitted (in scope, dermoscopic, for every input); any
    other mismatch raises."""
    try:
        model.load_weights(str(path))
    except ValueError as err:
        text = str(err)
        later = sum(f"name={name}" in text for name in ("out_of_scope", "picture_kind"))
        if not later or f"A total of {later} objects could not be loaded" not in text:
            raise
        model.load_weights(str(path), skip_mismatch=True)


def image_input(model: keras.Model):
    """The model's image input (its only input, or the one beside ``clinical``)."""
    return next(t for t in model.inputs if t.name == "image")


def logits_model(model: keras.Model) -> keras.Model:
    """The same layers as ``model``, outputting the image's logits (loss from logits)."""
    return keras.Model(image_input(model), model.get_layer("logits").output, name="skinlens_logits")


def build_head(feature_dim: int, num_classes: int, dropout: float) -> keras.Model:
    """The head alone, on pooled features: its ``logits`` weights drop into ``build_model``'s."""
    pooled = keras.Input((feature_dim,), name="pooled")
    x = layers.Dropout(dropout, name="dropout")(pooled)
    logits = layers.Dense(num_classes, name="logits")(x)
    return keras.Model(pooled, logits, name="skinlens_head")


def set_calibration(model: keras.Model, temperature: float, bias) -> None:
    """Bakes calibration into the model: probabilities = softmax(logits / T + bias)."""
    import numpy as np

    model.get_layer("temperature").scale = 1.0 / float(temperature)
    model.get_layer("class_bias").set_weights([np.asarray(bias, np.float32)])
    model.predict_function = None  # predict() traced the old scale as a constant


def split_backbone(model: keras.Model, cut: str) -> tuple[keras.Model, keras.Model]:
    """The backbone below and above ``cut`` (a layer whose output is all the layers above it read).

    Both share the backbone's layers: training ``upper`` trains ``model``.
    """
    backbone = backbone_of(model)
    names = [layer.name for layer in backbone.layers]
    if cut not in names:
        raise ValueError(f"--cut {cut!r} is not a layer of {backbone.name}")
    tensor = backbone.get_layer(cut).output
    lower = keras.Model(backbone.input, tensor, name="below_cut")
    refusal = f"--cut {cut!r} does not separate the backbone: use a block's output (block_N_add)"
    try:
        upper = keras.Model(tensor, backbone.output, name="above_cut")
    except ValueError as err:  # a cut inside a residual block: the add above it needs more than the cut
        raise ValueError(refusal) from err
    if set(names[names.index(cut) + 1:]) - {layer.name for layer in upper.layers}:
        raise ValueError(refusal)
    return lower, upper


def backbone_of(model: keras.Model) -> keras.Model:
    """The MobileNetV2 inside ``model``, by its name (``BACKBONE``), not by where it sits."""
    return model.get_layer(BACKBONE)


def above_cut_model(model: keras.Model, cut: str) -> keras.Model:
    """Cached features at ``cut`` -> logits, through ``model``'s own layers (what stage 2 trains)."""
    _, upper = split_backbone(model, cut)
    features = keras.Input(upper.input.shape[1:], name="cut_features")
    x = model.get_layer("pool")(upper(features))
    x = model.get_layer("dropout")(x)
    return keras.Model(features, model.get_layer("logits")(x), name="skinlens_above_cut")
