"""The model version: a hash of everything ``metadata.json`` says, checked by the page before use.

``model.version`` is ``<run name>-<12 hex digits>``, the digits the start of the sha256 of the canonical
JSON of the metadata with ``model.version`` left out. The metadata names every model file by its
sha256, so the version covers the weights, ``model.json``, the classes and their names, thresholds,
outputs, preprocessing, clinical fields, golden cases and figures. ``web/metadata.js`` (``canonicalJson``,
``checkVersion``) computes the same text in the browser and refuses a metadata.json whose content is
not its version's: one edited by hand after conversion.

Canonical JSON: object keys sorted, no whitespace, strings as ``JSON.stringify`` writes them, numbers
as JavaScript's ``Number.prototype.toString`` writes them (``1e-7``, ``0.000001``, ``1`` for ``1.0``),
because the browser parses the file into JavaScript numbers before writing it out again.
"""

from __future__ import annotations

import decimal
import hashlib
import json
import math

DIGITS = 12


def js_number(x: float | int) -> str:
    """``x`` as JavaScript writes it (ECMA-262 Number::toString; both languages use shortest digits)."""
    if isinstance(x, bool):
        raise TypeError("a bool is not a number here")
    if isinstance(x, int):
        if abs(x) > 2**53:
            raise ValueError(f"{x} is beyond JavaScript's exact integers")
        return str(x)
    if not math.isfinite(x):
        raise ValueError(f"{x} is not JSON")
    if x == 0:
        return "0"
    sign = "-" if x < 0 else ""
    # repr writes the shortest digits that read back as x, as JavaScript does: value = 0.digits × 10^n
    shortest = decimal.Decimal(repr(abs(x))).normalize().as_tuple()
    digits = "".join(map(str, shortest.digits))
    k, n = len(digits), len(digits) + shortest.exponent
    if k <= n <= 21:
        text = digits + "0" * (n - k)
    elif 0 < n <= 21:
        text = f"{digits[:n]}.{digits[n:]}"
    elif -6 < n <= 0:
        text = "0." + "0" * -n + digits
    else:
        e = n - 1
        text = (digits if k == 1 else f"{digits[0]}.{digits[1:]}") + f"e{'+' if e >= 0 else '-'}{abs(e)}"
    return sign + text


def canonical_json(value) -> str:
    """The text ``web/metadata.js`` canonicalJson writes for the same data, parsed from JSON."""
    if isinstance(value, dict):
        return "{" + ",".join(f"{json.dumps(str(k), ensure_ascii=False)}:{canonical_json(value[k])}"
                              for k in sorted(value)) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(canonical_json(v) for v in value) + "]"
    if value is None or isinstance(value, (bool, str)):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, (int, float)):
        return js_number(value)
    raise TypeError(f"{type(value).__name__} is not JSON")


def content_digest(metadata: dict) -> str:
    """sha256 (hex) of the canonical JSON of ``metadata`` without ``model.version``."""
    content = {**metadata, "model": {k: v for k, v in metadata["model"].items() if k != "version"}}
    return hashlib.sha256(canonical_json(content).encode("utf-8")).hexdigest()


def stamp_version(metadata: dict, name: str) -> dict:
    """``metadata`` with ``model.version`` set to ``<name>-<first 12 digits of its content digest>``."""
    version = f"{name}-{content_digest(metadata)[:DIGITS]}"
    return {**metadata, "model": {**metadata["model"], "version": version}}


def version_name(metadata: dict) -> str:
    """The name part of ``model.version`` (the run's name)."""
    return metadata["model"]["version"].rsplit("-", 1)[0]


# What metadata.json must hold for SkinLens to use it, in the page (web/metadata.js checkMetadata) and in
# `trainer predict` alike. The two are written rule for rule: the same rows, in the same order, with the
# same words, and tests/fixtures/malformed_metadata.json is the list of cases both must refuse.

HEX = frozenset("0123456789abcdef")
MISSING = object()


def is_number(v) -> bool:
    """A finite JSON number (JavaScript's Number.isFinite): not a bool, not a string."""
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def is_whole(v) -> bool:
    return is_number(v) and float(v).is_integer()


def is_probability(v) -> bool:
    return is_number(v) and 0 <= v <= 1


def is_plain_name(v) -> bool:
    """A file name inside the model folder: no folder part, nothing that leaves the folder."""
    return isinstance(v, str) and v not in ("", ".", "..") and "/" not in v and "\\" not in v


def is_sha256(v) -> bool:
    return isinstance(v, str) and len(v) == 64 and set(v) <= HEX


def is_object(v) -> bool:
    return isinstance(v, dict)


def get(metadata, path: str):
    node = metadata
    for key in path.split("."):
        if not isinstance(node, dict) or key not in node:
            return MISSING
        node = node[key]
    return node


def present(path: str):
    return lambda m: get(m, path) not in (MISSING, None)


def _class_ids(m) -> list:
    return [c["id"] for c in m["classes"]]


def _usable_clinical(spec, m) -> bool:
    if not is_object(spec) or not is_whole(spec.get("size")) or not isinstance(spec.get("name"), str):
        return False
    size = spec["size"]
    in_range = lambda i: is_whole(i) and 0 <= i < size  # noqa: E731
    fields = spec.get("fields")
    return isinstance(fields, list) and all(
        is_object(f) and in_range(f.get("missing_index", MISSING)) and (
            in_range(f.get("index", MISSING)) and all(is_number(f.get(k)) for k in ("scale", "min", "max"))
            if f.get("kind") == "number" else
            f.get("kind") == "choice" and isinstance(f.get("values"), list)
            and all(is_object(v) and in_range(v.get("index", MISSING)) for v in f["values"]))
        for f in fields)


def _usable_kinds(by_kind, m) -> bool:
    return is_object(by_kind) and all(
        is_object(e) and is_probability(e.get("threshold"))
        and (e.get("without_clinical") is None or (is_object(e["without_clinical"])
                                                   and is_probability(e["without_clinical"].get("threshold"))))
        for e in by_kind.values())


def _golden_file(v) -> bool:
    return (isinstance(v, str) and v.startswith("golden/") and "\\" not in v
            and all(part not in ("", ".", "..") for part in v.split("/")))


ALWAYS = lambda m: True  # noqa: E731

# (path, test(value, metadata), what it must be, when it must be there). A field that need not be there
# may be absent or null; when there, it must pass.
FIELDS = [
    ("model.format", lambda v, m: v == "tfjs-graph-model", '"tfjs-graph-model"', ALWAYS),
    ("model.version", lambda v, m: isinstance(v, str), "a string", ALWAYS),
    ("model.files", lambda v, m: is_object(v) and len(v) > 0 and all(is_plain_name(k) and is_sha256(s)
                                                                      for k, s in v.items()),
     "an object of file names and their sha256s", ALWAYS),
    ("model.model_json", lambda v, m: is_plain_name(v) and v in m["model"]["files"],
     "the name of a file in model.files", ALWAYS),
    ("model.total_bytes", lambda v, m: is_whole(v) and v > 0, "a positive whole number", ALWAYS),
    ("input.name", lambda v, m: isinstance(v, str), "a tensor name", ALWAYS),
    ("input.height", lambda v, m: is_whole(v) and v > 0, "a positive whole number", ALWAYS),
    ("input.width", lambda v, m: is_whole(v) and v > 0, "a positive whole number", ALWAYS),
    ("input.channels", lambda v, m: v == 3, "3", ALWAYS),
    ("input.layout", lambda v, m: v == "NHWC", '"NHWC"', ALWAYS),
    ("input.dtype", lambda v, m: v == "float32", '"float32"', ALWAYS),
    ("input.value_range", lambda v, m: isinstance(v, list) and len(v) == 2 and is_number(v[0]) and is_number(v[1])
     and v[0] == 0 and v[1] == 255, "[0, 255]: SkinLens feeds raw pixels", ALWAYS),
    ("outputs.probabilities", lambda v, m: isinstance(v, str), "a tensor name", ALWAYS),
    ("preprocess.exif_orientation", lambda v, m: v is True, "true", ALWAYS),
    ("preprocess.color_space_conversion", lambda v, m: v == "none", '"none"', ALWAYS),
    ("preprocess.alpha_background", lambda v, m: isinstance(v, list) and len(v) == 3 and all(map(is_number, v)),
     "three numbers", ALWAYS),
    ("preprocess.resize.method", lambda v, m: v == "integer-average-pool-then-bilinear",
     '"integer-average-pool-then-bilinear"', ALWAYS),
    ("preprocess.resize.aspect", lambda v, m: v == "stretch", '"stretch"', ALWAYS),
    ("preprocess.resize.half_pixel_centers", lambda v, m: v is True, "true", ALWAYS),
    ("preprocess.resize.align_corners", lambda v, m: v is False, "false", ALWAYS),
    ("preprocess.resize.antialias", lambda v, m: v is False, "false", ALWAYS),
    ("preprocess.max_bytes", lambda v, m: is_number(v) and v > 0, "a positive number", ALWAYS),
    ("preprocess.max_pixels", lambda v, m: is_number(v) and v >= m["input"]["height"] * m["input"]["width"],
     "a number of pixels no smaller than input.height × input.width", ALWAYS),
    ("preprocess.min_side", lambda v, m: is_number(v) and v >= 0, "a number", ALWAYS),
    ("classes", lambda v, m: isinstance(v, list) and len(v) > 0
     and all(is_object(c) and isinstance(c.get("id"), str) and isinstance(c.get("name"), str) for c in v)
     and len({c["id"] for c in v}) == len(v), "a list of {id, name}, each id once", ALWAYS),
    ("decision.class_log_weights", lambda v, m: isinstance(v, list) and len(v) == len(m["classes"])
     and all(map(is_number, v)), "one number per class", present("decision")),
    ("screening.malignant_classes", lambda v, m: isinstance(v, list) and len(v) > 0
     and all(isinstance(i, str) and i in _class_ids(m) for i in v), "a list of ids from classes",
     present("screening")),
    ("screening.threshold", lambda v, m: is_probability(v), "a number from 0 to 1", present("screening")),
    ("screening.without_clinical.threshold", lambda v, m: is_probability(v), "a number from 0 to 1",
     present("screening.without_clinical")),
    ("screening.by_kind", _usable_kinds, "an object of picture kinds, each with a threshold from 0 to 1",
     lambda m: False),
    ("picture_kinds", lambda v, m: isinstance(v, list) and len(v) == 2
     and all(is_object(k) and isinstance(k.get("id"), str) and isinstance(k.get("name"), str) for k in v),
     "two kinds of picture, each {id, name}", present("screening.by_kind")),
    ("picture_kind_photo_from", lambda v, m: is_probability(v), "a number from 0 to 1", present("screening.by_kind")),
    ("clinical", _usable_clinical, "a block SkinLens can use (every index inside size, every field a number or "
     "a choice)", lambda m: False),
    *((f"scope.{key}", lambda v, m: is_number(v), "a number or null", lambda m: False)
      for key in ("out_of_scope_threshold", "distance_threshold", "blur_threshold", "dark_threshold",
                  "confidence_threshold", "min_side")),
    ("golden", lambda v, m: isinstance(v, list) and all(
        is_object(g) and _golden_file(g.get("file")) and is_sha256(g.get("sha256"))
        and isinstance(g.get("probabilities"), list) and len(g["probabilities"]) == len(m["classes"]) for g in v),
     "a list of {file under golden/, sha256, one probability per class}", lambda m: False),
]


class ContractError(ValueError):
    """A metadata.json SkinLens cannot use, said in words (the page says the same words)."""


def check_metadata(metadata) -> None:
    """Raises ``ContractError`` naming the first field that SkinLens cannot use; the page's
    ``checkMetadata`` (web/metadata.js) refuses the same fields with the same words.

    Args:
        metadata: metadata.json, parsed.
    """
    if not is_object(metadata):
        raise ContractError("metadata.json is not a JSON object")
    if metadata.get("schema_version") != 1 or not is_whole(metadata.get("schema_version")):
        raise ContractError("metadata.json's schema_version is not 1, the only one SkinLens reads")
    for path, valid, what, required in FIELDS:
        value = get(metadata, path)
        if value in (MISSING, None) and not required(metadata):
            continue
        if value is MISSING or not valid(value, metadata):
            raise ContractError(f"metadata.json is not usable: {path} is "
                                f"{'missing' if value is MISSING else 'wrong'} (it must be {what})")
