"""trainer/distil.py: the one-view student of the 8-view model, and its comparison on validation."""

import csv
import json
import shutil

import numpy as np
import pytest

from tiny_model import tiny_config

CLASSES = ["akiec", "bcc", "bkl", "df", "mel", "nv", "vasc"]
MALIGNANT = np.array([1, 1, 0, 0, 1, 0, 0], bool)


def _validation(seed=0, n=3000):
    """Logits that tell the classes apart fairly well, with each image's class and kind."""
    rng = np.random.default_rng(seed)
    y = rng.integers(7, size=n)
    logits = rng.normal(0, 1, (n, 7))
    logits[np.arange(n), y] += 2.0
    kinds = np.where(rng.random(n) < 0.3, "photo", "dermoscopic")
    return logits, y, kinds


def test_a_student_that_gives_the_teachers_answers_is_within_tolerance():
    from trainer.distil import compare

    logits, y, kinds = _validation()
    prior = np.bincount(y, minlength=7) / len(y)
    result = compare(logits, logits + 1e-6, y, prior, CLASSES, MALIGNANT, kinds, 0.95)
    assert result["within_tolerance"]
    assert set(result["difference"]) == {"all", "dermoscopic", "photo"}
    assert result["student_1_view"]["photo"]["n"] == (kinds == "photo").sum()
    for figures in result["difference"].values():
        assert abs(figures["balanced_accuracy"]) < 1e-9 and abs(figures["malignant_auc"]) < 1e-9


def test_a_student_worse_on_one_kind_only_is_not_within_tolerance():
    """Better on dermoscopy and worse on the photos (a third of the pictures): the 'all' figures improve,
    and only the per-kind ones show the photos' loss."""
    from trainer.distil import compare

    logits, y, kinds = _validation()
    prior = np.bincount(y, minlength=7) / len(y)
    student = logits.copy()
    photo = kinds == "photo"
    student[photo] += np.random.default_rng(1).normal(0, 0.7, (photo.sum(), 7))
    student[np.nonzero(~photo)[0], y[~photo]] += 0.5
    result = compare(logits, student, y, prior, CLASSES, MALIGNANT, kinds, 0.95)
    assert result["difference"]["all"]["balanced_accuracy"] > 0 and result["difference"]["all"]["malignant_auc"] > 0
    assert result["student_1_view"]["all"]["ece"] <= 0.03
    assert result["difference"]["photo"]["balanced_accuracy"] < -0.005
    assert not result["within_tolerance"]


def test_the_paired_intervals_bracket_a_real_shortfall_and_nothing_where_there_is_none():
    """Resampling lesions, both models on the same draws: a student equal to its teacher has a zero-width
    interval, and one that lost on the photos has the photos' interval below zero and the others' not."""
    from trainer.distil import compare

    logits, y, kinds = _validation(n=1200)
    prior = np.bincount(y, minlength=7) / len(y)
    groups = np.arange(len(y)) // 2  # two images a lesion
    same = compare(logits, logits, y, prior, CLASSES, MALIGNANT, kinds, 0.95, groups, bootstrap=200)
    for interval in same["intervals_95"].values():
        assert interval == {"balanced_accuracy": [0.0, 0.0], "malignant_auc": [0.0, 0.0]}
    student = logits.copy()
    photo = kinds == "photo"
    student[photo] += np.random.default_rng(1).normal(0, 1.5, (photo.sum(), 7))
    worse = compare(logits, student, y, prior, CLASSES, MALIGNANT, kinds, 0.95, groups, bootstrap=200)
    intervals = worse["intervals_95"]
    assert set(intervals) == {"all", "dermoscopic", "photo"}
    assert intervals["photo"]["balanced_accuracy"][1] < 0 and intervals["photo"]["malignant_auc"][1] < 0
    low, high = intervals["photo"]["malignant_auc"]
    assert low <= worse["difference"]["photo"]["malignant_auc"] <= high
    assert intervals["dermoscopic"]["malignant_auc"][0] <= 0 <= intervals["dermoscopic"]["malignant_auc"][1]


def test_view_batches_carry_the_targets_of_the_images_drawn():
    from trainer.views import view_batches

    cache = np.arange(10, dtype=np.float16).reshape(10, 1, 1, 1, 1) * np.ones((1, 2, 2, 2, 1), np.float16)
    y = np.array([0, 0, 0, 0, 0, 0, 0, 0, 1, 1])
    targets = np.eye(10, dtype=np.float32)  # row i is image i's own
    batches = view_batches(cache, y, 4, seed=3, balanced=True, targets=targets)
    for i in range(len(batches)):
        x, t = batches[i]
        assert (t.argmax(axis=1) == x[:, 0, 0, 0]).all()
    assert set(batches.order[y[batches.order] == 1]) <= {8, 9} and (y[batches.order] == 1).mean() > 0.2


def test_the_teacher_logits_are_the_8_view_graphs(tiny_inputs, tmp_path):
    """What the student learns from must be what the 8-view exported graph computes, image by image."""
    from trainer.data import load_batch_arrays
    from trainer.distil import teacher_logits
    from trainer.model import build_model
    from trainer.readers import read_ham10000
    from trainer.train import copy_weights

    data, weights = tiny_inputs  # a random backbone whose features differ from image to image
    config = tiny_config([data], clinical=False, weights=str(weights))
    one, features = build_model(config, 7)
    eight, _ = build_model(config, 7, views=8)
    rng = np.random.default_rng(0)
    kernel, bias = one.get_layer("logits").get_weights()
    one.get_layer("logits").set_weights([rng.normal(0, 1, kernel.shape), rng.normal(0, 1, bias.shape)])
    copy_weights(one, eight)
    records, _ = read_ham10000([data])
    paths = np.array([r.path for r in records[:6]])
    got = teacher_logits(one, features, paths, tmp_path / "cache", "train", config.image_size, 4)
    images, ok, _ = load_batch_arrays(list(paths), config.image_size, config.image_size)
    want = np.asarray(eight(images, training=False)["logits"])
    one_view = np.asarray(one(images, training=False)["logits"])
    assert np.abs(got - want).max() < 1e-4 * max(1.0, np.abs(want).max())
    assert np.abs(one_view - want).max() > 1e-3  # the views differ: a one-view "teacher" would fail above
    assert np.array_equal(np.load(tmp_path / "cache" / "train.npy"), got)  # cached whole, pieces gone
    assert sorted(p.name for p in (tmp_path / "cache").iterdir()) == ["train.npy"]


def test_the_students_dihedral_views_are_what_the_graphs_views_feed_above_the_cut(tiny_inputs, tmp_path):
    """View k of the student's dihedral cache is the k-th view of the exported graph below the cut (view 0
    the image as the page sends it), so the 8-view target is exact for each of them."""
    from trainer.data import load_batch_arrays
    from trainer.distil import dihedral_views
    from trainer.model import DIHEDRAL, build_model, dihedral
    from trainer.readers import read_ham10000
    from trainer.stage2 import below_cut_model

    data, weights = tiny_inputs
    config = tiny_config([data], clinical=False, weights=str(weights))
    model, _ = build_model(config, 7)
    below_cut = below_cut_model(model, config.cut)
    records, _ = read_ham10000([data])
    paths = np.array([r.path for r in records[:5]])
    shape = tuple(below_cut.output.shape[1:])
    got = dihedral_views(below_cut, paths, tmp_path / "distil", shape, {"cut": config.cut}, config.image_size, 4)
    assert got.shape == (5, 8, *shape) and got.dtype == np.float16
    images, _, _ = load_batch_arrays(list(paths), config.image_size, config.image_size)
    for k, d in enumerate(DIHEDRAL):
        want = np.asarray(below_cut(np.asarray(dihedral(images, *d)), training=False))
        assert np.abs(got[:, k] - want).max() <= 2e-3 * max(1.0, np.abs(want).max()), k
    assert np.abs(got[:, 1].astype(np.float32) - got[:, 0]).max() > 1e-2  # the views differ: a mix-up fails
    # Built once: a second call reads the cache (a changed model would not change it).
    model.get_layer("logits").set_weights([w * 0 for w in model.get_layer("logits").get_weights()])
    assert np.array_equal(dihedral_views(None, paths, tmp_path / "distil", shape, {"cut": config.cut},
                                         config.image_size, 4), got)


def test_stacked_views_read_the_first_caches_views_then_the_seconds():
    from trainer.views import StackedViews, view_batches

    first = np.arange(6, dtype=np.float16).reshape(3, 2, 1) * np.ones((1, 1, 4), np.float16)
    second = 100 + np.arange(9, dtype=np.float16).reshape(3, 3, 1) * np.ones((1, 1, 4), np.float16)
    views = StackedViews(first, second)
    assert views.shape == (3, 5, 4)
    images, picks = np.array([0, 2, 1, 2, 0]), np.array([1, 0, 4, 2, 3])
    want = [first[0, 1], first[2, 0], second[1, 2], second[2, 0], second[0, 1]]
    assert np.array_equal(views[images, picks], np.stack(want))
    # view_batches draws every one of the stacked views.
    batches = view_batches(views, np.zeros(3, int), 3, seed=0, balanced=False)
    seen = set()
    for _ in range(30):
        seen |= set(batches.view.tolist())
        batches.on_epoch_end()
    assert seen == set(range(5))
    with pytest.raises(ValueError, match="different images"):
        StackedViews(first, second[:2])


@pytest.mark.slow
@pytest.mark.xdist_group("training")
def test_distilling_a_finished_run_exports_a_one_view_student(tiny_run, tmp_path):
    """The way a student is made from a teacher's run: its caches and stage 2 copied into a new run
    folder, then the same command with --distil-epochs and --tta-views 1."""
    from trainer.config import Config
    from trainer.train import train

    teacher = Config.load(tiny_run / "config.json")
    run = tmp_path / "student"
    run.mkdir()
    for name in ("features", "views"):
        shutil.copytree(tiny_run / name, run / name)
    for name in ("split.csv", "stage2_best.weights.h5", "stage2_done.json", "history_stage2.csv"):
        shutil.copy(tiny_run / name, run / name)
    # Without the clinical stage, which distillation does not touch: the suite's slowest group is the shorter.
    config = Config(**{**teacher.__dict__, "distil_epochs": 2, "tta_views": 1, "clinical": False})
    report = train(config, run)
    result = json.loads((run / "distil.json").read_text())
    assert report["distil"] == result and result["epochs"] == 2
    assert set(result["difference"]) >= {"all"} and "within_tolerance" in result
    with (run / "history_distil.csv").open() as f:
        assert len(f.read().strip().splitlines()) == 1 + 2
    with (run / "split.csv").open() as f:
        assert len(np.load(run / "distil" / "train.npy")) == sum(row["split"] == "train" for row in csv.DictReader(f))
    assert json.loads((run / "config.json").read_text())["tta_views"] == 1
    calibration = json.loads((run / "calibration.json").read_text())
    assert calibration["validation_by_views"]  # the student measured in 1..8 views like any model
