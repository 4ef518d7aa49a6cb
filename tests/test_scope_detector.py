"""The out-of-scope detector (trainer/scope.py, trainer/outliers.py): the model's ``out_of_scope``
output is the fitted logistic regression exactly, its threshold lets the chosen share of validation
lesions through, and with it the confidence check is off."""

import keras
import numpy as np
import pytest

from trainer import scope
from trainer.model import OutOfScope
from trainer.outliers import synthetic


def _features(rng, n, dim, shift):
    return rng.normal(size=(n, dim)) * rng.uniform(0.5, 3.0, dim) + shift


def _detector_model(dim):
    pooled = keras.Input((dim,))
    return keras.Model(pooled, OutOfScope(name="out_of_scope")(pooled))


def test_the_layer_is_the_fitted_regression_with_its_scaling_folded_in():
    """The layer's probabilities equal scikit-learn's on the standardised features: a kernel left
    unscaled, or a bias without the mean's share, gives other numbers."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    rng = np.random.default_rng(0)
    dim = 24
    lesions = _features(rng, 300, dim, 5.0)
    others = _features(rng, 120, dim, 5.0) + np.r_[np.full(4, 2.5), np.zeros(dim - 4)]
    model = _detector_model(dim)
    assert np.asarray(model(lesions[:3])).max() < 1e-8  # unfitted: every input in scope

    scope.fit_detector(model, lesions, others, c=0.1)
    x = np.concatenate([lesions, others])
    scaler = StandardScaler().fit(x)
    reference = LogisticRegression(C=0.1, class_weight="balanced", max_iter=5000).fit(
        scaler.transform(x), np.r_[np.zeros(len(lesions)), np.ones(len(others))])
    expected = reference.predict_proba(scaler.transform(x))[:, 1]
    np.testing.assert_allclose(np.asarray(model(x.astype(np.float32))), expected, atol=2e-5)
    assert expected[len(lesions):].mean() > expected[:len(lesions)].mean() + 0.5  # and it does separate


def test_thresholds_with_a_detector():
    rng = np.random.default_rng(1)
    n = 1000
    val_detector = rng.uniform(size=n)
    fitted = scope.fit(rng.gamma(2.0, size=n), rng.gamma(5.0, 20.0, size=n), rng.uniform(size=n), val_detector)
    assert fitted["confidence_threshold"] is None  # no longer a sign of another kind of picture
    rates = fitted["validation_flag_rate"]
    assert rates["out_of_scope"] == pytest.approx(scope.DETECTOR_FALSE_ALARM_RATE, abs=1e-3)
    assert "confidence" not in rates
    assert max(rates["out_of_scope"], rates["distance"]) <= rates["any"] <= (
        rates["out_of_scope"] + rates["distance"] + rates["blur"])

    without = scope.fit(rng.gamma(2.0, size=n), rng.gamma(5.0, 20.0, size=n), rng.uniform(size=n))
    assert without["confidence_threshold"] == scope.CONFIDENCE_THRESHOLD
    assert "out_of_scope_threshold" not in without and "confidence" in without["validation_flag_rate"]


def test_the_synthetic_pictures_are_varied_and_seeded():
    first = list(synthetic(np.random.default_rng(3), 6))
    again = list(synthetic(np.random.default_rng(3), 6))
    assert [name for name, _ in first] == [name for name, _ in again]
    assert all(np.array_equal(a, b) for (_, a), (_, b) in zip(first, again))
    families = {name.rstrip("0123456789").split("-")[0].rstrip("0123456789") for name, _ in first}
    assert families == {"flat", "gradient", "stripes", "checker", "shapes", "noise"}
    assert all(img.dtype == np.uint8 and img.ndim == 3 and img.shape[2] == 3 for _, img in first)
    assert len({img.std().round(1) for _, img in first}) > 20  # not one picture over and over
