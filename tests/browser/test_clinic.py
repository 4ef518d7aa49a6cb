"""Clinic use in a real Chromium: photos dropped, pasted or chosen as a batch, a results table (sorted,
filtered, counted, each row linked to its folded card), a CSV made in the page, printing one card or the
batch (or saving it as PDF), and nothing left behind in the browser's storage.

    python -m pytest tests/browser/test_clinic.py -q
"""

import base64
import csv
import io
import math
from datetime import datetime

import pytest

from browser_helpers import (FIXTURES, LESION, SCREENSHOTS, checked_page, choose, open_app, wait_for_offline_copy,
                             probabilities, wait_for_results)

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


def test_photos_dropped_while_a_batch_runs_are_refused_in_words(app_page):
    """Photos dropped or pasted while a batch is being classified are not silently ignored: the page says they
    were not added, and the batch running keeps its own photos and results."""
    first = [LESION, FIXTURES / "ISIC_0024306.jpg"]
    # In one task, so that the batch is surely still running: a drop of two, then one pasted.
    notes = app_page.evaluate(f"""([first, second, third]) => {{
      const drop = {DROP};
      drop([first, 'drop']);
      drop([second, 'drop']);
      const note = document.getElementById('input-note');
      const afterDrop = [note.hidden, note.textContent];
      drop([third, 'paste']);
      return [afterDrop, [note.hidden, note.textContent]];
    }}""", [_files(*first), _files(FIXTURES / "alpha.png", FIXTURES / "png_rgb.png"), _files(FIXTURES / "alpha.png")])
    assert notes[0] == [False, "2 photos were not added: SkinLens is still classifying the others. "
                               "Add them again once it is done."]
    assert notes[1][0] is False and notes[1][1].startswith("One photo was not added")
    results = wait_for_results(app_page, 2)
    assert [r["file"] for r in results] == [p.name for p in first]
    assert app_page.locator("#input-note").is_visible()
    note = app_page.locator("#input-note")
    assert app_page.evaluate(DROP, [_files(FIXTURES / "alpha.png"), "drop"])  # once done, the next batch is taken
    assert note.is_hidden()
    assert [r["file"] for r in wait_for_results(app_page, 1)] == ["alpha.png"]


def test_drop_three_files_one_not_an_image_then_export_csv(app_page, metadata):
    """The issue's full flow: three files dropped, one not an image → two results and one clear
    message → a CSV with a row each, made in the app_page."""
    dropped = [LESION, FIXTURES / "not_an_image.jpg", FIXTURES / "ISIC_0024306.jpg"]
    assert app_page.evaluate(DROP, [_files(*dropped), "drop"])
    results = wait_for_results(app_page, 3)

    assert [r["file"] for r in results] == [p.name for p in dropped]
    assert [r["error"] is None for r in results] == [True, False, True]
    assert results[1]["error"].startswith("not an image SkinLens can read")
    assert app_page.locator(".result:not(.failed)").count() == 2
    failed = app_page.locator(".result.failed")
    assert failed.count() == 1 and results[1]["error"] in failed.inner_text()
    rows = app_page.locator("#batch-table tbody tr")
    assert rows.count() == 3 and "Could not classify" in rows.nth(1).inner_text()
    status = app_page.inner_text("#status")  # "on 2 threads" too, once a batch of 4 or more has started workers
    assert "2 of 3 photos classified" in status and "1 could not be read" in status

    name, table = _download_csv(app_page)
    assert name.startswith("skinlens-results-") and name.endswith(".csv")
    classes = [cls["id"] for cls in metadata["classes"]]
    expected_columns = (["file", "status", "error"] + [f"p_{c}" for c in classes] +
                        ["top_class", "top_probability", "malignant_risk", "risk_band", "threshold", "answers",
                         "scope_warnings", "distance", "blur", "model_version", "model_sha256", "backend", "ms",
                         "classified_at"])
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
        assert row["answers"] == ""  # nothing filled in: the photo alone
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


def test_pasted_image_is_classified(app_page):
    assert app_page.evaluate(DROP, [_files(("image.png", (FIXTURES / "png_rgb.png").read_bytes())), "paste"])
    (result,) = wait_for_results(app_page, 1)
    assert result["error"] is None
    assert result["file"].startswith("pasted ") and result["file"].endswith(" 1 image.png")


def test_csv_defuses_spreadsheet_formulas_in_file_names(app_page):
    app_page.evaluate(DROP, [_files(("=HYPERLINK(\"http://x\").jpg", LESION.read_bytes()), ("a,\"b\".jpg", b"text")), "drop"])
    wait_for_results(app_page, 2)
    _, table = _download_csv(app_page)
    assert table[0]["file"] == "'=HYPERLINK(\"http://x\").jpg"
    assert table[1]["file"] == "a,\"b\".jpg"


# Every character that makes a spreadsheet cell a formula (OWASP "CSV injection"): = + - @, tab and CR.
FORMULA_LEADS = ["=", "+", "-", "@", "\t", "\r"]


def test_csv_defuses_every_formula_lead_in_every_text_cell(app_page):
    """csv.js on made-up results: a file name, an error message or a scope check starting with any formula
    lead gets an apostrophe in front, and nothing else is changed (numbers, even negative, stay numbers)."""
    text = app_page.evaluate("""async (leads) => {
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
    wait_for_results(page, 2)
    _download_csv(page)
    wait_for_offline_copy(page)
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


# A batch with every kind of row: two or three cancers of the golden set, a mole, an ordinary PNG, a file that
# is not an image and one too small to read.
MIXED = [FIXTURES / "ISIC_0024306.jpg", FIXTURES / "not_an_image.jpg", LESION, FIXTURES / "png_rgb.png",
         FIXTURES / "ISIC_0024331.jpg", FIXTURES / "tiny_16x12.png"]

# The table's rows as shown, top to bottom: photo name, whether shown, the link's target.
TABLE_ROWS = """() => Array.from(document.querySelectorAll('#batch-table tbody tr'), (row) => ({
  file: row.cells[0].textContent, shown: !row.hidden && row.offsetParent !== null,
  href: row.querySelector('a')?.getAttribute('href') ?? null}))"""

FOLDS_OPEN = "Array.from(document.querySelectorAll('.result details.result-fold'), (d) => d.open)"

# Stubs the print dialog (the test's, not the page's): counts the calls, from 0, instead of opening it.
STUB_PRINT = "() => { window.__printed = 0; window.print = () => { window.__printed += 1; }; }"


def _needs_look(result):
    return bool(result["error"]) or result["band"] == "higher" or bool(result["warnings"])


def _sort_header(page, column):
    return page.locator(f"#batch-table thead th[data-sort={column}]")


def test_sort_by_concern_puts_higher_first_then_by_risk_failures_last(page, app_url):
    open_app(page, app_url)
    results = choose(page, MIXED)
    assert [r["file"] for r in page.evaluate(TABLE_ROWS)] == [p.name for p in MIXED]  # as classified
    assert _sort_header(page, "concern").get_attribute("aria-sort") is None

    _sort_header(page, "concern").locator("button").click()
    rank = {"higher": 0, "lower": 1, None: 2}
    ok = sorted((r for r in results if not r["error"]), key=lambda r: (rank[r["band"]], -r["risk"]))
    expected = [r["file"] for r in ok] + [r["file"] for r in results if r["error"]]
    assert [row["file"] for row in page.evaluate(TABLE_ROWS)] == expected
    assert _sort_header(page, "concern").get_attribute("aria-sort") == "descending"
    assert _sort_header(page, "name").get_attribute("aria-sort") is None
    bands = [r["band"] for r in ok]
    assert bands[0] == "higher" and any(bands.count(band) > 1 for band in set(bands)), \
        f"the batch must have a tie to check the order by risk: {bands}"

    # Again: lower concern first, the photos that could not be read still last.
    _sort_header(page, "concern").locator("button").click()
    lowest_first = sorted(ok, key=lambda r: (-rank[r["band"]], r["risk"]))
    assert [row["file"] for row in page.evaluate(TABLE_ROWS)] == \
        [r["file"] for r in lowest_first] + [r["file"] for r in results if r["error"]]
    assert _sort_header(page, "concern").get_attribute("aria-sort") == "ascending"


def test_sort_by_photo_name(page, app_url):
    open_app(page, app_url)
    choose(page, MIXED)
    button = _sort_header(page, "name").get_by_role("button", name="Photo")
    button.focus()
    page.keyboard.press("Enter")  # a real button: the keyboard sorts too
    assert [row["file"] for row in page.evaluate(TABLE_ROWS)] == sorted((p.name for p in MIXED), key=str.lower)
    assert _sort_header(page, "name").get_attribute("aria-sort") == "ascending"
    assert _sort_header(page, "concern").get_attribute("aria-sort") is None
    button.click()
    assert [row["file"] for row in page.evaluate(TABLE_ROWS)] == sorted((p.name for p in MIXED), key=str.lower,
                                                                        reverse=True)
    assert _sort_header(page, "name").get_attribute("aria-sort") == "descending"


def test_filter_shows_only_the_photos_that_need_a_look_and_counts_match(page, app_url):
    open_app(page, app_url)
    results = choose(page, MIXED)
    higher = sum(1 for r in results if not r["error"] and r["band"] == "higher")
    lower = sum(1 for r in results if not r["error"] and r["band"] == "lower")
    failed = sum(1 for r in results if r["error"])
    assert higher + lower + failed == len(MIXED) and failed == 2
    parts = [f"{n} {words}" for n, words in ((higher, "higher concern"), (lower, "lower concern"),
                                             (failed, "could not be read")) if n]
    assert page.inner_text("#batch-counts") == f"{len(MIXED)} photos: {', '.join(parts)}"

    needing = [r["file"] for r in results if _needs_look(r)]
    assert 0 < len(needing) < len(MIXED), "the batch must have rows the filter hides and rows it keeps"
    page.get_by_label("Show only photos that need a look").check()
    rows = page.evaluate(TABLE_ROWS)
    assert [row["file"] for row in rows if row["shown"]] == needing
    assert [row["file"] for row in rows if not row["shown"]] == [r["file"] for r in results if not _needs_look(r)]
    cards = page.locator(".result")
    assert [cards.nth(i).is_visible() for i in range(len(MIXED))] == [_needs_look(r) for r in results]
    assert page.inner_text("#batch-counts").startswith(f"{len(MIXED)} photos:")  # the counts are of the batch
    # Sorting keeps the filter; unchecking shows every row again.
    _sort_header(page, "concern").locator("button").click()
    assert sorted(row["file"] for row in page.evaluate(TABLE_ROWS) if row["shown"]) == sorted(needing)
    page.get_by_label("Show only photos that need a look").uncheck()
    assert all(row["shown"] for row in page.evaluate(TABLE_ROWS))


def test_a_batch_folds_its_cards_and_a_row_link_opens_its_card(app_page):
    results = choose(app_page, MIXED)
    rows = app_page.evaluate(TABLE_ROWS)
    assert [row["href"] for row in rows] == [f"#card-{i + 1}" for i in range(len(MIXED))]
    folds = app_page.locator(".result details.result-fold")
    assert folds.count() == len(MIXED)
    assert app_page.evaluate(FOLDS_OPEN) == [False] * len(MIXED)
    for i, result in enumerate(results):
        summary = app_page.locator(f"#card-{i + 1} .result-summary")
        assert summary.is_visible() and result["file"] in summary.inner_text()
        assert ("Could not classify" if result["error"] else f"{result['band'].capitalize()} concern") in \
            summary.inner_text()
        assert app_page.locator(f"#card-{i + 1} .triage, #card-{i + 1} .error").first.is_hidden()

    target = next(i for i, r in enumerate(results) if not r["error"] and i >= 3) + 1  # a card below the fold
    app_page.locator("#batch-table tbody a", has_text=results[target - 1]["file"]).click()
    assert app_page.evaluate("location.hash") == f"#card-{target}"
    card = app_page.locator(f"#card-{target}")
    assert app_page.evaluate(f"document.querySelector('#card-{target} details.result-fold').open")
    assert card.locator(".triage").is_visible()
    box = card.bounding_box()
    banner = app_page.locator(".banner").bounding_box()
    assert banner["height"] <= box["y"] < 900, (box, banner)  # on screen, below the sticky banner
    # The summary is a real <summary>: Enter folds the card again.
    card.locator(".result-summary").focus()
    app_page.keyboard.press("Enter")
    assert not app_page.evaluate(f"document.querySelector('#card-{target} details.result-fold').open")


def test_a_single_photos_card_stays_open(app_page):
    choose(app_page, [LESION])
    assert app_page.locator(".result details.result-fold").count() == 0
    assert app_page.locator("#card-1 .triage").is_visible() and app_page.locator("#card-1 .classes").is_visible()
    assert app_page.get_attribute("#batch-table tbody a", "href") == "#card-1"
    assert app_page.inner_text("#batch-counts").startswith("1 photo: ")


def _visible_in_print(page, selector):
    return page.locator(selector).first.is_visible()


def test_print_one_card_shows_only_that_card_with_its_date_model_and_limits(app_page, metadata, tmp_path):
    """The card's button prints that card alone: its photo, answer, when it was classified and by which
    model version, the limitations and the "not a diagnosis" notice; no controls, no other card. Saved
    as PDF by the headless browser, it renders."""
    app_page.evaluate(STUB_PRINT)
    results = choose(app_page, [LESION, FIXTURES / "not_an_image.jpg", FIXTURES / "ISIC_0024306.jpg"])
    card = app_page.locator("#card-3")
    card.locator(".result-summary").click()
    card.get_by_role("button", name="Print or save as PDF").click()
    assert app_page.evaluate("window.__printed") == 1
    assert app_page.evaluate("document.body.classList.contains('printing-one')")

    app_page.emulate_media(media="print")
    try:
        assert card.is_visible() and card.locator(".triage").is_visible()
        assert card.locator("canvas.thumbnail").is_visible()
        when = card.locator("time.classified-at")
        assert when.is_visible() and when.get_attribute("datetime") == results[2]["classifiedAt"]
        assert str(datetime.fromisoformat(results[2]["classifiedAt"].replace("Z", "+00:00")).year) in when.inner_text()
        assert card.locator(".model-version").inner_text() == metadata["model"]["version"]
        assert card.locator(".model-version").is_visible()
        assert app_page.locator(".limits").is_visible() and "What SkinLens has not seen" in app_page.inner_text(".limits")
        assert app_page.locator(".banner .notice").is_visible()
        assert "screening aid, not a diagnosis" in app_page.inner_text(".banner .notice").lower()
        for hidden in ("#card-1", "#card-2", "#batch", ".picker", "#choose", ".technical", "footer",
                       "#card-3 .print-button", "#card-3 .result-summary", "#card-3 .band-how"):
            assert app_page.locator(hidden).first.is_hidden(), hidden
        assert app_page.evaluate("getComputedStyle(document.querySelector('.banner')).position") == "static"
        assert app_page.evaluate("""() => Array.from(document.querySelectorAll('button, input, select'))
          .filter((el) => el.offsetParent !== null).map((el) => el.outerHTML.slice(0, 60))""") == []
        pdf = app_page.pdf(path=str(tmp_path / "card.pdf"), format="A4")
        assert pdf.startswith(b"%PDF") and len(pdf) > 10_000
    finally:
        app_page.emulate_media(media="screen")

    # After the dialog closes the page is as it was: the card folded again, no print classes.
    app_page.evaluate("window.dispatchEvent(new Event('afterprint'))")
    assert not app_page.evaluate("document.body.classList.contains('printing-one')")
    assert app_page.locator(".print-this").count() == 0
    assert app_page.evaluate("document.querySelector('#card-3 details.result-fold').open")  # it was opened by the person


def test_print_the_batch_shows_the_table_and_every_card_unfolded(app_page):
    app_page.evaluate(STUB_PRINT)
    choose(app_page, [LESION, FIXTURES / "not_an_image.jpg", FIXTURES / "ISIC_0024306.jpg"])
    app_page.click("#print-batch")
    assert app_page.evaluate("window.__printed") == 1
    app_page.emulate_media(media="print")
    try:
        assert app_page.locator("#batch-table").is_visible() and app_page.locator("#batch-counts").is_visible()
        for i in (1, 2, 3):
            assert app_page.locator(f"#card-{i} .provenance").is_visible()
        assert app_page.locator("#card-1 .triage").is_visible() and app_page.locator("#card-2 .error").is_visible()
        assert app_page.locator("#print-batch").is_hidden() and app_page.locator("#export-csv").is_hidden()
        assert app_page.locator("#needs-look").is_hidden() and app_page.locator(".limits").is_visible()
    finally:
        app_page.emulate_media(media="screen")
    app_page.evaluate("window.dispatchEvent(new Event('afterprint'))")
    assert app_page.evaluate(FOLDS_OPEN) == [False] * 3


PHONE = {"viewport": {"width": 360, "height": 780}, "device_scale_factor": 2, "is_mobile": True, "has_touch": True}
DESKTOP = {"viewport": {"width": 1280, "height": 900}}


def _screenshot(page, name):
    """The whole page at the viewport's width (a viewport as tall as the page: see test_accessibility)."""
    width = page.viewport_size["width"]
    assert page.evaluate("document.documentElement.scrollWidth") <= width, f"{name}: wider than the screen"
    page.set_viewport_size({"width": width, "height": page.evaluate("document.documentElement.scrollHeight")})
    path = SCREENSHOTS / name
    page.screenshot(path=str(path))
    assert path.stat().st_size > 10_000
    page.set_viewport_size({"width": width, "height": 900})


@pytest.mark.parametrize("size", ["360", "1280"])
def test_clinic_screenshots(browser, app_url, size):
    """For a person to look at: a single result, a batch of 3 (one not an image) with the filter on, and
    the print view of one card, in test-results/screenshots/."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with checked_page(browser, **(PHONE if size == "360" else DESKTOP)) as page:
        open_app(page, app_url)
        page.evaluate(STUB_PRINT)
        choose(page, [LESION])
        _screenshot(page, f"single-{size}.png")
        choose(page, [LESION, FIXTURES / "not_an_image.jpg", FIXTURES / "ISIC_0024306.jpg"])
        page.get_by_label("Show only photos that need a look").check()
        _screenshot(page, f"batch-filtered-{size}.png")
        page.get_by_label("Show only photos that need a look").uncheck()
        page.locator("#card-1 .result-summary").click()
        page.locator("#card-1 .print-button").click()
        page.emulate_media(media="print")
        _screenshot(page, f"print-one-{size}.png")
        page.emulate_media(media="screen")
