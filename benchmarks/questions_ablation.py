"""Do a person's answers help on phone photos? Image only, answers only and both, measured on validation.

    .venv/bin/python benchmarks/questions_ablation.py --data ../shared/data/ham10000 ../shared/data/ham10000-224 \
        ../shared/data/pad-ufes-20 --weights ../shared/weights/mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_224_no_top.h5 \
        --out runs/questions [--folds 5] [--json]

The split is the one ``trainer train`` makes of the same ``--data`` (its seed and fractions): the test split is
never read, not even its images. The phone photos of the training and validation patients are dealt into
``--folds`` folds by patient; each fold in turn is held out as validation, as the trainer's validation split
would be, and everything is fitted on the rest:

- the image: pooled ImageNet MobileNetV2 features (frozen, as stage 1) and the trainer's head
  (``stage1.train_head``), on the 224x224 HAM10000 copies' training lesions and the other folds' photos, the
  photos drawn as ``PHOTO_SHARE`` of the draws (``--photo-share``);
- the answers: the trainer's clinical branch (``ClinicalOffset`` fitted by ``clinical_stage.fit_clinical``, a
  classifier of the answers alone with fields dropped at random) on the same images' answers, in the base
  layout (age, sex, site) and with the six questions (``--questions``; HAM10000 never asked them);
- both: the image's logits plus the branch's offset, its scale chosen on the held-out fold and HAM10000's
  validation lesions by likelihood, as ``clinical_stage.clinical_stage`` does.

Every variant is calibrated (temperature and class bias) on the held-out set; the held-out photos' answers are
pooled over the folds and scored once, with 95% intervals from 1,000 resamples of patients. Dermoscopy
(HAM10000's validation lesions, the same in every fold, never asked the questions) is the mean over the folds.
A proxy, not the full recipe: stage 2 fine-tunes the backbone, which moves the image's side (not the answers').
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
HAM_SOURCE = "ham10000-224"  # the image head trains on the sharper copies' lesions (one image each)
TARGET_SENSITIVITY = 0.95


def quietly(fn, *args, **kwargs):
    """``fn(*args, **kwargs)`` with its standard output (the trainer's progress lines) dropped."""
    with open(os.devnull, "w") as quiet:
        stdout, sys.stdout = sys.stdout, quiet
        try:
            return fn(*args, **kwargs)
        finally:
            sys.stdout = stdout


def scores(y, p, malignant, class_ids) -> dict:
    """Malignant AUC, specificity at 95% sensitivity, balanced accuracy (argmax) and ECE of probabilities ``p``."""
    import numpy as np

    from trainer.metrics import choose_threshold, classification_metrics, malignant_risk, screening_metrics

    positive = malignant[y]
    risk = malignant_risk(p, malignant)
    at = screening_metrics(y, p, malignant, choose_threshold(risk, positive, TARGET_SENSITIVITY))
    m = classification_metrics(y, p, class_ids)
    return {"malignant_auc": at["auc"], "specificity_at_95": at["specificity"], "sensitivity": at["sensitivity"],
            "balanced_accuracy": m["balanced_accuracy"], "ece": m["ece"], "n": int(len(y)),
            "n_malignant": int(np.sum(positive))}


def intervals(y, probs: dict, groups, malignant, pairs, n: int = 1000) -> dict:
    """95% intervals over patients: each variant's malignant AUC, and the paired difference of each pair."""
    import numpy as np

    from trainer.metrics import auc, group_resamples, malignant_risk

    positive = malignant[y]
    risk = {name: malignant_risk(p, malignant) for name, p in probs.items()}
    samples = {name: [] for name in probs} | {f"{a} - {b}": [] for a, b in pairs}
    for idx in group_resamples(groups, n):
        got = {name: auc(positive[idx], r[idx]) for name, r in risk.items()}
        for name, value in got.items():
            samples[name].append(value)
        for a, b in pairs:
            samples[f"{a} - {b}"].append(got[a] - got[b])
    return {name: [float(np.nanpercentile(v, 2.5)), float(np.nanpercentile(v, 97.5))] for name, v in samples.items()}


def expert(num_classes: int, layout, vectors, y, seed: int):
    """The trainer's clinical branch alone, fitted on ``vectors`` (a model whose only layer is ClinicalOffset)."""
    import keras

    from trainer.clinical_stage import fit_clinical
    from trainer.model import ClinicalOffset

    v = keras.Input((layout.size,), name="clinical")
    model = keras.Model(v, ClinicalOffset(num_classes, name="clinical_offset")(v))
    fit_clinical(model, vectors, y, seed)
    return model


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", nargs="+", required=True, help="the dataset folders a run would train on "
                        "(HAM10000's and its 224x224 copies, PAD-UFES-20)")
    parser.add_argument("--weights", required=True, help="ImageNet MobileNetV2 weights (no top), .h5")
    parser.add_argument("--out", type=Path, required=True, help="folder for the feature cache and results.json")
    parser.add_argument("--folds", type=int, default=5, help="folds of the validation photos' patients")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    args = parser.parse_args(argv)

    import numpy as np

    from trainer import clinical, labels
    from trainer.clinical_stage import choose_clinical_scale, clinical_offsets
    from trainer.config import Config
    from trainer.data import _stratified_group_folds, split_by_group
    from trainer.metrics import fit_calibration, softmax
    from trainer.model import build_model
    from trainer.prepare import resolve_classes
    from trainer.readers import read_dataset
    from trainer.stage1 import extract_features, train_head

    start = time.time()
    config = Config(data=tuple(args.data), weights=args.weights, clinical=True, questions=True, imbalance="balanced")
    records, _ = read_dataset(config.dataset, list(config.data))
    config = resolve_classes(config, records)
    index = labels.diagnosis_to_index(config)
    records = [r for r in records if r.dx in index]
    splits = split_by_group(records, val_fraction=config.val_fraction, test_fraction=config.test_fraction,
                            seed=config.seed)
    class_ids = labels.class_ids(config)
    malignant = np.array([c["malignant"] for c in labels.classes_metadata(config)])
    ham = {s: [r for r, t in zip(records, splits) if t == s and Path(r.source).name == HAM_SOURCE]
           for s in ("train", "val")}
    photos = [r for r, t in zip(records, splits) if t in ("train", "val") and r.kind == "photo"]
    fold = _stratified_group_folds(photos, args.folds, config.seed)

    _, features_model = build_model(config, len(class_ids))
    args.out.mkdir(parents=True, exist_ok=True)
    feats = {}
    for name, part in (("ham_train", ham["train"]), ("ham_val", ham["val"]), ("photos", photos)):
        (args.out / "features" / name).mkdir(parents=True, exist_ok=True)
        f, ok, _ = quietly(extract_features, features_model, part, args.out / "features" / name, config.image_size, 32)
        assert ok.all(), f"{name}: unreadable images"
        feats[name] = f
    y = {"ham_train": np.array([index[r.dx] for r in ham["train"]]),
         "ham_val": np.array([index[r.dx] for r in ham["val"]]), "photos": np.array([index[r.dx] for r in photos])}
    base, full = clinical.BASE, clinical.WITH_QUESTIONS
    vectors = {"ham_train": (base.encode_records(ham["train"]), full.encode_records(ham["train"])),
               "ham_val": (base.encode_records(ham["val"]), full.encode_records(ham["val"])),
               "photos": (base.encode_records(photos), full.encode_records(photos))}
    log = print if not args.json else (lambda *a, **k: None)
    log(f"{len(ham['train'])} + {len(ham['val'])} HAM10000 lesions (train, val), {len(photos)} photos of "
        f"{len({r.group for r in photos})} patients in {args.folds} folds; features in {time.time() - start:.0f} s")

    variants = ["image", "age, sex, site", "questions", "all answers", "image + age, sex, site",
                "image + questions", "image + all answers"]
    oof = {v: np.zeros((len(photos), len(class_ids))) for v in variants}
    dermoscopy = {v: [] for v in variants}
    scales = {v: [] for v in variants if v.startswith("image +")}
    for k in range(args.folds):
        t0 = time.time()
        train_photos, held = fold != k, fold == k
        # The photos drawn as PHOTO_SHARE of the head's training draws (as --photo-share does in stage 2).
        n_photos = int(train_photos.sum())
        need = int(PHOTO_SHARE / (1 - PHOTO_SHARE) * len(y["ham_train"]))
        extra = np.random.default_rng(config.seed + k).choice(np.nonzero(train_photos)[0], max(need - n_photos, 0))
        x_train = np.concatenate([feats["ham_train"], feats["photos"][train_photos], feats["photos"][extra]])
        y_train = np.concatenate([y["ham_train"], y["photos"][train_photos], y["photos"][extra]])
        x_held = np.concatenate([feats["photos"][held], feats["ham_val"]])
        y_held = np.concatenate([y["photos"][held], y["ham_val"]])
        n_held = int(held.sum())
        head = quietly(train_head, Config(**{**config.__dict__, "seed": config.seed + k}), config.imbalance, x_train,
                       y_train, x_held, y_held, len(class_ids), args.out / f"head_{k}.csv")
        image_logits = head.predict(x_held, verbose=0)
        logits = {"image": image_logits}
        # The answers of the same training images (HAM10000's never asked the questions), photos as drawn.
        draws = np.concatenate([np.arange(len(y["ham_train"])), len(y["ham_train"]) + np.nonzero(train_photos)[0]])
        y_answers = np.concatenate([y["ham_train"], y["photos"][train_photos]])
        for layout, which, alone, fused in ((base, 0, "age, sex, site", "image + age, sex, site"),
                                            (full, 1, "all answers", "image + all answers")):
            v_train = np.concatenate([vectors["ham_train"][which], vectors["photos"][which][train_photos]])
            assert len(v_train) == len(draws)
            branch = quietly(expert, len(class_ids), layout, v_train, y_answers, config.seed + k)
            v_held = np.concatenate([vectors["photos"][which][held], vectors["ham_val"][which]])
            forms = {alone: v_held}
            if layout is full:
                forms["questions"] = layout.only(v_held, clinical.QUESTION_NAMES)
            for name, v in forms.items():
                layer = branch.get_layer("clinical_offset")
                logits[name] = np.asarray(layer.mlp(v.astype(np.float32)))
                offsets = clinical_offsets(branch, v)
                fused_name = fused if name == alone else "image + questions"
                scale, _ = choose_clinical_scale(image_logits, offsets, y_held)
                scales[fused_name].append(scale)
                logits[fused_name] = image_logits + scale * offsets
        for name, z in logits.items():
            temperature, bias = fit_calibration(z, y_held)
            p = softmax(z / temperature + bias)
            oof[name][np.nonzero(held)[0]] = p[:n_held]
            dermoscopy[name].append(scores(y["ham_val"], p[n_held:], malignant, class_ids))
        log(f"fold {k}: {n_held} photos held out, {time.time() - t0:.0f} s")

    groups = np.array([r.group for r in photos])
    photo_scores = {v: scores(y["photos"], oof[v], malignant, class_ids) for v in variants}
    pairs = [("image + all answers", "image + age, sex, site"), ("image + all answers", "image"),
             ("image + questions", "image"), ("all answers", "image")]
    ci = intervals(y["photos"], oof, groups, malignant, pairs)
    result = {"photos": {v: {**photo_scores[v], "malignant_auc_95": ci[v]} for v in variants},
              "differences_95": {f"{a} - {b}": {"malignant_auc": photo_scores[a]["malignant_auc"]
                                                - photo_scores[b]["malignant_auc"], "interval": ci[f"{a} - {b}"]}
                                 for a, b in pairs},
              "dermoscopy_validation": {v: {key: float(np.mean([s[key] for s in dermoscopy[v]]))
                                            for key in ("malignant_auc", "specificity_at_95", "balanced_accuracy")}
                                        for v in variants},
              "scales": scales,
              "answered": {q: float(np.mean([dict(r.answers).get(q) is not None for r in photos]))
                           for q in clinical.QUESTION_NAMES},
              "photos_n": len(photos), "patients": len(set(groups)), "folds": args.folds,
              "minutes": (time.time() - start) / 60}
    (args.out / "results.json").write_text(json.dumps(result, indent=1) + "\n")
    if args.json:
        print(json.dumps(result, indent=1))
        return
    print(f"phone photos of the training and validation patients ({len(photos)} photos, "
          f"{photo_scores['image']['n_malignant']} cancers), each scored when its fold was held out:")
    print(f"{'variant':24} {'malignant AUC':>24} {'spec. at 95% sens.':>18} {'bal. acc.':>9} {'ECE':>6} "
          f"| dermoscopy: {'AUC':>5} {'bal. acc.':>9}")
    for v in variants:
        s, d, (lo, hi) = photo_scores[v], result["dermoscopy_validation"][v], ci[v]
        print(f"{v:24} {s['malignant_auc']:.3f} [{lo:.3f}, {hi:.3f}] {s['specificity_at_95']:18.3f} "
              f"{s['balanced_accuracy']:9.3f} {s['ece']:6.3f} | {d['malignant_auc']:16.3f} {d['balanced_accuracy']:9.3f}")
    for name, d in result["differences_95"].items():
        print(f"{name}: malignant AUC {d['malignant_auc']:+.3f} [{d['interval'][0]:+.3f}, {d['interval'][1]:+.3f}]")
    print(f"scales chosen: {scales}; {result['minutes']:.1f} min")


if __name__ == "__main__":
    main()
