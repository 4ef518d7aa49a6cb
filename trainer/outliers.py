"""Pictures that are not dermoscopic close-ups: what the out-of-scope detector learns to tell apart.

Training fits the model's ``out_of_scope`` output (``trainer.scope.fit_detector``) to its training
lesions against these: always the synthetic families below (no files needed), plus any folder of
other pictures given with ``--outliers`` (``scripts/make_outliers.py`` builds a varied one: photos,
microscopy, text, screenshots, skin away from the lesion).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from .readers import IMAGE_SUFFIXES

SKIN_TONES = [(255, 224, 196), (234, 192, 160), (210, 160, 120), (180, 130, 95), (141, 85, 60), (90, 56, 37),
              (225, 180, 170), (200, 150, 140)]


def synthetic(rng: np.random.Generator, n_each: int):
    """Flat colours, gradients, stripes, checkerboards, shapes and noise at several scales."""
    h = w = 256
    yy, xx = np.mgrid[0:h, 0:w] / w
    for k in range(n_each):
        colour = np.array(SKIN_TONES[k % len(SKIN_TONES)] if k % 2 else rng.integers(0, 256, 3), np.float64)
        yield f"flat{k}", np.broadcast_to(colour, (h, w, 3)).astype(np.uint8)
        a, b = rng.integers(0, 256, 3), rng.integers(0, 256, 3)
        t = (xx * np.cos(k) + yy * np.sin(k)) if k % 2 else np.hypot(xx - 0.5, yy - 0.5) * 1.4
        t = (t - t.min()) / max(t.max() - t.min(), 1e-6)
        yield f"gradient{k}", (a + (b - a) * t[:, :, None]).astype(np.uint8)
        freq, angle = rng.uniform(2, 40), rng.uniform(0, np.pi)
        s = 0.5 + 0.5 * np.sin(2 * np.pi * freq * (xx * np.cos(angle) + yy * np.sin(angle)))
        yield f"stripes{k}", (a + (b - a) * s[:, :, None]).astype(np.uint8)
        cells = int(rng.integers(2, 32))
        board = ((xx * cells).astype(int) + (yy * cells).astype(int)) % 2
        yield f"checker{k}", np.where(board[:, :, None] == 1, a, b).astype(np.uint8)
        img = Image.new("RGB", (w, h), tuple(int(v) for v in rng.integers(0, 256, 3)))
        draw = ImageDraw.Draw(img)
        for _ in range(int(rng.integers(1, 8))):
            x0, y0 = rng.integers(0, w, 2)
            box = [int(x0), int(y0), int(x0 + rng.integers(10, 150)), int(y0 + rng.integers(10, 150))]
            fill = tuple(int(v) for v in rng.integers(0, 256, 3))
            (draw.ellipse if rng.random() < 0.5 else draw.rectangle)(box, fill=fill)
        yield f"shapes{k}", np.asarray(img)
        noise = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
        sigma = [0, 1, 2, 4, 8, 16][k % 6]
        pic = Image.fromarray(noise).filter(ImageFilter.GaussianBlur(sigma)) if sigma else Image.fromarray(noise)
        arr = np.asarray(pic).astype(np.float64)
        arr = (arr - arr.mean()) / max(arr.std(), 1e-6) * 50 + rng.integers(60, 200, 3)  # blurred noise keeps contrast
        yield f"noise{k}-sigma{sigma}", np.clip(arr, 0, 255).astype(np.uint8)


def folder(root: str | Path) -> list[Path]:
    """Every image file under ``root`` (recursively), sorted."""
    return sorted(p for p in Path(root).rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
