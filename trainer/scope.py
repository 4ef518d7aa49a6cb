"""Is this image like the ones the model was trained on? The signals behind the out-of-scope warning.

The browser computes the same numbers from the same model outputs (``web/skinlens.js``):

- feature distance: the model's ``feature_distance`` output, a diagonal Mahalanobis distance of
  its pooled features from the training images' (``trainer.model.FeatureDistance``). A photo of
  something other than a dermoscopic close-up lands far from them. (The energy score,
  logsumexp of the logits, separated far worse on our out-of-scope set: see
  benchmarks/scope_separation.py.)
- blur = variance of the 3×3 Laplacian of the luminance of the H×W model input (0..255): low
  for a blurred or featureless picture.
- the top class probability: low when no class is confident.

Thresholds are fitted on the validation split so that a chosen share of real dermoscopic images
passes each check; the converter writes them into ``metadata.json`` as ``scope``.
"""

from __future__ import annotations

import numpy as np

LAPLACIAN = np.array([[0, 1, 0], [1, -4, 1], [0, 1, 0]], np.float32)
LUMA = (0.299, 0.587, 0.114)
# Share of validation (in-scope) images each check may flag.
FALSE_ALARM_RATE = 0.02
CONFIDENCE_THRESHOLD = 0.4
MIN_SIDE = 100


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


def fit(val_distance: np.ndarray, val_blur: np.ndarray, val_top_probability: np.ndarray) -> dict:
    """Thresholds from validation images, and how often each check fires on them."""
    distance_threshold = float(np.quantile(val_distance, 1 - FALSE_ALARM_RATE))
    blur_threshold = float(np.quantile(val_blur, FALSE_ALARM_RATE))
    return {
        "distance_threshold": distance_threshold,
        "blur_threshold": blur_threshold,
        "confidence_threshold": CONFIDENCE_THRESHOLD,
        "min_side": MIN_SIDE,
        "validation_flag_rate": {
            "distance": float((val_distance > distance_threshold).mean()),
            "blur": float((val_blur < blur_threshold).mean()),
            "confidence": float((val_top_probability < CONFIDENCE_THRESHOLD).mean()),
        },
    }
