"""The web app in a real Chromium: it loads from server.py and from a GitHub Pages-like sub-path,
classifies chosen photos like Python does, leaks no tensors, explains every file it cannot read,
and refuses a model whose files do not match their checksums.

    python -m pytest tests/browser -q

Every test also fails on a console error, a CSP violation or a request to another origin (see the
`page` fixture in conftest.py).
"""

import base64
import hashlib
import io
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from trainer.images import prepare

pytestmark = pytest.mark.browser

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "images"
LESION = FIXTURES / "ISIC_0024310.jpg"

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

# How far the browser's probabilities may be from the golden ones Python computed, by weight quantization:
# tfjs dequantizes float16/uint8 weights, so the graph it runs is not quite the float32 model Python ran.
GOLDEN_TOLERANCE = {"none": 1e-3, "float16": 0.03, "uint8": 0.1}

# Polls in the page (Playwright's wait_for_function would need eval, which the CSP forbids).
WAIT_FOR_RESULTS = """async (count) => {
  const done = () => window.skinlens.lastResults.length >= count &&
    document.getElementById('status').dataset.state === 'ready';
  while (!done()) await new Promise((resolve) => setTimeout(resolve, 50));
  return window.skinlens.lastResults;
}"""

# The page's own pipeline up to the model input, for comparison with trainer.images.prepare.
PREPROCESS_IN_PAGE = """async (b64) => {
  const imaging = await import(new URL('imaging.js', document.baseURI).href);
  const {metadata} = window.skinlens.classifier;
  const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
  const bitmap = await imaging.decodeImage(new Blob([bytes]), metadata.preprocess);
  const pixels = imaging.bitmapToPixels(bitmap, metadata.preprocess.alpha_background);
  bitmap.close();
  const input = tf.tidy(() => imaging.preprocess(tf, imaging.rgbTensor(tf, pixels), metadata));
  const values = Array.from(await input.data());
  input.dispose();
  return values;
}"""


def open_app(page, url):
    """Opens the page and waits until the model is loaded; fails with the page's message if it did not."""
    page.goto(url)
    page.wait_for_selector("#status:not([data-state=loading])")
    assert page.get_attribute("#status", "data-state") == "ready", page.inner_text("#status")


def browser_input(page, data, metadata):
    """The model input the page builds from a file's bytes, as a [H, W, 3] array."""
    values = page.evaluate(PREPROCESS_IN_PAGE, base64.b64encode(data).decode())
    return np.array(values).reshape(metadata["input"]["height"], metadata["input"]["width"], 3)


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


def choose(page, files):
    """Chooses files in the file input and returns the page's results once all are classified."""
    page.set_input_files("#files", files)
    return page.evaluate(WAIT_FOR_RESULTS, len(files))


@pytest.fixture(params=["server.py", "pages"])
def site_url(request):
    """The app's URL from server.py (at /) and from a plain static server (at /skinlens/)."""
    return request.getfixturevalue("app_url" if request.param == "server.py" else "pages_url")


def test_page_loads_to_ready(page, site_url, metadata):
    open_app(page, site_url)
    assert page.evaluate("window.skinlens.ready.then(() => 'resolved')") == "resolved"
    assert page.inner_text("#model-version") == metadata["model"]["version"]
    assert page.inner_text("#model-backend") == "wasm"  # the first choice works in Chromium
    assert page.is_visible(".notice") and "not a diagnosis" in page.inner_text(".notice")
    assert "HAM10000" in page.inner_text("footer")
    assert page.is_enabled("#files")


def test_chosen_photo_shows_every_class(page, site_url, metadata):
    open_app(page, site_url)
    (result,) = choose(page, [LESION])
    classes = metadata["classes"]
    assert result["error"] is None and result["file"] == LESION.name
    assert len(result["probabilities"]) == len(classes)
    assert sum(result["probabilities"]) == pytest.approx(1, abs=1e-4)
    best = int(np.argmax(result["probabilities"]))
    assert result["top"]["id"] == classes[best]["id"]

    card = page.locator(".result")
    assert card.locator(".file-name").inner_text() == LESION.name
    assert card.locator(".class-name").count() == len(classes)
    for cls in classes:
        assert cls["name"] in card.inner_text()
    top_row = card.locator("tr.is-top")
    assert top_row.count() == 1 and classes[best]["name"] in top_row.inner_text()
    assert "most likely" in top_row.inner_text().lower()  # marked in words, not only by colour


def test_classifying_leaks_no_tensors(page, app_url):
    open_app(page, app_url)
    before = page.evaluate("tf.memory().numTensors")
    results = choose(page, [LESION, FIXTURES / "large_3200x2400.jpg", FIXTURES / "alpha.png",
                            FIXTURES / "not_an_image.jpg"])
    assert [r["error"] is None for r in results] == [True, True, True, False]
    assert page.evaluate("tf.memory().numTensors") == before


def test_classify_pixels_takes_rgb_or_rgba_without_leaking(page, app_url):
    open_app(page, app_url)
    before, after, rgb, rgba = page.evaluate("""async () => {
      const {classifier} = window.skinlens;
      const [width, height] = [300, 200];
      const rgb = new Uint8Array(width * height * 3).map((_, i) => (i * 7) % 256);
      const rgba = new Uint8ClampedArray(width * height * 4).map((_, i) => i % 4 === 3 ? 255 : rgb[i - (i >> 2)]);
      const before = tf.memory().numTensors;
      const a = await classifier.classifyPixels({data: rgb, width, height, channels: 3});
      const b = await classifier.classifyPixels({data: rgba, width, height, channels: 4});
      return [before, tf.memory().numTensors, a.probabilities, b.probabilities];
    }""")
    assert after == before
    assert rgb == rgba


def test_unreadable_files_get_clear_messages_and_do_not_stop_the_batch(page, app_url):
    open_app(page, app_url)
    # A PNG header declaring 20000×20000: refused from the header, before any decoding.
    huge = b"\x89PNG\r\n\x1a\n\x00\x00\x00\x0dIHDR" + (20000).to_bytes(4, "big") * 2 + bytes(9)
    # A PNG whose image data is garbage: sniffed as PNG, then the decoder fails.
    png = bytearray((FIXTURES / "png_rgb.png").read_bytes())
    png[60:-20] = bytes(len(png) - 80)
    files = [_upload(FIXTURES / "photo.heic"), _upload(FIXTURES / "not_an_image.jpg"), _upload(LESION),
             _upload(FIXTURES / "truncated.jpg"), _upload("broken.png", bytes(png)),
             _upload(FIXTURES / "tiny_16x12.png"), _upload("huge.png", huge)]
    heic, text, good, truncated, broken, tiny, big = choose(page, files)
    assert heic["error"].startswith("HEIC photos can't be read by this browser: export as JPEG")
    assert "Most Compatible" in heic["error"]
    assert text["error"].startswith("not an image SkinLens can read")
    assert good["error"] is None and good["probabilities"]
    assert truncated["error"] == broken["error"] == "the file looks like an image but could not be decoded (corrupt?)"
    assert "too small" in tiny["error"] and "16×12" in tiny["error"]
    assert "400.0 megapixels" in big["error"]
    assert all(r["probabilities"] is None for r in (heic, text, truncated, broken, tiny, big))

    cards = page.locator(".result")
    assert cards.count() == len(files)
    assert page.locator(".result.failed").count() == len(files) - 1
    assert heic["error"] in cards.nth(0).inner_text()


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
    assert expected in page.evaluate("window.skinlens.ready.then(() => '', (error) => error.message)")
    assert page.is_disabled("#files")


@pytest.mark.parametrize("name", ["ISIC_0024306.jpg", "ISIC_0024310.jpg", "exif_rotated.jpg", "alpha.png",
                                  "palette.png", "png_rgb.png", "grayscale.jpg", "gray16.png", "cmyk.jpg",
                                  "large_3200x2400.jpg"])
def test_preprocessing_matches_python(page, app_url, metadata, name):
    """The model input the page builds equals trainer.images.prepare's, up to float and alpha rounding."""
    open_app(page, app_url)
    path = FIXTURES / name
    difference = np.abs(browser_input(page, path.read_bytes(), metadata) - python_input(path, metadata))
    assert difference.mean() < 0.05 and difference.max() < 1, (difference.mean(), difference.max())


def _encode(options, size=(203, 151)):
    buffer = io.BytesIO()
    Image.open(LESION).convert("RGB").resize(size).save(buffer, **options)
    return buffer.getvalue()


@pytest.mark.parametrize("name", FORMATS)
def test_every_format_decodes_like_python(page, app_url, metadata, name, tmp_path):
    open_app(page, app_url)
    path = tmp_path / "image"
    path.write_bytes(_encode(FORMATS[name]))
    assert np.abs(browser_input(page, path.read_bytes(), metadata) - python_input(path, metadata)).max() < 1


@pytest.mark.parametrize("name", FORMATS)
def test_pixel_limit_is_read_from_the_header(page, app_url, metadata, name):
    """Only the header is given: the limit must be enforced before decoding (which would fail)."""
    open_app(page, app_url)
    head = _encode(FORMATS[name])[:1024]
    message = decode_error(page, head, {**metadata["preprocess"], "max_pixels": 203 * 151 - 1})
    assert message.startswith("this image is 203×151 (0.0 megapixels)"), message


def test_byte_limit(page, app_url, metadata):
    open_app(page, app_url)
    jpeg = _encode(FORMATS["JPEG"])
    message = decode_error(page, jpeg, {**metadata["preprocess"], "max_bytes": len(jpeg) - 1})
    assert message.startswith(f"this file is {len(jpeg) / 2**20:.1f} MB; SkinLens reads images up to"), message


@pytest.mark.parametrize("backend", ["wasm", "webgl", "cpu"])
def test_golden_images_match_python(page, app_url, web_root, metadata, backend):
    """Each backend gives the probabilities the converter recorded from Python for the golden images."""
    if not metadata["golden"]:
        pytest.skip("metadata.json lists no golden images")
    page.goto(f"{app_url}?backend={backend}")
    page.wait_for_selector("#status:not([data-state=loading])")
    if backend == "webgl" and "no TensorFlow.js backend works" in page.inner_text("#status"):
        pytest.skip("this Chromium has no WebGL")
    assert page.get_attribute("#status", "data-state") == "ready", page.inner_text("#status")
    assert page.inner_text("#model-backend") == backend
    tolerance = GOLDEN_TOLERANCE[metadata["model"]["quantization"]]
    for golden in metadata["golden"]:
        assert _sha256(web_root / golden["file"]) == golden["sha256"]
        result = page.evaluate("(url) => window.skinlens.classifyUrl(url)", golden["file"])
        assert result["error"] is None, result["error"]
        np.testing.assert_allclose(result["probabilities"], golden["probabilities"], atol=tolerance,
                                   err_msg=golden["file"])
        assert np.argmax(result["probabilities"]) == np.argmax(golden["probabilities"])


def _upload(path, data=None):
    """A file for set_input_files, from disk or from bytes (Playwright does not mix the two)."""
    path = Path(path)
    return {"name": path.name, "mimeType": "application/octet-stream",
            "buffer": path.read_bytes() if data is None else data}


def _sha256(path):
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()
