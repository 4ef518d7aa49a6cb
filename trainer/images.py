"""The reference image loader: the decode and resize rules the browser reproduces exactly.

Every image SkinLens sees, in training, evaluation, ``trainer predict`` or the browser, goes
through the same two steps:

1. ``load_rgb``: decode with Pillow, apply the EXIF orientation, composite any alpha onto
   one fixed opaque background, and convert to 8-bit RGB. ICC profiles are ignored on both
   sides (the browser decodes with ``colorSpaceConversion: 'none'``).
2. ``resize``: average-pool by the integer factor ``k = max(1, min(h // H, w // W))``
   (VALID, so up to k-1 trailing rows/columns are dropped), then bilinear with half-pixel
   centres and no antialias to exactly H×W; the aspect ratio is not kept. Pooling first stops
   a 4000×3000 phone photo from aliasing when it becomes 224×224; tfjs computes the same
   thing with ``avgPool(x, k, k, 'valid')`` and ``resizeBilinear(x, [H, W], false, true)``.

The result is float32 RGB in 0..255: the model normalises inside its own graph.

    >>> from trainer.images import prepare
    >>> prepare("lesion.jpg", 224, 224).shape
    (224, 224, 3)
"""

from __future__ import annotations

import io
import os
import re
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from .config import ALPHA_BACKGROUND
from .errors import UserError

# Limits shared with the browser through metadata.json.
MAX_BYTES = 50 * 1024 * 1024
MAX_PIXELS = 50_000_000
MIN_SIDE = 32
# A Python object's repr, as PIL writes its file object into some errors: " <_io.BytesIO object at 0x7f…>".
OBJECT_REPR = re.compile(r"\s*<[\w.]+ object at 0x[0-9a-fA-F]+>")

# Pillow format name -> the name we report; the same set the browser decodes.
SUPPORTED_FORMATS = {"JPEG": "JPEG", "MPO": "JPEG", "PNG": "PNG", "GIF": "GIF", "WEBP": "WebP", "BMP": "BMP"}
# Major brands (offset 8 of an ISO-BMFF `ftyp` box): HEIC/HEIF (iPhone photos) and AVIF. web/imaging.js
# keeps the same two lists (tests/test_web.py checks they agree).
HEIF_BRANDS = ("heic", "heix", "hevc", "hevx", "heim", "heis", "mif1", "msf1")
AVIF_BRANDS = ("avif", "avis")


class ImageError(UserError, ValueError):
    """An input that cannot be classified, with a message meant for the person who chose it."""


def sniff(head: bytes) -> str | None:
    """Names the image format from a file's first bytes, or None when it is not one we know.

    Args:
        head: at least the first 12 bytes of the file.

    Returns:
        "JPEG", "PNG", "GIF", "WebP", "BMP", "HEIC", "AVIF", or None.
    """
    if head.startswith(b"\xff\xd8\xff"):
        return "JPEG"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "PNG"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "GIF"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "WebP"
    if head[:2] == b"BM":
        return "BMP"
    if head[4:8] == b"ftyp":
        brand = head[8:12].decode("latin-1")
        if brand in HEIF_BRANDS:
            return "HEIC"
        if brand in AVIF_BRANDS:
            return "AVIF"
    return None


def _read(source: str | os.PathLike | bytes, max_bytes: int) -> bytes:
    if isinstance(source, (bytes, bytearray)):
        data = bytes(source)
    else:
        path = Path(source)
        try:
            size = path.stat().st_size
        except OSError as err:
            raise ImageError(f"{path}: cannot read the file ({err.strerror or err})") from err
        if path.is_dir():
            raise ImageError(f"{path}: a folder, not an image file")
        if size > max_bytes:
            raise ImageError(f"{path.name}: the file is {size / 2**20:.0f} MB; the limit is {max_bytes // 2**20} MB")
        data = path.read_bytes()
    if len(data) > max_bytes:
        raise ImageError(f"the file is {len(data) / 2**20:.0f} MB; the limit is {max_bytes // 2**20} MB")
    return data


def _to_rgb(img: Image.Image, background: tuple[int, int, int]) -> np.ndarray:
    """Converts any Pillow mode to 8-bit RGB, compositing alpha onto ``background``."""
    if img.mode in ("I;16", "I;16L", "I;16B", "I;16N", "I"):
        # 16-bit grayscale: keep the high byte, as Chromium's decoder does; Pillow's own
        # convert("L") would clip everything above 255 to white.
        gray = (np.asarray(img, dtype=np.uint32) >> 8).astype(np.uint8)
        return np.repeat(gray[:, :, None], 3, axis=2)
    has_alpha = img.mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in img.info
    if not has_alpha:
        return np.asarray(img.convert("RGB"), dtype=np.uint8)
    rgba = np.asarray(img.convert("RGBA"), dtype=np.uint32)
    alpha = rgba[:, :, 3:4]
    bg = np.asarray(background, dtype=np.uint32)
    # Source-over in 8-bit, rounded once: what a canvas filled with `background` gives
    # after drawImage of the straight-alpha bitmap (±1 where Skia rounds differently).
    out = (rgba[:, :, :3] * alpha + bg * (255 - alpha) + 127) // 255
    return out.astype(np.uint8)


def load_rgb(
    source: str | os.PathLike | bytes,
    *,
    background: tuple[int, int, int] = ALPHA_BACKGROUND,
    max_bytes: int = MAX_BYTES,
    max_pixels: int = MAX_PIXELS,
    min_side: int = MIN_SIDE,
) -> np.ndarray:
    """Decodes an image file the way the browser does.

    Args:
        source: a path or the file's bytes.
        background: RGB that transparent pixels are composited onto.
        max_bytes, max_pixels, min_side: limits; beyond them an ImageError says why.

    Returns:
        uint8 array of shape (height, width, 3), upright per the EXIF orientation.

    Raises:
        ImageError: the file is missing, empty, not an image, an unsupported format (HEIC, AVIF), corrupt,
            too large (a decompression bomb) or too small.
    """
    data = _read(source, max_bytes)
    name = Path(source).name if not isinstance(source, (bytes, bytearray)) else "image"
    if not data:
        raise ImageError(f"{name}: the file is empty")
    kind = sniff(data[:16])
    if kind == "HEIC":
        raise ImageError(f"{name}: HEIC/HEIF photos are not supported; export it as JPEG "
                         "(on an iPhone: Settings > Camera > Formats > Most Compatible)")
    if kind == "AVIF":
        raise ImageError(f"{name}: AVIF images are not supported; export it as JPEG or PNG")
    if kind is None:
        raise ImageError(f"{name}: not an image SkinLens can read (JPEG, PNG, WebP, BMP or GIF)")
    try:
        with warnings.catch_warnings():
            # We enforce our own, lower pixel limit just below, with a clearer message.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(data))
        if img.format not in SUPPORTED_FORMATS:
            raise ImageError(f"{name}: {img.format} images are not supported (JPEG, PNG, WebP, BMP or GIF)")
        width, height = img.size
        if width * height > max_pixels:
            raise ImageError(f"{name}: {width}×{height} is {width * height / 1e6:.0f} megapixels; "
                             f"the limit is {max_pixels / 1e6:.0f}")
        if min(width, height) < min_side:
            raise ImageError(f"{name}: {width}×{height} is too small; at least {min_side} px a side is needed")
        img.seek(0)  # GIF: first frame, like createImageBitmap
        img.load()
        img = ImageOps.exif_transpose(img)
        return _to_rgb(img, background)
    except ImageError:
        raise
    except Image.DecompressionBombError as err:
        raise ImageError(f"{name}: too many pixels to decode safely ({err})") from err
    except UnidentifiedImageError as err:  # its text names PIL's file object: <_io.BytesIO object at 0x…>
        raise ImageError(f"{name}: looks like {kind} but could not be decoded (corrupt or truncated?)") from err
    except (OSError, SyntaxError, ValueError) as err:
        reason = OBJECT_REPR.sub("", str(err))  # never a Python object's repr in a user's message
        raise ImageError(f"{name}: looks like {kind} but could not be decoded (corrupt or truncated?): {reason}") from err


def pool_factor(height: int, width: int, target_height: int, target_width: int) -> int:
    """The integer average-pooling factor applied before the bilinear resize."""
    return max(1, min(height // target_height, width // target_width))


def resize(rgb, target_height: int, target_width: int):
    """Resizes an RGB image to the model input with the shared rule (see the module docstring).

    Args:
        rgb: uint8 or float array/tensor of shape (h, w, 3); works on symbolic shapes, so
            it can run inside a ``tf.data`` pipeline.
        target_height, target_width: the model's input size.

    Returns:
        float32 tf.Tensor of shape (target_height, target_width, 3) in 0..255.
    """
    import tensorflow as tf

    x = tf.cast(rgb, tf.float32)
    shape = tf.shape(x)
    h, w = shape[0], shape[1]
    k = tf.maximum(1, tf.minimum(h // target_height, w // target_width))
    hk, wk = h // k, w // k
    x = x[: hk * k, : wk * k, :]
    # Reshape-and-mean is avg_pool with a k×k window and stride k, VALID, for any k.
    x = tf.reduce_mean(tf.reshape(x, [hk, k, wk, k, 3]), axis=[1, 3])
    x = tf.image.resize(x[None], [target_height, target_width], method="bilinear", antialias=False)[0]
    return tf.ensure_shape(x, [target_height, target_width, 3])


def prepare(source, target_height: int, target_width: int, **limits) -> np.ndarray:
    """``load_rgb`` then ``resize``: the exact float32 input the model gets for a file."""
    return resize(load_rgb(source, **limits), target_height, target_width).numpy()
