"""Stage 2's training data: augmented views of every image, cached at a cut through the backbone.

Fine-tuning most of MobileNetV2 on 2 CPU cores is affordable only if the layers below the cut
are not recomputed every epoch. They stay frozen, so their output for a given augmented image
never changes: ``build`` decodes each training image once, makes ``views`` augmented copies of it
in pixel space (``data.augmenter``), runs them through the layers below the cut and stores the
results as float16 in a memory-mapped file of the run folder (``block_5_add``: 28x28x32, 49 KB a
view at 224 px). Every epoch of stage 2 then draws one of the cached views of each image
(``ViewBatches``) and trains the layers above the cut and the head on it.

The cache is written in chunks, and a chunk's views are marked done only once on disk, so a
killed run rebuilds at most the chunk it was writing.

    cache = ViewCache(run / "views", "train", n_images, views, shape)
    cache.build(below_cut, paths, image_size, augment=augmenter(seed))
    batches = ViewBatches(cache.array(), y, batch_size, seed=seed, balanced=True)
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from .data import load_batch_arrays

CHUNK = 256


class ViewCache:
    """A float16 array (images, views, h, w, c) in ``folder/<name>.f16`` with its progress beside it."""

    def __init__(self, folder: Path, name: str, n: int, views: int, shape: tuple[int, ...], key: dict):
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.path = self.folder / f"{name}.f16"
        self.progress = self.folder / f"{name}.progress.json"
        self.shape = (n, views, *shape)
        self.key = {**key, "shape": list(self.shape)}
        chunks = -(-n // CHUNK)
        state = json.loads(self.progress.read_text()) if self.progress.exists() else None
        if state is None or state["key"] != self.key or not self.path.exists():
            # New, or made for another configuration (cut, views, images): start again.
            np.memmap(self.path, np.float16, "w+", shape=self.shape).flush()
            state = {"key": self.key, "done": [[False] * views for _ in range(chunks)]}
            self._save(state)
        self.state = state

    def _save(self, state: dict) -> None:
        tmp = self.progress.with_suffix(".tmp")
        tmp.write_text(json.dumps(state))
        tmp.replace(self.progress)

    @classmethod
    def finished(cls, folder: Path, name: str, n: int, views: int, shape: tuple[int, ...], key: dict):
        """The cache as ``build`` left it, or None where it is not whole for this configuration (the
        constructor would start such a cache anew, erasing it: a reader must not)."""
        progress = Path(folder) / f"{name}.progress.json"
        if not progress.exists() or json.loads(progress.read_text())["key"] != {**key, "shape": [n, views, *shape]}:
            return None
        cache = cls(folder, name, n, views, shape, key)
        return cache if cache.complete else None

    @property
    def complete(self) -> bool:
        return all(all(row) for row in self.state["done"])

    def array(self) -> np.memmap:
        return np.memmap(self.path, np.float16, "r", shape=self.shape)

    def build(self, below_cut, paths, image_size: int, *, augment=None, transform=None, batch_size: int = 32,
              log=print) -> None:
        """Fills every view not yet done. View k of an image is ``below_cut(augment(image))``, or with
        ``transform`` ``below_cut(transform(image, k))`` (e.g. the k-th dihedral view, ``trainer/distil.py``);
        with neither there is one view, the image itself (validation)."""
        out = np.memmap(self.path, np.float16, "r+", shape=self.shape)
        start, total = time.time(), len(paths) * self.shape[1]
        made = 0
        for c, lo in enumerate(range(0, len(paths), CHUNK)):
            todo = [k for k, done in enumerate(self.state["done"][c]) if not done]
            if not todo:
                continue
            hi = min(lo + CHUNK, len(paths))
            images, ok, errors = load_batch_arrays(list(paths[lo:hi]), image_size, image_size)
            if errors:  # callers pass images already known to load
                raise ValueError(f"unreadable images in the view cache: {sorted(errors)[:3]}")
            for k in todo:
                if transform is not None:
                    batch = np.asarray(transform(images, k))
                elif augment is not None:
                    batch = np.concatenate([np.asarray(augment(images[i:i + 64])) for i in range(0, len(images), 64)])
                else:
                    batch = images
                out[lo:hi, k] = below_cut.predict(batch, batch_size=batch_size, verbose=0).astype(np.float16)
                out.flush()
                self.state["done"][c][k] = True
                self._save(self.state)
                made += hi - lo
            log(f"{self.path.stem} views: {min(hi * self.shape[1], total)}/{total} "
                f"({made / max(time.time() - start, 1e-9):.0f} views/s)")
        del out


class StackedViews:
    """Two view caches of the same images read as one: the first's views, then the second's (what
    ``view_batches`` draws from: ``shape`` and ``[images, views]`` indexing)."""

    def __init__(self, first: np.ndarray, second: np.ndarray):
        if first.shape[0] != second.shape[0] or first.shape[2:] != second.shape[2:]:
            raise ValueError(f"view caches of different images or shapes: {first.shape} and {second.shape}")
        self.first, self.second = first, second
        self.shape = (first.shape[0], first.shape[1] + second.shape[1], *first.shape[2:])

    def __getitem__(self, key):
        images, views = (np.asarray(k) for k in key)
        out = np.empty((len(images), *self.shape[2:]), self.first.dtype)
        own = views < self.first.shape[1]
        out[own] = self.first[images[own], views[own]]
        out[~own] = self.second[images[~own], views[~own] - self.first.shape[1]]
        return out


def view_batches(cache: np.ndarray, y: np.ndarray, batch_size: int, *, seed: int, balanced: bool,
                 class_weight: dict | None = None, first_epoch: int = 0, kinds: np.ndarray | None = None,
                 photo_share: float = 0.0, targets: np.ndarray | None = None):
    """A ``keras.utils.PyDataset`` over a view cache: each epoch, one random view of each image.

    Args:
        balanced: draw every class equally often (an epoch still has ``len(y)`` images).
        class_weight: {class: weight}, returned as per-sample weights (the other remedy).
        first_epoch: the epoch a resumed run starts at, so its draws are those of an unbroken run.
        kinds, photo_share: each image's kind of picture; with both kinds present and ``photo_share`` > 0,
            that share of every epoch's draws are ordinary photos (with ``balanced``, every class equally
            often within each kind), so that a small set of phone photos is not drowned by dermoscopy.
        targets: what each image's batches hold instead of its class (e.g. a teacher's probabilities,
            ``trainer/distil.py``); ``y`` still decides the draws.
    """
    answers = y if targets is None else np.asarray(targets)
    mixed = kinds is not None and photo_share > 0 and len(set(kinds.tolist())) > 1
    if mixed:
        kinds = np.asarray(kinds)
        share = np.where(kinds == "photo", photo_share, 1 - photo_share)
        # Each image's chance of a draw: its kind's share, spread evenly over the kind's classes (balanced)
        # or its images.
        weight = np.empty(len(y))
        for kind in np.unique(kinds):
            in_kind = kinds == kind
            classes, counts = np.unique(y[in_kind], return_counts=True)
            per_class = dict(zip(classes, counts))
            weight[in_kind] = ([1 / (len(classes) * per_class[c]) for c in y[in_kind]] if balanced
                               else 1 / in_kind.sum())
        draw_p = share * weight
        draw_p /= draw_p.sum()
    import keras

    class ViewBatches(keras.utils.PyDataset):
        def __init__(self):
            super().__init__()
            self.epoch = first_epoch
            self.classes = np.unique(y)
            self._draw()

        def _draw(self):
            rng = np.random.default_rng([seed, self.epoch])
            if mixed:
                self.order = rng.choice(len(y), size=len(y), p=draw_p)
            elif balanced:
                by_class = [np.nonzero(y == c)[0] for c in self.classes]
                picks = rng.integers(len(self.classes), size=len(y))
                self.order = np.array([by_class[c][rng.integers(len(by_class[c]))] for c in picks])
            else:
                self.order = rng.permutation(len(y))
            self.view = rng.integers(cache.shape[1], size=len(y))

        def __len__(self):
            return -(-len(y) // batch_size)

        def __getitem__(self, i):
            idx, view = self.order[i * batch_size:(i + 1) * batch_size], self.view[i * batch_size:(i + 1) * batch_size]
            sort = np.argsort(idx, kind="stable")  # memory-mapped reads in file order
            x = np.empty((len(idx), *cache.shape[2:]), np.float32)
            x[sort] = cache[idx[sort], view[sort]]
            if class_weight is None:
                return x, answers[idx]
            return x, answers[idx], np.array([class_weight[int(c)] for c in y[idx]], np.float32)

        def on_epoch_end(self):
            self.epoch += 1
            self._draw()

    return ViewBatches()
