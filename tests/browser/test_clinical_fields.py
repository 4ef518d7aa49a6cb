"""Age, sex and body site in the page: optional fields built from metadata.json, used for a whole batch,
said on each card, checked before use, and kept nowhere (no storage, no request, gone on reload).

Runs on the tiny test model (tests/conftest.py), which takes clinical metadata like the shipped one.
"""

import math
from urllib.parse import urlsplit

import numpy as np
import pytest
from browser_helpers import (FILE_TOLERANCE, FIXTURES, choose, fill_clinical, open_app, probabilities, unfold_cards,
                             web_with_metadata)

from trainer import clinical
from trainer.predict import Predictor

pytestmark = pytest.mark.browser

PHOTO = FIXTURES / "ISIC_0024306.jpg"
OTHER = FIXTURES / "ISIC_0024310.jpg"


def of_every_100(fraction):
    """card.js's Math.round(fraction * 100): halves round up (Python's round() would round 62.5 to 62)."""
    return math.floor(fraction * 100 + 0.5)


def test_fields_are_optional_and_empty(page, tiny_url, tiny_root):
    open_app(page, tiny_url)
    assert page.is_visible("#clinical") and "(optional)" in page.inner_text("#clinical legend")
    assert page.input_value("#clinical-age") == "" and page.input_value("#clinical-sex") == ""
    sites = page.eval_on_selector_all("#clinical-site option", "options => options.map((o) => o.value)")
    assert sites == ["", *clinical.SITES]  # from metadata.json: "not given" and every site the model knows
    assert page.get_attribute("#clinical-age", "autocomplete") == "off"
    [result] = choose(page, [PHOTO])
    assert result["clinicalUsed"] == []
    card = page.inner_text(".result")
    assert "Age, sex and body site were not given: this answer is from the photo alone." in card
    (_, expected, _), = Predictor(tiny_root / "model").predict_files([str(PHOTO)])
    np.testing.assert_allclose(probabilities(result), expected, atol=FILE_TOLERANCE)


def test_answers_are_used_for_the_whole_batch_and_said_on_each_card(page, tiny_url, tiny_root):
    open_app(page, tiny_url)
    fill_clinical(page, age=70, sex="male", site="face")
    results = choose(page, [PHOTO, OTHER])
    assert [r["clinicalUsed"] for r in results] == [["age", "sex", "site"]] * 2
    predictor = Predictor(tiny_root / "model")
    answers = {"age": 70, "sex": "male", "site": "face"}
    for result, (_, expected, _) in zip(results, predictor.predict_files([str(PHOTO), str(OTHER)], answers)):
        np.testing.assert_allclose(probabilities(result), expected, atol=FILE_TOLERANCE)
    (_, photo_alone, _), = predictor.predict_files([str(PHOTO)])
    assert np.abs(np.subtract(probabilities(results[0]), photo_alone)).max() > 1e-3
    unfold_cards(page)
    for card in page.query_selector_all(".result"):
        assert "This answer used the photo and age 70 years, sex male, body site face." in card.inner_text()
    # One field only: the card says which.
    fill_clinical(page, site="back")
    [result] = choose(page, [PHOTO])
    assert result["clinicalUsed"] == ["site"]
    assert "This answer used the photo and body site back." in page.inner_text(".result")


@pytest.mark.parametrize("age", ["150", "-3"])
def test_an_impossible_age_is_refused_with_a_message(page, tiny_url, age):
    open_app(page, tiny_url)
    page.fill("#clinical-age", age)
    page.set_input_files("#files", [PHOTO])
    page.wait_for_selector("#clinical-error:not([hidden])")
    assert "Age: please enter a number from 0 to 120, or leave it blank." in page.inner_text("#clinical-error")
    assert page.inner_text("#status").startswith("Not classified:")
    assert page.query_selector_all(".result") == []
    page.fill("#clinical-age", "40")  # corrected, it goes through
    [result] = choose(page, [PHOTO])
    assert result["clinicalUsed"] == ["age"] and page.is_hidden("#clinical-error")


def test_answers_are_kept_nowhere(page, tiny_url):
    requests = []
    page.on("request", lambda request: requests.append(request))
    open_app(page, tiny_url)
    fill_clinical(page, age=63, sex="female", site="scalp")
    choose(page, [PHOTO])
    assert page.evaluate("localStorage.length + sessionStorage.length") == 0
    assert page.evaluate("document.cookie") == ""
    sent = [(r.method, r.url, r.post_data) for r in requests]
    assert all(method == "GET" and post is None for method, _, post in sent), sent
    # Path and query only: the server's random port may itself contain "63".
    asked = [f"{urlsplit(url).path}?{urlsplit(url).query}" for _, url, _ in sent]
    assert not [part for part in asked if "63" in part or "scalp" in part or "female" in part]
    page.reload()
    page.wait_for_selector("#status:not([data-state=loading])")
    assert page.input_value("#clinical-age") == "" and page.input_value("#clinical-site") == ""


def test_the_browser_does_not_send_the_fields_to_its_autofill_service(browser, app_url, tmp_path):
    """Chromium's autofill sends a signature of each form on a page to its own service, a request that only
    Chromium's net-log shows (Playwright's request events do not); autocomplete="off" does not stop it.
    index.html keeps the clinical fields out of it; Enter in the age field does not submit their form
    (checked_page: no CSP violation, no console error)."""
    import os
    import re

    from browser_helpers import checked_page

    log = tmp_path / "net-log.json"
    args = [f"--log-net-log={log}"] + (["--no-sandbox"] if os.geteuid() == 0 else [])
    executable = os.environ.get("SKINLENS_CHROMIUM") or ("/usr/bin/chromium" if os.path.exists("/usr/bin/chromium")
                                                          else None)
    logged_browser = browser.browser_type.launch(executable_path=executable, args=args)
    try:
        with checked_page(logged_browser) as page:
            open_app(page, app_url)
            assert page.is_visible("#clinical-age")
            fill_clinical(page, age=63, sex="female", site="scalp")
            page.press("#clinical-age", "Enter")
            page.wait_for_timeout(3000)  # autofill asks within a second of seeing a form
            assert page.input_value("#clinical-age") == "63"
    finally:
        logged_browser.close()
    logged = log.read_text()
    assert f"{app_url}model/metadata.json" in logged  # the log holds the page's own requests
    assert not re.findall(r"https://[a-z0-9.-]*autofill[a-z0-9.-]*/\S*", logged)


def test_a_malformed_clinical_block_is_refused_in_words(page, tiny_root, serve_web, tmp_path):
    """metadata.json's clinical block is checked before the page builds a vector from it."""
    root = web_with_metadata(tiny_root, tmp_path / "web", lambda m: {**m, "clinical": {**m["clinical"], "size": 3}})
    page.goto(serve_web(root))
    page.wait_for_selector("#status[data-state=error]")
    assert "clinical is wrong (it must be a block SkinLens can use" in page.inner_text("#status")
    assert page.is_hidden("#clinical")


def test_each_kind_of_answer_gets_its_own_validated_threshold(page, tiny_url, tiny_root):
    """Fields left blank: the photo-only threshold and its figures; any field given: the main ones."""
    import json

    metadata = json.loads((tiny_root / "model" / "metadata.json").read_text())
    screening = metadata["screening"]
    assert screening["without_clinical"]["threshold"] != screening["threshold"]
    open_app(page, tiny_url)
    [blank] = choose(page, [PHOTO])
    assert blank["threshold"] == screening["without_clinical"]["threshold"] and blank["clinicalUsed"] == []
    figures = screening["without_clinical"]["test"]
    assert f"caught {of_every_100(figures['sensitivity'])} of every 100 cancers" in page.inner_text(".triage")
    fill_clinical(page, age=50)
    [given] = choose(page, [PHOTO])
    assert given["threshold"] == screening["threshold"] and given["clinicalUsed"] == ["age"]
    figures = screening["test"]
    assert f"caught {of_every_100(figures['sensitivity'])} of every 100 cancers" in page.inner_text(".triage")


def test_a_model_with_the_questions_asks_them_about_the_spot_and_says_what_was_used(page, questions_root,
                                                                                    serve_web):
    """The six questions come from metadata.json alone, grouped under "About the spot", each "not given" until
    answered; the page's self-test (golden case with answers) passes; a batch's answers give Python's
    probabilities, and each card says in words what was said of the spot."""
    from converter.convert import GOLDEN_QUESTIONS

    url = serve_web(questions_root)
    open_app(page, url)
    assert page.evaluate("window.__skinlens.ready.selfTest")["passed"]
    meta = Predictor(questions_root / "model")
    spot = page.locator("#clinical .clinical-spot")
    assert spot.locator("legend").inner_text() == "About the spot"
    labels = spot.locator("label").all_inner_texts()
    assert labels == [q["label"] for q in clinical.QUESTIONS]
    for name in clinical.QUESTION_NAMES:
        assert page.input_value(f"#clinical-{name}") == ""
        options = page.eval_on_selector_all(f"#clinical-{name} option", "options => options.map((o) => o.text)")
        assert options == ["not given", "Yes", "No"]

    [blank] = choose(page, [PHOTO])
    assert blank["clinicalUsed"] == []
    assert "Nothing about the person or the spot was given: this answer is from the photo alone." in \
        page.inner_text(".result")

    answers = {"age": 62, "grown": "yes", "bled": "no", "raised": "yes"}
    assert GOLDEN_QUESTIONS.items() <= answers.items()  # the case the self-test checked, here from the form
    page.fill("#clinical-age", "62")
    for name in ("grown", "bled", "raised"):
        page.select_option(f"#clinical-{name}", answers[name])
    [result] = choose(page, [PHOTO])
    assert result["clinicalUsed"] == ["age", "grown", "bled", "raised"]
    (_, expected, _), = meta.predict_files([str(PHOTO)], answers)
    np.testing.assert_allclose(probabilities(result), expected, atol=FILE_TOLERANCE)
    assert np.abs(np.subtract(probabilities(result), probabilities(blank))).max() > 1e-4
    assert ("This answer used the photo, age 62 years and what you said of the spot: it has grown; "
            "it has not bled, oozed or crusted; it is raised.") in page.inner_text(".result")
    # The model card names them too.
    page.goto(f"{url}model-card.html")
    page.wait_for_function("() => document.getElementById('clinical-intro')?.textContent", timeout=30_000)
    intro = page.inner_text("#clinical-intro")
    assert "for age, sex and body site, and 6 questions about the spot: “Has it grown?” “Has it changed" in intro
