"""Distillation: the 8-view answer from one view (``--distil-epochs N --tta-views 1``).

The exported model can average the 8 dihedral views of a photo inside the graph (``--tta-views 8``):
eight passes through MobileNetV2 for one answer, which is most of the page's time per photo. This stage
trains a student of the same size to give that answer from one view:

1. The teacher is stage 2's model. It classifies every training and validation image in its 8 views;
   the mean of the views' logits is what the 8-view graph computes (``teacher_logits``, cached in
   ``distil/`` chunk by chunk).
2. The student starts from the teacher's weights and trains the layers above ``--cut`` for
   ``--distil-epochs`` more epochs towards the teacher's probabilities for the image each view comes from
   (soft-target cross-entropy: the gradient of the KL divergence), with warm-up then cosine decay from
   half stage 2's peak rate. Its views, drawn as stage 2 draws them (the same imbalance remedy and photo
   share), are stage 2's cached augmented views and the 8 dihedral views of each training image, cached
   at the cut here (``dihedral_views``). The 8-view answer is the same for all 8 of an image's dihedral
   views, so on those the target is exact, and one of them is the view the page computes: the student
   learns the function the teacher computes, on the inputs it will meet ("function matching", Beyer et
   al., CVPR 2022), not only the teacher's answers on augmented copies. Resumable by epoch (stage 2's
   backups), logged in ``history_distil.csv``.
3. ``compare`` calibrates both on validation (temperature and class bias, each its own) and scores them
   the same way: balanced accuracy with each one's decision rule, malignant AUC, macro AUC and ECE, for
   all pictures and per kind of picture. ``distil.json`` holds both, the differences and whether the
   student is within ``TOLERANCE`` of the teacher; the log says so either way.

The pipeline then exports the student with one view. Whether to ship it or the teacher's run (the same
command without the distillation flags, ``--tta-views 8``) is a choice made on ``distil.json``'s
validation figures.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from .metrics import (auc, balanced_accuracy, choose_decision, choose_threshold, classification_metrics, decide,
                      fit_calibration, group_resamples, malignant_risk, screening_metrics, softmax)
from .errors import RunError
from .runfiles import log, save_weights, write_text

# How close the student must come to the teacher on validation, for all pictures and for each kind:
# balanced accuracy and malignant AUC at most this much lower, and ECE at most this high.
TOLERANCE = {"balanced_accuracy": 0.005, "malignant_auc": 0.003, "ece": 0.03}
CHUNK = 1024  # images per cached piece of the teacher's logits
TEACHER_VIEWS = 8


def teacher_logits(model, features_model, paths, folder: Path, name: str, image_size: int,
                   batch_size: int) -> np.ndarray:
    """The 8-view model's logits (before calibration) for every file in ``paths``: the mean of the
    head's logits over the 8 dihedral views, as the exported graph with 8 views computes them.

    Cached as ``folder/<name>.npy``; a killed run keeps the pieces it finished (``<name>.<start>.npy``).
    """
    from .calibrate import pooled_views

    whole = folder / f"{name}.npy"
    if whole.exists():
        return np.load(whole)
    folder.mkdir(parents=True, exist_ok=True)
    kernel, bias = model.get_layer("logits").get_weights()
    pieces = []
    for start in range(0, len(paths), CHUNK):
        piece = folder / f"{name}.{start}.npy"
        if not piece.exists():
            pooled, _ = pooled_views(features_model, paths[start:start + CHUNK], image_size, batch_size)
            part = folder / f"{name}.{start}.part.npy"
            np.save(part, pooled[:, :TEACHER_VIEWS].mean(axis=1) @ kernel + bias)
            os.replace(part, piece)
            log(f"teacher {name}: {min(start + CHUNK, len(paths))}/{len(paths)} images in {TEACHER_VIEWS} views")
        pieces.append(np.load(piece))
    logits = np.concatenate(pieces) if pieces else np.zeros((0, len(bias)), np.float32)
    part = folder / f"{name}.part.npy"
    np.save(part, logits)
    os.replace(part, whole)
    for start in range(0, len(paths), CHUNK):
        (folder / f"{name}.{start}.npy").unlink(missing_ok=True)
    return logits


def dihedral_views(below_cut, paths, folder: Path, shape: tuple[int, ...], key: dict, image_size: int,
                   batch_size: int) -> np.ndarray:
    """Every file's 8 dihedral views through the layers below the cut, (n, 8, *shape) float16, cached as
    ``folder/train_dihedral.f16`` (``ViewCache``: a killed run rebuilds at most the chunk it was writing).
    View k is what the exported graph's k-th view feeds the layers above the cut."""
    from .model import DIHEDRAL, dihedral
    from .views import ViewCache

    cache = ViewCache(folder, "train_dihedral", len(paths), TEACHER_VIEWS, shape, {**key, "views": "dihedral"})
    if not cache.complete:
        cache.build(below_cut, paths, image_size, transform=lambda images, k: dihedral(images, *DIHEDRAL[k]),
                    batch_size=batch_size, log=log)
    return cache.array()


def _calibrated(logits, y, prior, malignant, target_sensitivity):
    """Calibrated probabilities, the decision rule and the malignant-risk threshold, fitted on these
    validation logits as the pipeline fits them."""
    temperature, bias = fit_calibration(logits, y)
    probs = softmax(logits / temperature + bias)
    decision = choose_decision(probs, y, prior)
    threshold = choose_threshold(malignant_risk(probs, malignant), malignant.astype(bool)[y], target_sensitivity)
    return probs, temperature, decision, threshold


def scores(logits, y, prior, class_ids, malignant, kinds, target_sensitivity) -> dict:
    """One model's validation figures, calibrated on validation as the pipeline calibrates: for
    ``"all"`` pictures and each kind in ``kinds``."""
    probs, temperature, decision, threshold = _calibrated(logits, y, prior, malignant, target_sensitivity)
    out = {"temperature": float(temperature), "decision_tau": decision["tau"], "threshold": float(threshold)}
    for kind in ["all", *sorted(set(kinds.tolist()))]:
        sel = np.ones(len(y), bool) if kind == "all" else kinds == kind
        m = classification_metrics(y[sel], probs[sel], class_ids, decision["class_log_weights"])
        s = screening_metrics(y[sel], probs[sel], malignant, threshold)
        out[kind] = {"n": int(sel.sum()), "balanced_accuracy": m["balanced_accuracy"], "macro_auc": m["macro_auc"],
                     "ece": m["ece"], "malignant_auc": s["auc"], "sensitivity": s["sensitivity"],
                     "specificity": s["specificity"]}
    return out


def paired_intervals(y, teacher, student, malignant, kinds, groups, prior, target_sensitivity, n: int = 1000,
                     seed: int = 0) -> dict:
    """95% intervals of the student's balanced accuracy and malignant AUC minus the teacher's, for all
    pictures and each kind: lesions (or patients, ``groups``) drawn with replacement, both models scored on
    the same draws (each calibrated and given its decision rule on the whole validation split, as
    ``scores``), so that a shortfall can be told from the chance of a small validation set."""
    rules = []
    for logits in (teacher, student):
        probs, _, decision, _ = _calibrated(logits, y, prior, malignant, target_sensitivity)
        rules.append((decide(probs, decision["class_log_weights"]), malignant_risk(probs, malignant)))
    positive = malignant.astype(bool)[y]
    out = {}
    for kind in ["all", *sorted(set(kinds.tolist()))]:
        idx = np.arange(len(y)) if kind == "all" else np.nonzero(kinds == kind)[0]
        draws = {"balanced_accuracy": [], "malignant_auc": []}
        for sel in (idx[resample] for resample in group_resamples(groups[idx], n, seed)):
            (tp, tr), (sp, sr) = [(pred[sel], risk[sel]) for pred, risk in rules]
            draws["balanced_accuracy"].append(balanced_accuracy(y[sel], sp) - balanced_accuracy(y[sel], tp))
            draws["malignant_auc"].append(auc(positive[sel], sr) - auc(positive[sel], tr))
        out[kind] = {f: [float(q) for q in np.nanpercentile(v, [2.5, 97.5])] for f, v in draws.items()}
    return out


def compare(teacher, student, y, prior, class_ids, malignant, kinds, target_sensitivity, groups=None,
            bootstrap: int = 1000) -> dict:
    """The student's validation figures against the teacher's, scored alike (``scores``).

    Args:
        groups: each image's lesion or patient: with them, ``intervals_95`` (``paired_intervals``).

    Returns:
        {"teacher_8_views", "student_1_view", "difference" (student - teacher, per kind and figure),
        "within_tolerance", "tolerance"} and, with ``groups``, "intervals_95" of the differences.
    """
    kinds = np.asarray(kinds)
    t = scores(teacher, y, prior, class_ids, malignant, kinds, target_sensitivity)
    s = scores(student, y, prior, class_ids, malignant, kinds, target_sensitivity)
    groups_of_kinds = ["all", *sorted(set(kinds.tolist()))]
    figures = ("balanced_accuracy", "malignant_auc", "macro_auc", "ece", "sensitivity", "specificity")
    difference = {g: {f: s[g][f] - t[g][f] for f in figures} for g in groups_of_kinds}
    within = all(difference[g]["balanced_accuracy"] >= -TOLERANCE["balanced_accuracy"]
                 and difference[g]["malignant_auc"] >= -TOLERANCE["malignant_auc"] for g in groups_of_kinds)
    within = within and s["all"]["ece"] <= TOLERANCE["ece"]
    result = {"teacher_8_views": t, "student_1_view": s, "difference": difference, "within_tolerance": bool(within),
              "tolerance": TOLERANCE}
    if groups is not None:
        result["intervals_95"] = paired_intervals(y, teacher, student, malignant, kinds, np.asarray(groups), prior,
                                                  target_sensitivity, n=bootstrap)
    return result


def distil(config, model, features_model, paths, y, part, kinds, groups, imbalance: str, run: Path, prior, class_ids,
           malignant) -> dict:
    """Trains ``model`` (stage 2's, in place) into the one-view student of its 8-view self.

    Args:
        paths, y, kinds, groups: every readable record's file, class index, kind of picture and lesion (or
            patient); part: {split: mask}.
        imbalance: stage 1's remedy, for drawing the views as stage 2 draws them.
        prior: the training split's class frequencies (for the decision rule in ``compare``).

    Returns:
        what ``distil.json`` holds (also written into ``run``).
    """
    import keras

    from .stage1 import class_weights
    from .stage2 import (_backed_up_epochs, _trim_history, backup_and_restore, below_cut_model, freeze_for_stage2,
                         validation_callback, view_cache_key)
    from .views import StackedViews, ViewCache, view_batches

    done, student_path = run / "distil.json", run / "distil_student.weights.h5"
    trainer_model = freeze_for_stage2(model, config.cut)
    if done.exists():  # a rerun of a finished run: keep the student
        trainer_model.load_weights(str(student_path))
        return json.loads(done.read_text())

    train, val = part["train"], part["val"]
    # The teacher first: the student's training changes the layers the two share.
    targets = teacher_logits(model, features_model, paths[train], run / "distil", "train", config.image_size,
                             config.batch_size)
    teacher_val = teacher_logits(model, features_model, paths[val], run / "distil", "val", config.image_size,
                                 config.batch_size)

    below_cut = below_cut_model(model, config.cut)
    shape, key = tuple(below_cut.output.shape[1:]), view_cache_key(config)
    # Stage 2's caches, as stage 2 left them.
    train_cache = ViewCache.finished(run / "views", "train", int(train.sum()), config.views, shape, key)
    val_cache = ViewCache.finished(run / "views", "val", int(val.sum()), 1, shape, key)
    if train_cache is None or val_cache is None:
        raise RunError(f"{run / 'views'}: stage 2's view cache is missing, unfinished or made with other "
                       "settings; distillation trains on it")
    x_val = np.asarray(val_cache.array()[:, 0], np.float32)
    # What the student trains on: stage 2's augmented views, then the 8 dihedral views, of each image.
    views = StackedViews(train_cache.array(), dihedral_views(below_cut, paths[train], run / "distil", shape, key,
                                                             config.image_size, config.batch_size))

    soft = softmax(targets).astype(np.float32)
    history = run / "history_distil.csv"
    finished = _backed_up_epochs(run / "distil_backup")
    if history.exists():
        _trim_history(history, finished)
    num_classes = len(class_ids)
    batches = view_batches(views, y[train], config.batch_size, seed=config.seed + 1,
                           balanced=imbalance == "balanced", first_epoch=finished, kinds=kinds[train],
                           photo_share=config.photo_share, targets=soft,
                           class_weight=class_weights(y[train], num_classes) if imbalance == "class_weight" else None)
    steps = len(batches) * config.distil_epochs
    warmup = min(len(batches), steps - 1)
    schedule = keras.optimizers.schedules.CosineDecay(0.0, decay_steps=steps - warmup, warmup_steps=warmup,
                                                      warmup_target=config.fine_tune_learning_rate / 2)
    keras.utils.set_random_seed(config.seed + 1)
    trainer_model.compile(optimizer=keras.optimizers.Adam(schedule),
                          loss=keras.losses.CategoricalCrossentropy(from_logits=True))
    trainer_model.fit(batches, epochs=config.distil_epochs, verbose=2, shuffle=False, callbacks=[
        validation_callback(trainer_model, x_val, y[val]),
        keras.callbacks.CSVLogger(str(history), append=True),
        backup_and_restore(run / "distil_backup"),  # last: an epoch is done once its log line is written
    ])
    save_weights(trainer_model, student_path)
    _trim_history(history, None)

    student_val = trainer_model.predict(x_val, batch_size=64, verbose=0)
    np.save(run / "distil" / "student_val.npy", student_val)  # for comparisons after the run
    result = compare(teacher_val, student_val, y[val], prior, class_ids, malignant, kinds[val],
                     config.target_sensitivity, groups[val], config.bootstrap)
    result["epochs"] = config.distil_epochs
    write_text(done, json.dumps(result, indent=2) + "\n")
    t, s, d = result["teacher_8_views"], result["student_1_view"], result["difference"]
    for group in d:
        log(f"distillation, validation {group}: balanced accuracy {t[group]['balanced_accuracy']:.3f} (8 views) -> "
            f"{s[group]['balanced_accuracy']:.3f} (1 view), malignant AUC {t[group]['malignant_auc']:.3f} -> "
            f"{s[group]['malignant_auc']:.3f}, ECE {t[group]['ece']:.3f} -> {s[group]['ece']:.3f}")
    for group, interval in result["intervals_95"].items():
        log(f"distillation, validation {group}: student - teacher, 95% interval over lesions: balanced accuracy "
            f"[{interval['balanced_accuracy'][0]:+.3f}, {interval['balanced_accuracy'][1]:+.3f}], malignant AUC "
            f"[{interval['malignant_auc'][0]:+.3f}, {interval['malignant_auc'][1]:+.3f}]")
    log("the one-view student is " + ("within" if result["within_tolerance"] else "NOT within")
        + f" {TOLERANCE} of the 8-view teacher on validation")
    return result
