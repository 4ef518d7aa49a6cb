"""Try your own model: a converted model folder chosen from disk runs in the page, checked against its
metadata.json exactly as a served model is (skinlens.js load, one code path), read without a single
request; one that is incomplete, altered or edited is refused in words and the model in use keeps working.

    python -m pytest tests/browser/test_own_model.py -q

The chosen model is the tiny test model (tests/conftest.py tiny_web: model/ and golden/ as the converter
writes them); the page around it serves the shipped web/model.
"""

import json
import shutil

import numpy as np
import pytest

from browser_helpers import (FILE_TOLERANCE, LESION, choose, fill_clinical, open_app, probabilities, start_workers,
                             wait_in_page)

pytestmark = pytest.mark.browser

# The next skinlens:model (main.js: a chosen model in use and self-tested, the shipped
# one back, or a chosen one refused) and takes it, so that the next call waits for a new one.
NEXT_MODEL = """() => {
  const detail = window.__skinlens.model;
  window.__skinlens.model = null;
  return detail;
}"""


def wait_for_model(page):
    return wait_in_page(page, NEXT_MODEL, what="the chosen model to be in use or refused (skinlens:model)")


def choose_model(page, files, selector="#model-files"):
    """Chooses a model's files (or, for #model-folder, a folder) under "Try your own model" and returns the
    page's skinlens:model once the model is in use or refused."""
    if page.get_attribute("#own-model", "open") is None:
        page.click("#own-model summary")
    page.set_input_files(selector, files)
    return wait_for_model(page)


def model_files(web):
    """Every file the converter wrote under ``web``/model, as chosen one by one."""
    return sorted((web / "model").iterdir())


def check_golden_cases(page, web, tiny):
    """Each golden image of ``tiny`` chosen as a photo, its answers typed in, gets the probabilities Python
    recorded in its metadata.json."""
    for golden in tiny["golden"]:
        fill_clinical(page, **golden.get("clinical", {}))
        (result,) = choose(page, [web / golden["file"]])
        assert result["error"] is None, result["error"]
        np.testing.assert_allclose(probabilities(result), golden["probabilities"], atol=FILE_TOLERANCE,
                                   err_msg=golden["file"])


def test_chosen_model_files_classify_as_python_and_nothing_is_requested(page, app_url, tiny_web, metadata):
    """The tiny model's files and its golden images, chosen one by one: the page classifies with it (its
    version and data shown, self-test run on the chosen golden images), and from the choice to the last
    result not one request is made: the files are read in the page, never fetched nor sent."""
    tiny = json.loads((tiny_web / "model" / "metadata.json").read_text())
    assert tiny["model"]["version"] != metadata["model"]["version"] and tiny.get("clinical")
    open_app(page, app_url)
    # The offline copy is installed (its downloads done) before requests are counted.
    page.wait_for_selector("#offline:has-text('works offline')", state="attached")
    # So is the shipped model's warm worker (main.js starts it once the self-test passed), whose start
    # fetches the app's own code and golden images.
    start_workers(page, 2)
    requests = []
    page.context.on("request", lambda request: requests.append(request.url))

    golden = sorted((tiny_web / "golden").iterdir())
    event = choose_model(page, model_files(tiny_web) + golden)
    assert event.get("error") is None, event["error"]
    assert event["own"] and event["version"] == tiny["model"]["version"]
    test = event["selfTest"]
    assert test["passed"] and test["cases"] == len(tiny["golden"]) > 0 and test["notChosen"] == 0, test
    assert page.text_content("#model-version") == tiny["model"]["version"]
    assert f"In use: your model {tiny['model']['version']}" in page.inner_text("#own-model-status")
    assert "self-test passed" in page.text_content("#self-test")
    assert page.is_visible("#shipped-model")
    check_golden_cases(page, tiny_web, tiny)
    # The chosen model's warm worker (main.js) loads the app's own code, from this origin; nothing of the
    # model, its golden images or a photo is fetched or sent.
    origin = app_url.rstrip("/")
    code = [url for url in requests if url.startswith(origin) and url.rsplit("/", 1)[-1].endswith((".js", ".wasm"))
            and "/model/" not in url]
    assert requests == code, [url for url in requests if url not in code]


def test_a_chosen_folder_without_golden_images_runs_without_self_test_and_the_shipped_model_comes_back(
        page, app_url, tiny_web, metadata):
    """The folder `--out DIR/model` alone (webkitdirectory): no golden/ beside it, so no self-test, and the
    page says so; "Back to the shipped model" puts web/model back, self-tested again."""
    tiny = json.loads((tiny_web / "model" / "metadata.json").read_text())
    open_app(page, app_url)
    event = choose_model(page, tiny_web / "model", selector="#model-folder")
    assert event.get("error") is None, event["error"]
    assert event["version"] == tiny["model"]["version"]
    assert event["selfTest"]["notChosen"] == event["selfTest"]["cases"] == len(tiny["golden"])
    assert "reference images (golden/) were not chosen" in page.text_content("#self-test")
    check_golden_cases(page, tiny_web, tiny)  # classifying is allowed: nothing to self-test is not a failure

    page.click("#shipped-model")
    event = wait_for_model(page)
    assert not event["own"] and event["version"] == metadata["model"]["version"]
    assert event["selfTest"]["passed"] and event["selfTest"]["notChosen"] == 0
    assert event["selfTest"]["cases"] == len(metadata["golden"])
    assert page.text_content("#model-version") == metadata["model"]["version"]
    assert page.is_hidden("#shipped-model")


def _alter_shard(folder):
    shard = sorted(folder.glob("*.bin"))[0]
    data = bytearray(shard.read_bytes())
    data[len(data) // 2] ^= 0x01
    shard.write_bytes(bytes(data))
    return "file-altered", f"model file {shard.name} is corrupt or altered"


def _drop_shard(folder):
    shard = sorted(folder.glob("*.bin"))[0]
    shard.unlink()
    return "download-failed", f"model file {shard.name} is not among the chosen files"


def _rename_a_class(folder):
    path = folder / "metadata.json"
    metadata = json.loads(path.read_text())
    metadata["classes"][0]["name"] = "Renamed"
    path.write_text(json.dumps(metadata))
    return "version-mismatch", "the model files do not match their version"


def _invalid_metadata(folder):
    (folder / "metadata.json").write_text("{not json")
    return "metadata-invalid", "metadata.json is not valid JSON"


@pytest.mark.parametrize("spoil", [_alter_shard, _drop_shard, _rename_a_class, _invalid_metadata],
                         ids=["altered shard", "missing shard", "edited metadata", "invalid metadata"])
def test_a_spoilt_model_folder_is_refused_and_the_model_in_use_keeps_working(
        page, app_url, tiny_web, metadata, tmp_path, spoil):
    copy = tmp_path / "model"
    shutil.copytree(tiny_web / "model", copy)
    code, message = spoil(copy)
    open_app(page, app_url)
    event = choose_model(page, sorted(copy.iterdir()))
    assert event.get("error"), f"the spoilt model was put in use: {event}"
    assert event["error"]["code"] == code and message in event["error"]["message"], event
    status = page.inner_text("#own-model-status")
    assert f"Your model was not loaded: {message}" in status
    assert f"Still in use: the shipped model {metadata['model']['version']}" in status
    assert page.get_attribute("#status", "data-state") == "ready"
    assert page.text_content("#model-version") == metadata["model"]["version"]
    # The shipped model still answers, as Python recorded: LESION is one of its golden images.
    (golden,) = [g for g in metadata["golden"] if g["file"].endswith(LESION.name) and not g.get("clinical")]
    (result,) = choose(page, [LESION])
    np.testing.assert_allclose(probabilities(result), golden["probabilities"], atol=FILE_TOLERANCE)
