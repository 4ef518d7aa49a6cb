"""Training, the pipeline: data, stage 1, stage 2, views and calibration, the clinical stage, the test pass, export.

    python -m trainer train --data ../shared/data/ham10000 ../shared/data/ham10000-224 \\
        --weights ../shared/weights/mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_224_no_top.h5 \\
        --head-epochs 60 --fine-tune-epochs 10 --out runs/deep

``train`` calls the stages in order, each in its own module:

- ``trainer/prepare.py``: the data read, the classes settled, config.json and provenance.json; and,
  once stage 1's feature pass has found the unreadable files (skipped.csv), the lesion-grouped split
  of the readable ones (split.csv);
- ``trainer/stage1.py``: the frozen backbone's features cached in features/, the head trained on them
  with the better imbalance remedy (stage1.weights.h5, history_stage1_*.csv);
- ``trainer/stage2.py``: every layer above ``--cut`` fine-tuned from augmented views cached in views/
  (history_stage2.csv, stage2_best.weights.h5, backup/ while it runs, stage2_done.json);
- ``trainer/distil.py``, with ``--distil-epochs``: a one-view student trained towards stage 2's model
  in 8 views, compared with it on validation (distil.json, history_distil.csv);
- ``trainer/calibrate.py``: the model as exported, with ``--tta-views`` views; on validation only, 1, 2,
  4 and 8 views measured, temperature and class bias fitted, the decision rule (logit adjustment), the
  malignant-risk and scope thresholds chosen (calibration.json);
- ``trainer/clinical_stage.py``, with ``--clinical``: the age, sex and site branch and its scale;
- the test pass here: the test split read once, through the model as exported, the same path as
  ``trainer evaluate`` (``trainer/evaluate.py``: predictions_test.csv, report.json, report.md, plots/);
- ``trainer/export.py``: model.weights.h5 and saved_model/.

Rerunning the same command after a kill resumes: the feature and view caches by chunk, stage 2 by
epoch. Cross-validation (``--folds``) runs this pipeline once per fold: ``trainer/crossval.py``.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from . import clinical, distribute, labels, scope
from .calibrate import calibrate, final_model, validation_views
from .clinical_stage import clinical_offsets, clinical_stage, compare_clinical, model_inputs
from .config import Config
from .data import SPLITS
from .distil import distil
from .export import export
from .kinds import measure as measure_by_kind
from .kinds import predicted_kinds
from .metrics import softmax
from .prepare import prepare, split_readable
from .runfiles import log
from .stage1 import extract_features, stage1
from .stage2 import stage2

# What scripts, benchmarks and tests import from here (each lives in its stage's module).
from .calibrate import copy_weights, pooled_views, training_features  # noqa: F401
from .clinical_stage import P_ALL, P_FIELD, choose_clinical_scale, fit_clinical  # noqa: F401
from .export import rebuild  # noqa: F401
from .prepare import check_classes, dataset_provenance, resolve_classes  # noqa: F401
from .stage1 import class_weights, train_head  # noqa: F401
from .stage2 import freeze_for_stage2  # noqa: F401


def train(config: Config, run: Path, callbacks=(), fold: int | None = None) -> dict | None:
    """Runs the whole pipeline into ``run`` and returns the report (None on a worker other than the
    chief, which stops after stage 2: see ``trainer/distribute.py``).

    Rerunning with the same ``run`` reuses its split and feature cache, and resumes stage 2.

    Args:
        callbacks: extra Keras callbacks for stage 2 (e.g. to stop it from outside).
        fold: with ``config.folds``, train on that fold of a cross-validation; ``run`` is then
            ``<out>/fold_<k>`` and the feature cache is shared in ``<out>/features``.
    """
    from .model import build_model

    strategy = distribute.start(config.distribute)  # first: before TensorFlow runs anything
    run = distribute.worker_folder(strategy, Path(run))
    config, records, problems = prepare(config, run)
    class_ids = labels.class_ids(config)
    malignant = np.array([c["malignant"] for c in labels.classes_metadata(config)])

    timings, t0 = {}, time.time()
    model, features_model = build_model(config, len(class_ids))
    cache = (run.parent if fold is not None else run) / "features"
    feats, ok, errors = extract_features(features_model, records, cache, config.image_size, config.batch_size)
    timings["features_s"] = time.time() - t0
    problems += sorted(errors.items())
    records, splits = split_readable(config, run, records, ok, problems, fold)
    feats = feats[ok]
    y = np.array([labels.diagnosis_to_index(config)[r.dx] for r in records])
    part = {s: np.array(splits) == s for s in SPLITS}
    paths = np.array([r.path for r in records])
    kinds = np.array([r.kind for r in records])

    t0 = time.time()
    first = stage1(config, model, feats, y, part, class_ids, run)
    timings["stage1_head_s"] = time.time() - t0
    stage2_info = None
    if config.fine_tune_epochs > 0:
        t0 = time.time()
        stage2_info = stage2(config, model, paths, y, part, kinds, first["imbalance"], run, callbacks, strategy)
        timings["stage2_s"] = time.time() - t0
    if strategy is not None:
        from .model import above_cut_model

        log(f"stage 2 weights digest {distribute.digest(above_cut_model(model, config.cut).get_weights())} "
            "(the same on every worker)")
    if not distribute.is_chief(strategy):
        log(f"this worker's part is done ({run}); the chief evaluates and exports")
        return None
    prior = np.bincount(y[part["train"]], minlength=len(class_ids)) / part["train"].sum()
    distil_info = None
    if config.distil_epochs > 0:
        t0 = time.time()
        groups = np.array([record.group for record in records])
        distil_info = distil(config, model, features_model, paths, y, part, kinds, groups, first["imbalance"], run,
                             prior, class_ids, malignant)
        timings["distil_s"] = time.time() - t0

    t0 = time.time()
    final, _, has_kinds = final_model(config, model, class_ids, paths[part["train"]], kinds[part["train"]])
    val_idx = np.nonzero(part["val"])[0]
    val, logits_by_views = validation_views(config, model, features_model, final, paths[val_idx], has_kinds)
    timings["views_s"] = time.time() - t0
    # With --clinical, everything after the clinical stage (calibration, decision, threshold) sees the
    # logits with metadata, as a person who fills in the fields gets them.
    vectors = clinical.layout(config.questions).encode_records(records) if config.clinical else None
    clinical_info = clinical_stage(final, vectors, y, part, val, records, config.seed) if config.clinical else None
    calibration = calibrate(config, final, val, logits_by_views, y[val_idx], prior, class_ids, malignant,
                            kinds[val_idx], has_kinds, run, None if vectors is None else vectors[val_idx],
                            clinical_info)

    report = test_pass(config, final, run, records, y, part, kinds, vectors, calibration, has_kinds, val, prior,
                       clinical_info, extra={
                           "skipped": len(problems),
                           "imbalance": {"chosen": first["imbalance"],
                                         "validation_balanced_accuracy": first["imbalance_scores"]},
                           "stage2": stage2_info, "distil": distil_info, "stage1_validation": first["validation"], "timings_s": timings,
                           "scheme": config.scheme, "clinical": clinical_info},
                       stage1_test_logits=first["test_logits"])
    export(final, run, saved_model=fold is None)
    return report


def test_pass(config: Config, model, run: Path, records, y, part, kinds, vectors, calibration: dict,
              has_kinds: bool, val: dict, prior, clinical_info: dict | None, extra: dict, stage1_test_logits) -> dict:
    """The test split, read once, through the model as exported: the same path as ``trainer evaluate``.

    Writes predictions_test.csv, report.json, report.md and plots/ into ``run``.

    Args:
        part: {split: mask} over ``records``; val, prior: the validation outputs and the training split's
            class frequencies (with ``--clinical``, for the comparison added to ``clinical_info``).

    Returns:
        the report (``extra`` and the figures by kind of picture and of the clinical stage in it).
    """
    from .evaluate import run_model, score_split

    class_ids = labels.class_ids(config)
    malignant = np.array([c["malignant"] for c in labels.classes_metadata(config)])
    test_idx = np.nonzero(part["test"])[0]
    signals = run_model(keras_forward(model), [records[i] for i in test_idx], config,
                        None if vectors is None else vectors[test_idx])
    kept, test_idx = signals["kept"], test_idx[signals["kept"]]
    test_logits = signals["logits"]
    if config.clinical:
        test_logits = test_logits + clinical_info["scale"] * clinical_offsets(model, vectors[test_idx])
    # The graph's own probabilities must be the calibrated logits': a check on the offset and calibration
    # in the export.
    temperature, bias = calibration["temperature"], np.asarray(calibration["class_bias"])
    rebuilt = softmax(test_logits / temperature + bias)
    graph_difference = float(np.abs(signals["probabilities"] - rebuilt).max()) if len(rebuilt) else 0.0
    if graph_difference > 1e-4:
        log(f"WARNING: the exported graph's probabilities differ from the calibrated logits' by "
            f"{graph_difference:.2g}")
    decision = calibration["decision"]
    by_kind = None
    if has_kinds:
        test_kinds = predicted_kinds(signals["picture_kind"])
        answered = ~scope.flagged(signals, calibration["scope"])
        by_kind = measure_by_kind(y[test_idx], signals["probabilities"], malignant, test_kinds,
                                  kinds[test_idx], [records[i].group for i in test_idx], calibration["by_kind"],
                                  class_ids, decision["class_log_weights"], answered, config.bootstrap)
        for kind, m in by_kind.items():
            log(f"test, {kind}: n={m['n']}, answered {m['answered']:.3f}, sensitivity {m['sensitivity']:.3f}, "
                f"specificity {m['specificity']:.3f}, malignant AUC {m['malignant_auc']:.3f}, "
                f"balanced accuracy {m['balanced_accuracy']:.3f}")
    if config.clinical:
        without_questions = None
        if config.questions:  # the same people with their age, sex and site only
            person = clinical.WITH_QUESTIONS.only(vectors, clinical.PERSON_FIELDS)
            without_questions = tuple(clinical_info["scale"] * clinical_offsets(model, person[i])
                                      for i in (np.nonzero(part["val"])[0], test_idx))
        clinical_info.update(compare_clinical(
            val, y[part["val"]], signals["logits"], test_logits - signals["logits"], y[test_idx],
            [records[i].group for i in test_idx], prior, class_ids, malignant, config.target_sensitivity,
            calibration, config.bootstrap, kinds=(kinds[part["val"]], kinds[test_idx]),
            without_questions=without_questions))
    report = score_split(
        run, [records[i] for i in test_idx], y[test_idx], signals["probabilities"], config=config,
        calibration=calibration, stage1_probs=softmax(stage1_test_logits)[kept], bootstrap=config.bootstrap,
        extra={**extra, "graph_vs_report_max_abs_difference": graph_difference, "by_kind": by_kind},
    )
    test = report["test"]
    log(f"test: balanced accuracy {test['balanced_accuracy']:.3f}, macro AUC {test['macro_auc']:.3f}, "
        f"ECE {test['ece']:.3f} (n={test['n']})")
    return report


def keras_forward(model):
    """``model`` as ``evaluate.run_model`` calls a model: (images, clinical vectors) -> its outputs
    (probabilities, logits: the image's own, before any clinical offset, cam, feature distance and
    out-of-scope probability)."""
    def forward(images, vectors):
        result = model(model_inputs(model, images, vectors), training=False)
        return {key: np.asarray(value) for key, value in result.items()}

    return forward
