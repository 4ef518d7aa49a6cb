"""Adds ``risk_bins`` to a run trained before they existed, from its validation split.

    .venv/bin/python scripts/backfill_risk_bins.py runs/clinical

Training now writes them itself (trainer/train.py, trainer.metrics.risk_bins): score ranges with how
many validation images scoring in each were malignant, which the page says instead of a bare risk
percentage. This scores the run's exported SavedModel on its validation images (each with its own age,
sex and site, as training did) and writes the same fields into calibration.json and report.json's
calibration; photo-only bins (a model with a clinical input, every field blank) come from the same
pass, the image's logits being the spatial mean of the `cam` output. It checks first that the
threshold chosen on these probabilities is the one training chose (it must be: same images, same model).
"""

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from trainer import clinical, labels  # noqa: E402
from trainer.config import Config  # noqa: E402
from trainer.data import image_dataset, read_split  # noqa: E402
from trainer.metrics import choose_threshold, malignant_risk, risk_bins, softmax  # noqa: E402
from trainer.predict import Predictor  # noqa: E402


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("run", type=Path)
    args = parser.parse_args(argv)
    run = args.run
    config = Config.load(run / "config.json")
    calibration = json.loads((run / "calibration.json").read_text())
    dx_index = labels.diagnosis_to_index(config)
    malignant = np.array([c["malignant"] for c in labels.classes_metadata(config)])
    records, splits = read_split(run / "split.csv")
    records = [r for r, s in zip(records, splits) if s == "val" and r.dx in dx_index]
    y = np.array([dx_index[r.dx] for r in records])
    vectors = clinical.layout(config.questions).encode_records(records) if config.clinical else None
    serve = Predictor(run).outputs
    probs, image_logits, kept = [], [], []
    ds = image_dataset([r.path for r in records], y, config.image_size,
                       max(1, config.batch_size // config.tta_views), with_index=True)
    for images, _, indices in ds:
        out = serve(images.numpy(), None if vectors is None else vectors[indices.numpy()])
        probs.append(out["probabilities"])
        image_logits.append(out["logits"])
        kept.append(indices.numpy())
    probs, image_logits, kept = map(np.concatenate, (probs, image_logits, kept))
    positive = malignant[y[kept]]
    risk = malignant_risk(probs, malignant)
    threshold = choose_threshold(risk, positive, calibration["target_sensitivity"])
    print(f"{len(kept)} validation images; threshold {threshold:.6f} (training chose {calibration['threshold']:.6f})")
    if not np.isclose(threshold, calibration["threshold"], atol=1e-4):
        print("the run's model does not reproduce its own validation threshold: not writing", file=sys.stderr)
        return 1
    calibration["risk_bins"] = risk_bins(risk, positive, calibration["threshold"])
    if calibration.get("clinical"):
        photo = softmax(image_logits / calibration["temperature"] + np.asarray(calibration["class_bias"]))
        photo_threshold = calibration["clinical"]["threshold_without_clinical"]
        chosen = choose_threshold(malignant_risk(photo, malignant), positive, calibration["target_sensitivity"])
        print(f"photo-only threshold {chosen:.6f} (training chose {photo_threshold:.6f})")
        calibration["clinical"]["risk_bins_without_clinical"] = risk_bins(malignant_risk(photo, malignant), positive,
                                                                          photo_threshold)
    (run / "calibration.json").write_text(json.dumps(calibration, indent=2) + "\n")
    report = json.loads((run / "report.json").read_text())
    report["calibration"] = calibration
    (run / "report.json").write_text(json.dumps(report, indent=2) + "\n")
    for b in calibration["risk_bins"]:
        print(f"  {b['from']:.4f}–{b['to']:.4f}: {b['malignant']} of {b['n']} malignant ({b['rate']:.3f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
