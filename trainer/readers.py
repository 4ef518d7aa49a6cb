"""Dataset readers: a folder (or several) on disk -> a list of ``Record``s, and where the data came from.

A ``Record`` is one image file, its diagnosis (or class) and its group (the lesion, or the patient
where that is all a dataset gives; trainer/data.py splits by it). Readers (``--format``): ``ham10000``
(the official layout, part_1/part_2 folders included), ``isic`` (ISIC 2018/2019 ground-truth CSVs,
archive metadata, SIIM-ISIC 2020's train.csv), ``derm12345``, ``folders`` (one subfolder per class,
any names), or ``auto`` to detect. Tables are read with pandas, every cell as text. A listed image
that is missing is reported, never fatal.

    >>> records, problems = read_dataset("auto", ["../shared/data/ham10000", "../shared/data/ham10000-224"])
    >>> provenance("auto", ["../shared/data/ham10000"])["licence"]
    'CC BY-NC-SA 4.0'
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from .clinical import QUESTIONS, lenient, normalise_age, normalise_answer, normalise_sex, normalise_site
from .errors import UserError

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".gif")


@dataclass(frozen=True)
class Record:
    """One image of the dataset."""

    path: str
    image_id: str
    group: str
    dx: str
    source: str
    age: float | None = None  # clinical metadata where the dataset has it (trainer/clinical.py)
    sex: str | None = None
    site: str | None = None
    kind: str = "dermoscopic"  # the kind of picture (PICTURE_KINDS): what the model's picture_kind output learns
    # What the person said of the spot, where the dataset asked (PAD-UFES-20): (question, "yes" or "no") pairs
    # in clinical.QUESTIONS' order, the questions answered only.
    answers: tuple[tuple[str, str | None], ...] = ()


# The kinds of picture a lesion may be shown in. Dermoscopic close-ups (HAM10000, the ISIC archive, DERM12345)
# and ordinary photos taken with a phone or camera (PAD-UFES-20); a folder per class is taken as dermoscopic.
PICTURE_KINDS = ("dermoscopic", "photo")
PICTURE_KIND_NAMES = {"dermoscopic": "dermoscopic close-up", "photo": "ordinary photo"}


class DatasetError(UserError, ValueError):
    """A dataset that cannot be read as asked, with what is missing."""


def read_table(path: Path, rows: int | None = None) -> pd.DataFrame:
    """A CSV as text: ids such as ``0034`` keep their zeros and an empty cell stays "" (never NaN); an empty
    file is an empty table (a stray notes.csv must not stop a dataset from being read)."""
    try:
        return pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig", nrows=rows)
    except pd.errors.EmptyDataError:
        return pd.DataFrame()


def _index_images(root: Path) -> dict[str, Path]:
    """image_id -> file, over ``root`` and its immediate subfolders (e.g. part_1/part_2)."""
    found = {}
    for folder in [root, *sorted(p for p in root.iterdir() if p.is_dir())]:
        for path in folder.iterdir():
            if path.suffix.lower() in IMAGE_SUFFIXES and path.stem not in found:
                found[path.stem] = path
    return found


def read_ham10000(roots: list[str | Path]) -> tuple[list[Record], list[tuple[str, str]]]:
    """Reads one or more folders in the official HAM10000 layout.

    Each root holds ``HAM10000_metadata.csv`` (columns lesion_id, image_id, dx) and the
    images as ``<image_id>.jpg`` in itself or its subfolders. Several roots are one dataset:
    the same lesion in two roots gets the same group.

    Returns:
        (records, problems): problems are (what, why) pairs for rows whose image is missing.

    Raises:
        DatasetError: a root without the metadata CSV, or a CSV without a needed column.
    """
    records, problems = [], []
    for root in map(Path, roots):
        csv_path = root / "HAM10000_metadata.csv"
        if not csv_path.is_file():
            raise DatasetError(f"{root}: no HAM10000_metadata.csv (is this a HAM10000 folder?)")
        table = read_table(csv_path)
        missing = {"lesion_id", "image_id", "dx"} - set(table.columns)
        if missing:
            raise DatasetError(f"{csv_path}: missing column(s) {sorted(missing)}")
        images = _index_images(root)
        for row in table.to_dict("records"):
            path = images.get(row["image_id"])
            if path is None:
                problems.append((f"{root.name}/{row['image_id']}", "listed in the CSV but no image file found"))
                continue
            records.append(Record(str(path), row["image_id"], row["lesion_id"], row["dx"], root.name,
                                  **clinical_fields(row)))
    return records, problems


# Where each dataset keeps age, sex and body site: HAM10000 (age, sex, localization), the ISIC
# archive (age_approx, sex, anatom_site_general), SIIM-ISIC 2020 (anatom_site_general_challenge).
_AGE_COLUMNS = ("age", "age_approx")
_SEX_COLUMNS = ("sex",)
_SITE_COLUMNS = ("localization", "anatom_site_general", "anatom_site_general_challenge", "anatom_site")


def clinical_fields(row: dict) -> dict:
    """A CSV row's age, sex and site, normalised (trainer/clinical.py); missing or unknown -> None."""
    def first(columns):
        return next((row[c] for c in columns if row.get(c) not in (None, "")), None)

    return {"age": lenient(normalise_age, first(_AGE_COLUMNS)), "sex": lenient(normalise_sex, first(_SEX_COLUMNS)),
            "site": lenient(normalise_site, first(_SITE_COLUMNS))}


# ISIC's names for the HAM10000 diagnoses (one-hot ground-truth columns of ISIC 2018/2019, and the
# archive's `diagnosis` strings). Others (SCC, UNK, ...) are kept as they are and reported if the
# label scheme has no class for them.
ISIC_DIAGNOSES = {
    "mel": "mel", "melanoma": "mel", "nv": "nv", "nevus": "nv", "bcc": "bcc", "basal cell carcinoma": "bcc",
    "akiec": "akiec", "ak": "akiec", "actinic keratosis": "akiec", "bkl": "bkl", "seborrheic keratosis": "bkl",
    "solar lentigo": "bkl", "lichenoid keratosis": "bkl", "pigmented benign keratosis": "bkl",
    "df": "df", "dermatofibroma": "df", "vasc": "vasc", "vascular lesion": "vasc",
    "scc": "scc", "squamous cell carcinoma": "scc",
}
# DERM12345's subclass codes (Yilmaz et al., Sci. Data 2024) mapped onto the HAM10000 diagnoses.
DERM12345_DIAGNOSES = {
    **{code: "mel" for code in ("anm", "alm", "lm", "lmm", "mel")},
    **{code: "nv" for code in ("acb", "ccb", "mcb", "cb", "bdb", "db", "ajb", "cjb", "jb", "acd", "ccd", "cd",
                               "ajd", "srjd", "jd", "rd")},
    "bcc": "bcc", "ak": "akiec", "bd": "akiec", "sk": "bkl", "sl": "bkl", "lk": "bkl", "df": "df",
    **{code: "vasc" for code in ("angk", "ha", "la", "pg", "sa")}, "scc": "scc",
}
_ID_COLUMNS = ("image", "isic_id", "image_id", "image_name")  # image_name: SIIM-ISIC 2020
# SIIM-ISIC 2020's benign_malignant and target columns.
_BENIGN_MALIGNANT = {"benign": "benign", "malignant": "malignant", "0": "benign", "1": "malignant"}
_DX_COLUMNS = ("dx", "diagnosis", "diagnosis_3", "diagnosis_2", "label")
_SIIM_ISIC_2020_COLUMNS = {"image_name", "patient_id", "target"}


def _id_column(fields) -> str | None:
    return next((c for c in _ID_COLUMNS if c in fields), None)


def _tables(root: Path) -> list[tuple[Path, pd.DataFrame]]:
    return [(p, read_table(p)) for p in sorted(root.glob("*.csv"))]


def _first_column(table: pd.DataFrame, columns) -> str | None:
    return next((c for c in columns if c in table.columns), None)


def _isic_labels(table: pd.DataFrame, key: str, known: pd.Series) -> pd.Series:
    """One ISIC table's label per image id, where it gives one (``known``: labels from earlier tables)."""
    onehot = {c.upper() for c in ISIC_DIAGNOSES} | {"AKIEC", "AK", "UNK"}
    hot = [c for c in table.columns if c.upper() in onehot]
    dx_col = _first_column(table, _DX_COLUMNS)
    if len(hot) >= 2:
        positive = table[hot].apply(pd.to_numeric, errors="coerce").fillna(0).ge(0.5)
        label = positive.idxmax(axis=1).str.lower().where(positive.sum(axis=1) == 1)
    elif dx_col:
        label = table[dx_col].str.strip().str.lower()
        label = label.where(label != "")
    else:
        label = pd.Series(None, index=table.index, dtype=object)
    label = label.set_axis(table[key]).combine_first(known.reindex(table[key]))
    # SIIM-ISIC 2020 gives most images only benign or malignant (diagnosis "unknown"): then that is the
    # label, a class of the benign-malignant scheme (other schemes report it as unknown).
    verdicts = [table[c].str.strip().str.lower().map(_BENIGN_MALIGNANT).set_axis(table[key])
                for c in ("benign_malignant", "target") if c in table.columns]
    if verdicts:
        verdict = verdicts[0].combine_first(verdicts[-1])
        unnamed = label.map(lambda v: ISIC_DIAGNOSES.get(v) is None).astype(bool) & verdict.notna()
        label = label.where(~unnamed, verdict)
    return label.dropna()


def read_isic(roots: list[str | Path]) -> tuple[list[Record], list[tuple[str, str]]]:
    """Reads ISIC-style folders: images plus CSVs keyed by ``image``, ``isic_id`` or ``image_name``.

    The diagnosis comes from one-hot ground-truth columns (ISIC 2018: MEL, NV, BCC, AKIEC, BKL,
    DF, VASC; ISIC 2019 adds AK, SCC, UNK) or from a diagnosis column (dx, diagnosis, label); where that
    names no known diagnosis, SIIM-ISIC 2020's ``benign_malignant`` (or ``target`` 0/1) gives "benign" or
    "malignant", the classes of the benign-malignant scheme.
    Groups come from a ``lesion_id`` column (e.g. ISIC 2018's LesionGroupings CSV, ISIC 2019's
    metadata), else ``patient_id`` (SIIM-ISIC 2020), else each image is its own group.
    """
    records, problems = [], []
    for root in map(Path, roots):
        labels = pd.Series(dtype=object)
        groups, clinical = {}, {}
        for _, table in _tables(root):
            key = _id_column(table.columns)
            if key is None or table.empty:
                continue
            table = table.drop_duplicates(key, keep="last")
            found = _isic_labels(table, key, labels)
            labels = pd.concat([labels.drop(found.index, errors="ignore"), found])
            group_col = _first_column(table, ("lesion_id", "patient_id"))
            if group_col:
                named = table[table[group_col] != ""]
                groups.update(zip(named[key], named[group_col]))
            for row in table.to_dict("records"):
                fields = {k: v for k, v in clinical_fields(row).items() if v is not None}
                if fields:
                    clinical.setdefault(row[key], {}).update(fields)
        if labels.empty:
            raise DatasetError(f"{root}: no CSV with an image/isic_id/image_name column and a diagnosis "
                               "(one-hot MEL, NV, ... columns or dx/diagnosis/label)")
        images = _index_images(root)
        for image_id, label in sorted(labels.items()):
            path = images.get(image_id)
            if path is None:
                problems.append((f"{root.name}/{image_id}", "listed in the CSV but no image file found"))
                continue
            records.append(Record(str(path), image_id, groups.get(image_id, image_id), ISIC_DIAGNOSES.get(label, label),
                                  root.name, **clinical.get(image_id, {})))
    return records, problems


def read_derm12345(roots: list[str | Path]) -> tuple[list[Record], list[tuple[str, str]]]:
    """Reads DERM12345: a metadata CSV with ``isic_id`` and the subclass code in ``label``, images
    named ``<isic_id>.jpg``. Subclasses map onto the HAM10000 diagnoses (DERM12345_DIAGNOSES);
    one image per lesion, grouped by ``patient_id`` when the CSV has it.
    """
    records, problems = [], []
    for root in map(Path, roots):
        table = next((t for _, t in _tables(root) if {"isic_id", "label"} <= set(t.columns)), None)
        if table is None:
            raise DatasetError(f"{root}: no CSV with isic_id and label columns (DERM12345 metadata)")
        images = _index_images(root)
        for row in table.to_dict("records"):
            image = images.get(row["isic_id"])
            if image is None:
                problems.append((f"{root.name}/{row['isic_id']}", "listed in the CSV but no image file found"))
                continue
            code = row["label"].strip().lower()
            group = row.get("patient_id") or row["isic_id"]
            records.append(Record(str(image), row["isic_id"], group, DERM12345_DIAGNOSES.get(code, code), root.name,
                                  **clinical_fields(row)))
    return records, problems


def read_folders(roots: list[str | Path]) -> tuple[list[Record], list[tuple[str, str]]]:
    """Reads ``root/<class>/<image>``: the folder name is the record's label, whatever it is.

    The trainer maps labels to classes: folders named after a built-in scheme's classes or HAM10000
    diagnoses (``benign/``, ``mel/``) take that scheme's classes; any other names become the classes
    themselves (trainer/labels.py ``resolve``). Without lesion ids, each image is its own group: if a
    folder holds several images of one lesion, name them ``<lesion>__<n>.jpg`` and they are grouped by
    the part before ``__``.

    Raises:
        DatasetError: a root without subfolders, or a class folder without any image file (named).
    """
    records, problems = [], []
    for root in map(Path, roots):
        classes = sorted(p for p in root.iterdir() if p.is_dir()) if root.is_dir() else []
        if not classes:
            raise DatasetError(f"{root}: expected one subfolder per class (e.g. {root}/benign/, {root}/malignant/)")
        for folder in classes:
            files = sorted(p for p in folder.iterdir() if not p.name.startswith("."))
            images = [p for p in files if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES]
            if not images:
                raise DatasetError(f"{folder}: class folder {folder.name!r} holds no image file "
                                   f"({', '.join(IMAGE_SUFFIXES)}); remove it or add its images")
            problems += [(str(p), "not an image file name (.jpg, .png, .webp, .bmp, .gif)")
                         for p in files if p not in images]
            for path in images:
                group = path.stem.split("__")[0]
                records.append(Record(str(path), path.stem, f"{folder.name}/{group}", folder.name, root.name))
    return records, problems


# PAD-UFES-20's diagnoses on HAM10000's (its README): ACK (actinic keratosis) is HAM10000's akiec; SCC
# (invasive squamous cell carcinoma) has no HAM10000 class of its own and joins akiec, whose Bowen's disease is
# squamous cell carcinoma in situ: the nearest class, and malignant in every scheme, so a phone photo of an SCC
# counts as a cancer to catch, never as a harmless type.
PAD_UFES_20_DIAGNOSES = {"MEL": "mel", "NEV": "nv", "BCC": "bcc", "SEK": "bkl", "ACK": "akiec", "SCC": "scc"}
_PAD_UFES_20_COLUMNS = {"patient_id", "img_id", "diagnostic"}
# Its body regions on HAM10000's sites (trainer/clinical.py SITES); a lip or nose is part of the face there.
PAD_UFES_20_SITES = {"abdomen": "abdomen", "arm": "upper extremity", "forearm": "upper extremity",
                     "back": "back", "chest": "chest", "ear": "ear", "face": "face", "nose": "face", "lip": "face",
                     "foot": "foot", "hand": "hand", "neck": "neck", "scalp": "scalp", "thigh": "lower extremity"}


def read_pad_ufes_20(roots: list[str | Path]) -> tuple[list[Record], list[tuple[str, str]]]:
    """Reads PAD-UFES-20 (Pacheco et al. 2020): ``metadata.csv`` and its images, smartphone photos.

    Both layouts: the official download's ``images/imgs_part_1..3/PAT_*.png`` and a flat ``images/``
    folder (of any image type: ``img_id``'s stem names the file). Grouped by ``patient_id``: a patient's
    lesions and photos stay on one side of the split. Diagnoses map by PAD_UFES_20_DIAGNOSES; age, gender
    and region become the clinical fields, and the patient's answers (grew, changed, bleed, itch, hurt,
    elevation: "True", "False" or "UNK") the questions' (clinical.QUESTIONS). Every record's kind is "photo".
    """
    records, problems = [], []
    for root in map(Path, roots):
        table = next((t for _, t in _tables(root) if _PAD_UFES_20_COLUMNS <= set(t.columns)), None)
        if table is None:
            raise DatasetError(f"{root}: no metadata.csv with patient_id, img_id and diagnostic (PAD-UFES-20)")
        folder = root / "images" if (root / "images").is_dir() else root
        images = _index_images(folder)
        for row in table.to_dict("records"):
            stem = Path(row["img_id"]).stem
            path = images.get(stem)
            if path is None:
                problems.append((f"{root.name}/{row['img_id']}", "listed in the CSV but no image file found"))
                continue
            dx = PAD_UFES_20_DIAGNOSES.get(row["diagnostic"].strip().upper(), row["diagnostic"].strip().lower())
            fields = clinical_fields({"age": row.get("age"), "sex": row.get("gender"),
                                      "localization": PAD_UFES_20_SITES.get(row.get("region", "").strip().lower())})
            answers = tuple((q["name"], a) for q in QUESTIONS
                            if (a := lenient(normalise_answer, row.get(q["pad_ufes_20"]))) is not None)
            records.append(Record(str(path), stem, f"PAD-UFES-20/{row['patient_id']}", dx, root.name, **fields,
                                  kind="photo", answers=answers))
    return records, problems


READERS = {"ham10000": read_ham10000, "isic": read_isic, "derm12345": read_derm12345, "folders": read_folders,
           "pad-ufes-20": read_pad_ufes_20}


def detect_format(root: str | Path) -> str:
    """Guesses a folder's layout from its files: the reader ``--format auto`` uses."""
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(f"{root}: no such folder")
    if (root / "HAM10000_metadata.csv").is_file():
        return "ham10000"
    fields = [set(read_table(p, rows=0).columns) for p in root.glob("*.csv")]
    if any(_PAD_UFES_20_COLUMNS <= f for f in fields):
        return "pad-ufes-20"
    if any({"isic_id", "label"} <= f for f in fields):
        return "derm12345"
    if any(_id_column(f) for f in fields):
        return "isic"
    if any(p.is_dir() for p in root.iterdir()):
        return "folders"
    raise DatasetError(f"{root}: cannot tell the dataset format; pass --format")


def resolve_formats(kind: str, roots: list[str | Path]) -> list[tuple[str, list[str | Path]]]:
    """The reader of each folder: ``kind`` for all of them, or for "auto" each one's detected format.

    Returns:
        [(format, its folders)], formats in the order their first folder was given.
    """
    if kind != "auto":
        if kind not in READERS:
            raise DatasetError(f"unknown dataset format {kind!r}; choose one of {sorted(READERS)} or auto")
        return [(kind, list(roots))]
    by_format: dict[str, list] = {}
    for root in roots:
        by_format.setdefault(detect_format(root), []).append(root)
    return list(by_format.items())


def resolve_format(kind: str, roots: list[str | Path]) -> str:
    """The one reader of ``kind`` or of the detected folders; "mixed" where they have several formats."""
    formats = resolve_formats(kind, roots)
    return formats[0][0] if len(formats) == 1 else "mixed"


def read_dataset(kind: str, roots: list[str | Path]):
    """Reads a dataset with the named reader (see READERS), or with each folder's detected one for "auto":
    folders of several formats are one dataset (their groups are kept apart by their names)."""
    records, problems = [], []
    for fmt, folders in resolve_formats(kind, roots):
        found, missing = READERS[fmt](folders)
        records += found
        problems += missing
    return records, problems


# Where each reader's data comes from (the run's provenance.json, then metadata.json's ``dataset``, the page
# and the model card). A folder per class is anyone's data: unknown unless the --dataset-* flags say. The
# ISIC reader reads several ISIC releases: SIIM-ISIC 2020 is told apart by its columns; the others are
# named as the ISIC archive, whose licence is per image. None where the reader does not know.
HAM10000 = {
    "name": "HAM10000",
    "citation": "Tschandl P., Rosendahl C. & Kittler H., The HAM10000 dataset, a large collection of "
                "multi-source dermatoscopic images of common pigmented skin lesions. Sci. Data 5, 180161 (2018).",
    "licence": "CC BY-NC-SA 4.0",
    "url": "https://doi.org/10.1038/sdata.2018.161",
    "licence_url": "https://creativecommons.org/licenses/by-nc-sa/4.0/",
    "population": "dermoscopic images of mostly light-skinned patients from two sites (Austria and Australia)",
}
SIIM_ISIC_2020 = {
    "name": "SIIM-ISIC 2020",
    "citation": "International Skin Imaging Collaboration, SIIM-ISIC 2020 Challenge Dataset, doi:10.34970/2020-ds01 "
                "(2020); Rotemberg V. et al., A patient-centric dataset of images and metadata for identifying "
                "melanomas using clinical context. Sci. Data 8, 34 (2021).",
    "licence": "CC BY-NC 4.0",
    "url": "https://doi.org/10.1038/s41597-021-00815-z",
    "licence_url": "https://creativecommons.org/licenses/by-nc/4.0/",
    "population": None,
}
ISIC_ARCHIVE = {
    "name": "ISIC archive",
    "citation": "International Skin Imaging Collaboration (ISIC) archive; cite the papers of the release used.",
    "licence": None, "url": "https://www.isic-archive.com", "licence_url": None, "population": None,
}
DERM12345 = {
    "name": "DERM12345",
    "citation": "Yilmaz A. et al., DERM12345: a large, multisource dermatoscopic skin lesion dataset with "
                "40 subclasses. Sci. Data 11, 1302 (2024).",
    "licence": "CC BY",  # as the ISIC archive lists it, which hosts it
    "url": "https://doi.org/10.1038/s41597-024-04104-3", "licence_url": None, "population": None,
}
UNKNOWN = dict.fromkeys(HAM10000)


PAD_UFES_20 = {
    "name": "PAD-UFES-20",
    "citation": "Pacheco A.G.C. et al., PAD-UFES-20: a skin lesion dataset composed of patient data and clinical "
                "images collected from smartphones. Data in Brief 32, 106221 (2020).",
    "licence": "CC BY 4.0",
    "url": "https://doi.org/10.1016/j.dib.2020.106221",
    "licence_url": "https://creativecommons.org/licenses/by/4.0/",
    "population": "smartphone photos (not dermoscopy) from a public dermatology service in Brazil (Espírito Santo), "
                  "Fitzpatrick skin types I-VI recorded, mostly I-III",
}


def provenance(kind: str, roots: list[str | Path]) -> dict:
    """The data's name, citation, licence, their urls and population as its reader knows them.

    Data of several formats (HAM10000 with PAD-UFES-20, say) is named, cited and licensed as all of them:
    the licence is the strictest's (a ShareAlike or NonCommercial licence binds the model whole), and
    ``sources`` lists each one's own provenance.

    Args:
        kind: the --format ("auto" detects, as read_dataset does).

    Returns:
        a dict with the keys of ``HAM10000`` (plus ``sources`` for several); None where the reader does not know.
    """
    found = [_one_provenance(fmt, folders) for fmt, folders in resolve_formats(kind, roots)]
    if len(found) == 1:
        return found[0]
    strictest = max(found, key=lambda p: _LICENCE_STRICTNESS.get(p["licence"], 99))
    return {
        "name": " + ".join(p["name"] or "unnamed data" for p in found),
        "citation": " ".join(p["citation"] or f"{p['name']}: no citation given." for p in found),
        "licence": strictest["licence"], "url": found[0]["url"], "licence_url": strictest["licence_url"],
        "population": "; ".join(f"{p['name']}: {p['population']}" for p in found if p["population"]) or None,
        "sources": found,
    }


# Licences from the least to the most binding (an unknown licence binds most: it is unknown).
_LICENCE_STRICTNESS = {"CC BY 4.0": 0, "CC BY": 0, "CC BY-SA 4.0": 1, "CC BY-NC 4.0": 2, "CC BY-NC-SA 4.0": 3}


def _one_provenance(kind: str, roots: list[str | Path]) -> dict:
    if kind == "ham10000":
        return dict(HAM10000)
    if kind == "derm12345":
        return dict(DERM12345)
    if kind == "pad-ufes-20":
        return dict(PAD_UFES_20)
    if kind == "isic":
        columns = [set(read_table(p, rows=0).columns) for root in roots for p in Path(root).glob("*.csv")]
        return dict(SIIM_ISIC_2020 if any(_SIIM_ISIC_2020_COLUMNS <= c for c in columns) else ISIC_ARCHIVE)
    return dict(UNKNOWN)
