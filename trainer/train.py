"""Training: lesion-grouped split, stage 1 on cached features, stage 2 above a cut, views, calibration, export.

    python -m trainer train --data ../shared/data/ham10000 ../shared/data/ham10000-224 \\
        --weights ../shared/weights/mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_224_no_top.h5 \\
        --head-epochs 60 --fine-tune-epochs 10 --out runs/deep

Stage 1 (backbone frozen): its pooled features do not change between epochs, so they are
computed once, in chunks saved to the run folder, and the head trains on them in seconds per
epoch instead of minutes. Both imbalance remedies (class weights, balanced sampling) are tried
here, where it is cheap, and the one with the better validation balanced accuracy is kept.
Stage 2: every layer above ``--cut`` trains, from augmented views cached at the cut
(``trainer/views.py``), with warm-up then cosine decay; BatchNorm stays in inference mode. The view
cache resumes by chunk and training by epoch: rerunning the same command after a kill loses neither.
Then, on validation only: 1, 2, 4 and 8 dihedral views measured, temperature and class bias fitted,
the decision rule (logit adjustment) and the malignant-risk threshold chosen; and one pass over the
test split for the report, with the model as exported (``--tta-views`` views inside the graph).

A run folder holds: config.json, provenance.json (the data's name, citation, licence), split.csv,
skipped.csv, features/ (cache), views/ (cache), stage1.weights.h5, history_stage1_*.csv,
stage2_best.weights.h5, history_stage2.csv, backup/ (while stage 2 runs), calibration.json,
predictions_test.csv, report.json, report.md, plots/, model.weights.h5 and saved_model/.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import shutil
import sys
import time
from pathlib import Path

import numpy as np

from . import clinical, distribute, labels, scope
from .config import Config
from .data import SPLITS, image_dataset, load_batch_arrays, split_by_group, write_split
from .metrics import (balanced_accuracy, bootstrap_intervals, choose_decision, choose_threshold,
                      classification_metrics, fit_calibration, malignant_risk, risk_bins, screening_metrics, softmax)
from .readers import UNKNOWN, DatasetError, provenance, read_dataset, resolve_format

CHUNK = 512


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


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


def stage1(config, feats, y, part, num_classes, run):
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


def stage2(config, model, below_cut, train_paths, y_train, val_paths, y_val, imbalance, run, callbacks=(),
           strategy=None):
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
    key = {"cut": config.cut, "image_size": config.image_size, "seed": config.seed,
           "colour_constancy": config.colour_constancy}
    t0 = time.time()
    train_cache = ViewCache(run / "views", "train", len(train_paths), config.views, shape, key)
    train_cache.build(below_cut, train_paths, config.image_size, augment=augmenter(config.seed),
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
        # Resuming after the last epoch BackupAndRestore saved: the log keeps only those epochs (an
        # epoch logged but killed before its backup runs again, and is logged once).
        finished = _backed_up_epochs(run / "backup")
        _trim_history(history, finished)
    if history.exists() and _readable_h5(best_path):
        # The best checkpoint may only be replaced by a better epoch.
        with history.open() as f:
            scores = [float(r["val_balanced_accuracy"]) for r in csv.DictReader(f)]
        best_so_far = max(scores) if scores else None
    elif best_path.exists():
        log(f"{best_path.name} was cut off by the interruption; the next epoch replaces it")
        best_path.unlink()
    num_classes = model.get_layer("logits").units
    batches = view_batches(train_cache.array(), y_train, config.batch_size, seed=config.seed,
                           balanced=imbalance == "balanced", first_epoch=finished,
                           class_weight=class_weights(y_train, num_classes) if imbalance == "class_weight" else None)
    steps = len(batches) * config.fine_tune_epochs
    warmup = min(len(batches) * config.warmup_epochs, steps - 1)
    # Linear warm-up to the peak rate, then cosine decay to 0 (as the ISIC/SIIM winners trained).
    schedule = keras.optimizers.schedules.CosineDecay(0.0, decay_steps=steps - warmup, warmup_steps=warmup,
                                                      warmup_target=config.fine_tune_learning_rate)
    fit_callbacks = [
        validation_callback(trainer_model, x_val, y_val),
        keras.callbacks.ModelCheckpoint(str(best_path), monitor="val_balanced_accuracy", mode="max",
                                        save_best_only=True, save_weights_only=True,
                                        initial_value_threshold=best_so_far),
        keras.callbacks.CSVLogger(str(history), append=True),
        *callbacks,
        # Last, so an epoch counts as done only once its checkpoint and log line are written.
        # double_checkpoint keeps the previous epoch's state too, for a kill in mid-write.
        keras.callbacks.BackupAndRestore(str(run / "backup"), double_checkpoint=True),
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
    done.write_text(json.dumps({"epochs": len(rows), "best_val_balanced_accuracy": best}) + "\n")
    return len(rows), best


def _backed_up_epochs(backup: Path) -> int:
    """How many stage-2 epochs BackupAndRestore saved in ``backup`` (0 when none)."""
    try:
        return int(json.loads((backup / "training_metadata.json").read_text())["epoch"])
    except (OSError, ValueError, KeyError):
        return 0


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


def _readable_h5(path: Path) -> bool:
    import h5py

    try:
        with h5py.File(path, "r"):
            return True
    except OSError:
        return False


def keras_forward(model):
    """``model`` as ``evaluate.run_model`` calls a model: (images, clinical vectors) -> its outputs
    (probabilities, logits: the image's own, before any clinical offset, cam, feature distance and
    out-of-scope probability)."""
    def forward(images, vectors):
        result = model(model_inputs(model, images, vectors), training=False)
        return {key: np.asarray(value) for key, value in result.items()}

    return forward


def model_inputs(model, images, vectors=None):
    """What ``model`` is called with: the images, plus the clinical vectors (all missing when None)
    for a model with a clinical input."""
    if "clinical" not in [t.name for t in model.inputs]:
        return images
    return {"image": np.asarray(images, np.float32), "clinical": clinical.batch(vectors, len(images))}


# Metadata dropout while the clinical branch trains: a row loses everything with P_ALL, else each
# field with P_FIELD, so the branch learns what any subset a person fills in says.
P_ALL, P_FIELD = 0.3, 0.2
CLINICAL_COPIES, CLINICAL_EPOCHS, CLINICAL_MIN_STEPS = 10, 8, 400
CLINICAL_SCALES = (0.0, 0.25, 0.5, 0.75, 1.0, 1.25, 1.5)


def fit_clinical(model, vectors, y, seed: int) -> None:
    """Trains ``model``'s clinical_offset as a classifier of the metadata alone, on the training split,
    each image's vector seen in ``CLINICAL_COPIES`` random droppings of its fields (see ClinicalOffset)."""
    import keras

    layer = model.get_layer("clinical_offset")
    keras.utils.set_random_seed(seed)
    v = keras.Input((clinical.SIZE,), name="clinical")
    expert = keras.Model(v, layer.output_layer(keras.layers.Dropout(0.3)(layer.hidden_layer(v))))
    rng = np.random.default_rng(seed)
    x = np.concatenate([clinical.drop_fields(vectors, rng, P_ALL, P_FIELD) for _ in range(CLINICAL_COPIES)])
    expert.compile(optimizer=keras.optimizers.Adam(3e-3),
                   loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    steps_per_epoch = int(np.ceil(len(x) / 256))  # small datasets get more epochs, so as many steps
    expert.fit(x, np.tile(y, CLINICAL_COPIES), batch_size=256, verbose=0, shuffle=True,
               epochs=max(CLINICAL_EPOCHS, int(np.ceil(CLINICAL_MIN_STEPS / steps_per_epoch))))


def clinical_offsets(model, vectors) -> np.ndarray:
    """The clinical branch's offsets (n, classes) at scale 1."""
    layer = model.get_layer("clinical_offset")
    missing = clinical.MISSING[None]
    return np.asarray(layer.mlp(np.asarray(vectors, np.float32))) - np.asarray(layer.mlp(missing))


def choose_clinical_scale(logits, offsets, y) -> tuple[float, dict[float, float]]:
    """The scale of the clinical offset with the lowest validation NLL once calibration is refitted:
    1 is Bayes' rule for metadata independent of the image given the class, 0 ignores it."""
    nll = {}
    for scale in CLINICAL_SCALES:
        z = logits + scale * offsets
        temperature, bias = fit_calibration(z, y)
        p = softmax(z / temperature + bias)
        nll[scale] = float(-np.mean(np.log(p[np.arange(len(y)), y] + 1e-12)))
    return min(nll, key=nll.get), nll


def training_features(features_model, paths, seed: int, limit: int) -> np.ndarray:
    """Pooled features of a seeded sample of training images, as ``features_model`` sees them
    (the exported model's views included): what ``feature_distance`` is fitted to."""
    chosen = np.random.default_rng(seed).permutation(len(paths))[:limit]
    return features_model.predict(image_dataset(paths[chosen], np.zeros(len(chosen), np.int32),
                                                features_model.input.shape[1], 32), verbose=0)


def pooled_views(features_model, paths, image_size, batch_size) -> tuple[np.ndarray, np.ndarray]:
    """Pooled features of every file in each of the 8 dihedral views (n, 8, dim), and each file's blur."""
    from .model import DIHEDRAL, dihedral

    ds = image_dataset(paths, np.zeros(len(paths), np.int32), image_size, batch_size)
    pooled, blur = [], []
    for images, _ in ds:
        pooled.append(np.stack([np.asarray(features_model(dihedral(images, *d), training=False))
                                for d in DIHEDRAL], axis=1))
        blur.append(scope.blur(images).numpy())
    return np.concatenate(pooled), np.concatenate(blur)


def copy_weights(source, target) -> None:
    """Copies every layer's weights by name (the models differ only in weightless view layers)."""
    for layer in source.layers:
        if layer.weights:
            target.get_layer(layer.name).set_weights(layer.get_weights())


def resolve_classes(config: Config, records) -> Config:
    """The run's classes: the built-in scheme's, or, for class folders not named after its classes or
    HAM10000's diagnoses, the folder names themselves, with ``--malignant`` saying which are malignant.

    Raises:
        DatasetError: folder-named classes without a usable --malignant, or --malignant with a built-in scheme.
    """
    is_folders = resolve_format(config.dataset, list(config.data)) == "folders"
    classes = labels.data_classes(config.scheme, {r.dx for r in records}) if is_folders else ()
    if not classes:
        if config.malignant:
            raise DatasetError(f"--malignant is for class folders of your own names; the {config.scheme} scheme "
                               "already says which of its classes are malignant")
        return config
    unknown = sorted(set(config.malignant) - set(classes))
    named = (f"the class folders are not the {config.scheme} scheme's classes, so they are the classes: "
             f"{', '.join(classes)}")
    if not config.malignant:
        fits = [name for name in labels.SCHEMES if not labels.data_classes(name, set(classes))]
        raise DatasetError(f"{named}; say which are malignant with --malignant (e.g. --malignant {classes[-1]}): "
                           "the screening risk is their summed probability"
                           + (f"; or pass --scheme {fits[0]}, whose classes they are" if fits else ""))
    if unknown:
        raise DatasetError(f"--malignant names {', '.join(unknown)}, which is no class folder ({named})")
    if set(config.malignant) == set(classes):
        raise DatasetError(f"--malignant names every class ({named}): the screening threshold needs a benign one")
    return dataclasses.replace(config, scheme="folders", classes=classes,
                               malignant=tuple(c for c in classes if c in config.malignant))


def dataset_provenance(config: Config) -> dict:
    """The data's name, citation and licence: its reader's (trainer/readers.py), with the --dataset-* flags
    over them. A name other than the reader's is other data: the reader's urls and population are dropped."""
    found = provenance(config.dataset, list(config.data))
    if config.dataset_name and config.dataset_name != found["name"]:
        found = dict(UNKNOWN, name=config.dataset_name)
    if config.dataset_licence and config.dataset_licence != found["licence"]:
        found.update(licence=config.dataset_licence, licence_url=None)
    if config.dataset_citation:
        found["citation"] = config.dataset_citation
    return found


def check_classes(records, scheme: str | Config) -> None:
    """Raises DatasetError, in words, unless at least two classes of ``scheme`` have images to learn from
    (a dataset may lack some of them: those are logged)."""
    name = scheme if isinstance(scheme, str) else scheme.scheme
    dx_index = labels.diagnosis_to_index(scheme)
    counts = np.bincount([dx_index[r.dx] for r in records if r.dx in dx_index],
                         minlength=len(labels.class_ids(scheme)))
    missing = [cid for cid, n in zip(labels.class_ids(scheme), counts) if n == 0]
    if (counts > 0).sum() >= 2:
        if missing:
            log(f"no image for class {', '.join(missing)} of the {name} scheme")
        return
    unknown = sorted({r.dx for r in records if r.dx not in dx_index})
    raise DatasetError(
        f"{int(counts.sum())} image(s) in {int((counts > 0).sum())} class(es) of the {name} scheme: need two"
        + (f" (the data's labels {', '.join(unknown)} are not in it)" if unknown else "")
        + f"; name the class folders (or labels) after the scheme's classes or diagnoses: {', '.join(sorted(dx_index))}")


def train(config: Config, run: Path, callbacks=(), fold: int | None = None) -> dict | None:
    """Runs the whole pipeline into ``run`` and returns the report (None on a worker other than the
    chief, which stops after stage 2: see ``trainer/distribute.py``).

    Rerunning with the same ``run`` reuses its split and feature cache, and resumes stage 2.

    Args:
        callbacks: extra Keras callbacks for stage 2 (e.g. to stop it from outside).
        fold: with ``config.folds``, train on that fold of a cross-validation; ``run`` is then
            ``<out>/fold_<k>`` and the feature cache is shared in ``<out>/features``.
    """
    from .evaluate import run_model, score_split
    from .model import build_model, set_calibration, set_feature_statistics

    strategy = distribute.start(config.distribute)  # first: before TensorFlow runs anything
    run = distribute.worker_folder(strategy, Path(run))
    records, problems = read_dataset(config.dataset, list(config.data))
    config = resolve_classes(config, records)
    run.mkdir(parents=True, exist_ok=True)
    if (run / "config.json").exists() and Config.load(run / "config.json") != config:
        raise ValueError(f"{run} was made with another configuration: use a new --out folder "
                         f"(or the same flags to resume)")
    config.save(run / "config.json")
    (run / "provenance.json").write_text(json.dumps(dataset_provenance(config), indent=2) + "\n")
    dx_index = labels.diagnosis_to_index(config)
    problems += [(r.path, f"diagnosis {r.dx!r} has no class in the {config.scheme} scheme")
                 for r in records if r.dx not in dx_index]
    check_classes(records, config)
    records = [r for r in records if r.dx in dx_index]
    splits = split_by_group(records, val_fraction=config.val_fraction, test_fraction=config.test_fraction,
                            seed=config.seed, fold=fold, folds=config.folds)
    write_split(run / "split.csv", records, splits)
    class_ids = labels.class_ids(config)
    malignant = np.array([c["malignant"] for c in labels.classes_metadata(config)])
    log(f"{len(records)} images, {len({r.group for r in records})} lesions; "
        + ", ".join(f"{s} {splits.count(s)}" for s in SPLITS))

    timings = {}
    t0 = time.time()
    model, features_model = build_model(config, len(class_ids))
    cache = (run.parent if fold is not None else run) / "features"
    feats, ok, errors = extract_features(features_model, records, cache, config.image_size, config.batch_size)
    timings["features_s"] = time.time() - t0
    problems += sorted(errors.items())
    with (run / "skipped.csv").open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["file", "reason"])
        writer.writerows(problems)
    if problems:
        log(f"skipped {len(problems)} unreadable or missing images (see skipped.csv)")

    y = np.array([dx_index[r.dx] for r in records])
    unreadable = [c for c, n in zip(class_ids, np.bincount(y[ok], minlength=len(class_ids))) if n == 0]
    if config.classes and unreadable:  # each class is a folder: one without a readable image cannot be learnt
        raise DatasetError(f"class folder(s) {', '.join(unreadable)} hold no readable image (see {run / 'skipped.csv'})")
    split = np.array(splits)
    part = {s: (split == s) & ok for s in SPLITS}
    paths = np.array([r.path for r in records])

    t0 = time.time()
    head, imbalance, imbalance_scores = stage1(config, feats, y, part, len(class_ids), run)
    timings["stage1_head_s"] = time.time() - t0
    head.save_weights(run / "stage1.weights.h5")
    model.get_layer("logits").set_weights(head.get_layer("logits").get_weights())
    stage1_test_logits = head.predict(feats[part["test"]], verbose=0)
    s1 = classification_metrics(y[part["val"]], softmax(head.predict(feats[part["val"]], verbose=0)), class_ids)
    stage1_validation = {k: s1[k] for k in ("balanced_accuracy", "macro_auc")}

    stage2_info = None
    if config.fine_tune_epochs > 0:
        import keras

        from .model import image_input, split_backbone

        t0 = time.time()
        lower, _ = split_backbone(model, config.cut)
        below_cut = keras.Model(image_input(model), lower(model.get_layer("preprocess").output), name="skinlens_below_cut")
        epochs, best = stage2(config, model, below_cut, paths[part["train"]], y[part["train"]],
                              paths[part["val"]], y[part["val"]], imbalance, run, callbacks, strategy)
        timings["stage2_s"] = time.time() - t0
        stage2_info = {"epochs": epochs, "best_val_balanced_accuracy": best, "cut": config.cut,
                       "views": config.views}
        log(f"stage 2: {epochs} epochs, best validation balanced accuracy {best:.3f}")
    if strategy is not None:
        from .model import above_cut_model

        log(f"stage 2 weights digest {distribute.digest(above_cut_model(model, config.cut).get_weights())} "
            "(the same on every worker)")
    if not distribute.is_chief(strategy):
        log(f"this worker's part is done ({run}); the chief evaluates and exports")
        return None

    # Test-time views on validation. The exported model averages config.tta_views of the 8 dihedral
    # views; 1, 2, 4 and 8 are all measured for the record (quality against browser time, README).
    # The head is linear after pooling, so one pass per view gives every count's logits.
    t0 = time.time()
    final, final_features = build_model(config, len(class_ids), views=config.tta_views)
    copy_weights(model, final)
    lesion_features = training_features(final_features, paths[part["train"]], config.seed,
                                        limit=max(1000, 3000 // config.tta_views))
    set_feature_statistics(final, lesion_features)
    # The out-of-scope detector: training lesions against pictures of other things (trainer/scope.py).
    scope.fit_detector(final, lesion_features, scope.other_pictures(final_features, config.outliers, config.seed))
    val_idx = np.nonzero(part["val"])[0]
    pooled_by_view, val_blur = pooled_views(features_model, paths[val_idx], config.image_size, config.batch_size)
    kernel, head_bias = model.get_layer("logits").get_weights()
    logits_by_views = {n: pooled_by_view[:, :n].mean(axis=1) @ kernel + head_bias for n in (1, 2, 4, 8)}
    val_pooled = pooled_by_view[:, :config.tta_views].mean(axis=1)
    val = {"logits": logits_by_views[config.tta_views], "blur": val_blur,
           "distance": np.asarray(final.get_layer("feature_distance")(val_pooled)),
           "out_of_scope": np.asarray(final.get_layer("out_of_scope")(val_pooled))}
    timings["views_s"] = time.time() - t0

    # Stage 3, with --clinical: the metadata branch, trained on the training split's metadata, its
    # scale chosen on validation. Everything after it (calibration, decision, threshold) sees the
    # logits with metadata, as a person who fills in the fields gets them.
    vectors = clinical.encode_records(records) if config.clinical else None
    clinical_info = None
    if config.clinical:
        fit_clinical(final, vectors[part["train"]], y[part["train"]], config.seed)
        val_offsets = clinical_offsets(final, vectors[val_idx])
        scale, nll_by_scale = choose_clinical_scale(val["logits"], val_offsets, y[val_idx])
        final.get_layer("clinical_offset").scale.assign(scale)
        val["image_logits"] = val["logits"]
        val["logits"] = val["logits"] + scale * val_offsets
        clinical_info = {"scale": scale, "validation_nll_by_scale": nll_by_scale,
                         "coverage": {s: clinical.coverage([records[i] for i in np.nonzero(part[s])[0]])
                                      for s in SPLITS}}
        log(f"clinical branch: scale {scale} (validation NLL by scale {nll_by_scale})")

    # Calibration, the decision rule, the screening threshold and the scope thresholds: validation only.
    y_val = y[val_idx]
    prior = np.bincount(y[part["train"]], minlength=len(class_ids)) / part["train"].sum()
    temperature, bias = fit_calibration(val["logits"], y_val)
    val_probs = softmax(val["logits"] / temperature + bias)
    decision = choose_decision(val_probs, y_val, prior)
    positive_val = malignant[y_val]
    threshold = choose_threshold(malignant_risk(val_probs, malignant), positive_val, config.target_sensitivity)
    clinical_calibration = None
    if config.clinical:
        # With every field left blank the logits are the image's alone, whose risk scores spread
        # differently under the same calibration: such a photo gets its own threshold, chosen for the
        # same sensitivity. Any field given uses the main threshold; partly filled-in forms are
        # measured on validation below.
        photo_probs = softmax(val["image_logits"] / temperature + bias)
        photo_threshold = choose_threshold(malignant_risk(photo_probs, malignant), positive_val,
                                           config.target_sensitivity)
        partial = {}
        for fields in (("age",), ("sex",), ("site",), ("age", "sex"), ("age", "site")):
            z = val["image_logits"] + scale * clinical_offsets(final, clinical.only(vectors[val_idx], fields))
            p_partial = softmax(z / temperature + bias)
            partial["+".join(fields)] = {
                **{k: v for k, v in screening_metrics(y_val, p_partial, malignant, threshold).items()
                   if k in ("sensitivity", "specificity", "auc")},
                "balanced_accuracy": classification_metrics(y_val, p_partial, class_ids,
                                                            decision["class_log_weights"])["balanced_accuracy"]}
        clinical_calibration = {"scale": scale, "threshold_without_clinical": photo_threshold,
                                "validation_without_clinical": screening_metrics(y_val, photo_probs, malignant,
                                                                                 photo_threshold),
                                "risk_bins_without_clinical": risk_bins(malignant_risk(photo_probs, malignant),
                                                                        positive_val, photo_threshold)}
        clinical_info["validation_partly_filled_in"] = partial
    view_table = {}
    for n, logits_n in logits_by_views.items():
        t_n, b_n = fit_calibration(logits_n, y_val)
        p_n = softmax(logits_n / t_n + b_n)
        m = classification_metrics(y_val, p_n, class_ids, decision["class_log_weights"])
        view_table[n] = {"balanced_accuracy": m["balanced_accuracy"], "macro_auc": m["macro_auc"], "ece": m["ece"],
                         "malignant_auc": screening_metrics(y_val, p_n, malignant, threshold)["auc"],
                         "balanced_accuracy_argmax": classification_metrics(y_val, p_n, class_ids)["balanced_accuracy"]}
    calibration = {"temperature": temperature, "class_bias": [float(b) for b in bias],
                   "decision": decision, "target_sensitivity": config.target_sensitivity, "threshold": threshold,
                   "validation": {**screening_metrics(y_val, val_probs, malignant, threshold),
                                  **{k: v for k, v in classification_metrics(
                                      y_val, val_probs, class_ids, decision["class_log_weights"]).items()
                                     if k in ("balanced_accuracy", "macro_auc", "ece")}},
                   # What a score means, said to the person: how many validation images scoring alike were cancers.
                   "risk_bins": risk_bins(malignant_risk(val_probs, malignant), positive_val, threshold),
                   "validation_by_views": view_table,
                   "scope": scope.fit(val["distance"], val["blur"], val_probs.max(axis=1), val["out_of_scope"]),
                   "clinical": clinical_calibration}
    (run / "calibration.json").write_text(json.dumps(calibration, indent=2) + "\n")
    set_calibration(final, temperature, bias)
    model = final
    log(f"temperature {temperature:.3f}; decision tau {decision['tau']}; malignant threshold {threshold:.4f} "
        f"(validation sensitivity {calibration['validation']['sensitivity']:.3f}, "
        f"specificity {calibration['validation']['specificity']:.3f}, "
        f"balanced accuracy {calibration['validation']['balanced_accuracy']:.3f})")

    # The test split, read once, through the model as exported: the same path as ``trainer evaluate``.
    test_idx = np.nonzero(part["test"])[0]
    signals = run_model(keras_forward(model), [records[i] for i in test_idx], config,
                        None if vectors is None else vectors[test_idx])
    kept, test_idx = signals["kept"], test_idx[signals["kept"]]
    test_logits = signals["logits"]
    if config.clinical:
        test_logits = test_logits + clinical_info["scale"] * clinical_offsets(model, vectors[test_idx])
    # The graph's own probabilities must be the calibrated logits': a check on the offset and calibration
    # in the export.
    rebuilt = softmax(test_logits / temperature + bias)
    graph_difference = float(np.abs(signals["probabilities"] - rebuilt).max()) if len(rebuilt) else 0.0
    if graph_difference > 1e-4:
        log(f"WARNING: the exported graph's probabilities differ from the calibrated logits' by "
            f"{graph_difference:.2g}")
    if config.clinical:
        clinical_info.update(compare_clinical(
            val, y_val, signals["logits"], test_logits - signals["logits"], y[test_idx],
            [records[i].group for i in test_idx], prior, class_ids, malignant, config.target_sensitivity,
            calibration, config.bootstrap))
    report = score_split(
        run, [records[i] for i in test_idx], y[test_idx], signals["probabilities"], config=config,
        calibration=calibration, stage1_probs=softmax(stage1_test_logits)[kept], bootstrap=config.bootstrap,
        extra={"skipped": len(problems), "imbalance": {"chosen": imbalance, "validation_balanced_accuracy":
                                                       imbalance_scores},
               "stage2": stage2_info, "stage1_validation": stage1_validation, "timings_s": timings,
               "scheme": config.scheme, "clinical": clinical_info,
               "graph_vs_report_max_abs_difference": graph_difference},
    )
    test = report["test"]
    log(f"test: balanced accuracy {test['balanced_accuracy']:.3f}, macro AUC {test['macro_auc']:.3f}, "
        f"ECE {test['ece']:.3f} (n={test['n']})")

    model.save_weights(str(run / "model.weights.h5"))  # any view count: see rebuild()
    model.export(str(run / "saved_model"), verbose=False)
    shutil.rmtree(run / "backup", ignore_errors=True)
    log(f"exported {run / 'saved_model'}")
    return report


def compare_clinical(val, y_val, test_image_logits, test_offsets, y_test, groups, prior, class_ids, malignant,
                     target_sensitivity, calibration, bootstrap: int = 1000) -> dict:
    """The clinical model with metadata and with every field missing, against the image-only model
    (the same image weights calibrated, decided and thresholded on validation without metadata).

    Returns:
        {"validation": {variant: metrics}, "test": {variant: metrics with 95% intervals over lesions}}
    """
    temperature, bias = calibration["temperature"], np.asarray(calibration["class_bias"])
    weights, threshold = calibration["decision"]["class_log_weights"], calibration["threshold"]
    t_img, b_img = fit_calibration(val["image_logits"], y_val)
    val_img = softmax(val["image_logits"] / t_img + b_img)
    d_img = choose_decision(val_img, y_val, prior)["class_log_weights"]
    th_img = choose_threshold(malignant_risk(val_img, malignant), malignant[y_val], target_sensitivity)
    variants = {  # name: (validation logits, test logits, temperature, bias, decision weights, threshold)
        "image_only": (val["image_logits"], test_image_logits, t_img, b_img, d_img, th_img),
        "with_metadata": (val["logits"], test_image_logits + test_offsets, temperature, bias, weights, threshold),
        "metadata_missing": (val["image_logits"], test_image_logits, temperature, bias, weights,
                             calibration["clinical"]["threshold_without_clinical"]),
    }

    def summary(y, p, w, th, groups=None):
        m = classification_metrics(y, p, class_ids, w)
        s = screening_metrics(y, p, malignant, th)
        out = {"balanced_accuracy": m["balanced_accuracy"], "macro_auc": m["macro_auc"], "ece": m["ece"],
               "malignant_auc": s["auc"], "sensitivity": s["sensitivity"], "specificity": s["specificity"]}
        if groups is not None:
            out["intervals_95"] = bootstrap_intervals(y, p, groups, class_ids, malignant, th, n=bootstrap,
                                                      class_log_weights=w)
        return out

    result = {"validation": {}, "test": {}}
    for name, (zv, zt, t, b, w, th) in variants.items():
        result["validation"][name] = summary(y_val, softmax(zv / t + b), w, th)
        result["test"][name] = summary(y_test, softmax(zt / t + b), w, th, groups)
    return result


def rebuild(run: Path, views: int):
    """The run's final model with another number of views inside the graph (e.g. to time each).

    From ``model.weights.h5`` when the run wrote it; otherwise (runs before it did) from the
    backbone weights plus ``stage2_best.weights.h5``, without the feature-distance statistics; the
    calibration of ``calibration.json`` either way.
    """
    from .model import build_model, load_weights, set_calibration

    run = Path(run)
    config = Config.load(run / "config.json")
    model, _ = build_model(config, len(labels.class_ids(config)), views=views)
    if (run / "model.weights.h5").exists():
        load_weights(model, run / "model.weights.h5")
    else:
        freeze_for_stage2(model, config.cut).load_weights(str(run / "stage2_best.weights.h5"))
    # The temperature is a layer's setting, not a weight: the weights file does not carry it.
    calibration = json.loads((run / "calibration.json").read_text())
    set_calibration(model, calibration["temperature"], calibration["class_bias"])
    return model


def cross_validate(config: Config, out: Path) -> dict:
    """Grouped, stratified k-fold cross-validation: one full run per fold, then mean ± sd.

    Writes ``<out>/cv_report.json`` and ``cv_report.md``; each fold's run is ``<out>/fold_<k>``.
    """
    out = Path(out)
    reports = [train(config, out / f"fold_{k + 1}", fold=k) for k in range(config.folds)]
    if None in reports:  # a worker other than the chief: its part is done
        return None
    keys = ("balanced_accuracy", "macro_auc", "macro_f1", "ece")
    rows = {k: [r["test"][k] for r in reports] for k in keys}
    rows["malignant_sensitivity"] = [r["test"]["malignant"]["sensitivity"] for r in reports]
    rows["malignant_specificity"] = [r["test"]["malignant"]["specificity"] for r in reports]
    summary = {"folds": config.folds, "per_fold": rows,
               "mean": {k: float(np.mean(v)) for k, v in rows.items()},
               "sd": {k: float(np.std(v, ddof=1)) if len(v) > 1 else 0.0 for k, v in rows.items()}}
    (out / "cv_report.json").write_text(json.dumps(summary, indent=2) + "\n")
    lines = [f"# {config.folds}-fold cross-validation (grouped by lesion, stratified by class)", "",
             "| metric | mean ± sd | per fold |", "|---|---|---|"]
    lines += [f"| {k} | {summary['mean'][k]:.3f} ± {summary['sd'][k]:.3f} | "
              + ", ".join(f"{v:.3f}" for v in rows[k]) + " |" for k in rows]
    (out / "cv_report.md").write_text("\n".join(lines) + "\n")
    log("cross-validation: " + ", ".join(f"{k} {summary['mean'][k]:.3f} ± {summary['sd'][k]:.3f}" for k in rows))
    return summary
