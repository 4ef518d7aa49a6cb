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


# Each fixture is BASE saved in another mode (tests/fixtures/make_fixtures.py): how far its decode may be
# from BASE's, in mean |difference| of 0..255 values. Measured: grayscale 0.24 (against BASE's own
# luminance), CMYK 0.51, palette (64 colours) 3.5, PNG 0; the colours inverted would be 75 to 88 away.
MODES = {"grayscale.jpg": 1, "cmyk.jpg": 1.5, "palette.png": 6, "png_rgb.png": 0}


@pytest.mark.parametrize("name", MODES)
def test_other_modes_become_rgb(name):
    rgb = load_rgb(FIXTURES / name)
    assert rgb.shape == (150, 200, 3) and rgb.dtype == np.uint8
    if name == "grayscale.jpg":
        assert (rgb == rgb[..., :1]).all()  # grey stays grey
        expected = np.repeat(np.asarray(Image.open(BASE).convert("L"))[..., None], 3, axis=2)
    else:
        expected = load_rgb(BASE)
    assert np.abs(rgb.astype(int) - expected).mean() <= MODES[name]


def test_alpha_fixture_is_the_photo_inside_and_the_background_outside():
    # alpha.png is BASE with alpha (1.1 - r) * 400 clipped, r the elliptical radius from the centre.
    rgb = load_rgb(FIXTURES / "alpha.png", background=(255, 255, 255)).astype(int)
    yy, xx = np.mgrid[0:150, 0:200]
    r = np.hypot((yy - 75) / 75, (xx - 100) / 100)
    np.testing.assert_array_equal(rgb[r < 0.45], load_rgb(BASE)[r < 0.45])
    assert (rgb[r > 1.1] == 255).all()


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
    # must look like the small one resized directly. Measured: 0.41 pooled, 0.78 by plain bilinear.
    big = prepare(FIXTURES / "large_3200x2400.jpg", 224, 224)
    small = prepare(BASE, 224, 224)
    assert np.abs(big - small).mean() < 0.6


def test_pixel_checkerboard_pools_to_flat_grey():
    # A 1-pixel checkerboard of 0 and 255 at phone size: every 10x10 pooling window (k = 10) averages it
    # to exactly 127.5; bilinear alone samples it into a moire with a standard deviation of about 43.
    board = (np.indices((2400, 3200)).sum(axis=0) % 2 * 255).astype(np.uint8)
    out = resize(np.repeat(board[..., None], 3, axis=2), 224, 224).numpy()
    np.testing.assert_allclose(out, 127.5, atol=1e-3)


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
