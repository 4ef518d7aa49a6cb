"""Is this image like the ones the model was trained on? The signals behind the out-of-scope warning.

The browser computes the same numbers from the same model outputs (``web/skinlens.js``):

- not a lesion: the model's ``out_of_scope`` output, a logistic regression on its pooled features
  fitted to training lesions against pictures of other things (``fit_detector``; trainer/outliers.py).
- feature distance: the model's ``feature_distance`` output, a diagonal Mahalanobis distance of
  its pooled features from the training images' (``trainer.model.FeatureDistance``). A photo of
  something other than a dermoscopic close-up lands far from them. (The energy score,
  logsumexp of the logits, separated far worse on our out-of-scope set: see
  benchmarks/scope_separation.py.)
- blur = variance of the 3×3 Laplacian of the luminance of the H×W model input (0..255): low
  for a blurred or featureless picture.
- the top class probability: low when no class is confident. Only for a model without a fitted
  detector: an uncertain type is no sign of another kind of picture, and flagged one lesion in ten.

Thresholds are fitted on the validation split so that a chosen share of real dermoscopic images
passes each check; the converter writes them into ``metadata.json`` as ``scope``.
"""

from __future__ import annotations

import numpy as np

LAPLACIAN = np.array([[0, 1, 0], [1, -4, 1], [0, 1, 0]], np.float32)
LUMA = (0.299, 0.587, 0.114)
# Share of validation (in-scope) images each check may flag.
FALSE_ALARM_RATE = 0.02
DETECTOR_FALSE_ALARM_RATE = 0.05
# Inverse L2 strength of the detector's logistic regression, chosen by grouped cross-validation on
# the pictures it is fitted to, never on held-out ones (benchmarks/scope_detector_c.py).
DETECTOR_C = 0.01
CONFIDENCE_THRESHOLD = 0.4
MIN_SIDE = 100
# A picture whose mean luminance (0..255, on the model's input) is below this is "too dark" to judge. Not
# fitted: measured on 400 HAM10000 and 400 PAD-UFES-20 pictures (seed 0), the darkest lesion picture's mean
# was 108 and 75 (1st percentiles 120 and 97), so a picture under 50 is underexposed, not a dark lesion.
DARK_MEAN_LUMA = 50.0


def blur(images):
    """Variance of the Laplacian of the luminance, per image.

    Args:
        images: float (n, H, W, 3) in 0..255, numpy or tf.Tensor.

    Returns:
        tf.Tensor (n,).
    """
    import tensorflow as tf

    x = tf.convert_to_tensor(images, tf.float32)
    luma = tf.reduce_sum(x * tf.constant(LUMA, tf.float32), axis=-1, keepdims=True)
    lap = tf.nn.conv2d(luma, LAPLACIAN[:, :, None, None], strides=1, padding="VALID")
    return tf.math.reduce_variance(lap, axis=[1, 2, 3])


def brightness(images):
    """Mean luminance (0..255) per image, as the page's too-dark check computes it.

    Args:
        images: float (n, H, W, 3) in 0..255, numpy or tf.Tensor.

    Returns:
        tf.Tensor (n,).
    """
    import tensorflow as tf

    x = tf.convert_to_tensor(images, tf.float32)
    return tf.reduce_mean(tf.reduce_sum(x * tf.constant(LUMA, tf.float32), axis=-1), axis=[1, 2])


SYNTHETIC_PER_FAMILY = 40


def other_pictures(features_model, outliers: str = "", seed: int = 0) -> np.ndarray:
    """Pooled features (as ``features_model`` sees them) of pictures that are not lesions: the built-in
    synthetic ones, and every image file under ``outliers`` when given (unreadable files skipped)."""
    from . import outliers as others
    from .data import image_dataset
    from .images import resize

    size = features_model.input.shape[1]
    synthetic = np.stack([resize(img, size, size).numpy()
                          for _, img in others.synthetic(np.random.default_rng(seed), SYNTHETIC_PER_FAMILY)])
    features = [features_model.predict(synthetic, batch_size=8, verbose=0)]
    if outliers:
        paths = np.array([str(p) for p in others.folder(outliers)])
        if len(paths):
            features.append(features_model.predict(image_dataset(paths, np.zeros(len(paths), np.int32), size, 8),
                                                   verbose=0))
    return np.concatenate(features)


def fit_detector(model, lesions: np.ndarray, others: np.ndarray, c: float = DETECTOR_C) -> None:
    """Fits ``model``'s ``out_of_scope`` layer: a balanced logistic regression of pooled features,
    lesions (0, of every kind of picture the data has) against other pictures (1)."""
    _fit_logistic(model.get_layer("out_of_scope"), lesions, others, c)
    model.predict_function = None


def fit_picture_kind(model, dermoscopic: np.ndarray, photos: np.ndarray, c: float = DETECTOR_C) -> bool:
    """Fits ``model``'s ``picture_kind`` layer: dermoscopic close-ups (0) against ordinary photos (1) of
    training lesions. Data of one kind leaves it unfitted (every picture then reads as dermoscopic).

    Returns:
        whether it was fitted.
    """
    if not len(dermoscopic) or not len(photos):
        return False
    _fit_logistic(model.get_layer("picture_kind"), dermoscopic, photos, c)
    model.predict_function = None
    return True


def _fit_logistic(layer, negatives: np.ndarray, positives: np.ndarray, c: float) -> None:
    """A class-balanced logistic regression of standardised features into ``layer``'s kernel and bias
    (the standardisation folded into them)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    x = np.concatenate([negatives, positives]).astype(np.float64)
    y = np.r_[np.zeros(len(negatives)), np.ones(len(positives))]
    scaler = StandardScaler().fit(x)
    classifier = LogisticRegression(C=c, class_weight="balanced", max_iter=5000).fit(scaler.transform(x), y)
    kernel = classifier.coef_[0] / scaler.scale_
    bias = classifier.intercept_[0] - scaler.mean_ @ kernel
    layer.set_weights([kernel.astype(np.float32), np.float32(bias)])


def fit(val_distance: np.ndarray, val_blur: np.ndarray, val_top_probability: np.ndarray | None,
        val_out_of_scope: np.ndarray | None = None, val_kinds: np.ndarray | None = None) -> dict:
    """Thresholds from validation images, and how often each check fires on them.

    ``val_out_of_scope`` is the fitted detector's output (None without one): its threshold lets
    ``DETECTOR_FALSE_ALARM_RATE`` of validation lesions through, and it replaces the confidence check
    (``val_top_probability`` is then not read). With ``val_kinds`` (each image's kind of picture), each
    threshold is the most lenient of the kinds' own, so that no kind of lesion picture is refused more
    often than the rate: a few phone photos must not be outvoted by thousands of dermoscopic ones.
    """
    kinds = np.zeros(len(val_blur), int) if val_kinds is None else np.unique(val_kinds, return_inverse=True)[1]

    def lenient(values, q, pick):
        return float(pick([np.quantile(values[kinds == k], q) for k in np.unique(kinds)]))

    distance_threshold = lenient(val_distance, 1 - FALSE_ALARM_RATE, max)
    blur_threshold = lenient(val_blur, FALSE_ALARM_RATE, min)
    detector = val_out_of_scope is not None
    confidence = None if detector else CONFIDENCE_THRESHOLD
    flags = {"distance": val_distance > distance_threshold, "blur": val_blur < blur_threshold}
    result = {"distance_threshold": distance_threshold, "blur_threshold": blur_threshold,
              "confidence_threshold": confidence, "min_side": MIN_SIDE, "dark_threshold": DARK_MEAN_LUMA}
    if detector:
        result["out_of_scope_threshold"] = lenient(val_out_of_scope, 1 - DETECTOR_FALSE_ALARM_RATE, max)
        flags["out_of_scope"] = val_out_of_scope > result["out_of_scope_threshold"]
    else:
        flags["confidence"] = val_top_probability < CONFIDENCE_THRESHOLD
    flags["any"] = np.any(list(flags.values()), axis=0)
    result["validation_flag_rate"] = {k: float(v.mean()) for k, v in flags.items()}
    if val_kinds is not None:
        result["validation_flag_rate_by_kind"] = {
            str(kind): {k: float(v[np.asarray(val_kinds) == kind].mean()) for k, v in flags.items()}
            for kind in np.unique(val_kinds)}
    return result


def flagged(signals: dict, thresholds: dict) -> np.ndarray:
    """Whether the page would warn about each image (any check), from ``evaluate.run_model``'s signals
    (feature_distance, blur, out_of_scope or probabilities) and ``fit``'s thresholds: the share a page
    answers is the rest."""
    flags = [signals["feature_distance"] > thresholds["distance_threshold"],
             signals["blur"] < thresholds["blur_threshold"]]
    if thresholds.get("dark_threshold") is not None and "brightness" in signals:
        flags.append(signals["brightness"] < thresholds["dark_threshold"])
    if thresholds.get("out_of_scope_threshold") is not None:
        flags.append(signals["out_of_scope"] > thresholds["out_of_scope_threshold"])
    elif thresholds.get("confidence_threshold") is not None:
        flags.append(signals["probabilities"].max(axis=1) < thresholds["confidence_threshold"])
    return np.any(flags, axis=0)
