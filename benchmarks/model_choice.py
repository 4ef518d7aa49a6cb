"""The measured table the shipped model is chosen from: size, accuracy and speed per variant.

    python benchmarks/model_choice.py runs/full runs/alpha035 --quantize none float16 uint8 --split val

For each trained run and each weight quantization it converts the run (converter.convert), then
measures on that run's validation split (``--split val``, what choices are made on; ``--split test``
only for the final report): the model's bytes; balanced accuracy, macro AUC and malignant
sensitivity/specificity at the run's threshold, computed from the converted graph itself (weights
dequantized as TensorFlow.js does); the largest probability change against the float32 conversion;
per-image latency in Chromium (WASM backend) and in Python TensorFlow, batch 1. Prints a Markdown
table (and writes JSON with ``--json``). Not a test.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import statistics
import sys
import tempfile
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parent))


def split_images(run: Path, split: str):
    with (run / "split.csv").open(newline="") as f:
        rows = [r for r in csv.DictReader(f) if r["split"] == split]
    return [r["path"] for r in rows], [r["dx"] for r in rows]


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs", nargs="+", type=Path, help="run folders")
    parser.add_argument("--quantize", nargs="+", default=["none", "float16", "uint8"])
    parser.add_argument("--split", default="val", choices=["val", "test"])
    parser.add_argument("--runs-per-timing", type=int, default=20)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)

    from bench_browser import browser_timings, python_timings

    from converter.convert import convert
    from server import create_app, serving
    from trainer import labels
    from trainer.config import Config
    from trainer.data import image_dataset
    from trainer.metrics import classification_metrics, screening_metrics
    from trainer.images import prepare
    from trainer.predict import Predictor

    web = Path(__file__).resolve().parent.parent / "web"
    lesion = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "images" / "ISIC_0024310.jpg"
    rows = []
    with tempfile.TemporaryDirectory(prefix="skinlens-choice-") as tmp:
        for run in args.runs:
            config = Config.load(run / "config.json")
            class_ids = labels.class_ids(config)
            malignant = np.array([c["malignant"] for c in labels.classes_metadata(config)])
            threshold = json.loads((run / "calibration.json").read_text())["threshold"]
            paths, dxs = split_images(run, args.split)
            y = np.array([labels.diagnosis_to_index(config)[d] for d in dxs])
            ds = image_dataset(paths, y, config.image_size, 32)
            reference = None
            for quantize in args.quantize:
                root = Path(tmp) / f"{run.name}-{quantize}"
                for entry in web.iterdir():  # web/ with this model in place of web/model
                    if entry.name not in ("model", "golden"):
                        (root / entry.name).parent.mkdir(parents=True, exist_ok=True)
                        (root / entry.name).symlink_to(entry.resolve())
                meta = convert(run, root / "model", quantize, [lesion])
                predictor = Predictor(root / "model")
                probs = np.concatenate([predictor.probabilities(images.numpy()) for images, _ in ds])
                reference = probs if reference is None else reference
                m = classification_metrics(y, probs, class_ids)
                s = screening_metrics(y, probs, malignant, threshold)
                x = prepare(lesion, config.image_size, config.image_size)
                pixels = np.round(x).astype(np.uint8)
                with serving(create_app({"WEB_ROOT": str(root)})) as url:
                    browser, _ = browser_timings(url, ["wasm"], pixels, 3, args.runs_per_timing, "/usr/bin/chromium")
                wasm = browser["wasm"]
                rows.append({
                    "run": run.name, "alpha": config.alpha, "size": config.image_size, "quantization": quantize,
                    "bytes": meta["model"]["total_bytes"], "n": len(y),
                    "balanced_accuracy": m["balanced_accuracy"], "macro_auc": m["macro_auc"],
                    "malignant_sensitivity": s["sensitivity"], "malignant_specificity": s["specificity"],
                    "max_abs_diff_vs_float32": float(np.abs(probs - reference).max()),
                    "browser_ms": statistics.median(wasm[1]) if not isinstance(wasm, str) else None,
                    "python_ms": statistics.median(python_timings(root / "model", pixels.astype(np.float32), 3,
                                                                  args.runs_per_timing)),
                })
                print(json.dumps(rows[-1]), flush=True)

    print(f"\n{args.split} split; browser = Chromium WASM backend, batch 1, median; {os.cpu_count()} CPU cores\n")
    print("| run | alpha | px | weights | MB | balanced acc. | macro AUC | malignant sens. / spec. | "
          "max Δp vs float32 | browser ms | Python ms |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['run']} | {r['alpha']} | {r['size']} | {r['quantization']} | {r['bytes'] / 1e6:.2f} | "
              f"{r['balanced_accuracy']:.3f} | {r['macro_auc']:.3f} | {r['malignant_sensitivity']:.3f} / "
              f"{r['malignant_specificity']:.3f} | {r['max_abs_diff_vs_float32']:.4f} | "
              f"{r['browser_ms']:.1f} | {r['python_ms']:.1f} |")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2) + "\n")


if __name__ == "__main__":
    main()
