"""Metrics that do not flatter: balanced accuracy, per-class sensitivity/specificity, AUC, calibration.

``trainer train`` scores the held-out test split with these at the end of a run.

All functions take integer labels ``y`` (n,) and probabilities ``p`` (n, classes) as numpy arrays.
"""

from __future__ import annotations

import numpy as np


def confusion(y: np.ndarray, pred: np.ndarray, num_classes: int) -> np.ndarray:
    """Counts, rows = true class, columns = predicted class."""
    m = np.zeros((num_classes, num_classes), np.int64)
    np.add.at(m, (y, pred), 1)
    return m


def auc(positive: np.ndarray, score: np.ndarray) -> float:
    """Area under the ROC curve (Mann-Whitney U, ties counted half); nan if one class is absent."""
    positive = positive.astype(bool)
    n_pos, n_neg = positive.sum(), (~positive).sum()
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    order = np.argsort(score, kind="mergesort")
    ranks = np.empty(len(score))
    sorted_scores = score[order]
    # average ranks over ties
    _, first, counts = np.unique(sorted_scores, return_index=True, return_counts=True)
    avg = first + (counts - 1) / 2.0 + 1
    ranks[order] = np.repeat(avg, counts)
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def expected_calibration_error(y: np.ndarray, p: np.ndarray, bins: int = 15) -> float:
    """ECE of the top-class confidence over equal-width bins."""
    conf = p.max(axis=1)
    correct = p.argmax(axis=1) == y
    edges = np.linspace(0, 1, bins + 1)
    ece = 0.0
    for lo, hi in zip(edges[:-1], edges[1:]):
        inside = (conf > lo) & (conf <= hi)
        if inside.any():
            ece += inside.mean() * abs(correct[inside].mean() - conf[inside].mean())
    return float(ece)


def classification_metrics(y: np.ndarray, p: np.ndarray, class_ids: list[str]) -> dict:
    """The headline and per-class metrics of one set of predictions.

    Returns:
        a JSON-ready dict: accuracy, balanced_accuracy, macro_f1, macro_auc, ece,
        per_class (precision, sensitivity, specificity, f1, auc, support) and confusion.
    """
    k = len(class_ids)
    pred = p.argmax(axis=1)
    m = confusion(y, pred, k)
    per_class = {}
    for i, cid in enumerate(class_ids):
        tp = m[i, i]
        fn = m[i].sum() - tp
        fp = m[:, i].sum() - tp
        tn = m.sum() - tp - fn - fp
        sens = tp / (tp + fn) if tp + fn else float("nan")
        prec = tp / (tp + fp) if tp + fp else float("nan")
        spec = tn / (tn + fp) if tn + fp else float("nan")
        f1 = 2 * prec * sens / (prec + sens) if prec + sens > 0 else 0.0
        per_class[cid] = {"precision": float(prec), "sensitivity": float(sens), "specificity": float(spec),
                          "f1": float(f1), "auc": auc(y == i, p[:, i]), "support": int(m[i].sum())}
    present = [c for c in per_class.values() if c["support"] > 0]
    return {
        "n": int(len(y)),
        "accuracy": float((pred == y).mean()),
        "balanced_accuracy": float(np.mean([c["sensitivity"] for c in present])),
        "macro_f1": float(np.mean([c["f1"] for c in present])),
        "macro_auc": float(np.nanmean([c["auc"] for c in present])),
        "ece": expected_calibration_error(y, p),
        "per_class": per_class,
        "confusion": m.tolist(),
    }
