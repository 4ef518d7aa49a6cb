"""Is run B better than run A on the same test split? A paired bootstrap over lesions.

    .venv/bin/python benchmarks/paired_bootstrap.py runs/deep runs/clinical [--json]

Both runs must have scored the same test images (same split: same data, seed and fractions). Each run's
own decision rule and threshold (calibration.json) are applied to its own test probabilities
(predictions_test.csv); each resample draws lesions with replacement and scores both runs on the same
images, so the interval is that of the difference, narrower than comparing two separate intervals.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

METRICS = ("balanced_accuracy", "malignant_auc", "sensitivity", "specificity")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("a", type=Path, help="the reference run folder")
    parser.add_argument("b", type=Path, help="the run compared with it")
    parser.add_argument("--resamples", type=int, default=1000)
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    args = parser.parse_args(argv)

    import numpy as np

    from trainer import labels
    from trainer.config import Config
    from trainer.metrics import classification_metrics, group_resamples, screening_metrics

    scheme = Config.load(args.a / "config.json")  # its classes, built-in or its own
    class_ids = labels.class_ids(scheme)
    malignant = np.array([c["malignant"] for c in labels.classes_metadata(scheme)])

    def load(run):
        with (run / "predictions_test.csv").open() as f:
            rows = list(csv.DictReader(f))
        calibration = json.loads((run / "calibration.json").read_text())
        return rows, np.array([[float(r[c]) for c in class_ids] for r in rows]), calibration

    rows_a, p_a, cal_a = load(args.a)
    rows_b, p_b, cal_b = load(args.b)
    if [(r["source"], r["image_id"]) for r in rows_a] != [(r["source"], r["image_id"]) for r in rows_b]:
        raise SystemExit("the two runs did not score the same test images in the same order")
    y = np.array([class_ids.index(r["label"]) for r in rows_a])
    groups = np.array([r["group"] for r in rows_a])

    def score(p, calibration, idx):
        m = classification_metrics(y[idx], p[idx], class_ids, calibration["decision"]["class_log_weights"])
        s = screening_metrics(y[idx], p[idx], malignant, calibration["threshold"])
        return np.array([m["balanced_accuracy"], s["auc"], s["sensitivity"], s["specificity"]])

    everything = np.arange(len(y))
    a, b = score(p_a, cal_a, everything), score(p_b, cal_b, everything)
    differences = np.array([score(p_b, cal_b, idx) - score(p_a, cal_a, idx)
                            for idx in group_resamples(groups, args.resamples)])
    result = {"n_images": len(y), "n_lesions": len(set(groups)), "resamples": args.resamples, "metrics": {
        name: {"a": float(a[i]), "b": float(b[i]), "difference": float(b[i] - a[i]),
               "interval_95": [float(v) for v in np.nanpercentile(differences[:, i], [2.5, 97.5])],
               "share_of_resamples_b_better": float(np.mean(differences[:, i] > 0))}
        for i, name in enumerate(METRICS)}}
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print(f"{result['n_images']} test images, {result['n_lesions']} lesions, {args.resamples} paired resamples")
    print(f"{'metric':18s} {args.a.name:>10s} {args.b.name:>10s} {'b - a':>8s}  95% interval")
    for name, m in result["metrics"].items():
        low, high = m["interval_95"]
        print(f"{name:18s} {m['a']:10.3f} {m['b']:10.3f} {m['difference']:+8.3f}  [{low:+.3f}, {high:+.3f}]")


if __name__ == "__main__":
    main()
