"""The reference image loader: decode rules, limits with clear messages, and the resize rule."""

from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from trainer.images import ImageError, load_rgb, pool_factor, prepare, resize, sniff

FIXTURES = Path(__file__).parent / "fixtures" / "images"
BASE = FIXTURES / "ISIC_0024310.jpg"


def test_ham_jpeg_decodes_to_uint8_rgb():
    rgb = load_rgb(BASE)
    assert rgb.shape == (150, 200, 3) and rgb.dtype == np.uint8
    np.testing.assert_array_equal(rgb, np.asarray(Image.open(BASE).convert("RGB")))


def test_exif_orientation_is_applied():
    upright = load_rgb(BASE).astype(int)
    rotated = load_rgb(FIXTURES / "exif_rotated.jpg").astype(int)
    assert rotated.shape == upright.shape
    # Same picture after a JPEG re-encode: small mean error; the wrong orientation would be far off.
    assert np.abs(rotated - upright).mean() < 3
    stored = np.asarray(Image.open(FIXTURES / "exif_rotated.jpg"))
    assert stored.shape == (200, 150, 3)  # the pixels as stored are sideways


def test_alpha_is_composited_onto_the_fixed_background():
    rgba = np.zeros((40, 40, 4), np.uint8)
    rgba[..., :3] = (200, 100, 0)
    rgba[..., 3] = 0
    rgba[:20, :, 3] = 255
    rgba[20:30, :, 3] = 128
    path_bytes = _png_bytes(Image.fromarray(rgba))
    out = load_rgb(path_bytes, background=(255, 255, 255)).astype(int)
    np.testing.assert_array_equal(out[0, 0], (200, 100, 0))
    np.testing.assert_array_equal(out[35, 0], (255, 255, 255))
    expected = [(c * 128 + 255 * 127 + 127) // 255 for c in (200, 100, 0)]
    np.testing.assert_array_equal(out[25, 0], expected)
    assert load_rgb(path_bytes, background=(0, 0, 0))[35, 0].tolist() == [0, 0, 0]


def test_sixteen_bit_keeps_the_high_byte_instead_of_clipping():
    gray16 = load_rgb(FIXTURES / "gray16.png")
    gray8 = np.asarray(Image.open(BASE).convert("L"))
    np.testing.assert_array_equal(gray16[..., 0], gray8)
    assert gray16.mean() < 250  # Pillow's convert("RGB") would clip it to white


@pytest.mark.parametrize("name", ["grayscale.jpg", "cmyk.jpg", "palette.png", "png_rgb.png", "alpha.png"])
def test_other_modes_become_rgb(name):
    rgb = load_rgb(FIXTURES / name)
    assert rgb.shape == (150, 200, 3) and rgb.dtype == np.uint8
    assert 100 < rgb.mean() < 230


@pytest.mark.parametrize("name, message", [
    ("not_an_image.jpg", "not an image"),
    ("photo.heic", "HEIC"),
    ("truncated.jpg", "could not be decoded"),
    ("tiny_16x12.png", "too small"),
    ("does_not_exist.jpg", "cannot read"),
])
def test_bad_inputs_get_a_clear_message(name, message):
    with pytest.raises(ImageError, match=message):
        load_rgb(FIXTURES / name)


def test_decompression_bomb_is_refused_before_decoding(tmp_path):
    bomb = tmp_path / "bomb.png"
    Image.new("1", (9000, 9000)).save(bomb)  # 81 MP, a few kB on disk
    assert bomb.stat().st_size < 100_000
    with pytest.raises(ImageError, match="megapixels"):
        load_rgb(bomb)


def test_file_size_cap(tmp_path):
    with pytest.raises(ImageError, match="limit"):
        load_rgb(BASE, max_bytes=1000)


def test_sniff():
    assert sniff(BASE.read_bytes()[:16]) == "JPEG"
    assert sniff((FIXTURES / "png_rgb.png").read_bytes()[:16]) == "PNG"
    assert sniff((FIXTURES / "photo.heic").read_bytes()[:16]) == "HEIC"
    assert sniff(b"hello world, hi!") is None


@pytest.mark.parametrize("h, w, k", [(150, 200, 1), (224, 224, 1), (447, 500, 1), (448, 500, 2), (2400, 3200, 10)])
def test_pool_factor(h, w, k):
    assert pool_factor(h, w, 224, 224) == k


@pytest.mark.parametrize("h, w", [(150, 200), (2400, 3200), (999, 451)])
def test_resize_is_avg_pool_then_half_pixel_bilinear(h, w):
    rgb = np.random.default_rng(0).integers(0, 256, (h, w, 3), dtype=np.uint8)
    k = pool_factor(h, w, 224, 224)
    x = tf.constant(rgb, tf.float32)[None]
    if k > 1:
        x = tf.nn.avg_pool2d(x, k, k, "VALID")
    expected = tf.compat.v1.image.resize_bilinear(x, [224, 224], align_corners=False, half_pixel_centers=True)[0]
    got = resize(rgb, 224, 224)
    assert got.shape == (224, 224, 3) and got.dtype == tf.float32
    np.testing.assert_allclose(got.numpy(), expected.numpy(), atol=1e-3)


def test_large_photo_is_pooled_not_aliased():
    # The 3200x2400 fixture is the 200x150 image enlarged 16x: after pooling and resizing it
    # must look like the small one resized directly, which plain bilinear does not guarantee.
    big = prepare(FIXTURES / "large_3200x2400.jpg", 224, 224)
    small = prepare(BASE, 224, 224)
    assert np.abs(big - small).mean() < 6


def _png_bytes(img):
    import io

    buf = io.BytesIO()
    img.save(buf, "PNG")
    return buf.getvalue()


def test_heif_and_avif_brands_are_told_apart():
    from trainer.images import AVIF_BRANDS, HEIF_BRANDS

    for brand in HEIF_BRANDS:
        assert sniff(b"\x00\x00\x00\x1cftyp" + brand.encode() + bytes(4)) == "HEIC"
    for brand in AVIF_BRANDS:
        head = b"\x00\x00\x00\x1cftyp" + brand.encode() + bytes(4) + b"mif1miaf" + bytes(64)
        assert sniff(head) == "AVIF"
        with pytest.raises(ImageError, match="AVIF images are not supported"):
            prepare(head, 224, 224)
