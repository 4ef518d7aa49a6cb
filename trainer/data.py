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


def augmenter(seed: int):
    """The training augmentation, applied to batches of 0..255 images.

    Lesions have no "up": both flips and any rotation are label-preserving. Zoom and crop stand
    in for different dermatoscope distances; the colour jitter for different cameras and lights.
    """
    import keras

    return keras.Sequential([
        keras.layers.RandomFlip("horizontal_and_vertical", seed=seed),
        keras.layers.RandomRotation(0.5, fill_mode="reflect", seed=seed + 1),
        keras.layers.RandomZoom((-0.25, 0.1), fill_mode="reflect", seed=seed + 2),
        keras.layers.RandomColorJitter(value_range=(0, 255), brightness_factor=0.1, contrast_factor=0.15,
                                       saturation_factor=(0.4, 0.6), hue_factor=0.03, seed=seed + 3),
    ], name="augment")


def image_dataset(paths: list[str], y: np.ndarray, size: int, batch_size: int, *, training: bool,
                  seed: int = 0, balanced: bool = False, with_index: bool = False):
    """A ``tf.data`` pipeline: parallel decode with ``load_rgb``, the shared resize, cache, batches.

    A file that cannot be read is dropped, never fatal (with ``with_index`` the caller sees which).

    Args:
        paths, y: image files and their class indices.
        training: shuffle and augment; images are cached as uint8 (1/4 of the memory) since the
            augmentation perturbs them far more than the rounding does. Evaluation keeps float32,
            exactly the input the exported model gets.
        balanced: draw every class equally often (an epoch still has ``len(paths)`` images).
        with_index: (evaluation) also yield each image's position in ``paths``.

    Returns:
        a ``tf.data.Dataset`` of (images (b, size, size, 3) float32 0..255, labels (b,)[, indices (b,)]).
    """
    import tensorflow as tf

    autotune = tf.data.AUTOTUNE

    def load(path):
        try:
            return load_rgb(path.decode()), True
        except ImageError:
            return np.zeros((1, 1, 3), np.uint8), False

    def decode(path, label, index):
        image, ok = tf.numpy_function(load, [path], [tf.uint8, tf.bool], stateful=False)
        image.set_shape([None, None, 3])
        ok.set_shape([])
        image = resize(image, size, size)
        return (tf.cast(tf.round(image), tf.uint8) if training else image), label, index, ok

    def pipeline(indices):
        ds = tf.data.Dataset.from_tensor_slices((np.asarray(paths)[indices], np.asarray(y, np.int32)[indices],
                                                 np.asarray(indices, np.int64)))
        ds = ds.map(decode, num_parallel_calls=autotune).filter(lambda image, label, index, ok: ok)
        return ds.map(lambda image, label, index, ok: (image, label, index)).cache()

    everything = np.arange(len(paths))
    if not training:
        ds = pipeline(everything)
        if not with_index:
            ds = ds.map(lambda image, label, index: (image, label))
        return ds.batch(batch_size).prefetch(autotune)
    y = np.asarray(y)
    if balanced:
        per_class = [pipeline(everything[y == c]).shuffle(4096, seed=seed + int(c)).repeat() for c in np.unique(y)]
        ds = tf.data.Dataset.sample_from_datasets(per_class, seed=seed).take(len(paths))
    else:
        ds = pipeline(everything).shuffle(min(len(paths), 8192), seed=seed, reshuffle_each_iteration=True)
    augment = augmenter(seed)
    return (ds.map(lambda image, label, index: (image, label))
              .batch(batch_size)
              .map(lambda images, labels: (augment(tf.cast(images, tf.float32), training=True), labels),
                   num_parallel_calls=autotune)
              .prefetch(autotune))
def read_folders(roots: list[str | Path]) -> tuple[list[Record], list[tuple[str, str]]]:
    """Reads ``root/<class>/<image>``: the folder name is the diagnosis (e.g. ``mel/``, ``nv/``).

    Without lesion ids, each image is its own group: if a folder holds several images of one
    lesion, name them ``<lesion>__<n>.jpg`` and they are grouped by the part before ``__``.
    """
    records, problems = [], []
    for root in map(Path, roots):
        classes = sorted(p for p in root.iterdir() if p.is_dir()) if root.is_dir() else []
        if not classes:
            raise DatasetError(f"{root}: expected one subfolder per class (e.g. {root}/mel/, {root}/nv/)")
        for folder in classes:
            for path in sorted(folder.iterdir()):
                if path.suffix.lower() not in IMAGE_SUFFIXES:
                    problems.append((str(path), "not an image file name (.jpg, .png, .webp, .bmp, .gif)"))
                    continue
                group = path.stem.split("__")[0]
                records.append(Record(str(path), path.stem, f"{folder.name}/{group}", folder.name, root.name))
    return records, problems


READERS = {"ham10000": read_ham10000, "folders": read_folders}


def read_dataset(kind: str, roots: list[str | Path]):
    """Reads a dataset with the named reader ("ham10000", "folders")."""
    try:
        reader = READERS[kind]
    except KeyError:
        raise DatasetError(f"unknown dataset format {kind!r}; choose one of {sorted(READERS)}") from None
    return reader(roots)
