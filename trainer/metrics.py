"""Metrics that do not flatter: balanced accuracy, per-class sensitivity/specificity, AUC, calibration.

The evaluation stage (``trainer/evaluate.py``) scores a split with these. The field's definitions come
from scikit-learn (ROC AUC, ROC curve, balanced accuracy, confusion matrix, calibration curve), so a
figure here means what it means in a paper; what scikit-learn lacks is here: ECE, the Wilson interval,
the lesion bootstrap, calibration, the decision rule and the screening threshold.

All functions take integer labels ``y`` (n,) and probabilities ``p`` (n, classes) as numpy arrays.
"""

from __future__ import annotations

import warnings

import numpy as np
from sklearn import calibration as sk_calibration
from sklearn import metrics as sk


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax of (n, classes) logits."""
    z = logits - logits.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def confusion(y: np.ndarray, pred: np.ndarray, num_classes: int) -> np.ndarray:
    """Counts, rows = true class, columns = predicted class (every class, present or not)."""
    return sk.confusion_matrix(y, pred, labels=np.arange(num_classes)).astype(np.int64)


def auc(positive: np.ndarray, score: np.ndarray) -> float:
    """Area under the ROC curve (ties count half); nan if one class is absent (scikit-learn raises)."""
    positive = np.asarray(positive, bool)
    if positive.all() or not positive.any():
        return float("nan")
    return float(sk.roc_auc_score(positive, score))


def balanced_accuracy(y: np.ndarray, pred: np.ndarray) -> float:
    """Mean sensitivity over the classes present in ``y``."""
    with warnings.catch_warnings():
        # A resample or a small split may lack a class that is predicted, or hold one class only: the
        # missing classes are left out of the mean, which is the definition, not a problem worth a warning.
        warnings.filterwarnings("ignore", "y_pred contains classes not in y_true", UserWarning)
        warnings.filterwarnings("ignore", "A single label was found", UserWarning)
        return float(sk.balanced_accuracy_score(y, pred))


def reliability(correct: np.ndarray, confidence: np.ndarray, bins: int = 10) -> tuple[np.ndarray, np.ndarray]:
    """The calibration curve: (mean confidence, accuracy) in each non-empty equal-width bin."""
    accuracy, mean_confidence = sk_calibration.calibration_curve(np.asarray(correct, bool), confidence,
                                                                 n_bins=bins, strategy="uniform")
    return mean_confidence, accuracy


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


def decide(p: np.ndarray, class_log_weights=None) -> np.ndarray:
    """The predicted class: argmax of log p + w (w = 0: the most probable class). See choose_decision."""
    if class_log_weights is None:
        return p.argmax(axis=1)
    return (np.log(np.maximum(p, 1e-30)) + np.asarray(class_log_weights)).argmax(axis=1)


def classification_metrics(y: np.ndarray, p: np.ndarray, class_ids: list[str], class_log_weights=None) -> dict:
    """The headline and per-class metrics of one set of predictions.

    ``class_log_weights``: the decision rule (``decide``) that picks each image's class.

    Returns:
        a JSON-ready dict: accuracy, balanced_accuracy, macro_f1, macro_auc, ece,
        per_class (precision, sensitivity, specificity, f1, auc, support) and confusion.
    """
    k = len(class_ids)
    pred = decide(p, class_log_weights)
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
        "balanced_accuracy": balanced_accuracy(y, pred),
        "macro_f1": float(np.mean([c["f1"] for c in present])),
        "macro_auc": _finite_mean([c["auc"] for c in present]),
        "ece": expected_calibration_error(y, p),
        "per_class": per_class,
        "confusion": m.tolist(),
    }


def roc_curve(positive: np.ndarray, score: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(false positive rates, true positive rates) at every distinct threshold, from (0,0) to (1,1)."""
    fpr, tpr, _ = sk.roc_curve(np.asarray(positive, bool), score, drop_intermediate=False)
    return fpr, tpr


def fit_calibration(logits: np.ndarray, y: np.ndarray, steps: int = 3000) -> tuple[float, np.ndarray]:
    """Temperature T and per-class bias b minimising the NLL of softmax(logits / T + b) on validation.

    The bias corrects the class prior (stage 2 may train on class-balanced batches, whose logits
    over-rate rare classes); T corrects over-confidence. Full-batch Adam on log T and b.
    """
    logits = np.asarray(logits, np.float64)
    onehot = np.eye(logits.shape[1])[y]
    params = np.zeros(logits.shape[1] + 1)  # log(1/T), b
    m, v = np.zeros_like(params), np.zeros_like(params)
    for t in range(1, steps + 1):
        scale, bias = np.exp(params[0]), params[1:]
        z = logits * scale + bias
        p = np.exp(z - z.max(axis=1, keepdims=True))
        p /= p.sum(axis=1, keepdims=True)
        dz = (p - onehot) / len(y)
        grad = np.concatenate([[np.sum(dz * logits) * scale], dz.sum(axis=0)])
        m = 0.9 * m + 0.1 * grad
        v = 0.999 * v + 0.001 * grad ** 2
        params -= 0.02 * (m / (1 - 0.9 ** t)) / (np.sqrt(v / (1 - 0.999 ** t)) + 1e-9)
        params[0] = np.clip(params[0], -np.log(20.0), np.log(20.0))  # 0.05 <= T <= 20
    bias = params[1:] - params[1:].mean()  # softmax ignores a shared offset
    return float(np.exp(-params[0])), bias


def choose_decision(p: np.ndarray, y: np.ndarray, prior: np.ndarray, taus=np.round(np.arange(0, 1.51, 0.05), 2)) -> dict:
    """The decision rule maximising balanced accuracy on validation: argmax of log p - tau * log(prior)
    (logit adjustment, Menon et al. 2021). tau = 0 picks the most probable class; tau = 1 weighs
    every class as if all were equally common. Ties go to the smaller tau.
    """
    prior = np.asarray(prior, float)
    log_prior = np.log(np.where(prior > 0, prior, 1.0))  # a class never seen in training gets no boost
    scores = {float(t): balanced_accuracy(y, decide(p, -t * log_prior)) for t in taus}
    tau = max(scores, key=lambda t: (round(scores[t], 4), -t))
    return {"rule": "argmax(log p + class_log_weights)", "tau": tau,
            "class_log_weights": [float(w) + 0.0 for w in -tau * log_prior],
            "training_prior": [float(x) for x in prior], "validation_balanced_accuracy_by_tau": scores}


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


def wilson_interval(k: int, n: int, z: float = 1.959964) -> tuple[float, float]:
    """95% Wilson score interval of a proportion k / n (sensible at 0 and n, unlike k/n ± 2 se)."""
    if n == 0:
        return float("nan"), float("nan")
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return (0.0 if k == 0 else float(centre - half)), (1.0 if k == n else float(centre + half))


def risk_bins(risk: np.ndarray, positive: np.ndarray, threshold: float, below: int = 2, above: int = 4) -> list[dict]:
    """What a malignant-risk score means, in words a person reads correctly: score ranges with how many of
    the (validation) images that scored in each were malignant.

    The threshold is an edge, so a range never straddles "lower" and "higher concern"; below it ``below``
    ranges, above it ``above``, each holding about as many images (quantiles of the scores on its side).

    Returns:
        [{"from", "to", "n", "malignant", "rate", "interval_95"}] in increasing score; a score s is in the
        range with from <= s < to (the last range includes 1).
    """
    risk, positive = np.asarray(risk, float), np.asarray(positive, bool)
    low, high = risk[risk < threshold], risk[risk >= threshold]
    inner = lambda side, k: [float(q) for q in np.quantile(side, np.arange(1, k) / k)] if len(side) else []  # noqa: E731
    edges = sorted({0.0, *inner(low, below), float(threshold), *inner(high, above), 1.0})
    bins = []
    for lo, hi in zip(edges[:-1], edges[1:]):
        inside = (risk >= lo) & ((risk < hi) if hi < 1.0 else (risk <= hi))
        n, k = int(inside.sum()), int(positive[inside].sum())
        bins.append({"from": lo, "to": hi, "n": n, "malignant": k, "rate": k / n if n else None,
                     "interval_95": list(wilson_interval(k, n)) if n else None})
    return bins


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


def group_resamples(groups, n: int, seed: int = 0):
    """``n`` bootstrap resamples, each the image indices of as many groups (lesions or patients) as there
    are, drawn with replacement: all of a group's images go in or out together."""
    rng = np.random.default_rng(seed)
    unique, inverse = np.unique(np.asarray(groups), return_inverse=True)
    members = [np.nonzero(inverse == g)[0] for g in range(len(unique))]
    for _ in range(n):
        yield np.concatenate([members[g] for g in rng.integers(0, len(members), len(members))])


def bootstrap_intervals(y, p, groups, class_ids, malignant, threshold, *, n: int = 1000, seed: int = 0,
                        class_log_weights=None) -> dict:
    """95% percentile intervals, resampling lesions (all of a lesion's images together), not images.

    Returns:
        {metric: [low, high]} for balanced accuracy, macro AUC, macro F1, ECE, malignant AUC,
        sensitivity and specificity.
    """
    samples = {k: [] for k in ("balanced_accuracy", "macro_auc", "macro_f1", "ece",
                               "malignant_auc", "malignant_sensitivity", "malignant_specificity")}
    for idx in group_resamples(groups, n, seed):
        m = classification_metrics(y[idx], p[idx], class_ids, class_log_weights)
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
