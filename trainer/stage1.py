"""Stage 1: the backbone frozen, its pooled features cached, the head trained on them.

The frozen backbone's features do not change between epochs, so they are computed once, in chunks
saved to ``features/`` (``chunk_*.npz``, each written aside and renamed, so a killed run redoes at most
one), and the head trains on them in seconds per epoch instead of minutes. The same pass finds the
unreadable files, before the split (``trainer/prepare.py``). Both imbalance remedies (class weights,
balanced sampling) are tried here, where it is cheap, and the one with the better validation balanced
accuracy is kept. Writes ``history_stage1_<remedy>.csv`` and ``stage1.weights.h5``.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from .config import Config
from .data import load_batch_arrays
from .metrics import balanced_accuracy, classification_metrics, softmax
from .runfiles import log, save_weights

CHUNK = 512


def stage1(config: Config, model, feats, y, part, class_ids, run: Path) -> dict:
    """Trains the head on cached features and puts its weights into ``model``'s ``logits`` layer.

    Args:
        feats, y: every readable record's features and class index; part: {split: mask} over them.

    Returns:
        {"imbalance": the remedy kept, "imbalance_scores": {remedy: validation balanced accuracy},
        "validation": the head's validation balanced accuracy and macro AUC, "test_logits": its test logits}.
    """
    head, imbalance, scores = choose_remedy(config, feats, y, part, len(class_ids), run)
    save_weights(head, run / "stage1.weights.h5")
    model.get_layer("logits").set_weights(head.get_layer("logits").get_weights())
    validation = classification_metrics(y[part["val"]], softmax(head.predict(feats[part["val"]], verbose=0)),
                                        class_ids)
    return {"imbalance": imbalance, "imbalance_scores": scores,
            "validation": {k: validation[k] for k in ("balanced_accuracy", "macro_auc")},
            "test_logits": head.predict(feats[part["test"]], verbose=0)}


def extract_features(features_model, records, cache: Path, image_size: int, batch_size: int):
    """Pooled backbone features of every record, cached per chunk under ``cache``.

    Returns:
        (features, ok, errors): float32 (n, dim), a mask of readable images, {path: why}.
    """
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


def train_head(config: Config, imbalance: str, x_train, y_train, x_val, y_val, num_classes: int, log_path: Path):
    """Fits the head on cached features with early stopping on validation loss.

    Args:
        imbalance: "class_weight" (weighted loss) or "balanced" (every class drawn equally often).
    """
    import keras
    import tensorflow as tf

    from .model import build_head

    keras.utils.set_random_seed(config.seed)
    head = build_head(x_train.shape[1], num_classes, config.dropout)
    head.compile(optimizer=keras.optimizers.Adam(config.head_learning_rate),
                 loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    fit_args = {}
    if imbalance == "balanced":
        per_class = [tf.data.Dataset.from_tensor_slices((x_train[y_train == c], y_train[y_train == c]))
                     .shuffle(8192, seed=config.seed + c).repeat() for c in np.unique(y_train)]
        data = tf.data.Dataset.sample_from_datasets(per_class, seed=config.seed).batch(config.batch_size)
        fit_args = {"x": data, "steps_per_epoch": int(np.ceil(len(y_train) / config.batch_size))}
    else:
        fit_args = {"x": x_train, "y": y_train, "batch_size": config.batch_size,
                    "class_weight": class_weights(y_train, num_classes)}
    head.fit(**fit_args, validation_data=(x_val, y_val), epochs=config.head_epochs, verbose=0,
             callbacks=[keras.callbacks.EarlyStopping(monitor="val_loss", patience=6, restore_best_weights=True),
                        keras.callbacks.ReduceLROnPlateau(monitor="val_loss", factor=0.3, patience=3),
                        keras.callbacks.CSVLogger(str(log_path))])
    return head


def choose_remedy(config, feats, y, part, num_classes, run):
    """Trains the head on cached features; picks the imbalance remedy on validation.

    Returns:
        (head, choice, {remedy: validation balanced accuracy})
    """
    remedies = ["class_weight", "balanced"] if config.imbalance == "auto" else [config.imbalance]
    heads, scores = {}, {}
    for remedy in remedies:
        head = train_head(config, remedy, feats[part["train"]], y[part["train"]], feats[part["val"]],
                          y[part["val"]], num_classes, run / f"history_stage1_{remedy}.csv")
        pred = head.predict(feats[part["val"]], verbose=0).argmax(axis=1)
        heads[remedy], scores[remedy] = head, balanced_accuracy(y[part["val"]], pred)
        log(f"stage 1 with {remedy}: validation balanced accuracy {scores[remedy]:.3f}")
    # Both remedies fix the same problem (nv is two thirds of HAM10000); the one that ranks
    # the rare classes better on validation lesions wins. Ties go to class weights, which keep
    # every image in every epoch instead of repeating the rare ones.
    choice = max(remedies, key=lambda r: (round(scores[r], 3), r == "class_weight"))
    return heads[choice], choice, scores
