"""Command line: ``python -m trainer {train,evaluate,predict} …``.

    python -m trainer train --data ../shared/data/ham10000 --weights imagenet --out runs/first
    python -m trainer evaluate runs/first --data other/dataset
    python -m trainer predict web/model lesion.jpg

A mistake (a folder that is no dataset, a run folder made otherwise, a damaged model …) is said in one
line, ``error: …``, with exit code 2; ``--debug`` shows the traceback and TensorFlow's logging
(``trainer/errors.py``).
"""

from __future__ import annotations

import argparse
import dataclasses
import sys

from .clinical import QUESTION_NAMES, QUESTIONS, YES_NO
from .config import Config
from .errors import one_line


def _metadata(name: str) -> dict:
    return next(f.metadata for f in dataclasses.fields(Config) if f.name == name)


def add_config_flags(parser: argparse.ArgumentParser) -> None:
    """One flag per ``Config`` field made with ``config.flag``, in its group, typed by its default."""
    groups = {}
    for f in dataclasses.fields(Config):
        if "help" not in f.metadata:
            continue
        options = {k: v for k, v in f.metadata.items() if k not in ("group", "flag")}
        if isinstance(f.default, bool):
            options["action"] = "store_true"
        elif "type" in options:  # a field that names its own parser (e.g. config.names)
            pass
        elif isinstance(f.default, tuple):
            options["nargs"] = "+"
        else:
            options["type"] = type(f.default)
        if not options.get("required") and not isinstance(f.default, bool):
            options["default"] = f.default
        group = f.metadata["group"]
        if group not in groups:
            groups[group] = parser.add_argument_group(group)
        groups[group].add_argument(f.metadata.get("flag", "--" + f.name.replace("_", "-")), dest=f.name, **options)


def config_from(args: argparse.Namespace) -> Config:
    """The ``Config`` of parsed ``train`` flags (a list of several values becomes a tuple, as in config.json)."""
    values = {f.name: getattr(args, f.name) for f in dataclasses.fields(Config) if "help" in f.metadata}
    return Config(**{k: tuple(v) if isinstance(v, list) else v for k, v in values.items()})


class OneLineParser(argparse.ArgumentParser):
    """An argparse parser whose usage errors are one line too, as every other mistake (exit code 2)."""

    def error(self, message):
        self.exit(2, f"error: {message} (see {self.prog} --help)\n")


def add_debug_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--debug", action="store_true",
                        help="on an error, show the traceback; and TensorFlow's start-up logging")


def _parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog="python -m trainer", description=__doc__,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)

    t = sub.add_parser("train", help="train a model into a run folder",
                       formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    add_config_flags(t)
    t.add_argument("--out", required=True, help="run folder to create (or resume)")
    add_debug_flag(t)

    e = sub.add_parser("evaluate", help="score a run on its test split or on another dataset",
                       formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    e.add_argument("run", help="run folder")
    e.add_argument("--data", nargs="+", help="another dataset to score (all its images); default: the test split")
    e.add_argument("--format", default="auto", choices=_metadata("dataset")["choices"], help="format of --data")
    e.add_argument("--masks", help="folder of <image_id>_segmentation.png lesion masks: measure where the maps fall")
    e.add_argument("--bootstrap", type=int, default=Config().bootstrap, help="bootstrap resamples for the intervals")
    e.add_argument("--out", help="folder to write the report into; default: the run folder")
    add_debug_flag(e)

    p = sub.add_parser("predict", help="print Python's reference probabilities for images")
    p.add_argument("run", help="web model folder (model.json + metadata.json) or run folder")
    p.add_argument("images", nargs="+", help="image files")
    p.add_argument("--csv", help="also write the results to this CSV file")
    p.add_argument("--age", help="the person's age in years, for a model with clinical metadata (optional)")
    p.add_argument("--sex", help="male or female (optional)")
    p.add_argument("--site", help="body site, e.g. back, face, 'lower extremity' (optional)")
    for question in QUESTIONS:
        p.add_argument(f"--{question['name']}", choices=YES_NO,
                       help=f"{question['label']} (optional; for a model trained with --questions)")
    add_debug_flag(p)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Runs a command; a user's mistake is one line on stderr and exit code 2 (``trainer/errors.py``)."""
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command == "train" and args.distil_epochs and (args.tta_views != 1 or not args.fine_tune_epochs):
        parser.error("--distil-epochs trains a one-view student after stage 2: it needs --tta-views 1 and "
                     "--fine-tune-epochs")
    if args.command == "train" and args.questions and not args.clinical:
        parser.error("--questions adds to the clinical input: it needs --clinical")
    if args.command == "train" and args.folds in (1, 2):
        parser.error("--folds needs K >= 3 (one fold tests, the next validates, the rest train)")
    return one_line(lambda: _run(args), args.debug)


def _run(args: argparse.Namespace) -> int:
    if args.command == "train":
        from .train import train

        config = config_from(args)
        if config.folds > 1:
            from .crossval import cross_validate

            cross_validate(config, args.out)
        else:
            train(config, args.out)
        return 0
    if args.command == "evaluate":
        from .evaluate import evaluate

        report = evaluate(args.run, args.data, args.format, args.masks, args.bootstrap, args.out)
        t = report["test"]
        print(f"balanced accuracy {t['balanced_accuracy']:.3f} {t['intervals_95']['balanced_accuracy']}, "
              f"macro AUC {t['macro_auc']:.3f}, malignant sensitivity {t['malignant']['sensitivity']:.3f} / "
              f"specificity {t['malignant']['specificity']:.3f}, ECE {t['ece']:.3f} (n={t['n']})")
        if "cam_on_lesion" in report:
            print("activation maps:", report["cam_on_lesion"])
        return 0
    from .predict import main as predict_main

    answers = {"age": args.age, "sex": args.sex, "site": args.site, **{q: getattr(args, q) for q in QUESTION_NAMES}}
    return predict_main(args.run, args.images, args.csv, {k: v for k, v in answers.items() if v is not None})


if __name__ == "__main__":
    sys.exit(main())
