"""Diagnoses, their plain-language names, and the label schemes built from them.

This table is the single source of class names and descriptions: the converter copies the
chosen scheme's classes into ``metadata.json`` and the browser shows them from there.
"""

from __future__ import annotations

# HAM10000's seven diagnoses (the `dx` column), in the order the dx7 scheme outputs them.
DIAGNOSES = {
    "akiec": ("Actinic keratosis / Bowen's disease",
              "Sun-damage patch that can turn into squamous cell carcinoma; Bowen's disease is an early skin cancer."),
    "bcc": ("Basal cell carcinoma",
            "The most common skin cancer; grows slowly and rarely spreads, but needs treatment."),
    "bkl": ("Benign keratosis",
            "Seborrhoeic keratosis, solar lentigo or lichen-planus-like keratosis: harmless growths."),
    "df": ("Dermatofibroma", "A harmless firm bump, often on the legs."),
    "mel": ("Melanoma", "A dangerous skin cancer of pigment cells; early treatment matters most."),
    "nv": ("Melanocytic nevus (mole)", "A common mole: usually harmless."),
    "vasc": ("Vascular lesion", "Cherry angioma, angiokeratoma, pyogenic granuloma or haemorrhage: usually harmless."),
}
MALIGNANT = frozenset({"akiec", "bcc", "mel"})

# scheme -> ordered classes, each a (id, display name, description, diagnoses it takes)
SCHEMES = {
    "dx7": [(dx, name, desc, (dx,)) for dx, (name, desc) in DIAGNOSES.items()],
    "benign-malignant": [
        ("benign", "Benign", "A lesion that is not a skin cancer.", ("bkl", "df", "nv", "vasc")),
        ("malignant", "Malignant or pre-malignant", "Melanoma, basal cell carcinoma, or actinic keratosis / Bowen's.",
         ("akiec", "bcc", "mel")),
    ],
    "benign-malignant-other": [
        ("benign", "Benign melanocytic", "A mole (melanocytic nevus).", ("nv",)),
        ("malignant", "Malignant or pre-malignant", "Melanoma, basal cell carcinoma, or actinic keratosis / Bowen's.",
         ("akiec", "bcc", "mel")),
        ("other", "Other benign", "Benign keratosis, dermatofibroma or vascular lesion.", ("bkl", "df", "vasc")),
    ],
}


def class_ids(scheme: str) -> list[str]:
    """The output classes of a scheme, in model output order."""
    return [cid for cid, *_ in _scheme(scheme)]


def diagnosis_to_index(scheme: str) -> dict[str, int]:
    """Maps each diagnosis (``dx``) to its output index under ``scheme``, and each class id too, so that a
    folder per class may be named after the scheme's classes (``benign/``, ``malignant/``) or diagnoses."""
    by_dx = {dx: i for i, (*_, dxs) in enumerate(_scheme(scheme)) for dx in dxs}
    return {**{cid: i for i, (cid, *_) in enumerate(_scheme(scheme))}, **by_dx}


def classes_metadata(scheme: str) -> list[dict]:
    """The ``classes`` list of metadata.json: id, display name, description, malignant flag."""
    return [
        {"id": cid, "name": name, "description": desc, "diagnoses": list(dxs),
         "malignant": bool(MALIGNANT & set(dxs))}
        for cid, name, desc, dxs in _scheme(scheme)
    ]


def _scheme(scheme: str):
    try:
        return SCHEMES[scheme]
    except KeyError:
        raise ValueError(f"unknown label scheme {scheme!r}; choose one of {sorted(SCHEMES)}") from None
