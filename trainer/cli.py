"""Command line: ``python -m trainer {train,evaluate,predict} …``.

    python -m trainer train --data ../shared/data/ham10000 --weights imagenet --out runs/first
    python -m trainer evaluate runs/first --data other/dataset
    python -m trainer predict web/model lesion.jpg
"""

from __future__ import annotations

import argparse
import sys

from .config import Config


def _names(text: str) -> tuple[str, ...]:
    return tuple(name.strip() for name in text.split(",") if name.strip())


def _parser() -> argparse.ArgumentParser:
    defaults = Config()
    parser = argparse.ArgumentParser(prog="python -m trainer", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)

    t = sub.add_parser("train", help="train a model into a run folder",
                       formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    data = t.add_argument_group("data")
    data.add_argument("--data", nargs="+", required=True,
                      help="dataset folder(s); several folders are one dataset, split together by lesion")
    data.add_argument("--format", default=defaults.dataset, choices=["auto", "ham10000", "isic", "derm12345", "folders"],
                      help="ham10000: metadata CSV + images; isic: ISIC CSVs (one-hot or diagnosis column; "
                           "SIIM-ISIC 2020's train.csv, grouped by patient_id); derm12345: metadata CSV with "
                           "isic_id + label; folders: one subfolder per class, each holding that class's images. "
                           "Folders named after the classes of --scheme (benign/, malignant/, other/) or after "
                           "HAM10000 diagnoses (akiec/ bcc/ bkl/ df/ mel/ nv/ vasc/) are that scheme's classes; "
                           "any other names are the classes themselves (then --malignant says which are "
                           "malignant); auto: detect")
    data.add_argument("--scheme", default=defaults.scheme, choices=["dx7", "benign-malignant", "benign-malignant-other"],
                      help="label scheme (unused when class folders carry their own names)")
    data.add_argument("--malignant", type=_names, default=defaults.malignant, metavar="CLASS,…",
                      help="with class folders of your own names: the comma-separated folders that are malignant "
                           "(their summed probability is the screening risk; at least one is needed)")
    data.add_argument("--dataset-name", default=defaults.dataset_name,
                      help="the data's name for the model card and page; None: the reader's (HAM10000, "
                           "SIIM-ISIC 2020, …; unknown for --format folders)")
    data.add_argument("--dataset-citation", default=defaults.dataset_citation, help="how to cite the data")
    data.add_argument("--dataset-licence", default=defaults.dataset_licence, help="the data's licence, e.g. CC BY 4.0")
    data.add_argument("--seed", type=int, default=defaults.seed, help="seed for the split and training")
    data.add_argument("--val-fraction", type=float, default=defaults.val_fraction, help="share of lesions for validation (in steps of 5%%)")
    data.add_argument("--test-fraction", type=float, default=defaults.test_fraction, help="share of lesions for test (in steps of 5%%)")
    data.add_argument("--folds", type=int, default=defaults.folds,
                      help="K >= 3: grouped K-fold cross-validation (one run per fold, then mean ± sd)")
    model = t.add_argument_group("model")
    model.add_argument("--image-size", type=int, default=defaults.image_size, help="input height and width")
    model.add_argument("--alpha", type=float, default=defaults.alpha, help="MobileNetV2 width multiplier")
    model.add_argument("--weights", default=defaults.weights,
                       help='"imagenet" (Keras downloads them), a no-top .h5 file, or "none"')
    model.add_argument("--dropout", type=float, default=defaults.dropout, help="dropout before the classifier")
    fit = t.add_argument_group("training")
    fit.add_argument("--batch-size", type=int, default=defaults.batch_size,
                     help="batch size (global: with --distribute, the replicas share each batch)")
    fit.add_argument("--head-epochs", type=int, default=defaults.head_epochs, help="max epochs of the head (early stopping)")
    fit.add_argument("--head-learning-rate", type=float, default=defaults.head_learning_rate, help="Adam learning rate")
    fit.add_argument("--imbalance", default=defaults.imbalance, choices=["auto", "class_weight", "balanced"],
                     help="class-imbalance remedy; auto tries both in stage 1 and keeps the better on validation")
    fit.add_argument("--fine-tune-epochs", type=int, default=defaults.fine_tune_epochs,
                     help="stage 2 epochs (0: head only)")
    fit.add_argument("--cut", default=defaults.cut,
                     help="stage 2 trains every backbone layer above this one, from its cached outputs "
                          "(a block's output: block_N_add, or block_N_project_BN where a block has no add)")
    fit.add_argument("--views", type=int, default=defaults.views,
                     help="augmented views of each training image cached at --cut (stage 2 draws one per epoch)")
    fit.add_argument("--fine-tune-learning-rate", type=float, default=defaults.fine_tune_learning_rate,
                     help="stage 2 peak Adam learning rate (linear warm-up, then cosine decay to 0)")
    fit.add_argument("--warmup-epochs", type=int, default=defaults.warmup_epochs, help="stage 2 warm-up epochs")
    fit.add_argument("--tta-views", type=int, default=defaults.tta_views, choices=[1, 2, 4, 8],
                     help="dihedral views (flips, transposes) the exported model averages")
    fit.add_argument("--colour-constancy", action="store_true",
                     help="Shades of Gray (p=6) colour constancy as the model's first layer")
    fit.add_argument("--clinical", action="store_true",
                     help="a second input for age, sex and body site where the dataset has them "
                          "(HAM10000, ISIC metadata, SIIM-ISIC 2020); each stays optional for the user")
    fit.add_argument("--target-sensitivity", type=float, default=defaults.target_sensitivity,
                     help="malignant sensitivity the screening threshold is chosen for, on validation")
    fit.add_argument("--outliers", default=defaults.outliers,
                     help="a folder of pictures that are not dermoscopic close-ups (any layout; e.g. the fit/ part "
                          "of scripts/make_outliers.py's set): the out-of-scope detector learns them besides its "
                          "built-in synthetic pictures")
    fit.add_argument("--distribute", default=defaults.distribute, choices=["none", "mirrored", "multi-worker"],
                     help="stage 2 on several devices: mirrored (this machine's GPUs) or multi-worker (several "
                          "machines, each running this command with its TF_CONFIG); see the README")
    t.add_argument("--out", required=True, help="run folder to create (or resume)")

    e = sub.add_parser("evaluate", help="score a run on its test split or on another dataset",
                       formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    e.add_argument("run", help="run folder")
    e.add_argument("--data", nargs="+", help="another dataset to score (all its images); default: the test split")
    e.add_argument("--format", default="auto", choices=["auto", "ham10000", "isic", "derm12345", "folders"],
                   help="format of --data")
    e.add_argument("--masks", help="folder of <image_id>_segmentation.png lesion masks: measure where the maps fall")
    e.add_argument("--bootstrap", type=int, default=1000, help="bootstrap resamples for the intervals")

    p = sub.add_parser("predict", help="print Python's reference probabilities for images")
    p.add_argument("run", help="web model folder (model.json + metadata.json) or run folder")
    p.add_argument("images", nargs="+", help="image files")
    p.add_argument("--csv", help="also write the results to this CSV file")
    p.add_argument("--age", help="the person's age in years, for a model with clinical metadata (optional)")
    p.add_argument("--sex", help="male or female (optional)")
    p.add_argument("--site", help="body site, e.g. back, face, 'lower extremity' (optional)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "train":
        from .train import train

        if args.folds in (1, 2):
            raise SystemExit("--folds needs K >= 3 (one fold tests, the next validates, the rest train)")
        config = Config(
            data=tuple(args.data), dataset=args.format, scheme=args.scheme, malignant=args.malignant,
            dataset_name=args.dataset_name, dataset_citation=args.dataset_citation,
            dataset_licence=args.dataset_licence,
            image_size=args.image_size, alpha=args.alpha,
            weights=args.weights, dropout=args.dropout, batch_size=args.batch_size,
            head_epochs=args.head_epochs, head_learning_rate=args.head_learning_rate, seed=args.seed,
            val_fraction=args.val_fraction, test_fraction=args.test_fraction, imbalance=args.imbalance,
            fine_tune_epochs=args.fine_tune_epochs, cut=args.cut, views=args.views,
            fine_tune_learning_rate=args.fine_tune_learning_rate, warmup_epochs=args.warmup_epochs,
            tta_views=args.tta_views, colour_constancy=args.colour_constancy, clinical=args.clinical,
            target_sensitivity=args.target_sensitivity, outliers=args.outliers,
            folds=args.folds, distribute=args.distribute,
        )
        if config.folds > 1:
            from .train import cross_validate

            cross_validate(config, args.out)
        else:
            train(config, args.out)
        return 0
    if args.command == "evaluate":
        from .assess import evaluate

        report = evaluate(args.run, args.data, args.format, args.masks, args.bootstrap)
        t = report["test"]
        print(f"balanced accuracy {t['balanced_accuracy']:.3f} {t['intervals_95']['balanced_accuracy']}, "
              f"macro AUC {t['macro_auc']:.3f}, malignant sensitivity {t['malignant']['sensitivity']:.3f} / "
              f"specificity {t['malignant']['specificity']:.3f}, ECE {t['ece']:.3f} (n={t['n']})")
        if "cam_on_lesion" in report:
            print("activation maps:", report["cam_on_lesion"])
        return 0
    from .predict import main as predict_main

    answers = {"age": args.age, "sex": args.sex, "site": args.site}
    return predict_main(args.run, args.images, args.csv, {k: v for k, v in answers.items() if v is not None})


if __name__ == "__main__":
    sys.exit(main())
