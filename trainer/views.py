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

    @property
    def complete(self) -> bool:
        return all(all(row) for row in self.state["done"])

    def array(self) -> np.memmap:
        return np.memmap(self.path, np.float16, "r", shape=self.shape)

    def build(self, below_cut, paths, image_size: int, *, augment=None, batch_size: int = 32, log=print) -> None:
        """Fills every view not yet done. View k of an image is ``below_cut(augment(image))``;
        without ``augment`` there is one view, the image itself (validation)."""
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
                batch = images if augment is None else np.concatenate(
                    [np.asarray(augment(images[i:i + 64])) for i in range(0, len(images), 64)])
                out[lo:hi, k] = below_cut.predict(batch, batch_size=batch_size, verbose=0).astype(np.float16)
                out.flush()
                self.state["done"][c][k] = True
                self._save(self.state)
                made += hi - lo
            log(f"{self.path.stem} views: {min(hi * self.shape[1], total)}/{total} "
                f"({made / max(time.time() - start, 1e-9):.0f} views/s)")
        del out


def view_batches(cache: np.ndarray, y: np.ndarray, batch_size: int, *, seed: int, balanced: bool,
                 class_weight: dict | None = None, first_epoch: int = 0):
    """A ``keras.utils.PyDataset`` over a view cache: each epoch, one random view of each image.

    Args:
        balanced: draw every class equally often (an epoch still has ``len(y)`` images).
        class_weight: {class: weight}, returned as per-sample weights (the other remedy).
        first_epoch: the epoch a resumed run starts at, so its draws are those of an unbroken run.
    """
    import keras

    class ViewBatches(keras.utils.PyDataset):
        def __init__(self):
            super().__init__()
            self.epoch = first_epoch
            self.classes = np.unique(y)
            self._draw()

        def _draw(self):
            rng = np.random.default_rng([seed, self.epoch])
            if balanced:
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
                return x, y[idx]
            return x, y[idx], np.array([class_weight[int(c)] for c in y[idx]], np.float32)

        def on_epoch_end(self):
            self.epoch += 1
            self._draw()

    return ViewBatches()
