"""Cheap validation evidence for choices a full run per option cannot afford: colour constancy and
input size, compared with the backbone frozen (stage 1 only: pooled ImageNet features + the head).

    .venv/bin/python benchmarks/frozen_proxy.py runs/deep --train-source ham10000-224 [--json]

Uses the run's own split (split.csv) and its validation images only, never the test split. To keep
it to minutes on 2 cores it trains on the training images of one source folder (default the 224×224
folder) and validates on every validation image, so the resolution gap (the same lesions in the
200×150 and 224×224 folders) is measured for each option too. Variants: 224 px as is, 224 px with
Shades of Gray (p = 6), 192 px, 160 px. A proxy, not the full recipe: stage 2 can shift the
differences, which is why the README reports these as such.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

VARIANTS = {"224": (224, False), "224+shades-of-gray": (224, True), "192": (192, False), "160": (160, False)}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run", type=Path, help="a run folder (its split.csv and config.json)")
    parser.add_argument("--train-source", default="ham10000-224", help="source folder whose training images are used")
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    args = parser.parse_args(argv)

    import numpy as np

    from trainer import labels
    from trainer.config import Config
    from trainer.data import read_split
    from trainer.metrics import classification_metrics, softmax
    from trainer.model import build_model
    from trainer.report import resolution_gap
    from trainer.train import extract_features, train_head

    base = Config.load(args.run / "config.json")
    records, splits = read_split(args.run / "split.csv")
    index = labels.diagnosis_to_index(base)
    class_ids = labels.class_ids(base)
    malignant = np.array([c["malignant"] for c in labels.classes_metadata(base)])
    train = [r for r, s in zip(records, splits) if s == "train" and Path(r.source).name == args.train_source]
    val = [r for r, s in zip(records, splits) if s == "val"]
    y_train = np.array([index[r.dx] for r in train])
    y_val = np.array([index[r.dx] for r in val])
    rows = {}
    for name in args.variants:
        size, colour = VARIANTS[name]
        config = Config(**{**base.__dict__, "image_size": size, "colour_constancy": colour})
        start = time.time()
        _, features = build_model(config, len(class_ids))
        with open(os.devnull, "w") as quiet:
            stdout, sys.stdout = sys.stdout, quiet
            try:
                cache = args.run / "proxy_features" / name
                cache.mkdir(parents=True, exist_ok=True)
                f_train, ok_train, _ = extract_features(features, train, cache / "train", size, 32)
                f_val, ok_val, _ = extract_features(features, val, cache / "val", size, 32)
                head = train_head(config, "balanced", f_train[ok_train], y_train[ok_train], f_val[ok_val],
                                  y_val[ok_val], len(class_ids), cache / "history.csv")
            finally:
                sys.stdout = stdout
        probs = softmax(head.predict(f_val[ok_val], verbose=0))
        m = classification_metrics(y_val[ok_val], probs, class_ids)
        kept = [r for r, ok in zip(val, ok_val) if ok]
        gap = resolution_gap([r.image_id for r in kept], [r.source for r in kept], y_val[ok_val], probs,
                             class_ids, malignant)
        rows[name] = {"val_balanced_accuracy": m["balanced_accuracy"], "val_macro_auc": m["macro_auc"],
                      "top_class_agreement_between_copies": gap and gap["top_class_agreement"],
                      "malignant_risk_change_between_copies": gap and gap["mean_abs_malignant_risk_change"],
                      "minutes": (time.time() - start) / 60}
    if args.json:
        print(json.dumps(rows, indent=1))
        return
    print(f"frozen backbone + head; train: {len(train)} images of {args.train_source}; validation: {len(val)} images")
    print(f"{'variant':22} {'val bal. acc.':>13} {'val macro AUC':>13} {'copies agree':>12} {'risk change':>11} {'min':>5}")
    for name, r in rows.items():
        agree, change = r["top_class_agreement_between_copies"], r["malignant_risk_change_between_copies"]
        print(f"{name:22} {r['val_balanced_accuracy']:13.3f} {r['val_macro_auc']:13.3f} "
              f"{agree if agree is None else format(agree, '12.3f'):>12} "
              f"{change if change is None else format(change, '11.3f'):>11} {r['minutes']:5.1f}")


if __name__ == "__main__":
    main()
