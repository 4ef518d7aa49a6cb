"""The out-of-scope warning in a real Chromium: the page's not-a-lesion probability (the model's
`out_of_scope` output), feature distance (its `feature_distance` output) and blur (variance of the
Laplacian of the input's luminance) equal Python's for the same input; each threshold of
metadata.json's `scope` block flags the inputs on its side and only those; a picture flagged as not a
lesion leads its card with that; without the block only the built-in checks apply, and a model
without the `feature_distance` output gets no distance check.

    python -m pytest tests/browser/test_scope.py -q -s     # -s prints how the checks separate images
"""

import numpy as np
import pytest
from PIL import Image, ImageFilter

from browser_helpers import (FIXTURES, FROM_BASE64, LESION, LOAD_MODEL, SCREENSHOTS, as_base64, checked_page, choose,
                             open_app, web_with_metadata)
from trainer.images import prepare
from trainer.predict import Predictor

pytestmark = pytest.mark.browser

LUMA = np.array([0.299, 0.587, 0.114])

SIGNALS = """async ([tensors, size]) => {
  const bytes = %s;
  const out = [];
  for (const values of tensors) {
    const {signals} = await window.__model.classify(
      {data: bytes(values), width: size, height: size, channels: 3});
    out.push([signals.distance, signals.blur, signals.outOfScope]);
  }
  return out;
}""" % FROM_BASE64


# How far the page's feature distance may be from Python's for the same input: TensorFlow.js and TensorFlow
# run the same graph (weights dequantized alike) in float32 with different kernels. Measured max relative |Δ|
# (printed by test_distance_and_blur_match_python): shipped float16 8-view model deep-f4dfb343a2a8 6.8e-5
# wasm; the one-view model before it 7.3e-5 wasm (on the flat-colour input; 2.5e-6 at most on the others),
# 2.3e-5 webgl, 1.4e-7 cpu; tiny float32 test model 4.0e-6 wasm. 5e-4 is about 7 times the worst.
DISTANCE_RTOL = 5e-4
# The not-a-lesion probability, a sigmoid of a dot product of the same pooled features: measured max |Δ|
# (printed by test_distance_and_blur_match_python): shipped float16 8-view model clinical-scope-78bb04ade173
# 6.0e-8 wasm. 1e-4 leaves room for other backends and builds; a swapped or mis-scaled kernel is off by far more.
OUT_OF_SCOPE_ATOL = 1e-4


def python_signals(predictor, images):
    """(distance, blur, out_of_scope) of float32 model inputs (n, H, W, 3): the model's feature_distance
    and out_of_scope outputs, run by TensorFlow from the web model's own graph, and the blur formula of
    trainer/scope.py in float64."""
    outputs = predictor.outputs(images.astype(np.float32))
    y = images.astype(np.float64) @ LUMA
    laplacian = y[:, :-2, 1:-1] + y[:, 2:, 1:-1] + y[:, 1:-1, :-2] + y[:, 1:-1, 2:] - 4 * y[:, 1:-1, 1:-1]
    return (outputs["feature_distance"].astype(np.float64), laplacian.reshape(len(images), -1).var(axis=1),
            outputs["out_of_scope"].astype(np.float64))


@pytest.fixture(scope="module")
def predictor(web_root, metadata):
    if not {"feature_distance", "out_of_scope"} <= set(metadata["outputs"]):
        pytest.skip("this model has no feature_distance or out_of_scope output")
    return Predictor(web_root / "model")


def _save(tmp_path, name, image):
    path = tmp_path / name
    image.save(path)
    return path


@pytest.fixture
def images(tmp_path):
    """In-scope lesions and out-of-scope inputs, as files."""
    lesion = Image.open(LESION).convert("RGB")
    return {
        "lesion": LESION,
        "lesion 2": FIXTURES / "ISIC_0024306.jpg",
        "lesion 3": FIXTURES / "ISIC_0024331.jpg",
        "large lesion": FIXTURES / "large_3200x2400.jpg",
        "flat grey": _save(tmp_path, "flat.png", Image.new("RGB", (300, 180), (128, 128, 128))),
        "blurred lesion": _save(tmp_path, "blurred.png", lesion.filter(ImageFilter.GaussianBlur(8))),
        "small lesion": _save(tmp_path, "small.png", lesion.resize((64, 48))),
        "noise": _save(tmp_path, "noise.png", Image.fromarray(
            np.random.default_rng(0).integers(0, 256, (300, 300, 3), dtype=np.uint8))),
        "stripes": _save(tmp_path, "stripes.png", Image.fromarray(
            np.kron(np.indices((30, 30)).sum(0) % 2 * 255, np.ones((10, 10))).astype(np.uint8)).convert("RGB")),
    }


def test_distance_and_blur_match_python(app_page, metadata, predictor):
    """Same uint8 input at the model's size (no resize on either side): the same distance, blur and
    not-a-lesion probability."""
    size = metadata["input"]["height"]
    rng = np.random.default_rng(1)
    lesion = np.round(prepare(LESION, size, size)).astype(np.uint8)
    tensors = [lesion, rng.integers(0, 256, (size, size, 3), dtype=np.uint8),
               np.full((size, size, 3), (180, 120, 100), np.uint8),
               np.dstack([*np.meshgrid(np.linspace(0, 255, size), np.linspace(255, 0, size)),
                          np.full((size, size), 90.0)]).astype(np.uint8)]
    app_page.evaluate(LOAD_MODEL)
    browser = np.array(app_page.evaluate(SIGNALS, [[as_base64(t) for t in tensors], size]))
    distance, blur, out_of_scope = python_signals(predictor, np.stack(tensors))
    print(f"\ndistance {distance.round(4)} (max relative |Δ| {np.max(np.abs(browser[:, 0] - distance) / distance):.1e}); "
          f"blur {blur.round(2)} (max relative Δ {np.abs(browser[:, 1] - blur).max() / blur.max():.1e}); "
          f"not a lesion {out_of_scope.round(4)} (max |Δ| {np.abs(browser[:, 2] - out_of_scope).max():.1e})")
    assert blur[2] == 0 and np.ptp(distance) > 0.1 * distance.min()  # the inputs do differ
    assert np.ptp(out_of_scope) > 0.1
    np.testing.assert_allclose(browser[:, 0], distance, rtol=DISTANCE_RTOL)
    np.testing.assert_allclose(browser[:, 1], blur, rtol=1e-4, atol=1e-3)
    np.testing.assert_allclose(browser[:, 2], out_of_scope, atol=OUT_OF_SCOPE_ATOL)


def test_each_threshold_flags_its_side(page, web_root, serve_web, tmp_path, metadata, predictor, images):
    """Thresholds set between two images' values flag the one on the out-of-scope side and not the other."""
    size = metadata["input"]["height"]
    chosen = [images[name] for name in ("lesion", "lesion 2", "flat grey", "large lesion")]
    distance, blur, out_of_scope = python_signals(predictor, np.stack([prepare(p, size, size) for p in chosen]))
    low, high = np.argsort(distance)[[0, -1]]
    likely, unlikely = np.argsort(out_of_scope)[[-1, 0]]
    scope = {"out_of_scope_threshold": float((out_of_scope[likely] + out_of_scope[unlikely]) / 2),
             "distance_threshold": float((distance[low] + distance[high]) / 2),
             "blur_threshold": float(blur[blur > 0].min() / 2),  # flags only the flat grey image
             "confidence_threshold": 1.01,  # nothing is that confident: flags everything
             "min_side": 200}  # the lesions are 150 px high, the large one 2400
    site = serve_web(web_with_metadata(web_root, tmp_path / "web", lambda m: {**m, "scope": scope}))
    open_app(page, site)
    results = choose(page, chosen)
    flagged = [{warning["code"] for warning in r["warnings"]} for r in results]

    for i, checks in enumerate(flagged):
        assert "confidence" in checks
        assert ("distance" in checks) == (results[i]["signals"]["distance"] > scope["distance_threshold"])
        assert ("size" in checks) == (i != 3)
    assert "distance" in flagged[high] and "distance" not in flagged[low]
    for i, checks in enumerate(flagged):
        assert ("not-a-lesion" in checks) == (results[i]["signals"]["outOfScope"] > scope["out_of_scope_threshold"])
    assert "not-a-lesion" in flagged[likely] and "not-a-lesion" not in flagged[unlikely]
    assert [("blur" in checks) for checks in flagged] == [False, False, True, False]
    card = page.locator(".result").nth(2)
    card.locator(".result-summary").click()  # a batch's cards are folded
    warning = card.locator(".scope-warning")
    assert warning.is_visible() and "looks blurred" in warning.inner_text()
    assert "no type is confident" in warning.inner_text() and "very small" in warning.inner_text()
    assert "looks blurred" in page.locator("#batch-table tbody tr").nth(2).inner_text()


def test_without_a_scope_block_only_the_built_in_checks_apply(page, web_root, serve_web, tmp_path, images, metadata):
    def without_scope(metadata):
        metadata.pop("scope", None)
        return metadata

    open_app(page, serve_web(web_with_metadata(web_root, tmp_path / "web", without_scope)))
    classes = len(metadata["classes"])
    side = metadata["input"]["height"]
    flat, small, lesion = choose(page, [images["flat grey"], images["small lesion"], images["lesion"]])
    for result in (flat, small, lesion):
        checks = {warning["code"] for warning in result["warnings"]}
        assert "distance" not in checks and "blur" not in checks  # no measured thresholds to apply
        assert ("confidence" in checks) == (result["top"]["probability"] < 2 / classes)
        assert ("size" in checks) == (result["signals"]["minSide"] < side)
    assert flat["signals"]["blur"] == 0 and small["signals"]["minSide"] == 48


def test_how_the_checks_separate_in_and_out_of_scope_images(app_page, metadata, images):
    """With the shipped `scope` block: prints which check flags which image; the flat image must be
    flagged as blurred and no lesion flagged as not dermoscopic."""
    if not metadata.get("scope"):
        pytest.skip("metadata.json has no scope block")
    names = list(images)
    results = choose(app_page, [images[n] for n in names])
    print(f"\n{'image':16} {'not lesion':>10} {'distance':>9} {'blur':>10} {'top p':>6}  flagged by")
    for name, r in zip(names, results):
        print(f"{name:16} {r['signals']['outOfScope'] or float('nan'):10.4f} {r['signals']['distance'] or float('nan'):9.3f} "
              f"{r['signals']['blur']:10.1f} {r['top']['probability']:6.3f}  "
              f"{', '.join(warning['code'] for warning in r['warnings']) or '-'}")
    flags = {name: {warning["code"] for warning in r["warnings"]} for name, r in zip(names, results)}
    assert "blur" in flags["flat grey"]
    lesions = ("lesion", "lesion 2", "lesion 3", "large lesion")
    assert not [n for n in lesions if flags[n] & {"distance", "not-a-lesion"}]
    if "out_of_scope_threshold" in metadata["scope"]:
        assert all("not-a-lesion" in flags[n] for n in ("flat grey", "noise", "stripes"))


def test_a_picture_that_is_not_a_lesion_leads_with_that(app_page, metadata, images):
    """The card of a picture flagged as not a lesion opens with the warning, above the concern box:
    no plain answer comes first."""
    if "out_of_scope_threshold" not in (metadata.get("scope") or {}):
        pytest.skip("this model has no not-a-lesion detector")
    result, = choose(app_page, [images["noise"]])
    assert "not-a-lesion" in {warning["code"] for warning in result["warnings"]}
    card = app_page.locator(".result").first
    order = card.evaluate("""(card) => [...card.querySelectorAll('.scope-warning, .triage')]
      .map((node) => node.className)""")
    assert order[0].startswith("scope-warning") and len(order) == 2
    assert "found no spot on the skin" in card.locator(".scope-warning").inner_text()
    # No answer in view: the concern box and the types are folded away, there for whoever opens them.
    assert not card.locator(".triage").is_visible() and not card.locator(".types").first.is_visible()
    card.locator(".answer-anyway > summary").click()
    assert card.locator(".triage").is_visible()


@pytest.mark.parametrize("width", [360, 1280])
def test_not_a_lesion_screenshot(browser, app_url, metadata, images, width):
    """What a person sees after choosing a picture of something else, on a phone and a laptop: the
    warning in view first (test-results/screenshots/not-a-lesion-<width>.png)."""
    if "out_of_scope_threshold" not in (metadata.get("scope") or {}):
        pytest.skip("this model has no not-a-lesion detector")
    phone = {"viewport": {"width": 360, "height": 780}, "device_scale_factor": 2, "is_mobile": True, "has_touch": True}
    with checked_page(browser, **(phone if width == 360 else {"viewport": {"width": 1280, "height": 900}})) as page:
        open_app(page, app_url)
        choose(page, [images["stripes"]])
        warning = page.locator(".result .scope-warning").first
        box = warning.bounding_box()
        assert box and 0 <= box["y"] < page.viewport_size["height"]  # scrolled into view with the card
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / f"not-a-lesion-{width}.png"))


def test_a_model_without_feature_distance_gets_no_distance_check(page, web_root, serve_web, tmp_path, images):
    """An older model (no feature_distance output) still classifies, with the other checks only, even
    under a distance threshold every input would exceed."""
    def without_distance(metadata):
        metadata["outputs"].pop("feature_distance", None)
        metadata["scope"] = {**(metadata.get("scope") or {}), "distance_threshold": 0.0, "blur_threshold": 1.0,
                             "confidence_threshold": 0.0, "min_side": 1}
        return metadata

    open_app(page, serve_web(web_with_metadata(web_root, tmp_path / "web", without_distance)))
    flat, lesion = choose(page, [images["flat grey"], images["lesion"]])
    assert flat["error"] is None and lesion["error"] is None
    assert flat["signals"]["distance"] is None and lesion["signals"]["distance"] is None
    flat_codes, lesion_codes = ([warning["code"] for warning in r["warnings"]] for r in (flat, lesion))
    assert "distance" not in flat_codes and "blur" in flat_codes and lesion_codes == []
