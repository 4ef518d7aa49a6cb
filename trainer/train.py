"""Training: lesion-grouped split, cached backbone features, the head, test metrics, export.

    python -m trainer train --data ../shared/data/ham10000 ../shared/data/ham10000-224 \\
        --weights ../shared/weights/mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_224_no_top.h5 \\
        --out runs/first

With the backbone frozen, its pooled features do not change between epochs, so they are
computed once (in chunks saved to the run folder, so a killed run resumes where it stopped)
and the head trains on them in seconds per epoch instead of minutes.

A run folder holds: config.json (the resolved Config), split.csv, skipped.csv (files that
could not be read, and why), features/ (cache), head.weights.h5, history.csv, report.json,
and saved_model/ (``model.export()``: raw 0..255 RGB in, probabilities out).
"""

from __future__ import annotations

import csv
import json
import time
from pathlib import Path

import numpy as np

from . import labels
from .config import Config
from .data import SPLITS, load_batch_arrays, read_ham10000, split_by_group, write_split
from .evaluate import classification_metrics

CHUNK = 512


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def extract_features(features_model, records, run: Path, image_size: int, batch_size: int):
    """Pooled backbone features of every record, cached per chunk under ``run/features``.

    Returns:
        (features, ok, errors): float32 (n, dim), a mask of readable images, {path: why}.
    """
    cache = run / "features"
    cache.mkdir(exist_ok=True)
    parts, oks, errors = [], [], {}
    start = time.time()
    for c, lo in enumerate(range(0, len(records), CHUNK)):
        chunk = records[lo:lo + CHUNK]
        path = cache / f"chunk_{c:05d}.npz"
        if path.exists():
            saved = np.load(path, allow_pickle=False)
            feats, ok = saved["features"], saved["ok"]
            errs = json.loads(str(saved["errors"]))
        else:
            images, ok, errs = load_batch_arrays([r.path for r in chunk], image_size, image_size)
            feats = features_model.predict(images, batch_size=batch_size, verbose=0)
            np.savez(path.with_suffix(".tmp.npz"), features=feats, ok=ok, errors=json.dumps(errs))
            path.with_suffix(".tmp.npz").rename(path)
        parts.append(feats)
        oks.append(ok)
        errors.update(errs)
        done = lo + len(chunk)
        log(f"features {done}/{len(records)} ({done / max(time.time() - start, 1e-9):.0f} img/s incl. cache)")
    return np.concatenate(parts), np.concatenate(oks), errors


def class_weights(y: np.ndarray, num_classes: int) -> dict[int, float]:
    """Inverse-frequency weights, normalised so the average sample weight is 1."""
    counts = np.bincount(y, minlength=num_classes).astype(float)
    return {i: float(len(y) / (num_classes * c)) if c else 0.0 for i, c in enumerate(counts)}


def train_head(config: Config, x_train, y_train, x_val, y_val, num_classes: int, run: Path):
    """Fits the head on cached features with early stopping on validation loss."""
    import keras

    from .model import build_head

    keras.utils.set_random_seed(config.seed)
    head = build_head(x_train.shape[1], num_classes, config.dropout)
    head.compile(optimizer=keras.optimizers.Adam(config.head_learning_rate),
                 loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                 weighted_metrics=["accuracy"])
    weights = class_weights(y_train, num_classes) if config.imbalance == "class_weight" else None
    head.fit(
        x_train, y_train, validation_data=(x_val, y_val), epochs=config.head_epochs,
        batch_size=config.batch_size, class_weight=weights, verbose=2,
        callbacks=[
            keras.callbacks.EarlyStopping(monitor="val_loss", patience=6, restore_best_weights=True),
            keras.callbacks.ReduceLROnPlateau(monitor="val_loss", factor=0.3, patience=3),
            keras.callbacks.CSVLogger(str(run / "history.csv")),
        ],
    )
    return head


def softmax(logits: np.ndarray) -> np.ndarray:
    z = logits - logits.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def train(config: Config, run: Path) -> dict:
    """Runs the whole pipeline into ``run`` and returns the report.

    Rerunning with the same ``run`` reuses its split and cached features.
    """
    from .model import build_model

    run = Path(run)
    run.mkdir(parents=True, exist_ok=True)
    config.save(run / "config.json")
    if config.dataset != "ham10000":
        raise ValueError(f"unknown dataset reader {config.dataset!r}")
    records, problems = read_ham10000(list(config.data))
    dx_index = labels.diagnosis_to_index(config.scheme)
    unknown = sorted({r.dx for r in records} - set(dx_index))
    if unknown:
        raise ValueError(f"diagnoses {unknown} are not in the {config.scheme} scheme")
    splits = split_by_group(records, val_fraction=config.val_fraction,
                            test_fraction=config.test_fraction, seed=config.seed)
    write_split(run / "split.csv", records, splits)
    class_ids = labels.class_ids(config.scheme)
    log(f"{len(records)} images, {len({r.group for r in records})} lesions; "
        + ", ".join(f"{s} {splits.count(s)}" for s in SPLITS))

    model, features_model = build_model(config, len(class_ids))
    feats, ok, errors = extract_features(features_model, records, run, config.image_size, config.batch_size)
    problems += sorted(errors.items())
    with (run / "skipped.csv").open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["file", "reason"])
        writer.writerows(problems)
    if problems:
        log(f"skipped {len(problems)} unreadable or missing images (see skipped.csv)")

    y = np.array([dx_index[r.dx] for r in records])
    split = np.array(splits)
    part = {s: (split == s) & ok for s in SPLITS}
    head = train_head(config, feats[part["train"]], y[part["train"]], feats[part["val"]], y[part["val"]],
                      len(class_ids), run)
    head.save_weights(run / "head.weights.h5")
    model.get_layer("logits").set_weights(head.get_layer("logits").get_weights())

    report = {"run": run.name, "scheme": config.scheme, "classes": class_ids, "stage": "frozen-backbone head",
              "skipped": len(problems), "splits": {}}
    for s in SPLITS:
        probs = softmax(head.predict(feats[part[s]], verbose=0))
        report["splits"][s] = classification_metrics(y[part[s]], probs, class_ids)
    test = report["splits"]["test"]
    log(f"test: balanced accuracy {test['balanced_accuracy']:.3f}, macro AUC {test['macro_auc']:.3f}, "
        f"ECE {test['ece']:.3f} (n={test['n']})")
    (run / "report.json").write_text(json.dumps(report, indent=2) + "\n")

    model.export(str(run / "saved_model"), verbose=False)
    log(f"exported {run / 'saved_model'}")
    return report
