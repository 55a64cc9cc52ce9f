"""ROS image encodings <-> numpy: padding, endianness, colour order, limits, compression."""

import numpy as np
import pytest

from depth_estimation_ros.core.encodings import (
    ENCODINGS,
    MAX_DATA_BYTES,
    SUPPORTED_INPUT_ENCODINGS,
    EncodingError,
    decode_compressed,
    decode_image,
    decode_image_msg,
    encode_compressed,
    encode_depth_32fc1,
    encode_image,
    rgb8_from_msg,
    to_rgb8,
)

RNG = np.random.default_rng(0)
RGB = RNG.integers(0, 256, size=(5, 7, 3), dtype=np.uint8)  # (H, W, 3)


def _padded(rows: np.ndarray, pad: int) -> bytes:
    """Flatten (H, row_bytes) uint8 rows with ``pad`` junk bytes after each row."""
    h = rows.shape[0]
    junk = np.full((h, pad), 0xAB, np.uint8)
    return np.concatenate([rows.reshape(h, -1), junk], axis=1).tobytes()


@pytest.mark.parametrize("pad", [0, 3, 64])
def test_rgb_family_with_padded_rows(pad: int) -> None:
    h, w = RGB.shape[:2]
    alpha = np.full((h, w, 1), 200, np.uint8)
    cases = {
        "rgb8": RGB,
        "bgr8": RGB[..., ::-1],
        "rgba8": np.concatenate([RGB, alpha], axis=2),
        "bgra8": np.concatenate([RGB[..., ::-1], alpha], axis=2),
        "8UC3": RGB[..., ::-1],
    }
    for encoding, pixels in cases.items():
        c = pixels.shape[2]
        data = _padded(np.ascontiguousarray(pixels).reshape(h, w * c), pad)
        decoded = decode_image(data, w, h, encoding, w * c + pad, 0)
        assert decoded.shape == (h, w, c) and decoded.dtype == np.uint8
        assert np.array_equal(decoded, pixels)
        rgb = to_rgb8(decoded, encoding)
        assert rgb.flags.c_contiguous and np.array_equal(rgb, RGB), encoding


def test_mono_encodings_to_rgb() -> None:
    gray = RNG.integers(0, 256, size=(4, 6), dtype=np.uint8)
    decoded = decode_image(_padded(gray, 2), 6, 4, "mono8", 8)
    assert np.array_equal(to_rgb8(decoded, "mono8"), np.repeat(gray[..., None], 3, axis=2))
    gray16 = gray.astype(np.uint16) * 256 + 17
    decoded16 = decode_image(gray16.astype("<u2").tobytes(), 6, 4, "mono16", 12)
    assert decoded16.dtype == np.uint16 and np.array_equal(decoded16, gray16)
    assert np.array_equal(to_rgb8(decoded16, "mono16")[..., 1], gray)


@pytest.mark.parametrize("encoding,dtype", [("32FC1", np.float32), ("16UC1", np.uint16),
                                            ("mono16", np.uint16)])
@pytest.mark.parametrize("big", [0, 1])
def test_multibyte_endianness_and_padding(encoding: str, dtype: type, big: int) -> None:
    values = (RNG.random((3, 5)) * 1000).astype(dtype)
    if encoding == "32FC1":
        values[0, 0] = np.nan
    order = ">" if big else "<"
    rows = values.astype(np.dtype(dtype).newbyteorder(order)).view(np.uint8).reshape(3, -1)
    step = 5 * values.itemsize + 6  # 6 pad bytes: rows not aligned to 4 for float32
    decoded = decode_image(_padded(rows, 6), 5, 3, encoding, step, big)
    assert decoded.dtype.isnative and decoded.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(decoded, values)


def test_decode_is_a_view_for_unpadded_native_data() -> None:
    data = bytearray(RGB.tobytes())
    decoded = decode_image(data, 7, 5, "rgb8", 21)
    data[0] = (int(RGB[0, 0, 0]) + 1) % 256
    assert decoded[0, 0, 0] == data[0]  # shares memory, no copy


def test_yuv422_decodes_to_rgb() -> None:
    import cv2

    # Y=luma, U=V=128 gives grey levels equal to Y (BT.601, full range in OpenCV).
    y = np.array([[16, 100, 200, 235]], np.uint8)
    uyvy = np.stack([np.full_like(y, 128), y], axis=2)  # (1, 4, 2): U Y V Y as pairs
    rgb = to_rgb8(decode_image(uyvy.tobytes(), 4, 1, "yuv422", 8), "yuv422")
    expected = cv2.cvtColor(uyvy, cv2.COLOR_YUV2RGB_UYVY)
    assert rgb.shape == (1, 4, 3) and np.array_equal(rgb, expected)
    assert abs(int(rgb[0, 1, 0]) - 100) <= 2


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"encoding": "bayer_rggb8"}, "encoding 'bayer_rggb8' is not supported"),
        ({"width": 0}, "width 0 is invalid; expected 1..16384"),
        ({"height": 20000}, "height 20000 is invalid"),
        ({"width": 2.5}, "width 2.5 is invalid; expected an integer"),
        ({"step": 20}, "step 20 is invalid .* >= width \\* bytes per pixel = 21"),
        ({"data": b"\x00" * 104}, "104 bytes; expected step \\* height = 21 \\* 5 = 105"),
        ({"is_bigendian": 2}, "is_bigendian 2 is invalid"),
        ({"data": 12345}, "not a byte buffer"),
    ],
)
def test_decode_rejects_bad_fields(kwargs: dict, match: str) -> None:
    args = {"data": RGB.tobytes(), "width": 7, "height": 5, "encoding": "rgb8", "step": 21,
            "is_bigendian": 0}
    args.update(kwargs)
    with pytest.raises(EncodingError, match=match):
        decode_image(**args)


def test_decode_rejects_huge_payload_without_reading_it() -> None:
    huge = np.zeros(MAX_DATA_BYTES + 1, np.uint8)
    with pytest.raises(EncodingError, match="at most"):
        decode_image(huge, 16384, 16384, "mono8", 16384)


def test_encoding_error_is_value_error() -> None:
    assert issubclass(EncodingError, ValueError)


def test_to_rgb8_rejects_depth_and_mismatched_arrays() -> None:
    with pytest.raises(EncodingError, match="'32FC1' is a depth encoding"):
        to_rgb8(np.zeros((2, 2), np.float32), "32FC1")
    with pytest.raises(EncodingError, match=r"bgr8 image array is \(2, 2\) uint8; expected"):
        to_rgb8(np.zeros((2, 2), np.uint8), "bgr8")
    assert set(SUPPORTED_INPUT_ENCODINGS) >= {"rgb8", "bgr8", "rgba8", "bgra8", "mono8"}


@pytest.mark.parametrize("encoding", sorted(ENCODINGS))
def test_encode_decode_round_trip_every_encoding(encoding: str) -> None:
    layout = ENCODINGS[encoding]
    shape = (3, 4) if layout.channels == 1 else (3, 4, layout.channels)
    array = (RNG.random(shape) * 250).astype(layout.dtype.newbyteorder("="))
    data, step = encode_image(array, encoding)
    assert data.dtype == np.uint8 and data.ndim == 1 and data.flags.c_contiguous
    assert step == 4 * layout.bytes_per_pixel and data.size == 3 * step
    np.testing.assert_array_equal(decode_image(data, 4, 3, encoding, step, 0), array)


def test_encode_rejects_wrong_dtype_or_shape() -> None:
    with pytest.raises(EncodingError, match=r"rgb8 image array is \(3, 4\) uint8"):
        encode_image(np.zeros((3, 4), np.uint8), "rgb8")
    with pytest.raises(EncodingError, match="expected \\(H, W\\) float32"):
        encode_image(np.zeros((3, 4), np.float64), "32FC1")
    with pytest.raises(EncodingError, match="not supported"):
        encode_image(np.zeros((3, 4), np.uint8), "weird")


def test_encode_depth_32fc1_keeps_nan_and_is_little_endian() -> None:
    depth = np.array([[1.5, np.nan], [0.25, 10.0]], np.float64)
    data, step = encode_depth_32fc1(depth)
    assert step == 8
    assert np.array_equal(np.frombuffer(data.tobytes(), "<f4").reshape(2, 2), depth,
                          equal_nan=True)
    data1, _ = encode_depth_32fc1(depth[..., None].astype(np.float32))
    assert data1.tobytes() == data.tobytes()
    with pytest.raises(EncodingError, match="depth array is \\(2, 2, 3\\)"):
        encode_depth_32fc1(np.zeros((2, 2, 3), np.float32))


def test_compressed_png_lossless_and_jpeg_close() -> None:
    smooth = np.zeros((32, 48, 3), np.uint8)
    smooth[..., 0] = np.linspace(0, 255, 48, dtype=np.uint8)[None, :]
    smooth[..., 2] = np.linspace(255, 0, 32, dtype=np.uint8)[:, None]
    png, fmt = encode_compressed(smooth, "png")
    assert fmt == "rgb8; png compressed bgr8" and png[:4] == b"\x89PNG"
    assert np.array_equal(decode_compressed(png, fmt), smooth)
    jpg, fmt = encode_compressed(smooth, "jpeg", quality=95)
    assert jpg[:2] == b"\xff\xd8"
    back = decode_compressed(jpg, fmt)
    assert back.shape == smooth.shape
    assert np.abs(back.astype(int) - smooth.astype(int)).mean() < 3  # channel order kept


def test_decode_compressed_errors() -> None:
    with pytest.raises(EncodingError, match="empty"):
        decode_compressed(b"", "jpeg")
    with pytest.raises(EncodingError, match="could not be decoded"):
        decode_compressed(b"not an image at all", "jpeg")
    with pytest.raises(EncodingError, match="depth format"):
        decode_compressed(b"\x00" * 10, "16UC1; compressedDepth png")
    with pytest.raises(EncodingError, match="expected jpeg or png"):
        encode_compressed(RGB, "webp")


def test_msg_helpers_accept_any_message_like_object() -> None:
    from depth_estimation_ros.dds import messages as m

    data, step = encode_image(np.ascontiguousarray(RGB[..., ::-1]), "bgr8")
    msg = m.Image(height=5, width=7, encoding="bgr8", step=step, data=data)
    assert np.array_equal(rgb8_from_msg(msg), RGB)
    wire = m.Image.deserialize(msg.serialize())
    assert np.array_equal(decode_image_msg(wire)[..., ::-1], RGB)


def _png_header_bomb(width: int, height: int) -> bytes:
    """A real, complete 1-bit greyscale PNG of zeros: a few KB that decode to width*height
    bytes (cv2 expands 1-bit to 8-bit)."""
    import struct
    import zlib

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (struct.pack(">I", len(body)) + kind + body
                + struct.pack(">I", zlib.crc32(kind + body)))

    row = b"\x00" * (1 + (width + 7) // 8)  # filter byte + packed bits
    deflate = zlib.compressobj(9)
    idat = b"".join(deflate.compress(row) for _ in range(height)) + deflate.flush()
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 1, 0,
                                                               0, 0, 0))
            + chunk(b"IDAT", idat) + chunk(b"IEND", b""))


def _no_decoding(monkeypatch: pytest.MonkeyPatch) -> None:
    import cv2

    def refuse(*args, **kwargs):
        raise AssertionError("cv2.imdecode was called: the image was decoded before its "
                             "size was checked")

    monkeypatch.setattr(cv2, "imdecode", refuse)


def test_compressed_bomb_rejected_from_header_without_decoding(monkeypatch) -> None:
    bomb = _png_header_bomb(20000, 20000)  # 400 MB of pixels in a few KB
    assert len(bomb) < 200_000
    _no_decoding(monkeypatch)
    with pytest.raises(EncodingError, match="20000x20000 = 400000000 pixels; expected at most"):
        decode_compressed(bomb, "png")  # the default limit
    with pytest.raises(EncodingError, match="100x80 = 8000 pixels; expected at most 1000 "):
        decode_compressed(_png_header_bomb(100, 80), "png", max_pixels=1000)
    # a JPEG whose frame header claims 60000x50000
    jpg, _ = encode_compressed(RGB, "jpeg")
    sof = jpg.index(b"\xff\xc0")
    huge = (jpg[:sof + 5] + (50000).to_bytes(2, "big") + (60000).to_bytes(2, "big")
            + jpg[sof + 9:])
    with pytest.raises(EncodingError, match="60000x50000 = 3000000000 pixels"):
        decode_compressed(huge, "jpeg")


def test_compressed_size_read_from_header() -> None:
    import cv2

    from depth_estimation_ros.core.encodings import compressed_image_size

    bgr = np.ascontiguousarray(RGB[..., ::-1])
    for ext, params in [(".png", []), (".jpg", []), (".jpg", [cv2.IMWRITE_JPEG_PROGRESSIVE, 1]),
                        (".tiff", []), (".webp", [])]:
        ok, buf = cv2.imencode(ext, bgr, params)
        assert ok
        assert compressed_image_size(buf.tobytes()) == (7, 5), ext
        assert decode_compressed(buf.tobytes(), "", max_pixels=35).shape == (5, 7, 3), ext
        with pytest.raises(EncodingError, match="7x5 = 35 pixels; expected at most 34 "):
            decode_compressed(buf.tobytes(), "", max_pixels=34)
    for junk in (b"\x89PNG\r\n\x1a\n", b"\xff\xd8", b"\xff\xd8" + b"\xff" * 100_000,
                 b"\xff\xd8\xff\xe0\x00\x01", b"GIF89a"):
        with pytest.raises(EncodingError, match="could not be decoded as jpeg or png"):
            compressed_image_size(junk, "jpeg")
