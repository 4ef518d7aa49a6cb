"""Before training: the run's classes, its folder's config.json and provenance.json, and its records.

``prepare`` reads the dataset (``trainer/readers.py``), settles the classes (a built-in scheme, or the
class folders' own names), refuses a run folder made with another configuration, and writes
``config.json`` and ``provenance.json`` into it. ``split_readable`` comes once stage 1's feature pass
has found which files read: it lists the others in ``skipped.csv`` and splits only the readable ones by
lesion (``split.csv``), so that a corrupt file takes no place in validation or test. Both are called
by ``trainer/train.py``.
"""

from __future__ import annotations

import csv
import dataclasses
import json
from pathlib import Path

import numpy as np

from . import labels
from .clinical import QUESTION_NAMES
from .config import Config
from .data import SPLITS, split_by_group, write_split
from .errors import RunError
from .readers import UNKNOWN, DatasetError, provenance, read_dataset, resolve_format
from .runfiles import log


def prepare(config: Config, run: Path):
    """Reads the data and makes ``run`` this configuration's folder.

    Returns:
        (config with its classes resolved, the records whose diagnosis has a class,
        [(path, why)] of the files left out so far).

    Raises:
        DatasetError: data that cannot be trained on as asked (in words).
        ValueError: ``run`` was made with another configuration.
    """
    records, problems = read_dataset(config.dataset, list(config.data))
    config = resolve_classes(config, records)
    run.mkdir(parents=True, exist_ok=True)
    if (run / "config.json").exists() and Config.load(run / "config.json") != config:
        raise RunError(f"{run} was made with another configuration: use a new --out folder "
                         f"(or the same flags to resume)")
    config.save(run / "config.json")
    (run / "provenance.json").write_text(json.dumps(dataset_provenance(config), indent=2) + "\n")
    dx_index = labels.diagnosis_to_index(config)
    problems += [(r.path, f"diagnosis {r.dx!r} has no class in the {config.scheme} scheme")
                 for r in records if r.dx not in dx_index]
    check_classes(records, config)
    if config.questions:
        check_questions(records)
    return config, [r for r in records if r.dx in dx_index], problems


def check_questions(records) -> None:
    """With --questions, every question must have been answered both yes and no somewhere in the data: a
    value the model never saw would move its answer by weights nothing trained.

    Raises:
        DatasetError: naming the questions and what the data holds.
    """
    counts = {q: {"yes": 0, "no": 0} for q in QUESTION_NAMES}
    for record in records:
        for name, answer in record.answers:
            counts[name][answer] += 1
    short = [f"{q} (yes {c['yes']}, no {c['no']})" for q, c in counts.items() if not (c["yes"] and c["no"])]
    if short:
        raise DatasetError(f"--questions: the data has no yes or no answer for {', '.join(short)}; train with a "
                           "dataset that asked them (PAD-UFES-20 does), or without --questions")


def split_readable(config: Config, run: Path, records, ok, problems, fold: int | None = None):
    """Writes ``skipped.csv`` (``problems``) and splits the readable ``records`` by lesion into ``split.csv``.

    Args:
        ok: whether each record's file reads (stage 1's feature pass found out).
        problems: [(path, why)] of every file left out, the unreadable ones included.
        fold: with ``config.folds``, the cross-validation fold to test on.

    Returns:
        (the readable records, the split name of each).

    Raises:
        DatasetError: a class folder, or all but one class, without a readable image.
    """
    with (run / "skipped.csv").open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["file", "reason"])
        writer.writerows(problems)
    if problems:
        log(f"skipped {len(problems)} unreadable or missing images (see skipped.csv)")
    readable = [r for r, good in zip(records, ok) if good]
    class_ids, dx_index = labels.class_ids(config), labels.diagnosis_to_index(config)
    counts = np.bincount([dx_index[r.dx] for r in readable], minlength=len(class_ids))
    empty = [c for c, n in zip(class_ids, counts) if n == 0]
    if config.classes and empty:  # each class is a folder: one without a readable image cannot be learnt
        raise DatasetError(f"class folder(s) {', '.join(empty)} hold no readable image (see {run / 'skipped.csv'})")
    if len(readable) < len(records):
        check_classes(readable, config)
    splits = split_by_group(readable, val_fraction=config.val_fraction, test_fraction=config.test_fraction,
                            seed=config.seed, fold=fold, folds=config.folds)
    write_split(run / "split.csv", readable, splits)
    log(f"{len(readable)} images, {len({r.group for r in readable})} lesions; "
        + ", ".join(f"{s} {splits.count(s)}" for s in SPLITS))
    return readable, splits


def resolve_classes(config: Config, records) -> Config:
    """The run's classes: the built-in scheme's, or, for class folders not named after its classes or
    HAM10000's diagnoses, the folder names themselves, with ``--malignant`` saying which are malignant.
    Class folders named exactly after another built-in scheme's classes (``benign/`` and ``malignant/``)
    select that scheme, as ``--scheme`` would.

    Raises:
        DatasetError: folder-named classes without a usable --malignant, or --malignant with a built-in scheme.
    """
    is_folders = resolve_format(config.dataset, list(config.data)) == "folders"  # a "mixed" set brings no names
    classes = labels.data_classes(config.scheme, {r.dx for r in records}) if is_folders else ()
    if not classes:
        if config.malignant:
            raise DatasetError(f"--malignant is for class folders of your own names; the {config.scheme} scheme "
                               "already says which of its classes are malignant")
        return config
    unknown = sorted(set(config.malignant) - set(classes))
    named = (f"the class folders are not the {config.scheme} scheme's classes, so they are the classes: "
             f"{', '.join(classes)}")
    exact = [name for name in labels.SCHEMES if set(labels.class_ids(name)) == set(classes)]
    if exact and not config.malignant:
        log(f"the class folders are the {exact[0]} scheme's classes: training that scheme")
        return dataclasses.replace(config, scheme=exact[0])
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
