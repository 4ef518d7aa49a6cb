"""The model card page (web/model-card.html) shows what metadata.json says, and nothing it does not:
training data and licence, the test metrics with their intervals, the concern threshold's figures,
the out-of-scope thresholds, limitations and intended use.

    python -m pytest tests/browser/test_model_card.py -q
"""

import pytest

from browser_helpers import web_with_metadata

pytestmark = pytest.mark.browser


def _percent(value):
    return f"{value * 100:.1f}%"


def _open(page, url):
    page.goto(f"{url}model-card.html")
    page.wait_for_selector("#card-status:not([data-state=loading])")
    assert page.get_attribute("#card-status", "data-state") == "ready", page.inner_text("#card-status")
    return page.inner_text("main")


def test_model_card_shows_the_metadata(page, pages_url, metadata):
    text = _open(page, pages_url)
    assert metadata["model"]["version"] in text
    for value in metadata["licence"].values():
        assert value in text
    assert "Intended use" in text and "Limitations" in text
    # Who the data shows comes from metadata.dataset; a metadata.json written before that block says less.
    sources = metadata.get("datasets") or [metadata.get("dataset") or {}]
    for source in sources:
        assert (f"{source['name']} holds {source['population']}" if source.get("population")
                else "shown to work on images unlike it") in text
    test = metadata["metrics"].get("test")
    if test:
        assert f"{test['n']:,} images" in text
        assert _percent(test["balanced_accuracy"]) in text
        interval = test.get("intervals_95", {}).get("balanced_accuracy")
        if interval:
            assert f"95% interval {_percent(interval[0])}–{_percent(interval[1])}" in text
        assert page.locator("#class-metrics tbody tr").count() == len(test["per_class"])
    screening = metadata.get("screening")
    if screening:
        assert f"A score of {_percent(screening['threshold'])} or more is “higher concern”" in text
        assert _percent(screening["validation"]["sensitivity"]) in page.inner_text("#screening-metrics")


def test_model_card_without_optional_blocks(page, web_root, serve_web, tmp_path):
    def strip(metadata):
        for key in ("screening", "scope"):
            metadata.pop(key, None)
        metadata["metrics"] = {}
        return metadata

    text = _open(page, serve_web(web_with_metadata(web_root, tmp_path / "web", strip)))
    assert "no test metrics" in text and "no validated threshold" in text
    assert "no measured out-of-scope thresholds" in text


def test_model_card_names_the_models_own_data(page, web_root, serve_web, tmp_path):
    """A model trained on other data (metadata.dataset, from the run's provenance) is described as such:
    its name, citation and licence, and no word of HAM10000's population."""
    def other_data(metadata):
        metadata["dataset"] = {"name": "Clinic X 2025", "citation": "Doe J., Clinic X photos (2025).",
                               "licence": "CC BY 4.0", "url": None, "licence_url": None,
                               "population": "phone photos of 200 patients of one clinic"}
        metadata["datasets"] = [metadata["dataset"]]
        metadata["licence"] = {**metadata["licence"], "model": "CC BY 4.0 (derived from Clinic X 2025)",
                               "data": "Clinic X 2025: Doe J., Clinic X photos (2025). CC BY 4.0."}
        return metadata

    text = _open(page, serve_web(web_with_metadata(web_root, tmp_path / "web", other_data)))
    facts = page.inner_text("#training-facts")
    assert "Clinic X 2025" in facts and "Doe J., Clinic X photos (2025)." in facts
    assert page.inner_text("#data-limit").startswith("Clinic X 2025 holds phone photos of 200 patients of one clinic.")
    assert "HAM10000" not in text and "light-skinned" not in text


def test_model_card_shows_scope_thresholds_and_measurements(page, web_root, serve_web, tmp_path):
    def add_scope(metadata):
        metadata["scope"] = {"distance_threshold": 3.25, "blur_threshold": 41.5, "confidence_threshold": 0.4,
                             "min_side": 180, "measured": {"distance_auc": 0.913, "n_out_of_scope": 120},
                             "validation_flag_rate": {"distance": 0.0198, "blur": 0.0202, "confidence": 0.113}}
        return metadata

    text = _open(page, serve_web(web_with_metadata(web_root, tmp_path / "web", add_scope)))
    facts = page.inner_text("#scope-facts")
    for expected in ("Feature distance threshold", "3.25", "41.5", "40.0%", "180 px", "measured: distance auc",
                     "0.913", "120", "validation flag rate: distance", "2.0%", "validation flag rate: confidence",
                     "11.3%"):
        assert expected in facts
    assert "feature distance" in text and "blurred" in text


def test_model_card_warns_of_figures_resting_on_few_cases(page, web_root, serve_web, tmp_path, metadata):
    """The report's few_cases (copied into metadata by the converter) show as a warning with each figure's
    count and interval, and mark the figures in the tables; a model without them shows none."""
    def few(metadata):
        metadata["metrics"]["test"]["few_cases_min"] = 30
        metadata["metrics"]["test"]["few_cases"] = [
            {"key": "per_class.df.sensitivity", "label": "df sensitivity", "value": 0.8, "k": 24, "n": 29,
             "interval_95": [0.65, 0.9]},
            {"key": "malignant.sensitivity", "label": "malignant sensitivity at the threshold", "value": 0.6,
             "k": 3, "n": 5, "interval_95": [0.231, 0.882]}]
        return metadata

    _open(page, serve_web(web_with_metadata(web_root, tmp_path / "web", few)))
    warning = page.locator("#few-cases")
    assert warning.is_visible()
    text = warning.inner_text()
    assert "fewer than 30 test images" in text
    assert "malignant sensitivity at the threshold: 60.0% (95% interval 23.1%–88.2%), 3 of 5 images" in text
    assert "df sensitivity: 80.0% (95% interval 65.0%–90.0%), 24 of 29 images" in text
    rows = page.locator("#class-metrics tbody tr")
    order = list(metadata["metrics"]["test"]["per_class"])
    assert "⚠ few cases" in rows.nth(order.index("df")).inner_text()
    assert "⚠" not in rows.nth(order.index("bcc")).inner_text()
    test_row = page.locator("#screening-metrics tbody tr", has_text="Test").inner_text()
    shipped = metadata["screening"]["test"]["sensitivity"]
    assert f"{shipped * 100:.1f}% (95% interval" in test_row and "⚠ few cases" in test_row


def test_model_card_without_few_cases_shows_no_warning(page, web_root, serve_web, tmp_path):
    def none(metadata):
        metadata["metrics"]["test"]["few_cases"] = []
        return metadata

    _open(page, serve_web(web_with_metadata(web_root, tmp_path / "web", none)))
    assert page.locator("#few-cases").is_hidden() and "⚠" not in page.inner_text("main")


def test_model_card_shows_each_kind_of_picture_and_each_source(page, web_root, serve_web, tmp_path, metadata):
    """A model that tells dermoscopic close-ups from phone photos gets a row per kind (its threshold and its
    test figures with intervals) and a note where a kind's threshold rests on few cancers; each data source
    is named with its population."""
    if not metadata.get("screening"):
        pytest.skip("metadata.json has no screening block")
    test = {"n": 79, "n_groups": 60, "n_malignant": 44, "n_benign": 35, "answered": 0.9367,
            "sensitivity": 0.9318, "sensitivity_wilson_95": [0.8176, 0.9765], "specificity": 0.4286,
            "malignant_auc": 0.8123, "balanced_accuracy": 0.5121, "judged_as": {"dermoscopic": 0.05, "photo": 0.95},
            "intervals_95": {"malignant_auc": [0.7001, 0.9002]}}

    def two_kinds(m):
        s = m["screening"]
        m["picture_kinds"] = [{"id": "dermoscopic", "name": "dermoscopic close-up"},
                              {"id": "photo", "name": "ordinary photo"}]
        m["picture_kind_photo_from"] = 0.5
        s["by_kind"] = {"dermoscopic": {"threshold": s["threshold"], "few_cancers": False, "n_validation_cancers": 400,
                                        "risk_bins": s["risk_bins"], "validation": s["validation"], "test": None},
                        "photo": {"threshold": 0.1234, "few_cancers": True, "n_validation_cancers": 12,
                                  "risk_bins": s["risk_bins"], "validation": s["validation"], "test": test}}
        m["datasets"] = [{"name": "Derm A", "population": "dermoscopy from Austria"},
                         {"name": "Phones B", "population": "phone photos from Brazil"}]
        return m

    text = _open(page, serve_web(web_with_metadata(web_root, tmp_path / "web", two_kinds)))
    rows = page.locator("#kind-metrics tbody tr")
    assert rows.count() == 2
    photo = rows.nth(1).inner_text()
    assert photo.startswith("ordinary photo") and "0.123" in photo and "79 (60 people or lesions)" in photo
    assert "93.2% (95% interval 81.8%–97.7%)" in photo and "93.7%" in photo and "44 / 35" in photo
    assert "0.812 (95% interval 0.7–0.9)" in photo
    assert "only 12 validation cancers" in page.inner_text("#kinds-notes")
    assert "95.0% of the test ordinary photos were judged to be one" in page.inner_text("#kinds-notes")
    assert page.inner_text("#data-limit").startswith("Derm A holds dermoscopy from Austria; Phones B holds phone photos")
    assert "Each kind of picture" in text


def test_model_card_says_the_model_was_distilled_and_what_it_cost(page, web_root, serve_web, tmp_path):
    """training.distil (trainer/distil.py's comparison, copied by the converter) shows as a fact with the
    one-view model's validation figures beside the 8-view model's; a model without it shows none."""
    def distilled(metadata):
        metadata["model"]["views"] = 1
        metadata["training"]["distil"] = {
            "epochs": 3, "within_tolerance": True,
            "teacher_8_views": {"all": {"balanced_accuracy": 0.7334, "malignant_auc": 0.9091}},
            "student_1_view": {"all": {"balanced_accuracy": 0.7312, "malignant_auc": 0.9106}}}
        return metadata

    def not_distilled(metadata):
        metadata["training"].pop("distil", None)
        return metadata

    _open(page, serve_web(web_with_metadata(web_root, tmp_path / "web", distilled)))
    facts = page.inner_text("#training-facts")
    assert ("3 epochs training this one-view model towards the answers of the same model in 8 views; on "
            "validation, balanced accuracy 0.731 against 0.733, malignant AUC 0.911 against 0.909") in facts
    assert "Views per photo" not in facts
    _open(page, serve_web(web_with_metadata(web_root, tmp_path / "web2", not_distilled)))
    assert "Distillation" not in page.inner_text("#training-facts")
