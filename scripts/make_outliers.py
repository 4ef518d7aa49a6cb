"""Builds a varied set of pictures that are not dermoscopic close-ups, for the out-of-scope detector.

    python scripts/make_outliers.py /work/outliers --ham ../shared/data/ham10000 --split runs/clinical/split.csv

Writes OUT/<part>/<category>/<name>.png and OUT/manifest.csv (path, part, category, group). ``part`` is
``fit`` (the detector learns from these) or ``holdout`` (only measured). Every source picture and all
its crops land in one part (``group`` names the source), so a held-out figure never rests on a crop
of a picture the detector saw. Categories:

- photo: scikit-image's, scikit-learn's and matplotlib's sample photos (people, animals, objects,
  places, coins, the moon, a rocket), whole and as random crops; scikit-image's face crops (LFW).
- microscopy: scikit-image's cells, immunohistochemistry, retina, microaneurysms, the Hubble deep field.
- texture: brick, grass, gravel, chessboard and colour charts, whole and cropped.
- text: paragraphs rendered in the DejaVu and Liberation fonts at several sizes and colours.
- screenshot: Chromium screenshots of locally installed HTML documentation at phone and laptop
  widths, and the screenshots/diagrams shipped with it (needs playwright and /usr/bin/chromium).
- synthetic: flat colours (skin tones included), gradients, stripes, checkerboards, shapes, and
  noise from pixel scale to blotches.
- skin: HAM10000 dermoscopic skin away from the lesion (crops outside the official lesion masks),
  from the split's training lesions (fit) and test lesions (holdout): skin with no lesion in view.

Nothing here is shipped or committed (HAM10000's licence lets only a handful of its images be
copied): the set is rebuilt from installed packages and the dataset folder.
"""

from __future__ import annotations

import argparse
import csv
import glob
import random
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from trainer.outliers import synthetic

HOLDOUT_SHARE = 0.3
MIN_SIDE = 224
SKIMAGE_PHOTOS = ["astronaut", "camera", "chelsea", "coffee", "horse", "rocket", "coins", "moon",
                  "page", "clock"]
SKIMAGE_MICROSCOPY = ["cell", "immunohistochemistry", "retina", "microaneurysms", "hubble_deep_field"]
SKIMAGE_TEXTURES = ["brick", "grass", "gravel", "checkerboard", "colorwheel", "logo", "text"]
DOC_ROOTS = ["/root/.rustup/toolchains/*/share/doc/rust/html", "/usr/share/doc", "/usr/local/share/doc"]


def rgb(array) -> np.ndarray:
    a = np.asarray(array)
    if a.dtype == bool:
        a = a.astype(np.uint8) * 255
    if a.dtype != np.uint8:
        a = np.clip(a / max(float(a.max()), 1e-6) * 255, 0, 255).astype(np.uint8)
    if a.ndim == 2:
        a = np.repeat(a[:, :, None], 3, axis=2)
    return a[:, :, :3]


def crops(img: np.ndarray, n: int, rng: np.random.Generator, low=0.25, high=0.8):
    """``n`` random square-ish crops of ``img`` (each side ``low``..``high`` of the picture's)."""
    h, w = img.shape[:2]
    for _ in range(n):
        ch, cw = max(8, int(h * rng.uniform(low, high))), max(8, int(w * rng.uniform(low, high)))
        y, x = rng.integers(0, h - ch + 1), rng.integers(0, w - cw + 1)
        yield img[y:y + ch, x:x + cw]


def sample_pictures():
    """(category, name, rgb) of the photos, microscopy and textures that come with installed packages."""
    import matplotlib
    import skimage.data
    import sklearn.datasets

    for category, names in (("photo", SKIMAGE_PHOTOS), ("microscopy", SKIMAGE_MICROSCOPY),
                            ("texture", SKIMAGE_TEXTURES)):
        for name in names:
            yield category, name, rgb(getattr(skimage.data, name)())
    yield "photo", "motorcycle", rgb(skimage.data.stereo_motorcycle()[0])
    for name, img in zip(["china", "flower"], sklearn.datasets.load_sample_images().images):
        yield "photo", name, rgb(img)
    sample = Path(matplotlib.__file__).parent / "mpl-data" / "sample_data"
    for name in ("grace_hopper.jpg", "Minduka_Present_Blue_Pack.png", "logo2.png"):
        if (sample / name).is_file():
            yield "photo", Path(name).stem, rgb(Image.open(sample / name).convert("RGB"))
    faces = skimage.data.lfw_subset()
    for k in range(0, len(faces), 10):  # 25x25 grey faces, enlarged as a phone would show them
        yield "photo", f"face{k}", rgb(np.asarray(Image.fromarray(rgb(faces[k])).resize((200, 200))))


def text_pictures(rng: np.random.Generator, n: int):
    fonts = sorted(glob.glob("/usr/share/fonts/truetype/*/*.ttf"))
    words = ("the quick brown fox jumps over a lazy dog while skin lesion screening aid results batch photo "
             "model version threshold clinic laptop offline privacy upload never device table concern").split()
    for k in range(n):
        size = int(rng.choice([200, 320, 480]))
        bg = tuple(int(v) for v in (rng.integers(200, 256, 3) if rng.random() < 0.7 else rng.integers(0, 60, 3)))
        fg = tuple(255 - v for v in bg)
        img = Image.new("RGB", (size, size), bg)
        draw = ImageDraw.Draw(img)
        font = ImageFont.truetype(str(rng.choice(fonts)), int(rng.integers(10, 40))) if fonts else None
        y = int(rng.integers(0, 20))
        while y < size:
            draw.text((int(rng.integers(0, 20)), y), " ".join(rng.choice(words, 8)), fill=fg, font=font)
            y += int(font.size * 1.4) if font else 14
        yield f"text{k}", np.asarray(img)


def screenshots(out: Path, rng: np.random.Generator, n: int):
    """Chromium screenshots of local HTML documentation at 360 and 1280 px, and the screenshots and
    diagrams that documentation ships."""
    pages = [p for root in DOC_ROOTS for p in glob.glob(root + "/**/*.html", recursive=True)]
    shipped = [p for root in DOC_ROOTS for ext in ("png", "jpg") for p in glob.glob(f"{root}/**/*.{ext}", recursive=True)
               if Path(p).stat().st_size > 20_000]
    for p in shipped:
        yield Path(p).stem, rgb(Image.open(p).convert("RGB"))
    if not pages:
        return
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        return
    chosen = [pages[i] for i in rng.permutation(len(pages))[:n]]
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path="/usr/bin/chromium")
        for k, page_path in enumerate(chosen):
            width = 360 if k % 2 else 1280
            page = browser.new_page(viewport={"width": width, "height": 800 if width > 400 else 740})
            try:
                page.goto(Path(page_path).as_uri(), timeout=10_000)
                shot = out / "_shot.png"
                page.screenshot(path=str(shot))
                yield f"shot{k}-{width}", rgb(Image.open(shot).convert("RGB"))
            except Exception:  # a page that does not render is not a screenshot
                pass
            finally:
                page.close()
        browser.close()


def skin_crops(ham: Path, split_csv: Path, rng: np.random.Generator, per_split: int):
    """(part, name, rgb): the largest lesion-free squares of HAM10000 images, from the split's training
    lesions for ``fit`` and its test lesions for ``holdout``."""
    with open(split_csv, newline="") as f:
        rows = list(csv.DictReader(f))
    masks = ham / "HAM10000_segmentations_lesion_tschandl"
    for split, part in (("train", "fit"), ("test", "holdout")):
        ids = sorted({Path(r["path"]).stem for r in rows if r["split"] == split})
        made = 0
        for image_id in rng.permutation(ids):
            if made >= per_split:
                break
            mask_path = masks / f"{image_id}_segmentation.png"
            image_path = ham / "HAM10000_images" / f"{image_id}.jpg"
            if not (mask_path.is_file() and image_path.is_file()):
                continue
            lesion = np.asarray(Image.open(mask_path).convert("L")) > 127
            img = np.asarray(Image.open(image_path).convert("RGB"))
            h, w = lesion.shape
            side = min(h, w) // 2  # 75 px of a 200x150 picture
            corners = [(0, 0), (0, w - side), (h - side, 0), (h - side, w - side)]
            free = [(y, x) for y, x in corners if not lesion[y:y + side, x:x + side].any()]
            if not free:
                continue
            y, x = free[int(rng.integers(len(free)))]
            made += 1
            yield part, f"skin-{image_id}", img[y:y + side, x:x + side]


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out", help="output folder")
    parser.add_argument("--ham", help="HAM10000 folder with HAM10000_segmentations_lesion_tschandl/ (skin crops)")
    parser.add_argument("--split", help="a run's split.csv (skin crops: training lesions fit, test lesions held out)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    out = Path(args.out)
    rng = np.random.default_rng(args.seed)
    rows = []

    def save(part, category, group, name, img):
        folder = out / part / category
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{name}.png"
        pic = Image.fromarray(np.ascontiguousarray(img))
        if min(pic.size) < MIN_SIDE:  # as large as a photo: the detector, not the size check, must catch it
            scale = MIN_SIDE / min(pic.size)
            pic = pic.resize((round(pic.width * scale), round(pic.height * scale)), Image.BICUBIC)
        pic.save(path)
        rows.append({"path": str(path.relative_to(out)), "part": part, "category": category, "group": group})

    def part_of(group: str) -> str:  # a stable coin per source picture
        return "holdout" if random.Random(f"{args.seed}-{group}").random() < HOLDOUT_SHARE else "fit"

    for category, name, img in sample_pictures():
        part = part_of(name)
        save(part, category, name, name, img)
        for k, crop in enumerate(crops(img, 8, rng)):
            save(part, category, name, f"{name}-crop{k}", crop)
    for name, img in text_pictures(rng, 80):
        save(part_of(name), "text", name, name, img)
    for name, img in synthetic(rng, 30):
        save(part_of(name), "synthetic", name, name, img)
    for name, img in screenshots(out, rng, 60):
        part = part_of(name)
        save(part, "screenshot", name, name, img)
        for k, crop in enumerate(crops(img, 2, rng, 0.4, 0.9)):
            save(part, "screenshot", name, f"{name}-crop{k}", crop)
    (out / "_shot.png").unlink(missing_ok=True)
    if args.ham and args.split:
        for part, name, img in skin_crops(Path(args.ham), Path(args.split), rng, 150):
            save(part, "skin", name, name, img)

    with (out / "manifest.csv").open("w", newline="") as f:
        writer = csv.DictWriter(f, ["path", "part", "category", "group"])
        writer.writeheader()
        writer.writerows(rows)
    counts = {}
    for r in rows:
        counts[(r["category"], r["part"])] = counts.get((r["category"], r["part"]), 0) + 1
    for category in sorted({c for c, _ in counts}):
        print(f"{category:<12} fit {counts.get((category, 'fit'), 0):>4}  holdout {counts.get((category, 'holdout'), 0):>4}")
    print(f"{len(rows)} pictures in {out}")


if __name__ == "__main__":
    main()
