"""The browser gives the probabilities Python gives: for the same input tensors, and end to end for files.

Python's reference is ``trainer.predict.Predictor`` on the converted web model, i.e. TensorFlow
running the very graph and dequantized weights TensorFlow.js runs. Two models are checked: the tiny
float32 test model (random BatchNorm-calibrated backbone, so its outputs vary from image to image)
and the model shipped in web/model/.
"""

import numpy as np
import pytest
from browser_helpers import (FILE_TOLERANCE, FIXTURES, FROM_BASE64, LOAD_MODEL, as_base64, checked_page, choose,
                             open_app, probabilities)
from PIL import Image

from trainer.predict import Predictor

pytestmark = pytest.mark.browser

IMAGES = ["ISIC_0024306.jpg", "ISIC_0024310.jpg", "ISIC_0024331.jpg", "png_rgb.png", "exif_rotated.jpg",
          "alpha.png", "grayscale.jpg", "gray16.png", "cmyk.jpg", "palette.png", "large_3200x2400.jpg",
          "PAT_233_354_828.jpg", "PAT_1107_427_352.jpg"]  # two smartphone photos (PAD-UFES-20)

# Same float32 input, same graph and weights: only the order of float32 operations differs
# (XNNPACK in the WASM backend vs oneDNN in TensorFlow). Measured max |Δp| on Debian's Chromium
# 156 / TF 2.19: 1.2e-5 (shipped float16 model, 8 views). The tiny test model is calibrated with a
# temperature of about 0.25, which multiplies logit differences by 4 before the softmax: 5.2e-6 before
# it took clinical metadata, up to 6.0e-5 since (with answers or without). Tolerance: ~3x the worst; a
# wrong clinical vector or resize moves probabilities by 1e-3 and more.
TENSOR_TOLERANCE = 2e-4

# Through the module API (web/skinlens.js), raw RGB pixels at the model's size.
CLASSIFY_TENSORS = """async ([tensors, size]) => {
  const bytes = %s;
  const out = [];
  for (const values of tensors) {
    const result = await window.__model.classify({data: bytes(values), width: size, height: size, channels: 3});
    out.push(result.classes.map((cls) => cls.probability));
  }
  return out;
}""" % FROM_BASE64


@pytest.fixture(scope="module", params=["tiny float32", "shipped"])
def model_page(request, browser):
    """(page, web model folder) for each model under test: the app started on it once per module and test
    process, with the model also loaded through the module API (window.__model). The tests classify through
    either and change no setting; checked_page's checks run after the last of them."""
    if request.param == "tiny float32":
        url, folder = request.getfixturevalue("tiny_url"), request.getfixturevalue("tiny_root") / "model"
    else:
        url, folder = request.getfixturevalue("app_url"), request.getfixturevalue("web_root") / "model"
    with checked_page(browser, viewport={"width": 1280, "height": 900}) as page:
        open_app(page, url)
        page.evaluate(LOAD_MODEL)
        yield page, folder


def test_same_input_tensors_give_the_same_probabilities(model_page):
    page, model_dir = model_page
    predictor = Predictor(model_dir)
    size = predictor.height
    rng = np.random.default_rng(0)
    # Noise, flat colours and smooth gradients: inputs at the model's size need no resizing.
    tensors = [rng.integers(0, 256, (size, size, 3), dtype=np.uint8),
               np.full((size, size, 3), (180, 120, 100), np.uint8),
               np.dstack([*np.meshgrid(np.linspace(0, 255, size), np.linspace(255, 0, size)),
                          np.full((size, size), 90.0)]).astype(np.uint8)]
    browser = np.array(page.evaluate(CLASSIFY_TENSORS, [[as_base64(t) for t in tensors], size]))
    python = predictor.probabilities(np.stack(tensors).astype(np.float32))
    print(f"\n{model_dir}: tensor max |Δp| = {np.abs(browser - python).max():.2e}")
    assert np.ptp(python, axis=0).max() > 1e-3  # the inputs do get different answers
    np.testing.assert_allclose(browser, python, atol=TENSOR_TOLERANCE)


def test_files_give_the_same_top_class_and_probabilities(model_page):
    page, model_dir = model_page
    predictor = Predictor(model_dir)
    results = choose(page, [FIXTURES / name for name in IMAGES])
    worst = 0.0
    for name, result, (_, expected, error) in zip(IMAGES, results, predictor.predict_files(
            [str(FIXTURES / name) for name in IMAGES])):
        assert error is None and result["error"] is None, (name, error, result["error"])
        got = np.array(probabilities(result))
        worst = max(worst, float(np.abs(got - expected).max()))
        assert np.argmax(got) == np.argmax(expected), name
        np.testing.assert_allclose(got, expected, atol=FILE_TOLERANCE, err_msg=name)
    print(f"\n{model_dir}: file max |Δp| = {worst:.2e}")


CLASSIFY_WITH_ANSWERS = """async ([values, size, answers]) => {
  const pixels = {data: (%s)(values), width: size, height: size, channels: 3};
  const out = [];
  for (const given of answers) out.push(await window.__model.classify(pixels, given));
  return out.map((r) => ({probabilities: r.classes.map((cls) => cls.probability), used: r.clinicalUsed}));
}""" % FROM_BASE64

ANSWERS = [{}, {"age": 70}, {"sex": "female", "site": "face"}, {"age": 35, "sex": "male", "site": "lower extremity"},
           {"age": 85, "sex": "female", "site": "back"}]


def test_clinical_answers_give_the_same_probabilities(model_page):
    """The browser builds the clinical vector from metadata.json alone; Python from trainer/clinical.py."""
    page, model_dir = model_page
    predictor = Predictor(model_dir)
    if predictor.layout is None:
        pytest.skip("this model takes no clinical metadata")
    size = predictor.height
    image = np.asarray(Image.open(FIXTURES / "ISIC_0024306.jpg").convert("RGB").resize((size, size)), np.uint8)
    results = page.evaluate(CLASSIFY_WITH_ANSWERS, [as_base64(image), size, ANSWERS])
    browser = np.array([r["probabilities"] for r in results])
    python = np.concatenate([predictor.probabilities(image[None].astype(np.float32),
                                                     predictor.layout.encode(**a) if a else None) for a in ANSWERS])
    print(f"\n{model_dir}: clinical max |Δp| = {np.abs(browser - python).max():.2e}")
    assert np.abs(python[1:] - python[0]).max() > 1e-3  # the answers do change the probabilities
    np.testing.assert_allclose(browser, python, atol=TENSOR_TOLERANCE)
    assert [r["used"] for r in results] == [[], ["age"], ["sex", "site"], ["age", "sex", "site"],
                                           ["age", "sex", "site"]]
