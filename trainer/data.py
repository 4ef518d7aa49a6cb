"""Dataset readers, lesion-grouped splits, and the image pipeline fed to the model.

A dataset is a list of ``Record``s: one image file, its diagnosis and its group (the lesion,
or the patient where that is all a dataset gives). Splits are made over groups, so no lesion
ever has images on two sides of a split. Readers (``--format``): ``ham10000`` (the official
layout, part_1/part_2 folders included), ``isic`` (ISIC 2018/2019 ground-truth CSVs or archive
metadata), ``derm12345``, ``folders`` (one subfolder per class), or ``auto`` to detect. A listed
image that is missing is reported, never fatal.

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

from .clinical import lenient, normalise_age, normalise_sex, normalise_site
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
    age: float | None = None  # clinical metadata where the dataset has it (trainer/clinical.py)
    sex: str | None = None
    site: str | None = None


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
                records.append(Record(str(path), row["image_id"], row["lesion_id"], row["dx"], root.name,
                                      **clinical_fields(row)))
    return records, problems


# Where each dataset keeps age, sex and body site: HAM10000 (age, sex, localization), the ISIC
# archive (age_approx, sex, anatom_site_general), SIIM-ISIC 2020 (anatom_site_general_challenge).
_AGE_COLUMNS = ("age", "age_approx")
_SEX_COLUMNS = ("sex",)
_SITE_COLUMNS = ("localization", "anatom_site_general", "anatom_site_general_challenge", "anatom_site")


def clinical_fields(row: dict) -> dict:
    """A CSV row's age, sex and site, normalised (trainer/clinical.py); missing or unknown -> None."""
    def first(columns):
        return next((row[c] for c in columns if row.get(c) not in (None, "")), None)

    return {"age": lenient(normalise_age, first(_AGE_COLUMNS)), "sex": lenient(normalise_sex, first(_SEX_COLUMNS)),
            "site": lenient(normalise_site, first(_SITE_COLUMNS))}


# ISIC's names for the HAM10000 diagnoses (one-hot ground-truth columns of ISIC 2018/2019, and the
# archive's `diagnosis` strings). Others (SCC, UNK, ...) are kept as they are and reported if the
# label scheme has no class for them.
ISIC_DIAGNOSES = {
    "mel": "mel", "melanoma": "mel", "nv": "nv", "nevus": "nv", "bcc": "bcc", "basal cell carcinoma": "bcc",
    "akiec": "akiec", "ak": "akiec", "actinic keratosis": "akiec", "bkl": "bkl", "seborrheic keratosis": "bkl",
    "solar lentigo": "bkl", "lichenoid keratosis": "bkl", "pigmented benign keratosis": "bkl",
    "df": "df", "dermatofibroma": "df", "vasc": "vasc", "vascular lesion": "vasc",
    "scc": "scc", "squamous cell carcinoma": "scc",
}
# DERM12345's subclass codes (Yilmaz et al., Sci. Data 2024) mapped onto the HAM10000 diagnoses.
DERM12345_DIAGNOSES = {
    **{code: "mel" for code in ("anm", "alm", "lm", "lmm", "mel")},
    **{code: "nv" for code in ("acb", "ccb", "mcb", "cb", "bdb", "db", "ajb", "cjb", "jb", "acd", "ccd", "cd",
                               "ajd", "srjd", "jd", "rd")},
    "bcc": "bcc", "ak": "akiec", "bd": "akiec", "sk": "bkl", "sl": "bkl", "lk": "bkl", "df": "df",
    **{code: "vasc" for code in ("angk", "ha", "la", "pg", "sa")}, "scc": "scc",
}
_ID_COLUMNS = ("image", "isic_id", "image_id", "image_name")  # image_name: SIIM-ISIC 2020
# SIIM-ISIC 2020's benign_malignant and target columns.
_BENIGN_MALIGNANT = {"benign": "benign", "malignant": "malignant", "0": "benign", "1": "malignant"}
_DX_COLUMNS = ("dx", "diagnosis", "diagnosis_3", "diagnosis_2", "label")


def _read_csv(path: Path) -> tuple[list[str], list[dict]]:
    with path.open(newline="", encoding="utf-8-sig") as f:
        reader = csv.DictReader(f)
        return list(reader.fieldnames or ()), list(reader)


def _id_column(fields: list[str]) -> str | None:
    return next((c for c in _ID_COLUMNS if c in fields), None)


def read_isic(roots: list[str | Path]) -> tuple[list[Record], list[tuple[str, str]]]:
    """Reads ISIC-style folders: images plus CSVs keyed by ``image`` or ``isic_id``.

    The diagnosis comes from one-hot ground-truth columns (ISIC 2018: MEL, NV, BCC, AKIEC, BKL,
    DF, VASC; ISIC 2019 adds AK, SCC, UNK) or from a diagnosis column (dx, diagnosis, label); where that
    names no known diagnosis, SIIM-ISIC 2020's ``benign_malignant`` (or ``target`` 0/1) gives "benign" or
    "malignant", the classes of the benign-malignant scheme.
    Groups come from a ``lesion_id`` column (e.g. ISIC 2018's LesionGroupings CSV, ISIC 2019's
    metadata), else ``patient_id``, else each image is its own group.
    """
    records, problems = [], []
    onehot = {c.upper() for c in ISIC_DIAGNOSES} | {"AKIEC", "AK", "UNK"}
    for root in map(Path, roots):
        tables = [(p, *_read_csv(p)) for p in sorted(root.glob("*.csv"))]
        labels, groups, clinical = {}, {}, {}
        for path, fields, rows in tables:
            key = _id_column(fields)
            if key is None:
                continue
            hot = [c for c in fields if c.upper() in onehot]
            dx_col = next((c for c in _DX_COLUMNS if c in fields), None)
            group_col = "lesion_id" if "lesion_id" in fields else "patient_id" if "patient_id" in fields else None
            verdict_cols = [c for c in ("benign_malignant", "target") if c in fields]
            for row in rows:
                if len(hot) >= 2:
                    positive = [c for c in hot if float(row[c] or 0) >= 0.5]
                    if len(positive) == 1:
                        labels[row[key]] = positive[0].lower()
                elif dx_col and row[dx_col]:
                    labels[row[key]] = row[dx_col].strip().lower()
                # SIIM-ISIC 2020 gives most images only benign or malignant (diagnosis "unknown"): then that
                # is the label, a class of the benign-malignant scheme (other schemes report it as unknown).
                if ISIC_DIAGNOSES.get(labels.get(row[key])) is None:
                    verdict = next((v for v in (_BENIGN_MALIGNANT.get((row[c] or "").strip().lower())
                                                for c in verdict_cols) if v), None)
                    if verdict:
                        labels[row[key]] = verdict
                if group_col and row[group_col]:
                    groups[row[key]] = row[group_col]
                found = {k: v for k, v in clinical_fields(row).items() if v is not None}
                if found:
                    clinical.setdefault(row[key], {}).update(found)
        if not labels:
            raise DatasetError(f"{root}: no CSV with an image/isic_id column and a diagnosis "
                               "(one-hot MEL, NV, ... columns or dx/diagnosis/label)")
        images = _index_images(root)
        for image_id, label in sorted(labels.items()):
            path = images.get(image_id)
            if path is None:
                problems.append((f"{root.name}/{image_id}", "listed in the CSV but no image file found"))
                continue
            dx = ISIC_DIAGNOSES.get(label, label)
            records.append(Record(str(path), image_id, groups.get(image_id, image_id), dx, root.name,
                                  **clinical.get(image_id, {})))
    return records, problems


def read_derm12345(roots: list[str | Path]) -> tuple[list[Record], list[tuple[str, str]]]:
    """Reads DERM12345: a metadata CSV with ``isic_id`` and the subclass code in ``label``, images
    named ``<isic_id>.jpg``. Subclasses map onto the HAM10000 diagnoses (DERM12345_DIAGNOSES);
    one image per lesion, grouped by ``patient_id`` when the CSV has it.
    """
    records, problems = [], []
    for root in map(Path, roots):
        tables = [(p, *_read_csv(p)) for p in sorted(root.glob("*.csv"))]
        table = next(((p, f, r) for p, f, r in tables if "isic_id" in f and "label" in f), None)
        if table is None:
            raise DatasetError(f"{root}: no CSV with isic_id and label columns (DERM12345 metadata)")
        path, fields, rows = table
        images = _index_images(root)
        for row in rows:
            image = images.get(row["isic_id"])
            if image is None:
                problems.append((f"{root.name}/{row['isic_id']}", "listed in the CSV but no image file found"))
                continue
            code = row["label"].strip().lower()
            group = row.get("patient_id") or row["isic_id"]
            records.append(Record(str(image), row["isic_id"], group, DERM12345_DIAGNOSES.get(code, code), root.name,
                                  **clinical_fields(row)))
    return records, problems


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


READERS = {"ham10000": read_ham10000, "isic": read_isic, "derm12345": read_derm12345, "folders": read_folders}


def detect_format(root: str | Path) -> str:
    """Guesses a folder's layout from its files: the reader ``--format auto`` uses."""
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(f"{root}: no such folder")
    if (root / "HAM10000_metadata.csv").is_file():
        return "ham10000"
    fields = [set(_read_csv(p)[0]) for p in root.glob("*.csv")]
    if any({"isic_id", "label"} <= f for f in fields):
        return "derm12345"
    if any(_id_column(list(f)) for f in fields):
        return "isic"
    if any(p.is_dir() for p in root.iterdir()):
        return "folders"
    raise DatasetError(f"{root}: cannot tell the dataset format; pass --format")


def read_dataset(kind: str, roots: list[str | Path]):
    """Reads a dataset with the named reader (see READERS), or the detected one for "auto"."""
    if kind == "auto":
        kinds = {detect_format(root) for root in roots}
        if len(kinds) > 1:
            raise DatasetError(f"the folders have different formats ({sorted(kinds)}); pass --format")
        (kind,) = kinds
    try:
        reader = READERS[kind]
    except KeyError:
        raise DatasetError(f"unknown dataset format {kind!r}; choose one of {sorted(READERS)} or auto") from None
    return reader(roots)


def split_by_group(records: list[Record], *, val_fraction: float = 0.15, test_fraction: float = 0.15,
                   seed: int = 1337, fold: int | None = None, folds: int = 0) -> list[str]:
    """Assigns each record to train/val/test, grouped by lesion and stratified by diagnosis.

    Groups are dealt per diagnosis in a seeded shuffle, so each split keeps the class
    proportions (at the lesion level) and the same seed always gives the same split.
    With ``folds`` K and ``fold`` k, the groups are dealt into K folds instead: fold k is the
    test split, fold k+1 (mod K) validation, the rest training, so the K test splits partition
    the dataset.

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
            if folds:
                assignment[group] = ("test" if i % folds == fold else "val" if i % folds == (fold + 1) % folds
                                     else "train")
            else:
                assignment[group] = "test" if i < n_test else "val" if i < n_test + n_val else "train"
    return [assignment[r.group] for r in records]


def write_split(path: Path, records: list[Record], splits: list[str]) -> None:
    """Writes ``split.csv``: one row per image, so any evaluation can be reproduced."""
    with Path(path).open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["image_id", "group", "dx", "split", "source", "path", "age", "sex", "site"])
        for r, s in zip(records, splits):
            writer.writerow([r.image_id, r.group, r.dx, s, r.source, r.path,
                             "" if r.age is None else f"{r.age:g}", r.sex or "", r.site or ""])


def read_split(path: Path) -> tuple[list[Record], list[str]]:
    """Reads a ``split.csv`` back into records and their splits."""
    with Path(path).open(newline="") as f:
        rows = list(csv.DictReader(f))
    records = [Record(r["path"], r["image_id"], r["group"], r["dx"], r["source"],
                      lenient(normalise_age, r.get("age")), lenient(normalise_sex, r.get("sex")),
                      lenient(normalise_site, r.get("site"))) for r in rows]
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
    """The training augmentation: a function from a batch of 0..255 images to an augmented batch.

    Stronger than a photo app would need, as the ISIC 2018-2020 winners trained: lesions have no
    "up", so all 8 flips/transposes and any rotation keep the label; zoom stands in for dermatoscope
    distance; colour jitter for cameras and lights; blur, lost resolution and noise for phone
    optics and HAM10000's upscaled 200x150 copies; cutout (a square filled with the image's mean
    colour) for hair, rulers and bubbles hiding part of a lesion.
    """
    import keras
    import tensorflow as tf

    geometry = keras.Sequential([
        keras.layers.RandomFlip("horizontal_and_vertical", seed=seed),
        keras.layers.RandomRotation(0.5, fill_mode="reflect", seed=seed + 1),
        keras.layers.RandomZoom((-0.3, 0.2), fill_mode="reflect", seed=seed + 2),
    ], name="geometry")
    colour = keras.layers.RandomColorJitter(value_range=(0, 255), brightness_factor=0.15, contrast_factor=0.2,
                                            saturation_factor=(0.3, 0.7), hue_factor=0.04, seed=seed + 3)
    rng = tf.random.Generator.from_seed(seed + 4)

    def per_image(n, p):
        return tf.reshape(rng.uniform([n]) < p, [n, 1, 1, 1])

    def augment(images):
        images = tf.convert_to_tensor(images, tf.float32)
        n, size = tf.shape(images)[0], images.shape[1]
        images = tf.where(per_image(n, 0.5), tf.transpose(images, [0, 2, 1, 3]), images)
        images = colour(geometry(images, training=True), training=True)
        # Lost detail: down to 40-100% of the resolution and back up, per batch.
        small = tf.cast(tf.round(rng.uniform([], 0.4, 1.0) * size), tf.int32)
        blurred = tf.image.resize(tf.image.resize(images, [small, small], antialias=True), [size, size])
        images = tf.where(per_image(n, 0.5), blurred, images)
        noise = rng.normal(tf.shape(images)) * rng.uniform([n, 1, 1, 1], 0.0, 8.0)
        images = tf.where(per_image(n, 0.3), images + noise, images)
        # Cutout: one square of 10-30% of the side, at a random place.
        side = rng.uniform([n, 1, 1], 0.1, 0.3) * size
        cy, cx = rng.uniform([n, 1, 1], 0, size), rng.uniform([n, 1, 1], 0, size)
        grid = tf.range(size, dtype=tf.float32)
        inside = ((tf.abs(grid[None, :, None] - cy) < side / 2) & (tf.abs(grid[None, None, :] - cx) < side / 2))
        inside = inside[..., None] & per_image(n, 0.5)
        images = tf.where(inside, tf.reduce_mean(images, axis=[1, 2], keepdims=True), images)
        return tf.clip_by_value(images, 0.0, 255.0)

    return augment


def image_dataset(paths: list[str], y: np.ndarray, size: int, batch_size: int, *, with_index: bool = False):
    """A ``tf.data`` pipeline for evaluation: parallel decode with ``load_rgb``, the shared resize, batches.

    The images are exactly the float32 input the exported model gets. A file that cannot be read
    is dropped, never fatal (with ``with_index`` the caller sees which).

    Args:
        paths, y: image files and their class indices.
        with_index: also yield each image's position in ``paths``.

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
        return resize(image, size, size), label, index, ok

    everything = np.arange(len(paths))
    ds = (tf.data.Dataset.from_tensor_slices((np.asarray(paths), np.asarray(y, np.int32), everything))
          .map(decode, num_parallel_calls=autotune)
          .filter(lambda image, label, index, ok: ok)
          .map(lambda image, label, index, ok: (image, label, index) if with_index else (image, label)))
    return ds.batch(batch_size).prefetch(autotune)
