"""Lesion-grouped splits, split.csv, and the image pipeline fed to the model.

A dataset is a list of ``Record``s (trainer/readers.py reads them): one image file, its diagnosis
and its group (the lesion, or the patient where that is all a dataset gives). Splits are made over
groups with scikit-learn's ``StratifiedGroupKFold``, so no lesion ever has images on two sides of a
split and each side keeps the class mix.

    >>> records, problems = read_dataset("auto", ["../shared/data/ham10000", "../shared/data/ham10000-224"])
    >>> split = split_by_group(records, seed=1337)
"""

from __future__ import annotations

import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd

from .clinical import lenient, normalise_age, normalise_answer, normalise_sex, normalise_site
from .images import ImageError, load_rgb, resize
from .readers import DatasetError, Record, read_table

SPLITS = ("train", "val", "test")
# A train/val/test split is made of this many grouped, stratified folds (so its fractions are
# rounded to 5%): one scikit-learn call deals the lesions, and the same seed gives the same split.
SPLIT_UNITS = 20


def _stratified_group_folds(records: list[Record], n_splits: int, seed: int) -> np.ndarray:
    """The fold (0..n_splits-1) of each record: StratifiedGroupKFold over groups, stratified by diagnosis
    within each kind of picture (so that the phone photos of a mixed dataset spread over the splits too).

    A class with fewer images than folds cannot be in every fold; scikit-learn warns about it, and for
    a small dataset's rare class that is expected, so the warning is not passed on.
    """
    from sklearn.model_selection import StratifiedGroupKFold

    y = np.unique([f"{r.kind}/{r.dx}" for r in records], return_inverse=True)[1]
    groups = [r.group for r in records]
    fold = np.zeros(len(records), int)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="The least populated class in y", category=UserWarning)
        splitter = StratifiedGroupKFold(n_splits, shuffle=True, random_state=seed)
        for k, (_, test) in enumerate(splitter.split(np.zeros(len(records)), y, groups)):
            fold[test] = k
    return fold


def split_by_group(records: list[Record], *, val_fraction: float = 0.15, test_fraction: float = 0.15,
                   seed: int = 1337, fold: int | None = None, folds: int = 0) -> list[str]:
    """Assigns each record to train/val/test, grouped by lesion and stratified by diagnosis.

    The groups are dealt into ``SPLIT_UNITS`` (20) stratified folds, at most one per group, by
    scikit-learn's ``StratifiedGroupKFold`` (seeded); the first ``round(test_fraction * 20)`` folds are
    the test split, the next ``round(val_fraction * 20)`` validation. A group whose images have
    several diagnoses (a patient, in SIIM-ISIC 2020) is kept whole on one side.
    With ``folds`` K and ``fold`` k, the groups are dealt into K folds instead: fold k is the
    test split, fold k+1 (mod K) validation, the rest training, so the K test splits partition
    the dataset.

    Returns:
        the split name of each record, in the order of ``records``.
    """
    n_groups = len({r.group for r in records})
    if folds:
        if folds > n_groups:
            raise DatasetError(f"{folds} folds need at least {folds} lesions; the data has {n_groups}")
        dealt = _stratified_group_folds(records, folds, seed)
        names = np.where(dealt == fold, "test", np.where(dealt == (fold + 1) % folds, "val", "train"))
        return names.tolist()
    # Fewer lesions than units: one fold a lesion (scikit-learn needs no more folds than groups, and
    # no more than the largest class has images).
    units = min(SPLIT_UNITS, n_groups, max(np.unique([r.dx for r in records], return_counts=True)[1]))
    if units < 2:
        return ["train"] * len(records)
    n_test, n_val = round(test_fraction * units), round(val_fraction * units)
    dealt = _stratified_group_folds(records, units, seed)
    return np.where(dealt < n_test, "test", np.where(dealt < n_test + n_val, "val", "train")).tolist()


SPLIT_COLUMNS = ["image_id", "group", "dx", "split", "source", "path", "age", "sex", "site", "kind", "answers"]


def write_split(path: Path, records: list[Record], splits: list[str]) -> None:
    """Writes ``split.csv``: one row per image, so any evaluation can be reproduced."""
    rows = [[r.image_id, r.group, r.dx, s, r.source, r.path, "" if r.age is None else f"{r.age:g}",
             r.sex or "", r.site or "", r.kind, _answers_text(r.answers)] for r, s in zip(records, splits)]
    pd.DataFrame(rows, columns=SPLIT_COLUMNS).to_csv(path, index=False)


def _answers_text(answers) -> str:
    """split.csv's ``answers`` cell: ``grown=yes;bled=no`` (the questions answered), or empty."""
    return ";".join(f"{name}={answer}" for name, answer in answers)


def _answers_of(text) -> tuple[tuple[str, str], ...]:
    """``Record.answers`` from a split.csv cell (empty or absent in runs made before the questions)."""
    pairs = [part.split("=", 1) for part in str(text or "").split(";") if "=" in part]
    answers = ((name, lenient(normalise_answer, answer)) for name, answer in pairs)
    return tuple((name, answer) for name, answer in answers if answer is not None)


def read_split(path: Path) -> tuple[list[Record], list[str]]:
    """Reads a ``split.csv`` back into records and their splits."""
    rows = read_table(Path(path)).to_dict("records")
    records = [Record(r["path"], r["image_id"], r["group"], r["dx"], r["source"],
                      lenient(normalise_age, r.get("age")), lenient(normalise_sex, r.get("sex")),
                      lenient(normalise_site, r.get("site")), r.get("kind") or "dermoscopic",
                      _answers_of(r.get("answers"))) for r in rows]
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


def phone_look(images, rng):
    """Makes dermoscopic close-ups look like a person's phone photo: a function of a batch (n, S, S, 3) of
    0..255 float images and a ``tf.random.Generator``.

    - the lesion smaller in the frame, with skin around it: the picture shrunk to 40-85% of the side at a
      random place on a canvas of its own skin colour (from the picture's edge bands, shaded smoothly,
      noisy) with a soft seam;
    - room light or flash: a colour cast (per-channel gains 0.8-1.2), gamma 0.7-1.4, and for a third of
      the pictures a flash's bright spot;
    - JPEG loss at quality 30-85, as phones and messaging apps save photos.
    """
    import tensorflow as tf

    images = tf.convert_to_tensor(images, tf.float32)
    n, size = tf.shape(images)[0], images.shape[1]
    side = tf.cast(tf.round(rng.uniform([], 0.4, 0.85) * size), tf.int32)
    top = tf.cast(rng.uniform([]) * tf.cast(size - side, tf.float32), tf.int32)
    left = tf.cast(rng.uniform([]) * tf.cast(size - side, tf.float32), tf.int32)
    small = tf.image.resize(images, [side, side], antialias=True)
    placed = tf.image.pad_to_bounding_box(small, top, left, size, size)
    # A soft-edged mask: a box inset by a sixth of the side, blurred by going down to 1/16 and back up
    # (the blur reaches less far than the inset, so no black padding shows through the seam).
    inset = side // 6
    box = tf.image.pad_to_bounding_box(tf.ones([n, side - 2 * inset, side - 2 * inset, 1]), top + inset,
                                       left + inset, size, size)
    mask = tf.image.resize(tf.image.resize(box, [size // 16, size // 16], antialias=True), [size, size])
    # Skin colour: the mean of four bands 10-25% in from the edges (inside a dermatoscope's dark ring,
    # outside most lesions).
    a, b = size // 10, size // 4
    bands = tf.concat([images[:, a:b, a:size - a], images[:, size - b:size - a, a:size - a],
                       tf.transpose(images[:, a:size - a, a:b], [0, 2, 1, 3]),
                       tf.transpose(images[:, a:size - a, size - b:size - a], [0, 2, 1, 3])], axis=1)
    skin = tf.reduce_mean(bands, axis=[1, 2], keepdims=True)
    shading = tf.image.resize(rng.uniform([n, 4, 4, 1], 0.85, 1.15), [size, size])
    canvas = skin * shading + rng.normal([n, size, size, 1]) * 4.0
    images = mask * placed + (1 - mask) * canvas
    # Light: colour cast and gamma, then for some a flash's bright spot.
    images = images * rng.uniform([n, 1, 1, 3], 0.8, 1.2)
    images = 255.0 * tf.pow(tf.clip_by_value(images / 255.0, 0.0, 1.0), rng.uniform([n, 1, 1, 1], 0.7, 1.4))
    grid = tf.range(size, dtype=tf.float32)
    cy, cx = rng.uniform([n, 1, 1], 0, size), rng.uniform([n, 1, 1], 0, size)
    radius = rng.uniform([n, 1, 1], 0.1, 0.3) * size
    spot = tf.exp(-((grid[None, :, None] - cy) ** 2 + (grid[None, None, :] - cx) ** 2) / (2 * radius ** 2))
    flash = rng.uniform([n, 1, 1], 40.0, 120.0) * tf.cast(rng.uniform([n, 1, 1]) < 1 / 3, tf.float32)
    images = tf.clip_by_value(images + (flash * spot)[..., None], 0.0, 255.0)
    quality = tf.cast(rng.uniform([n], 30, 85), tf.int32)
    return tf.map_fn(lambda a: tf.cast(tf.image.adjust_jpeg_quality(tf.cast(tf.round(a[0]), tf.uint8), a[1]),
                                       tf.float32),
                     (images, quality), fn_output_signature=tf.float32)


def augmenter(seed: int, phone: float = 0.0):
    """The training augmentation: a function from a batch of 0..255 images to an augmented batch.

    Stronger than a photo app would need, as the ISIC 2018-2020 winners trained: lesions have no
    "up", so all 8 flips/transposes and any rotation keep the label; zoom stands in for dermatoscope
    distance; colour jitter for cameras and lights; blur, lost resolution and noise for phone
    optics and HAM10000's upscaled 200x150 copies; cutout (a square filled with the image's mean
    colour) for hair, rulers and bubbles hiding part of a lesion.
    With ``phone`` > 0, that share of the pictures is first made to look like a phone photo
    (``phone_look``), so that a model trained on dermoscopy also knows ordinary photos of lesions.
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
        if phone > 0:
            images = tf.where(per_image(n, phone), phone_look(images, rng), images)
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
