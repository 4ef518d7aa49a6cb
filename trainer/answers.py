"""What a person is told, from a model's probabilities and its ``metadata.json``: the concern band, the risk and
the threshold it was compared with, the type the card names first, and what the risk's range held on validation.

The page computes the same in ``web/metadata.js`` (``screeningRule``, ``triage``, ``decide``, ``riskBin``,
``pictureKindOf``), from the same file. This is the Python side of that rule, and the writer of the golden
answers the page's code is tested against (``tests/js/answers.test.js``, run by ``tests/test_answers.py``):

    python -m trainer.answers web/model/metadata.json --out answers.json

writes, for every golden photo of the metadata and for probability vectors placed on both sides of every
boundary (each threshold of each rule, each risk range's edges, near-ties of the decision rule, the picture
kind's cut), what the page must answer.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

import numpy as np

from . import metrics

# How far on either side of a boundary the generated cases sit: far above the float rounding of a sum of
# seven probabilities (~1e-16), far below any difference a person could see.
MARGIN = 1e-6
REST = 1e-4  # a near-tie case's probability outside its two classes


def screening_rule(metadata: dict, kind: str | None = None, photo_only: bool = False) -> dict | None:
    """The threshold and risk ranges that apply (web/metadata.js screeningRule): the picture kind's own where
    the model has them, and for a model with a clinical input classified with every field blank, the
    photo-only ones. None without a screening block."""
    screening = metadata.get("screening")
    if not screening:
        return None
    own = (screening.get("by_kind") or {}).get(kind) if kind else None
    base = own or screening
    blank = base.get("without_clinical") if photo_only and metadata.get("clinical") else None
    rule = blank or base
    return {"threshold": rule["threshold"], "risk_bins": rule.get("risk_bins"), "kind": kind if own else None,
            "photo_only": bool(blank), "few_cancers": bool((own or {}).get("few_cancers"))}


def decide(probabilities: list[float], metadata: dict) -> int:
    """The class the card names first: trainer/metrics.py's decision rule (the one `trainer predict` and the
    evaluation use), argmax of log p + decision.class_log_weights, the first of equal scores."""
    weights = (metadata.get("decision") or {}).get("class_log_weights")
    return int(metrics.decide(np.array([probabilities], np.float64), weights)[0])


def picture_kind(photo_probability: float | None, metadata: dict) -> str | None:
    """The kind of picture the model judged (web/metadata.js pictureKindOf); None for a model without kinds."""
    kinds = metadata.get("picture_kinds")
    if photo_probability is None or not isinstance(kinds, list) or len(kinds) != 2:
        return None
    return kinds[1]["id"] if photo_probability >= metadata["picture_kind_photo_from"] else kinds[0]["id"]


def answer(probabilities: list[float], metadata: dict, clinical_used: list[str] = (),
           photo_probability: float | None = None) -> dict:
    """Everything the card decides for one prediction, in the page's terms (web/metadata.js triage, riskBin)."""
    kind = picture_kind(photo_probability, metadata)
    top = decide(probabilities, metadata)
    out = {"kind": kind, "type": metadata["classes"][top]["id"]}
    rule = screening_rule(metadata, kind, photo_only=not clinical_used)
    if rule is None:
        return {**out, "band": None}
    malignant = np.array([c["id"] in metadata["screening"]["malignant_classes"] for c in metadata["classes"]])
    risk = float(metrics.malignant_risk(np.array([probabilities], np.float64), malignant)[0])
    bins = rule["risk_bins"] or []
    found = next((b for i, b in enumerate(bins) if risk >= b["from"] and (risk < b["to"] or i == len(bins) - 1)),
                 None)
    return {**out, "risk": risk, "threshold": rule["threshold"], "band": "higher" if risk >= rule["threshold"] else "lower",
            "photo_only": rule["photo_only"], "rule_kind": rule["kind"], "few_cancers": rule["few_cancers"],
            "bin": None if found is None else {k: found.get(k) for k in ("from", "to", "n", "malignant", "rate")}}


def _with_risk(metadata: dict, risk: float, lead: int | None = None) -> list[float]:
    """Probabilities whose malignant classes sum to ``risk``; the rest share 1 - risk. ``lead``: the class given
    most of its side's share (so cases differ in the type shown)."""
    malignant = set(metadata["screening"]["malignant_classes"])
    sides = [[i for i, c in enumerate(metadata["classes"]) if (c["id"] in malignant) == side] for side in (True, False)]
    p = [0.0] * len(metadata["classes"])
    for members, total in zip(sides, (risk, 1 - risk)):
        heavy = lead if lead in members else members[0]
        for i in members:
            p[i] = total * (0.7 if i == heavy else 0.3 / (len(members) - 1)) if len(members) > 1 else total
    return p


def _near_ties(metadata: dict) -> list[list[float]]:
    """For each pair of classes, probabilities whose decision scores differ by just over MARGIN either way."""
    weights = (metadata.get("decision") or {}).get("class_log_weights") or [0.0] * len(metadata["classes"])
    n, cases = len(weights), []
    for i in range(n):
        for j in range(i + 1, n):
            for sign in (1, -1):
                # log p_i + w_i = log p_j + w_j + sign * 10 * MARGIN, with p_i + p_j = 1 - REST, and the rest
                # too small for any other class to win.
                ratio = math.exp(weights[j] - weights[i] + sign * 10 * MARGIN)  # p_i / p_j
                p_j = (1 - REST) / (1 + ratio)
                p = [REST / (n - 2)] * n
                p[i], p[j] = 1 - REST - p_j, p_j
                cases.append(p)
    return cases


def cases(metadata: dict) -> list[dict]:
    """The inputs the golden answers are written for: the golden photos' recorded probabilities, and generated
    probabilities on both sides of every boundary of every rule the metadata holds."""
    kinds = [k["id"] for k in metadata.get("picture_kinds") or []] or [None]
    photo_from = metadata.get("picture_kind_photo_from", 0.5)
    # The picture_kind output just either side of the cut (and on it, which is a photo).
    photo_probability = {None: [None]} if kinds == [None] else {
        kinds[0]: [photo_from - MARGIN], kinds[1]: [photo_from, photo_from + MARGIN]}
    out = [{"name": f"golden {g['file']} as {kind}", "probabilities": g["probabilities"],
            "clinical_used": sorted((g.get("clinical") or {}).keys()), "photo_probability": photo}
           for g in metadata.get("golden", []) for kind in kinds for photo in photo_probability[kind]]
    if metadata.get("screening"):
        for kind in kinds:
            for clinical_used in ([], ["age"]) if metadata.get("clinical") else ([],):
                rule = screening_rule(metadata, kind, photo_only=not clinical_used)
                edges = {rule["threshold"]} | {e for b in rule["risk_bins"] or [] for e in (b["from"], b["to"])}
                for edge in sorted(edges):
                    for risk in (edge - MARGIN, edge, edge + MARGIN):
                        if 0 <= risk <= 1:
                            for lead in range(len(metadata["classes"])):
                                out.append({"name": f"risk {risk!r} kind {kind} answers {clinical_used}",
                                            "probabilities": _with_risk(metadata, risk, lead),
                                            "clinical_used": clinical_used,
                                            "photo_probability": photo_probability[kind][0]})
    out += [{"name": f"near tie {i}", "probabilities": p, "clinical_used": [],
             "photo_probability": photo_probability[kinds[0]][0]} for i, p in enumerate(_near_ties(metadata))]
    return out


def golden_answers(metadata: dict) -> list[dict]:
    """Each case with the answer the page must give for it."""
    return [{**case, "answer": answer(case["probabilities"], metadata, case["clinical_used"],
                                      case["photo_probability"])} for case in cases(metadata)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m trainer.answers", description=__doc__.split("\n")[0])
    parser.add_argument("metadata", type=Path, help="a model's metadata.json (web/model/metadata.json)")
    parser.add_argument("--out", type=Path, required=True, help="the golden answers, as JSON")
    args = parser.parse_args(argv)
    metadata = json.loads(args.metadata.read_text())
    answers = golden_answers(metadata)
    args.out.write_text(json.dumps({"metadata": str(args.metadata.resolve()), "cases": answers}, indent=1) + "\n")
    print(f"{args.out}: {len(answers)} cases")
    return 0


if __name__ == "__main__":
    sys.exit(main())
