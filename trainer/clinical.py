"""Clinical metadata (age, sex, body site): how a person's answers become the model's second input.

Dermatologists weigh a lesion by who has it and where: HAM10000 records ``age``, ``sex`` and
``localization`` for every image. This module is the one definition of how those three become a
fixed-length vector, on both sides: ``encode`` here, and ``clinicalVector`` in web/metadata.js,
which builds the same vector from ``spec()`` as written into metadata.json (never from its own copy).

    vector = [age / 100, age missing,
              male, female, sex missing,
              one-hot over SITES, site missing]

Every field may be missing (None or ""); a missing field sets only its indicator. A vector with all
three missing is ``MISSING``: the model's clinical branch is built so that it then changes nothing
(see ``trainer.model.ClinicalOffset``).

    >>> encode(45, "female", "back")[:5]
    array([0.45, 0.  , 0.  , 1.  , 0.  ], dtype=float32)
"""

from __future__ import annotations

import math

import numpy as np

from .errors import UserError

# HAM10000's `localization` values, less "unknown" (which is "missing" here).
SITES = ("abdomen", "acral", "back", "chest", "ear", "face", "foot", "genital", "hand", "lower extremity",
         "neck", "scalp", "trunk", "upper extremity")
SEXES = ("male", "female")
AGE_SCALE = 0.01  # years -> the vector's age entry
AGE_RANGE = (0, 120)  # ages outside are refused, not clipped: a typo must not become a patient

# Other datasets' site names (ISIC archive `anatom_site_general`, SIIM-ISIC 2020
# `anatom_site_general_challenge`) on HAM10000's. "head/neck" has no single HAM10000 site (face,
# scalp, ear and neck are separate there), so it reads as missing rather than as a guess.
SITE_ALIASES = {
    "anterior torso": "trunk", "lateral torso": "trunk", "torso": "trunk", "posterior torso": "back",
    "palms/soles": "acral", "oral/genital": "genital", "upper extremity": "upper extremity",
    "lower extremity": "lower extremity", "upper_extremity": "upper extremity",
    "lower_extremity": "lower extremity",
}
MISSING_WORDS = {"", "unknown", "nan", "na", "n/a", "none", "missing", "unk"}

AGE, AGE_MISSING = 0, 1
SEX = {s: 2 + i for i, s in enumerate(SEXES)}
SEX_MISSING = 2 + len(SEXES)
SITE = {s: SEX_MISSING + 1 + i for i, s in enumerate(SITES)}
SITE_MISSING = SEX_MISSING + 1 + len(SITES)
SIZE = SITE_MISSING + 1


class ClinicalError(UserError, ValueError):
    """A value that is not one the model knows (an unknown site, an age out of range)."""


def normalise_age(value) -> float | None:
    """A dataset's or a person's age as years, or None when missing. Raises ClinicalError if impossible."""
    if value is None:
        return None
    if isinstance(value, str):
        if value.strip().lower() in MISSING_WORDS:
            return None
        try:
            value = float(value)
        except ValueError:
            raise ClinicalError(f"age {value!r} is not a number of years") from None
    value = float(value)
    if math.isnan(value):
        return None
    if not AGE_RANGE[0] <= value <= AGE_RANGE[1]:
        raise ClinicalError(f"age {value:g} is outside {AGE_RANGE[0]}–{AGE_RANGE[1]} years")
    return value


def normalise_sex(value) -> str | None:
    if value is None or str(value).strip().lower() in MISSING_WORDS:
        return None
    sex = {"m": "male", "f": "female"}.get(str(value).strip().lower(), str(value).strip().lower())
    if sex not in SEXES:
        raise ClinicalError(f"sex {value!r} is not one of {', '.join(SEXES)}")
    return sex


def normalise_site(value) -> str | None:
    if value is None or str(value).strip().lower() in MISSING_WORDS:
        return None
    site = str(value).strip().lower()
    site = SITE_ALIASES.get(site, site)
    if site == "head/neck":
        return None
    if site not in SITES:
        raise ClinicalError(f"body site {value!r} is not one of {', '.join(SITES)}")
    return site


def lenient(normalise, value):
    """``normalise(value)``, or None where a dataset's value is not one the model knows."""
    try:
        return normalise(value)
    except ClinicalError:
        return None


def encode(age=None, sex=None, site=None) -> np.ndarray:
    """The clinical vector (float32, SIZE) for one person; any argument may be None (missing)."""
    v = np.zeros(SIZE, np.float32)
    age, sex, site = normalise_age(age), normalise_sex(sex), normalise_site(site)
    if age is None:
        v[AGE_MISSING] = 1
    else:
        v[AGE] = age * AGE_SCALE
    v[SEX_MISSING if sex is None else SEX[sex]] = 1
    v[SITE_MISSING if site is None else SITE[site]] = 1
    return v


MISSING = encode()


def batch(vectors, n: int) -> np.ndarray:
    """Clinical vectors for a batch of n images: one per image, one for all, or None (all missing)."""
    if vectors is None:
        return np.tile(MISSING, (n, 1))
    vectors = np.atleast_2d(np.asarray(vectors, np.float32))
    return np.tile(vectors, (n, 1)) if len(vectors) == 1 else vectors


def encode_records(records) -> np.ndarray:
    """(n, SIZE) vectors of ``Record``s (their ``age``, ``sex``, ``site``, already normalised by the readers)."""
    return np.stack([encode(r.age, r.sex, r.site) for r in records]) if records else np.zeros((0, SIZE), np.float32)


FIELDS = {"age": ([AGE], AGE_MISSING), "sex": (list(SEX.values()), SEX_MISSING),
          "site": (list(SITE.values()), SITE_MISSING)}


def only(vectors: np.ndarray, fields) -> np.ndarray:
    """The vectors with every field not in ``fields`` made missing (what a person filling in just those gives)."""
    out = np.array(vectors, np.float32, copy=True)
    for name, (cols, missing) in FIELDS.items():
        if name not in fields:
            out[:, cols] = 0
            out[:, missing] = 1
    return out


def drop_fields(vectors: np.ndarray, rng: np.random.Generator, p_all: float, p_field: float) -> np.ndarray:
    """Training-time dropout of metadata: with ``p_all`` a row loses every field, else each field
    is lost with ``p_field``. A lost field reads exactly as a person leaving it blank."""
    out = np.array(vectors, np.float32, copy=True)
    n = len(out)
    drop_all = rng.random(n) < p_all
    for cols, missing in FIELDS.values():
        lost = drop_all | (rng.random(n) < p_field)
        out[np.ix_(lost, cols + [missing])] = 0
        out[lost, missing] = 1
    return out


def coverage(records) -> dict[str, float]:
    """The fraction of records with each field present (for the report)."""
    n = max(len(records), 1)
    return {"age": sum(r.age is not None for r in records) / n, "sex": sum(r.sex is not None for r in records) / n,
            "site": sum(r.site is not None for r in records) / n}


def spec() -> dict:
    """What metadata.json says about the clinical input: enough for the browser to build the vector."""
    return {
        "size": SIZE,
        "fields": [
            {"name": "age", "kind": "number", "label": "Age", "unit": "years", "min": AGE_RANGE[0],
             "max": AGE_RANGE[1], "scale": AGE_SCALE, "index": AGE, "missing_index": AGE_MISSING},
            {"name": "sex", "kind": "choice", "label": "Sex",
             "values": [{"id": s, "label": s.capitalize(), "index": SEX[s]} for s in SEXES],
             "missing_index": SEX_MISSING},
            {"name": "site", "kind": "choice", "label": "Body site",
             "values": [{"id": s, "label": s.capitalize(), "index": SITE[s]} for s in SITES],
             "missing_index": SITE_MISSING},
        ],
    }
