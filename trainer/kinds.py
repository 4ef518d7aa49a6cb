"""Per kind of picture: the screening threshold, what a score means and how well the check does, for
dermoscopic close-ups and ordinary (phone) photos apart.

A phone photo of a lesion scores differently from a dermoscopic close-up of it, and the data has far
fewer phone photos, so one threshold for all would be chosen by the dermoscopic images alone. The
model's ``picture_kind`` output says which kind it judged; each kind gets its own threshold for the
target sensitivity, chosen on the validation images the model judged to be of that kind (the page
applies it the same way), its own risk ranges, and its own validation and test figures.

A kind with fewer than ``MIN_CANCERS`` validation cancers gets no threshold of its own: it takes the
lower (more cautious) of the shared threshold and what its few cancers suggest, and is marked
``few_cancers`` so the page says that its figures rest on few cases.

    >>> kind = predicted_kinds(np.array([0.1, 0.9]))  # ['dermoscopic', 'photo']
"""

from __future__ import annotations

import numpy as np

from .metrics import (bootstrap_intervals, choose_threshold, classification_metrics, malignant_risk, risk_bins,
                      screening_metrics, wilson_interval)
from .readers import PICTURE_KINDS

# Fewer validation cancers than this make a kind's own threshold too noisy to trust on its own (at 95%
# sensitivity, one cancer in 20 is all that decides it).
MIN_CANCERS = 20
PHOTO_PROBABILITY = 0.5  # picture_kind at or above it: an ordinary photo


def predicted_kinds(picture_kind: np.ndarray | None, n: int | None = None) -> np.ndarray:
    """The kind each picture was judged to be, from the model's ``picture_kind`` output (None: all
    dermoscopic, for a model without one)."""
    if picture_kind is None:
        return np.full(n, PICTURE_KINDS[0])
    return np.where(np.asarray(picture_kind) >= PHOTO_PROBABILITY, PICTURE_KINDS[1], PICTURE_KINDS[0])


def _screening(y, probs, malignant, kinds, shared_threshold, target_sensitivity):
    positive = malignant.astype(bool)[y]
    risk = malignant_risk(probs, malignant)
    out = {}
    for kind in PICTURE_KINDS:
        sel = kinds == kind
        if not sel.any():
            continue
        cancers = int(positive[sel].sum())
        few = cancers < MIN_CANCERS
        own = choose_threshold(risk[sel], positive[sel], target_sensitivity) if cancers else shared_threshold
        threshold = min(own, shared_threshold) if few else own
        out[kind] = {"threshold": float(threshold), "few_cancers": few, "n_validation_cancers": cancers,
                     "risk_bins": risk_bins(risk[sel], positive[sel], threshold),
                     "validation": screening_metrics(y[sel], probs[sel], malignant, threshold)}
    return out


def choose(y_val, val_probs, malignant, val_kinds, shared_threshold, target_sensitivity, class_ids,
           class_log_weights, photo_probs=None, photo_threshold=None) -> dict:
    """Each kind's threshold, risk ranges and validation figures (``screening.by_kind`` of metadata.json).

    Args:
        val_kinds: the kind the model judged each validation image to be (``predicted_kinds``).
        photo_probs, photo_threshold: for a clinical model, the probabilities and shared threshold with
            every field left blank: each kind then also gets its ``without_clinical`` threshold and ranges.
    """
    by_kind = _screening(y_val, val_probs, malignant, val_kinds, shared_threshold, target_sensitivity)
    for kind, entry in by_kind.items():
        sel = val_kinds == kind
        m = classification_metrics(y_val[sel], val_probs[sel], class_ids, class_log_weights)
        entry["validation"].update({k: m[k] for k in ("balanced_accuracy", "ece")}, n=int(sel.sum()))
    if photo_probs is not None:
        blank = _screening(y_val, photo_probs, malignant, val_kinds, photo_threshold, target_sensitivity)
        for kind, entry in blank.items():
            by_kind[kind]["without_clinical"] = entry
    return by_kind


def measure(y, probs, malignant, kinds, true_kinds, groups, by_kind, class_ids, class_log_weights,
            answered=None, bootstrap: int = 1000) -> dict:
    """Test figures per kind of picture, each kind at its own threshold, with 95% intervals resampling
    groups (lesions or patients).

    Args:
        kinds: the kind the model judged each image to be; true_kinds: the kind its dataset says.
        answered: whether the page would answer each image (no scope warning), if known.

    Returns:
        {true kind: {n, judged_as: {kind: share}, answered, threshold, screening and classification figures,
        intervals_95}}; where the model judged a picture to be of another kind, that kind's threshold is
        the one applied, as on the page.
    """
    positive = malignant.astype(bool)[y]
    risk = malignant_risk(probs, malignant)
    thresholds = np.array([by_kind.get(k, {}).get("threshold", np.nan) for k in kinds], float)
    flagged = risk >= thresholds
    out = {}
    for kind in PICTURE_KINDS:
        sel = np.asarray(true_kinds) == kind
        if not sel.any():
            continue
        m = classification_metrics(y[sel], probs[sel], class_ids, class_log_weights)
        pos, neg = positive[sel], ~positive[sel]
        entry = {"n": int(sel.sum()), "n_groups": len(set(np.asarray(groups)[sel])),
                 "n_malignant": int(pos.sum()), "n_benign": int(neg.sum()),
                 "judged_as": {k: float((kinds[sel] == k).mean()) for k in PICTURE_KINDS},
                 "threshold": by_kind.get(kind, {}).get("threshold"),
                 "sensitivity": float(flagged[sel][pos].mean()) if pos.any() else None,
                 "specificity": float((~flagged[sel][neg]).mean()) if neg.any() else None,
                 "sensitivity_wilson_95": list(wilson_interval(int(flagged[sel][pos].sum()), int(pos.sum()))),
                 **{k: m[k] for k in ("balanced_accuracy", "macro_auc", "ece")},
                 "malignant_auc": screening_metrics(y[sel], probs[sel], malignant, 0.5)["auc"]}
        if answered is not None:
            a = np.asarray(answered)[sel]
            entry["answered"] = float(a.mean())
            entry["cancers_lower_concern_unwarned"] = (float((a & ~flagged[sel])[pos].mean()) if pos.any()
                                                       else None)
        if bootstrap and entry["threshold"] is not None:
            entry["intervals_95"] = bootstrap_intervals(y[sel], probs[sel], np.asarray(groups)[sel], class_ids,
                                                        malignant, entry["threshold"], n=bootstrap,
                                                        class_log_weights=class_log_weights)
        out[kind] = entry
    return out
