"""Diagnoses, their plain-language names, and the label schemes built from them.

This table is the single source of class names and descriptions: the converter copies the
chosen scheme's classes into ``metadata.json`` and the browser shows them from there. A dataset
whose class folders are not named after a built-in scheme's classes brings its own scheme: the
folder names are the classes (``Config.classes``, display names = folder names) and
``Config.malignant`` says which of them count as malignant. Functions here take a built-in scheme's
name or a run's ``Config`` (its own classes, else its scheme).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .config import Config

# HAM10000's seven diagnoses (the `dx` column), in the order the dx7 scheme outputs them.
DIAGNOSES = {
    "akiec": ("Actinic keratosis / Bowen's disease",
              "Sun-damage patch that can turn into squamous cell carcinoma; Bowen's disease is an early skin cancer "
              "(this class also takes invasive squamous cell carcinoma)."),
    "bcc": ("Basal cell carcinoma",
            "The most common skin cancer; grows slowly and rarely spreads, but needs treatment."),
    "bkl": ("Benign keratosis",
            "Seborrhoeic keratosis, solar lentigo or lichen-planus-like keratosis: harmless growths."),
    "df": ("Dermatofibroma", "A harmless firm bump, often on the legs."),
    "mel": ("Melanoma", "A dangerous skin cancer of pigment cells; early treatment matters most."),
    "nv": ("Melanocytic nevus (mole)", "A common mole: usually harmless."),
    "vasc": ("Vascular lesion", "Cherry angioma, angiokeratoma, pyogenic granuloma or haemorrhage: usually harmless."),
}
MALIGNANT = frozenset({"akiec", "bcc", "mel", "scc"})
# Diagnoses without a HAM10000 class of their own, and the class that takes them: invasive squamous cell
# carcinoma (ISIC 2019, PAD-UFES-20) joins akiec, whose Bowen's disease is squamous cell carcinoma in situ.
JOINS = {"scc": "akiec"}

# scheme -> ordered classes, each a (id, display name, description, diagnoses it takes)
SCHEMES = {
    "dx7": [(dx, name, desc, (dx, *[d for d, to in JOINS.items() if to == dx]))
            for dx, (name, desc) in DIAGNOSES.items()],
    "benign-malignant": [
        ("benign", "Benign", "A lesion that is not a skin cancer.", ("bkl", "df", "nv", "vasc")),
        ("malignant", "Malignant or pre-malignant", "Melanoma, basal or squamous cell carcinoma, or actinic keratosis / Bowen's.",
         ("akiec", "bcc", "mel", "scc")),
    ],
    "benign-malignant-other": [
        ("benign", "Benign melanocytic", "A mole (melanocytic nevus).", ("nv",)),
        ("malignant", "Malignant or pre-malignant", "Melanoma, basal or squamous cell carcinoma, or actinic keratosis / Bowen's.",
         ("akiec", "bcc", "mel", "scc")),
        ("other", "Other benign", "Benign keratosis, dermatofibroma or vascular lesion.", ("bkl", "df", "vasc")),
    ],
}


def data_classes(scheme: str, found: set[str]) -> tuple[str, ...]:
    """The classes a folder-per-class dataset names: () when every folder (``found``) is a class or a
    diagnosis of the built-in ``scheme`` (it keeps working as that scheme), else the folder names, sorted."""
    return () if set(found) <= set(diagnosis_to_index(scheme)) else tuple(sorted(found))


def class_ids(scheme: str | Config) -> list[str]:
    """The output classes of a scheme, in model output order."""
    return [cid for cid, *_ in _scheme(scheme)]


def diagnosis_to_index(scheme: str | Config) -> dict[str, int]:
    """Maps each diagnosis (``dx``) to its output index under ``scheme``, and each class id too, so that a
    folder per class may be named after the scheme's classes (``benign/``, ``malignant/``) or diagnoses."""
    by_dx = {dx: i for i, (*_, dxs) in enumerate(_scheme(scheme)) for dx in dxs}
    return {**{cid: i for i, (cid, *_) in enumerate(_scheme(scheme))}, **by_dx}


def classes_metadata(scheme: str | Config) -> list[dict]:
    """The ``classes`` list of metadata.json: id, display name, description, malignant flag."""
    malignant = set(scheme.malignant) if getattr(scheme, "classes", ()) else MALIGNANT
    return [
        {"id": cid, "name": name, "description": desc, "diagnoses": list(dxs),
         "malignant": bool(malignant & set(dxs))}
        for cid, name, desc, dxs in _scheme(scheme)
    ]


def _scheme(scheme: str | Config):
    if not isinstance(scheme, str):  # a run's Config
        if scheme.classes:
            return [(c, c, f"A class of the training data (its folder {c}/).", (c,)) for c in scheme.classes]
        scheme = scheme.scheme
    try:
        return SCHEMES[scheme]
    except KeyError:
        raise ValueError(f"unknown label scheme {scheme!r}; choose one of {sorted(SCHEMES)}") from None
