"""Image files made for tests that no fixture on disk could be: built in memory, shared by the unit and
the browser tests."""


def padded_jpeg(width, height, padding=320 * 1024):
    """A real 64×64 JPEG whose frame header declares ``width``×``height``, after ``padding`` bytes of APP15
    segments: its size sits beyond the first 256 KB that the page reads at once (imaging.js HEADER_BYTES)."""
    import io
    import struct

    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (64, 64), (180, 120, 100)).save(buffer, "JPEG")
    data = bytearray(buffer.getvalue())
    sof = data.index(b"\xff\xc0")
    data[sof + 5:sof + 9] = struct.pack(">HH", height, width)
    segments = b"".join(b"\xff\xef" + struct.pack(">H", 65535) + bytes(65533) for _ in range(padding // 65537 + 1))
    return bytes(data[:2] + segments + data[2:])
