"""Metrics, calibration and the screening threshold, against cases with known answers."""

import numpy as np
import pytest

from trainer.metrics import (auc, bootstrap_intervals, choose_threshold, classification_metrics,
                             choose_decision, decide, expected_calibration_error, fit_calibration, reliability,
                             roc_curve, screening_metrics, softmax)

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
    iv = bootstrap_intervals(y, p, groups, CLASSES, np.array([False, True, True]), 0.5, n=100)
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
    iv = bootstrap_intervals(y, p, groups, CLASSES, np.array([False, False, True]), 0.5, n=50)
    assert iv["balanced_accuracy"] == [0.5, 0.5]
    assert iv["malignant_sensitivity"] == [0.5, 0.5]
    assert set(iv) == {"balanced_accuracy", "macro_auc", "macro_f1", "ece", "malignant_auc", "malignant_sensitivity",
                       "malignant_specificity"}
    assert all(np.isfinite(iv[key]).all() and iv[key][0] <= iv[key][1] for key in iv)
    # The decision rule is applied in every resample: weights that make every image class 0 leave a third
    # of the classes right whenever all three are drawn (the usual case), instead of half of the images.
    weighted = bootstrap_intervals(y, p, groups, CLASSES, np.array([False, False, True]), 0.5, n=50,
                                   class_log_weights=[100.0, 0.0, 0.0])
    assert weighted["balanced_accuracy"][0] == pytest.approx(1 / 3)
    # Seeded: the same call gives the same intervals (a report must be reproducible).
    again = bootstrap_intervals(y, p, groups, CLASSES, np.array([False, False, True]), 0.5, n=50)
    assert again == iv
    # No malignant image at all: the malignant intervals are undefined (nan), not an error.
    benign = bootstrap_intervals(y, p, groups, CLASSES, np.array([False, False, False]), 0.5, n=20)
    assert np.isnan(benign["malignant_sensitivity"]).all() and np.isnan(benign["malignant_auc"]).all()


def test_cross_validation_mean_and_sd_by_hand(monkeypatch, tmp_path):
    """Three folds with known test metrics: the summary is their mean and sample sd (ddof 1)."""
    import json

    import trainer.train as train_module
    from trainer.config import Config
    from trainer.crossval import cross_validate

    folds = {"fold_1": 0.5, "fold_2": 0.6, "fold_3": 0.85}

    def fake_train(config, run, callbacks=(), fold=None):
        value = folds[run.name]
        run.mkdir(parents=True)
        return {"test": {"balanced_accuracy": value, "macro_auc": 1 - value, "macro_f1": value / 2, "ece": 0.02,
                         "malignant": {"sensitivity": value, "specificity": 0.9}}}

    monkeypatch.setattr(train_module, "train", fake_train)
    summary = cross_validate(Config(folds=3), tmp_path / "cv")
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


def test_classification_metrics_by_hand():
    """Six images whose every figure is worked out by hand; class d never occurs and is left out of the means.

    Predicted (argmax): 0 1 1 1 2 0 for true 0 0 1 1 2 2.
    a: tp 1 fn 1 fp 1 tn 3 -> sensitivity 1/2, precision 1/2, specificity 3/4, F1 1/2
    b: tp 2 fn 0 fp 1 tn 3 -> 1, 2/3, 3/4, F1 4/5
    c: tp 1 fn 1 fp 0 tn 4 -> 1/2, 1, 1, F1 2/3
    AUC by pairs: a 7/8, b 7/8, c 7.5/8 (one tie at 0.4).
    ECE: confidences 0.7 (3 right), 0.6 (wrong), 0.5 (one right, one wrong): (3 * 0.3 + 0.6 + 0) / 6.
    """
    y = np.array([0, 0, 1, 1, 2, 2])
    p = np.array([[0.7, 0.2, 0.1, 0], [0.3, 0.6, 0.1, 0], [0.2, 0.7, 0.1, 0],
                  [0.1, 0.5, 0.4, 0], [0.1, 0.2, 0.7, 0], [0.5, 0.1, 0.4, 0]])
    m = classification_metrics(y, p, ["a", "b", "c", "d"])
    expected = {"a": (1 / 2, 1 / 2, 3 / 4, 1 / 2, 7 / 8, 2), "b": (2 / 3, 1, 3 / 4, 4 / 5, 7 / 8, 2),
                "c": (1, 1 / 2, 1, 2 / 3, 7.5 / 8, 2)}
    for cid, (precision, sensitivity, specificity, f1, area, support) in expected.items():
        assert m["per_class"][cid] == pytest.approx({"precision": precision, "sensitivity": sensitivity,
                                                    "specificity": specificity, "f1": f1, "auc": area,
                                                    "support": support}), cid
    d = m["per_class"]["d"]
    assert d["support"] == 0 and np.isnan(d["sensitivity"]) and np.isnan(d["precision"]) and d["f1"] == 0
    assert d["specificity"] == 1
    assert m["n"] == 6 and m["accuracy"] == pytest.approx(4 / 6)
    assert m["balanced_accuracy"] == pytest.approx(2 / 3)
    assert m["macro_f1"] == pytest.approx((1 / 2 + 4 / 5 + 2 / 3) / 3)
    assert m["macro_auc"] == pytest.approx((7 / 8 + 7 / 8 + 7.5 / 8) / 3)
    assert m["ece"] == pytest.approx(0.25)
    assert m["confusion"] == [[1, 1, 0, 0], [0, 2, 0, 0], [1, 0, 1, 0], [0, 0, 0, 0]]
    assert all(type(count) is int for row in m["confusion"] for count in row)  # JSON counts, not 1.0
    # One image per class, all right: every class is present (support 1) and counted.
    assert classification_metrics(np.array([0, 1]), np.eye(2), ["a", "b"])["balanced_accuracy"] == 1
    # Edge cases give nan or 0, never a division warning (pytest turns warnings into errors): class a is
    # predicted once and never right (precision 0, sensitivity 0, F1 0); one class only (no negatives:
    # specificity and AUC undefined, so no macro AUC).
    edge = classification_metrics(np.array([0, 0, 1]), np.eye(2)[[1, 1, 0]], ["a", "b"])["per_class"]["a"]
    assert edge["precision"] == edge["sensitivity"] == edge["f1"] == 0
    alone = classification_metrics(np.array([0, 0]), np.array([[0.9, 0.1], [0.8, 0.2]]), ["a", "b"])
    assert np.isnan(alone["per_class"]["a"]["specificity"]) and np.isnan(alone["macro_auc"])
    assert alone["balanced_accuracy"] == 1


def test_screening_metrics_and_roc_by_hand():
    y = np.array([0, 1, 2, 0, 1])
    p = np.array([[0.9, 0.05, 0.05], [0.2, 0.7, 0.1], [0.6, 0.1, 0.3], [0.5, 0.3, 0.2], [0.8, 0.1, 0.1]])
    # Class 1 and 2 malignant: risks 0.1, 0.8, 0.4, 0.5, 0.2; malignant are images 1, 2, 4.
    s = screening_metrics(y, p, np.array([False, True, True]), threshold=0.4)
    # Flagged (>= 0.4): images 1, 2, 3 -> 2 of 3 malignant, 1 of 2 benign cleared; AUC by pairs 4 / 6.
    assert s == pytest.approx({"threshold": 0.4, "auc": 4 / 6, "sensitivity": 2 / 3, "specificity": 1 / 2,
                               "n_malignant": 3, "n_benign": 2})
    fpr, tpr = roc_curve(np.array([1, 0, 1, 0]), np.array([0.9, 0.8, 0.3, 0.1]))
    np.testing.assert_allclose(fpr, [0, 0, 0.5, 0.5, 1])
    np.testing.assert_allclose(tpr, [0, 0.5, 0.5, 1, 1])
    # One negative, and the last (lowest) score a positive; one positive alone.
    fpr, tpr = roc_curve(np.array([1, 1, 0]), np.array([0.9, 0.2, 0.5]))
    np.testing.assert_allclose(fpr, [0, 0, 1, 1])
    np.testing.assert_allclose(tpr, [0, 0.5, 0.5, 1])
    fpr, tpr = roc_curve(np.array([0, 1, 0]), np.array([0.1, 0.9, 0.5]))
    np.testing.assert_allclose(tpr, [0, 1, 1, 1])
    with pytest.raises(ValueError, match="^no malignant case to choose a threshold on$"):
        choose_threshold(np.array([0.2, 0.3]), np.array([False, False]), 0.9)


def test_scikit_learn_gives_the_numbers_of_the_hand_written_metrics_it_replaced():
    """Fixed random predictions (with ties), scored by the hand-written AUC (Mann-Whitney, ties half), ROC
    curve, confusion matrix and balanced accuracy this module had before scikit-learn: their outputs are
    the constants below, and scikit-learn's must be the same."""
    rng = np.random.default_rng(2026)
    y = rng.integers(0, 4, 40)
    p = rng.dirichlet(np.ones(4), 40)
    p[:, 1] = np.round(p[:, 1], 1)
    p /= p.sum(1, keepdims=True)
    m = classification_metrics(y, p, list("abcd"))
    assert m["balanced_accuracy"] == pytest.approx(0.22373737373737373, abs=1e-12)
    assert m["macro_auc"] == pytest.approx(0.48238840013033557, abs=1e-12)
    assert [m["per_class"][c]["auc"] for c in "abcd"] == pytest.approx(
        [0.5, 0.36666666666666664, 0.6363636363636364, 0.4265232974910394], abs=1e-12)
    assert m["confusion"] == [[2, 3, 2, 3], [3, 2, 2, 3], [2, 2, 3, 4], [4, 3, 0, 2]]
    positive, risk = np.isin(y, [1, 3]), p[:, [1, 3]].sum(1)
    assert auc(positive, risk) == pytest.approx(0.5162907268170426, abs=1e-12)
    fpr, tpr = roc_curve(positive, np.round(risk, 1))
    np.testing.assert_allclose(fpr, [0, 1 / 21, 3 / 21, 5 / 21, 11 / 21, 12 / 21, 14 / 21, 16 / 21, 18 / 21,
                                     20 / 21, 1], atol=1e-12)
    np.testing.assert_allclose(tpr, [0, 2 / 19, 3 / 19, 7 / 19, 8 / 19, 11 / 19, 14 / 19, 15 / 19, 15 / 19,
                                     17 / 19, 1], atol=1e-12)


def test_reliability_bins_by_hand():
    """The calibration curve: mean confidence and accuracy of each non-empty tenth of confidence."""
    confidence = np.array([0.15, 0.15, 0.55, 0.58, 0.95, 0.91, 0.99, 0.97])
    correct = np.array([0, 1, 0, 0, 1, 1, 1, 0], bool)
    mean_confidence, accuracy = reliability(correct, confidence)
    np.testing.assert_allclose(mean_confidence, [0.15, 0.565, 0.955])
    np.testing.assert_allclose(accuracy, [0.5, 0, 0.75])


def test_softmax_is_stable_and_rowwise():
    out = softmax(np.array([[1000.0, 1001.0], [-5.0, -5.0]]))
    np.testing.assert_allclose(out, [[1 / (1 + np.e), np.e / (1 + np.e)], [0.5, 0.5]])


def test_expected_calibration_error_matches_its_definition():
    """Against a direct reading of the definition: bin b holds the confidences in ((b-1)/B, b/B]."""
    rng = np.random.default_rng(5)
    p = rng.dirichlet([1, 1, 1], 2000)
    # Right in every other band of width 1/15, wrong in the rest: the gap between accuracy and confidence
    # changes sign from band to band, so any other binning gives another value.
    right = np.floor(p.max(axis=1) * 15) % 2 == 0
    y = np.where(right, p.argmax(axis=1), (p.argmax(axis=1) + 1) % 3)
    conf, correct = p.max(axis=1), p.argmax(axis=1) == y
    for bins in (15, 10):
        index = np.ceil(conf * bins).astype(int) - 1
        expected = sum((index == b).mean() * abs(correct[index == b].mean() - conf[index == b].mean())
                       for b in range(bins) if (index == b).any())
        assert expected_calibration_error(y, p, bins) == pytest.approx(expected)
        if bins == 15:  # the reports' convention
            assert expected_calibration_error(y, p) == pytest.approx(expected)


def test_calibration_ignores_row_offsets_and_keeps_temperature_within_its_bounds():
    rng = np.random.default_rng(3)
    logits = rng.normal(0, 2, (2000, 3))
    y = logits.argmax(axis=1)
    temperature, bias = fit_calibration(logits * 0.3, rng.integers(0, 3, 2000))
    assert temperature == pytest.approx(20)  # labels unrelated to the logits: as flat as allowed
    temperature, bias = fit_calibration(logits, y)
    assert temperature == pytest.approx(0.05)  # the logits always right: as sharp as allowed
    # softmax ignores a constant added to a row: so must the fit, even for offsets that overflow exp().
    noisy = rng.choice(3, 2000)
    base = fit_calibration(logits, noisy, steps=300)
    shifted = fit_calibration(logits + 800.0 * (np.arange(2000) % 3)[:, None], noisy, steps=300)
    assert shifted[0] == pytest.approx(base[0], rel=1e-6)
    np.testing.assert_allclose(shifted[1], base[1], atol=1e-6)


def test_decision_rule_ties_go_to_the_smaller_tau_and_unseen_classes_get_no_boost():
    y = np.array([0, 1, 2, 0, 1, 2])
    p = np.eye(3)[y] * 0.9 + 0.1 / 3  # always right, whatever tau
    decision = choose_decision(p, y, np.array([0.5, 0.5, 0.0]))
    assert decision["tau"] == 0 and decision["class_log_weights"] == [0, 0, 0]
    assert decision["rule"] == "argmax(log p + class_log_weights)" and decision["training_prior"] == [0.5, 0.5, 0]
    skewed = choose_decision(p, y, np.array([0.6, 0.3, 0.0]), taus=[1.0])
    np.testing.assert_allclose(skewed["class_log_weights"], [-np.log(0.6), -np.log(0.3), 0])


def test_risk_bins_split_at_the_threshold_and_count_the_malignant_in_each():
    from trainer.metrics import risk_bins

    risk = np.array([0.0, 0.1, 0.2, 0.3, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0])
    positive = np.array([0, 0, 1, 0, 0, 1, 1, 0, 1, 1], bool)
    bins = risk_bins(risk, positive, 0.5, below=2, above=2)
    # Below 0.5 the median of 0, .1, .2, .3 is .15; from 0.5 the median of .5 … 1 is .75; 1 is in the last range.
    assert [(b["from"], b["to"], b["n"], b["malignant"]) for b in bins] == [
        (0.0, pytest.approx(0.15), 2, 0), (pytest.approx(0.15), 0.5, 2, 1), (0.5, pytest.approx(0.75), 3, 2),
        (pytest.approx(0.75), 1.0, 3, 2)]
    assert [b["rate"] for b in bins] == [0.0, 0.5, pytest.approx(2 / 3), pytest.approx(2 / 3)]
    low, high = bins[0]["interval_95"]
    assert low == 0.0 and high == pytest.approx(0.6576, abs=1e-4)  # Wilson, 0 of 2
    assert all(b["interval_95"][0] <= b["rate"] <= b["interval_95"][1] for b in bins)
