"""Shared fixtures: the Flask app from server.py and its test client."""

from pathlib import Path

import pytest

from server import create_app


@pytest.fixture
def app():
    return create_app()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory):
    """A run folder trained by ``trainer.train`` on synthetic data with a 96 px, alpha 0.35 model."""
    from tiny_model import train_tiny

    return train_tiny(tmp_path_factory.mktemp("tiny"))


@pytest.fixture(scope="session")
def tiny_web(tiny_run, tmp_path_factory):
    """``tiny_run`` converted (float32) into a web/ overlay folder: model/ and golden/."""
    from converter.convert import convert

    out = tmp_path_factory.mktemp("tiny_web")
    fixtures = Path(__file__).parent / "fixtures" / "images"
    convert(tiny_run, out / "model", "none", [fixtures / "ISIC_0024306.jpg", fixtures / "ISIC_0024310.jpg"])
    return out


# A training test's limit: it trains (and often converts) a model of its own, 90 s at most on an idle 2-core
# machine, and may share the cores with the other test process; the suite's default limit is pyproject's.
TRAINING_TIMEOUT_S = 900


def pytest_collection_modifyitems(items):
    """The tests grouped as "training" (they run in one process, one at a time) get TRAINING_TIMEOUT_S."""
    for item in items:
        group = item.get_closest_marker("xdist_group")
        if group and group.args[:1] == ("training",) and not item.get_closest_marker("timeout"):
            item.add_marker(pytest.mark.timeout(TRAINING_TIMEOUT_S))
