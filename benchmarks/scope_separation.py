"""How well the out-of-scope warning separates dermoscopic close-ups from everything else.

    pip install scikit-image   # its sample photos are the out-of-scope set
    python benchmarks/scope_separation.py --model web/model --split runs/full/split.csv

In scope: the test split's dermoscopic images (never used to fit the thresholds, which come from
validation). Out of scope: scikit-image's sample pictures (people, animals, objects, textures,
text, microscopy, a retina, the sky), each whole and as four random crops, plus synthetic
flat colours, noise and gradients. Each image goes through the shipped web model (the graph the
browser runs) and the same checks as web/skinlens.js, with the thresholds in metadata.json.
Prints, per check and combined, how often it fires on each side, and the AUROC of the feature
distance (what the app uses) and, for comparison, of the energy score logsumexp(logits).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

SAMPLES = ["astronaut", "brick", "camera", "cat", "cell", "checkerboard", "coffee", "coins", "colorwheel", "grass",
           "gravel", "hubble_deep_field", "immunohistochemistry", "logo", "moon", "page", "retina", "rocket", "text",
           "clock", "microaneurysms"]


def out_of_scope_images(seed: int = 0) -> list[tuple[str, np.ndarray]]:
    """(name, uint8 RGB) pictures that are not dermoscopic close-ups."""
    import skimage.data

    rng = np.random.default_rng(seed)
    images = []
    for name in SAMPLES:
        img = np.asarray(getattr(skimage.data, name)())
        if img.dtype == bool:
            img = img.astype(np.uint8) * 255
        if img.ndim == 2:
            img = np.repeat(img[:, :, None], 3, axis=2)
        img = img[:, :, :3].astype(np.uint8)
        images.append((name, img))
        h, w = img.shape[:2]
        for k in range(4):
            ch, cw = int(h * rng.uniform(0.3, 0.7)), int(w * rng.uniform(0.3, 0.7))
            y, x = rng.integers(0, h - ch + 1), rng.integers(0, w - cw + 1)
            images.append((f"{name}-crop{k}", img[y:y + ch, x:x + cw]))
    for k in range(10):
        images.append((f"flat{k}", np.full((300, 400, 3), rng.integers(0, 256, 3), np.uint8)))
        images.append((f"noise{k}", rng.integers(0, 256, (300, 400, 3), dtype=np.uint8)))
        ramp = np.linspace(0, 1, 400)[None, :, None] * rng.integers(0, 256, 3)
        images.append((f"gradient{k}", np.broadcast_to(ramp, (300, 400, 3)).astype(np.uint8)))
    return images


def signals(predictor, rgb_images, size):
    """feature distance, energy, blur and top probability per image, as the browser computes them."""
    from trainer import scope
    from trainer.images import resize

    out = {"distance": [], "energy": [], "blur": [], "top": [], "min_side": []}
    for rgb in rgb_images:
        x = resize(rgb, size, size).numpy()[None]
        res = predictor.outputs(x)
        logits = res["cam"].mean(axis=(1, 2))[0]
        out["distance"].append(float(res["feature_distance"][0]))
        out["energy"].append(float(logits.max() + np.log(np.exp(logits - logits.max()).sum())))
        out["blur"].append(float(scope.blur(x).numpy()[0]))
        out["top"].append(float(res["probabilities"].max()))
        out["min_side"].append(min(rgb.shape[:2]))
    return {k: np.array(v) for k, v in out.items()}


def flags(s, sc):
    return {"distance": s["distance"] > sc["distance_threshold"], "blur": s["blur"] < sc["blur_threshold"],
            "confidence": s["top"] < sc["confidence_threshold"], "small": s["min_side"] < sc["min_side"]}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="web/model", help="web model folder")
    parser.add_argument("--split", required=True, help="a run's split.csv: its test images are the in-scope set")
    parser.add_argument("--limit", type=int, default=800, help="in-scope images to score (a seeded sample)")
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args(argv)

    from trainer.metrics import auc
    from trainer.images import load_rgb
    from trainer.predict import Predictor

    meta = json.loads((Path(args.model) / "metadata.json").read_text())
    sc = meta["scope"]
    predictor = Predictor(args.model)
    with open(args.split, newline="") as f:
        paths = [row["path"] for row in csv.DictReader(f) if row["split"] == "test"]
    paths = list(np.random.default_rng(0).permutation(paths)[: args.limit])
    inside = signals(predictor, [load_rgb(p) for p in paths], predictor.height)
    others = out_of_scope_images()
    outside = signals(predictor, [img for _, img in others], predictor.height)

    fin, fout = flags(inside, sc), flags(outside, sc)
    any_in = np.any(list(fin.values()), axis=0)
    any_out = np.any(list(fout.values()), axis=0)
    result = {
        "in_scope_images": len(paths), "out_of_scope_images": len(others),
        "distance_auroc": auc(np.r_[np.zeros(len(paths)), np.ones(len(others))],
                              np.r_[inside["distance"], outside["distance"]]),
        "energy_auroc": auc(np.r_[np.ones(len(paths)), np.zeros(len(others))],
                            np.r_[inside["energy"], outside["energy"]]),
        "flag_rate_in_scope": {k: float(v.mean()) for k, v in fin.items()} | {"any": float(any_in.mean())},
        "flag_rate_out_of_scope": {k: float(v.mean()) for k, v in fout.items()} | {"any": float(any_out.mean())},
        "missed_out_of_scope": [name for (name, _), hit in zip(others, any_out) if not hit],
    }
    print(f"model {meta['model']['version']}: {len(paths)} in-scope test images, {len(others)} out-of-scope images")
    print(f"AUROC in vs out: feature distance {result['distance_auroc']:.3f} (used), "
          f"energy {result['energy_auroc']:.3f} (for comparison)")
    print(f"{'check':<12}{'flags in-scope':>16}{'flags out-of-scope':>20}")
    for key in [*fin, "any"]:
        print(f"{key:<12}{result['flag_rate_in_scope'][key]:>16.1%}{result['flag_rate_out_of_scope'][key]:>20.1%}")
    print("out-of-scope images not flagged:", ", ".join(result["missed_out_of_scope"]) or "none")
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
