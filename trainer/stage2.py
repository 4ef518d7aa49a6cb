"""Stage 2: every layer above ``--cut`` fine-tuned from cached augmented views; resumable by epoch.

The layers below the cut stay frozen, so each training image's augmented views are computed once at
the cut and cached in ``views/`` (``trainer/views.py``); every epoch draws one of them per image and
trains the layers above the cut and the head, with warm-up then cosine decay; BatchNorm stays in
inference mode. Writes ``history_stage2.csv`` (a line per epoch), ``stage2_best.weights.h5`` (the best
validation balanced accuracy), ``backup/`` (the last two finished epochs, while it runs) and
``stage2_done.json``. The view cache resumes by chunk and training by epoch: rerunning the same command
after a kill loses neither. A kill can fall while a checkpoint is being written, so each is written
aside and renamed (``trainer/runfiles.py``), and a backup that does not open is passed over for the
one before it.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import sys
import time
from pathlib import Path

import numpy as np

from . import distribute
from .config import Config
from .metrics import balanced_accuracy, softmax
from .runfiles import log, readable_h5, save_weights, write_text
from .stage1 import class_weights


def stage2(config: Config, model, paths, y, part, kinds, imbalance: str, run: Path, callbacks=(),
           strategy=None) -> dict:
    """Fine-tunes ``model`` above ``config.cut`` on the training split (``part["train"]``), validated on
    ``part["val"]``.

    Args:
        paths, y, kinds: every readable record's file, class index and kind of picture.
        imbalance: stage 1's remedy ("class_weight" or "balanced").
        callbacks: extra Keras callbacks (e.g. to stop it from outside).
        strategy: ``--distribute``'s (``trainer/distribute.py``), or None.

    Returns:
        {"epochs", "best_val_balanced_accuracy", "cut", "views"}, for the report.
    """
    train, val = part["train"], part["val"]
    epochs, best = fine_tune(config, model, below_cut_model(model, config.cut), paths[train], y[train], paths[val],
                             y[val], imbalance, run, callbacks, strategy, kinds[train])
    log(f"stage 2: {epochs} epochs, best validation balanced accuracy {best:.3f}")
    return {"epochs": epochs, "best_val_balanced_accuracy": best, "cut": config.cut, "views": config.views}


def below_cut_model(model, cut: str):
    """The model's image input through its preprocessing and the backbone below ``cut``: what the view
    caches hold for each view."""
    import keras

    from .model import image_input, split_backbone

    lower, _ = split_backbone(model, cut)
    return keras.Model(image_input(model), lower(model.get_layer("preprocess").output), name="skinlens_below_cut")


def view_cache_key(config) -> dict:
    """What the cached views depend on besides the images: a cache made otherwise is rebuilt."""
    return {"cut": config.cut, "image_size": config.image_size, "seed": config.seed,
            "colour_constancy": config.colour_constancy,
            **({"phone_look": config.phone_look} if config.phone_look else {})}


def validation_callback(model, x_val, y_val):
    """Adds ``val_loss`` and ``val_balanced_accuracy`` to the epoch logs, for the callbacks after it."""
    import keras

    def on_epoch_end(epoch, logs):
        logits = model.predict(x_val, batch_size=64, verbose=0)
        logs["val_loss"] = float(-np.mean(np.log(softmax(logits)[np.arange(len(y_val)), y_val] + 1e-12)))
        logs["val_balanced_accuracy"] = balanced_accuracy(y_val, logits.argmax(axis=1))

    return keras.callbacks.LambdaCallback(on_epoch_end=on_epoch_end)


def freeze_for_stage2(model, cut: str):
    """Makes every backbone layer above ``cut`` trainable except BatchNorm, and returns the model
    stage 2 trains: cached features at the cut -> logits.

    BatchNorm layers stay non-trainable, which in Keras 3 also keeps them in inference mode: their
    moving statistics never change (tests/test_model.py checks it after an epoch).
    """
    import keras

    from .model import above_cut_model, backbone_of, split_backbone

    backbone = backbone_of(model)
    _, upper = split_backbone(model, cut)
    above = {layer.name for layer in upper.layers}
    backbone.trainable = True
    for layer in backbone.layers:
        layer.trainable = layer.name in above and not isinstance(layer, keras.layers.BatchNormalization)
    return above_cut_model(model, cut)


def fine_tune(config, model, below_cut, train_paths, y_train, val_paths, y_val, imbalance, run, callbacks=(),
              strategy=None, train_kinds=None):
    """Trains everything above ``config.cut`` from cached augmented views; resumable after a kill.

    With a ``strategy`` (``--distribute``) the fit runs on its replicas (``trainer/distribute.py``).

    Returns:
        the number of stage-2 epochs completed, and the best validation balanced accuracy.
    """
    import keras

    from .data import augmenter
    from .views import ViewCache, view_batches

    done = run / "stage2_done.json"
    best_path = run / "stage2_best.weights.h5"
    trainer_model = freeze_for_stage2(model, config.cut)
    if done.exists():  # a rerun of a finished run: keep what stage 2 learnt
        trainer_model.load_weights(str(best_path))
        info = json.loads(done.read_text())
        return info["epochs"], info["best_val_balanced_accuracy"]

    shape = tuple(below_cut.output.shape[1:])
    key = view_cache_key(config)
    t0 = time.time()
    train_cache = ViewCache(run / "views", "train", len(train_paths), config.views, shape, key)
    train_cache.build(below_cut, train_paths, config.image_size, augment=augmenter(config.seed, config.phone_look),
                      batch_size=config.batch_size, log=log)
    val_cache = ViewCache(run / "views", "val", len(val_paths), 1, shape, key)
    val_cache.build(below_cut, val_paths, config.image_size, batch_size=config.batch_size, log=log)
    log(f"view cache ready ({(time.time() - t0) / 60:.1f} min)")
    x_val = np.asarray(val_cache.array()[:, 0], np.float32)

    keras.utils.set_random_seed(config.seed)
    history = run / "history_stage2.csv"
    finished = 0
    best_so_far = None
    if history.exists():
        # Resuming after the last epoch backed up: the log keeps only those epochs (an
        # epoch logged but killed before its backup runs again, and is logged once).
        finished = _backed_up_epochs(run / "backup")
        _trim_history(history, finished)
    if history.exists() and readable_h5(best_path):
        # The best checkpoint may only be replaced by a better epoch.
        with history.open() as f:
            scores = [float(r["val_balanced_accuracy"]) for r in csv.DictReader(f)]
        best_so_far = max(scores) if scores else None
    elif best_path.exists():
        log(f"{best_path.name} was cut off by the interruption; the next epoch replaces it")
        best_path.unlink()
    num_classes = model.get_layer("logits").units
    batches = view_batches(train_cache.array(), y_train, config.batch_size, seed=config.seed,
                           balanced=imbalance == "balanced", first_epoch=finished, kinds=train_kinds,
                           photo_share=config.photo_share,
                           class_weight=class_weights(y_train, num_classes) if imbalance == "class_weight" else None)
    steps = len(batches) * config.fine_tune_epochs
    warmup = min(len(batches) * config.warmup_epochs, steps - 1)
    # Linear warm-up to the peak rate, then cosine decay to 0 (as the ISIC/SIIM winners trained).
    schedule = keras.optimizers.schedules.CosineDecay(0.0, decay_steps=steps - warmup, warmup_steps=warmup,
                                                      warmup_target=config.fine_tune_learning_rate)
    fit_callbacks = [
        validation_callback(trainer_model, x_val, y_val),
        best_checkpoint(best_path, best_so_far),
        keras.callbacks.CSVLogger(str(history), append=True),
        *callbacks,
        # Last, so an epoch counts as done only once its checkpoint and log line are written.
        backup_and_restore(run / "backup"),
    ]
    if strategy is not None:  # several devices or machines: trainer/distribute.py
        distribute.fit(strategy, trainer_model, batches, epochs=config.fine_tune_epochs,
                       optimizer=lambda: keras.optimizers.Adam(schedule), callbacks=fit_callbacks, log=log)
    else:
        trainer_model.compile(optimizer=keras.optimizers.Adam(schedule),
                              loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        # A live progress bar on a terminal; one line per epoch in a log file.
        # shuffle=False: the batches' own seeded draw orders each epoch (Keras would reshuffle the
        # batches with Python's global random state, which a resumed or distributed run cannot repeat).
        trainer_model.fit(batches, epochs=config.fine_tune_epochs, verbose=1 if sys.stdout.isatty() else 2,
                          shuffle=False, callbacks=fit_callbacks)
    if best_path.exists():
        trainer_model.load_weights(str(best_path))
    _trim_history(history, None)  # one line per epoch, should a lost backup have made one run twice
    with history.open() as f:
        rows = list(csv.DictReader(f))
    best = max(float(r["val_balanced_accuracy"]) for r in rows)
    write_text(done, json.dumps({"epochs": len(rows), "best_val_balanced_accuracy": best}) + "\n")
    return len(rows), best


# The backup's two checkpoints, newest first: a kill while one is replaced leaves the other whole.
LATEST, PREVIOUS = "latest.weights.h5", "previous.weights.h5"


def best_checkpoint(path: Path, best: float | None):
    """A callback that saves the weights to ``path`` whenever ``val_balanced_accuracy`` beats ``best``
    (None: any), whole or not at all (Keras' ModelCheckpoint writes the file in place)."""
    import keras

    class BestCheckpoint(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            nonlocal best
            score = logs["val_balanced_accuracy"]
            if best is None or score > best:
                best = score
                save_weights(self.model, path)

    return BestCheckpoint()


def backup_and_restore(folder: Path):
    """Keras' ``BackupAndRestore`` whose checkpoints survive a kill at any moment.

    Each epoch's weights are written aside, stamped with the number of epochs they hold, and renamed
    into ``latest.weights.h5`` once whole, the one before kept as ``previous.weights.h5``. On restore,
    the newest checkpoint that opens wins; with none (a kill during the first epoch's save, or a
    ``latest.weights.h5`` that Keras' own callback left half-written), stage 2 starts again from epoch 0.
    """
    import h5py
    import keras

    class Backup(keras.callbacks.BackupAndRestore):
        def on_train_begin(self, logs=None):
            found = last_backup(folder)
            if found is None:
                if folder.exists():
                    log(f"{folder} holds no whole checkpoint (cut off by the interruption): stage 2 starts again")
                    shutil.rmtree(folder)
                return
            path, epochs = found
            if path.name != LATEST:
                log(f"{folder / LATEST} was cut off by the interruption: resuming from the epoch before it")
            if self.model.optimizer is not None and not self.model.optimizer.built:
                self.model.optimizer.build(self.model.trainable_variables)
            self.model.load_weights(str(path))
            self.model._initial_epoch = epochs  # as Keras' own restore tells fit where to start

        def _save_model(self):
            folder.mkdir(parents=True, exist_ok=True)
            part = folder / f"part-{LATEST}"
            self.model.save_weights(str(part), overwrite=True)
            with h5py.File(part, "a") as f:
                f.attrs["epochs"] = self._current_epoch
            if (folder / LATEST).exists():
                os.replace(folder / LATEST, folder / PREVIOUS)
            os.replace(part, folder / LATEST)

    return Backup(str(folder))


def last_backup(folder: Path) -> tuple[Path, int] | None:
    """The newest checkpoint in ``folder`` that opens, and how many epochs it holds; None when none does.

    A ``latest.weights.h5`` without the stamp was written by Keras' own callback (runs before this
    one): its epochs are in ``training_metadata.json``.
    """
    import h5py

    for name in (LATEST, PREVIOUS):
        try:
            with h5py.File(folder / name, "r") as f:
                if "epochs" in f.attrs:
                    return folder / name, int(f.attrs["epochs"])
            if name == LATEST:
                return folder / name, int(json.loads((folder / "training_metadata.json").read_text())["epoch"])
        except (OSError, ValueError, KeyError):
            continue
    return None


def _backed_up_epochs(backup: Path) -> int:
    """How many stage-2 epochs the newest whole checkpoint in ``backup`` holds (0 when none)."""
    found = last_backup(backup)
    return 0 if found is None else found[1]


def _trim_history(history: Path, epochs: int | None) -> None:
    """Keeps the log lines of epochs 0..epochs-1 (all when None), the last line of each epoch only."""
    with history.open(newline="") as f:
        reader = csv.DictReader(f)
        fields, rows = reader.fieldnames, list(reader)
    last = {int(r["epoch"]): r for r in rows if epochs is None or int(r["epoch"]) < epochs}
    kept = [last[e] for e in sorted(last)]
    if kept == rows:
        return
    with history.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=fields)
        writer.writeheader()
        writer.writerows(kept)
