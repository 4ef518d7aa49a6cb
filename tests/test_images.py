"""The reference image loader: decode rules, limits with clear messages, and the resize rule."""

import io
import struct
import warnings
import zlib
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from image_files import padded_jpeg
from trainer import images
from trainer.images import ImageError, _to_rgb, load_rgb, pool_factor, prepare, resize, sniff

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


@pytest.mark.parametrize("side", [12_000, 20_000, 30_000, 65_535])
def test_a_jpeg_whose_size_sits_after_padding_is_refused_as_too_large(side):
    """The same verdict as the page's (tests/browser/test_app.py): too many pixels, not corrupt."""
    message = _message(padded_jpeg(side, side))
    assert "megapixels" in message or "too many pixels" in message, message


def test_an_empty_file_is_said_to_be_empty(tmp_path):
    """As the page says it (tests/browser/test_app.py), not "not an image"."""
    (tmp_path / "empty.jpg").write_bytes(b"")
    assert _message(tmp_path / "empty.jpg") == "empty.jpg: the file is empty"
    assert _message(b"") == "image: the file is empty"


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


# Exact behaviour on small synthetic images: each test below was written against a mutmut survivor (see
# "Mutation testing" in the README) and checks values worked out by hand, not bounds.


def _encode(img, fmt, **options):
    buf = io.BytesIO()
    img.save(buf, fmt, **options)
    return buf.getvalue()


def _png_header(width, height):
    """A PNG with only its IHDR (1-bit grey) and IEND: Pillow reads the size without any pixels to decode."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)) + chunk(b"IEND", b"")


def _message(source, **limits):
    with pytest.raises(ImageError) as caught:
        load_rgb(source, **limits)
    return str(caught.value)


@pytest.mark.parametrize("head, kind", [
    (b"\xff\xd8\xff\xe0" + bytes(12), "JPEG"),
    (b"\x89PNG\r\n\x1a\n" + bytes(8), "PNG"),
    (b"GIF87a" + bytes(10), "GIF"),
    (b"GIF89a" + bytes(10), "GIF"),
    (b"RIFF\x24\x00\x00\x00WEBPVP8L" + bytes(4), "WebP"),
    (b"BM" + bytes(14), "BMP"),
    (b"RIFF\x24\x00\x00\x00WAVEfmt " + bytes(4), None),  # RIFF but a WAV file
    (b"GIF88a" + bytes(10), None),
    (b"\x00\x00\x00\x1cftypisom" + bytes(4), None),  # an MP4: ISO-BMFF, neither HEIF nor AVIF
])
def test_sniff_names_each_format_by_its_magic_bytes(head, kind):
    assert sniff(head) == kind


# Every format the browser decodes, written by Pillow losslessly: the head sniffs to the format and the
# pixels come back exactly. Four 16x16 quadrants of colours that a palette holds exactly.
QUADRANTS = np.zeros((32, 32, 3), np.uint8)
QUADRANTS[:16, :16] = (200, 30, 60)
QUADRANTS[:16, 16:] = (0, 128, 255)
QUADRANTS[16:, :16] = (255, 255, 255)
QUADRANTS[16:, 16:] = (10, 20, 30)


@pytest.mark.parametrize("fmt, kind, options", [
    ("PNG", "PNG", {}), ("BMP", "BMP", {}), ("GIF", "GIF", {}), ("WEBP", "WebP", {"lossless": True}),
])
def test_lossless_formats_decode_exactly(fmt, kind, options):
    data = _encode(Image.fromarray(QUADRANTS), fmt, **options)
    assert sniff(data[:16]) == kind
    rgb = load_rgb(data)
    assert rgb.dtype == np.uint8
    np.testing.assert_array_equal(rgb, QUADRANTS)


def _orientation_source():
    return np.arange(2 * 3 * 3, dtype=np.uint8).reshape(2, 3, 3) * 10  # 2 rows, 3 columns, all pixels distinct


# EXIF orientation -> how the stored pixels are turned to be upright, written out with numpy.
ORIENTATIONS = {
    1: lambda a: a,
    2: lambda a: a[:, ::-1],                     # mirrored left-right
    3: lambda a: a[::-1, ::-1],                  # rotated 180
    4: lambda a: a[::-1, :],                     # mirrored top-bottom
    5: lambda a: a.transpose(1, 0, 2),           # mirrored along the main diagonal
    6: lambda a: np.rot90(a, -1),                # rotated 90 clockwise
    7: lambda a: a[::-1, ::-1].transpose(1, 0, 2),  # mirrored along the other diagonal
    8: lambda a: np.rot90(a, 1),                 # rotated 90 anticlockwise
}


@pytest.mark.parametrize("orientation", ORIENTATIONS)
def test_each_exif_orientation_turns_the_pixels_upright(orientation):
    stored = _orientation_source()
    exif = Image.Exif()
    exif[0x0112] = orientation
    data = _encode(Image.fromarray(stored), "PNG", exif=exif)
    got = load_rgb(data, min_side=1)
    np.testing.assert_array_equal(got, ORIENTATIONS[orientation](stored))


def test_alpha_rounds_to_nearest_once():
    # Source-over in integers, (c*a + bg*(255 - a) + 127) // 255: 127/255 = 0.498 rounds to 0, 128/255 to 1.
    rgba = np.zeros((32, 32, 4), np.uint8)
    rgba[...] = (127, 128, 0, 1)
    out = load_rgb(_encode(Image.fromarray(rgba), "PNG"), background=(0, 0, 0))
    assert out[0, 0].tolist() == [0, 1, 0]


def test_grey_with_alpha_png_is_composited():
    la = np.zeros((32, 32, 2), np.uint8)
    la[:, :, 0] = 200
    la[:, :10, 1] = 255
    la[:, 10:20, 1] = 51
    la[:, 20:, 1] = 0
    img = Image.fromarray(la, "LA")
    out = load_rgb(_encode(img, "PNG"), background=(0, 0, 255))
    assert out.shape == (32, 32, 3)
    assert out[0, 0].tolist() == [200, 200, 200]
    # (200*51 + 127)//255 = 40; (200*51 + 255*204 + 127)//255 = 244
    assert out[0, 15].tolist() == [40, 40, 244]
    assert out[0, 25].tolist() == [0, 0, 255]


def test_gif_transparent_index_shows_the_background():
    pal = Image.fromarray(QUADRANTS).quantize(4)
    index = np.asarray(pal)[0, 0]
    data = _encode(pal, "GIF", transparency=int(index))
    out = load_rgb(data, background=(1, 2, 3))
    expected = QUADRANTS.copy()
    expected[:16, :16] = (1, 2, 3)
    np.testing.assert_array_equal(out, expected)


@pytest.mark.parametrize("mode", ["PA", "RGBa"])
def test_modes_with_alpha_no_decoder_gives_us_are_composited_too(mode):
    # PA: palette index + alpha. RGBa: premultiplied; (51, 25, 0, 51) is straight (255, 125, 0) at alpha 51.
    if mode == "PA":
        img = Image.new("PA", (2, 1))
        img.putpalette([255, 125, 0, 9, 9, 9])
        img.putpixel((0, 0), (0, 51))
        img.putpixel((1, 0), (1, 0))
    else:
        img = Image.new("RGBa", (2, 1))
        img.putpixel((0, 0), (51, 25, 0, 51))
        img.putpixel((1, 0), (9, 9, 9, 0))
    out = _to_rgb(img, (0, 0, 255))
    # (255*51 + 127)//255 = 51, (125*51 + 127)//255 = 25, (255*204 + 127)//255 = 204
    assert out.tolist() == [[[51, 25, 204], [0, 0, 255]]]


@pytest.mark.parametrize("mode", ["I;16", "I;16L", "I;16B", "I;16N", "I"])
def test_every_16_bit_grey_mode_keeps_the_high_byte(mode):
    img = Image.new(mode, (5, 1))
    for x, value in enumerate([0, 0x00FF, 0x0100, 0x7F80, 0xFFFF]):
        img.putpixel((x, 0), value)
    out = _to_rgb(img, (0, 0, 255))
    assert out.dtype == np.uint8 and out.shape == (1, 5, 3)
    assert out[0, :, 0].tolist() == [0, 0, 1, 0x7F, 255]
    assert (out == out[..., :1]).all()


def test_sixteen_bit_png_decodes_to_three_equal_uint8_channels():
    gray = np.zeros((32, 32), np.uint16)
    gray[:, 8:16], gray[:, 16:24], gray[:, 24:] = 0x0100, 0x80FF, 0xFFFF
    data = _encode(Image.fromarray(gray), "PNG")
    out = load_rgb(data)
    assert out.dtype == np.uint8 and out.shape == (32, 32, 3)
    assert out[0, ::8].tolist() == [[0] * 3, [1] * 3, [0x80] * 3, [255] * 3]


def test_cmyk_jpeg_converts_with_the_multiplicative_rule():
    # R = (255 - C)(255 - K)/255 rounded, likewise G from M and B from Y. Flat 16x16 blocks at quality 100
    # come back from the JPEG exactly. (245*225/255 = 216.2, 55*225/255 = 48.5, 205*225/255 = 180.9)
    cmyk = np.zeros((32, 32, 4), np.uint8)
    cmyk[:16, 16:] = (255, 0, 0, 0)
    cmyk[16:, :16] = (0, 0, 0, 255)
    cmyk[16:, 16:] = (10, 200, 50, 30)
    data = _encode(Image.fromarray(cmyk, "CMYK"), "JPEG", quality=100)
    out = load_rgb(data)
    assert [out[8, 8].tolist(), out[8, 24].tolist(), out[24, 8].tolist(), out[24, 24].tolist()] == [
        [255, 255, 255], [0, 255, 255], [0, 0, 0], [216, 49, 181]]


def test_missing_file_message_names_the_path_and_the_reason(tmp_path):
    path = tmp_path / "gone.jpg"
    assert _message(path) == f"{path}: cannot read the file (No such file or directory)"


def test_size_limit_is_inclusive_for_paths_and_bytes():
    size = BASE.stat().st_size
    assert load_rgb(BASE, max_bytes=size).shape == (150, 200, 3)
    assert load_rgb(BASE.read_bytes(), max_bytes=size).shape == (150, 200, 3)
    assert _message(BASE, max_bytes=size - 1).startswith(f"{BASE.name}: the file is 0 MB")
    assert _message(BASE.read_bytes(), max_bytes=size - 1).startswith("the file is 0 MB")


def test_size_limit_messages_give_whole_megabytes(tmp_path):
    big = tmp_path / "big.jpg"
    with open(big, "wb") as f:
        f.truncate(3 * 2**20)  # sparse: 3 MiB on paper, nothing written
    limit = 2 * 2**20 + 1
    assert _message(big, max_bytes=limit) == "big.jpg: the file is 3 MB; the limit is 2 MB"
    assert _message(bytes(3 * 2**20), max_bytes=limit) == "the file is 3 MB; the limit is 2 MB"


def test_refusals_name_the_file_or_say_image():
    not_image = FIXTURES / "not_an_image.jpg"
    formats = "(JPEG, PNG, WebP, BMP or GIF)"
    assert _message(not_image) == f"not_an_image.jpg: not an image SkinLens can read {formats}"
    assert _message(not_image.read_bytes()) == f"image: not an image SkinLens can read {formats}"
    assert _message(FIXTURES / "photo.heic") == (
        "photo.heic: HEIC/HEIF photos are not supported; export it as JPEG "
        "(on an iPhone: Settings > Camera > Formats > Most Compatible)")


@pytest.mark.parametrize("head, kind", [(b"\xff\xd8\xff", "JPEG"), (b"\x89PNG\r\n\x1a\n", "PNG"),
                                        (b"GIF89a", "GIF"), (b"RIFF\0\0\0\0WEBP", "WebP")])
def test_a_damaged_image_is_refused_without_a_python_object_in_the_message(tmp_path, head, kind):
    """Pillow names its file object in some errors (cannot identify image file <_io.BytesIO object at 0x…>):
    that never reaches a user, from a path or from bytes."""
    data = head + b"\0" * 64
    path = tmp_path / f"damaged.{kind.lower()}"
    path.write_bytes(data)
    for source, name in ((path, path.name), (data, "image")):
        message = _message(source)
        assert message == f"{name}: looks like {kind} but could not be decoded (corrupt or truncated?)", message
        assert " object at 0x" not in message


def test_a_format_pillow_reads_but_the_browser_does_not_is_refused(monkeypatch):
    # sniff and Pillow agree on every file we know of; if they ever did not, Pillow's verdict decides.
    monkeypatch.setattr(images, "sniff", lambda head: "PNG")
    tiff = _encode(Image.new("RGB", (32, 32)), "TIFF")
    assert _message(tiff) == "image: TIFF images are not supported (JPEG, PNG, WebP, BMP or GIF)"


def test_pixel_limit_is_inclusive():
    data = _encode(Image.new("RGB", (40, 40)), "PNG")
    assert load_rgb(data, max_pixels=1600).shape == (40, 40, 3)
    assert _message(data, max_pixels=1599) == "image: 40×40 is 0 megapixels; the limit is 0"


def test_pixel_limit_message_rounds_megapixels():
    # 3.5 and 1.5 megapixels: exactly half-way, so a divisor off by one would round the other way.
    assert _message(_png_header(2000, 1750), max_pixels=1_500_000) == (
        "image: 2000×1750 is 4 megapixels; the limit is 2")


def test_pillows_bomb_warning_is_silenced_and_our_limit_speaks():
    # 100 MP: over Pillow's warning threshold (89.5 MP), under its hard limit; refused by ours (50 MP).
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert _message(_png_header(10_000, 10_000)) == "image: 10000×10000 is 100 megapixels; the limit is 50"
    assert not caught


def test_pillows_hard_bomb_limit_gets_a_clear_message():
    message = _message(_png_header(20_000, 10_000), max_pixels=10**9)  # 200 MP, over Pillow's 179 MP
    assert message.startswith("image: too many pixels to decode safely (")


@pytest.mark.parametrize("width, height, ok", [(32, 40, True), (40, 32, True), (31, 40, False), (40, 31, False)])
def test_smallest_side_limit_is_inclusive(width, height, ok):
    data = _encode(Image.new("RGB", (width, height)), "PNG")
    if ok:
        assert load_rgb(data).shape == (height, width, 3)
    else:
        assert _message(data) == f"image: {width}×{height} is too small; at least 32 px a side is needed"


@pytest.mark.parametrize("h, w, th, tw, k", [
    (1000, 500, 224, 224, 2),   # the width decides: 500 // 224 = 2 < 1000 // 224 = 4
    (600, 900, 100, 400, 2),    # non-square target: min(600 // 100, 900 // 400) = min(6, 2)
    (900, 600, 400, 100, 2),
    (100, 100, 224, 224, 1),    # smaller than the target: never below 1
])
def test_pool_factor_takes_the_smaller_integer_quotient(h, w, th, tw, k):
    got = pool_factor(h, w, th, tw)
    assert got == k and type(got) is int


def test_prepare_passes_the_limits_on():
    data = BASE.read_bytes()
    with pytest.raises(ImageError, match="the limit is 0 MB"):
        prepare(data, 224, 224, max_bytes=len(data) - 1)
    with pytest.raises(ImageError, match="at least 151 px a side"):
        prepare(data, 224, 224, min_side=151)
