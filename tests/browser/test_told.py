"""What a person reads on the card, for the shipped model's golden photos, is what Python tells for them
(trainer/answers.py): the concern level, the type named first and what the score's range held on validation.
The golden photos fall on both sides of the threshold. The rules themselves are checked on both sides of
every boundary in milliseconds by tests/test_answers.py (node --test); this checks the words on the card.

    python -m pytest tests/browser/test_told.py -q
"""

import math

import pytest

from browser_helpers import choose, fill_clinical, open_app
from trainer import answers

pytestmark = pytest.mark.browser

BAND_LABELS = {"higher": "Higher concern", "lower": "Lower concern"}  # web/dom.js BANDS


def _share(rate):
    """card.js riskInWords: the range's cancers per 100, rounded half up as JavaScript's Math.round."""
    per100 = math.floor(rate * 100 + 0.5)
    return "fewer than 1 in 100" if per100 == 0 else "nearly all" if per100 == 100 else f"about {per100} of every 100"


def test_the_card_says_what_python_says_for_each_golden_photo(page, app_url, web_root, metadata):
    open_app(page, app_url)
    bands = set()
    for golden in metadata["golden"]:
        given = golden.get("clinical") or {}
        fill_clinical(page, **given)
        [result] = choose(page, [web_root / golden["file"]])
        kind = result["pictureKind"]
        told = answers.answer(golden["probabilities"], metadata, sorted(given),
                              photo_probability=kind and kind["probability"])
        card = page.locator(".result").last
        where = f"{golden['file']} with {given or 'no answers'}"
        assert card.locator(".triage").get_attribute("class").split() == ["triage", f"band-{told['band']}"], where
        assert card.locator(".band-label strong").inner_text() == f"{BAND_LABELS[told['band']]}:", where
        top = next(c["name"] for c in metadata["classes"] if c["id"] == told["type"])
        assert card.locator(".is-top .class-label").inner_text() == top, where
        assert _share(told["bin"]["rate"]) in card.locator(".band-odds").inner_text(), where
        assert f"from {told['threshold']:.3f} SkinLens says" in card.locator(".band-how").text_content(), where
        bands.add(told["band"])
        fill_clinical(page)
    assert bands == {"higher", "lower"}, "the golden photos no longer fall on both sides of the threshold"
