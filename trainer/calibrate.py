"""Views, calibration and decision, on validation only: what turns stage 2's model into the exported one.

``final_model`` builds the model as exported, with ``--tta-views`` dihedral views averaged inside the
graph, copies stage 2's weights into it and fits what it computes beside the classes: the training
features' statistics (``feature_distance``), the out-of-scope detector and the picture-kind output
(``trainer/scope.py``, ``trainer/kinds.py``). ``validation_views`` measures 1, 2, 4 and 8 views on
validation. ``calibrate`` fits the temperature and class bias, chooses the decision rule (logit
adjustment), the malignant-risk threshold, the scope thresholds and, with phone photos, each kind's
own; it writes ``calibration.json`` and sets the model's calibration.
"""

from __future__ import annotations

import json
import weakref
from pathlib import Path

import numpy as np

from . import scope
from .clinical_stage import blank_and_partial
from .data import image_dataset
from .kinds import choose as choose_by_kind
from .kinds import predicted_kinds
from .metrics import (choose_decision, choose_threshold, classification_metrics, fit_calibration, malignant_risk,
                      risk_bins, screening_metrics, softmax)
from .readers import PICTURE_KINDS
from .runfiles import log, write_text


def final_model(config, model, class_ids, train_paths, train_kinds):
    """The model as exported (``config.tta_views`` views), with ``model``'s weights and its fitted extras.

    Returns:
        (model, its features model, whether it tells dermoscopic from ordinary photos).
    """
    from .model import build_model, set_feature_statistics

    final, final_features = build_model(config, len(class_ids), views=config.tta_views)
    copy_weights(model, final)
    lesion_features, sample_kinds = training_features(final_features, train_paths, config.seed,
                                                      limit=max(1000, 3000 // config.tta_views), kinds=train_kinds)
    set_feature_statistics(final, lesion_features)
    # The out-of-scope detector: training lesions of every kind against pictures of other things
    # (trainer/scope.py); then which kind of picture a lesion is shown in (trainer/kinds.py).
    scope.fit_detector(final, lesion_features, scope.other_pictures(final_features, config.outliers, config.seed))
    has_kinds = scope.fit_picture_kind(final, lesion_features[sample_kinds == "dermoscopic"],
                                       lesion_features[sample_kinds == "photo"])
    return final, final_features, has_kinds


def validation_views(config, model, features_model, final, val_paths, has_kinds):
    """Every validation image through 1, 2, 4 and 8 views, and the final model's other outputs.

    The exported model averages ``config.tta_views`` of the 8 dihedral views; every count is measured
    for the record (quality against browser time). The head is linear after pooling, so one pass per
    view gives every count's logits.

    Returns:
        ({"logits", "blur", "distance", "out_of_scope", "picture_kind"} at ``config.tta_views`` views,
        {views: logits}).
    """
    pooled_by_view, val_blur = pooled_views(features_model, val_paths, config.image_size, config.batch_size)
    kernel, head_bias = model.get_layer("logits").get_weights()
    logits_by_views = {n: pooled_by_view[:, :n].mean(axis=1) @ kernel + head_bias for n in (1, 2, 4, 8)}
    val_pooled = pooled_by_view[:, :config.tta_views].mean(axis=1)
    val = {"logits": logits_by_views[config.tta_views], "blur": val_blur,
           "distance": np.asarray(final.get_layer("feature_distance")(val_pooled)),
           "out_of_scope": np.asarray(final.get_layer("out_of_scope")(val_pooled)),
           "picture_kind": np.asarray(final.get_layer("picture_kind")(val_pooled)) if has_kinds else None}
    return val, logits_by_views


def calibrate(config, final, val: dict, logits_by_views: dict, y_val, prior, class_ids, malignant, val_kinds_true,
              has_kinds: bool, run: Path, val_vectors=None, clinical_info: dict | None = None) -> dict:
    """Calibration, the decision rule, the screening threshold and the scope thresholds: validation only.

    Args:
        val: ``validation_views``' outputs (after ``clinical_stage``, with metadata); y_val: their classes;
            prior: the training split's class frequencies; val_kinds_true: each validation image's kind.
        val_vectors, clinical_info: with ``--clinical``, the validation clinical vectors and the clinical
            stage's entry (its ``validation_partly_filled_in`` is added here).

    Returns:
        what ``calibration.json`` holds (written into ``run``; the calibration set in ``final`` too).
    """
    from .model import set_calibration

    temperature, bias = fit_calibration(val["logits"], y_val)
    val_probs = softmax(val["logits"] / temperature + bias)
    decision = choose_decision(val_probs, y_val, prior)
    positive_val = malignant[y_val]
    threshold = choose_threshold(malignant_risk(val_probs, malignant), positive_val, config.target_sensitivity)
    clinical_calibration = photo_probs = None
    if config.clinical:
        clinical_calibration, partial, photo_probs = blank_and_partial(
            final, val_vectors, val, y_val, malignant, class_ids, temperature, bias, decision, threshold,
            clinical_info["scale"], config.target_sensitivity)
        clinical_info["validation_partly_filled_in"] = partial
    view_table = {}
    for n, logits_n in logits_by_views.items():
        t_n, b_n = fit_calibration(logits_n, y_val)
        p_n = softmax(logits_n / t_n + b_n)
        m = classification_metrics(y_val, p_n, class_ids, decision["class_log_weights"])
        view_table[n] = {"balanced_accuracy": m["balanced_accuracy"], "macro_auc": m["macro_auc"], "ece": m["ece"],
                         "malignant_auc": screening_metrics(y_val, p_n, malignant, threshold)["auc"],
                         "balanced_accuracy_argmax": classification_metrics(y_val, p_n, class_ids)["balanced_accuracy"]}
    calibration = {"temperature": temperature, "class_bias": [float(b) for b in bias],
                   "decision": decision, "target_sensitivity": config.target_sensitivity, "threshold": threshold,
                   "validation": {**screening_metrics(y_val, val_probs, malignant, threshold),
                                  **{k: v for k, v in classification_metrics(
                                      y_val, val_probs, class_ids, decision["class_log_weights"]).items()
                                     if k in ("balanced_accuracy", "macro_auc", "ece")}},
                   # What a score means, said to the person: how many validation images scoring alike were cancers.
                   "risk_bins": risk_bins(malignant_risk(val_probs, malignant), positive_val, threshold),
                   "validation_by_views": view_table,
                   "scope": scope.fit(val["distance"], val["blur"], val_probs.max(axis=1), val["out_of_scope"],
                                      val_kinds_true if has_kinds else None),
                   "clinical": clinical_calibration}
    if has_kinds:
        val_kinds = predicted_kinds(val["picture_kind"], len(y_val))
        calibration["by_kind"] = choose_by_kind(
            y_val, val_probs, malignant, val_kinds, threshold, config.target_sensitivity, class_ids,
            decision["class_log_weights"], photo_probs,
            clinical_calibration["threshold_without_clinical"] if config.clinical else None)
        calibration["picture_kind_validation"] = {
            kind: {judged: float((val_kinds[val_kinds_true == kind] == judged).mean()) for judged in PICTURE_KINDS}
            for kind in PICTURE_KINDS if (val_kinds_true == kind).any()}
    write_text(run / "calibration.json", json.dumps(calibration, indent=2) + "\n")
    set_calibration(final, temperature, bias)
    log(f"temperature {temperature:.3f}; decision tau {decision['tau']}; malignant threshold {threshold:.4f} "
        f"(validation sensitivity {calibration['validation']['sensitivity']:.3f}, "
        f"specificity {calibration['validation']['specificity']:.3f}, "
        f"balanced accuracy {calibration['validation']['balanced_accuracy']:.3f})")
    return calibration


def training_features(features_model, paths, seed: int, limit: int, kinds=None) -> tuple[np.ndarray, np.ndarray]:
    """Pooled features of a seeded sample of training images, as ``features_model`` sees them
    (the exported model's views included): what ``feature_distance``, ``out_of_scope`` and ``picture_kind``
    are fitted to. With ``kinds`` (each image's kind of picture), up to ``limit`` of each kind, so that a
    few phone photos are all in the sample.

    Returns:
        (features, the kind of each sampled image).
    """
    kinds = np.full(len(paths), "dermoscopic") if kinds is None else np.asarray(kinds)
    order = np.random.default_rng(seed).permutation(len(paths))
    chosen = np.sort(np.concatenate([order[kinds[order] == kind][:limit] for kind in np.unique(kinds)]))
    if len(np.unique(kinds)) == 1:  # one kind: the sample as it always was
        chosen = order[:limit]
    features = features_model.predict(image_dataset(paths[chosen], np.zeros(len(chosen), np.int32),
                                                    features_model.input.shape[1], 32), verbose=0)
    return features, kinds[chosen]


def pooled_views(features_model, paths, image_size, batch_size) -> tuple[np.ndarray, np.ndarray]:
    """Pooled features of every file in each of the 8 dihedral views (n, 8, dim), and each file's blur."""
    from .model import DIHEDRAL, dihedral

    features = _graph(features_model)
    ds = image_dataset(paths, np.zeros(len(paths), np.int32), image_size, batch_size)
    pooled, blur = [], []
    for images, _ in ds:
        pooled.append(np.stack([np.asarray(features(dihedral(images, *d))) for d in DIHEDRAL], axis=1))
        blur.append(scope.blur(images).numpy())
    return np.concatenate(pooled), np.concatenate(blur)


_GRAPHS = weakref.WeakKeyDictionary()


def _graph(features_model):
    """``features_model`` as one graph, traced once however many calls (the teacher's pass calls
    ``pooled_views`` a chunk at a time): 1.6x faster per image than eager calls (MobileNetV2, 224 px, 2 cores)."""
    import tensorflow as tf

    if features_model not in _GRAPHS:
        model = weakref.ref(features_model)  # the graph must not keep its model alive (the dict's key)
        _GRAPHS[features_model] = tf.function(lambda x: model()(x, training=False))
    return _GRAPHS[features_model]


def copy_weights(source, target) -> None:
    """Copies every layer's weights by name (the models differ only in weightless view layers)."""
    for layer in source.layers:
        if layer.weights:
            target.get_layer(layer.name).set_weights(layer.get_weights())
