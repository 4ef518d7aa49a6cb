"""The web app in a real Chromium: it loads from server.py and from a GitHub Pages-like sub-path,
classifies chosen photos like Python does, leaks no tensors, explains every file it cannot read,
refuses a model whose files do not match their checksums, self-tests on its golden images, and shows
each result with its concern level, descriptions and activation map.

    python -m pytest tests/browser -q

Every test also fails on a console error, a CSP violation or a request to another origin (see the
`page` fixture in conftest.py).
"""

import base64
import hashlib
import io
import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from browser_helpers import (CPU_BACKEND_TIMEOUT_MS, FIXTURES, LESION, LOAD_MODEL, TO_BASE64, choose, fill_clinical,
                             open_app, padded_jpeg, probabilities, unfold_cards, upload, wait_for_results, wait_in_page,
                             wait_until_ready, web_with_file, web_with_metadata)
from contract_cases import CASES, malformed
from converter.contract import version_name
from trainer.images import prepare
from trainer.predict import Predictor

pytestmark = pytest.mark.browser

_UPRIGHT_EXIF = Image.Exif()
_UPRIGHT_EXIF[0x0112] = 1  # orientation: as stored

# Format name -> Pillow save options for _encode, whose odd size catches off-by-one header fields
# (WebP stores size - 1).
FORMATS = {
    "JPEG": {"format": "JPEG", "quality": 90},
    "progressive JPEG": {"format": "JPEG", "quality": 90, "progressive": True},
    "PNG": {"format": "PNG"},
    "GIF": {"format": "GIF"},
    "lossy WebP": {"format": "WEBP", "quality": 90},
    "lossless WebP": {"format": "WEBP", "lossless": True},
    "extended WebP": {"format": "WEBP", "quality": 90, "exif": _UPRIGHT_EXIF},  # VP8X, for the EXIF chunk
    "BMP": {"format": "BMP"},
}

# How far the browser's probabilities may be from the golden ones in metadata.json, on any backend and
# whatever the quantization: the converter records them by running the converted graph itself with its
# weights dequantized as TensorFlow.js does, so only float32 rounding and the two decoders differ: the
# same basis as test_agreement.py's FILE_TOLERANCE, whose value it shares. Measured max |Δp| (printed by
# test_golden_images_match_python): float16 8-view model deep-f4dfb343a2a8 3.0e-7 wasm, 4.2e-7 webgl
# (the one-view model before it: 6.6e-7 wasm, 4.2e-7 cpu, 2.4e-7 webgl); a tiny float32 test model up to 1.1e-5. The page's own self-test warns beyond 1e-3.
GOLDEN_TOLERANCE = 2e-4

# The page's own pipeline up to the model input, for comparison with trainer.images.prepare.
PREPROCESS_IN_PAGE = """async (b64) => {
  const imaging = await import(new URL('imaging.js', document.baseURI).href);
  const {fetchMetadata} = await import(new URL('metadata.js', document.baseURI).href);
  const metadata = await fetchMetadata(new URL('model/', document.baseURI));
  const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
  const bitmap = await imaging.decodeImage(new Blob([bytes]), metadata.preprocess);
  const pixels = imaging.bitmapToPixels(bitmap, metadata.preprocess.alpha_background);
  bitmap.close();
  const input = tf.tidy(() => imaging.preprocess(tf, imaging.rgbTensor(tf, pixels), metadata));
  const values = await input.data();
  input.dispose();
  return (%s)(values);  // as base64 (browser_helpers.as_base64)
}""" % TO_BASE64


def browser_input(page, data, metadata):
    """The model input the page builds from a file's bytes, as a [H, W, 3] array."""
    values = np.frombuffer(base64.b64decode(page.evaluate(PREPROCESS_IN_PAGE, base64.b64encode(data).decode())),
                           dtype=np.float32)
    return values.astype(np.float64).reshape(metadata["input"]["height"], metadata["input"]["width"], 3)


def python_input(path, metadata):
    """The model input trainer.images.prepare builds from the same file."""
    return prepare(path, metadata["input"]["height"], metadata["input"]["width"],
                   background=tuple(metadata["preprocess"]["alpha_background"]))


def decode_error(page, data, preprocess):
    """The message imaging.decodeImage gives for a file's bytes under the given limits, or None."""
    return page.evaluate("""async ([b64, preprocess]) => {
      const imaging = await import(new URL('imaging.js', document.baseURI).href);
      const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
      return imaging.decodeImage(new Blob([bytes]), preprocess).then(() => null, (error) => error.message);
    }""", [base64.b64encode(data).decode(), preprocess])


@pytest.fixture(params=["server.py", "pages"])
def site_url(request):
    """The app's URL from server.py (at /) and from a plain static server (at /skinlens/)."""
    return request.getfixturevalue("app_url" if request.param == "server.py" else "pages_url")


def test_page_loads_to_ready(page, site_url, metadata):
    open_app(page, site_url)
    ready = page.evaluate("window.__skinlens.ready")  # main.js's skinlens:ready event
    assert ready["version"] == metadata["model"]["version"] and ready["selfTest"]["passed"]
    assert not page.evaluate("'skinlens' in window || 'classifier' in window")  # the page adds no global
    assert page.text_content("#model-version") == metadata["model"]["version"]
    assert page.text_content("#model-backend") == "wasm"  # the first choice works in Chromium
    assert page.is_visible(".notice") and "not a diagnosis" in page.inner_text(".notice")
    assert page.is_visible("header .privacy")  # prominent, at the top, before anything is chosen
    assert page.inner_text("header .privacy").startswith("Your photo stays on this device")
    assert "HAM10000" in page.inner_text("footer")  # metadata.dataset, or the licence line before it existed
    assert f"only the {len(metadata['classes'])} types" in page.inner_text(".limits").replace("seven", "7")
    assert page.is_enabled("#files") and page.is_enabled("#choose")
    assert "light skin" in page.inner_text(".limits") and "dermoscopic" in page.inner_text(".limits")
    assert page.get_attribute("a[href='model-card.html'] >> nth=0", "href") == "model-card.html"
    assert page.get_attribute("#camera", "capture") == "environment"


def test_chosen_photo_shows_every_class(page, site_url, metadata):
    open_app(page, site_url)
    (result,) = choose(page, [LESION])
    classes = metadata["classes"]
    assert result["error"] is None and result["file"] == LESION.name
    assert [c["id"] for c in result["classes"]] == [c["id"] for c in classes]
    assert [c["name"] for c in result["classes"]] == [c["name"] for c in classes]
    assert sum(probabilities(result)) == pytest.approx(1, abs=1e-4)
    best = int(np.argmax(probabilities(result)))
    assert result["top"]["id"] == classes[best]["id"]

    card = page.locator(".result")
    assert card.locator(".file-name").inner_text() == LESION.name
    assert card.locator(".class-name").count() == len(classes)
    for cls in classes:
        assert cls["name"] in card.inner_text()
    top_row = card.locator("tr.is-top")
    assert top_row.count() == 1 and classes[best]["name"] in top_row.inner_text()
    assert "best match" in top_row.inner_text().lower()  # marked in words, not only by colour


def test_classifying_leaks_no_tensors(page, app_url):
    open_app(page, f"{app_url}?threads=1")  # every photo on the page's thread, whose tensors are counted here
    before = page.evaluate("tf.memory().numTensors")
    results = choose(page, [LESION, FIXTURES / "large_3200x2400.jpg", FIXTURES / "alpha.png",
                            FIXTURES / "not_an_image.jpg"])
    assert [r["error"] is None for r in results] == [True, True, True, False]
    assert page.evaluate("tf.memory().numTensors") == before


def test_classify_takes_pixels_image_data_bitmaps_and_files_alike_without_leaking(app_page):
    """The module API's classify gives the same answer for the same picture however it is handed over."""
    app_page.evaluate(LOAD_MODEL)
    before, after, answers = app_page.evaluate("""async () => {
      const model = window.__model;
      const [width, height] = [300, 200];
      const rgb = new Uint8Array(width * height * 3).map((_, i) => (i * 7) % 256);
      const rgba = new Uint8ClampedArray(width * height * 4).map((_, i) => i % 4 === 3 ? 255 : rgb[i - (i >> 2)]);
      const canvas = new OffscreenCanvas(width, height);
      canvas.getContext('2d').putImageData(new ImageData(rgba, width, height), 0, 0);
      const png = await canvas.convertToBlob({type: 'image/png'});
      const bitmap = await createImageBitmap(png);
      const before = tf.memory().numTensors;
      const given = [{data: rgb, width, height, channels: 3}, {data: rgba, width, height, channels: 4},
        new ImageData(rgba, width, height), canvas, bitmap, png, new File([png], 'spot.png')];
      const answers = [];
      for (const image of given) answers.push((await model.classify(image)).classes.map((c) => c.probability));
      return [before, tf.memory().numTensors, answers];
    }""")
    assert after == before
    assert all(answer == answers[0] for answer in answers), answers


def test_unreadable_files_get_clear_messages_and_do_not_stop_the_batch(app_page):
    # A PNG header declaring 20000×20000: refused from the header, before any decoding.
    huge = b"\x89PNG\r\n\x1a\n\x00\x00\x00\x0dIHDR" + (20000).to_bytes(4, "big") * 2 + bytes(9)
    # A PNG whose image data is garbage: sniffed as PNG, then the decoder fails.
    png = bytearray((FIXTURES / "png_rgb.png").read_bytes())
    png[60:-20] = bytes(len(png) - 80)
    files = [upload(FIXTURES / "photo.heic"), upload(FIXTURES / "not_an_image.jpg"), upload(LESION),
             upload(FIXTURES / "truncated.jpg"), upload("broken.png", bytes(png)),
             upload(FIXTURES / "tiny_16x12.png"), upload("huge.png", huge)]
    heic, text, good, truncated, broken, tiny, big = choose(app_page, files)
    assert heic["error"].startswith("HEIC photos can't be read by this browser: export as JPEG")
    assert "Most Compatible" in heic["error"]
    assert text["error"].startswith("not an image SkinLens can read")
    assert good["error"] is None and probabilities(good)
    assert truncated["error"] == broken["error"] == "the file looks like an image but could not be decoded (corrupt?)"
    assert "too small" in tiny["error"] and "16×12" in tiny["error"]
    assert "400.0 megapixels" in big["error"]
    assert all(r["classes"] is None for r in (heic, text, truncated, broken, tiny, big))
    assert [r["code"] for r in (heic, text, truncated, broken, tiny, big)] == [
        "heic", "not-an-image", "corrupt", "corrupt", "too-small", "too-many-pixels"]

    cards = app_page.locator(".result")
    assert cards.count() == len(files)
    assert app_page.locator(".result.failed").count() == len(files) - 1
    assert heic["error"] in cards.nth(0).inner_text()


@pytest.mark.parametrize("side", [12_000, 30_000])
def test_a_jpeg_whose_size_sits_after_padding_is_too_large_before_decoding(app_page, side):
    """Its frame header after 320 KB of other segments: read from the whole file, refused before decoding
    (12000² used to be decoded, peaking near 1.4 GB; 30000² was called corrupt). trainer/images.py agrees
    (tests/test_images.py)."""
    [result] = choose(app_page, [upload(f"padded-{side}.jpg", padded_jpeg(side, side))])
    assert result["code"] == "too-many-pixels", result["error"]
    assert result["error"].startswith(f"this image is {side}×{side} ("), result["error"]


def test_an_empty_file_is_said_to_be_empty(app_page):
    [result] = choose(app_page, [upload("empty.jpg", b"")])
    assert (result["code"], result["error"]) == ("empty", "the file is empty")


# Whether the page asks before it is closed or reloaded (the browser's own "Leave site?" dialog).
ASKS_BEFORE_LEAVING = """() => {
  const event = new Event('beforeunload', {cancelable: true});
  window.dispatchEvent(event);
  return event.defaultPrevented;
}"""


def test_closing_with_results_on_screen_asks_first(page, app_url):
    """The results are kept nowhere else: a closed or reloaded tab would lose them without a word."""
    open_app(page, app_url)
    assert not page.evaluate(ASKS_BEFORE_LEAVING)
    choose(page, [LESION])
    assert page.evaluate(ASKS_BEFORE_LEAVING)


def test_corrupted_model_shard_is_refused(page, web_root, serve_web, tmp_path):
    copy = tmp_path / "web"
    shutil.copytree(web_root, copy)  # follows symlinks: a real copy of the served folder
    shard = sorted((copy / "model").glob("*.bin"))[0]
    data = bytearray(shard.read_bytes())
    data[len(data) // 2] ^= 0x01
    shard.write_bytes(bytes(data))

    page.goto(serve_web(copy))
    page.wait_for_selector("#status[data-state=error]")
    expected = f"model file {shard.name} is corrupt or altered"
    assert expected in page.inner_text("#status")
    assert page.evaluate("window.__skinlens.error") == {"message": page.inner_text("#status").split(": ", 1)[1],
                                                         "code": "file-altered"}
    assert expected in page.evaluate("window.__skinlens.error.message")
    assert page.is_disabled("#files")


@pytest.mark.parametrize("name", ["ISIC_0024306.jpg", "ISIC_0024310.jpg", "exif_rotated.jpg", "alpha.png",
                                  "palette.png", "png_rgb.png", "grayscale.jpg", "gray16.png", "cmyk.jpg",
                                  "large_3200x2400.jpg"])
def test_preprocessing_matches_python(app_page, metadata, name):
    """The model input the page builds equals trainer.images.prepare's, up to float and alpha rounding."""
    path = FIXTURES / name
    difference = np.abs(browser_input(app_page, path.read_bytes(), metadata) - python_input(path, metadata))
    assert difference.mean() < 0.05 and difference.max() < 1, (difference.mean(), difference.max())


def _encode(options, size=(203, 151)):
    buffer = io.BytesIO()
    Image.open(LESION).convert("RGB").resize(size).save(buffer, **options)
    return buffer.getvalue()


@pytest.mark.parametrize("name", FORMATS)
def test_every_format_decodes_like_python(app_page, metadata, name, tmp_path):
    path = tmp_path / "image"
    path.write_bytes(_encode(FORMATS[name]))
    assert np.abs(browser_input(app_page, path.read_bytes(), metadata) - python_input(path, metadata)).max() < 1


@pytest.mark.parametrize("name", FORMATS)
def test_pixel_limit_is_read_from_the_header(app_page, metadata, name):
    """Only the header is given: the limit must be enforced before decoding (which would fail)."""
    head = _encode(FORMATS[name])[:1024]
    message = decode_error(app_page, head, {**metadata["preprocess"], "max_pixels": 203 * 151 - 1})
    assert message.startswith("this image is 203×151 (0.0 megapixels)"), message


def test_byte_limit(app_page, metadata):
    """The size shown is larger than the limit shown, even one byte over (50.0 MB against 50 MB would not be)."""
    limit = metadata["preprocess"]["max_bytes"]
    assert limit == 50 * 2**20
    message = app_page.evaluate("""async (size) => {
      const imaging = await import(new URL('imaging.js', document.baseURI).href);
      const {fetchMetadata} = await import(new URL('metadata.js', document.baseURI).href);
      const {preprocess} = await fetchMetadata(new URL('model/', document.baseURI));
      return imaging.decodeImage(new Blob([new Uint8Array(size)]), preprocess).then(() => null, (e) => e.message);
    }""", limit + 1)
    assert message == "this file is 50.000001 MB; SkinLens reads images up to 50 MB", message
    jpeg = _encode(FORMATS["JPEG"])
    message = decode_error(app_page, jpeg, {**metadata["preprocess"], "max_bytes": 2**20})
    assert message is None  # under the limit: decoded
    big = jpeg + bytes(3 * 2**20)  # 3 MB of padding after the image
    message = decode_error(app_page, big, {**metadata["preprocess"], "max_bytes": 2**20})
    assert message == f"this file is {len(big) / 2**20:.1f} MB; SkinLens reads images up to 1 MB", message


@pytest.mark.parametrize("brand, expected", [("heic", "HEIC photos can't be read"), ("mif1", "HEIC photos can't be read"),
                                             ("hevx", "HEIC photos can't be read"),
                                             ("avif", "AVIF images are not supported"),
                                             ("avis", "AVIF images are not supported")])
def test_heif_and_avif_are_told_apart(app_page, metadata, brand, expected):
    head = b"\x00\x00\x00\x1cftyp" + brand.encode() + bytes(4) + b"mif1miaf" + bytes(64)
    assert decode_error(app_page, head, metadata["preprocess"]).startswith(expected)


@pytest.mark.parametrize("backend", ["wasm", "webgl"])
def test_golden_images_match_python(page, app_url, web_root, metadata, backend):
    """Each backend the page picks gives the probabilities the converter recorded from Python for the golden
    images: the page's self-test classifies each of them (with its clinical answers) through model.classify,
    the path of a chosen file, right after it says ready."""
    if not metadata["golden"]:
        pytest.skip("metadata.json lists no golden images")
    page.goto(f"{app_url}?backend={backend}")
    wait_until_ready(page)
    if backend == "webgl" and "no TensorFlow.js backend works" in page.inner_text("#status"):
        pytest.skip("this Chromium has no WebGL")
    assert page.get_attribute("#status", "data-state") == "ready", page.inner_text("#status")
    assert page.text_content("#model-backend") == backend
    for golden in metadata["golden"]:
        assert _sha256(web_root / golden["file"]) == golden["sha256"]
    test = page.evaluate("window.__skinlens.ready.selfTest")
    assert test["cases"] == len(metadata["golden"]) and test["error"] is None
    print(f"\n{backend}: golden max |Δp| = {test['maxDifference']:.1e} ({metadata['model']['quantization']} weights)")
    assert test["maxDifference"] <= GOLDEN_TOLERANCE


# The module API's self-test on the first golden image, started in the page; its result lands in window.__cpuTest.
CPU_SELF_TEST = """async (options) => {
  const loaded = await (%s)(options);
  window.__cpuTest = {loaded, test: await window.__model.selfTest(undefined, {images: 1})};
}""" % LOAD_MODEL


def test_the_pure_javascript_backend_gives_pythons_probabilities(page, app_url, metadata):
    """The cpu backend (the last fallback, for a browser with neither WebAssembly nor WebGL), loaded through the
    module API, on the first golden image: its 8 views run every kernel of the graph. Started as the page
    starts on it (warm-up and every golden image, the test above's path), it took 95 s of the suite's time;
    the page picks a backend by the same code for each, and the other golden images add inputs, not kernels."""
    if not metadata["golden"]:
        pytest.skip("metadata.json lists no golden images")
    open_app(page, f"{app_url}?threads=1")  # the page itself on wasm, no warm worker: TensorFlow.js is loaded
    page.evaluate(f"(options) => {{ ({CPU_SELF_TEST})(options).catch((e) => {{ window.__cpuTest = {{error: String(e)}}; }}); }}",
                  {"backends": ["cpu"]})
    done = wait_in_page(page, "() => window.__cpuTest", what="the cpu backend's load and self-test",
                        timeout_ms=CPU_BACKEND_TIMEOUT_MS)
    assert "error" not in done, done["error"]
    assert done["loaded"]["backend"] == "cpu"
    test = done["test"]
    assert test["checked"] == 1 and test["error"] is None, test
    print(f"\ncpu: golden max |Δp| = {test['maxDifference']:.1e} ({metadata['model']['quantization']} weights)")
    assert test["maxDifference"] <= GOLDEN_TOLERANCE


def test_golden_images_chosen_as_files_match_python(page, app_url, web_root, metadata):
    """The same, from the user's side: each golden image chosen, its clinical answers typed in."""
    if not metadata["golden"]:
        pytest.skip("metadata.json lists no golden images")
    open_app(page, app_url)
    for golden in metadata["golden"]:
        if metadata.get("clinical"):
            fill_clinical(page, **golden.get("clinical", {}))
        (result,) = choose(page, [web_root / golden["file"]])
        assert result["error"] is None, result["error"]
        assert result["clinicalUsed"] == list(golden.get("clinical", {}))
        got = probabilities(result)
        np.testing.assert_allclose(got, golden["probabilities"], atol=GOLDEN_TOLERANCE, err_msg=golden["file"])
        assert np.argmax(got) == np.argmax(golden["probabilities"])


def test_self_test_passes_and_is_shown(app_page, metadata):
    """On load the page classifies its golden images and says it agrees with Python."""
    test = app_page.evaluate("window.__skinlens.ready.selfTest")
    assert test["cases"] == len(metadata["golden"]) and test["error"] is None
    assert test["passed"], test
    assert test["tolerance"] == 1e-3
    assert "self-test passed" in app_page.text_content("#model-info")
    assert app_page.is_hidden("#self-test-warning")


def test_self_test_warns_and_refuses_to_classify_when_this_browser_disagrees(page, web_root, serve_web, tmp_path):
    """Golden probabilities moved by 0.01 stand in for a browser whose arithmetic is off. The self-test runs
    right after the page is ready: a photo chosen before it ends waits for it, and is refused."""
    def shift(metadata):
        if not metadata["golden"]:
            pytest.skip("metadata.json lists no golden images")
        for case in metadata["golden"]:
            top = int(np.argmax(case["probabilities"]))
            case["probabilities"][top] -= 0.01
        return metadata

    page.goto(serve_web(web_with_metadata(web_root, tmp_path / "web", shift)))
    page.wait_for_selector("#status[data-state=ready]")
    page.set_input_files("#files", [LESION])  # while the self-test runs
    wait_until_ready(page)
    test = page.evaluate("window.__skinlens.ready.selfTest")
    assert not test["passed"] and test["maxDifference"] == pytest.approx(0.01, abs=1e-3)
    warning = page.locator("#self-test-warning")
    assert warning.is_visible() and warning.get_attribute("role") == "alert"
    assert "This browser is not giving reliable results" in warning.inner_text()
    assert "self-test FAILED" in page.text_content("#model-info")
    page.wait_for_timeout(1000)  # time enough to classify the photo, were it allowed
    assert page.get_attribute("#status", "data-state") == "error"
    assert "Not classifying: this browser failed the self-test" in page.inner_text("#status")
    assert page.evaluate("window.__skinlens.results.length") == 0 and page.is_hidden("#batch")
    assert page.is_disabled("#choose") and page.is_disabled("#files") and page.is_disabled("#take-photo")


def test_a_damaged_reference_image_is_not_blamed_on_the_browser(page, web_root, serve_web, tmp_path, metadata):
    """A golden image on the server that is not the file metadata.json names (one byte changed) makes the
    self-test say that the reference image is damaged, never that this browser is unreliable."""
    if not metadata["golden"]:
        pytest.skip("metadata.json lists no golden images")
    copy = tmp_path / "web"
    shutil.copytree(web_root, copy)
    golden = metadata["golden"][0]["file"]
    data = bytearray((copy / golden).read_bytes())
    data[len(data) // 2] ^= 0x01
    (copy / golden).write_bytes(bytes(data))

    page.goto(serve_web(copy))
    # Ready, and then in error as soon as the self-test finds the damaged file: the ready state can last less than
    # a frame, too short to be seen (two land-checks failed waiting for it).
    page.wait_for_selector("#status[data-state=ready], #status[data-state=error]")
    page.set_input_files("#files", [LESION])  # while the self-test runs, or after it
    wait_until_ready(page)
    test = page.evaluate("window.__skinlens.ready.selfTest")
    assert not test["passed"] and test["goldenDamaged"]
    damaged = f"the reference image {golden} is damaged: its sha256 does not match metadata.json"
    warning = page.locator("#self-test-warning")
    assert warning.is_visible() and damaged in warning.inner_text()
    assert "not this browser" in warning.inner_text()
    page.wait_for_timeout(1000)
    status = page.inner_text("#status")
    assert page.get_attribute("#status", "data-state") == "error" and damaged in status
    for text in (warning.inner_text(), status, page.text_content("#model-info")):
        assert "another browser" not in text and "not giving reliable results" not in text
        assert "FAILED" not in text
    assert page.evaluate("window.__skinlens.results.length") == 0


def _risk_words(risk, bins, kind=None):
    """The sentence a card must say for a score (card.js riskInWords), from metadata.json's bins, in Python."""
    (rate,) = [b["rate"] for i, b in enumerate(bins) if b["from"] <= risk and (risk < b["to"] or i == len(bins) - 1)]
    per100 = int(np.floor(rate * 100 + 0.5))
    share = {0: "fewer than 1 in 100", 100: "nearly all"}.get(per100, f"about {per100} of every 100")
    which = "ordinary (phone) photos" if kind == "photo" else "dermoscopic images"
    return f"In our tests on {which}, {share} pictures that scored like this one were a skin cancer."


def card_rule(metadata, result):
    """The screening rule a card applies (metadata.js screeningRule), worked out in Python: the threshold, bins
    and figures of the kind of picture the model judged (screening.by_kind), then, with every clinical field
    blank, that rule's photo-only ones.

    Returns:
        (rule, its figures (test where measured, else validation), kind id or None)
    """
    screening = metadata["screening"]
    kind = (result.get("pictureKind") or {}).get("id")
    base = (screening.get("by_kind") or {}).get(kind) or screening
    blank = base.get("without_clinical") if metadata.get("clinical") and not result["clinicalUsed"] else None
    rule = blank or base
    test = (blank.get("test") if blank else base.get("test")) or {}
    figures = test if test.get("sensitivity") is not None else rule["validation"]
    return rule, figures, kind if kind in (screening.get("by_kind") or {}) else None


@pytest.mark.parametrize("photo, band, width", [("ISIC_0024310.jpg", "higher", 360), ("ISIC_0024306.jpg", "lower", 1280)],
                         ids=["melanoma-phone", "mole-laptop"])
def test_the_card_leads_with_one_answer_in_words(page, app_url, metadata, photo, band, width):
    """The concern level comes first, says what its score means in counts people read correctly (no bare
    "risk score 43%"), and nothing below it reads against it: a higher-concern card shows no harmless
    type's reassuring description. After one photo the answer is scrolled into view and focused."""
    screening = metadata.get("screening")
    if not screening:
        pytest.skip("metadata.json has no screening block")
    page.set_viewport_size({"width": width, "height": 740})
    open_app(page, app_url)
    (result,) = choose(page, [FIXTURES / photo])
    malignant = [i for i, cls in enumerate(metadata["classes"]) if cls["id"] in screening["malignant_classes"]]
    risk = sum(probabilities(result)[i] for i in malignant)
    # The judged kind's rule; no clinical fields given: a model with a clinical input uses its photo-only one.
    chosen, figures, kind = card_rule(metadata, result)
    assert (result["risk"], result["threshold"], result["band"]) == (pytest.approx(risk, abs=1e-6),
                                                                     chosen["threshold"], band)
    card = page.locator(".result")
    first = card.locator(".result-body > *:nth-child(2)")  # right under the file name
    assert first.get_attribute("class") == f"triage band-{band}"
    text = " ".join(first.inner_text().split())
    expected = {"higher": "Higher concern: have a doctor look at it soon.",
                "lower": "Lower concern: keep an eye on it; see a doctor if it changes."}[band]
    assert text.startswith(("▲ " if band == "higher" else "● ") + expected)  # in words and symbol, not colour alone
    assert _risk_words(result["risk"], chosen["risk_bins"], kind) in text
    assert "Risk score" not in text and "%" not in text
    assert (f"caught {round(figures['sensitivity'] * 100)} of every 100 cancers (sensitivity) and cleared "
            f"{round(figures['specificity'] * 100)} of every 100 harmless lesions (specificity)") in text
    assert "not a diagnosis" in text
    shown = card.inner_text()
    for cls in metadata["classes"]:
        assert cls["name"] in shown
        assert (cls["description"] in shown) == (band == "lower" or cls["malignant"]), cls["id"]
    assert ("act on the concern level above" in shown) == (band == "higher")
    row = page.locator("#batch-table tbody tr")
    assert row.count() == 1 and {"higher": "Higher concern", "lower": "Lower concern"}[band] in row.inner_text()
    # In view and focused: the card's heading has the focus and the answer is on screen, on a phone.
    assert page.evaluate("document.activeElement.textContent") == photo
    top = first.bounding_box()
    covered = page.evaluate("""() => {  // the sticky banner's bottom edge, where it is sticky (wide screens)
      const banner = document.querySelector('header.banner');
      return getComputedStyle(banner).position === 'sticky' ? banner.getBoundingClientRect().bottom : 0;
    }""")
    assert covered <= top["y"] and top["y"] + top["height"] <= page.viewport_size["height"], (covered, top)


def test_activation_map_matches_the_probabilities_and_toggles(app_page, metadata):
    """The page's logits (the model's logits output, whose mean the cam's spatial mean is: tests/test_model.py)
    give the probabilities: softmax(logits / temperature + class bias).
    The overlay is hidden until its labelled checkbox is ticked."""
    if "cam" not in metadata["outputs"]:
        pytest.skip("this model has no cam output")
    (result,) = choose(app_page, [LESION])
    screening = metadata.get("screening") or {}
    bias = np.array(screening.get("class_bias") or np.zeros(len(metadata["classes"])), np.float16)  # as quantized
    logits = np.array(result["signals"]["logits"]) / screening.get("temperature", 1.0) + bias
    softmax = np.exp(logits - logits.max()) / np.exp(logits - logits.max()).sum()
    np.testing.assert_allclose(softmax, probabilities(result), atol=1e-4)

    card = app_page.locator(".result")
    overlay = card.locator("canvas.heatmap")
    assert overlay.is_hidden()
    toggle = card.get_by_label(f"Show where the model looked for “{result['top']['name']}”")
    toggle.check()
    assert overlay.is_visible() and card.locator(".heatmap-legend").is_visible()
    assert result["top"]["name"] in card.locator(".heatmap-note").inner_text()  # says which class's map
    toggle.uncheck()
    assert overlay.is_hidden()


def test_heatmap_upsamples_like_tensorflow_and_uses_viridis(app_page):
    ours, theirs, low, high = app_page.evaluate("""async () => {
      const heatmap = await import(new URL('heatmap.js', document.baseURI).href);
      const grid = Float32Array.from({length: 7 * 5}, (_, i) => Math.sin(i * 1.7) * 3);
      const ours = Array.from(heatmap.upsampleBilinear(grid, 7, 5, 61, 43));
      const theirs = tf.tidy(() => tf.image.resizeBilinear(tf.tensor4d(grid, [1, 7, 5, 1]), [61, 43], false, true));
      const values = Array.from(await theirs.data());
      theirs.dispose();
      return [ours, values, heatmap.viridis(0), heatmap.viridis(1)];
    }""")
    np.testing.assert_allclose(ours, theirs, atol=1e-5)
    assert low == [0x44, 0x01, 0x54] and high == [0xfd, 0xe7, 0x25]


# The true diagnoses of the golden images, from HAM10000_metadata.csv (Tschandl et al. 2018; `dx` by image_id):
# ISIC_0024306 nv (follow-up), ISIC_0024310 mel and ISIC_0024331 bcc (histopathology). Written here, not read
# from metadata.json, so that names swapped in the contract (or in trainer/labels.py) show up as a wrong answer.
GOLDEN_TRUTH = {"ISIC_0024306.jpg": "Melanocytic nevus (mole)", "ISIC_0024310.jpg": "Melanoma",
                "ISIC_0024331.jpg": "Basal cell carcinoma"}

# The overlay's pixels, as drawn: its size and the green channel, which rises monotonically along viridis.
OVERLAY_GREEN = """() => {
  const canvas = document.querySelector('.result canvas.heatmap');
  const data = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
  return {width: canvas.width, height: canvas.height, green: Array.from(data.filter((_, i) => i % 4 === 1))};
}"""
VIRIDIS_GREEN = [0x01, 0x25, 0x44, 0x60, 0x78, 0x90, 0xa8, 0xbf, 0xd1, 0xdf, 0xe7]


def test_golden_images_show_their_true_diagnosis(app_page):
    """A person choosing a melanoma sees "Melanoma" as the best match (and the mole, the mole)."""
    results = choose(app_page, [FIXTURES / name for name in GOLDEN_TRUTH])
    unfold_cards(app_page)
    for card_index, (result, name) in enumerate(zip(results, GOLDEN_TRUTH.values())):
        assert result["error"] is None and result["top"]["name"] == name, (result["file"], result["top"])
        top_row = app_page.locator(".result").nth(card_index).locator("tr.is-top")
        assert name in top_row.inner_text() and "best match" in top_row.inner_text().lower()


def test_photo_taken_with_the_camera_is_classified(app_page):
    """*Take a photo* hands the page a file through the camera input; it must be classified like a chosen one."""
    app_page.set_input_files("#camera", [LESION])
    results = wait_for_results(app_page, 1)  # a photo the page ignored fails here, with what the page showed
    assert results[0]["file"] == LESION.name and results[0]["error"] is None
    assert app_page.locator(".result .file-name").inner_text() == LESION.name


def test_activation_map_overlay_lands_where_the_map_says(app_page, web_root, metadata, tmp_path):
    """The lesion, shrunk into the top-left corner of a wider photo: the overlay drawn on the page must put
    the top class's map where Python's cam output puts it, not mirrored or rotated."""
    if "cam" not in metadata["outputs"]:
        pytest.skip("this model has no cam output")
    lesion = Image.open(LESION).convert("RGB")
    photo = Image.new("RGB", (300, 200), tuple(int(c) for c in np.asarray(lesion)[:8, :8].mean(axis=(0, 1))))
    photo.paste(lesion.resize((120, 90)), (12, 10))
    path = tmp_path / "corner.png"
    photo.save(path)

    (result,) = choose(app_page, [path])
    top = [cls["id"] for cls in metadata["classes"]].index(result["top"]["id"])
    cam = Predictor(web_root / "model").outputs(python_input(path, metadata)[None])["cam"][0, :, :, top]
    card = app_page.locator(".result")
    card.get_by_label(f"Show where the model looked for “{result['top']['name']}”").check()
    drawn = app_page.evaluate(OVERLAY_GREEN)
    width, height = drawn["width"], drawn["height"]
    shown = np.interp(np.reshape(drawn["green"], (height, width)), VIRIDIS_GREEN, np.linspace(0, 1, 11))

    # Where the map says: bilinear with half-pixel centres to the overlay's size, stretched 0..1.
    import tensorflow as tf

    expected = tf.compat.v1.image.resize_bilinear(cam[None, :, :, None], [height, width],
                                                  half_pixel_centers=True)[0, :, :, 0].numpy()
    expected = (expected - expected.min()) / (expected.max() - expected.min())
    difference = float(np.abs(shown - expected).max())
    assert difference < 0.03, f"the overlay differs from the map by up to {difference:.2f} of its range"
    # The hottest point, in the cell of the map's maximum (a rotation by 180° would move it to the
    # opposite cell unless that is the centre; this photo's map peaks away from it).
    rows, cols = cam.shape
    i, j = np.unravel_index(np.argmax(cam), cam.shape)
    assert (i, j) != (rows // 2, cols // 2)
    hot_y, hot_x = np.argwhere(shown >= shown.max() - 0.01).mean(axis=0)
    assert abs((hot_y + 0.5) / height - (i + 0.5) / rows) < 0.5 / rows
    assert abs((hot_x + 0.5) / width - (j + 0.5) / cols) < 0.5 / cols


def _sha256(path):
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


# The malformed metadata.json cases tried in the page: each way a refusal reaches the status line (not JSON, not
# an object, unstamped, a version the page does not read, a field checkMetadata refuses, a file outside model/,
# the model's outputs against the classes listed). Every case's words are web/metadata.js checkMetadata's, the
# same as Python's for each of them (tests/test_contract.py, in Node, in seconds); a page start per case was a
# minute of the suite.
IN_THE_PAGE = ["bare-NaN", "not-an-object", "version-missing", "schema-version-2", "height-string",
               "model-json-outside", "golden-outside", "class-dropped"]


@pytest.mark.parametrize("case", [case for case in CASES if case["id"] in IN_THE_PAGE],
                         ids=[case["id"] for case in CASES if case["id"] in IN_THE_PAGE])
def test_malformed_metadata_is_refused_in_words(page, web_root, serve_web, tmp_path, case):
    """Malformed metadata.json (tests/fixtures/malformed_metadata.json, re-stamped as someone who edits it
    would) is refused in the words `trainer predict` uses (tests/test_contract.py, the same cases), naming the
    field, never with a JavaScript error's text."""
    site = web_with_metadata(web_root, tmp_path / "web", lambda m: malformed(m, case), stamp=case.get("stamp", True))
    page.goto(serve_web(site))
    page.wait_for_selector("#status[data-state=error]")
    status = page.inner_text("#status")
    assert status.startswith("SkinLens could not start: ") and case["says"] in status, status
    assert "undefined" not in status and "Cannot read" not in status
    assert page.is_disabled("#files")


def _rename_melanoma(metadata):
    classes = [{**c, "name": "Harmless freckle"} if c["id"] == "mel" else c for c in metadata["classes"]]
    return {**metadata, "classes": classes}


def _altered_shard(web_root, tmp_path):
    """A copy of the site with one weight shard changed and its new sha256 written into metadata.json."""
    copy = tmp_path / "altered"
    shutil.copytree(web_root, copy)
    shard = sorted((copy / "model").glob("*.bin"))[0]
    data = bytearray(shard.read_bytes())
    data[len(data) // 2] ^= 0x01
    shard.write_bytes(bytes(data))
    path = copy / "model" / "metadata.json"
    metadata = json.loads(path.read_text())
    metadata["model"]["files"][shard.name] = hashlib.sha256(bytes(data)).hexdigest()
    path.write_text(json.dumps(metadata))
    return copy


@pytest.mark.parametrize("alter", ["rename-melanoma", "threshold", "shard-and-its-checksum"])
def test_content_that_does_not_match_its_version_is_refused(page, web_root, serve_web, tmp_path, metadata, alter):
    """metadata.json edited after conversion (melanoma renamed, the threshold moved, a shard replaced along
    with its checksum) no longer hashes to its version: the page refuses it in words and classifies nothing."""
    if alter == "shard-and-its-checksum":
        site = _altered_shard(web_root, tmp_path)
    else:
        edit = _rename_melanoma if alter == "rename-melanoma" else (
            lambda m: {**m, "screening": {**m["screening"], "threshold": 0.999}})
        site = web_with_metadata(web_root, tmp_path / "web", edit, stamp=False)
    page.goto(serve_web(site))
    page.wait_for_selector("#status[data-state=error]")
    status = page.inner_text("#status")
    version = metadata["model"]["version"]
    assert status.startswith(f"SkinLens could not start: the model files do not match their version: "
                             f"metadata.json says {version}, but its content is version …-"), status
    assert page.evaluate("window.__skinlens.error.code") == "version-mismatch"
    assert page.is_disabled("#files") and "Harmless freckle" not in page.content()


def test_the_same_edit_stamped_with_its_own_version_loads_under_that_version(page, web_root, serve_web, tmp_path,
                                                                             metadata):
    """Re-stamped as the converter would (a new release), the content loads, and says it is another version."""
    open_app(page, serve_web(web_with_metadata(web_root, tmp_path / "web", _rename_melanoma)))
    shown = page.text_content("#model-version")
    assert shown != metadata["model"]["version"] and shown.startswith(version_name(metadata) + "-")


def test_the_page_names_the_data_the_model_learned_from(page, web_root, serve_web, tmp_path):
    """metadata.dataset (the run's provenance) is what the page credits and names in its limits: a model
    trained on other data never claims HAM10000."""
    def other_data(metadata):
        metadata["dataset"] = {"name": "Clinic X 2025", "citation": "Doe J., Clinic X photos (2025).",
                               "licence": "CC BY 4.0", "url": "https://example.org/clinic-x",
                               "licence_url": None, "population": None}
        metadata["datasets"] = [metadata["dataset"]]
        return metadata

    open_app(page, serve_web(web_with_metadata(web_root, tmp_path / "web", other_data)))
    assert page.inner_text("#data-credit") == ("The model was trained on Clinic X 2025: Doe J., Clinic X photos "
                                               "(2025), https://example.org/clinic-x, licensed CC BY 4.0.")
    assert page.get_attribute("#data-credit a", "href") == "https://example.org/clinic-x"
    assert "It learned from Clinic X 2025." in page.inner_text(".limits")
    assert "HAM10000" not in page.inner_text("body")


def _readme_example():
    """The embedding example from docs/how-it-works.md (moved there from the README), as written there."""
    readme = (Path(__file__).resolve().parents[2] / "docs" / "how-it-works.md").read_text()
    section = readme.split("## Embedding it in another page", 1)[1]
    return section.split("```html\n", 1)[1].split("```", 1)[0]


def test_the_readme_embedding_example_works(page, web_root, serve_pages, tmp_path):
    """Another page, the documented example as written (an inline module script: served as a static host
    would, without SkinLens' CSP), gets an answer through the module API, and a clear message for a file
    it cannot read."""
    example = tmp_path / "example.html"
    example.write_text('<!doctype html>\n<meta charset=utf-8>\n<link rel="icon" href="data:,">\n'
                       f"<title>embedded</title>\n{_readme_example()}")
    site = serve_pages(web_with_file(web_root, tmp_path / "web", example, "example.html"))
    page.goto(f"{site}example.html")
    # This page has no CSP, so Playwright may poll with eval. load() has resolved once the handler is set.
    page.wait_for_function("document.getElementById('photo').onchange !== null", timeout=60_000)
    page.set_input_files("#photo", [LESION])
    page.wait_for_function("document.getElementById('answer').textContent !== ''")
    assert re.fullmatch(r"Melanoma: (higher|lower) concern(; .+)?", page.inner_text("#answer")), \
        page.inner_text("#answer")
    page.set_input_files("#photo", [FIXTURES / "photo.heic"])
    page.wait_for_function("document.getElementById('answer').textContent.startsWith('HEIC')")
    assert "export as JPEG" in page.inner_text("#answer")


def test_server_serves_your_own_model_folder(page, tiny_web):
    """`server.py --model DIR`: the page runs another converted model (here the tiny test model) with its
    own golden images, self-test passed, web/model untouched; its offline copy installs (precache.json
    lists the served files)."""
    from server import create_app, serving

    tiny = json.loads((tiny_web / "model" / "metadata.json").read_text())
    with serving(create_app({"MODEL_DIR": str(tiny_web / "model")})) as url:
        open_app(page, url)
        ready = page.evaluate("window.__skinlens.ready")
        assert ready["version"] == tiny["model"]["version"] == page.text_content("#model-version")
        assert ready["selfTest"]["passed"] and ready["selfTest"]["cases"] == len(tiny["golden"])
        page.wait_for_selector("#offline:has-text('works offline')", state="attached")


def test_the_limits_name_each_source_and_each_kind_of_picture(page, web_root, serve_web, tmp_path):
    """A model trained on dermoscopy and phone photos says so in "What SkinLens has not seen": each source with
    who it shows, both kinds of picture, and each kind's tested sensitivity (metadata.js seenAndUnseen)."""
    def two_sources(metadata):
        metadata["datasets"] = [{"name": "Derm A", "population": "dermoscopy from Austria"},
                                {"name": "Phones B", "population": "phone photos from Brazil"}]
        metadata["picture_kinds"] = [{"id": "dermoscopic", "name": "dermoscopic close-up"},
                                     {"id": "photo", "name": "ordinary photo"}]
        metadata["picture_kind_photo_from"] = 0.5
        s = metadata["screening"]
        s["by_kind"] = {kind: {"threshold": s["threshold"], "few_cancers": kind == "photo", "risk_bins": s["risk_bins"],
                               "validation": s["validation"],
                               "test": {"n": 79, "n_malignant": 44, "sensitivity": 0.932, "answered": 0.937}}
                        for kind in ("dermoscopic", "photo")}
        return metadata

    open_app(page, serve_web(web_with_metadata(web_root, tmp_path / "web", two_sources)))
    limits = " ".join(page.inner_text(".limits").split())
    assert ("It learned from Derm A (dermoscopy from Austria) and Phones B (phone photos from Brazil). It knows "
            "dermoscopic close-ups and ordinary photos of a spot on the skin.") in limits
    assert "Ordinary phone photos" not in limits
    assert ("On ordinary photos it had not seen (79 pictures, 44 of them cancers), it called 93 of every 100 "
            "cancers “higher concern” and answered 94 of every 100 pictures; these figures rest on few cancers.") in limits
