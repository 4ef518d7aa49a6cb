"""Metrics, calibration and the screening threshold, against cases with known answers."""

import numpy as np
import pytest

from trainer.evaluate import (auc, bootstrap_intervals, choose_threshold, classification_metrics,
                              choose_decision, decide, expected_calibration_error, fit_calibration, roc_curve,
                              screening_metrics)

CLASSES = ["a", "b", "c"]


def test_balanced_accuracy_is_not_fooled_by_the_majority_class():
    y = np.array([0] * 90 + [1] * 5 + [2] * 5)
    always_a = np.tile([0.9, 0.05, 0.05], (100, 1))
    m = classification_metrics(y, always_a, CLASSES)
    assert m["accuracy"] == pytest.approx(0.9)
    assert m["balanced_accuracy"] == pytest.approx(1 / 3)
    assert m["per_class"]["a"]["sensitivity"] == 1 and m["per_class"]["a"]["specificity"] == 0


def test_auc_matches_pairwise_definition_with_ties():
    rng = np.random.default_rng(0)
    pos = rng.integers(0, 2, 200).astype(bool)
    score = np.round(rng.normal(pos * 0.8, 1.0), 1)  # rounding makes ties
    pairs = [(1.0 if s1 > s0 else 0.5 if s1 == s0 else 0.0) for s1 in score[pos] for s0 in score[~pos]]
    assert auc(pos, score) == pytest.approx(np.mean(pairs))
    fpr, tpr = roc_curve(pos, score)
    assert np.trapezoid(tpr, fpr) == pytest.approx(auc(pos, score))


def test_calibration_recovers_the_temperature_and_bias_that_made_the_data():
    rng = np.random.default_rng(1)
    logits = rng.normal(0, 3, (20000, 3))
    bias = np.array([1.0, -0.4, -0.6])
    z = logits / 2.5 + bias
    p = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    y = np.array([rng.choice(3, p=row) for row in p])
    temperature, fitted = fit_calibration(logits, y)
    assert temperature == pytest.approx(2.5, rel=0.05)
    np.testing.assert_allclose(fitted, bias, atol=0.08)
    assert expected_calibration_error(y, p) < 0.02
    overconfident = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    assert expected_calibration_error(y, overconfident) > 0.05


def test_decision_rule_trades_the_majority_class_for_balanced_accuracy():
    """Probabilities that favour the common class: adjusting by the prior recovers the rare ones."""
    rng = np.random.default_rng(11)
    prior = np.array([0.8, 0.1, 0.1])
    y = rng.choice(3, size=6000, p=prior)
    evidence = rng.normal(0, 1, (6000, 3)) + 1.2 * np.eye(3)[y]
    z = evidence + np.log(prior)
    p = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    decision = choose_decision(p, y, prior)
    assert 0.7 <= decision["tau"] <= 1.3  # the Bayes-optimal rule for balanced accuracy is tau = 1
    plain = classification_metrics(y, p, CLASSES)["balanced_accuracy"]
    adjusted = classification_metrics(y, p, CLASSES, decision["class_log_weights"])["balanced_accuracy"]
    assert adjusted > plain + 0.1
    assert decision["validation_balanced_accuracy_by_tau"][decision["tau"]] == pytest.approx(adjusted)
    np.testing.assert_array_equal(decide(p, None), p.argmax(axis=1))


def test_threshold_reaches_the_target_sensitivity_and_no_more_than_needed():
    rng = np.random.default_rng(2)
    risk = rng.uniform(size=500)
    positive = rng.uniform(size=500) < risk
    t = choose_threshold(risk, positive, 0.9)
    sens = (risk[positive] >= t).mean()
    assert sens >= 0.9
    higher = np.sort(risk[positive])[np.searchsorted(np.sort(risk[positive]), t) + 1]
    assert (risk[positive] >= higher).mean() < 0.9  # the next threshold up would miss the target


def test_screening_metrics_sum_malignant_classes():
    y = np.array([0, 1, 2, 2])
    p = np.array([[0.2, 0.7, 0.1], [0.1, 0.2, 0.7], [0.5, 0.4, 0.1], [0.1, 0.1, 0.8]])
    s = screening_metrics(y, p, np.array([False, True, True]), threshold=0.5)
    # risks: 0.8, 0.9, 0.5, 0.9 -> every case flagged; the only benign (class 0) is a false positive
    assert s["sensitivity"] == 1 and s["specificity"] == 0


def test_bootstrap_resamples_lesions_not_images():
    # One lesion with 50 identical images must count once: with image resampling the interval
    # would be narrow; by lesion it stays wide.
    y = np.array([0] * 50 + [1, 0, 1, 0, 1, 2, 2])
    groups = ["big"] * 50 + [f"l{i}" for i in range(7)]
    p = np.eye(3)[y] * 0.8 + 0.2 / 3
    p[:50] = [0.1, 0.8, 0.1]  # the big lesion is always wrong
    iv = bootstrap_intervals(y, p, groups, CLASSES, np.array([False, True, True]), 0.5, n=200)
    lo, hi = iv["balanced_accuracy"]
    assert lo < hi and hi - lo > 0.1


def test_bootstrap_draws_whole_lesions():
    """Each lesion has two images of its class, one right and one wrong. Any resample of whole lesions is
    right on exactly half of every class's images, so every bootstrap value of balanced accuracy and of
    malignant sensitivity is 0.5 and the interval has no width; resampling images would spread it."""
    lesions = 12
    y = np.repeat(np.arange(lesions) % 3, 2)
    wrong = (y + 1) % 3
    pred = np.where(np.arange(2 * lesions) % 2 == 0, y, wrong)
    p = np.eye(3)[pred] * 0.8 + 0.2 / 3
    groups = np.repeat([f"lesion{i}" for i in range(lesions)], 2)
    # Class 2 alone is malignant: its right images have risk 0.87, its wrong ones (predicted 0) 0.07.
    iv = bootstrap_intervals(y, p, groups, CLASSES, np.array([False, False, True]), 0.5, n=200)
    assert iv["balanced_accuracy"] == [0.5, 0.5]
    assert iv["malignant_sensitivity"] == [0.5, 0.5]


def test_cross_validation_mean_and_sd_by_hand(monkeypatch, tmp_path):
    """Three folds with known test metrics: the summary is their mean and sample sd (ddof 1)."""
    import json

    import trainer.train as train_module
    from trainer.config import Config

    folds = {"fold_1": 0.5, "fold_2": 0.6, "fold_3": 0.85}

    def fake_train(config, run, callbacks=(), fold=None):
        value = folds[run.name]
        run.mkdir(parents=True)
        return {"test": {"balanced_accuracy": value, "macro_auc": 1 - value, "macro_f1": value / 2, "ece": 0.02,
                         "malignant": {"sensitivity": value, "specificity": 0.9}}}

    monkeypatch.setattr(train_module, "train", fake_train)
    summary = train_module.cross_validate(Config(folds=3), tmp_path / "cv")
    # mean 0.65; deviations -0.15, -0.05, 0.2; sd = sqrt((0.0225 + 0.0025 + 0.04) / 2) = sqrt(0.0325)
    assert summary["per_fold"]["balanced_accuracy"] == [0.5, 0.6, 0.85]
    assert summary["mean"]["balanced_accuracy"] == pytest.approx(0.65)
    assert summary["sd"]["balanced_accuracy"] == pytest.approx(0.0325 ** 0.5)
    assert summary["mean"]["macro_auc"] == pytest.approx(0.35) and summary["mean"]["macro_f1"] == pytest.approx(0.325)
    assert summary["sd"]["malignant_sensitivity"] == pytest.approx(0.0325 ** 0.5)
    assert summary["mean"]["ece"] == pytest.approx(0.02) and summary["sd"]["ece"] == pytest.approx(0)
    assert summary["mean"]["malignant_specificity"] == pytest.approx(0.9)
    assert json.loads((tmp_path / "cv" / "cv_report.json").read_text()) == summary
    assert "| balanced_accuracy | 0.650 ± 0.180 | 0.500, 0.600, 0.850 |" in (tmp_path / "cv" / "cv_report.md").read_text()
