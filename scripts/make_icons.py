"""Draws SkinLens' app icons with Pillow: a magnifying lens over a skin spot, in the page's colours.

    python scripts/make_icons.py        # writes web/icons/*.png; then: python -m converter.precache web

icon-192.png and icon-512.png (purpose "any": a rounded tile), icon-maskable-512.png (purpose "maskable":
full-bleed background, the drawing inside the central 80% circle that every mask keeps),
apple-touch-icon.png (180 px, square: iOS rounds it itself) and favicon-32.png. Drawn at 4x and
downsampled, so edges are smooth. The output is deterministic: the committed PNGs are this script's.
"""

from pathlib import Path

from PIL import Image, ImageDraw

WEB = Path(__file__).resolve().parent.parent / "web"
ACCENT = (11, 92, 173)  # style.css --accent
PAPER = (251, 250, 248)  # --paper
SKIN = (241, 214, 190)
SPOT = (120, 72, 44)
SUPERSAMPLE = 4


def draw(size, *, rounded, scale=1.0):
    """The icon at ``size`` px: ``rounded`` tile or full bleed; the drawing shrunk by ``scale`` about the centre."""
    big = size * SUPERSAMPLE
    image = Image.new("RGBA", (big, big), (0, 0, 0, 0))
    pen = ImageDraw.Draw(image)
    if rounded:
        pen.rounded_rectangle([0, 0, big - 1, big - 1], radius=big * 0.22, fill=ACCENT)
    else:
        pen.rectangle([0, 0, big, big], fill=ACCENT)

    def at(x, y):  # drawing coordinates in 0..1 of the tile, scaled about the centre
        return (big * (0.5 + (x - 0.5) * scale), big * (0.5 + (y - 0.5) * scale))

    unit = big * scale
    # The handle, from the lens' lower right outward.
    pen.line([at(0.60, 0.60), at(0.82, 0.82)], fill=PAPER, width=round(unit * 0.11))
    pen.ellipse([*at(0.765, 0.765), *at(0.875, 0.875)], fill=PAPER)  # a rounded end
    # The lens: a paper ring around skin, with a dark irregular spot in it.
    pen.ellipse([*at(0.16, 0.16), *at(0.68, 0.68)], fill=PAPER)
    pen.ellipse([*at(0.215, 0.215), *at(0.625, 0.625)], fill=SKIN)
    pen.ellipse([*at(0.33, 0.35), *at(0.50, 0.50)], fill=SPOT)
    pen.ellipse([*at(0.38, 0.31), *at(0.52, 0.45)], fill=SPOT)
    return image.resize((size, size), Image.LANCZOS)


def main():
    out = WEB / "icons"
    out.mkdir(exist_ok=True)
    icons = {
        "icon-192.png": draw(192, rounded=True),
        "icon-512.png": draw(512, rounded=True),
        # Maskable: the mask may cut everything outside a circle of 40% radius: keep the drawing within it.
        "icon-maskable-512.png": draw(512, rounded=False, scale=0.72),
        "apple-touch-icon.png": draw(180, rounded=False, scale=0.86).convert("RGB"),
        "favicon-32.png": draw(32, rounded=True),
    }
    for name, image in icons.items():
        image.save(out / name, optimize=True)
        print(out / name, image.size)


if __name__ == "__main__":
    main()
