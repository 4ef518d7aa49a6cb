"""Clinical metadata (age, sex, body site, and what a person can tell about the spot): how a person's
answers become the model's second input.

Dermatologists weigh a lesion by who has it and where: HAM10000 records ``age``, ``sex`` and
``localization`` for every image. PAD-UFES-20 also records six yes/no questions a patient can answer
(has it grown, changed, bled, does it itch, hurt, is it raised: QUESTIONS). This module is the one
definition of how they become a fixed-length vector, on both sides: ``Layout.encode`` here, and
``clinicalVector`` in web/metadata.js, which builds the same vector from ``Layout.spec()`` as written into
metadata.json (never from its own copy).

    vector = [age / 100, age missing,
              male, female, sex missing,
              one-hot over SITES, site missing,
              (with --questions) for each question: yes, no, not answered]

Every field may be missing (None or ""); a missing field sets only its indicator, so "not answered" is a
value the model learns. A vector with every field missing is ``Layout.missing``: the model's clinical
branch is built so that it then changes nothing (see ``trainer.model.ClinicalOffset``).

    >>> BASE.encode(45, "female", "back")[:5]
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

# The base layout's positions (every clinical model has them, in this order; the questions come after).
AGE, AGE_MISSING = 0, 1
SEX = {s: 2 + i for i, s in enumerate(SEXES)}
SEX_MISSING = 2 + len(SEXES)
SITE = {s: SEX_MISSING + 1 + i for i, s in enumerate(SITES)}
SITE_MISSING = SEX_MISSING + 1 + len(SITES)

# What a person can tell about the spot, asked once, each answered yes, no or not at all (--questions). The
# wording is the page's (metadata.json carries the question and, for its card, what each answer says);
# PAD-UFES-20's column is where a dataset records the answer.
# The same six serve the spot history's checklist (NICE NG12's weighted 7-point list): grown ~ change in size,
# changed ~ change in shape or colour, bled ~ oozing or crusting, itches / hurts ~ change in sensation, raised.
QUESTIONS = (
    {"name": "grown", "label": "Has it grown?", "pad_ufes_20": "grew",
     "said": {"yes": "it has grown", "no": "it has not grown"}},
    {"name": "changed", "label": "Has it changed in shape or colour?", "pad_ufes_20": "changed",
     "said": {"yes": "it has changed in shape or colour", "no": "it has not changed in shape or colour"}},
    {"name": "bled", "label": "Has it bled, oozed or crusted?", "pad_ufes_20": "bleed",
     "said": {"yes": "it has bled, oozed or crusted", "no": "it has not bled, oozed or crusted"}},
    {"name": "itches", "label": "Does it itch?", "pad_ufes_20": "itch",
     "said": {"yes": "it itches", "no": "it does not itch"}},
    {"name": "hurts", "label": "Does it hurt?", "pad_ufes_20": "hurt",
     "said": {"yes": "it hurts", "no": "it does not hurt"}},
    {"name": "raised", "label": "Is it raised above the skin?", "pad_ufes_20": "elevation",
     "said": {"yes": "it is raised", "no": "it is not raised"}},
)
QUESTION_NAMES = tuple(q["name"] for q in QUESTIONS)
PERSON_FIELDS = ("age", "sex", "site")  # the fields about the person, before the questions about the spot
YES_NO = ("yes", "no")
_YES_NO_WORDS = {"yes": "yes", "y": "yes", "true": "yes", "1": "yes", "no": "no", "n": "no", "false": "no", "0": "no"}


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


def normalise_answer(value) -> str | None:
    """A question's answer as "yes" or "no", or None when not answered (blank, "unknown", PAD-UFES-20's "UNK")."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, bool):
        return "yes" if value else "no"
    word = str(value).strip().lower()
    if word in MISSING_WORDS:
        return None
    if word not in _YES_NO_WORDS:
        raise ClinicalError(f"answer {value!r} is not yes or no")
    return _YES_NO_WORDS[word]


def lenient(normalise, value):
    """``normalise(value)``, or None where a dataset's value is not one the model knows."""
    try:
        return normalise(value)
    except ClinicalError:
        return None


class Layout:
    """The clinical vector's layout: age, sex and site, then, with ``questions``, the six questions (QUESTIONS),
    each one-hot over yes, no and not answered. ``BASE`` and ``WITH_QUESTIONS`` are the two; a model's input
    width says which it takes (``of_size``).

        >>> WITH_QUESTIONS.encode(45, "female", "back", grown="yes").shape
        (38,)
    """

    def __init__(self, questions: bool):
        self.questions = questions
        # field -> (its value columns, its missing column)
        self.fields = {"age": ([AGE], AGE_MISSING), "sex": (list(SEX.values()), SEX_MISSING),
                       "site": (list(SITE.values()), SITE_MISSING)}
        n = SITE_MISSING + 1
        for name in QUESTION_NAMES if questions else ():
            self.fields[name] = ([n, n + 1], n + 2)  # yes, no, not answered
            n += 3
        self.size = n
        self.missing = self.encode()

    @staticmethod
    def of_size(size: int) -> "Layout":
        """The layout of a clinical input ``size`` wide."""
        for layout in (BASE, WITH_QUESTIONS):
            if layout.size == size:
                return layout
        raise ClinicalError(f"a clinical input of {size} values is none this version knows "
                            f"({BASE.size}: age, sex, site; {WITH_QUESTIONS.size}: with the six questions)")

    def encode(self, age=None, sex=None, site=None, **answers) -> np.ndarray:
        """The clinical vector (float32, ``size``) for one person; any argument may be None (missing).
        ``answers``: a question's name (QUESTION_NAMES) -> yes / no / None, for a layout with the questions."""
        unknown = set(answers) - set(QUESTION_NAMES if self.questions else ())
        if unknown:
            raise ClinicalError(f"{', '.join(sorted(unknown))}: not a question this model takes"
                                if set(unknown) <= set(QUESTION_NAMES) else f"unknown field {sorted(unknown)[0]!r}")
        v = np.zeros(self.size, np.float32)
        age, sex, site = normalise_age(age), normalise_sex(sex), normalise_site(site)
        if age is None:
            v[AGE_MISSING] = 1
        else:
            v[AGE] = age * AGE_SCALE
        v[SEX_MISSING if sex is None else SEX[sex]] = 1
        v[SITE_MISSING if site is None else SITE[site]] = 1
        for name in QUESTION_NAMES if self.questions else ():
            answer = normalise_answer(answers.get(name))
            (yes, no), missing = self.fields[name]
            v[missing if answer is None else yes if answer == "yes" else no] = 1
        return v

    def encode_records(self, records) -> np.ndarray:
        """(n, size) vectors of ``Record``s (their clinical fields and answers, already normalised by the readers)."""
        if not records:
            return np.zeros((0, self.size), np.float32)
        return np.stack([self.encode(r.age, r.sex, r.site, **(dict(r.answers) if self.questions else {}))
                         for r in records])

    def batch(self, vectors, n: int) -> np.ndarray:
        """Clinical vectors for a batch of n images: one per image, one for all, or None (all missing)."""
        if vectors is None:
            return np.tile(self.missing, (n, 1))
        vectors = np.atleast_2d(np.asarray(vectors, np.float32))
        return np.tile(vectors, (n, 1)) if len(vectors) == 1 else vectors

    def only(self, vectors: np.ndarray, fields) -> np.ndarray:
        """The vectors with every field not in ``fields`` made missing (what a person filling in just those gives)."""
        out = np.array(vectors, np.float32, copy=True)
        for name, (cols, missing) in self.fields.items():
            if name not in fields:
                out[:, cols] = 0
                out[:, missing] = 1
        return out

    def drop_fields(self, vectors: np.ndarray, rng: np.random.Generator, p_all: float, p_field: float) -> np.ndarray:
        """Training-time dropout of metadata: with ``p_all`` a row loses every field, else each field
        is lost with ``p_field``. A lost field reads exactly as a person leaving it blank."""
        out = np.array(vectors, np.float32, copy=True)
        n = len(out)
        drop_all = rng.random(n) < p_all
        for cols, missing in self.fields.values():
            lost = drop_all | (rng.random(n) < p_field)
            out[np.ix_(lost, cols + [missing])] = 0
            out[lost, missing] = 1
        return out

    def coverage(self, records) -> dict[str, float]:
        """The fraction of records with each field present (for the report)."""
        n = max(len(records), 1)
        given = {"age": lambda r: r.age is not None, "sex": lambda r: r.sex is not None,
                 "site": lambda r: r.site is not None}
        for name in QUESTION_NAMES if self.questions else ():
            given[name] = lambda r, name=name: dict(r.answers).get(name) is not None
        return {field: sum(map(has, records)) / n for field, has in given.items()}

    def spec(self) -> dict:
        """What metadata.json says about the clinical input: enough for the browser to build the vector, ask
        for each field and say on a card what was used. A question is ``"about": "spot"`` (the rest are
        about the person), and each of its answers says in words what it means (``said``)."""
        fields = [
            {"name": "age", "kind": "number", "label": "Age", "unit": "years", "min": AGE_RANGE[0],
             "max": AGE_RANGE[1], "scale": AGE_SCALE, "index": AGE, "missing_index": AGE_MISSING},
            {"name": "sex", "kind": "choice", "label": "Sex",
             "values": [{"id": s, "label": s.capitalize(), "index": SEX[s]} for s in SEXES],
             "missing_index": SEX_MISSING},
            {"name": "site", "kind": "choice", "label": "Body site",
             "values": [{"id": s, "label": s.capitalize(), "index": SITE[s]} for s in SITES],
             "missing_index": SITE_MISSING},
        ]
        for question in QUESTIONS if self.questions else ():
            (yes, no), missing = self.fields[question["name"]]
            fields.append({"name": question["name"], "kind": "choice", "label": question["label"], "about": "spot",
                           "values": [{"id": "yes", "label": "Yes", "index": yes, "said": question["said"]["yes"]},
                                      {"id": "no", "label": "No", "index": no, "said": question["said"]["no"]}],
                           "missing_index": missing})
        return {"size": self.size, "fields": fields}


BASE = Layout(questions=False)
WITH_QUESTIONS = Layout(questions=True)


def layout(questions: bool) -> Layout:
    """The layout of a run's clinical input (its config's ``questions``)."""
    return WITH_QUESTIONS if questions else BASE
