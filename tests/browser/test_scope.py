"""The out-of-scope warning in a real Chromium: the page's energy (logsumexp of the logits, the spatial
mean of the cam output) and blur (variance of the Laplacian of the input's luminance) equal Python's
for the same input; each threshold of metadata.json's `scope` block flags the inputs on its side and
only those; without the block only the built-in checks apply.

    python -m pytest tests/browser/test_scope.py -q -s     # -s prints how the checks separate images
"""

import numpy as np
import pytest
from PIL import Image, ImageFilter

from browser_helpers import FIXTURES, LESION, choose, open_app, web_with_metadata
from trainer.images import prepare
from trainer.predict import tfjs_graph_function

pytestmark = pytest.mark.browser

LUMA = np.array([0.299, 0.587, 0.114])

SIGNALS = """async ([tensors, size]) => {
  const out = [];
  for (const values of tensors) {
    const {scope} = await window.skinlens.classifier.classifyPixels(
      {data: Uint8Array.from(values), width: size, height: size, channels: 3});
    out.push([scope.energy, scope.blur]);
  }
  return out;
}"""


def python_signals(run, images):
    """(energy, blur) of float32 model inputs (n, H, W, 3) by the formulas of metadata.json's scope block."""
    logits = run(images.astype(np.float32))["cam"].astype(np.float64).mean(axis=(1, 2))
    peak = logits.max(axis=1, keepdims=True)
    energy = (peak + np.log(np.exp(logits - peak).sum(axis=1, keepdims=True)))[:, 0]
    y = images.astype(np.float64) @ LUMA
    laplacian = y[:, :-2, 1:-1] + y[:, 2:, 1:-1] + y[:, 1:-1, :-2] + y[:, 1:-1, 2:] - 4 * y[:, 1:-1, 1:-1]
    return energy, laplacian.reshape(len(images), -1).var(axis=1)


@pytest.fixture(scope="module")
def graph(web_root, metadata):
    if "cam" not in metadata["outputs"]:
        pytest.skip("this model has no cam output")
    return tfjs_graph_function(web_root / "model")


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


def test_energy_and_blur_match_python(page, app_url, metadata, graph):
    """Same uint8 input at the model's size (no resize on either side): the same energy and blur."""
    size = metadata["input"]["height"]
    rng = np.random.default_rng(1)
    lesion = np.round(prepare(LESION, size, size)).astype(np.uint8)
    tensors = [lesion, rng.integers(0, 256, (size, size, 3), dtype=np.uint8),
               np.full((size, size, 3), (180, 120, 100), np.uint8),
               np.dstack([*np.meshgrid(np.linspace(0, 255, size), np.linspace(255, 0, size)),
                          np.full((size, size), 90.0)]).astype(np.uint8)]
    open_app(page, app_url)
    browser = np.array(page.evaluate(SIGNALS, [[t.ravel().tolist() for t in tensors], size]))
    energy, blur = python_signals(graph, np.stack(tensors))
    print(f"\nenergy {energy.round(4)} (max |Δ| {np.abs(browser[:, 0] - energy).max():.1e}); "
          f"blur {blur.round(2)} (max relative Δ {np.abs(browser[:, 1] - blur).max() / blur.max():.1e})")
    assert blur[2] == 0 and np.ptp(energy) > 0.1  # the inputs do differ
    np.testing.assert_allclose(browser[:, 0], energy, atol=1e-3)
    np.testing.assert_allclose(browser[:, 1], blur, rtol=1e-4, atol=1e-3)


def test_each_threshold_flags_its_side(page, web_root, serve_web, tmp_path, metadata, graph, images):
    """Thresholds set between two images' values flag the one below and not the one above."""
    size = metadata["input"]["height"]
    chosen = [images[name] for name in ("lesion", "lesion 2", "flat grey", "large lesion")]
    energy, blur = python_signals(graph, np.stack([prepare(p, size, size) for p in chosen]))
    low, high = np.argsort(energy)[[0, -1]]
    scope = {"energy_threshold": float((energy[low] + energy[high]) / 2),
             "blur_threshold": float(blur[blur > 0].min() / 2),  # flags only the flat grey image
             "confidence_threshold": 1.01,  # nothing is that confident: flags everything
             "min_side": 200, "measured": {}}  # the lesions are 150 px high, the large one 2400
    site = serve_web(web_with_metadata(web_root, tmp_path / "web", lambda m: {**m, "scope": scope}))
    open_app(page, site)
    results = choose(page, chosen)
    flagged = [{reason["check"] for reason in r["scope"]["reasons"]} for r in results]

    for i, checks in enumerate(flagged):
        assert "confidence" in checks
        assert ("energy" in checks) == (results[i]["energy"] < scope["energy_threshold"])
        assert ("size" in checks) == (i != 3)
    assert "energy" in flagged[low] and "energy" not in flagged[high]
    assert [("blur" in checks) for checks in flagged] == [False, False, True, False]
    card = page.locator(".result").nth(2)
    warning = card.locator(".scope-warning")
    assert warning.is_visible() and "looks blurred" in warning.inner_text()
    assert "no class is confident" in warning.inner_text() and "very small" in warning.inner_text()
    assert "looks blurred" in page.locator("#batch-table tbody tr").nth(2).inner_text()


def test_without_a_scope_block_only_the_built_in_checks_apply(page, web_root, serve_web, tmp_path, images):
    def without_scope(metadata):
        metadata.pop("scope", None)
        return metadata

    open_app(page, serve_web(web_with_metadata(web_root, tmp_path / "web", without_scope)))
    classes = len(page.evaluate("window.skinlens.classifier.metadata.classes"))
    side = page.evaluate("window.skinlens.classifier.metadata.input.height")
    flat, small, lesion = choose(page, [images["flat grey"], images["small lesion"], images["lesion"]])
    for result in (flat, small, lesion):
        checks = {reason["check"] for reason in result["scope"]["reasons"]}
        assert "energy" not in checks and "blur" not in checks  # no measured thresholds to apply
        assert ("confidence" in checks) == (result["top"]["probability"] < 2 / classes)
        assert ("size" in checks) == (result["scope"]["minSide"] < side)
    assert flat["blur"] == 0 and small["scope"]["minSide"] == 48


def test_how_the_checks_separate_in_and_out_of_scope_images(page, app_url, metadata, images):
    """With the shipped `scope` block: prints which check flags which image; the flat image must be
    flagged as blurred and no lesion flagged as not dermoscopic."""
    if not metadata.get("scope"):
        pytest.skip("metadata.json has no scope block")
    open_app(page, app_url)
    names = list(images)
    results = choose(page, [images[n] for n in names])
    print(f"\n{'image':16} {'energy':>8} {'blur':>10} {'top p':>6}  flagged by")
    for name, r in zip(names, results):
        print(f"{name:16} {r['energy']:8.3f} {r['blur']:10.1f} {r['top']['probability']:6.3f}  "
              f"{', '.join(reason['check'] for reason in r['scope']['reasons']) or '-'}")
    flags = {name: {reason["check"] for reason in r["scope"]["reasons"]} for name, r in zip(names, results)}
    assert "blur" in flags["flat grey"]
    assert not [n for n in ("lesion", "lesion 2", "lesion 3", "large lesion") if "energy" in flags[n]]
