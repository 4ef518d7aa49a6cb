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
    population = (metadata.get("dataset") or {}).get("population")
    assert (population or "shown to work on images unlike it") in text
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
    assert "93.4% (95% interval" in test_row and "⚠ few cases" in test_row


def test_model_card_without_few_cases_shows_no_warning(page, pages_url):
    _open(page, pages_url)
    assert page.locator("#few-cases").is_hidden() and "⚠" not in page.inner_text("main")
