"""Stage 3, with ``--clinical``: the metadata branch (age, sex, body site), its scale, and what it changes.

The branch (``ClinicalOffset`` in ``trainer/model.py``; the vector layout in ``trainer/clinical.py``)
is trained as a classifier of the metadata alone on the training split, with fields dropped at random
so that it learns what any subset a person fills in says; its scale is chosen on validation. Then,
for calibration, the threshold of a photo with every field left blank and the validation figures of
partly filled-in forms; and for the report, the clinical model against the image-only one. Nothing
here writes to the run folder: ``calibration.json`` and the report carry its results.
"""

from __future__ import annotations

import numpy as np

from . import clinical
from .metrics import (bootstrap_intervals, choose_decision, choose_threshold, classification_metrics, fit_calibration,
                      malignant_risk, risk_bins, screening_metrics, softmax)
from .runfiles import log

def model_inputs(model, images, vectors=None):
    """What ``model`` is called with: the images, plus the clinical vectors (all missing when None)
    for a model with a clinical input."""
    if "clinical" not in [t.name for t in model.inputs]:
        return images
    layout = clinical.Layout.of_size(len(model.get_layer("clinical_offset").missing))
    return {"image": np.asarray(images, np.float32), "clinical": layout.batch(vectors, len(images))}


# Metadata dropout while the clinical branch trains: a row loses everything with P_ALL, else each
# field with P_FIELD, so the branch learns what any subset a person fills in says.
P_ALL, P_FIELD = 0.3, 0.2
CLINICAL_COPIES, CLINICAL_EPOCHS, CLINICAL_MIN_STEPS = 10, 8, 400
CLINICAL_SCALES = (0.0, 0.25, 0.5, 0.75, 1.0, 1.25, 1.5)


def fit_clinical(model, vectors, y, seed: int) -> None:
    """Trains ``model``'s clinical_offset as a classifier of the metadata alone, on the training split,
    each image's vector seen in ``CLINICAL_COPIES`` random droppings of its fields (see ClinicalOffset)."""
    import keras

    layer = model.get_layer("clinical_offset")
    layout = clinical.Layout.of_size(vectors.shape[1])
    keras.utils.set_random_seed(seed)
    v = keras.Input((layout.size,), name="clinical")
    expert = keras.Model(v, layer.output_layer(keras.layers.Dropout(0.3)(layer.hidden_layer(v))))
    rng = np.random.default_rng(seed)
    x = np.concatenate([layout.drop_fields(vectors, rng, P_ALL, P_FIELD) for _ in range(CLINICAL_COPIES)])
    expert.compile(optimizer=keras.optimizers.Adam(3e-3),
                   loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    steps_per_epoch = int(np.ceil(len(x) / 256))  # small datasets get more epochs, so as many steps
    expert.fit(x, np.tile(y, CLINICAL_COPIES), batch_size=256, verbose=0, shuffle=True,
               epochs=max(CLINICAL_EPOCHS, int(np.ceil(CLINICAL_MIN_STEPS / steps_per_epoch))))


def clinical_offsets(model, vectors) -> np.ndarray:
    """The clinical branch's offsets (n, classes) at scale 1."""
    layer = model.get_layer("clinical_offset")
    return np.asarray(layer.mlp(np.asarray(vectors, np.float32))) - np.asarray(layer.mlp(layer.missing[None]))


def choose_clinical_scale(logits, offsets, y) -> tuple[float, dict[float, float]]:
    """The scale of the clinical offset with the lowest validation NLL once calibration is refitted:
    1 is Bayes' rule for metadata independent of the image given the class, 0 ignores it."""
    nll = {}
    for scale in CLINICAL_SCALES:
        z = logits + scale * offsets
        temperature, bias = fit_calibration(z, y)
        p = softmax(z / temperature + bias)
        nll[scale] = float(-np.mean(np.log(p[np.arange(len(y)), y] + 1e-12)))
    return min(nll, key=nll.get), nll


def clinical_stage(model, vectors, y, part, val: dict, records, seed: int) -> dict:
    """Trains ``model``'s clinical branch on the training split and sets its scale, chosen on validation.

    Args:
        vectors: every record's clinical vector; part: {split: mask} over the records.
        val: the validation logits (``val["logits"]``, image only): they become the logits with metadata,
            as a person who fills in the fields gets them, and ``val["image_logits"]`` keeps the others.

    Returns:
        the report's ``clinical`` entry: scale, validation NLL by scale, coverage of each split.
    """
    from .data import SPLITS

    val_idx = np.nonzero(part["val"])[0]
    fit_clinical(model, vectors[part["train"]], y[part["train"]], seed)
    val_offsets = clinical_offsets(model, vectors[val_idx])
    scale, nll_by_scale = choose_clinical_scale(val["logits"], val_offsets, y[val_idx])
    model.get_layer("clinical_offset").scale.assign(scale)
    val["image_logits"] = val["logits"]
    val["logits"] = val["logits"] + scale * val_offsets
    log(f"clinical branch: scale {scale} (validation NLL by scale {nll_by_scale})")
    layout = clinical.Layout.of_size(vectors.shape[1])
    return {"scale": scale, "validation_nll_by_scale": nll_by_scale,
            "coverage": {s: layout.coverage([records[i] for i in np.nonzero(part[s])[0]]) for s in SPLITS}}


def blank_and_partial(model, val_vectors, val: dict, y_val, malignant, class_ids, temperature, bias, decision,
                      threshold, scale, target_sensitivity: float):
    """The threshold of a photo with every field left blank, and the validation figures of partly filled-in forms.

    With every field left blank the logits are the image's alone, whose risk scores spread differently
    under the same calibration: such a photo gets its own threshold, chosen for the same sensitivity. Any
    field given uses the main threshold; partly filled-in forms are measured on validation.

    Returns:
        (calibration.json's ``clinical`` entry, {fields: validation metrics}, the blank photos' probabilities).
    """
    weights = decision["class_log_weights"]
    positive_val = malignant[y_val]
    photo_probs = softmax(val["image_logits"] / temperature + bias)
    photo_threshold = choose_threshold(malignant_risk(photo_probs, malignant), positive_val, target_sensitivity)
    layout = clinical.Layout.of_size(val_vectors.shape[1])
    subsets = [("age",), ("sex",), ("site",), ("age", "sex"), ("age", "site")]
    if layout.questions:  # the questions alone, and the form without them
        subsets += [clinical.QUESTION_NAMES, clinical.PERSON_FIELDS]
    partial = {}
    for fields in subsets:
        z = val["image_logits"] + scale * clinical_offsets(model, layout.only(val_vectors, fields))
        p_partial = softmax(z / temperature + bias)
        partial["+".join(fields)] = {
            **{k: v for k, v in screening_metrics(y_val, p_partial, malignant, threshold).items()
               if k in ("sensitivity", "specificity", "auc")},
            "balanced_accuracy": classification_metrics(y_val, p_partial, class_ids, weights)["balanced_accuracy"]}
    entry = {"scale": scale, "threshold_without_clinical": photo_threshold,
             "validation_without_clinical": screening_metrics(y_val, photo_probs, malignant, photo_threshold),
             "risk_bins_without_clinical": risk_bins(malignant_risk(photo_probs, malignant), positive_val,
                                                     photo_threshold)}
    return entry, partial, photo_probs


def compare_clinical(val, y_val, test_image_logits, test_offsets, y_test, groups, prior, class_ids, malignant,
                     target_sensitivity, calibration, bootstrap: int = 1000, *, kinds=None,
                     without_questions=None) -> dict:
    """The clinical model with metadata and with every field missing, against the image-only model
    (the same image weights calibrated, decided and thresholded on validation without metadata).

    Args:
        kinds: (validation, test) kinds of picture of each image: each kind's figures too, where there are several.
        without_questions: for a model trained with --questions, the (validation, test) offsets of the same
            people's age, sex and site alone, scaled: the variant ``without_questions``, as a person who answers
            no question gets it (the same calibration and threshold as ``with_metadata``).

    Returns:
        {"validation": {variant: metrics}, "test": {variant: metrics with 95% intervals over lesions}, and with
        several kinds "by_kind": {"validation": {kind: {variant: metrics}}, "test": {kind: {variant: …}}}}
    """
    temperature, bias = calibration["temperature"], np.asarray(calibration["class_bias"])
    weights, threshold = calibration["decision"]["class_log_weights"], calibration["threshold"]
    t_img, b_img = fit_calibration(val["image_logits"], y_val)
    val_img = softmax(val["image_logits"] / t_img + b_img)
    d_img = choose_decision(val_img, y_val, prior)["class_log_weights"]
    th_img = choose_threshold(malignant_risk(val_img, malignant), malignant[y_val], target_sensitivity)
    variants = {  # name: (validation logits, test logits, temperature, bias, decision weights, threshold)
        "image_only": (val["image_logits"], test_image_logits, t_img, b_img, d_img, th_img),
        "with_metadata": (val["logits"], test_image_logits + test_offsets, temperature, bias, weights, threshold),
        "metadata_missing": (val["image_logits"], test_image_logits, temperature, bias, weights,
                             calibration["clinical"]["threshold_without_clinical"]),
    }
    if without_questions is not None:
        val_base, test_base = without_questions
        variants["without_questions"] = (val["image_logits"] + val_base, test_image_logits + test_base, temperature,
                                         bias, weights, threshold)

    def summary(y, p, w, th, groups=None):
        m = classification_metrics(y, p, class_ids, w)
        s = screening_metrics(y, p, malignant, th)
        out = {"n": int(len(y)), "balanced_accuracy": m["balanced_accuracy"], "macro_auc": m["macro_auc"],
               "ece": m["ece"], "malignant_auc": s["auc"], "sensitivity": s["sensitivity"],
               "specificity": s["specificity"]}
        if groups is not None:
            out["intervals_95"] = bootstrap_intervals(y, p, groups, class_ids, malignant, th, n=bootstrap,
                                                      class_log_weights=w)
        return out

    groups = np.asarray(groups)
    several = kinds is not None and len(set(kinds[0]) | set(kinds[1])) > 1
    result = {"validation": {}, "test": {}}
    if several:
        result["by_kind"] = {"validation": {}, "test": {}}
    for name, (zv, zt, t, b, w, th) in variants.items():
        p_val, p_test = softmax(zv / t + b), softmax(zt / t + b)
        result["validation"][name] = summary(y_val, p_val, w, th)
        result["test"][name] = summary(y_test, p_test, w, th, groups)
        if several:
            for split, y, p, split_kinds, g in (("validation", y_val, p_val, kinds[0], None),
                                                ("test", y_test, p_test, kinds[1], groups)):
                for kind in sorted(set(split_kinds)):
                    sel = np.asarray(split_kinds) == kind
                    result["by_kind"][split].setdefault(kind, {})[name] = summary(
                        y[sel], p[sel], w, th, None if g is None else g[sel])
    return result
