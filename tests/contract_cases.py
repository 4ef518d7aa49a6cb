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
