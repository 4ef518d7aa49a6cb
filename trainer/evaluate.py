"""The evaluation stage: scores a trained model on a split, at the end of ``trainer train`` and again on demand.

    python -m trainer evaluate runs/full                                   # the run's own test split
    python -m trainer evaluate runs/full --data ../shared/data/ham10000-224  # another dataset, all images
    python -m trainer evaluate runs/full --masks ../shared/data/ham10000/HAM10000_segmentations_lesion_tschandl
    python -m trainer evaluate runs/full --out /tmp/again                  # the report elsewhere; the run untouched

Training and ``trainer evaluate`` share one path, so a rescored run gives the figures training wrote:
``run_model`` passes the images through the model as exported (the Keras model at the end of training,
the SavedModel afterwards; each record with its own age, sex and site for a clinical model), and
``score_split`` writes the predictions and the report (``report.py``: the metrics of ``metrics.py``,
the screening figures at the validation threshold, bootstrap intervals over lesions, calibration).
``--masks`` also measures where the class activation maps fall: the share of the top class's positive
map that lies on the lesion, against the share of the image the lesion covers (what a map spread
evenly would score), and how often the map's peak is on the lesion.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Callable

import numpy as np

from . import clinical, labels, scope
from .config import Config
from .data import image_dataset, read_split
from .kinds import measure as measure_by_kind
from .kinds import predicted_kinds
from .readers import read_dataset
from .metrics import softmax
from .report import write_report


def cam_on_lesion(cam: np.ndarray, mask: np.ndarray) -> tuple[float, float, bool]:
    """(share of the positive map on the lesion, share of the image that is lesion, peak on lesion).

    Args:
        cam: (h, w) activation map of one class, in logit units.
        mask: (H, W) boolean lesion mask.
    """
    import tensorflow as tf

    heat = tf.image.resize(np.maximum(cam, 0)[None, :, :, None], mask.shape, method="bilinear")[0, :, :, 0].numpy()
    total = heat.sum()
    inside = float(heat[mask].sum() / total) if total > 0 else float("nan")
    peak = np.unravel_index(np.argmax(heat), heat.shape)
    return inside, float(mask.mean()), bool(mask[peak])


def run_model(forward: Callable, records, config: Config, vectors=None, masks: str | None = None) -> dict:
    """Every output of ``forward`` for each readable record's image, as the exported model gets it.

    Args:
        forward: (float32 images, clinical vectors or None) -> {output: array}, with "probabilities".
        vectors: the records' clinical vectors (a clinical model's second input), or None.
        masks: folder of ``<image_id>_segmentation.png``: adds where the activation maps fall.

    Returns:
        {"kept": indices of the records that could be read, each output but the (large) "cam" for
        those, "cam_on_lesion": [cam_on_lesion tuples] where a mask exists}.
    """
    from PIL import Image

    # The model runs each image in tta_views views: batches that many times smaller keep the backbone's
    # batch (and memory) what it is in training; 32 x 8 views needed over 24 GB.
    ds = image_dataset([r.path for r in records], np.zeros(len(records), np.int32), config.image_size,
                       max(1, config.batch_size // config.tta_views), with_index=True)
    collected, kept, localisation = {}, [], []
    for images, _, indices in ds:
        indices = indices.numpy()
        out = forward(images.numpy(), None if vectors is None else vectors[indices])
        kept.append(indices)
        # the page's blur and too-dark checks, on the same input
        out = {**out, "blur": scope.blur(images).numpy(), "brightness": scope.brightness(images).numpy()}
        for key, value in out.items():
            if key != "cam":
                collected.setdefault(key, []).append(np.asarray(value))
        if masks:
            for cam, p, i in zip(np.asarray(out["cam"]), np.asarray(out["probabilities"]), indices):
                mask_path = Path(masks) / f"{records[i].image_id}_segmentation.png"
                if mask_path.is_file():
                    mask = np.asarray(Image.open(mask_path).convert("L")) > 127
                    localisation.append(cam_on_lesion(cam[:, :, int(np.argmax(p))], mask))
    result = {key: np.concatenate(values) for key, values in collected.items()}
    result["kept"] = np.concatenate(kept) if kept else np.zeros(0, int)
    result["cam_on_lesion"] = localisation
    return result


def score_split(out: Path, records, y, probabilities, *, config: Config, calibration: dict, name: str = "report",
                extra: dict | None = None, stage1_probs=None, bootstrap: int = 1000, run: Path | None = None) -> dict:
    """Writes a split's predictions (``predictions_test.csv`` for the test split, else
    ``predictions_<dataset>.csv``) and its report (``<name>.json``, ``<name>.md``, plots) into ``out``.

    Args:
        records, y, probabilities: the scored images, their class indices and calibrated probabilities.
        calibration: the run's calibration.json (temperature, class bias, decision rule, threshold).
        stage1_probs: the frozen-backbone head's probabilities for the same images, if stage 2 ran.
        run: the run folder, for its training curves (default ``out``).

    Returns:
        the report.
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    class_ids = labels.class_ids(config)
    malignant = np.array([c["malignant"] for c in labels.classes_metadata(config)])
    probabilities = np.asarray(probabilities)
    # Before calibration: log p = logits / T + bias + a constant per image, solved for the logits.
    uncalibrated = softmax((np.log(np.maximum(probabilities, 1e-30)) - np.asarray(calibration["class_bias"]))
                           * calibration["temperature"])
    split = "test" if name == "report" else name.removeprefix("report_")
    with (out / f"predictions_{split}.csv").open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["image_id", "group", "source", "label", *class_ids])
        for r, label, p in zip(records, y, probabilities):
            writer.writerow([r.image_id, r.group, r.source, class_ids[label], *[f"{v:.7f}" for v in p]])
    return write_report(out, y=np.asarray(y), probs=probabilities, uncalibrated=uncalibrated,
                        groups=[r.group for r in records], sources=[r.source for r in records],
                        image_ids=[r.image_id for r in records], class_ids=class_ids, malignant=malignant,
                        calibration=calibration, stage1_probs=stage1_probs, extra=extra, name=name,
                        bootstrap=bootstrap, run=run)


def evaluate(run: str | Path, data: list[str] | None = None, fmt: str = "auto",
             masks: str | None = None, bootstrap: int = 1000, out: str | Path | None = None) -> dict:
    """Scores ``run``'s exported model and writes ``report.*`` (its test split) or ``report_<dataset>.*``.

    Args:
        out: folder for the report (default: the run folder itself).

    Returns:
        the report.
    """
    from .predict import Predictor

    run = Path(run)
    config = Config.of_run(run, "calibration.json", "saved_model", *([] if data else ["split.csv"]))
    calibration = json.loads((run / "calibration.json").read_text())
    dx_index = labels.diagnosis_to_index(config)
    if data:
        records, _ = read_dataset(fmt, data)
        name = "report_" + "_".join(Path(d).name for d in data)
    else:
        records, splits = read_split(run / "split.csv")
        records = [r for r, s in zip(records, splits) if s == "test"]
        name = "report"
    records = [r for r in records if r.dx in dx_index]
    y = np.array([dx_index[r.dx] for r in records])
    vectors = clinical.layout(config.questions).encode_records(records) if config.clinical else None
    scored = run_model(Predictor(run).outputs, records, config, vectors, masks)
    kept = scored["kept"]
    unreadable = [records[i].path for i in sorted(set(range(len(records))) - set(kept.tolist()))]
    records, y = [records[i] for i in kept], y[kept]
    extra = {"evaluated": {"data": data or "test split of split.csv", "n": len(records), "unreadable": unreadable}}
    if not data and (run / "report.json").is_file():  # keep what only training knows
        previous = json.loads((run / "report.json").read_text())
        extra.update({k: previous[k] for k in ("skipped", "imbalance", "stage2", "timings_s", "scheme",
                                               "stage1_test", "clinical") if k in previous})
    if "by_kind" in calibration and "picture_kind" in scored:
        extra["by_kind"] = measure_by_kind(
            y, scored["probabilities"], np.array([c["malignant"] for c in labels.classes_metadata(config)]),
            predicted_kinds(scored["picture_kind"]), [r.kind for r in records], [r.group for r in records],
            calibration["by_kind"], labels.class_ids(config), calibration["decision"]["class_log_weights"],
            ~scope.flagged(scored, calibration["scope"]), bootstrap)
    if scored["cam_on_lesion"]:
        inside, area, peak = map(np.array, zip(*scored["cam_on_lesion"]))
        extra["cam_on_lesion"] = {
            "n": len(inside), "share_of_map_on_lesion": float(np.nanmean(inside)),
            "share_of_image_that_is_lesion": float(area.mean()), "peak_on_lesion": float(peak.mean()),
        }
    return score_split(out or run, records, y, scored["probabilities"], config=config, calibration=calibration,
                       name=name, extra=extra, bootstrap=bootstrap, run=run)
