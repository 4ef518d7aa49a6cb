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
