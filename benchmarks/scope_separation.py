"""How well the out-of-scope warning separates lesion pictures (dermoscopic close-ups and phone photos)
from everything else.

    python scripts/make_outliers.py /tmp/outliers --ham ../shared/data/ham10000 --split runs/clinical/split.csv
    python benchmarks/scope_separation.py --model web/model --split runs/clinical/split.csv --outliers /tmp/outliers

In scope: the split's validation images (where the thresholds were chosen) and its test images
(never used for anything before), dermoscopic close-ups and phone photos apart where the run has both. Out of scope: the ``holdout`` part of the set that
scripts/make_outliers.py builds (photos, microscopy, textures, text, screenshots, synthetic
patterns, skin away from the lesion), whose source pictures the detector never saw. Each image
goes through the shipped web model (the graph the browser runs) and the same checks as
web/metadata.js assessScope, with the thresholds in metadata.json. Prints, per check and for any
check (what the page shows), how often it fires on each side and per category, and the ROC AUC of
the not-a-lesion output and of the feature distance; ``--json PATH`` writes the same figures.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def signals(predictor, paths, size):
    """out_of_scope, feature distance, blur, top probability and smallest side per readable file."""
    from trainer import scope
    from trainer.images import ImageError, load_rgb, resize

    out = {"out_of_scope": [], "distance": [], "blur": [], "brightness": [], "top": [], "min_side": [], "kept": []}
    for i, path in enumerate(paths):
        try:
            rgb = load_rgb(path)
        except ImageError:
            continue
        x = resize(rgb, size, size).numpy()[None]
        res = predictor.outputs(x)
        out["out_of_scope"].append(float(res["out_of_scope"][0]) if "out_of_scope" in res else np.nan)
        out["distance"].append(float(res["feature_distance"][0]))
        out["blur"].append(float(scope.blur(x).numpy()[0]))
        out["brightness"].append(float(scope.brightness(x).numpy()[0]))
        out["top"].append(float(res["probabilities"].max()))
        out["min_side"].append(min(rgb.shape[:2]))
        out["kept"].append(i)
    return {k: np.array(v) for k, v in out.items()}


def flags(s, sc):
    """Each check of web/metadata.js assessScope (a threshold that is null is off)."""
    def check(threshold, fires):
        return fires(threshold) if threshold is not None else np.zeros(len(s["blur"]), bool)

    found = {
        "not-a-lesion": check(sc.get("out_of_scope_threshold"), lambda t: s["out_of_scope"] > t),
        "distance": check(sc.get("distance_threshold"), lambda t: s["distance"] > t),
        "blur": check(sc.get("blur_threshold"), lambda t: s["blur"] < t),
        "dark": check(sc.get("dark_threshold"), lambda t: s["brightness"] < t),
        "confidence": check(sc.get("confidence_threshold"), lambda t: s["top"] < t),
        "size": check(sc.get("min_side"), lambda t: s["min_side"] < t),
    }
    found["any"] = np.any(list(found.values()), axis=0)
    return found


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="web/model", help="web model folder")
    parser.add_argument("--split", required=True, help="the model's run's split.csv (validation and test images)")
    parser.add_argument("--outliers", required=True, help="a folder made by scripts/make_outliers.py")
    parser.add_argument("--limit", type=int, default=600, help="images per in-scope split (a seeded sample)")
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args(argv)

    from trainer.metrics import auc
    from trainer.predict import Predictor

    meta = json.loads((Path(args.model) / "metadata.json").read_text())
    sc = meta["scope"]
    predictor = Predictor(args.model)
    with open(args.split, newline="") as f:
        rows = list(csv.DictReader(f))
    sides = {}
    for split in ("val", "test"):
        # Each kind of lesion picture on its own (split.csv's kind; runs before kinds are all dermoscopic).
        for kind in ("dermoscopic", "photo"):
            paths = [r["path"] for r in rows if r["split"] == split and r.get("kind", "dermoscopic") == kind]
            if paths:
                side = split if kind == "dermoscopic" else f"{split} {kind}"
                sides[side] = (list(np.random.default_rng(0).permutation(paths)[: args.limit]), None)
    with open(Path(args.outliers) / "manifest.csv", newline="") as f:
        held = [r for r in csv.DictReader(f) if r["part"] == "holdout"]
    sides["holdout"] = ([str(Path(args.outliers) / r["path"]) for r in held], [r["category"] for r in held])

    result = {"model": meta["model"]["version"], "rates": {}, "by_category": {}}
    measured = {}
    for side, (paths, categories) in sides.items():
        s = signals(predictor, paths, predictor.height)
        found = flags(s, sc)
        measured[side] = s
        result["rates"][side] = {"n": int(len(s["kept"])), **{k: float(v.mean()) for k, v in found.items()}}
        if categories is not None:
            kept = np.array(categories)[s["kept"]]
            result["by_category"] = {c: {"n": int((kept == c).sum()), "flagged": float(found["any"][kept == c].mean())}
                                     for c in sorted(set(kept))}
            result["missed"] = [paths[i] for i, hit in zip(s["kept"], found["any"]) if not hit]
    inside, outside = measured["test"], measured["holdout"]
    y = np.r_[np.zeros(len(inside["blur"])), np.ones(len(outside["blur"]))]
    for key in ("out_of_scope", "distance"):
        score = np.r_[inside[key], outside[key]]
        result[f"{key}_auc_test_vs_holdout"] = auc(y, score) if np.isfinite(score).all() else None

    print(f"model {result['model']}; thresholds from metadata.json scope")
    print(f"ROC AUC, test lesions vs held-out other pictures: not-a-lesion "
          f"{result['out_of_scope_auc_test_vs_holdout'] or float('nan'):.4f}, "
          f"feature distance {result['distance_auc_test_vs_holdout']:.4f}")
    checks = ["not-a-lesion", "distance", "blur", "dark", "confidence", "size", "any"]
    print(f"{'flags':<30}" + "".join(f"{c:>13}" for c in checks))
    for side, rates in result["rates"].items():
        label = {"val": "validation lesions", "test": "test lesions", "val photo": "validation phone photos",
                 "test photo": "test phone photos", "holdout": "held-out others"}[side]
        print(f"{label + ' (' + str(rates['n']) + ')':<30}" + "".join(f"{rates[c]:>13.1%}" for c in checks))
    print("held-out others flagged, by category:",
          ", ".join(f"{c} {v['flagged']:.0%} of {v['n']}" for c, v in result["by_category"].items()))
    print(f"not flagged ({len(result['missed'])}):", ", ".join(Path(p).stem for p in result["missed"]) or "none")
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
