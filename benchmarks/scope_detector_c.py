"""How the out-of-scope detector's regularisation (C) was chosen: grouped 5-fold cross-validation on the
pictures it is fitted to, never on held-out ones; and how it does on a kind of picture it never saw.

    python scripts/add_scope_detector.py runs/clinical --outliers /tmp/outliers/fit --out runs/clinical-scope
    python benchmarks/scope_detector_c.py runs/clinical-scope/scope_features.npz --outliers /tmp/outliers

The features file holds the training lesions' and the other pictures' pooled features (the built-in
synthetic ones first, then each file under OUTLIERS/fit in sorted order). Lesions fall into random
folds; other pictures into folds by source picture (scripts/make_outliers.py's ``group``), so a crop
is never scored by a model that saw its picture. Prints, per C, the mean ROC AUC and the share of
other pictures flagged at the threshold that lets 95% of the held-out fold's lesions through. Then,
at the chosen C, each category left out of fitting in turn (trained on a fifth fewer lesions, whose
held-out fifth sets the threshold): the share of that category flagged.
"""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

CS = (0.0003, 0.001, 0.003, 0.01, 0.03, 0.1)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("features", help="scope_features.npz written by scripts/add_scope_detector.py")
    parser.add_argument("--outliers", required=True, help="the folder scripts/make_outliers.py made")
    args = parser.parse_args(argv)

    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import GroupKFold
    from sklearn.preprocessing import StandardScaler

    from trainer import outliers
    from trainer.metrics import auc

    saved = np.load(args.features)
    lesions, others = saved["lesions"], saved["others"]
    root = Path(args.outliers)
    with open(root / "manifest.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    group_of = {row["path"]: row["group"] for row in rows}
    category_of = {row["path"]: row["category"] for row in rows}
    files = [str(p.relative_to(root)) for p in outliers.folder(root / "fit")]
    groups = [f"synthetic{i}" for i in range(len(others) - len(files))] + [group_of[f] for f in files]
    lesion_fold = np.random.default_rng(0).integers(0, 5, len(lesions))
    other_fold = np.zeros(len(others), int)
    for k, (_, held) in enumerate(GroupKFold(5).split(others, groups=groups)):
        other_fold[held] = k
    for c in CS:
        aucs, flagged = [], []
        for k in range(5):
            x = np.r_[lesions[lesion_fold != k], others[other_fold != k]]
            y = np.r_[np.zeros((lesion_fold != k).sum()), np.ones((other_fold != k).sum())]
            scaler = StandardScaler().fit(x)
            model = LogisticRegression(C=c, class_weight="balanced", max_iter=5000).fit(scaler.transform(x), y)
            p_lesion = model.predict_proba(scaler.transform(lesions[lesion_fold == k]))[:, 1]
            p_other = model.predict_proba(scaler.transform(others[other_fold == k]))[:, 1]
            aucs.append(auc(np.r_[np.zeros(len(p_lesion)), np.ones(len(p_other))], np.r_[p_lesion, p_other]))
            flagged.append((p_other > np.quantile(p_lesion, 0.95)).mean())
        print(f"C={c}: ROC AUC {np.mean(aucs):.4f}, other pictures flagged at 5% of lesions {np.mean(flagged):.3f}")

    from trainer.scope import DETECTOR_C

    categories = np.array(["synthetic"] * (len(others) - len(files)) + [category_of[f] for f in files])
    for category in sorted(set(categories)):
        seen = categories != category
        x = np.r_[lesions[lesion_fold != 0], others[seen]]
        y = np.r_[np.zeros((lesion_fold != 0).sum()), np.ones(seen.sum())]
        scaler = StandardScaler().fit(x)
        model = LogisticRegression(C=DETECTOR_C, class_weight="balanced", max_iter=5000).fit(scaler.transform(x), y)
        threshold = np.quantile(model.predict_proba(scaler.transform(lesions[lesion_fold == 0]))[:, 1], 0.95)
        flagged = (model.predict_proba(scaler.transform(others[~seen]))[:, 1] > threshold).mean()
        print(f"C={DETECTOR_C}, {category} never seen ({(~seen).sum()} pictures): {flagged:.1%} flagged")


if __name__ == "__main__":
    main()
