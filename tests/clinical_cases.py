"""Forms a person may fill in, and the clinical vector Python builds for each (trainer/clinical.py Layout.encode),
for both layouts: what tests/js/clinical.test.js holds the page's clinicalVector to.

    python tests/clinical_cases.py OUT.json     # then SKINLENS_CLINICAL_CASES=OUT.json node --test tests/js/
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from trainer import clinical  # noqa: E402 - after the path, so that the script runs from anywhere

FORMS = [{}, {"age": 45}, {"age": 0}, {"age": 120}, {"sex": "female", "site": "back"},
         {"age": 80, "sex": "male", "site": "lower extremity"}]
QUESTION_FORMS = ([{q: "yes"} for q in clinical.QUESTION_NAMES] + [{q: "no"} for q in clinical.QUESTION_NAMES]
                  + [{"age": 62, "site": "face", "grown": "yes", "bled": "no", "raised": "yes"},
                     {q: ("yes", "no")[i % 2] for i, q in enumerate(clinical.QUESTION_NAMES)}])


def cases() -> dict:
    """{"layouts": [{"spec": Layout.spec(), "cases": [{"answers", "vector", "used"}]}]} for BASE and WITH_QUESTIONS."""
    layouts = []
    for layout, extra in ((clinical.BASE, []), (clinical.WITH_QUESTIONS, QUESTION_FORMS)):
        spec = layout.spec()
        layouts.append({"spec": spec, "cases": [
            {"answers": form, "vector": layout.encode(**form).tolist(),
             "used": [f["name"] for f in spec["fields"] if f["name"] in form]} for form in FORMS + extra]})
    return {"layouts": layouts}


if __name__ == "__main__":
    out = Path(sys.argv[1])
    data = cases()
    out.write_text(json.dumps(data))
    print(f"{sum(len(layout['cases']) for layout in data['layouts'])} forms in {len(data['layouts'])} layouts -> {out}")
