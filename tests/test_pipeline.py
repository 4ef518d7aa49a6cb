"""trainer train -> run folder -> converter -> web model, on a tiny model and synthetic data."""

import csv
import hashlib
import json

import numpy as np
import pytest

from converter.convert import convert
from trainer.cli import main as trainer_main
from trainer.predict import Predictor

pytestmark = pytest.mark.slow


def test_run_folder_has_everything(tiny_run):
    for name in ("config.json", "split.csv", "skipped.csv", "stage1.weights.h5", "history_stage1_balanced.csv",
                 "history_stage2.csv", "stage2_best.weights.h5", "calibration.json", "predictions_test.csv",
                 "report.json", "report.md", "plots/confusion.png", "plots/roc.png", "plots/reliability.png"):
        assert (tiny_run / name).is_file(), name
    assert (tiny_run / "saved_model" / "saved_model.pb").is_file()


def test_bad_and_missing_files_are_skipped_and_reported(tiny_run):
    with (tiny_run / "skipped.csv").open() as f:
        skipped = {row["file"]: row["reason"] for row in csv.DictReader(f)}
    assert any("ISIC_gone" in k for k in skipped)
    assert any("ISIC_broken" in k and "not an image" in v for k, v in skipped.items())


def test_report_has_honest_metrics(tiny_run):
    report = json.loads((tiny_run / "report.json").read_text())
    test = report["test"]
    for key in ("balanced_accuracy", "macro_auc", "macro_f1", "ece", "per_class", "confusion", "intervals_95"):
        assert key in test
    lo, hi = test["intervals_95"]["balanced_accuracy"]
    assert lo <= test["balanced_accuracy"] <= hi
    assert report["imbalance"]["chosen"] in ("class_weight", "balanced")
    assert set(test["per_class"]["mel"]) >= {"sensitivity", "specificity", "auc", "support"}


def test_predictor_matches_head_probabilities_on_the_test_split(tiny_run):
    predictor = Predictor(tiny_run)
    with (tiny_run / "split.csv").open() as f:
        paths = [row["path"] for row in csv.DictReader(f) if row["split"] == "test"][:4]
    results = predictor.predict_files(paths)
    probs = np.array([p for _, p, _ in results])
    np.testing.assert_allclose(probs.sum(axis=1), 1, atol=1e-5)
    assert np.ptp(probs, axis=0).max() > 1e-3  # not the same answer for every image


def test_convert_writes_the_contract(tiny_run, tiny_web):
    meta = json.loads((tiny_web / "model" / "metadata.json").read_text())
    assert meta["schema_version"] == 1
    assert [c["id"] for c in meta["classes"]] == ["akiec", "bcc", "bkl", "df", "mel", "nv", "vasc"]
    assert {c["id"] for c in meta["classes"] if c["malignant"]} == {"akiec", "bcc", "mel"}
    assert meta["input"]["height"] == meta["input"]["width"] == 96
    for name, digest in meta["model"]["files"].items():
        assert hashlib.sha256((tiny_web / "model" / name).read_bytes()).hexdigest() == digest
    model_json = json.loads((tiny_web / "model" / "model.json").read_text())
    assert meta["outputs"] == {key: out["name"] for key, out in model_json["signature"]["outputs"].items()}
    assert set(meta["outputs"]) == {"probabilities", "cam"}
    predictor = Predictor(tiny_run)
    for case in meta["golden"]:
        (_, probs, _), = predictor.predict_files([str(tiny_web / case["file"])])
        np.testing.assert_allclose(case["probabilities"], probs, atol=1e-6)


def test_convert_quantized_is_smaller(tiny_run, tmp_path):
    meta = convert(tiny_run, tmp_path / "model", "float16")
    assert meta["model"]["quantization"] == "float16"
    model_json = json.loads((tmp_path / "model" / "model.json").read_text())
    dtypes = {w["quantization"]["dtype"] for g in model_json["weightsManifest"] for w in g["weights"]
              if "quantization" in w}
    assert dtypes == {"float16"}


def test_predict_cli_prints_and_writes_csv(tiny_run, tmp_path, capsys):
    from pathlib import Path

    image = Path(__file__).parent / "fixtures" / "images" / "ISIC_0024306.jpg"
    bad = Path(__file__).parent / "fixtures" / "images" / "not_an_image.jpg"
    out = tmp_path / "out.csv"
    assert trainer_main(["predict", str(tiny_run), str(image), str(bad), "--csv", str(out)]) == 0
    captured = capsys.readouterr()
    assert "ISIC_0024306.jpg" in captured.out and "not an image" in captured.err
    with out.open() as f:
        rows = list(csv.DictReader(f))
    assert rows[0]["top_class"] and rows[1]["error"]
