"""Python's reference probabilities for image files: what the browser must reproduce.

    python -m trainer predict runs/first lesion.jpg other.png --csv out.csv

RUN is a run folder: its ``saved_model/`` (float32) and ``config.json`` (input size, classes).
The converter records these same numbers for its golden images in ``metadata.json``.
"""

from __future__ import annotations

import csv
import sys
from pathlib import Path

import numpy as np

from . import labels
from .config import Config
from .images import ImageError, prepare


class Predictor:
    """Loads a run folder once and classifies images with it."""

    def __init__(self, model_dir: str | Path):
        import tensorflow as tf

        model_dir = Path(model_dir)
        if not (model_dir / "config.json").is_file() or not (model_dir / "saved_model").is_dir():
            raise FileNotFoundError(f"{model_dir}: not a run folder (config.json + saved_model/)")
        config = Config.load(model_dir / "config.json")
        self.class_ids = labels.class_ids(config.scheme)
        self.height = self.width = config.image_size
        saved = model_dir / "saved_model"
        loaded = tf.saved_model.load(str(saved))
        self._fn = loaded.signatures["serving_default"]
        self._input_name = next(iter(self._fn.structured_input_signature[1]))

    def probabilities(self, images: np.ndarray) -> np.ndarray:
        """Probabilities for a batch of prepared float32 images (n, H, W, 3) in 0..255."""
        import tensorflow as tf

        out = self._fn(**{self._input_name: tf.constant(images, tf.float32)})
        return out["probabilities"].numpy()

    def predict_files(self, paths: list[str]) -> list[tuple[str, np.ndarray | None, str | None]]:
        """(path, probabilities or None, error message or None) for each file."""
        results = []
        for path in paths:
            try:
                x = prepare(path, self.height, self.width)
            except ImageError as err:
                results.append((path, None, str(err)))
                continue
            results.append((path, self.probabilities(x[None])[0], None))
        return results


def main(model_dir: str, images: list[str], csv_path: str | None = None) -> int:
    predictor = Predictor(model_dir)
    results = predictor.predict_files(images)
    failed = 0
    for path, probs, error in results:
        if error:
            failed += 1
            print(f"{path}: ERROR {error}", file=sys.stderr)
            continue
        top = int(np.argmax(probs))
        ranked = ", ".join(f"{cid} {p:.6f}" for cid, p in zip(predictor.class_ids, probs))
        print(f"{path}: {predictor.class_ids[top]} ({probs[top]:.4f}) | {ranked}")
    if csv_path:
        with open(csv_path, "w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(["file", "top_class", *predictor.class_ids, "error"])
            for path, probs, error in results:
                if error:
                    writer.writerow([path, "", *[""] * len(predictor.class_ids), error])
                else:
                    writer.writerow([path, predictor.class_ids[int(np.argmax(probs))],
                                     *[f"{p:.8f}" for p in probs], ""])
    return 1 if failed == len(results) else 0
