"""Dataset readers, lesion-grouped splits, and the image pipeline fed to the model.

A dataset is a list of ``Record``s: one image file, its diagnosis and its group (the lesion,
or the patient where that is all a dataset gives). Splits are made over groups, so no lesion
ever has images on two sides of a split.

    >>> records, problems = read_ham10000(["../shared/data/ham10000", "../shared/data/ham10000-224"])
    >>> split = split_by_group(records, seed=1337)
"""

from __future__ import annotations

import csv
import random
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .images import ImageError, load_rgb, resize

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".gif")
SPLITS = ("train", "val", "test")


@dataclass(frozen=True)
class Record:
    """One image of the dataset."""

    path: str
    image_id: str
    group: str
    dx: str
    source: str


class DatasetError(ValueError):
    """A dataset that cannot be read as asked, with what is missing."""


def _index_images(root: Path) -> dict[str, Path]:
    """image_id -> file, over ``root`` and its immediate subfolders (e.g. part_1/part_2)."""
    found = {}
    for folder in [root, *sorted(p for p in root.iterdir() if p.is_dir())]:
        for path in folder.iterdir():
            if path.suffix.lower() in IMAGE_SUFFIXES and path.stem not in found:
                found[path.stem] = path
    return found


def read_ham10000(roots: list[str | Path]) -> tuple[list[Record], list[tuple[str, str]]]:
    """Reads one or more folders in the official HAM10000 layout.

    Each root holds ``HAM10000_metadata.csv`` (columns lesion_id, image_id, dx) and the
    images as ``<image_id>.jpg`` in itself or its subfolders. Several roots are one dataset:
    the same lesion in two roots gets the same group.

    Returns:
        (records, problems): problems are (what, why) pairs for rows whose image is missing.

    Raises:
        DatasetError: a root without the metadata CSV, or a CSV without a needed column.
    """
    records, problems = [], []
    for root in map(Path, roots):
        csv_path = root / "HAM10000_metadata.csv"
        if not csv_path.is_file():
            raise DatasetError(f"{root}: no HAM10000_metadata.csv (is this a HAM10000 folder?)")
        images = _index_images(root)
        with csv_path.open(newline="") as f:
            reader = csv.DictReader(f)
            missing = {"lesion_id", "image_id", "dx"} - set(reader.fieldnames or ())
            if missing:
                raise DatasetError(f"{csv_path}: missing column(s) {sorted(missing)}")
            for row in reader:
                path = images.get(row["image_id"])
                if path is None:
                    problems.append((f"{root.name}/{row['image_id']}", "listed in the CSV but no image file found"))
                    continue
                records.append(Record(str(path), row["image_id"], row["lesion_id"], row["dx"], root.name))
    return records, problems


def split_by_group(records: list[Record], *, val_fraction: float = 0.15, test_fraction: float = 0.15,
                   seed: int = 1337) -> list[str]:
    """Assigns each record to train/val/test, grouped by lesion and stratified by diagnosis.

    Groups are dealt per diagnosis in a seeded shuffle, so each split keeps the class
    proportions (at the lesion level) and the same seed always gives the same split.

    Returns:
        the split name of each record, in the order of ``records``.
    """
    group_dx = {}
    for r in records:
        if group_dx.setdefault(r.group, r.dx) != r.dx:
            raise DatasetError(f"lesion {r.group} has two diagnoses ({group_dx[r.group]}, {r.dx})")
    by_dx = defaultdict(list)
    for group, dx in sorted(group_dx.items()):
        by_dx[dx].append(group)
    rng = random.Random(seed)
    assignment = {}
    for dx in sorted(by_dx):
        groups = by_dx[dx]
        rng.shuffle(groups)
        n_test = round(len(groups) * test_fraction)
        n_val = round(len(groups) * val_fraction)
        for i, group in enumerate(groups):
            assignment[group] = "test" if i < n_test else "val" if i < n_test + n_val else "train"
    return [assignment[r.group] for r in records]


def write_split(path: Path, records: list[Record], splits: list[str]) -> None:
    """Writes ``split.csv``: one row per image, so any evaluation can be reproduced."""
    with Path(path).open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["image_id", "group", "dx", "split", "source", "path"])
        for r, s in zip(records, splits):
            writer.writerow([r.image_id, r.group, r.dx, s, r.source, r.path])


def read_split(path: Path) -> tuple[list[Record], list[str]]:
    """Reads a ``split.csv`` back into records and their splits."""
    with Path(path).open(newline="") as f:
        rows = list(csv.DictReader(f))
    records = [Record(r["path"], r["image_id"], r["group"], r["dx"], r["source"]) for r in rows]
    return records, [r["split"] for r in rows]


def load_batch_arrays(paths: list[str], height: int, width: int, workers: int = 4):
    """Decodes and resizes images in parallel threads; a bad file is reported, not raised.

    Returns:
        (images, ok, errors): float32 array (n, height, width, 3) with zeros where a file
        failed, a boolean mask of the files that loaded, and {path: message} of failures.
    """
    out = np.zeros((len(paths), height, width, 3), np.float32)
    ok = np.zeros(len(paths), bool)
    errors = {}

    def one(i_path):
        i, path = i_path
        try:
            out[i] = resize(load_rgb(path), height, width).numpy()
            ok[i] = True
        except ImageError as err:
            errors[path] = str(err)

    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(one, enumerate(paths)))
    return out, ok, errors
