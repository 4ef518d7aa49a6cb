"""How to add age, sex and body site to a trained image model: fusion designs compared on validation.

    .venv/bin/python benchmarks/clinical_fusion.py runs/deep --data ../shared/data/ham10000 ../shared/data/ham10000-224 [--json]

``runs/deep`` is an image-only run with its stage-2 view cache (views/train.f16). The image model is
frozen; every design below trains on the training split and is scored on the validation split (never
the test split), each with its own temperature, class bias, decision rule and 95%-sensitivity
threshold fitted on validation, as the trainer does:

- image only: the run's head.
- late (shipped, ``trainer.model.ClinicalOffset``): a classifier of the metadata alone, trained on
  the training split's metadata with fields dropped at random; its log-odds relative to "nothing
  known" are added to the image's logits, times a scale (0.5, 0.75, 1).
- joint linear: the image head retrained together with a metadata MLP whose output is added to the
  logits, on pooled features of augmented training views (the issue's concatenation baseline, kept
  linear in the image features so the activation map stays exact).
- concat MLP: [pooled features, metadata MLP] -> Dense 256 -> logits (Gessert et al., ISIC 2019).
- frozen image + MLP: the metadata MLP trained on the training images' own (frozen) image logits.

The last three learn from training images the image model has already fitted (its training views
are classified far better than validation ones), so they learn little from the metadata: that is
what this measures. Pooled features are cached in ``<run>/clinical_fusion/`` (about 12 minutes the
first time on 2 cores: 2 views of each training image from the view cache, 8 of each validation one).
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

TRAIN_VIEWS = 2


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run", type=Path, help="an image-only run folder with views/train.f16")
    parser.add_argument("--data", nargs="+", required=True, help="the run's dataset folders (for the metadata)")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    args = parser.parse_args(argv)

    import keras
    import numpy as np

    from trainer import clinical, labels
    from trainer.config import Config
    from trainer.data import read_split
    from trainer.readers import read_dataset
    from trainer.metrics import (choose_decision, choose_threshold, classification_metrics, fit_calibration,
                                  malignant_risk, screening_metrics, softmax)
    from trainer.model import split_backbone
    from trainer.train import P_ALL, P_FIELD, class_weights, fit_clinical, clinical_offsets, pooled_views, rebuild

    run = args.run
    config = Config.load(run / "config.json")
    split_records, splits = read_split(run / "split.csv")
    records, _ = read_dataset(config.dataset, args.data)
    by_key = {(r.source, r.image_id): r for r in records}
    records = [by_key[(r.source, r.image_id)] for r in split_records]  # the run's order, with metadata
    splits = np.array(splits)
    class_ids = labels.class_ids(config)
    dx_index = labels.diagnosis_to_index(config)
    malignant = np.array([c["malignant"] for c in labels.classes_metadata(config)])
    y = np.array([dx_index[r.dx] for r in records])
    vectors = clinical.BASE.encode_records(records)
    train, val = splits == "train", splits == "val"
    prior = np.bincount(y[train], minlength=len(class_ids)) / train.sum()

    model = rebuild(run, 1)
    kernel, bias = model.get_layer("logits").get_weights()
    cache = run / "clinical_fusion"
    cache.mkdir(exist_ok=True)
    t0 = time.time()
    if not (cache / "val_pooled.npy").exists():
        features = keras.Model(model.input, model.get_layer("pool").output)
        pooled, _ = pooled_views(features, np.array([r.path for r in records])[val], config.image_size,
                                 config.batch_size)
        np.save(cache / "val_pooled.npy", pooled[:, :config.tta_views].mean(axis=1))
    if not (cache / "train_pooled.npy").exists():
        _, upper = split_backbone(model, config.cut)
        inp = keras.Input(upper.input.shape[1:])
        above = keras.Model(inp, model.get_layer("pool")(upper(inp)))
        progress = json.loads((run / "views" / "train.progress.json").read_text())
        views = np.memmap(run / "views" / "train.f16", np.float16, "r", shape=tuple(progress["key"]["shape"]))
        out = np.zeros((len(views), TRAIN_VIEWS, kernel.shape[0]), np.float16)
        for lo in range(0, len(views), 256):
            x = np.asarray(views[lo:lo + 256, :TRAIN_VIEWS], np.float32).reshape(-1, *views.shape[2:])
            out[lo:lo + 256] = above.predict(x, batch_size=64, verbose=0).reshape(-1, TRAIN_VIEWS, kernel.shape[0])
        np.save(cache / "train_pooled.npy", out)
    features_s = time.time() - t0
    val_pooled = np.load(cache / "val_pooled.npy").astype(np.float32)
    train_pooled = np.load(cache / "train_pooled.npy").astype(np.float32)
    y_val, v_val = y[val], vectors[val]
    missing = np.tile(clinical.BASE.missing, (len(y_val), 1))

    def score(logits):
        t, b = fit_calibration(logits, y_val)
        p = softmax(logits / t + b)
        weights = choose_decision(p, y_val, prior)["class_log_weights"]
        m = classification_metrics(y_val, p, class_ids, weights)
        threshold = choose_threshold(malignant_risk(p, malignant), malignant[y_val], config.target_sensitivity)
        s = screening_metrics(y_val, p, malignant, threshold)
        return {"balanced_accuracy": m["balanced_accuracy"], "macro_auc": m["macro_auc"], "malignant_auc": s["auc"],
                "specificity": s["specificity"], "sensitivity": s["sensitivity"]}

    image_logits = val_pooled @ kernel + bias
    rows = {"image only": {"with metadata": score(image_logits)}}

    # Late fusion: the shipped design, through the trainer's own code.
    clinical_model, _ = __import__("trainer.model", fromlist=["build_model"]).build_model(
        Config(**{**json.loads(config.to_json()), "clinical": True, "weights": "none",
                  "data": tuple(config.data), "alpha_background": tuple(config.alpha_background)}),
        len(class_ids))
    fit_clinical(clinical_model, vectors[train], y[train], config.seed)
    offsets = clinical_offsets(clinical_model, v_val)
    for scale in (0.5, 0.75, 1.0):
        rows[f"late, scale {scale}"] = {"with metadata": score(image_logits + scale * offsets),
                                        "metadata missing": score(image_logits)}

    # Designs trained on training images' pooled features.
    layers = keras.layers
    n_train = train.sum()
    x_pooled = train_pooled.reshape(-1, train_pooled.shape[-1])
    y_views = np.repeat(y[train], TRAIN_VIEWS)
    rng = np.random.default_rng(config.seed)
    v_views = clinical.BASE.drop_fields(np.repeat(vectors[train], TRAIN_VIEWS, axis=0), rng, P_ALL, P_FIELD)
    weights = class_weights(y[train], len(class_ids))
    sample_weight = np.array([weights[c] for c in y_views], np.float32)
    train_image_logits = x_pooled @ kernel + bias
    train_accuracy = float(np.mean(train_image_logits.argmax(axis=1) == y_views))

    def fit(net, inputs):
        net.compile(optimizer=keras.optimizers.Adam(1e-3),
                    loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        net.fit(inputs, y_views, sample_weight=sample_weight, batch_size=256, epochs=6, verbose=0, shuffle=True)

    for name in ("joint linear", "concat MLP", "frozen image + MLP"):
        keras.utils.set_random_seed(config.seed)
        pooled_in, meta_in = keras.Input((x_pooled.shape[1],)), keras.Input((clinical.BASE.size,))
        meta = layers.Dense(32, activation="relu")(meta_in)
        if name == "frozen image + MLP":
            logits_in = keras.Input((len(class_ids),))
            net = keras.Model([logits_in, meta_in], layers.Add()([logits_in, layers.Dense(len(class_ids))(meta)]))
            fit(net, [train_image_logits, v_views])
            val_inputs = image_logits
        else:
            if name == "joint linear":
                head = layers.Dense(len(class_ids))
                out = layers.Add()([head(layers.Dropout(config.dropout)(pooled_in)), layers.Dense(len(class_ids))(meta)])
                head.set_weights([kernel, bias])
            else:
                x = layers.Concatenate()([layers.Dropout(config.dropout)(pooled_in), meta])
                out = layers.Dense(len(class_ids))(layers.Dropout(0.3)(layers.Dense(256, activation="relu")(x)))
            net = keras.Model([pooled_in, meta_in], out)
            fit(net, [x_pooled, v_views])
            val_inputs = val_pooled
        rows[name] = {"with metadata": score(net.predict([val_inputs, v_val], verbose=0)),
                      "metadata missing": score(net.predict([val_inputs, missing], verbose=0))}

    result = {"validation_images": int(val.sum()), "training_images": int(n_train), "train_views": TRAIN_VIEWS,
              "image_model_accuracy_on_training_views": train_accuracy,
              "coverage_validation": clinical.BASE.coverage([r for r, s in zip(records, splits) if s == "val"]),
              "features_s": features_s, "designs": rows}
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print(f"validation: {result['validation_images']} images; image model's accuracy on its own training views "
          f"{train_accuracy:.3f}")
    print(f"{'design':22s} {'metadata':9s} {'bal acc':>8s} {'macro AUC':>10s} {'mal AUC':>8s} {'spec@95':>8s}")
    for name, variants in rows.items():
        for variant, m in variants.items():
            print(f"{name:22s} {variant.split()[-1]:9s} {m['balanced_accuracy']:8.3f} {m['macro_auc']:10.3f} "
                  f"{m['malignant_auc']:8.3f} {m['specificity']:8.3f}")


if __name__ == "__main__":
    main()
