"""trainer train -> run folder -> converter -> web model, on a tiny model and synthetic data."""

import csv
import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from converter.convert import convert
from trainer.cli import main as trainer_main
from trainer.images import prepare
from trainer.predict import Predictor

# One xdist process runs all the tests that train (pyproject: --dist loadgroup): two trainings at once on
# 2 cores each took half the machine from the other's, and the suite's time varied from 12 to 15 min.
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("training")]


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
    from trainer.data import read_split

    records, _ = read_split(tiny_run / "split.csv")  # split after the unreadable files were found
    assert not {r.path for r in records} & set(skipped)


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
    """``trainer predict`` (the exported SavedModel, each photo with its own age, sex and site) gives the
    probabilities training's model gave for the report (predictions_test.csv)."""
    from trainer.data import read_split

    records, splits = read_split(tiny_run / "split.csv")
    test = [r for r, s in zip(records, splits) if s == "test"][:8]
    with (tiny_run / "predictions_test.csv").open() as f:
        rows = {row["image_id"]: row for row in csv.DictReader(f)}
    predictor = Predictor(tiny_run)
    head = np.array([[float(rows[r.image_id][c]) for c in predictor.class_ids] for r in test])
    probs = np.array([predictor.predict_files([r.path], {"age": r.age, "sex": r.sex, "site": r.site})[0][1]
                      for r in test])
    np.testing.assert_allclose(probs, head, atol=2e-5)  # the report's graph-vs-head check allows 1e-4
    assert np.ptp(probs, axis=0).max() > 1e-3  # not the same answer for every image


def test_convert_writes_the_contract(tiny_run, tiny_web):
    from converter.contract import check_metadata

    meta = json.loads((tiny_web / "model" / "metadata.json").read_text())
    assert meta["schema_version"] == 1
    check_metadata(meta)  # what the converter writes, the page and predict accept
    assert [c["id"] for c in meta["classes"]] == ["akiec", "bcc", "bkl", "df", "mel", "nv", "vasc"]
    assert {c["id"] for c in meta["classes"] if c["malignant"]} == {"akiec", "bcc", "mel"}
    assert meta["input"]["height"] == meta["input"]["width"] == 96
    for name, digest in meta["model"]["files"].items():
        assert hashlib.sha256((tiny_web / "model" / name).read_bytes()).hexdigest() == digest
    model_json = json.loads((tiny_web / "model" / "model.json").read_text())
    assert meta["outputs"] == {key: out["name"] for key, out in model_json["signature"]["outputs"].items()}
    assert set(meta["outputs"]) == {"probabilities", "logits", "cam", "feature_distance", "out_of_scope", "picture_kind"}
    # Trained on dermoscopy alone: its picture_kind output is left unfitted and the page is told of no kinds.
    assert meta["picture_kinds"] is None and meta["screening"]["by_kind"] is None
    # The detector was fitted (against the built-in synthetic pictures): its threshold lets the chosen
    # share of validation lesions through, and the confidence check is off.
    assert set(meta["scope"]) >= {"out_of_scope_threshold", "distance_threshold", "blur_threshold", "min_side"}
    assert meta["scope"]["confidence_threshold"] is None and 0 < meta["scope"]["out_of_scope_threshold"] < 1
    # float32: the converted graph run by TensorFlow gives what the SavedModel gives, up to the
    # rounding of BatchNorm folded into the convolutions, which the tiny model's low temperature
    # (about 0.25) amplifies: measured 7e-6 here and 2.6e-5 on a CI machine, so 1e-4, the bound the
    # report's own graph-vs-head check uses.
    for predictor, tolerance in ((Predictor(tiny_web / "model"), 1e-7), (Predictor(tiny_run), 1e-4)):
        for case in meta["golden"]:
            (_, probs, _), = predictor.predict_files([str(tiny_web / case["file"])], case.get("clinical"))
            np.testing.assert_allclose(case["probabilities"], probs, atol=tolerance)
    # Every output under its own name: tensorflowjs leaves outputs that share a shape (logits and
    # probabilities; feature_distance and out_of_scope) unnamed, and converter.convert.name_outputs
    # matches them by their numbers.
    probe = prepare(Path(__file__).parent / "fixtures" / "images" / "ISIC_0024306.jpg", 96, 96)[None]
    web, saved = Predictor(tiny_web / "model").outputs(probe), Predictor(tiny_run).outputs(probe)
    assert set(web) == set(saved)
    for key in saved:
        np.testing.assert_allclose(web[key], saved[key], rtol=1e-3, atol=1e-4, err_msg=key)
    # The tiny model takes clinical metadata: one golden case has it, and it changes the answer.
    spec = meta["clinical"]
    assert spec["name"] == model_json["signature"]["inputs"]["clinical"]["name"] and spec["size"] == 20
    assert [f["name"] for f in spec["fields"]] == ["age", "sex", "site"] and spec["scale"] > 0
    with_answers = [c for c in meta["golden"] if c.get("clinical")]
    assert len(with_answers) == 1 and len(meta["golden"]) == 3
    plain = next(c for c in meta["golden"] if c["file"] == with_answers[0]["file"] and not c.get("clinical"))
    assert np.abs(np.subtract(plain["probabilities"], with_answers[0]["probabilities"])).max() > 1e-3
    assert meta["model"]["quantization_max_abs_diff"] < 1e-4  # float32: BatchNorm folding only (see above)
    # The report's few-case flags reach the model card (a tiny test split: some figures rest on few images).
    report = json.loads((tiny_run / "report.json").read_text())
    assert meta["metrics"]["test"]["few_cases"] == report["test"]["few_cases"] != []
    assert meta["metrics"]["test"]["few_cases_min"] == 30
    # What a score means: validation images by score range, split at each threshold, every one counted once.
    screening = meta["screening"]
    for block in (screening, screening["without_clinical"]):
        bins, validation = block["risk_bins"], block["validation"]
        assert sum(b["n"] for b in bins) == validation["n_malignant"] + validation["n_benign"]
        assert sum(b["malignant"] for b in bins) == validation["n_malignant"]
        assert block["threshold"] in [b["from"] for b in bins] and bins[-1]["to"] == 1.0


def test_convert_quantized_golden_cases_come_from_the_quantized_graph(tiny_run, tmp_path):
    image = Path(__file__).parent / "fixtures" / "images" / "ISIC_0024310.jpg"
    meta = convert(tiny_run, tmp_path / "model", "float16", [image])
    (_, probs, _), = Predictor(tmp_path / "model").predict_files([str(image)])
    np.testing.assert_allclose(meta["golden"][0]["probabilities"], probs, atol=1e-7)
    assert meta["model"]["quantization_max_abs_diff"] > 0
    assert meta["model"]["quantization"] == "float16"
    model_json = json.loads((tmp_path / "model" / "model.json").read_text())
    dtypes = {w["quantization"]["dtype"] for g in model_json["weightsManifest"] for w in g["weights"]
              if "quantization" in w}
    assert dtypes == {"float16"}


def test_predict_cli_prints_and_writes_csv(tiny_run, tmp_path, capsys, monkeypatch):
    """Unreadable paths (not an image, a folder) are reported and the rest go on; the exit code says some
    failed; file names a spreadsheet would run as formulas are defused in the CSV."""
    image = Path(__file__).parent / "fixtures" / "images" / "ISIC_0024306.jpg"
    bad = Path(__file__).parent / "fixtures" / "images" / "not_an_image.jpg"
    monkeypatch.chdir(tmp_path)
    Path("=HYPERLINK(1).jpg").write_bytes(image.read_bytes())
    Path("a folder").mkdir()
    out = tmp_path / "out.csv"
    assert trainer_main(["predict", str(tiny_run), str(image), str(bad), "a folder", "=HYPERLINK(1).jpg",
                         "--csv", str(out)]) == 1
    captured = capsys.readouterr()
    assert "ISIC_0024306.jpg" in captured.out and "not an image" in captured.err
    assert "a folder, not an image file" in captured.err and "2 of 4 file(s) could not be read" in captured.err
    with out.open() as f:
        rows = list(csv.DictReader(f))
    assert rows[0]["top_class"] and rows[1]["error"] and rows[2]["error"] and rows[3]["top_class"]
    assert rows[3]["file"] == "'=HYPERLINK(1).jpg"


@pytest.mark.parametrize("damage", ["flipped-weight", "missing-shard", "truncated-shard", "bad-model-json",
                                    "edited-metadata"])
def test_predict_refuses_a_damaged_web_model_in_one_line(tiny_web, tmp_path, capsys, damage):
    """As the browser does: a web model whose files do not match metadata.json (or whose metadata.json
    does not match its version) is refused with one line and exit code 2, no traceback."""
    import shutil

    model = tmp_path / "model"
    shutil.copytree(tiny_web / "model", model)
    shard = sorted(model.glob("*.bin"))[0]
    if damage == "flipped-weight":
        data = bytearray(shard.read_bytes())
        data[3] ^= 0x80  # the sign bit of the first float32 weight (little-endian)
        shard.write_bytes(bytes(data))
    elif damage == "missing-shard":
        shard.unlink()
    elif damage == "truncated-shard":
        shard.write_bytes(shard.read_bytes()[:100])
    elif damage == "bad-model-json":
        (model / "model.json").write_text("{not json")
    else:
        meta = json.loads((model / "metadata.json").read_text())
        meta["classes"][4]["name"] = "Harmless freckle"
        (model / "metadata.json").write_text(json.dumps(meta))
    image = Path(__file__).parent / "fixtures" / "images" / "ISIC_0024306.jpg"
    assert trainer_main(["predict", str(model), str(image)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"error: {model}"), err
    expected = {"flipped-weight": "is corrupt or altered", "missing-shard": "is missing",
                "truncated-shard": "is corrupt or altered", "bad-model-json": "model.json is corrupt or altered",
                "edited-metadata": "it was changed after conversion"}[damage]
    assert expected in err[0]


def test_evaluate_rescores_the_test_split_and_other_data(tiny_run, tmp_path):
    from PIL import Image

    from trainer.evaluate import evaluate

    written = (tiny_run / "report.json").read_text()
    before = json.loads(written)
    again = evaluate(tiny_run, bootstrap=50, out=tmp_path / "again")
    # One scoring path: the exported SavedModel, rescored, gives every figure training wrote (same images,
    # same calibration); only the Keras model's and the SavedModel's float rounding may differ.
    for key in ("n", "accuracy", "balanced_accuracy", "macro_auc", "macro_f1", "ece", "ece_before_temperature",
                "balanced_accuracy_most_probable", "malignant"):
        assert again["test"][key] == pytest.approx(before["test"][key], abs=1e-6), key
    for key, interval in before["test"]["intervals_95"].items():
        assert again["test"]["intervals_95"][key] == pytest.approx(interval, abs=1e-6), key
    assert again["test"]["confusion"] == before["test"]["confusion"]
    assert [(f["key"], f["k"], f["n"]) for f in again["test"]["few_cases"]] == \
        [(f["key"], f["k"], f["n"]) for f in before["test"]["few_cases"]] != []  # a tiny test split: few cases
    assert again["imbalance"] == before["imbalance"]  # training-only facts are kept
    # --out leaves the run folder as it was and writes the report and predictions there instead.
    assert (tiny_run / "report.json").read_text() == written
    written_again = {p.name for p in (tmp_path / "again").iterdir()}
    assert {"report.json", "report.md", "predictions_test.csv", "plots"} <= written_again
    with (tiny_run / "predictions_test.csv").open() as a, (tmp_path / "again" / "predictions_test.csv").open() as b:
        trained, rescored = list(csv.DictReader(a)), list(csv.DictReader(b))
    assert [r["image_id"] for r in trained] == [r["image_id"] for r in rescored]
    np.testing.assert_allclose([[float(r[c]) for c in before["classes"]] for r in rescored],
                               [[float(r[c]) for c in before["classes"]] for r in trained], atol=2e-5)

    masks = tmp_path / "masks"
    masks.mkdir()
    data = Path(json.loads((tiny_run / "config.json").read_text())["data"][0])
    for image in (data / "HAM10000_images").glob("ISIC_mel*.jpg"):
        mask = np.zeros((60, 80), np.uint8)
        mask[15:45, 25:55] = 255  # the synthetic lesions sit in the middle
        Image.fromarray(mask).save(masks / f"{image.stem}_segmentation.png")
    other = evaluate(tiny_run, [str(data)], masks=str(masks), bootstrap=50)
    assert other["evaluated"]["n"] == 128 and (tiny_run / f"report_{data.name}.md").is_file()
    cam = other["cam_on_lesion"]
    assert cam["n"] == 32 and 0 <= cam["share_of_map_on_lesion"] <= 1
    assert cam["share_of_image_that_is_lesion"] == pytest.approx(30 * 30 / (60 * 80))


def test_cross_validation_reports_mean_and_sd(tiny_inputs, tmp_path):
    from tiny_model import tiny_config

    from trainer.crossval import cross_validate

    # No clinical branch, one imbalance remedy, one view: the folds are what is tested here, and each of the
    # three trains the whole pipeline.
    data, weights = tiny_inputs
    config = tiny_config([data], weights=str(weights), fine_tune_epochs=0, folds=3, clinical=False, imbalance="class_weight", tta_views=1)
    summary = cross_validate(config, tmp_path / "cv")
    assert len(summary["per_fold"]["balanced_accuracy"]) == 3 and summary["sd"]["macro_auc"] >= 0
    assert (tmp_path / "cv" / "cv_report.md").is_file() and (tmp_path / "cv" / "fold_3" / "report.json").is_file()
    assert not (tmp_path / "cv" / "fold_1" / "features").exists()  # one shared feature cache
    # A fold estimates: its weights are kept (trainer.export.rebuild remakes its model), no SavedModel.
    assert (tmp_path / "cv" / "fold_1" / "model.weights.h5").is_file()
    assert not (tmp_path / "cv" / "fold_1" / "saved_model").exists()


def test_folders_of_any_names_train_and_convert_with_their_own_classes(tiny_inputs, tmp_path):
    """keratosis/, melanoma/, mole/ (no built-in scheme's names), --malignant melanoma and the data's name and
    licence given by flag: train (CLI) -> convert -> metadata.json with those classes, that one malignant
    class as the screening risk, and that provenance in place of HAM10000's."""
    from tiny_model import make_class_folders

    data = make_class_folders(tmp_path / "clinic", {"mole": (120, 80, 50), "melanoma": (40, 30, 40),
                                                    "keratosis": (160, 130, 90)})
    weights = tiny_inputs[1]  # the BatchNorm-calibrated backbone, the same shape
    run = tmp_path / "run"
    assert trainer_main(["train", "--data", str(data), "--malignant", "melanoma", "--dataset-name", "Clinic X",
                         "--dataset-licence", "CC BY 4.0", "--weights", str(weights), "--image-size", "96",
                         "--alpha", "0.35", "--head-epochs", "2", "--batch-size", "16", "--tta-views", "1", "--imbalance", "class_weight",
                         "--bootstrap", "50", "--out", str(run)]) == 0
    meta = convert(run, tmp_path / "web" / "model", "none",
                   [Path(__file__).parent / "fixtures" / "images" / "ISIC_0024306.jpg"])
    assert meta["label_scheme"] == "folders"
    assert [(c["id"], c["name"], c["malignant"]) for c in meta["classes"]] == [
        ("keratosis", "keratosis", False), ("melanoma", "melanoma", True), ("mole", "mole", False)]
    assert meta["screening"]["malignant_classes"] == ["melanoma"] and len(meta["golden"][0]["probabilities"]) == 3
    assert meta["dataset"]["name"] == "Clinic X" and meta["licence"]["model"] == "CC BY 4.0 (derived from Clinic X)"
    assert "HAM10000" not in json.dumps({k: meta[k] for k in ("dataset", "licence", "classes")})
    (_, probs, _), = Predictor(tmp_path / "web" / "model").predict_files([str(next((data / "melanoma").iterdir()))])
    assert probs.shape == (3,)
