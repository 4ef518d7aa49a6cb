"""Clinical metadata: the vector's layout, dataset readers, metadata dropout, and the model's clinical branch."""

import csv

import numpy as np
import pytest

from trainer import clinical
from trainer.config import Config
from trainer.readers import read_ham10000, read_isic


def test_vector_layout_follows_the_spec():
    v = clinical.encode(45, "female", "back")
    spec = clinical.spec()
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


def test_missing_fields_set_only_their_indicator():
    spec = clinical.spec()
    missing = [f["missing_index"] for f in spec["fields"]]
    np.testing.assert_array_equal(np.nonzero(clinical.MISSING)[0], sorted(missing))
    v = clinical.encode(None, "male", "")
    assert v[clinical.AGE_MISSING] == 1 and v[clinical.AGE] == 0 and v[clinical.SITE_MISSING] == 1
    assert v[clinical.SEX["male"]] == 1 and v[clinical.SEX_MISSING] == 0
    for blank in (None, "", "unknown", "NaN", float("nan")):
        np.testing.assert_array_equal(clinical.encode(blank, blank, blank), clinical.MISSING)


def test_other_datasets_site_names_and_refusals():
    assert clinical.normalise_site("posterior torso") == "back"
    assert clinical.normalise_site("Palms/Soles") == "acral"
    assert clinical.normalise_site("head/neck") is None  # face, scalp, ear or neck: not guessed
    assert clinical.normalise_sex("F") == "female"
    with pytest.raises(clinical.ClinicalError, match="body site"):
        clinical.encode(site="elbow pit")
    with pytest.raises(clinical.ClinicalError, match="outside"):
        clinical.encode(age=450)
    with pytest.raises(clinical.ClinicalError, match="not a number"):
        clinical.encode(age="forty")
    assert clinical.lenient(clinical.normalise_site, "elbow pit") is None


def test_drop_fields_reads_exactly_as_blank_answers():
    vectors = np.stack([clinical.encode(60, "male", "face")] * 4000)
    dropped = clinical.drop_fields(vectors, np.random.default_rng(0), p_all=0.3, p_field=0.2)
    rows = {tuple(r) for r in dropped}
    allowed = {tuple(clinical.encode(a, s, t)) for a in (60, None) for s in ("male", None) for t in ("face", None)}
    assert rows <= allowed and len(rows) == 8
    all_missing = (dropped == clinical.MISSING).all(axis=1).mean()
    assert 0.3 + 0.7 * 0.2 ** 3 - 0.03 < all_missing < 0.3 + 0.7 * 0.2 ** 3 + 0.03
    age_lost = dropped[:, clinical.AGE_MISSING].mean()
    assert 0.3 + 0.7 * 0.2 - 0.03 < age_lost < 0.3 + 0.7 * 0.2 + 0.03
    np.testing.assert_array_equal(vectors[0], clinical.encode(60, "male", "face"))  # input untouched


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
    given = np.stack([clinical.encode(80, "male", "scalp")] * 3)
    without = clinical_model(model_inputs(clinical_model, images))["probabilities"]
    missing = clinical_model(model_inputs(clinical_model, images, np.stack([clinical.MISSING] * 3)))["probabilities"]
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
    vectors = np.stack([clinical.encode(70 + rng.integers(-5, 5), None, "face") if c else
                        clinical.encode(25 + rng.integers(-5, 5), None, "back") for c in y])
    fit_clinical(clinical_model, vectors, y, seed=0)
    old_face, young_back, nothing = clinical_offsets(clinical_model, np.stack(
        [clinical.encode(72, None, "face"), clinical.encode(24, None, "back"), clinical.MISSING]))
    assert old_face[1] - old_face[0] > 1.0 and young_back[0] - young_back[1] > 1.0
    np.testing.assert_array_equal(nothing, 0)
    age_only = clinical_offsets(clinical_model, clinical.encode(72)[None])[0]
    assert age_only[1] - age_only[0] > 0.5  # one field alone still counts (dropout taught it)


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
