"""The run's final model: written into the run folder, and rebuilt from it.

``export`` writes ``model.weights.h5`` (any view count can be rebuilt from it) and ``saved_model/``
(what the converter reads), each whole or not at all (``trainer/runfiles.py``), and removes stage 2's
``backup/``. ``rebuild`` makes the run's model again with another number of views inside the graph.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from . import labels
from .config import Config
from .errors import RunError
from .runfiles import log, readable_h5, replace_folder, save_weights
from .stage2 import freeze_for_stage2


def export(model, run: Path, saved_model: bool = True) -> None:
    """Writes ``model`` into ``run`` as ``model.weights.h5`` and ``saved_model/``; the run is then complete.

    Args:
        saved_model: False for a cross-validation fold, which estimates and is never converted: its weights
            only (a SavedModel of MobileNetV2 is ~10 s and 14 MB a fold; ``rebuild`` remakes it from them).
    """
    save_weights(model, run / "model.weights.h5")  # any view count: see rebuild()
    if saved_model:
        replace_folder(lambda folder: model.export(str(folder), verbose=False), run / "saved_model")
    shutil.rmtree(run / "backup", ignore_errors=True)
    log(f"exported {run / 'saved_model'}" if saved_model else f"kept the weights {run / 'model.weights.h5'}")


def rebuild(run: Path, views: int):
    """The run's final model with another number of views inside the graph (e.g. to time each).

    From ``model.weights.h5`` when the run wrote it; otherwise (runs before it did) from the
    backbone weights plus ``stage2_best.weights.h5``, without the feature-distance statistics; the
    calibration of ``calibration.json`` either way.
    """
    from .model import build_model, load_weights, set_calibration

    run = Path(run)
    config = Config.of_run(run, "calibration.json")
    if not (run / "model.weights.h5").exists() and not readable_h5(run / "stage2_best.weights.h5"):
        raise RunError(f"{run} has no model.weights.h5 (nor a readable stage2_best.weights.h5 of a run before it "
                       "was written): its training did not finish")
    model, _ = build_model(config, len(labels.class_ids(config)), views=views)
    if (run / "model.weights.h5").exists():
        load_weights(model, run / "model.weights.h5")
    else:
        freeze_for_stage2(model, config.cut).load_weights(str(run / "stage2_best.weights.h5"))
    # The temperature is a layer's setting, not a weight: the weights file does not carry it.
    calibration = json.loads((run / "calibration.json").read_text())
    set_calibration(model, calibration["temperature"], calibration["class_bias"])
    return model
