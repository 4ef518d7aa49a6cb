"""The evaluation report of a run: ``report.json`` (read by the converter), ``report.md``, ``plots/``.

Written by the evaluation stage (``trainer/evaluate.py``: at the end of training, and again by
``python -m trainer evaluate RUN``) from a split's predictions. A proportion resting on fewer than
``FEW_CASES`` images (a class's sensitivity with few test images of it, the screening sensitivity with
few cancers) is listed in ``test.few_cases`` with its 95% Wilson interval, and flagged in report.md;
the converter copies the list into metadata.json for the model card.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np

from .metrics import (bootstrap_intervals, classification_metrics, reliability, roc_curve, screening_metrics,
                      wilson_interval)

# Below this many cases behind a proportion, its figure is flagged (and its interval given) in the report.
FEW_CASES = 30


def _plots(run: Path, y, probs, uncalibrated, class_ids, malignant, threshold, folder: str = "plots",
           histories=()) -> list[str]:
    """Confusion heatmap, ROC curves, reliability diagram and training curves, as PNGs."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = run / folder
    out.mkdir(exist_ok=True)
    written = []

    def save(fig, name):
        fig.tight_layout()
        fig.savefig(out / name, dpi=110)
        plt.close(fig)
        written.append(f"{folder}/{name}")

    m = np.asarray(classification_metrics(y, probs, class_ids)["confusion"], float)
    norm = m / np.maximum(m.sum(axis=1, keepdims=True), 1)
    fig, ax = plt.subplots(figsize=(6, 5))
    im = ax.imshow(norm, cmap="viridis", vmin=0, vmax=1)
    ax.set_xticks(range(len(class_ids)), class_ids, rotation=45)
    ax.set_yticks(range(len(class_ids)), class_ids)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    for i in range(len(class_ids)):
        for j in range(len(class_ids)):
            ax.text(j, i, f"{norm[i, j]:.2f}\n{int(m[i, j])}", ha="center", va="center", fontsize=7,
                    color="white" if norm[i, j] < 0.5 else "black")
    fig.colorbar(im, ax=ax, label="share of the true class")
    ax.set_title("Confusion matrix (test)")
    save(fig, "confusion.png")

    fig, ax = plt.subplots(figsize=(5.5, 5))
    for i, cid in enumerate(class_ids):
        if 0 < (y == i).sum() < len(y):  # a curve needs both sides
            fpr, tpr = roc_curve(y == i, probs[:, i])
            ax.plot(fpr, tpr, label=cid, lw=1.2)
    risk = probs[:, malignant].sum(axis=1)
    if 0 < malignant[y].sum() < len(y):
        fpr, tpr = roc_curve(malignant[y], risk)
        ax.plot(fpr, tpr, "k--", lw=2, label="malignant risk")
    s = screening_metrics(y, probs, malignant, threshold)
    ax.plot(1 - s["specificity"], s["sensitivity"], "ko", label="chosen threshold")
    ax.set_xlabel("1 - specificity")
    ax.set_ylabel("sensitivity")
    ax.set_title("ROC (test)")
    ax.legend(fontsize=7)
    save(fig, "roc.png")

    fig, ax = plt.subplots(figsize=(5, 5))
    for name, p, style in (("before temperature", uncalibrated, "s--"), ("after", probs, "o-")):
        ax.plot(*reliability(p.argmax(axis=1) == y, p.max(axis=1)), style, label=name)
    ax.plot([0, 1], [0, 1], color="grey", lw=0.8)
    ax.set_xlabel("confidence of the top class")
    ax.set_ylabel("accuracy")
    ax.set_title("Reliability (test)")
    ax.legend()
    save(fig, "reliability.png")

    if histories:
        fig, axes = plt.subplots(1, len(histories), figsize=(4.5 * len(histories), 3.5), squeeze=False)
        for ax, path in zip(axes[0], histories):
            with path.open() as f:
                rows = list(csv.DictReader(f))
            for key in ("loss", "val_loss", "val_balanced_accuracy"):
                if rows and key in rows[0]:
                    ax.plot([float(r[key]) for r in rows], label=key)
            ax.set_title(path.stem.replace("history_", ""))
            ax.set_xlabel("epoch")
            ax.legend(fontsize=7)
        save(fig, "training.png")
    return written


def resolution_gap(image_ids, sources, y, probs, class_ids, malignant) -> dict | None:
    """How the model's answers change between two copies of the same images (e.g. HAM10000's 200×150
    folder, upscaled, and its sharper 224×224 folder): only images present in exactly two sources."""
    sources, image_ids = np.asarray(sources), np.asarray(image_ids)
    names = sorted(set(sources))
    if len(names) != 2:
        return None
    first = {i: k for k, i in enumerate(image_ids) if sources[k] == names[0]}
    pairs = [(first[i], k) for k, i in enumerate(image_ids) if sources[k] == names[1] and i in first]
    if not pairs:
        return None
    a, b = map(np.array, zip(*pairs))
    risk = probs[:, malignant].sum(axis=1)
    metrics = {n: classification_metrics(y[idx], probs[idx], class_ids) for n, idx in zip(names, (a, b))}
    return {
        "n_images": len(pairs), "sources": names,
        "top_class_agreement": float((probs[a].argmax(1) == probs[b].argmax(1)).mean()),
        "mean_abs_malignant_risk_change": float(np.abs(risk[a] - risk[b]).mean()),
        "balanced_accuracy": {n: metrics[n]["balanced_accuracy"] for n in names},
        "macro_auc": {n: metrics[n]["macro_auc"] for n in names},
    }


def few_cases(test: dict) -> list[dict]:
    """The sensitivities and specificities in ``test`` that rest on fewer than ``FEW_CASES`` images.

    Returns:
        [{"key": where the figure is in ``test`` (dotted), "label", "value", "k", "n", "interval_95"}]: k of n
        images; the interval is Wilson's, which stays honest for a handful of cases.
    """
    flagged = []

    def check(key, label, k, n):
        if n < FEW_CASES:
            flagged.append({"key": key, "label": label, "value": k / n if n else None, "k": int(k), "n": int(n),
                            "interval_95": list(wilson_interval(int(k), int(n))) if n else None})

    m, total = np.asarray(test["confusion"]), int(np.sum(test["confusion"]))
    for i, (cid, c) in enumerate(test["per_class"].items()):
        check(f"per_class.{cid}.sensitivity", f"{cid} sensitivity", m[i, i], c["support"])
        negatives = total - c["support"]
        check(f"per_class.{cid}.specificity", f"{cid} specificity", negatives - (m[:, i].sum() - m[i, i]), negatives)
    mal = test["malignant"]
    check("malignant.sensitivity", "malignant sensitivity at the threshold",
          round(mal["sensitivity"] * mal["n_malignant"]) if mal["n_malignant"] else 0, mal["n_malignant"])
    check("malignant.specificity", "malignant specificity at the threshold",
          round(mal["specificity"] * mal["n_benign"]) if mal["n_benign"] else 0, mal["n_benign"])
    return flagged


def write_report(out: Path, *, y, probs, uncalibrated, groups, sources, class_ids, malignant, calibration,
                 stage1_probs=None, image_ids=None, extra=None, name: str = "report", bootstrap: int = 1000,
                 run: Path | None = None) -> dict:
    """Scores a split's predictions and writes ``<name>.json``, ``<name>.md`` and the plots into ``out``.

    Args:
        y, probs: true class indices and calibrated probabilities of the test images.
        uncalibrated: the same before temperature scaling (for the ECE comparison).
        groups: each image's lesion, for bootstrap intervals that resample lesions.
        sources: each image's dataset folder, to report every source separately too.
        malignant: boolean mask over classes.
        calibration: temperature, threshold and its validation sensitivity/specificity.
        stage1_probs: the frozen-backbone head's test probabilities, if stage 2 ran.
        image_ids: with ``sources``, finds the images present in two sources (resolution_gap).
        run: the run folder, whose training curves the plots show (default ``out``).

    Returns:
        the report as written to JSON.
    """
    out = Path(out)
    malignant = np.asarray(malignant, bool)
    threshold = calibration["threshold"]
    weights = (calibration.get("decision") or {}).get("class_log_weights")
    test = classification_metrics(y, probs, class_ids, weights)
    test["balanced_accuracy_most_probable"] = classification_metrics(y, probs, class_ids)["balanced_accuracy"]
    test["ece_before_temperature"] = classification_metrics(y, uncalibrated, class_ids)["ece"]
    test["malignant"] = screening_metrics(y, probs, malignant, threshold)
    test["n_lesions"] = len(set(groups))
    test["few_cases"], test["few_cases_min"] = few_cases(test), FEW_CASES
    test["intervals_95"] = bootstrap_intervals(y, probs, groups, class_ids, malignant, threshold, n=bootstrap,
                                               class_log_weights=weights)
    sources = np.asarray(sources)
    by_source = {}
    for source in sorted(set(sources)):
        sel = sources == source
        m = classification_metrics(y[sel], probs[sel], class_ids, weights)
        by_source[source] = {k: m[k] for k in ("n", "balanced_accuracy", "macro_auc", "ece")}
        by_source[source]["malignant"] = screening_metrics(y[sel], probs[sel], malignant, threshold)
    report = {"classes": class_ids, "malignant_classes": [c for c, m in zip(class_ids, malignant) if m],
              "calibration": calibration, "test": test, "test_by_source": by_source, **(extra or {})}
    if image_ids is not None:
        report["resolution_gap"] = resolution_gap(image_ids, sources, y, probs, class_ids, malignant)
    if stage1_probs is not None:
        s1 = classification_metrics(y, stage1_probs, class_ids)
        report["stage1_test"] = {k: s1[k] for k in ("balanced_accuracy", "macro_auc", "macro_f1", "ece")}
    histories = sorted(Path(run or out).glob("history_stage*.csv")) if name == "report" else []
    report["plots"] = _plots(out, y, probs, uncalibrated, class_ids, malignant, threshold,
                             "plots" if name == "report" else f"plots_{name.removeprefix('report_')}", histories)
    (out / f"{name}.json").write_text(json.dumps(report, indent=2) + "\n")
    (out / f"{name}.md").write_text(markdown(report))
    return report


def markdown(report: dict) -> str:
    """A human-readable summary of a report."""
    t, ci = report["test"], report["test"]["intervals_95"]
    mal = t["malignant"]

    def iv(key):
        lo, hi = ci[key]
        return f"[{lo:.3f}, {hi:.3f}]"

    few = {f["key"] for f in t.get("few_cases", [])}

    def warn(key):  # marks a figure listed under "Few cases"
        return " ⚠" if key in few else ""

    support = {cid: c["support"] for cid, c in t["per_class"].items()}
    majority = max(support, key=support.get)

    lines = [
        "# Evaluation report", "",
        f"Test split: {t['n']} images of {t['n_lesions']} lesions, never used for training or for any choice. "
        "Intervals: 95% bootstrap, resampling lesions.", "",
        "| metric | value | 95% interval |", "|---|---|---|",
        f"| balanced accuracy | {t['balanced_accuracy']:.3f} | {iv('balanced_accuracy')} |",
        f"| macro one-vs-rest AUC | {t['macro_auc']:.3f} | {iv('macro_auc')} |",
        f"| macro F1 | {t['macro_f1']:.3f} | {iv('macro_f1')} |",
        f"| malignant-vs-benign AUC | {mal['auc']:.3f} | {iv('malignant_auc')} |",
        f"| malignant sensitivity at threshold {mal['threshold']:.3f} | {mal['sensitivity']:.3f}"
        f"{warn('malignant.sensitivity')} | {iv('malignant_sensitivity')} |",
        f"| malignant specificity at that threshold | {mal['specificity']:.3f}{warn('malignant.specificity')} | "
        f"{iv('malignant_specificity')} |",
        f"| expected calibration error | {t['ece']:.3f} (before temperature: {t['ece_before_temperature']:.3f}) | "
        f"{iv('ece')} |",
        f"| accuracy (dominated by {majority}, {support[majority] / max(t['n'], 1):.0%} of the images; "
        f"for reference only) | {t['accuracy']:.3f} | |", "",
        f"Temperature {report['calibration']['temperature']:.3f}; the threshold was chosen on validation for "
        f"sensitivity ≥ {report['calibration']['target_sensitivity']}.", "",
        "## Per class", "", "| class | precision | sensitivity | specificity | F1 | AUC | support |",
        "|---|---|---|---|---|---|---|",
    ]
    for cid, c in t["per_class"].items():
        lines.append(f"| {cid} | {c['precision']:.3f} | {c['sensitivity']:.3f}{warn(f'per_class.{cid}.sensitivity')} | "
                     f"{c['specificity']:.3f}{warn(f'per_class.{cid}.specificity')} | "
                     f"{c['f1']:.3f} | {c['auc']:.3f} | {c['support']} |")
    if t.get("few_cases"):
        lines += ["", "## ⚠ Few cases", "",
                  f"These figures rest on fewer than {FEW_CASES} images each: read them with their 95% interval "
                  "(Wilson), not as a measured rate.", "", "| figure | value | images | 95% interval |",
                  "|---|---|---|---|"]
        for f in t["few_cases"]:
            if f["n"]:
                lo, hi = f["interval_95"]
                lines.append(f"| {f['label']} | {f['value']:.3f} | {f['k']} of {f['n']} | [{lo:.3f}, {hi:.3f}] |")
            else:
                lines.append(f"| {f['label']} | – | none | |")
    lines += ["", "## Confusion matrix (rows: true, columns: predicted)", "",
              "| | " + " | ".join(report["classes"]) + " |", "|---" * (len(report["classes"]) + 1) + "|"]
    for cid, row in zip(report["classes"], t["confusion"]):
        lines.append(f"| {cid} | " + " | ".join(str(v) for v in row) + " |")
    if report.get("test_by_source"):
        lines += ["", "## By source folder", "", "| source | n | balanced accuracy | macro AUC | malignant sensitivity |",
                  "|---|---|---|---|---|"]
        for source, s in report["test_by_source"].items():
            lines.append(f"| {source} | {s['n']} | {s['balanced_accuracy']:.3f} | {s['macro_auc']:.3f} | "
                         f"{s['malignant']['sensitivity']:.3f} |")
    gap = report.get("resolution_gap")
    if gap:
        a, b = gap["sources"]
        lines += ["", f"## The same {gap['n_images']} test images from `{a}` and from `{b}`", "",
                  f"Top class agrees on {gap['top_class_agreement']:.1%} of them; the malignant risk moves by "
                  f"{gap['mean_abs_malignant_risk_change']:.3f} on average. Balanced accuracy {a}: "
                  f"{gap['balanced_accuracy'][a]:.3f}, {b}: {gap['balanced_accuracy'][b]:.3f}."]
    if report.get("stage1_test"):
        s1 = report["stage1_test"]
        lines += ["", "## Stage 1 (frozen backbone) vs final", "",
                  "| | balanced accuracy | macro AUC | macro F1 |", "|---|---|---|---|",
                  f"| stage 1 | {s1['balanced_accuracy']:.3f} | {s1['macro_auc']:.3f} | {s1['macro_f1']:.3f} |",
                  f"| final | {t['balanced_accuracy']:.3f} | {t['macro_auc']:.3f} | {t['macro_f1']:.3f} |"]
    lines += ["", "## Plots", ""] + [f"![{p}]({p})" for p in report.get("plots", [])]
    return "\n".join(lines) + "\n"
