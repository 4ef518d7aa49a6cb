"""The network: preprocessing inside the graph, the head transplant, the temperature layer."""

import numpy as np
import pytest

from trainer.config import Config
from trainer.model import build_head, build_model, logits_model, set_temperature

TINY = Config(image_size=96, alpha=0.35, weights="none", dropout=0.2)


@pytest.fixture(scope="module")
def tiny():
    return build_model(TINY, 7)


def test_raw_pixels_in_probabilities_out(tiny):
    model, _ = tiny
    x = np.random.default_rng(0).uniform(0, 255, (2, 96, 96, 3)).astype(np.float32)
    p = model.predict(x, verbose=0)["probabilities"]
    assert p.shape == (2, 7)
    np.testing.assert_allclose(p.sum(axis=1), 1, atol=1e-5)
    assert model.layers[1].name == "preprocess"  # normalisation is part of the graph


def test_head_trained_on_features_drops_into_the_model(tiny):
    model, features = tiny
    head = build_head(features.output.shape[-1], 7, 0.2)
    rng = np.random.default_rng(1)
    head.get_layer("logits").set_weights([rng.normal(size=w.shape).astype(np.float32)
                                          for w in head.get_layer("logits").get_weights()])
    model.get_layer("logits").set_weights(head.get_layer("logits").get_weights())
    x = rng.uniform(0, 255, (3, 96, 96, 3)).astype(np.float32)
    logits = head.predict(features.predict(x, verbose=0), verbose=0)
    expected = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(model.predict(x, verbose=0)["probabilities"], expected, atol=1e-5)


def test_temperature_softens_probabilities():
    model, _ = build_model(TINY, 3)
    kernel, _ = model.get_layer("logits").get_weights()
    model.get_layer("logits").set_weights([kernel, np.array([0.0, 1.0, 3.0], np.float32)])
    x = np.random.default_rng(2).uniform(0, 255, (4, 96, 96, 3)).astype(np.float32)
    sharp = model.predict(x, verbose=0)["probabilities"].max(axis=1)
    set_temperature(model, 4.0)
    soft = model.predict(x, verbose=0)["probabilities"].max(axis=1)
    assert np.all(soft <= sharp + 1e-6) and np.any(soft < sharp - 1e-3)


def test_class_activation_maps_average_to_the_logits(tiny):
    model, _ = tiny
    rng = np.random.default_rng(3)
    model.get_layer("logits").set_weights([rng.normal(size=w.shape).astype(np.float32)
                                           for w in model.get_layer("logits").get_weights()])
    x = rng.uniform(0, 255, (2, 96, 96, 3)).astype(np.float32)
    cam = model.predict(x, verbose=0)["cam"]
    assert cam.shape == (2, 3, 3, 7)
    logits = logits_model(model).predict(x, verbose=0)
    np.testing.assert_allclose(cam.mean(axis=(1, 2)), logits, rtol=1e-4, atol=1e-5)
