"""What a person is told: the page's rules (web/metadata.js, under Node's test runner) give the answers Python
gives (trainer/answers.py) for the same metadata.json, on the golden photos and on both sides of every boundary.

    python -m pytest tests/test_answers.py -q      # about a second a metadata.json

The Node tier (tests/js/) runs through these tests and tests/test_contract.py; scripts/mutation-js.sh mutates
web/metadata.js under it (docs/testing.md).
"""

import json
from pathlib import Path

import pytest

from node_tier import node_test
from trainer import answers

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = json.loads((ROOT / "web" / "model" / "metadata.json").read_text())


def _without_kinds(m):
    m.pop("picture_kinds"), m.pop("picture_kind_photo_from"), m["screening"].pop("by_kind")


def _without_clinical(m):
    m.pop("clinical")
    for rule in [m["screening"], *m["screening"].get("by_kind", {}).values()]:
        rule.pop("without_clinical", None)


def _without_decision(m):
    m.pop("decision")


def _few_photo_cancers(m):
    m["screening"]["by_kind"]["photo"]["few_cancers"] = True


SHAPES = {"shipped": lambda m: None, "no picture kinds": _without_kinds, "no clinical input": _without_clinical,
          "no decision rule": _without_decision, "few photo cancers": _few_photo_cancers,
          "nothing but classes and screening": lambda m: (_without_kinds(m), _without_clinical(m), _without_decision(m))}


def _metadata(shape):
    m = json.loads(json.dumps(SHIPPED))
    SHAPES[shape](m)
    return m


@pytest.mark.parametrize("shape", SHAPES)
def test_the_page_tells_what_python_tells(tmp_path, shape):
    (tmp_path / "metadata.json").write_text(json.dumps(_metadata(shape)))
    assert answers.main([str(tmp_path / "metadata.json"), "--out", str(tmp_path / "answers.json")]) == 0
    node_test("answers.test.js", SKINLENS_GOLDEN_ANSWERS=tmp_path / "answers.json")


def test_the_pages_other_rules_pass_their_node_tests():
    """web/metadata.js's rules without a Python twin (tests/js/metadata.test.js): rule and figures of a picture,
    kinds, ranges, data sources, out-of-scope checks, clinical vector, download, hash."""
    node_test("metadata.test.js")



@pytest.mark.parametrize("shape", SHAPES)
def test_the_cases_straddle_every_threshold_and_risk_range(shape):
    """For every rule the metadata holds (picture kind, fields given or blank), cases on both sides of its
    threshold and in every one of its risk ranges; and every class named first somewhere."""
    metadata = _metadata(shape)
    golden = answers.golden_answers(metadata)
    rules = {(a["rule_kind"], a["photo_only"]) for a in (c["answer"] for c in golden)}
    assert len(rules) == (2 if metadata.get("clinical") else 1) * (2 if metadata.get("picture_kinds") else 1)
    for rule_kind, photo_only in rules:
        said = [c["answer"] for c in golden if (c["answer"]["rule_kind"], c["answer"]["photo_only"]) == (rule_kind, photo_only)]
        assert {a["band"] for a in said} == {"higher", "lower"}
        rule = answers.screening_rule(metadata, rule_kind, photo_only)
        assert {json.dumps(a["bin"]) for a in said} == {json.dumps({k: b.get(k) for k in ("from", "to", "n", "malignant", "rate")})
                                                         for b in rule["risk_bins"]}
    assert {c["answer"]["type"] for c in golden} == {c["id"] for c in metadata["classes"]}


def test_a_risk_on_the_threshold_is_higher_concern():
    rule = answers.screening_rule(SHIPPED, "dermoscopic", photo_only=False)
    for risk, band in [(rule["threshold"], "higher"), (rule["threshold"] - answers.MARGIN, "lower")]:
        p = answers._with_risk(SHIPPED, risk)
        said = answers.answer(p, SHIPPED, ["age"], photo_probability=0.1)
        assert said["risk"] == pytest.approx(risk, abs=1e-15) and said["band"] == band


def test_the_rule_follows_the_kind_and_the_fields_given():
    photo = SHIPPED["screening"]["by_kind"]["photo"]
    p = answers._with_risk(SHIPPED, 0.3)
    assert answers.answer(p, SHIPPED, [], photo_probability=0.9)["threshold"] == photo["without_clinical"]["threshold"]
    assert answers.answer(p, SHIPPED, ["site"], photo_probability=0.9)["threshold"] == photo["threshold"]
    assert answers.answer(p, SHIPPED, ["site"], photo_probability=0.1)["threshold"] == \
        SHIPPED["screening"]["by_kind"]["dermoscopic"]["threshold"]
    assert answers.answer(p, SHIPPED, [], photo_probability=SHIPPED["picture_kind_photo_from"])["kind"] == "photo"


def test_the_type_shown_follows_the_decision_rule_not_the_most_probable_class():
    """The shipped weights favour a rarer class over the common mole in a close call: the card names it."""
    ids = [c["id"] for c in SHIPPED["classes"]]
    p = [0.0] * len(ids)
    p[ids.index("nv")], p[ids.index("mel")] = 0.55, 0.45
    assert answers.answer(p, SHIPPED, [], photo_probability=0.1)["type"] == "mel"
    assert answers.answer(p, {**SHIPPED, "decision": None}, [], photo_probability=0.1)["type"] == "nv"
