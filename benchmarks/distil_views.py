"""A distilled student against its 8-view teacher in 1, 2, 4 and 8 views, on validation.

    .venv/bin/python benchmarks/distil_views.py runs/phone3f [--json out.json]

A run made with ``--distil-epochs N --tta-views 1`` keeps its student (``distil_student.weights.h5``) and
its teacher's validation logits (``distil/val.npy``). This classifies the validation images through the
student in the 8 dihedral views (``trainer.calibrate.pooled_views``; cached as
``distil/student_val_pooled.npy``) and compares the mean logits of its first 1, 2, 4 and 8 views with the
teacher by ``trainer.distil.compare`` (each calibrated on validation, the paired intervals over lesions):
whether a student short of the tolerance in one view is within it in two, and whether a shortfall is the
views' or the student's own (then it shows in every count). Prints a table; not a test.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run", type=Path, help="a run folder with a finished distillation (distil.json)")
    parser.add_argument("--json", type=Path, help="also write the comparisons here")
    args = parser.parse_args(argv)

    from trainer import labels
    from trainer.calibrate import pooled_views
    from trainer.config import Config
    from trainer.data import read_split
    from trainer.distil import compare
    from trainer.model import build_model
    from trainer.stage2 import freeze_for_stage2

    run = args.run
    config = Config.load(run / "config.json")
    records, splits = read_split(run / "split.csv")
    splits = np.asarray(splits)
    class_ids = labels.class_ids(config)
    malignant = np.array([c["malignant"] for c in labels.classes_metadata(config)])
    index = labels.diagnosis_to_index(config)
    y = np.array([index[r.dx] for r in records])
    model, features = build_model(config, len(class_ids))
    freeze_for_stage2(model, config.cut).load_weights(str(run / "distil_student.weights.h5"))
    val, train = splits == "val", splits == "train"
    cached = run / "distil" / "student_val_pooled.npy"
    if cached.exists():
        pooled = np.load(cached)
    else:
        pooled, _ = pooled_views(features, np.array([r.path for r in records])[val], config.image_size,
                                 config.batch_size)
        np.save(cached, pooled)
    kernel, bias = model.get_layer("logits").get_weights()
    teacher = np.load(run / "distil" / "val.npy")
    prior = np.bincount(y[train], minlength=len(class_ids)) / train.sum()
    kinds = np.array([r.kind for r in records])[val]
    groups = np.array([r.group for r in records])[val]
    out = {}
    print("| student views | pictures | bal. acc. (− teacher) | malignant AUC (− teacher) | ECE | within |")
    print("|---|---|---|---|---|---|")
    for n in (1, 2, 4, 8):
        result = compare(teacher, pooled[:, :n].mean(axis=1) @ kernel + bias, y[val], prior, class_ids, malignant,
                         kinds, config.target_sensitivity, groups, config.bootstrap)
        out[n] = result
        for kind in result["difference"]:
            s, d = result["student_1_view"][kind], result["difference"][kind]
            print(f"| {n} | {kind} ({s['n']}) | {s['balanced_accuracy']:.3f} ({d['balanced_accuracy']:+.3f}) | "
                  f"{s['malignant_auc']:.3f} ({d['malignant_auc']:+.3f}) | {s['ece']:.3f} | "
                  f"{'yes' if result['within_tolerance'] else 'no'} |")
    if args.json:
        args.json.write_text(json.dumps(out, indent=2) + "\n")


if __name__ == "__main__":
    main()
