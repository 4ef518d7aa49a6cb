"""The malformed metadata.json cases that the page and ``trainer predict`` must both refuse in the same words
(tests/fixtures/malformed_metadata.json), applied to whatever model metadata.json a test has.

    from contract_cases import CASES, malformed_text
    text = malformed_text(metadata, case)  # the file's new text, re-stamped unless the case says not
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

from converter.contract import stamp_version, version_name

CASES = json.loads((Path(__file__).parent / "fixtures" / "malformed_metadata.json").read_text())["cases"]
IDS = [case["id"] for case in CASES]


def _parent(node, path: str):
    *head, last = path.split(".")
    for key in head:
        node = node[int(key)] if isinstance(node, list) else node.setdefault(key, {})
    return node, (int(last) if isinstance(node, list) else last)


def _drop_benign_class(metadata: dict) -> None:
    """One class the screening does not count, removed everywhere one is listed per class: the metadata is
    consistent, but lists one class fewer than the model outputs."""
    malignant = set((metadata.get("screening") or {}).get("malignant_classes", []))
    i = max(i for i, c in enumerate(metadata["classes"]) if c["id"] not in malignant)
    del metadata["classes"][i]
    for per_class in [(metadata.get("decision") or {}).get("class_log_weights"),
                      (metadata.get("screening") or {}).get("class_bias"),
                      *[g["probabilities"] for g in metadata.get("golden", [])]]:
        if isinstance(per_class, list):
            del per_class[i]


def malformed(metadata: dict, case: dict):
    """``metadata`` (not changed) with the case's edits applied, not stamped."""
    edited = copy.deepcopy(metadata)
    for op, *args in case["edits"]:
        if op == "replace":
            edited = args[0]
        elif op == "set":
            node, key = _parent(edited, args[0])
            node[key] = float(args[1]) if args[1] == "NaN" else args[1]
        elif op == "append":
            node, key = _parent(edited, args[0])
            node[key] = [*node[key], args[1]]
        elif op == "delete":
            node, key = _parent(edited, args[0])
            if isinstance(node, list) or key in node:
                del node[key]
        elif op == "drop-benign-class":
            _drop_benign_class(edited)
        elif op == "duplicate-first-class":
            edited["classes"].append(copy.deepcopy(edited["classes"][0]))
        else:
            raise ValueError(f"unknown edit {op}")
    return edited


def malformed_text(metadata: dict, case: dict) -> str:
    """The text of the case's metadata.json, re-stamped with its new version unless ``stamp`` is false (as
    someone who edits the file and stamps it with converter.contract.stamp_version would)."""
    edited = malformed(metadata, case)
    if case.get("stamp", True):
        edited = stamp_version(edited, version_name(edited))
    return json.dumps(edited)


# The values every field the checkers read is set to in turn (besides being deleted): each kind of JSON value,
# the edges of the numeric rules (0, negative, a fraction, past 1) and the one value each fixed field must have.
HEX = "0123456789abcdef" * 4  # a sha256's form
PROBES = [None, 0, -1, 0.5, 1, 1.5, 3, 255, 10**9, "", "x", "a/b", "..", "golden/x.jpg", "golden/../x", "golden//x.jpg",
          "golden/./x.jpg", "golden\\x.jpg", [], [0, 255], [0, 255, 0], ["x"], {}, {"x": 1}, True, False, "NHWC",
          "float32", "none", "stretch", "tfjs-graph-model", "integer-average-pool-then-bilinear", HEX, HEX + "0",
          "0" + HEX, HEX.upper(), [HEX], {"a": HEX}, {"a": HEX, "b": "x"}, {"": HEX}, {".": HEX}, {"..": HEX},
          {"a/b": HEX}, {"a\\b": HEX}]

# Whole blocks that are wrong in one way only, where one field at a time cannot reach: a clinical block with no
# fields (so its size and name alone decide), a field of each kind with one flaw, a first value of a choice that is
# right and a second that is not.
_NUMBER = {"name": "age", "kind": "number", "index": 0, "missing_index": 1, "scale": 0.01, "min": 0, "max": 120}
_CHOICE = {"name": "sex", "kind": "choice", "values": [{"id": "m", "index": 2}, {"id": "f", "index": 3}],
           "missing_index": 4}
BLOCKS = {"clinical": [{"size": 5, "name": "c", "fields": []}, {"size": 1.5, "name": "c", "fields": []},
                       {"size": "5", "name": "c", "fields": []}, {"size": 5, "name": 3, "fields": []},
                       {"size": 5, "name": "c", "fields": [_NUMBER, _CHOICE]},
                       *({"size": 5, "name": "c", "fields": [{**_NUMBER, key: value}, _CHOICE]}
                         for key, value in [("index", 5), ("index", -1), ("index", 0.5), ("missing_index", 5),
                                            ("scale", "x"), ("min", None), ("max", "1"), ("kind", "text")]),
                       *({"size": 5, "name": "c", "fields": [_NUMBER, {**_CHOICE, key: value}]}
                         for key, value in [("kind", "text"), ("kind", "number"), ("values", "x"),
                                            ("values", [{"id": "m", "index": 2}, {"id": "f", "index": 5}]),
                                            ("values", [{"id": "m", "index": 2}, "f"]), ("values", [])])]}

# Fields inside the blocks that FIELDS checks as one (classes, clinical, golden, screening.by_kind, model.files).
INNER = ["classes.0", "classes.0.id", "classes.0.name", "clinical.size", "clinical.name", "clinical.fields",
         "clinical.fields.0", "clinical.fields.0.kind", "clinical.fields.0.index", "clinical.fields.0.missing_index",
         "clinical.fields.0.scale", "clinical.fields.0.min", "clinical.fields.0.max", "clinical.fields.1.kind",
         "clinical.fields.1.values", "clinical.fields.1.values.0", "clinical.fields.1.values.0.index",
         "golden.0", "golden.0.file", "golden.0.sha256", "golden.0.probabilities", "screening.by_kind.photo",
         "screening.by_kind.photo.threshold", "screening.by_kind.photo.without_clinical",
         "screening.by_kind.photo.without_clinical.threshold", "picture_kinds.0", "picture_kinds.0.id",
         "picture_kinds.1.name", "screening.without_clinical", "decision", "screening", "scope", "input.value_range.0",
         "input.value_range.1", "preprocess.alpha_background.2", "decision.class_log_weights.0",
         "screening.malignant_classes.0"]


def probe_cases(metadata: dict) -> list[dict]:
    """Cases in malformed()'s form: every field of converter.contract.FIELDS, and every field inside the blocks it
    checks whole, deleted and set to each of PROBES, where ``metadata`` has it; with the malformed cases of the
    fixture, the shipped file, and the top-level shapes. The page's and Python's checkers must say the same of
    each (tests/js/contract.test.js)."""
    from converter.contract import FIELDS

    cases = [{"id": "as-shipped", "edits": []}, *CASES]
    height, width = (metadata.get("input") or {}).get("height"), (metadata.get("input") or {}).get("width")
    if isinstance(height, int) and isinstance(width, int):  # the pixel limit at its edge
        cases += [{"id": f"preprocess.max_pixels={n}", "edits": [["set", "preprocess.max_pixels", n]]}
                  for n in (height * width, height * width - 1)]
    cases += [{"id": f"{path}=block{i}", "edits": [["set", path, block]]}
              for path, blocks in BLOCKS.items() for i, block in enumerate(blocks)]
    cases += [{"id": f"top-{i}", "edits": [["replace", value]]} for i, value in enumerate(PROBES)]
    cases += [{"id": f"schema_version={value!r}", "edits": [["set", "schema_version", value]]}
              for value in (0, 2, 1.0, "1", True, None)]
    for path in [path for path, *_ in FIELDS] + INNER:
        *head, last = path.split(".")
        if not _has(metadata, head) or (isinstance(_at(metadata, head), list) and not last.isdigit()):
            continue  # metadata.json has no such block: nothing to change inside it
        cases.append({"id": f"{path} deleted", "edits": [["delete", path]]})
        cases += [{"id": f"{path}={value!r}", "edits": [["set", path, value]]} for value in PROBES]
    return cases


def _at(node, keys):
    for key in keys:
        node = node[int(key)] if isinstance(node, list) else node[key]
    return node


def _has(node, keys) -> bool:
    """Whether ``node`` has a block at ``keys`` (dict keys, or list indices as digits)."""
    try:
        return isinstance(_at(node, keys), (dict, list))
    except (KeyError, IndexError, TypeError, ValueError):
        return False


def refusals(metadata: dict) -> list[dict]:
    """{id, text, says} for each of probe_cases(metadata): ``says`` is what converter.contract's check_metadata
    says of it (None: usable). Not re-stamped: neither checker reads more of model.version than its type."""
    from converter.contract import ContractError, check_metadata

    out = []
    for case in probe_cases(metadata):
        try:
            text = json.dumps(malformed(metadata, case))
        except (KeyError, TypeError, AttributeError, IndexError, ValueError):
            continue  # an edit that cannot apply (a path inside a value that is not a block)
        try:
            check_metadata(json.loads(text, parse_constant=lambda name: 1 / 0))
            says = None
        except ZeroDivisionError:
            says = "metadata.json is not valid JSON"
        except ContractError as err:
            says = str(err)
        out.append({"id": case["id"], "text": text, "says": says})
    return out


if __name__ == "__main__":
    # python tests/contract_cases.py web/model/metadata.json OUT.json: what the page's checker must say, for
    # tests/js/contract.test.js (SKINLENS_CONTRACT_CASES=OUT.json node --test tests/js/).
    import sys

    source, out = sys.argv[1:3]
    cases = refusals(json.loads(Path(source).read_text()))
    Path(out).write_text(json.dumps({"metadata": source, "cases": cases}))
    print(f"{len(cases)} cases ({sum(c['says'] is None for c in cases)} usable) -> {out}")
