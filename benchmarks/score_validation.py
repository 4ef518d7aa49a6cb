"""Scores a web model folder (the graph the page runs, fields left blank) on a run's validation split, per kind
of picture: balanced accuracy with the model's decision rule, malignant AUC, sensitivity/specificity at the
threshold the page would use, and how often the page would warn (not a lesion / any check).
    .venv/bin/python benchmarks/score_validation.py web/model runs/phone2/split.csv out.json
"""
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from trainer import scope
from trainer.data import read_split
from trainer.images import prepare
from trainer.metrics import auc, balanced_accuracy, decide
from trainer.predict import Predictor
from trainer.labels import diagnosis_to_index
model_dir, split_csv, out = sys.argv[1:4]
meta = json.loads(open(f"{model_dir}/metadata.json").read())
pred = Predictor(model_dir)
records, splits = read_split(split_csv)
val = [r for r, s in zip(records, splits) if s == "val"]
ids = [c["id"] for c in meta["classes"]]
index = {**{i: k for k, i in enumerate(ids)}, "scc": ids.index("akiec")}
y = np.array([index[r.dx] for r in val])
size = meta["input"]["height"]
outs = {}
for lo in range(0, len(val), 32):
    x = np.stack([prepare(r.path, size, size) for r in val[lo:lo + 32]]).astype(np.float32)
    o = pred.outputs(x)
    o["blur"] = scope.blur(x).numpy(); o["brightness"] = scope.brightness(x).numpy()
    for k, v in o.items():
        if k != "cam":
            outs.setdefault(k, []).append(np.asarray(v))
outs = {k: np.concatenate(v) for k, v in outs.items()}
p = outs["probabilities"]
mal = np.array([c["malignant"] for c in meta["classes"]])
risk = p[:, mal].sum(1)
s = meta["screening"]; sc = meta["scope"]
kinds = np.array([r.kind for r in val])
photo_from = meta.get("picture_kind_photo_from")
judged = (np.where(outs["picture_kind"] >= photo_from, "photo", "dermoscopic") if meta.get("picture_kinds")
          else np.full(len(val), "dermoscopic"))
def rule(kind):
    base = (s.get("by_kind") or {}).get(kind) or s
    return (base.get("without_clinical") or base)["threshold"]
thr = np.array([rule(k) for k in judged])
flags = scope.flagged({"feature_distance": outs["feature_distance"], "blur": outs["blur"], "brightness": outs["brightness"],
                       "out_of_scope": outs["out_of_scope"], "probabilities": p}, sc)
nal = outs["out_of_scope"] > sc["out_of_scope_threshold"]
res = {"model": meta["model"]["version"]}
weights = (meta.get("decision") or {}).get("class_log_weights")
for kind in ("dermoscopic", "photo"):
    sel = kinds == kind
    pos = mal[y[sel]]
    flagged = risk[sel] >= thr[sel]
    res[kind] = {"n": int(sel.sum()), "cancers": int(pos.sum()),
                 "balanced_accuracy": float(balanced_accuracy(y[sel], decide(p[sel], weights))),
                 "malignant_auc": float(auc(pos, risk[sel])),
                 "sensitivity": float(flagged[pos].mean()), "specificity": float((~flagged[~pos]).mean()),
                 "refused_any": float(flags[sel].mean()), "not_a_lesion": float(nal[sel].mean()),
                 "cancers_lower_unwarned": float((~flags[sel] & ~flagged)[pos].mean()),
                 "judged_photo": float((judged[sel] == "photo").mean())}
json.dump(res, open(out, "w"), indent=1)
print(json.dumps(res, indent=1))
