"""Clinic use in a real Chromium: photos dropped, pasted or chosen as a batch, a results table, a CSV
made in the page, and nothing left behind in the browser's storage.

    python -m pytest tests/browser/test_clinic.py -q
"""

import base64
import csv
import io
import math
from datetime import datetime

import pytest

from browser_helpers import FIXTURES, LESION, WAIT_FOR_RESULTS, open_app, probabilities

from converter.contract import content_digest

pytestmark = pytest.mark.browser

# Builds a DataTransfer of files in the page and drops it on the drop zone, as a drag from the desktop does.
DROP = """([files, eventName]) => {
  const transfer = new DataTransfer();
  for (const {name, b64} of files) {
    transfer.items.add(new File([Uint8Array.from(atob(b64), (c) => c.charCodeAt(0))], name));
  }
  const zone = document.getElementById('drop-zone');
  const init = {dataTransfer: transfer, clipboardData: transfer, bubbles: true, cancelable: true};
  if (eventName === 'paste') {
    const paste = new ClipboardEvent('paste', init);
    document.body.dispatchEvent(paste);
    return paste.defaultPrevented;
  }
  const over = new DragEvent('dragover', init);
  zone.dispatchEvent(over);
  const drop = new DragEvent('drop', init);
  zone.dispatchEvent(drop);
  return over.defaultPrevented && drop.defaultPrevented;
}"""

# What the page keeps after a batch: web storage, IndexedDB, cookies, and the Cache Storage entries.
STORAGE = """async () => {
  const cached = [];
  for (const name of await caches.keys()) {
    for (const request of await (await caches.open(name)).keys()) cached.push(request.url);
  }
  return {
    localStorage: localStorage.length, sessionStorage: sessionStorage.length, cookie: document.cookie,
    indexedDB: (await indexedDB.databases()).map((db) => db.name), cached,
  };
}"""


def _files(*paths_or_pairs):
    """[{name, b64}] for DROP, from paths or (name, bytes) pairs."""
    files = []
    for item in paths_or_pairs:
        name, data = item if isinstance(item, tuple) else (item.name, item.read_bytes())
        files.append({"name": name, "b64": base64.b64encode(data).decode()})
    return files


def _download_csv(page):
    with page.expect_download() as download:
        page.click("#export-csv")
    with open(download.value.path(), newline="", encoding="utf-8") as f:
        text = f.read()
    return download.value.suggested_filename, list(csv.DictReader(io.StringIO(text)))


def test_drop_three_files_one_not_an_image_then_export_csv(page, app_url, metadata):
    """The issue's full flow: three files dropped, one not an image → two results and one clear
    message → a CSV with a row each, made in the page."""
    open_app(page, app_url)
    dropped = [LESION, FIXTURES / "not_an_image.jpg", FIXTURES / "ISIC_0024306.jpg"]
    assert page.evaluate(DROP, [_files(*dropped), "drop"])
    results = page.evaluate(WAIT_FOR_RESULTS, 3)

    assert [r["file"] for r in results] == [p.name for p in dropped]
    assert [r["error"] is None for r in results] == [True, False, True]
    assert results[1]["error"].startswith("not an image SkinLens can read")
    assert page.locator(".result:not(.failed)").count() == 2
    failed = page.locator(".result.failed")
    assert failed.count() == 1 and results[1]["error"] in failed.inner_text()
    rows = page.locator("#batch-table tbody tr")
    assert rows.count() == 3 and "Could not classify" in rows.nth(1).inner_text()
    assert "2 of 3 photos classified, 1 could not be read" in page.inner_text("#status")

    name, table = _download_csv(page)
    assert name.startswith("skinlens-results-") and name.endswith(".csv")
    classes = [cls["id"] for cls in metadata["classes"]]
    expected_columns = (["file", "status", "error"] + [f"p_{c}" for c in classes] +
                        ["top_class", "top_probability", "malignant_risk", "risk_band", "threshold", "scope_warnings",
                         "distance", "blur", "model_version", "model_sha256", "backend", "ms", "classified_at"])
    assert list(table[0]) == expected_columns
    assert [row["file"] for row in table] == [p.name for p in dropped]
    assert [row["status"] for row in table] == ["ok", "error", "ok"]
    assert table[1]["error"] == results[1]["error"] and table[1]["p_nv"] == ""

    model_sha = content_digest(metadata)  # Python's hash of what metadata.json says: the page's must equal it
    assert metadata["model"]["version"].endswith(model_sha[:12])
    for row, result in zip(table, results):
        assert row["model_version"] == metadata["model"]["version"]
        assert row["model_sha256"] == model_sha
        assert row["backend"].startswith("wasm")
        assert row["classified_at"] == result["classifiedAt"]
        datetime.fromisoformat(row["classified_at"])
        assert row["error"] == (result["error"] or "")
        if result["error"]:
            assert all(row[column] == "" for column in [f"p_{c}" for c in classes] + [
                "top_class", "top_probability", "malignant_risk", "risk_band", "threshold", "scope_warnings", "distance", "blur",
                "ms"])
            continue
        assert [float(row[f"p_{c}"]) for c in classes] == probabilities(result)  # full precision
        assert row["top_class"] == result["top"]["id"]
        assert float(row["top_probability"]) == result["top"]["probability"]
        assert float(row["ms"]) == math.floor(result["timing"]["modelMs"] * 10 + 0.5) / 10
        assert float(row["blur"]) == result["signals"]["blur"]
        assert (float(row["distance"]) if row["distance"] else None) == result["signals"]["distance"]  # full precision
        assert row["scope_warnings"] == " ".join(warning["code"] for warning in result["warnings"])
        assert row["risk_band"] == f"{result['band']} concern"
        assert float(row["malignant_risk"]) == result["risk"]
        assert float(row["threshold"]) == result["threshold"]


def test_pasted_image_is_classified(page, app_url):
    open_app(page, app_url)
    assert page.evaluate(DROP, [_files(("image.png", (FIXTURES / "png_rgb.png").read_bytes())), "paste"])
    (result,) = page.evaluate(WAIT_FOR_RESULTS, 1)
    assert result["error"] is None
    assert result["file"].startswith("pasted ") and result["file"].endswith(" 1 image.png")


def test_csv_defuses_spreadsheet_formulas_in_file_names(page, app_url):
    open_app(page, app_url)
    page.evaluate(DROP, [_files(("=HYPERLINK(\"http://x\").jpg", LESION.read_bytes()), ("a,\"b\".jpg", b"text")), "drop"])
    page.evaluate(WAIT_FOR_RESULTS, 2)
    _, table = _download_csv(page)
    assert table[0]["file"] == "'=HYPERLINK(\"http://x\").jpg"
    assert table[1]["file"] == "a,\"b\".jpg"


# Every character that makes a spreadsheet cell a formula (OWASP "CSV injection"): = + - @, tab and CR.
FORMULA_LEADS = ["=", "+", "-", "@", "\t", "\r"]


def test_csv_defuses_every_formula_lead_in_every_text_cell(page, app_url):
    """csv.js on made-up results: a file name, an error message or a scope check starting with any formula
    lead gets an apostrophe in front, and nothing else is changed (numbers, even negative, stay numbers)."""
    open_app(page, app_url)
    text = page.evaluate("""async (leads) => {
      const {resultsCsv} = await import(new URL('csv.js', document.baseURI).href);
      const results = leads.map((lead, i) => ({
        file: `${lead}cmd|' /C calc'!A${i}`, error: `${lead}1+1`, classes: null, top: null, risk: null, band: null,
        threshold: null, warnings: [{code: `${lead}SUM(A1)`}], signals: {distance: -0.5, blur: null}, timing: null,
        classifiedAt: 'now'}));
      results.push({file: 'plain.jpg', error: null, classes: [{probability: 0.25}, {probability: 0.75}],
        top: {id: 'b', probability: 0.75}, risk: null, band: null, threshold: null, warnings: [],
        signals: {distance: -1.5, blur: 2}, timing: {modelMs: 3}, classifiedAt: 'now'});
      return resultsCsv(results, {classes: [{id: 'a'}, {id: 'b'}], modelVersion: '-v1', modelSha256: '@sha',
        backend: '+wasm'});
    }""", FORMULA_LEADS)
    rows = list(csv.DictReader(io.StringIO(text, newline="")))
    assert len(rows) == len(FORMULA_LEADS) + 1
    for lead, row in zip(FORMULA_LEADS, rows):
        assert row["file"] == f"'{lead}cmd|' /C calc'!A{FORMULA_LEADS.index(lead)}", repr(row["file"])
        assert row["error"] == f"'{lead}1+1" and row["scope_warnings"] == f"'{lead}SUM(A1)"
        assert row["model_version"] == "'-v1" and row["model_sha256"] == "'@sha" and row["backend"] == "'+wasm"
        assert row["distance"] == "-0.5"
    plain = rows[-1]
    assert plain["file"] == "plain.jpg" and plain["p_b"] == "0.75" and plain["distance"] == "-1.5"
    assert plain["status"] == "ok" and plain["error"] == "" and plain["ms"] == "3"


def test_nothing_is_kept_after_a_batch(page, app_url, metadata):
    """No image, result or file name in web storage, IndexedDB, cookies or the caches; a new page of the
    same browser profile starts empty."""
    open_app(page, app_url)
    page.evaluate(DROP, [_files(LESION, ("secret-patient-name.jpg", LESION.read_bytes())), "drop"])
    page.evaluate(WAIT_FOR_RESULTS, 2)
    _download_csv(page)
    page.evaluate("navigator.serviceWorker.ready")
    kept = page.evaluate(STORAGE)
    assert kept["localStorage"] == kept["sessionStorage"] == 0
    assert kept["cookie"] == "" and kept["indexedDB"] == []
    assert kept["cached"], "the service worker precached nothing"
    assert not [url for url in kept["cached"] if "secret-patient-name" in url or url.startswith("blob:")]
    app_files = {f"{app_url}{path}" for path in
                 ["", "index.html", "model/metadata.json", *[f"model/{name}" for name in metadata["model"]["files"]],
                  *[case["file"] for case in metadata["golden"]]]}
    assert app_files <= set(kept["cached"])

    fresh = page.context.new_page()
    open_app(fresh, app_url)
    assert fresh.evaluate("window.__skinlens.results") == []  # nothing announced: no result carried over
    assert fresh.locator(".result").count() == 0 and fresh.is_hidden("#batch")
    fresh.close()
