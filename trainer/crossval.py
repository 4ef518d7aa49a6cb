"""Grouped, stratified k-fold cross-validation (``--folds K``): the whole pipeline once per fold.

    python -m trainer train --data ../shared/data/ham10000 --folds 5 --out runs/cv

Each fold's run is ``<out>/fold_<k>`` (its own split, stage 1, stage 2, calibration and test pass,
``trainer/train.py``); the frozen backbone's feature cache is shared in ``<out>/features``. Writes
``<out>/cv_report.json`` and ``cv_report.md``: each test metric's mean ± sd over the folds.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from . import train as pipeline
from .config import Config
from .runfiles import log, write_text


def cross_validate(config: Config, out: Path) -> dict:
    """Grouped, stratified k-fold cross-validation: one full run per fold, then mean ± sd.

    Writes ``<out>/cv_report.json`` and ``cv_report.md``; each fold's run is ``<out>/fold_<k>``.
    """
    out = Path(out)
    reports = [pipeline.train(config, out / f"fold_{k + 1}", fold=k) for k in range(config.folds)]
    if None in reports:  # a worker other than the chief: its part is done
        return None
    keys = ("balanced_accuracy", "macro_auc", "macro_f1", "ece")
    rows = {k: [r["test"][k] for r in reports] for k in keys}
    rows["malignant_sensitivity"] = [r["test"]["malignant"]["sensitivity"] for r in reports]
    rows["malignant_specificity"] = [r["test"]["malignant"]["specificity"] for r in reports]
    summary = {"folds": config.folds, "per_fold": rows,
               "mean": {k: float(np.mean(v)) for k, v in rows.items()},
               "sd": {k: float(np.std(v, ddof=1)) if len(v) > 1 else 0.0 for k, v in rows.items()}}
    write_text(out / "cv_report.json", json.dumps(summary, indent=2) + "\n")
    lines = [f"# {config.folds}-fold cross-validation (grouped by lesion, stratified by class)", "",
             "| metric | mean ± sd | per fold |", "|---|---|---|"]
    lines += [f"| {k} | {summary['mean'][k]:.3f} ± {summary['sd'][k]:.3f} | "
              + ", ".join(f"{v:.3f}" for v in rows[k]) + " |" for k in rows]
    (out / "cv_report.md").write_text("\n".join(lines) + "\n")
    log("cross-validation: " + ", ".join(f"{k} {summary['mean'][k]:.3f} ± {summary['sd'][k]:.3f}" for k in rows))
    return summary
