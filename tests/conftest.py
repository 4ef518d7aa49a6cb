"""Shared fixtures: the Flask app from server.py and its test client."""

import fcntl
import os
import shutil
from pathlib import Path

import pytest

from server import create_app


@pytest.fixture
def app():
    return create_app()


@pytest.fixture
def client(app):
    return app.test_client()


def made_once(tmp_path_factory, name: str, make) -> Path:
    """The folder ``name``, filled by ``make(folder)`` once for the whole test session.

    Under pytest-xdist the first test process to ask makes it in the session's shared temporary folder, under a
    lock, and the others wait for it and read it: two processes each training the tiny model at once took about
    90 s each on two cores, one alone 55 s. Alone (``-n 0``), the process makes its own.
    """
    if "PYTEST_XDIST_WORKER" not in os.environ:
        folder = tmp_path_factory.mktemp(name)
        make(folder)
        return folder
    root = tmp_path_factory.getbasetemp().parent  # this session's, shared by its workers
    folder = root / name
    with open(root / f"{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes, also when make() raises
        if not (folder / ".made").exists():
            shutil.rmtree(folder, ignore_errors=True)  # a process before this one failed half-way
            folder.mkdir()
            make(folder)
            (folder / ".made").touch()
    return folder


@pytest.fixture(scope="session")
def tiny_inputs(tmp_path_factory):
    """(synthetic HAM10000-layout folder, BatchNorm-calibrated random backbone weights file): what every test
    that trains starts from (tiny_model.tiny_setup, 14 s), made once a session. Tests only read them."""
    from tiny_model import tiny_setup

    folder = made_once(tmp_path_factory, "tiny_inputs", tiny_setup)
    return folder / "ham", folder / "backbone.weights.h5"


@pytest.fixture(scope="session")
def tiny_run(tiny_inputs, tmp_path_factory):
    """A run folder trained by ``trainer.train`` on ``tiny_inputs`` with a 96 px, alpha 0.35 model, once a
    session. Tests read it and may add files of their own (``report_<data>.*``); none changes what is there."""
    from tiny_model import tiny_config

    from trainer.train import train

    data, weights = tiny_inputs
    return made_once(tmp_path_factory, "tiny", lambda folder: train(tiny_config([data], weights=str(weights)),
                                                                     folder / "run")) / "run"


@pytest.fixture(scope="session")
def tiny_web(tiny_run, tmp_path_factory):
    """``tiny_run`` converted (float32) into a web/ overlay folder: model/ and golden/, once a session."""
    from converter.convert import convert

    fixtures = Path(__file__).parent / "fixtures" / "images"
    return made_once(tmp_path_factory, "tiny_web", lambda out: convert(
        tiny_run, out / "model", "none", [fixtures / "ISIC_0024306.jpg", fixtures / "ISIC_0024310.jpg"]))


@pytest.fixture(scope="session")
def tiny_questions_run(tiny_inputs, tmp_path_factory):
    """A run trained with --clinical --questions on ``tiny_inputs``' images (never asked) and synthetic
    PAD-UFES-20 photos (asked: tiny_model.make_pad_ufes_dataset), head only and one view, once a session
    (about 30 s)."""
    from tiny_model import make_pad_ufes_dataset, tiny_config

    from trainer.train import train

    data, weights = tiny_inputs

    def make(folder):
        pad = make_pad_ufes_dataset(folder / "pad", patients_per_class=8)
        train(tiny_config([data, pad], weights=str(weights), questions=True, fine_tune_epochs=0, views=1,
                          tta_views=1, imbalance="class_weight"), folder / "run")

    return made_once(tmp_path_factory, "tiny_questions", make) / "run"


@pytest.fixture(scope="session")
def tiny_questions_web(tiny_questions_run, tmp_path_factory):
    """``tiny_questions_run`` converted (float32) into a web/ overlay folder, golden photos a phone photo and a
    dermoscopic one, once a session."""
    from converter.convert import convert

    fixtures = Path(__file__).parent / "fixtures" / "images"
    return made_once(tmp_path_factory, "tiny_questions_web", lambda out: convert(
        tiny_questions_run, out / "model", "none", [fixtures / "PAT_1107_427_352.jpg", fixtures / "ISIC_0024306.jpg"]))


# A training test's limit: it trains (and often converts) a model of its own, 90 s at most on an idle 2-core
# machine, and may share the cores with the other test process; the suite's default limit is pyproject's.
TRAINING_TIMEOUT_S = 900


def pytest_collection_modifyitems(items):
    """The tests grouped as "training" (they run in one process, one at a time) get TRAINING_TIMEOUT_S."""
    for item in items:
        group = item.get_closest_marker("xdist_group")
        if group and group.args[:1] == ("training",) and not item.get_closest_marker("timeout"):
            item.add_marker(pytest.mark.timeout(TRAINING_TIMEOUT_S))
