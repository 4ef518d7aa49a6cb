"""Dataset reading and lesion-grouped, stratified, deterministic splits."""

import csv
from collections import Counter

import numpy as np
import pytest
from PIL import Image

from trainer.data import read_split, split_by_group, write_split
from trainer.readers import DatasetError, detect_format, read_dataset, read_folders, read_ham10000


def make_ham(root, rows, *, subfolder="HAM10000_images", size=(64, 48)):
    """Writes a HAM10000-layout folder: metadata CSV + one small JPEG per row."""
    (root / subfolder).mkdir(parents=True, exist_ok=True)
    with (root / "HAM10000_metadata.csv").open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["lesion_id", "image_id", "dx", "dx_type", "age", "sex", "localization"])
        for i, (lesion, image, dx) in enumerate(rows):
            writer.writerow([lesion, image, dx, "histo", "50.0", "male", "back"])
            colour = (40 * i % 255, 90, 160)
            Image.new("RGB", size, colour).save(root / subfolder / f"{image}.jpg")
    return root


def synthetic_rows(n_lesions=120, seed=0):
    rng = np.random.default_rng(seed)
    dxs = ["nv"] * 70 + ["mel"] * 20 + ["bkl"] * 20 + ["bcc"] * 10
    rows = []
    for i in range(n_lesions):
        for j in range(int(rng.integers(1, 4))):  # 1-3 images per lesion
            rows.append((f"HAM_{i:07d}", f"ISIC_{i:05d}{j}", dxs[i % len(dxs)]))
    return rows


def test_reads_official_layout_with_parts(tmp_path):
    rows = synthetic_rows(10)
    make_ham(tmp_path, rows[:6], subfolder="HAM10000_images_part_1")
    # part_2 holds the rest; the CSV must list all rows
    make_ham(tmp_path / "p2", rows[6:], subfolder="x")
    for f in (tmp_path / "p2" / "x").iterdir():
        (tmp_path / "HAM10000_images_part_2").mkdir(exist_ok=True)
        f.rename(tmp_path / "HAM10000_images_part_2" / f.name)
    with (tmp_path / "HAM10000_metadata.csv").open("a", newline="") as f:
        csv.writer(f).writerows([[l, i, d, "histo", "1", "male", "back"] for l, i, d in rows[6:]])
    records, problems = read_ham10000([tmp_path])
    assert len(records) == len(rows) and problems == []


def test_missing_image_is_reported_not_fatal(tmp_path):
    make_ham(tmp_path, [("HAM_1", "ISIC_1", "nv"), ("HAM_2", "ISIC_2", "mel")])
    (tmp_path / "HAM10000_images" / "ISIC_2.jpg").unlink()
    records, problems = read_ham10000([tmp_path])
    assert [r.image_id for r in records] == ["ISIC_1"]
    assert problems and "ISIC_2" in problems[0][0]


def test_clear_errors_for_missing_csv_or_column(tmp_path):
    with pytest.raises(DatasetError, match="no HAM10000_metadata.csv"):
        read_ham10000([tmp_path])
    (tmp_path / "HAM10000_metadata.csv").write_text("image_id,dx\nISIC_1,nv\n")
    with pytest.raises(DatasetError, match="lesion_id"):
        read_ham10000([tmp_path])


def test_split_never_puts_a_lesion_on_two_sides_and_keeps_proportions(tmp_path):
    records, _ = read_ham10000([make_ham(tmp_path, synthetic_rows())])
    splits = split_by_group(records, val_fraction=0.2, test_fraction=0.2, seed=3)
    sides = {}
    for r, s in zip(records, splits):
        sides.setdefault(r.group, set()).add(s)
    assert all(len(s) == 1 for s in sides.values())
    lesions = {r.group: (r.dx, s) for r, s in zip(records, splits)}
    per_dx = Counter(dx for dx, _ in lesions.values())
    for split in ("val", "test"):
        got = Counter(dx for dx, s in lesions.values() if s == split)
        for dx, n in per_dx.items():
            assert abs(got[dx] - 0.2 * n) <= 1, (split, dx)


def test_split_is_deterministic_and_seeded(tmp_path):
    records, _ = read_ham10000([make_ham(tmp_path, synthetic_rows())])
    a = split_by_group(records, seed=1)
    assert a == split_by_group(records, seed=1)
    assert a != split_by_group(records, seed=2)


def test_two_folders_are_one_dataset(tmp_path):
    rows = synthetic_rows(40)
    records, _ = read_ham10000([make_ham(tmp_path / "a", rows), make_ham(tmp_path / "b", rows, size=(224, 224))])
    splits = split_by_group(records, seed=0)
    by_image = {}
    for r, s in zip(records, splits):
        by_image.setdefault(r.image_id, set()).add(s)
    assert all(len(s) == 1 for s in by_image.values())  # same image id, same side


def test_split_csv_round_trips(tmp_path):
    records, _ = read_ham10000([make_ham(tmp_path, synthetic_rows(20))])
    splits = split_by_group(records)
    write_split(tmp_path / "split.csv", records, splits)
    assert read_split(tmp_path / "split.csv") == (records, splits)


def _write_csv(path, header, rows):
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)


def _images(folder, names):
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        Image.new("RGB", (40, 40), (120, 80, 60)).save(folder / f"{name}.jpg")


def test_isic_2019_one_hot_with_lesion_ids(tmp_path):
    _images(tmp_path / "ISIC_2019_Training_Input", ["ISIC_1", "ISIC_2", "ISIC_3", "ISIC_4"])
    _write_csv(tmp_path / "ISIC_2019_Training_GroundTruth.csv",
               ["image", "MEL", "NV", "BCC", "AK", "BKL", "DF", "VASC", "SCC", "UNK"],
               [["ISIC_1", 1, 0, 0, 0, 0, 0, 0, 0, 0], ["ISIC_2", 0, 0, 0, 1, 0, 0, 0, 0, 0],
                ["ISIC_3", 0, 0, 0, 0, 0, 0, 0, 1, 0], ["ISIC_4", 0, 1, 0, 0, 0, 0, 0, 0, 0],
                ["ISIC_5", 0, 1, 0, 0, 0, 0, 0, 0, 0]])
    _write_csv(tmp_path / "ISIC_2019_Training_Metadata.csv", ["image", "age_approx", "lesion_id"],
               [["ISIC_1", 50, "L1"], ["ISIC_4", 30, "L1x"]])
    records, problems = read_dataset("auto", [tmp_path])
    by_id = {r.image_id: r for r in records}
    assert {k: r.dx for k, r in by_id.items()} == {"ISIC_1": "mel", "ISIC_2": "akiec", "ISIC_3": "scc", "ISIC_4": "nv"}
    assert by_id["ISIC_1"].group == "L1" and by_id["ISIC_2"].group == "ISIC_2"
    assert problems == [(f"{tmp_path.name}/ISIC_5", "listed in the CSV but no image file found")]


def test_isic_archive_diagnosis_column(tmp_path):
    _images(tmp_path / "images", ["ISIC_9", "ISIC_8"])
    _write_csv(tmp_path / "metadata.csv", ["isic_id", "diagnosis", "patient_id"],
               [["ISIC_9", "seborrheic keratosis", "P1"], ["ISIC_8", "melanoma", "P1"]])
    records, _ = read_dataset("isic", [tmp_path])
    assert sorted((r.dx, r.group) for r in records) == [("bkl", "P1"), ("mel", "P1")]


def test_derm12345_subclass_codes_map_to_diagnoses(tmp_path):
    _images(tmp_path / "images", ["ISIC_a", "ISIC_b", "ISIC_c"])
    _write_csv(tmp_path / "derm12345_metadata_train.csv", ["isic_id", "label", "split"],
               [["ISIC_a", "alm", "train"], ["ISIC_b", "cjb", "train"], ["ISIC_c", "bd", "test"]])
    assert detect_format(tmp_path) == "derm12345"
    records, _ = read_dataset("auto", [tmp_path])
    assert {r.image_id: r.dx for r in records} == {"ISIC_a": "mel", "ISIC_b": "nv", "ISIC_c": "akiec"}


def test_folder_per_class(tmp_path):
    _images(tmp_path / "mel", ["lesionA__1", "lesionA__2", "x"])
    _images(tmp_path / "nv", ["y"])
    (tmp_path / "nv" / "notes.txt").write_text("not an image")
    (tmp_path / "notes.csv").write_text("")  # an empty table is no dataset's: still folders
    assert detect_format(tmp_path) == "folders"
    records, problems = read_dataset("auto", [tmp_path])
    assert sorted((r.dx, r.group) for r in records) == [("mel", "mel/lesionA"), ("mel", "mel/lesionA"),
                                                         ("mel", "mel/x"), ("nv", "nv/y")]
    assert len(problems) == 1 and "notes.txt" in problems[0][0]


def test_unknown_format_is_a_clear_error(tmp_path):
    (tmp_path / "readme.txt").write_text("hi")
    with pytest.raises(DatasetError, match="--format"):
        read_dataset("auto", [tmp_path])
    with pytest.raises(DatasetError, match="isic"):
        read_dataset("isic", [tmp_path])


def test_k_fold_test_splits_partition_the_lesions(tmp_path):
    records, _ = read_ham10000([make_ham(tmp_path, synthetic_rows())])
    k = 4
    folds = [split_by_group(records, seed=5, fold=i, folds=k) for i in range(k)]
    tested = Counter(r.group for split in folds for r, s in zip(records, split) if s == "test")
    assert set(tested) == {r.group for r in records}
    assert all(n == Counter(r.group for r in records)[g] for g, n in tested.items())  # each lesion tested once
    for i, split in enumerate(folds):
        val_next = {r.group for r, s in zip(records, folds[(i + 1) % k]) if s == "test"}
        assert {r.group for r, s in zip(records, split) if s == "val"} == val_next


def test_split_sizes_and_names_are_exact():
    """20 lesions of one diagnosis, 2 images each: 15% test and 15% validation are exactly 3 lesions each,
    and every fold of a 5-fold split tests 4 and validates 4; the split names are the three the trainer reads."""
    from collections import Counter

    from trainer.readers import Record

    records = [Record(f"{g}_{i}.jpg", f"{g}_{i}", f"L{g}", "nv", "src") for g in range(20) for i in range(2)]
    splits = split_by_group(records, val_fraction=0.15, test_fraction=0.15, seed=3)
    by_lesion = dict(zip([r.group for r in records], splits))
    assert Counter(by_lesion.values()) == {"train": 14, "val": 3, "test": 3}
    tested = []
    for fold in range(5):
        splits = split_by_group(records, seed=3, fold=fold, folds=5)
        by_lesion = dict(zip([r.group for r in records], splits))
        assert Counter(by_lesion.values()) == {"train": 12, "val": 4, "test": 4}
        tested += [g for g, s in by_lesion.items() if s == "test"]
    assert sorted(tested) == sorted({r.group for r in records})  # the test folds partition the lesions


def test_a_patient_with_benign_and_malignant_images_stays_on_one_side():
    """SIIM-ISIC 2020 groups by patient, and a patient often has a melanoma beside benign lesions: the
    patient's images all land on one side, and every side still gets both classes."""
    from trainer.readers import Record

    records = [Record(f"{p}_{i}.jpg", f"{p}_{i}", f"IP_{p}", "malignant" if i == 0 and p % 3 == 0 else "benign",
                      "src") for p in range(60) for i in range(4)]
    splits = split_by_group(records, seed=7)
    sides = {}
    for r, s in zip(records, splits):
        sides.setdefault(r.group, set()).add(s)
    assert all(len(s) == 1 for s in sides.values())
    assert all({r.dx for r, s in zip(records, splits) if s == side} == {"benign", "malignant"} for side in
               ("train", "val", "test"))


def _class_folders(root, names):
    from PIL import Image

    for name in names:
        (root / name).mkdir(parents=True)
        for i in range(2):
            Image.new("RGB", (40, 40), (i * 90, 60, 90)).save(root / name / f"{name}{i}.jpg")
    return root


def test_folders_named_after_the_schemes_classes_are_its_classes(tmp_path):
    from trainer import labels
    from trainer.train import check_classes

    records, problems = read_folders([_class_folders(tmp_path / "ds", ["benign", "malignant"])])
    index = labels.diagnosis_to_index("benign-malignant")
    assert not problems and sorted({index[r.dx] for r in records}) == [0, 1]
    check_classes(records, "benign-malignant")  # nothing to say


def test_folders_of_other_names_are_the_classes_with_malignant_named_by_flag(tmp_path):
    """benign/ and malignant/ with --scheme dx7 (or cats/, dogs/, moles/): the folder names become the classes,
    in sorted order, and --malignant says which count as malignant; a label scheme of the data's own."""
    from trainer import labels
    from trainer.config import Config
    from trainer.train import check_classes, resolve_classes

    root = _class_folders(tmp_path / "ds", ["moles", "melanoma", "keratoses"])
    records, problems = read_folders([root])
    config = resolve_classes(Config(data=(str(root),), malignant=("melanoma",)), records)
    assert (config.scheme, config.classes, config.malignant) == ("folders", ("keratoses", "melanoma", "moles"),
                                                                 ("melanoma",))
    assert labels.class_ids(config) == ["keratoses", "melanoma", "moles"]
    assert [(c["id"], c["name"], c["malignant"]) for c in labels.classes_metadata(config)] == [
        ("keratoses", "keratoses", False), ("melanoma", "melanoma", True), ("moles", "moles", False)]
    assert sorted({labels.diagnosis_to_index(config)[r.dx] for r in records}) == [0, 1, 2]
    check_classes(records, config)  # nothing to say
    assert Config.load(_saved(config, tmp_path)) == config  # the resumed run's config is the same


def _saved(config, tmp_path):
    config.save(tmp_path / "config.json")
    return tmp_path / "config.json"


def test_folders_named_after_a_scheme_keep_it_and_refuse_malignant(tmp_path):
    from trainer.config import Config
    from trainer.train import resolve_classes

    root = _class_folders(tmp_path / "ds", ["mel", "nv"])
    records, _ = read_folders([root])
    config = Config(data=(str(root),))
    assert resolve_classes(config, records) == config  # dx7's diagnoses: dx7 as today
    with pytest.raises(DatasetError, match="--malignant is for class folders of your own names"):
        resolve_classes(Config(data=(str(root),), malignant=("mel",)), records)
    # Folders named exactly after another scheme's classes select it (issue 22); with --malignant they are
    # classes of their own, as the user says.
    for scheme, names in (("benign-malignant", ["benign", "malignant"]),
                          ("benign-malignant-other", ["benign", "malignant", "other"])):
        root = _class_folders(tmp_path / scheme, names)
        records, _ = read_folders([root])
        assert resolve_classes(Config(data=(str(root),)), records) == Config(data=(str(root),), scheme=scheme)
    root = tmp_path / "benign-malignant"
    records, _ = read_folders([root])
    config = resolve_classes(Config(data=(str(root),), malignant=("malignant",)), records)
    assert (config.scheme, config.classes) == ("folders", ("benign", "malignant"))
    # Some of a scheme's classes only: still the user's to say
    records, _ = read_folders([_class_folders(tmp_path / "bo", ["benign", "other"])])
    with pytest.raises(DatasetError, match="--malignant .*; or pass --scheme benign-malignant-other, whose classes"):
        resolve_classes(Config(data=(str(tmp_path / "bo"),)), records)


@pytest.mark.parametrize("malignant, message", [
    ((), r"so they are the classes: cats, dogs; say which are malignant with --malignant"),
    (("cats", "birds"), r"--malignant names birds, which is no class folder"),
    (("cats", "dogs"), r"--malignant names every class"),
])
def test_folder_named_classes_need_a_usable_malignant_flag(tmp_path, malignant, message):
    from trainer.config import Config
    from trainer.train import resolve_classes

    root = _class_folders(tmp_path / "ds", ["cats", "dogs"])
    records, _ = read_folders([root])
    with pytest.raises(DatasetError, match=message):
        resolve_classes(Config(data=(str(root),), scheme="benign-malignant", malignant=malignant), records)


def test_a_class_folder_without_images_is_named(tmp_path):
    root = _class_folders(tmp_path / "ds", ["benign", "malignant"])
    for image in (root / "malignant").iterdir():
        image.unlink()
    (root / "malignant" / "readme.txt").write_text("photos to come")
    with pytest.raises(DatasetError, match=r"ds/malignant: class folder 'malignant' holds no image file"):
        read_folders([root])


def test_provenance_comes_from_the_reader(tmp_path):
    """HAM10000 and SIIM-ISIC 2020 name themselves (told apart from other ISIC CSVs by their columns);
    a folder per class is unknown until the --dataset-* flags say."""
    from trainer.config import Config
    from trainer.readers import provenance
    from trainer.train import dataset_provenance

    ham = make_ham(tmp_path / "ham", synthetic_rows(3))
    assert provenance("auto", [ham])["licence"] == "CC BY-NC-SA 4.0"
    siim, archive = tmp_path / "siim", tmp_path / "archive"
    _images(siim, ["ISIC_1"])
    _write_csv(siim / "train.csv", ["image_name", "patient_id", "target", "diagnosis", "benign_malignant"],
               [["ISIC_1", "IP_1", 0, "unknown", "benign"]])
    _images(archive, ["ISIC_1"])
    _write_csv(archive / "metadata.csv", ["isic_id", "diagnosis"], [["ISIC_1", "nevus"]])
    assert (provenance("auto", [siim])["name"], provenance("auto", [archive])["name"]) == ("SIIM-ISIC 2020",
                                                                                          "ISIC archive")
    folders = _class_folders(tmp_path / "ds", ["a", "b"])
    assert set(provenance("auto", [folders]).values()) == {None}
    given = dataset_provenance(Config(data=(str(folders),), dataset_name="Clinic X 2024",
                                      dataset_licence="CC BY 4.0"))
    assert (given["name"], given["licence"], given["citation"]) == ("Clinic X 2024", "CC BY 4.0", None)
    renamed = dataset_provenance(Config(data=(str(ham),), dataset_name="HAM subset"))
    assert renamed["name"] == "HAM subset" and renamed["url"] is None  # HAM10000's own url is not this data's


def test_siim_isic_2020_labels_benign_or_malignant_where_the_diagnosis_is_unknown(tmp_path):
    """SIIM-ISIC 2020's train.csv: a known diagnosis is the label; "unknown" ones take benign_malignant
    (or target), which the benign-malignant scheme has classes for; patient_id groups the images."""
    from trainer import labels

    root = tmp_path / "siim"
    (root / "train").mkdir(parents=True)
    for name in ("ISIC_1", "ISIC_2", "ISIC_3", "ISIC_4", "ISIC_5"):
        Image.new("RGB", (40, 40)).save(root / "train" / f"{name}.jpg")
    (root / "train.csv").write_text(
        "image_name,patient_id,sex,age_approx,anatom_site_general_challenge,diagnosis,benign_malignant,target\n"
        "ISIC_1,IP_1,male,55.0,torso,melanoma,malignant,1\n"
        "ISIC_2,IP_1,male,55.0,torso,unknown,benign,0\n"
        "ISIC_3,IP_2,female,40.0,head/neck,nevus,benign,0\n"
        "ISIC_4,IP_3,,,,unknown,,1\n"
        "ISIC_5,IP_3,,,,cafe-au-lait macule,benign,0\n")
    assert detect_format(root) == "isic"
    records, problems = read_dataset("auto", [root])
    assert not problems
    assert [(r.image_id, r.dx, r.group) for r in records] == [
        ("ISIC_1", "mel", "IP_1"), ("ISIC_2", "benign", "IP_1"), ("ISIC_3", "nv", "IP_2"),
        ("ISIC_4", "malignant", "IP_3"), ("ISIC_5", "benign", "IP_3")]
    index = labels.diagnosis_to_index("benign-malignant")
    assert [index[r.dx] for r in records] == [1, 0, 0, 1, 0]
    assert "benign" not in labels.diagnosis_to_index("dx7")  # reported as unknown there, not guessed


@pytest.mark.parametrize("layout", ["flat", "official"])
def test_pad_ufes_20_is_read_in_both_layouts_as_photos_grouped_by_patient(tmp_path, layout):
    from tiny_model import make_pad_ufes_dataset

    root = make_pad_ufes_dataset(tmp_path / "pad", patients_per_class=3, layout=layout)
    assert detect_format(root) == "pad-ufes-20"
    records, problems = read_dataset("auto", [root])
    assert problems == [] and len(records) == len(list((root / "images").rglob("PAT_*")))
    assert {r.kind for r in records} == {"photo"}
    # Its diagnoses on HAM10000's: SEK is a benign keratosis, SCC keeps its own code (labels.JOINS gives it a class).
    assert {r.dx for r in records} == {"nv", "mel", "bkl", "bcc", "scc"}
    # A patient is the group: all of a patient's lesions and photos stay together.
    by_patient = {}
    for r in records:
        by_patient.setdefault(r.group, set()).add(r.image_id.rsplit("_", 2)[0])
    assert all(len(patients) == 1 for patients in by_patient.values())
    assert any(r.site == "face" for r in records)  # NOSE -> face on HAM10000's body sites
    # The patient's answers: grew -> grown, bleed -> bled, elevation -> raised ...; "UNK" and blank are not answers.
    with (root / "metadata.csv").open() as f:
        rows = {row["img_id"].rsplit(".", 1)[0]: row for row in csv.DictReader(f)}
    columns = {"grown": "grew", "changed": "changed", "bled": "bleed", "itches": "itch", "hurts": "hurt",
               "raised": "elevation"}
    for r in records:
        row = rows[r.image_id]
        assert r.answers == tuple((q, {"True": "yes", "False": "no"}[row[c]]) for q, c in columns.items()
                                  if row[c] in ("True", "False"))
    assert any(len(r.answers) == 6 for r in records) and any(len(r.answers) < 6 for r in records)


def test_pad_ufes_20_without_its_columns_or_images_says_so(tmp_path):
    from tiny_model import make_pad_ufes_dataset
    from trainer.readers import read_pad_ufes_20

    root = make_pad_ufes_dataset(tmp_path / "pad", patients_per_class=2)
    gone = sorted((root / "images").glob("*.jpg"))[0]
    gone.unlink()
    records, problems = read_pad_ufes_20([root])
    assert problems == [(f"pad/{gone.stem}.png", "listed in the CSV but no image file found")]
    (root / "metadata.csv").write_text("patient,img\nA,b.png\n")
    with pytest.raises(DatasetError, match="PAD-UFES-20"):
        read_pad_ufes_20([root])


def test_dermoscopy_and_phone_photos_are_one_dataset_split_by_patient_and_lesion(tmp_path):
    from tiny_model import make_pad_ufes_dataset
    from trainer.readers import provenance

    ham = make_ham(tmp_path / "ham", synthetic_rows(120))
    pad = make_pad_ufes_dataset(tmp_path / "pad", patients_per_class=8)
    records, _ = read_dataset("auto", [ham, pad])
    splits = split_by_group(records, seed=0)
    sides = {}
    for r, s in zip(records, splits):
        sides.setdefault(r.group, set()).add(s)
    assert all(len(s) == 1 for s in sides.values())
    # Stratified within each kind of picture: the few phone photos are in every split, not all in one.
    photo_splits = Counter(s for r, s in zip(records, splits) if r.kind == "photo")
    assert set(photo_splits) == {"train", "val", "test"}
    # Named, cited and licensed as both; the licence is the stricter one, which binds the model.
    both = provenance("auto", [ham, pad])
    assert both["name"] == "HAM10000 + PAD-UFES-20" and both["licence"] == "CC BY-NC-SA 4.0"
    assert [s["licence"] for s in both["sources"]] == ["CC BY-NC-SA 4.0", "CC BY 4.0"]
    assert "Pacheco" in both["citation"] and "Tschandl" in both["citation"]
    # The kind survives split.csv.
    write_split(tmp_path / "split.csv", records, splits)
    again, _ = read_split(tmp_path / "split.csv")
    assert [r.kind for r in again] == [r.kind for r in records]
    assert [r.answers for r in again] == [r.answers for r in records]  # and the patients' answers
    assert any(r.answers for r in again) and not any(r.answers for r in again if r.kind == "dermoscopic")


def test_only_readable_files_are_split(tmp_path):
    """A corrupt file found by stage 1's feature pass takes no place in validation or test (issue 23): the
    readable images are split as if the others were not there, and the others are listed in skipped.csv."""
    from collections import Counter

    from trainer.config import Config
    from trainer.prepare import split_readable
    from trainer.readers import Record

    records = [Record(f"{g}_{i}.jpg", f"{g}_{i}", f"L{g}", "mel" if g % 2 else "nv", "src")
               for g in range(20) for i in range(2)]
    ok = np.array([int(r.group[1:]) >= 6 for r in records])  # lesions 0-5: every image corrupt
    problems = [(r.path, "not an image") for r, good in zip(records, ok) if not good]
    readable, splits = split_readable(Config(), tmp_path, records, ok, problems)
    assert readable == [r for r, good in zip(records, ok) if good]
    saved, saved_splits = read_split(tmp_path / "split.csv")
    assert [r.path for r in saved] == [r.path for r in readable] and saved_splits == splits
    by_lesion = dict(zip([r.group for r in readable], splits))
    assert Counter(by_lesion.values()) == {"train": 10, "val": 2, "test": 2}  # 15% of 14 readable lesions each
    assert splits == split_by_group(readable, seed=Config().seed)
    assert (tmp_path / "skipped.csv").read_text().count("not an image") == 12
