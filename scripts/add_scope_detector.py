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
    parser.add_argument("--out", required=True, help="new run folder (run again to refit with another --c)")
    parser.add_argument("--c", type=float, default=None, help="the detector's C (default: trainer.scope.DETECTOR_C)")
    args = parser.parse_args(argv)

    from trainer import labels, scope
    from trainer.config import Config
    from trainer.model import build_model, load_weights, set_calibration
    from trainer.data import image_dataset
    from trainer.train import log, training_features

    args.c = scope.DETECTOR_C if args.c is None else args.c

    run, out = Path(args.run), Path(args.out)
    if not out.exists():
        shutil.copytree(run, out, ignore=SKIP)
    config = Config.load(out / "config.json")
    model, features = build_model(config, len(labels.class_ids(config)), views=config.tta_views)
    load_weights(model, run / "model.weights.h5")
    calibration = json.loads((out / "calibration.json").read_text())
    set_calibration(model, calibration["temperature"], calibration["class_bias"])  # 1/T is no weight
    with (out / "split.csv").open(newline="") as f:
        rows = list(csv.DictReader(f))
    train_paths = np.array([r["path"] for r in rows if r["split"] == "train"])
    val_paths = np.array([r["path"] for r in rows if r["split"] == "val"])

    cache = out / "scope_features.npz"
    if cache.is_file():  # a second run with another --c reuses the features
        saved = np.load(cache)
        lesions, others, val_pooled, val_blur = (saved[k] for k in ("lesions", "others", "val_pooled", "val_blur"))
    else:
        lesions = training_features(features, train_paths, config.seed, limit=max(1000, 3000 // config.tta_views))
        others = scope.other_pictures(features, args.outliers, config.seed)
        val_pooled, val_blur = [], []
        for images, _ in image_dataset(val_paths, np.zeros(len(val_paths), np.int32), config.image_size, 4):
            val_pooled.append(np.asarray(features(images, training=False)))
            val_blur.append(scope.blur(images).numpy())
        val_pooled, val_blur = np.concatenate(val_pooled), np.concatenate(val_blur)
        np.savez(cache, lesions=lesions, others=others, val_pooled=val_pooled, val_blur=val_blur)
    log(f"detector: {len(lesions)} training lesions against {len(others)} other pictures, C={args.c}")
    scope.fit_detector(model, lesions, others, c=args.c)
    val_distance = np.asarray(model.get_layer("feature_distance")(val_pooled))
    val_out_of_scope = np.asarray(model.get_layer("out_of_scope")(val_pooled))
    calibration["scope"] = scope.fit(val_distance, val_blur, None, val_out_of_scope)
    (out / "calibration.json").write_text(json.dumps(calibration, indent=2) + "\n")
    report = json.loads((out / "report.json").read_text())
    if "calibration" in report:
        report["calibration"]["scope"] = calibration["scope"]
        (out / "report.json").write_text(json.dumps(report, indent=2) + "\n")
    log(f"scope on validation: {calibration['scope']}")
    model.save_weights(str(out / "model.weights.h5"))
    model.export(str(out / "saved_model"), verbose=False)
    log(f"exported {out / 'saved_model'}")


if __name__ == "__main__":
    main()
