"""Stage 2's view cache: every view written once, resumable, redone when the configuration changes;
and the batches drawn from it."""

import numpy as np
import pytest
from PIL import Image

from trainer import views
from trainer.views import ViewCache, view_batches


class Counting:
    """A stand-in for the layers below the cut: 2x2 average pooling, counting the images it sees."""

    def __init__(self):
        self.seen = 0

    def predict(self, x, batch_size=32, verbose=0):
        self.seen += len(x)
        x = np.asarray(x, np.float32)
        return x.reshape(len(x), 8, 2, 8, 2, 3).mean(axis=(2, 4))


@pytest.fixture
def images(tmp_path):
    rng = np.random.default_rng(0)
    paths = []
    for i in range(10):
        path = tmp_path / f"img{i}.png"
        Image.fromarray(rng.integers(0, 255, (40, 48, 3), np.uint8)).save(path)
        paths.append(str(path))
    return np.array(paths)


def shifted(images):
    """A deterministic 'augmentation' that differs per call, so views differ."""
    shifted.calls += 1
    return np.asarray(images) * 0 + shifted.calls


shifted.calls = 0


def test_views_are_computed_once_and_resumed(tmp_path, images, monkeypatch):
    monkeypatch.setattr(views, "CHUNK", 4)
    key = {"cut": "c"}
    below = Counting()
    cache = ViewCache(tmp_path / "v", "train", len(images), 3, (8, 8, 3), key)
    cache.build(below, images, 16, augment=shifted, log=lambda msg: None)
    assert cache.complete and below.seen == 10 * 3
    first = np.array(cache.array())
    assert len({float(first[0, k].mean()) for k in range(3)}) == 3  # each view its own augmentation

    # A kill in the middle: the last chunk's last view never got marked done.
    cache.state["done"][-1][-1] = False
    cache._save(cache.state)
    again = ViewCache(tmp_path / "v", "train", len(images), 3, (8, 8, 3), key)
    below = Counting()
    again.build(below, images, 16, augment=shifted, log=lambda msg: None)
    assert below.seen == 2  # only the 2 images of that chunk, one view
    np.testing.assert_array_equal(np.array(again.array())[:8], first[:8])

    # Another configuration starts over.
    other = ViewCache(tmp_path / "v", "train", len(images), 3, (8, 8, 3), {"cut": "d"})
    assert not other.complete


def test_a_reader_of_a_finished_cache_never_erases_one_made_otherwise(tmp_path, images):
    """Distillation reads stage 2's cache: one made with other settings, or unfinished, is None, and
    stays on disk as it was (the constructor would start it anew)."""
    cache = ViewCache(tmp_path / "v", "train", len(images), 2, (8, 8, 3), {"cut": "c"})
    assert ViewCache.finished(tmp_path / "v", "train", len(images), 2, (8, 8, 3), {"cut": "c"}) is None  # unbuilt
    cache.build(Counting(), images, 16, augment=shifted, log=lambda msg: None)
    made = np.array(cache.array())
    found = ViewCache.finished(tmp_path / "v", "train", len(images), 2, (8, 8, 3), {"cut": "c"})
    np.testing.assert_array_equal(np.array(found.array()), made)
    for other in ({"cut": "d"}, {"cut": "c", "views": 3}):
        args = (len(images), 3, (8, 8, 3), {"cut": "c"}) if "views" in other else (len(images), 2, (8, 8, 3), other)
        assert ViewCache.finished(tmp_path / "v", "train", *args) is None
    np.testing.assert_array_equal(np.array(ViewCache.finished(tmp_path / "v", "train", len(images), 2, (8, 8, 3),
                                                              {"cut": "c"}).array()), made)


def test_validation_cache_is_the_image_itself(tmp_path, images):
    cache = ViewCache(tmp_path / "v", "val", len(images), 1, (8, 8, 3), {})
    cache.build(Counting(), images, 16, log=lambda msg: None)
    from trainer.images import prepare
    expected = prepare(images[3], 16, 16).reshape(8, 2, 8, 2, 3).mean(axis=(1, 3))
    np.testing.assert_allclose(np.array(cache.array())[3, 0], expected, atol=0.1)  # float16 rounding


def test_batches_draw_one_view_per_image_and_balance_classes():
    n, k = 600, 4
    cache = np.arange(n * k, dtype=np.float16).reshape(n, k, 1, 1, 1) % 2048
    y = np.array([0] * 500 + [1] * 80 + [2] * 20)
    plain = view_batches(cache, y, 50, seed=1, balanced=False)
    xs, ys = zip(*(plain[i] for i in range(len(plain))))
    assert sorted(np.concatenate(ys)) == sorted(y)  # every image once an epoch
    balanced = view_batches(cache, y, 50, seed=1, balanced=True)
    counts = np.bincount(np.concatenate([balanced[i][1] for i in range(len(balanced))]), minlength=3)
    assert counts.sum() == n and counts.min() > 150  # about 200 each, not 500/80/20
    weighted = view_batches(cache, y, 50, seed=1, balanced=False, class_weight={0: 0.5, 1: 2.0, 2: 8.0})
    _, yb, wb = weighted[0]
    np.testing.assert_array_equal(wb, np.array([0.5, 2.0, 8.0], np.float32)[yb])


def test_a_resumed_run_draws_what_an_unbroken_one_would():
    cache = np.random.default_rng(0).normal(size=(40, 3, 2, 2, 1)).astype(np.float16)
    y = np.arange(40) % 2
    unbroken = view_batches(cache, y, 8, seed=3, balanced=True)
    unbroken.on_epoch_end()
    unbroken.on_epoch_end()
    resumed = view_batches(cache, y, 8, seed=3, balanced=True, first_epoch=2)
    for i in range(len(resumed)):
        np.testing.assert_array_equal(resumed[i][0], unbroken[i][0])
    fresh = view_batches(cache, y, 8, seed=3, balanced=True)
    assert not np.array_equal(fresh[0][0], unbroken[0][0])  # epochs differ
