"""Metrics that do not flatter: balanced accuracy, per-class sensitivity/specificity, AUC, calibration.

``trainer train`` scores the held-out test split with these at the end of a run.

All functions take integer labels ``y`` (n,) and probabilities ``p`` (n, classes) as numpy arrays.
"""

from __future__ import annotations

import numpy as np


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax of (n, classes) logits."""
    z = logits - logits.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


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
        "macro_auc": _finite_mean([c["auc"] for c in present]),
        "ece": expected_calibration_error(y, p),
        "per_class": per_class,
        "confusion": m.tolist(),
    }


def roc_curve(positive: np.ndarray, score: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(false positive rates, true positive rates) at every distinct threshold, from (0,0) to (1,1)."""
    order = np.argsort(-score, kind="mergesort")
    pos = positive.astype(bool)[order]
    s = score[order]
    distinct = np.r_[np.nonzero(np.diff(s))[0], len(s) - 1]
    tps = np.cumsum(pos)[distinct]
    fps = np.cumsum(~pos)[distinct]
    return np.r_[0, fps / max(fps[-1], 1)], np.r_[0, tps / max(tps[-1], 1)]


def fit_temperature(logits: np.ndarray, y: np.ndarray) -> float:
    """The temperature T minimising the negative log-likelihood of softmax(logits / T) (Guo et al. 2017)."""
    def nll(log_t):
        z = logits / np.exp(log_t)
        z = z - z.max(axis=1, keepdims=True)
        return float(np.mean(np.log(np.exp(z).sum(axis=1)) - z[np.arange(len(y)), y]))

    lo, hi = np.log(0.05), np.log(20.0)
    ratio = (np.sqrt(5) - 1) / 2
    for _ in range(80):  # golden-section search: NLL is unimodal in log T
        a, b = hi - ratio * (hi - lo), lo + ratio * (hi - lo)
        if nll(a) < nll(b):
            hi = b
        else:
            lo = a
    return float(np.exp((lo + hi) / 2))


def malignant_risk(p: np.ndarray, malignant: np.ndarray) -> np.ndarray:
    """The screening score: the summed probability of the malignant classes."""
    return p[:, malignant.astype(bool)].sum(axis=1)


def choose_threshold(risk: np.ndarray, positive: np.ndarray, target_sensitivity: float) -> float:
    """The highest risk threshold whose sensitivity (risk >= threshold) is at least the target."""
    pos = np.sort(risk[positive.astype(bool)])
    if len(pos) == 0:
        raise ValueError("no malignant case to choose a threshold on")
    need = int(np.ceil(target_sensitivity * len(pos)))
    return float(pos[len(pos) - need])


def screening_metrics(y: np.ndarray, p: np.ndarray, malignant: np.ndarray, threshold: float) -> dict:
    """Malignant-vs-benign AUC and sensitivity/specificity at ``threshold``."""
    positive = malignant.astype(bool)[y]
    risk = malignant_risk(p, malignant)
    flagged = risk >= threshold
    return {
        "threshold": float(threshold),
        "auc": auc(positive, risk),
        "sensitivity": float(flagged[positive].mean()) if positive.any() else float("nan"),
        "specificity": float((~flagged[~positive]).mean()) if (~positive).any() else float("nan"),
        "n_malignant": int(positive.sum()), "n_benign": int((~positive).sum()),
    }


def bootstrap_intervals(y, p, groups, class_ids, malignant, threshold, *, n: int = 1000, seed: int = 0) -> dict:
    """95% percentile intervals, resampling lesions (all of a lesion's images together), not images.

    Returns:
        {metric: [low, high]} for balanced accuracy, macro AUC, macro F1, ECE, malignant AUC,
        sensitivity and specificity.
    """
    rng = np.random.default_rng(seed)
    unique, inverse = np.unique(np.asarray(groups), return_inverse=True)
    members = [np.nonzero(inverse == g)[0] for g in range(len(unique))]
    samples = {k: [] for k in ("balanced_accuracy", "macro_auc", "macro_f1", "ece",
                               "malignant_auc", "malignant_sensitivity", "malignant_specificity")}
    for _ in range(n):
        idx = np.concatenate([members[g] for g in rng.integers(0, len(members), len(members))])
        m = classification_metrics(y[idx], p[idx], class_ids)
        s = screening_metrics(y[idx], p[idx], malignant, threshold)
        for key in ("balanced_accuracy", "macro_auc", "macro_f1", "ece"):
            samples[key].append(m[key])
        samples["malignant_auc"].append(s["auc"])
        samples["malignant_sensitivity"].append(s["sensitivity"])
        samples["malignant_specificity"].append(s["specificity"])
    intervals = {}
    for key, values in samples.items():
        values = np.asarray(values, float)
        values = values[np.isfinite(values)]  # a resample can miss a class entirely
        intervals[key] = [float(np.percentile(values, 2.5)), float(np.percentile(values, 97.5))] if len(values) \
            else [float("nan"), float("nan")]
    return intervals


def _finite_mean(values) -> float:
    values = np.asarray(values, float)
    values = values[np.isfinite(values)]
    return float(values.mean()) if len(values) else float("nan")
