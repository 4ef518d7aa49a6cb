"""Kinds of picture (dermoscopic close-up, ordinary photo): each kind's threshold, risk ranges and
figures (trainer/kinds.py), the scope thresholds that refuse no kind of lesion picture more often than
the rate (trainer/scope.py), the phone-look augmentation and the photo share of stage 2's draws."""

import numpy as np
import pytest

from trainer import kinds, scope
from trainer.views import view_batches

CLASSES = ["benign", "malignant"]
MALIGNANT = np.array([0, 1])


def two_kinds(n_derm=2000, n_photo=120, photo_cancers=60, seed=0):
    """Validation-like scores: dermoscopic cancers score high; phone-photo cancers score lower (the
    model is less sure of photos), so one shared threshold would miss many of them."""
    rng = np.random.default_rng(seed)
    y_derm = (rng.uniform(size=n_derm) < 0.2).astype(int)
    y_photo = np.r_[np.ones(photo_cancers, int), np.zeros(n_photo - photo_cancers, int)]
    risk_derm = np.clip(np.where(y_derm == 1, rng.normal(0.75, 0.12, n_derm), rng.normal(0.25, 0.12, n_derm)), 0, 1)
    risk_photo = np.clip(np.where(y_photo == 1, rng.normal(0.35, 0.1, n_photo), rng.normal(0.15, 0.08, n_photo)), 0, 1)
    y = np.r_[y_derm, y_photo]
    risk = np.r_[risk_derm, risk_photo]
    probs = np.stack([1 - risk, risk], axis=1)
    true = np.array(["dermoscopic"] * n_derm + ["photo"] * n_photo)
    return y, probs, true


def test_the_model_output_says_the_kind():
    assert kinds.predicted_kinds(np.array([0.1, 0.5, 0.9])).tolist() == ["dermoscopic", "photo", "photo"]
    assert kinds.predicted_kinds(None, 2).tolist() == ["dermoscopic", "dermoscopic"]


def test_each_kind_gets_the_threshold_that_catches_its_own_cancers():
    y, probs, true = two_kinds()
    shared = 0.55
    chosen = kinds.choose(y, probs, MALIGNANT, true, shared, 0.95, CLASSES, None)
    photo = chosen["photo"]
    assert not photo["few_cancers"] and photo["n_validation_cancers"] == 60
    assert photo["threshold"] < 0.3 < chosen["dermoscopic"]["threshold"]  # photos get a lower bar
    assert photo["validation"]["sensitivity"] >= 0.95 and chosen["dermoscopic"]["validation"]["sensitivity"] >= 0.95
    assert photo["risk_bins"][0]["from"] == 0 and any(b["from"] == photo["threshold"] for b in photo["risk_bins"])


def test_a_kind_with_few_cancers_errs_toward_a_doctor():
    y, probs, true = two_kinds(photo_cancers=kinds.MIN_CANCERS - 1)
    chosen = kinds.choose(y, probs, MALIGNANT, true, 0.55, 0.95, CLASSES, None)
    assert chosen["photo"]["few_cancers"] and chosen["photo"]["n_validation_cancers"] == kinds.MIN_CANCERS - 1
    own = kinds.choose(y[true == "photo"], probs[true == "photo"], MALIGNANT, true[true == "photo"], 1.0, 0.95,
                       CLASSES, None)["photo"]["threshold"]
    assert chosen["photo"]["threshold"] == min(own, 0.55)
    # A shared threshold lower than its own few cancers suggest wins: the more cautious one.
    low = kinds.choose(y, probs, MALIGNANT, true, 0.05, 0.95, CLASSES, None)
    assert low["photo"]["threshold"] == 0.05


def test_test_figures_use_the_threshold_of_the_kind_the_model_judged():
    y, probs, true = two_kinds()
    chosen = kinds.choose(y, probs, MALIGNANT, true, 0.55, 0.95, CLASSES, None)
    groups = np.arange(len(y))
    right = kinds.measure(y, probs, MALIGNANT, true, true, groups, chosen, CLASSES, None, bootstrap=0)
    # Every photo judged dermoscopic: the dermoscopic threshold applies and photo cancers are missed.
    wrong = kinds.measure(y, probs, MALIGNANT, np.full(len(y), "dermoscopic"), true, groups, chosen, CLASSES, None,
                          answered=np.ones(len(y), bool), bootstrap=0)
    assert right["photo"]["sensitivity"] >= 0.9 > wrong["photo"]["sensitivity"]
    assert wrong["photo"]["judged_as"] == {"dermoscopic": 1.0, "photo": 0.0}
    assert wrong["photo"]["answered"] == 1.0
    assert wrong["photo"]["cancers_lower_concern_unwarned"] == pytest.approx(1 - wrong["photo"]["sensitivity"])
    assert right["photo"]["n"] == 120 and right["photo"]["n_malignant"] == 60


def test_scope_thresholds_refuse_no_kind_of_lesion_more_often_than_the_rate():
    rng = np.random.default_rng(2)
    n_derm, n_photo = 2000, 100
    true = np.array(["dermoscopic"] * n_derm + ["photo"] * n_photo)
    # Phone photos look less like the bulk of the lesions: higher detector scores and distances.
    detector = np.r_[rng.normal(0, 1, n_derm), rng.normal(2, 1, n_photo)]
    distance = np.r_[rng.gamma(2.0, size=n_derm), rng.gamma(4.0, size=n_photo)]
    blur = np.r_[rng.gamma(5.0, 20.0, size=n_derm), rng.gamma(2.0, 20.0, size=n_photo)]
    fitted = scope.fit(distance, blur, None, detector, true)
    by_kind = fitted["validation_flag_rate_by_kind"]
    for check, rate in (("out_of_scope", scope.DETECTOR_FALSE_ALARM_RATE), ("distance", scope.FALSE_ALARM_RATE),
                        ("blur", scope.FALSE_ALARM_RATE)):
        assert by_kind["photo"][check] <= rate + 0.011 and by_kind["dermoscopic"][check] <= rate + 1e-3
    # Pooled, the thousands of dermoscopic pictures would have set the bar and refused many photos.
    pooled = scope.fit(distance, blur, None, detector)
    assert (detector[n_derm:] > pooled["out_of_scope_threshold"]).mean() > 0.3
    # What the page does: flagged() applies the same thresholds, the too-dark rule included.
    signals = {"feature_distance": distance, "blur": blur, "out_of_scope": detector,
               "brightness": np.r_[np.full(n_derm + n_photo - 1, 120.0), 20.0]}
    flags = scope.flagged(signals, fitted)
    assert flags[-1] and flags[:n_derm].mean() <= fitted["validation_flag_rate"]["any"] + 1e-9


def test_phone_look_puts_the_lesion_smaller_in_the_frame_on_skin():
    import tensorflow as tf

    from trainer.data import phone_look

    size = 96
    image = np.full((4, size, size, 3), (200.0, 150.0, 130.0), np.float32)
    image[:, 24:72, 24:72] = (40.0, 30.0, 30.0)  # a dark lesion filling the middle quarter
    out = phone_look(image, tf.random.Generator.from_seed(3)).numpy()
    assert out.shape == image.shape and out.min() >= 0 and out.max() <= 255
    dark = (out.mean(axis=-1) < 90).mean(axis=(1, 2))
    assert np.all(dark < 0.25 * 0.9) and np.all(dark > 0.002)  # smaller in the frame, still there
    # The canvas around it is skin-coloured (lit differently), not black padding.
    corners = out[:, [0, 0, -1, -1], [0, -1, 0, -1]].mean(axis=-1)
    assert corners.min() > 60


def test_a_photo_share_of_the_draws_are_photos_balanced_within_each_kind():
    n_derm, n_photo = 900, 60
    kinds_ = np.array(["dermoscopic"] * n_derm + ["photo"] * n_photo)
    y = np.r_[np.arange(n_derm) % 3, np.arange(n_photo) % 2]
    cache = np.arange(len(y) * 2, dtype=np.float16).reshape(len(y), 2, 1, 1, 1)
    batches = view_batches(cache, y, 64, seed=0, balanced=True, kinds=kinds_, photo_share=0.25)
    drawn = np.concatenate([batches[i][0][:, 0, 0, 0] for i in range(len(batches))]).astype(int) // 2
    assert len(drawn) == len(y)
    assert np.mean(drawn >= n_derm) == pytest.approx(0.25, abs=0.04)
    photo_classes = np.bincount(y[drawn[drawn >= n_derm]])
    assert photo_classes.min() / photo_classes.max() > 0.7
    # Without a share, the draws are as the data has them (photos 6%).
    plain = view_batches(cache, y, 64, seed=0, balanced=True, kinds=kinds_, photo_share=0.0)
    drawn = np.concatenate([plain[i][0][:, 0, 0, 0] for i in range(len(plain))]).astype(int) // 2
    assert np.mean(drawn >= n_derm) < 0.12
