"""The network: preprocessing inside the graph, the head transplant, calibration layers, views inside
the graph, colour constancy, and the cut stage 2 trains above."""

import numpy as np
import pytest

from trainer.config import Config
from trainer.model import (BACKBONE, DIHEDRAL, ShadesOfGray, above_cut_model, backbone_of, build_head, build_model,
                           dihedral, logits_model, set_calibration, split_backbone)

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


def test_backbone_is_found_by_its_name(tiny):
    """The MobileNetV2 is the layer named BACKBONE, whatever alpha, size or layers before it."""
    model, _ = tiny
    assert backbone_of(model) is model.get_layer(BACKBONE)
    assert backbone_of(model).get_layer("block_5_add") is not None


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
    set_calibration(model, 4.0, np.zeros(3))
    soft = model.predict(x, verbose=0)["probabilities"].max(axis=1)
    assert np.all(soft <= sharp + 1e-6) and np.any(soft < sharp - 1e-3)


def test_class_bias_is_added_to_the_scaled_logits():
    model, _ = build_model(TINY, 3)
    rng = np.random.default_rng(5)
    model.get_layer("logits").set_weights([rng.normal(size=w.shape).astype(np.float32)
                                           for w in model.get_layer("logits").get_weights()])
    x = rng.uniform(0, 255, (2, 96, 96, 3)).astype(np.float32)
    logits = logits_model(model).predict(x, verbose=0)
    bias = np.array([0.5, -1.0, 0.5], np.float32)
    set_calibration(model, 2.0, bias)
    z = logits / 2.0 + bias
    expected = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(model.predict(x, verbose=0)["probabilities"], expected, atol=1e-5)


def test_class_activation_maps_average_to_the_logits(tiny):
    model, _ = tiny
    rng = np.random.default_rng(3)
    model.get_layer("logits").set_weights([rng.normal(size=w.shape).astype(np.float32)
                                           for w in model.get_layer("logits").get_weights()])
    x = rng.uniform(0, 255, (2, 96, 96, 3)).astype(np.float32)
    out = model.predict(x, verbose=0)
    cam = out["cam"]
    assert cam.shape == (2, 3, 3, 7)
    logits = logits_model(model).predict(x, verbose=0)
    np.testing.assert_allclose(out["logits"], logits, rtol=1e-6, atol=1e-6)  # the output is the head's logits
    np.testing.assert_allclose(cam.mean(axis=(1, 2)), logits, rtol=1e-4, atol=1e-5)


@pytest.fixture(scope="module")
def random_head_views():
    """The same random weights with 1 and with 8 views inside the graph."""
    rng = np.random.default_rng(4)
    one, _ = build_model(TINY, 7, views=1)
    one.get_layer("logits").set_weights([rng.normal(size=w.shape).astype(np.float32)
                                         for w in one.get_layer("logits").get_weights()])
    eight, _ = build_model(TINY, 7, views=8)
    eight.set_weights(one.get_weights())
    return one, eight


def test_views_average_the_logits_of_the_eight_symmetries(random_head_views):
    one, eight = random_head_views
    x = np.random.default_rng(6).uniform(0, 255, (2, 96, 96, 3)).astype(np.float32)
    per_view = [logits_model(one).predict(np.asarray(dihedral(x, *d)), verbose=0) for d in DIHEDRAL]
    np.testing.assert_allclose(logits_model(eight).predict(x, verbose=0), np.mean(per_view, axis=0),
                               rtol=1e-4, atol=1e-5)


def test_views_make_the_prediction_invariant_and_the_map_follow_the_photo(random_head_views):
    _, eight = random_head_views
    x = np.random.default_rng(7).uniform(0, 255, (1, 96, 96, 3)).astype(np.float32)
    x[:, :40, :30] = 0  # something asymmetric for the map to follow
    for d in DIHEDRAL[1:]:
        moved = np.asarray(dihedral(x, *d))
        a, b = eight.predict(x, verbose=0), eight.predict(moved, verbose=0)
        np.testing.assert_allclose(b["probabilities"], a["probabilities"], atol=1e-5)
        # The map of the moved photo is the moved map: it stays on the photo, not on a view of it.
        np.testing.assert_allclose(b["cam"], np.asarray(dihedral(a["cam"], *d)), rtol=1e-4, atol=1e-4)


def test_shades_of_gray_removes_a_colour_cast():
    rng = np.random.default_rng(8)
    grey = rng.uniform(40, 200, (1, 32, 32, 1)).astype(np.float32)
    cast = np.concatenate([grey * 1.2, grey, grey * 0.7], axis=-1)
    out = np.asarray(ShadesOfGray()(cast))
    norms = (out / 255.0) ** 6
    norms = norms.mean(axis=(0, 1, 2)) ** (1 / 6)
    np.testing.assert_allclose(norms, norms.mean(), rtol=1e-3)
    np.testing.assert_allclose(out[..., 0], out[..., 1], rtol=1e-3)


def test_above_cut_model_matches_the_whole_model():
    model, _ = build_model(TINY, 7)
    lower, _ = split_backbone(model, "block_5_add")
    x = np.random.default_rng(9).uniform(0, 255, (2, 96, 96, 3)).astype(np.float32)
    features = lower.predict(x / 127.5 - 1, verbose=0)
    np.testing.assert_allclose(above_cut_model(model, "block_5_add").predict(features, verbose=0),
                               logits_model(model).predict(x, verbose=0), rtol=1e-4, atol=1e-4)


def test_a_cut_inside_a_residual_block_is_refused():
    model, _ = build_model(TINY, 7)
    with pytest.raises(ValueError, match="does not separate"):
        split_backbone(model, "block_5_project_BN")


def test_stage2_keeps_batchnorm_statistics(tmp_path):
    """A fine-tuning epoch changes the convolutions above the cut but no BatchNorm moving statistic."""
    import keras

    from trainer.train import freeze_for_stage2

    model, _ = build_model(TINY, 7)
    backbone = backbone_of(model)
    norms = [layer for layer in backbone.layers if isinstance(layer, keras.layers.BatchNormalization)]
    before = [[w.copy() for w in layer.get_weights()] for layer in norms]
    conv_before = backbone.get_layer("block_16_project").get_weights()[0].copy()
    trainer_model = freeze_for_stage2(model, "block_12_add")
    trainer_model.compile(optimizer=keras.optimizers.Adam(1e-2),
                          loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    rng = np.random.default_rng(10)
    x = rng.normal(size=(16, *trainer_model.input.shape[1:])).astype(np.float32)
    trainer_model.fit(x, rng.integers(0, 7, 16), epochs=1, batch_size=8, verbose=0)
    assert not np.allclose(backbone.get_layer("block_16_project").get_weights()[0], conv_before)
    for layer, weights in zip(norms, before):
        for now, then in zip(layer.get_weights(), weights):
            np.testing.assert_array_equal(now, then, err_msg=layer.name)
