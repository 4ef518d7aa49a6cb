"""``python -m trainer evaluate``: score a trained run again, on its test split or on another dataset.

    python -m trainer evaluate runs/full                                   # the run's own test split
    python -m trainer evaluate runs/full --data ../shared/data/ham10000-224  # another dataset, all images
    python -m trainer evaluate runs/full --masks ../shared/data/ham10000/HAM10000_segmentations_lesion_tschandl

The exported SavedModel is what is scored (calibration included), through the same input
pipeline as training. ``--masks`` also measures where the class activation maps fall: the share
of the top class's positive map that lies on the lesion, against the share of the image the
lesion covers (what a map spread evenly would score), and how often the map's peak is on the lesion.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from . import clinical, labels
from .config import Config
from .data import image_dataset, read_split
from .readers import read_dataset
from .evaluate import softmax
from .predict import Predictor
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


def evaluate(run: str | Path, data: list[str] | None = None, fmt: str = "auto",
             masks: str | None = None, bootstrap: int = 1000) -> dict:
    """Scores ``run`` and writes ``report.json``/``report.md`` (test split) or ``report_<dataset>.*``.

    Returns:
        the report.
    """
    from PIL import Image

    run = Path(run)
    config = Config.load(run / "config.json")
    calibration = json.loads((run / "calibration.json").read_text())
    class_ids = labels.class_ids(config)
    dx_index = labels.diagnosis_to_index(config)
    malignant = np.array([c["malignant"] for c in labels.classes_metadata(config)])
    if data:
        records, _ = read_dataset(fmt, data)
        name = "report_" + "_".join(Path(d).name for d in data)
    else:
        records, splits = read_split(run / "split.csv")
        records = [r for r, s in zip(records, splits) if s == "test"]
        name = "report"
    records = [r for r in records if r.dx in dx_index]
    y = np.array([dx_index[r.dx] for r in records])
    serve = Predictor(run).outputs
    # A model with clinical metadata is scored with each record's own age, sex and site, as trained.
    vectors = clinical.encode_records(records) if config.clinical else None
    probs, kept, localisation = [], [], []
    # The model runs each image in tta_views views: smaller batches keep its memory what training's was.
    ds = image_dataset([r.path for r in records], y, config.image_size,
                       max(1, config.batch_size // config.tta_views), with_index=True)
    for images, _, indices in ds:
        out = serve(images.numpy(), None if vectors is None else vectors[indices.numpy()])
        probs.append(out["probabilities"])
        kept.append(indices.numpy())
        if masks:
            for cam, p, i in zip(out["cam"], out["probabilities"], indices.numpy()):
                mask_path = Path(masks) / f"{records[i].image_id}_segmentation.png"
                if mask_path.is_file():
                    mask = np.asarray(Image.open(mask_path).convert("L")) > 127
                    localisation.append(cam_on_lesion(cam[:, :, int(np.argmax(p))], mask))
    probs, kept = np.concatenate(probs), np.concatenate(kept)
    # Before calibration: log p = logits / T + bias + a constant per image, solved for the logits.
    uncalibrated = softmax((np.log(np.maximum(probs, 1e-30)) - np.asarray(calibration["class_bias"]))
                           * calibration["temperature"])
    unreadable = [records[i].path for i in sorted(set(range(len(records))) - set(kept.tolist()))]
    records, y = [records[i] for i in kept], y[kept]
    extra = {"evaluated": {"data": data or "test split of split.csv", "n": len(records), "unreadable": unreadable}}
    if not data and (run / "report.json").is_file():  # keep what only training knows
        previous = json.loads((run / "report.json").read_text())
        extra.update({k: previous[k] for k in ("skipped", "imbalance", "stage2", "timings_s", "scheme",
                                               "stage1_test", "clinical") if k in previous})
    if localisation:
        inside, area, peak = map(np.array, zip(*localisation))
        extra["cam_on_lesion"] = {
            "n": len(localisation), "share_of_map_on_lesion": float(np.nanmean(inside)),
            "share_of_image_that_is_lesion": float(area.mean()), "peak_on_lesion": float(peak.mean()),
        }
    return write_report(run, y=y, probs=probs, uncalibrated=uncalibrated, groups=[r.group for r in records],
                        sources=[r.source for r in records], image_ids=[r.image_id for r in records],
                        class_ids=class_ids, malignant=malignant,
                        calibration=calibration, extra=extra, name=name, bootstrap=bootstrap)
