"""Gives a run trained before the out-of-scope detector existed its ``out_of_scope`` output.

    python scripts/add_scope_detector.py runs/clinical --outliers /tmp/outliers/fit --out runs/clinical-scope

The same steps ``python -m trainer train`` now takes after fine-tuning (trainer/train.py): the
detector is fitted to the same seeded sample of training lesions against the built-in synthetic
pictures and every picture under ``--outliers``; its threshold, and the other scope thresholds, on
the validation split. Everything else of the run (weights, calibration, thresholds, report) is
kept: the new run folder is a copy with ``calibration.json``'s ``scope``, ``model.weights.h5`` and
``saved_model/`` replaced, ready for ``python -m converter``. The source run is not modified.
"""

from __future__ import annotations

import argparse
import csv
import json
import shutil
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

SKIP = shutil.ignore_patterns("features", "proxy_features", "backup", "saved_model", "views", "clinical_fusion")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run", help="a finished run folder (with model.weights.h5)")
    parser.add_argument("--outliers", default="", help="a folder of pictures that are not lesions")
    parser.add_argument("--out", required=True, help="new run folder")
    args = parser.parse_args(argv)

    from trainer import labels, scope
    from trainer.config import Config
    from trainer.model import build_model, load_weights
    from trainer.train import log, predict_signals, training_features

    run, out = Path(args.run), Path(args.out)
    shutil.copytree(run, out, ignore=SKIP)
    config = Config.load(out / "config.json")
    model, features = build_model(config, len(labels.class_ids(config.scheme)), views=config.tta_views)
    load_weights(model, out / "model.weights.h5")
    with (out / "split.csv").open(newline="") as f:
        rows = list(csv.DictReader(f))
    train_paths = np.array([r["path"] for r in rows if r["split"] == "train"])
    val_paths = np.array([r["path"] for r in rows if r["split"] == "val"])

    lesions = training_features(features, train_paths, config.seed, limit=max(1000, 3000 // config.tta_views))
    others = scope.other_pictures(features, args.outliers, config.seed)
    log(f"detector: {len(lesions)} training lesions against {len(others)} other pictures")
    scope.fit_detector(model, lesions, others)
    val = predict_signals(model, val_paths, config.image_size, max(1, config.batch_size // config.tta_views))
    calibration = json.loads((out / "calibration.json").read_text())
    calibration["scope"] = scope.fit(val["distance"], val["blur"], val["probabilities"].max(axis=1),
                                     val["out_of_scope"])
    (out / "calibration.json").write_text(json.dumps(calibration, indent=2) + "\n")
    report = json.loads((out / "report.json").read_text())
    if "calibration" in report:
        report["calibration"]["scope"] = calibration["scope"]
        (out / "report.json").write_text(json.dumps(report, indent=2) + "\n")
    log(f"scope on validation: {calibration['scope']}")
    model.save_weights(str(out / "model.weights.h5"))
    model.export(str(out / "saved_model"), verbose=False)
    np.savez(out / "scope_features.npz", lesions=lesions, others=others, val_out_of_scope=val["out_of_scope"])
    log(f"exported {out / 'saved_model'}")


if __name__ == "__main__":
    main()
