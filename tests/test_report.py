"""The report of a split (trainer/report.py): figures resting on few cases are flagged, with their interval."""

import json

import numpy as np
import pytest

from trainer.metrics import wilson_interval
from trainer.report import FEW_CASES, write_report

CALIBRATION = {"threshold": 0.5, "temperature": 1.0, "class_bias": [0.0, 0.0], "target_sensitivity": 0.95}


def _two_class_report(tmp_path, benign: int, malignant: int, caught: int):
    """A benign/malignant model's report on ``benign`` + ``malignant`` images, ``caught`` cancers flagged."""
    y = np.array([0] * benign + [1] * malignant)
    risk = np.r_[np.linspace(0.05, 0.45, benign), np.linspace(0.9, 0.6, caught), np.full(malignant - caught, 0.2)]
    probs = np.stack([1 - risk, risk], axis=1)
    groups = [f"lesion{i}" for i in range(len(y))]
    return write_report(tmp_path, y=y, probs=probs, uncalibrated=probs, groups=groups, sources=["a"] * len(y),
                        class_ids=["benign", "malignant"], malignant=[False, True], calibration=CALIBRATION,
                        bootstrap=20)


def test_few_cancers_are_flagged_with_their_interval(tmp_path):
    """9 test images, 5 of them cancers (3 caught): every proportion rests on fewer than 30 images."""
    report = _two_class_report(tmp_path, benign=4, malignant=5, caught=3)
    test = report["test"]
    few = {f["key"]: f for f in test["few_cases"]}
    assert test["few_cases_min"] == FEW_CASES == 30
    assert set(few) == {"per_class.benign.sensitivity", "per_class.benign.specificity",
                        "per_class.malignant.sensitivity", "per_class.malignant.specificity",
                        "malignant.sensitivity", "malignant.specificity"}
    sensitivity = few["malignant.sensitivity"]
    assert (sensitivity["k"], sensitivity["n"], sensitivity["value"]) == (3, 5, pytest.approx(0.6))
    assert sensitivity["interval_95"] == pytest.approx(list(wilson_interval(3, 5)))
    assert sensitivity["interval_95"] == pytest.approx([0.231, 0.882], abs=1e-3)  # Wilson, by hand
    assert few["malignant.specificity"]["k"] == 4 and few["malignant.specificity"]["n"] == 4
    assert json.loads((tmp_path / "report.json").read_text())["test"]["few_cases"] == test["few_cases"]
    md = (tmp_path / "report.md").read_text()
    assert "## ⚠ Few cases" in md
    assert "| malignant sensitivity at the threshold | 0.600 | 3 of 5 | [0.231, 0.882] |" in md
    assert "| 0.600 ⚠ |" in md  # the headline row is marked too
    # The majority class is named from the data, not assumed to be HAM10000's nv.
    assert "dominated by malignant, 56% of the images" in md and "nv" not in md


def test_enough_cases_carry_no_warning(tmp_path):
    report = _two_class_report(tmp_path, benign=60, malignant=40, caught=38)
    assert report["test"]["few_cases"] == []
    md = (tmp_path / "report.md").read_text()
    assert "Few cases" not in md and "⚠" not in md
    assert "dominated by benign, 60% of the images" in md
