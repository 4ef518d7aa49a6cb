"""Clinical metadata: the vector's layout, dataset readers, metadata dropout, and the model's clinical branch."""

import csv

import numpy as np
import pytest

from trainer import clinical
from trainer.config import Config
from trainer.readers import read_ham10000, read_isic


def test_vector_layout_follows_the_spec():
    v = clinical.BASE.encode(45, "female", "back")
    spec = clinical.BASE.spec()
    age, sex, site = spec["fields"]
    assert v.shape == (spec["size"],) and v.dtype == np.float32
    assert v[age["index"]] == np.float32(0.45) and v[age["missing_index"]] == 0
    assert v[next(x["index"] for x in sex["values"] if x["id"] == "female")] == 1
    assert v[next(x["index"] for x in site["values"] if x["id"] == "back")] == 1
    assert v.sum() == pytest.approx(2.45)  # nothing else set
    # every index of the vector belongs to exactly one field value or missing flag
    indices = [age["index"], age["missing_index"], sex["missing_index"], site["missing_index"]]
    indices += [x["index"] for f in (sex, site) for x in f["values"]]
    assert sorted(indices) == list(range(spec["size"]))


def test_the_questions_layout_adds_yes_no_and_not_answered_for_each_question_after_the_base():
    layout = clinical.WITH_QUESTIONS
    spec = layout.spec()
    assert spec["fields"][:3] == clinical.BASE.spec()["fields"]  # the base positions do not move
    questions = spec["fields"][3:]
    assert [f["name"] for f in questions] == list(clinical.QUESTION_NAMES)
    assert [f["label"] for f in questions] == [q["label"] for q in clinical.QUESTIONS]
    indices = [i for f in spec["fields"] for i in [f.get("index"), f["missing_index"]]
               + [v["index"] for v in f.get("values", [])] if i is not None]
    assert sorted(indices) == list(range(spec["size"])) and spec["size"] == layout.size == 20 + 6 * 3
    v = layout.encode(45, "female", "back", grown="yes", bled=False, itches="UNK", raised="1")
    base = clinical.BASE.encode(45, "female", "back")
    np.testing.assert_array_equal(v[:clinical.BASE.size], base)
    chosen = {f["name"]: next((x["id"] for x in f["values"] if v[x["index"]] == 1), None) for f in questions}
    assert chosen == {"grown": "yes", "changed": None, "bled": "no", "itches": None, "hurts": None, "raised": "yes"}
    assert [v[f["missing_index"]] for f in questions] == [0, 1, 0, 1, 1, 0]
    np.testing.assert_array_equal(layout.encode(), layout.missing)
    assert layout.missing.sum() == 3 + 6  # every field not given
    assert clinical.Layout.of_size(38) is layout and clinical.Layout.of_size(20) is clinical.BASE
    with pytest.raises(clinical.ClinicalError, match="21 values"):
        clinical.Layout.of_size(21)
    with pytest.raises(clinical.ClinicalError, match="grown: not a question this model takes"):
        clinical.BASE.encode(grown="yes")
    with pytest.raises(clinical.ClinicalError, match="not yes or no"):
        layout.encode(grown="sometimes")


def test_only_and_drop_fields_treat_each_question_as_a_field():
    layout = clinical.WITH_QUESTIONS
    full = layout.encode(60, "male", "face", **{q: "yes" for q in clinical.QUESTION_NAMES})
    np.testing.assert_array_equal(layout.only(full[None], clinical.QUESTION_NAMES)[0],
                                  layout.encode(**{q: "yes" for q in clinical.QUESTION_NAMES}))
    np.testing.assert_array_equal(layout.only(full[None], ("age", "bled"))[0], layout.encode(60, bled="yes"))
    dropped = layout.drop_fields(np.stack([full] * 3000), np.random.default_rng(0), p_all=0.3, p_field=0.2)
    lost = dropped[:, [layout.fields[q][1] for q in clinical.QUESTION_NAMES]].mean(axis=0)
    assert np.all(np.abs(lost - (0.3 + 0.7 * 0.2)) < 0.04)  # each question lost on its own
    for row in dropped[:200]:  # each row is the full one with the fields it lost blank, nothing else
        kept = [name for name, (_, missing) in layout.fields.items() if row[missing] == 0]
        np.testing.assert_array_equal(row, layout.only(full[None], kept)[0])


def test_the_page_builds_pythons_vector_in_both_layouts(tmp_path):
    """web/metadata.js clinicalVector, from the spec alone, against Layout.encode (tests/js/clinical.test.js, fed
    by tests/clinical_cases.py)."""
    import json

    from clinical_cases import cases
    from node_tier import node_test

    (tmp_path / "cases.json").write_text(json.dumps(cases()))
    node_test("clinical.test.js", SKINLENS_CLINICAL_CASES=tmp_path / "cases.json")


def test_missing_fields_set_only_their_indicator():
    spec = clinical.BASE.spec()
    missing = [f["missing_index"] for f in spec["fields"]]
    np.testing.assert_array_equal(np.nonzero(clinical.BASE.missing)[0], sorted(missing))
    v = clinical.BASE.encode(None, "male", "")
    assert v[clinical.AGE_MISSING] == 1 and v[clinical.AGE] == 0 and v[clinical.SITE_MISSING] == 1
    assert v[clinical.SEX["male"]] == 1 and v[clinical.SEX_MISSING] == 0
    for blank in (None, "", "unknown", "NaN", float("nan")):
        np.testing.assert_array_equal(clinical.BASE.encode(blank, blank, blank), clinical.BASE.missing)


def test_other_datasets_site_names_and_refusals():
    assert clinical.normalise_site("posterior torso") == "back"
    assert clinical.normalise_site("Palms/Soles") == "acral"
    assert clinical.normalise_site("head/neck") is None  # face, scalp, ear or neck: not guessed
    assert clinical.normalise_sex("F") == "female"
    with pytest.raises(clinical.ClinicalError, match="body site"):
        clinical.BASE.encode(site="elbow pit")
    with pytest.raises(clinical.ClinicalError, match="outside"):
        clinical.BASE.encode(age=450)
    with pytest.raises(clinical.ClinicalError, match="not a number"):
        clinical.BASE.encode(age="forty")
    assert clinical.lenient(clinical.normalise_site, "elbow pit") is None


def test_drop_fields_reads_exactly_as_blank_answers():
    vectors = np.stack([clinical.BASE.encode(60, "male", "face")] * 4000)
    dropped = clinical.BASE.drop_fields(vectors, np.random.default_rng(0), p_all=0.3, p_field=0.2)
    rows = {tuple(r) for r in dropped}
    allowed = {tuple(clinical.BASE.encode(a, s, t)) for a in (60, None) for s in ("male", None) for t in ("face", None)}
    assert rows <= allowed and len(rows) == 8
    all_missing = (dropped == clinical.BASE.missing).all(axis=1).mean()
    assert 0.3 + 0.7 * 0.2 ** 3 - 0.03 < all_missing < 0.3 + 0.7 * 0.2 ** 3 + 0.03
    age_lost = dropped[:, clinical.AGE_MISSING].mean()
    assert 0.3 + 0.7 * 0.2 - 0.03 < age_lost < 0.3 + 0.7 * 0.2 + 0.03
    np.testing.assert_array_equal(vectors[0], clinical.BASE.encode(60, "male", "face"))  # input untouched


def test_readers_pass_clinical_metadata_through(tmp_path):
    ham = tmp_path / "ham"
    (ham / "imgs").mkdir(parents=True)
    for i in range(3):
        (ham / "imgs" / f"ISIC_{i}.jpg").write_bytes(b"x")
    with (ham / "HAM10000_metadata.csv").open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["lesion_id", "image_id", "dx", "dx_type", "age", "sex", "localization"])
        w.writerows([("L0", "ISIC_0", "nv", "histo", "45.0", "female", "back"),
                     ("L1", "ISIC_1", "mel", "histo", "", "unknown", "unknown"),
                     ("L2", "ISIC_2", "bkl", "histo", "70.0", "male", "elbow pit")])
    records, _ = read_ham10000([ham])
    assert [(r.age, r.sex, r.site) for r in records] == [(45.0, "female", "back"), (None, None, None),
                                                          (70.0, "male", None)]
    isic = tmp_path / "isic"
    isic.mkdir()
    (isic / "ISIC_9.jpg").write_bytes(b"x")
    (isic / "train.csv").write_text("image_name,patient_id,sex,age_approx,anatom_site_general_challenge,"
                                    "diagnosis,benign_malignant,target\n"  # SIIM-ISIC 2020's columns
                                    "ISIC_9,IP_1,male,55.0,posterior torso,melanoma,malignant,1\n")
    (record,), _ = read_isic([isic])
    assert (record.dx, record.group, record.age, record.sex, record.site) == ("mel", "IP_1", 55.0, "male", "back")


@pytest.fixture(scope="module")
def clinical_model():
    from trainer.model import build_model

    model, _ = build_model(Config(image_size=64, alpha=0.35, weights="none", clinical=True), 4, views=2)
    return model


def test_clinical_branch_changes_nothing_when_every_field_is_missing(clinical_model):
    from trainer.train import model_inputs

    rng = np.random.default_rng(0)
    images = rng.uniform(0, 255, (3, 64, 64, 3)).astype(np.float32)
    layer = clinical_model.get_layer("clinical_offset")
    for w in layer.trainable_weights:  # a branch with large random weights, so the test can fail
        w.assign(rng.normal(0, 1, w.shape))
    assert float(layer.scale) == 1.0
    given = np.stack([clinical.BASE.encode(80, "male", "scalp")] * 3)
    without = clinical_model(model_inputs(clinical_model, images))["probabilities"]
    missing = clinical_model(model_inputs(clinical_model, images, np.stack([clinical.BASE.missing] * 3)))["probabilities"]
    with_metadata = clinical_model(model_inputs(clinical_model, images, given))["probabilities"]
    np.testing.assert_array_equal(np.asarray(without), np.asarray(missing))
    assert np.abs(np.asarray(with_metadata) - np.asarray(without)).max() > 1e-3
    # The offset is exactly what is added to the image's logits (the model's logits output).
    from trainer.train import clinical_offsets

    out = clinical_model(model_inputs(clinical_model, images, given))
    logits = np.asarray(out["logits"]) + clinical_offsets(clinical_model, given)
    expected = np.exp(logits - logits.max(axis=1, keepdims=True))
    np.testing.assert_allclose(np.asarray(out["probabilities"]), expected / expected.sum(axis=1, keepdims=True),
                               atol=1e-5)
    layer.scale.assign(0.0)
    np.testing.assert_allclose(clinical_model(model_inputs(clinical_model, images, given))["probabilities"], without,
                               atol=1e-7)
    layer.scale.assign(1.0)


def test_fit_clinical_learns_what_the_metadata_says(clinical_model):
    """Class 1 is old people on the face, class 0 young people on the back: the offsets must say so,
    and still be exactly 0 with nothing given."""
    from trainer.train import clinical_offsets, fit_clinical

    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 2000)
    vectors = np.stack([clinical.BASE.encode(70 + rng.integers(-5, 5), None, "face") if c else
                        clinical.BASE.encode(25 + rng.integers(-5, 5), None, "back") for c in y])
    fit_clinical(clinical_model, vectors, y, seed=0)
    old_face, young_back, nothing = clinical_offsets(clinical_model, np.stack(
        [clinical.BASE.encode(72, None, "face"), clinical.BASE.encode(24, None, "back"), clinical.BASE.missing]))
    assert old_face[1] - old_face[0] > 1.0 and young_back[0] - young_back[1] > 1.0
    np.testing.assert_array_equal(nothing, 0)
    age_only = clinical_offsets(clinical_model, clinical.BASE.encode(72)[None])[0]
    assert age_only[1] - age_only[0] > 0.5  # one field alone still counts (dropout taught it)


def test_fit_clinical_learns_the_questions_beside_images_that_were_never_asked():
    """Half the images come from a dataset that asked nothing (HAM10000); in the other half class 1 has
    grown and bled, class 0 has not. The questions must count, alone too, and nothing given must still be 0."""
    from trainer.model import build_model
    from trainer.train import clinical_offsets, fit_clinical

    model, _ = build_model(Config(image_size=64, alpha=0.35, weights="none", clinical=True, questions=True), 2,
                           views=1)
    layout = clinical.WITH_QUESTIONS
    assert model.get_layer("clinical_offset").missing.shape == (layout.size,)
    rng = np.random.default_rng(2)
    y = rng.integers(0, 2, 2000)
    asked = rng.random(2000) < 0.5
    vectors = np.stack([layout.encode(50 + rng.integers(-20, 20), **({"grown": ("no", "yes")[c], "bled": ("no", "yes")[c],
                                                                     "itches": "no"} if a else {}))
                        for c, a in zip(y, asked)])
    fit_clinical(model, vectors, y, seed=0)
    grew_bled, neither, nothing = clinical_offsets(model, np.stack(
        [layout.encode(grown="yes", bled="yes"), layout.encode(grown="no", bled="no"), layout.missing]))
    assert grew_bled[1] - grew_bled[0] > 1.0 and neither[0] - neither[1] > 1.0
    np.testing.assert_array_equal(nothing, 0)
    bled_only = clinical_offsets(model, layout.encode(bled="yes")[None])[0]
    assert bled_only[1] - bled_only[0] > 0.5


def test_scale_is_chosen_by_validation_likelihood():
    from trainer.train import choose_clinical_scale

    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 3000)
    offsets = rng.normal(0, 1, (3000, 3))
    informative = np.eye(3)[y] * 1.0 + rng.normal(0, 1, (3000, 3))
    scale, nll = choose_clinical_scale(informative, offsets, y)  # offsets are noise: ignore them
    assert scale == 0.0 and nll[0.0] < nll[1.0]
    truth = np.eye(3)[y] * 1.5
    scale, _ = choose_clinical_scale(informative, truth + rng.normal(0, 0.2, (3000, 3)), y)
    assert scale >= 0.75


@pytest.mark.slow
@pytest.mark.xdist_group("training")
def test_a_run_with_the_questions_learns_them_from_the_photos_and_converts_them_for_the_page(tiny_questions_run,
                                                                                             tiny_questions_web):
    """HAM10000-style images (never asked) and PAD-UFES-20-style photos (asked) in one run with --questions
    (tests/conftest.py): the questions are in the clinical input the page is told about, the golden case answers
    some of them, and Python's converted graph gives the golden probabilities from them."""
    import json

    from converter.convert import GOLDEN_QUESTIONS
    from trainer.predict import Predictor

    report = json.loads((tiny_questions_run / "report.json").read_text())
    coverage = report["clinical"]["coverage"]["train"]
    assert 0 < coverage["grown"] < 0.5 and set(coverage) == {"age", "sex", "site", *clinical.QUESTION_NAMES}
    partial = report["clinical"]["validation_partly_filled_in"]
    assert "+".join(clinical.QUESTION_NAMES) in partial and "age+sex+site" in partial
    # With and without the questions, each kind of picture on its own too, the test's with intervals over patients.
    variants = {"image_only", "with_metadata", "metadata_missing", "without_questions"}
    assert set(report["clinical"]["test"]) == variants
    by_kind = report["clinical"]["by_kind"]
    assert set(by_kind["validation"]) == set(by_kind["test"]) == {"dermoscopic", "photo"}
    for kind, figures in by_kind["test"].items():
        assert set(figures) == variants and "intervals_95" in figures["with_metadata"]
    photos = by_kind["validation"]["photo"]
    assert sum(by_kind["validation"][k]["image_only"]["n"] for k in by_kind["validation"]) == \
        report["clinical"]["validation"]["image_only"]["n"]
    assert photos["with_metadata"] != photos["without_questions"]  # the photos' answers count
    assert by_kind["validation"]["dermoscopic"]["with_metadata"] == by_kind["validation"]["dermoscopic"][
        "without_questions"]  # nobody asked the dermoscopic images: the same figures

    meta = json.loads((tiny_questions_web / "model" / "metadata.json").read_text())
    assert meta["clinical"]["size"] == clinical.WITH_QUESTIONS.size
    assert [f["name"] for f in meta["clinical"]["fields"]] == ["age", "sex", "site", *clinical.QUESTION_NAMES]
    (case,) = [c for c in meta["golden"] if c.get("clinical")]
    assert GOLDEN_QUESTIONS.items() <= case["clinical"].items()
    photo = tiny_questions_web / case["file"]
    predictor = Predictor(tiny_questions_web / "model")
    assert predictor.layout is clinical.WITH_QUESTIONS
    (_, with_answers, _), = predictor.predict_files([str(photo)], case["clinical"])
    np.testing.assert_allclose(with_answers, case["probabilities"], atol=1e-5)
    without_questions = {k: v for k, v in case["clinical"].items() if k not in clinical.QUESTION_NAMES}
    (_, without, _), = predictor.predict_files([str(photo)], without_questions)
    assert np.abs(with_answers - without).max() > 1e-4  # the answers reach the probabilities
