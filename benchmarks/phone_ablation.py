"""What makes a model trained on dermoscopy generalise to phone photos, measured cheaply on validation:
the backbone frozen (stage 1 only: pooled ImageNet features + the head), one variant a row.

    .venv/bin/python benchmarks/phone_ablation.py runs/phone [--seeds 3] [--json]

Uses the run's own split (split.csv: HAM10000 and PAD-UFES-20 together, grouped by lesion and patient)
and its validation images only, never the test split. To keep it to minutes on 2 cores the head trains on
the training images of the 224x224 HAM10000 folder (one image a lesion) and of PAD-UFES-20, and every
validation image is scored; figures are given per kind of picture (dermoscopic close-up, phone photo), as
the mean and standard deviation over ``--seeds`` heads (the head's seed and the oversampling draw): with 82
validation photos one head's figures move by a few hundredths from seed to seed.

Variants:
- dermoscopy only: the head never sees a phone photo (today's shipped recipe, as a proxy);
- + photos: the PAD-UFES-20 training patients added as the data has them (3% of the images);
- + photos x share: the photos oversampled to PHOTO_SHARE of the training draws (``--photo-share``);
- + phone look: a third of the dermoscopic training images added again made to look like phone photos
  (trainer/data.py ``phone_look``, ``--phone-look``);
- + phone look + share;
- + colour constancy: Shades of Gray inside the model (``--colour-constancy``), with photos and share.

A proxy, not the full recipe: stage 2 trains 83% of the network and can shift the differences; the
shipped run's own figures are in its report.
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

PHOTO_SHARE = 0.15
PHONE_LOOK_SHARE = 1 / 3
TRAIN_SOURCES = ("ham10000-224", "pad-ufes-20")


def phone_look_features(features_model, records, cache: Path, size: int, seed: int):
    """Pooled features of ``records``' images made to look like phone photos (seeded, cached)."""
    import numpy as np
    import tensorflow as tf

    from trainer.data import load_batch_arrays, phone_look

    path = cache / "phone_look.npz"
    if path.exists():
        return np.load(path)["features"]
    rng = tf.random.Generator.from_seed(seed)
    parts = []
    for lo in range(0, len(records), 64):
        images, ok, _ = load_batch_arrays([r.path for r in records[lo:lo + 64]], size, size)
        # phone_look draws one framing per batch: batches of 16 give each a framing of its own
        looked = np.concatenate([phone_look(images[i:i + 16], rng).numpy() for i in range(0, len(images), 16)])
        parts.append(features_model.predict(looked, verbose=0))
    features = np.concatenate(parts)
    cache.mkdir(parents=True, exist_ok=True)
    np.savez(path, features=features)
    return features


def per_kind(y, probs, kinds, class_ids, malignant) -> dict:
    """Balanced accuracy and malignant AUC of each kind of picture."""
    import numpy as np

    from trainer.metrics import classification_metrics, screening_metrics

    out = {}
    for kind in ("dermoscopic", "photo"):
        sel = kinds == kind
        m = classification_metrics(y[sel], probs[sel], class_ids)
        out[kind] = {"n": int(sel.sum()), "balanced_accuracy": m["balanced_accuracy"],
                     "malignant_auc": screening_metrics(y[sel], probs[sel], malignant, 0.5)["auc"],
                     "ece": m["ece"]}
        out[kind]["n_malignant"] = int(np.asarray(malignant, bool)[y[sel]].sum())
    return out


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run", type=Path, help="a run folder with both kinds of picture (its split.csv, config.json)")
    parser.add_argument("--seeds", type=int, default=3, help="heads trained per variant, each with its own seed")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    args = parser.parse_args(argv)

    import numpy as np

    from trainer import labels
    from trainer.config import Config
    from trainer.data import read_split
    from trainer.metrics import softmax
    from trainer.model import build_model
    from trainer.train import extract_features, train_head

    base = Config.load(args.run / "config.json")
    records, splits = read_split(args.run / "split.csv")
    index = labels.diagnosis_to_index(base)
    class_ids = labels.class_ids(base)
    malignant = np.array([c["malignant"] for c in labels.classes_metadata(base)])
    train = [r for r, s in zip(records, splits) if s == "train" and Path(r.source).name in TRAIN_SOURCES]
    val = [r for r, s in zip(records, splits) if s == "val"]
    y_train = np.array([index[r.dx] for r in train])
    y_val = np.array([index[r.dx] for r in val])
    kind_train = np.array([r.kind for r in train])
    kind_val = np.array([r.kind for r in val])
    size = base.image_size
    rows, features = {}, {}

    def feats(colour: bool):
        if colour not in features:
            config = Config(**{**base.__dict__, "colour_constancy": colour})
            _, model = build_model(config, len(class_ids))
            cache = args.run / "proxy_features" / ("phone-cc" if colour else "phone")
            cache.mkdir(parents=True, exist_ok=True)
            with open(os.devnull, "w") as quiet:
                stdout, sys.stdout = sys.stdout, quiet
                try:
                    f_train, ok_train, _ = extract_features(model, train, cache / "train", size, 32)
                    f_val, ok_val, _ = extract_features(model, val, cache / "val", size, 32)
                finally:
                    sys.stdout = stdout
            derm = np.nonzero((kind_train == "dermoscopic") & ok_train)[0]
            look = np.sort(np.random.default_rng(base.seed).permutation(derm)[:int(len(derm) * PHONE_LOOK_SHARE)])
            f_look = phone_look_features(model, [train[i] for i in look], cache, size, base.seed)
            features[colour] = (f_train, ok_train, f_val, ok_val, look, f_look)
        return features[colour]

    variants = {"dermoscopy only": dict(photos=False), "+ photos": dict(),
                "+ photos x share": dict(share=True), "+ phone look": dict(look=True),
                "+ phone look + share": dict(look=True, share=True),
                "+ phone look + share + colour constancy": dict(look=True, share=True, colour=True)}
    for name, v in variants.items():
        start = time.time()
        f_train, ok_train, f_val, ok_val, look, f_look = feats(v.get("colour", False))
        runs = []
        for seed in range(base.seed, base.seed + args.seeds):
            keep = ok_train & (v.get("photos", True) | (kind_train == "dermoscopic"))
            x, y = f_train[keep], y_train[keep]
            if v.get("look"):
                x, y = np.concatenate([x, f_look]), np.concatenate([y, y_train[look]])
            if v.get("share"):
                # Oversample the photos so they are PHOTO_SHARE of the draws, as --photo-share does in stage 2.
                photos = np.nonzero(ok_train & (kind_train == "photo"))[0]
                need = int(PHOTO_SHARE / (1 - PHOTO_SHARE) * (len(y) - len(photos)))
                extra = np.random.default_rng(seed).choice(photos, max(need - len(photos), 0))
                x, y = np.concatenate([x, f_train[extra]]), np.concatenate([y, y_train[extra]])
            with open(os.devnull, "w") as quiet:
                stdout, sys.stdout = sys.stdout, quiet
                try:
                    head = train_head(Config(**{**base.__dict__, "seed": seed}), "balanced", x, y, f_val[ok_val],
                                      y_val[ok_val], len(class_ids), args.run / "proxy_features" / "phone_history.csv")
                finally:
                    sys.stdout = stdout
            probs = softmax(head.predict(f_val[ok_val], verbose=0))
            runs.append(per_kind(y_val[ok_val], probs, kind_val[ok_val], class_ids, malignant))
        rows[name] = {kind: {**runs[0][kind], **{key: float(np.mean([r[kind][key] for r in runs]))
                                                  for key in ("balanced_accuracy", "malignant_auc", "ece")},
                             **{f"{key}_sd": float(np.std([r[kind][key] for r in runs]))
                                for key in ("balanced_accuracy", "malignant_auc", "ece")}}
                      for kind in runs[0]}
        rows[name].update(train_images=len(y), seeds=args.seeds, minutes=(time.time() - start) / 60)
    if args.json:
        print(json.dumps(rows, indent=1))
        return
    print(f"frozen backbone + head; train: {len(train)} images of {', '.join(TRAIN_SOURCES)}; "
          f"validation: {len(val)} images ({int((kind_val == 'photo').sum())} phone photos)")
    print(f"{'variant':42} {'dermoscopic BA':>14} {'AUC':>12} {'photo BA':>12} {'AUC':>12} {'photo ECE':>9}")
    for name, r in rows.items():
        d, p = r["dermoscopic"], r["photo"]
        print(f"{name:42} {d['balanced_accuracy']:8.3f}±{d['balanced_accuracy_sd']:.3f} "
              f"{d['malignant_auc']:6.3f}±{d['malignant_auc_sd']:.3f} {p['balanced_accuracy']:6.3f}±"
              f"{p['balanced_accuracy_sd']:.3f} {p['malignant_auc']:6.3f}±{p['malignant_auc_sd']:.3f} {p['ece']:9.3f}")
    print(f"mean ± sd over {args.seeds} heads")


if __name__ == "__main__":
    main()
