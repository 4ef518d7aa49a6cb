"""Label schemes: every HAM10000 diagnosis lands in exactly one class; malignancy is data."""

import pytest

from trainer.labels import DIAGNOSES, JOINS, MALIGNANT, class_ids, classes_metadata, diagnosis_to_index


@pytest.mark.parametrize("scheme", ["dx7", "benign-malignant", "benign-malignant-other"])
def test_every_diagnosis_has_exactly_one_class(scheme):
    index = diagnosis_to_index(scheme)
    # Every diagnosis (those without a class of their own join one), and every class id (a folder named
    # benign/ is the class benign), to one class.
    assert set(index) == set(DIAGNOSES) | set(JOINS) | set(class_ids(scheme))
    assert all(index[cid] == i for i, cid in enumerate(class_ids(scheme)))
    assert sorted(set(index.values())) == list(range(len(class_ids(scheme))))


def test_malignant_flags_follow_the_diagnoses():
    assert MALIGNANT == {"mel", "bcc", "akiec", "scc"}
    # invasive squamous cell carcinoma joins akiec (Bowen's disease is SCC in situ): a cancer in every scheme
    assert diagnosis_to_index("dx7")["scc"] == class_ids("dx7").index("akiec")
    dx7 = {c["id"]: c["malignant"] for c in classes_metadata("dx7")}
    assert [k for k, v in dx7.items() if v] == ["akiec", "bcc", "mel"]
    bm = classes_metadata("benign-malignant")
    assert [(c["id"], c["malignant"]) for c in bm] == [("benign", False), ("malignant", True)]
    bmo = {c["id"]: c for c in classes_metadata("benign-malignant-other")}
    assert bmo["malignant"]["malignant"] and not bmo["other"]["malignant"]
    assert set(bmo["malignant"]["diagnoses"]) == MALIGNANT


def test_unknown_scheme_is_a_clear_error():
    with pytest.raises(ValueError, match="dx7"):
        class_ids("dx8")


def test_each_diagnosis_keeps_its_own_name():
    """The names a person reads, written out here rather than read back from the table they check: a
    swap of two rows (melanoma shown as a mole) would otherwise go unseen, since the converter and the
    browser copy whatever labels.py says."""
    names = {c["id"]: c["name"] for c in classes_metadata("dx7")}
    assert names == {
        "akiec": "Actinic keratosis / Bowen's disease", "bcc": "Basal cell carcinoma", "bkl": "Benign keratosis",
        "df": "Dermatofibroma", "mel": "Melanoma", "nv": "Melanocytic nevus (mole)", "vasc": "Vascular lesion",
    }
    descriptions = {c["id"]: c["description"] for c in classes_metadata("dx7")}
    assert "cancer" in descriptions["mel"] and "mole" in descriptions["nv"].lower()
    bmo = {c["id"]: c["name"] for c in classes_metadata("benign-malignant-other")}
    assert bmo == {"benign": "Benign melanocytic", "malignant": "Malignant or pre-malignant", "other": "Other benign"}
