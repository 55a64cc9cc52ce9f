"""ROS image encodings <-> numpy: row padding, endianness, size limits (no ROS imports).

A ROS ``sensor_msgs/Image`` is ``height`` rows of ``step`` bytes; a row holds ``width`` pixels
of the encoding's element type followed by optional padding. Multi-byte elements are big
endian when ``is_bigendian`` is set. ``decode_image`` turns that into an ``(H, W)`` or
``(H, W, C)`` native-endian array (a view of the message bytes when possible),
``to_rgb8`` turns a decoded camera image into ``(H, W, 3)`` uint8 RGB, and ``encode_image`` /
``encode_depth_32fc1`` go the other way (always little endian, ``is_bigendian = 0``, no
padding). ``decode_compressed`` / ``encode_compressed`` handle ``CompressedImage`` jpeg/png.

The ``*_msg`` helpers take any object with the ``Image`` / ``CompressedImage`` fields (our
DDS messages, rclpy messages, rosbags messages).
"""

import io
import re
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = [
    "DEPTH_ENCODINGS",
    "ENCODINGS",
    "MAX_COMPRESSED_PIXELS",
    "MAX_DATA_BYTES",
    "MAX_DIMENSION",
    "SUPPORTED_INPUT_ENCODINGS",
    "EncodingError",
    "compressed_image_size",
    "decode_compressed",
    "decode_image",
    "decode_image_msg",
    "encode_compressed",
    "encode_depth_32fc1",
    "encode_image",
    "rgb8_from_compressed_msg",
    "rgb8_from_msg",
    "to_rgb8",
]

MAX_DIMENSION = 16384  # pixels, width or height
MAX_DATA_BYTES = 256 * 1024 * 1024  # bytes of one image message payload
# pixels of one decoded compressed image unless the caller sets its own limit (decoded as
# 8-bit BGRA this is MAX_DATA_BYTES, the most a raw image message may carry)
MAX_COMPRESSED_PIXELS = MAX_DATA_BYTES // 4


class EncodingError(ValueError):
    """Image bytes, sizes or encoding that cannot be decoded or encoded as asked."""


@dataclass(frozen=True)
class Layout:
    """Pixel layout of one encoding: channels per pixel and element dtype (little endian)."""

    channels: int
    dtype: np.dtype

    @property
    def bytes_per_pixel(self) -> int:
        """Bytes of one pixel (all channels)."""
        return self.channels * self.dtype.itemsize


_U1, _U2, _F4 = np.dtype("<u1"), np.dtype("<u2"), np.dtype("<f4")
ENCODINGS: dict[str, Layout] = {
    "rgb8": Layout(3, _U1),
    "bgr8": Layout(3, _U1),
    "rgba8": Layout(4, _U1),
    "bgra8": Layout(4, _U1),
    "mono8": Layout(1, _U1),
    "mono16": Layout(1, _U2),
    "8UC1": Layout(1, _U1),
    "8UC3": Layout(3, _U1),
    "16UC1": Layout(1, _U2),
    "32FC1": Layout(1, _F4),
    "yuv422": Layout(2, _U1),  # UYVY, what many ROS camera drivers publish
    "yuv422_yuy2": Layout(2, _U1),  # YUYV
}
# Camera encodings ``to_rgb8`` converts (8UC3 is taken as bgr8, as cv_bridge does).
SUPPORTED_INPUT_ENCODINGS: tuple[str, ...] = (
    "rgb8", "bgr8", "rgba8", "bgra8", "mono8", "mono16", "8UC1", "8UC3", "yuv422",
    "yuv422_yuy2",
)
DEPTH_ENCODINGS: tuple[str, ...] = ("32FC1", "16UC1")


def _layout(encoding: str) -> Layout:
    layout = ENCODINGS.get(encoding)
    if layout is None:
        raise EncodingError(
            f"image encoding {encoding!r} is not supported; expected one of "
            f"{', '.join(ENCODINGS)}"
        )
    return layout


def _check_dimension(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise EncodingError(f"image {name} {value!r} is invalid; expected an integer")
    if not 1 <= value <= MAX_DIMENSION:
        raise EncodingError(f"image {name} {value} is invalid; expected 1..{MAX_DIMENSION}")
    return int(value)


def decode_image(data: Any, width: int, height: int, encoding: str, step: int,
                 is_bigendian: int | bool = 0) -> np.ndarray:
    """Decode raw ``sensor_msgs/Image`` bytes into a native-endian numpy array.

    Args:
        data: the message's ``data`` (bytes, bytearray, memoryview or uint8 array).
        width: pixels per row.
        height: rows.
        encoding: ROS encoding name, one of ``ENCODINGS``.
        step: bytes per row including padding (>= width * bytes per pixel).
        is_bigendian: 1 if multi-byte elements are big endian.

    Returns:
        ``(H, W)`` for one channel, else ``(H, W, C)``; dtype uint8, uint16 or float32. It may
        be a read-only view of ``data``; copy it before writing into it.

    Raises:
        EncodingError: unknown encoding, sizes out of range, ``step`` too small, or fewer
            than ``step * height`` bytes.
    """
    layout = _layout(encoding)
    width = _check_dimension("width", width)
    height = _check_dimension("height", height)
    row_bytes = width * layout.bytes_per_pixel
    if isinstance(step, bool) or not isinstance(step, (int, np.integer)) or step < row_bytes:
        raise EncodingError(
            f"image step {step!r} is invalid for {width} px of {encoding}; expected an integer "
            f">= width * bytes per pixel = {row_bytes}"
        )
    step = int(step)
    if is_bigendian not in (0, 1):  # also accepts True/False
        raise EncodingError(f"image is_bigendian {is_bigendian!r} is invalid; expected 0 or 1")
    try:
        raw = np.frombuffer(data, dtype=np.uint8)
    except (TypeError, ValueError) as exc:
        raise EncodingError(
            f"image data of type {type(data).__name__} is not a byte buffer ({exc})"
        ) from None
    if raw.size > MAX_DATA_BYTES:
        raise EncodingError(
            f"image data has {raw.size} bytes; expected at most {MAX_DATA_BYTES} bytes"
        )
    needed = step * height
    if raw.size < needed:
        raise EncodingError(
            f"image data has {raw.size} bytes; expected step * height = {step} * {height} = "
            f"{needed} for a {width}x{height} {encoding} image"
        )
    rows = raw[:needed].reshape(height, step)[:, :row_bytes]
    dtype = layout.dtype.newbyteorder(">" if is_bigendian else "<")
    if dtype.itemsize > 1 and step % dtype.itemsize:
        rows = np.ascontiguousarray(rows)  # misaligned rows: copy so elements are aligned
    pixels = rows.view(dtype)  # (H, W * C)
    if not pixels.dtype.isnative:
        pixels = pixels.astype(dtype.newbyteorder("="))  # byte-swapping copy
    if layout.channels == 1:
        return pixels.reshape(height, width)
    return pixels.reshape(height, width, layout.channels)


def to_rgb8(array: np.ndarray, encoding: str) -> np.ndarray:
    """Convert a decoded camera image to ``(H, W, 3)`` uint8 RGB.

    Args:
        array: output of ``decode_image`` for ``encoding``.
        encoding: one of ``SUPPORTED_INPUT_ENCODINGS``.

    Returns:
        C-contiguous ``(H, W, 3)`` uint8 RGB (the input itself for contiguous rgb8).

    Raises:
        EncodingError: depth or unknown encoding, or an array whose shape/dtype does not fit.
    """
    if encoding not in SUPPORTED_INPUT_ENCODINGS:
        kind = "a depth encoding" if encoding in DEPTH_ENCODINGS else "not a camera encoding"
        raise EncodingError(
            f"image encoding {encoding!r} is {kind}; expected one of "
            f"{', '.join(SUPPORTED_INPUT_ENCODINGS)}"
        )
    layout = ENCODINGS[encoding]
    expected_ndim = 2 if layout.channels == 1 else 3
    if (
        not isinstance(array, np.ndarray)
        or array.ndim != expected_ndim
        or (expected_ndim == 3 and array.shape[2] != layout.channels)
        or array.dtype.kind != layout.dtype.kind
        or array.dtype.itemsize != layout.dtype.itemsize
    ):
        shape = "(H, W)" if expected_ndim == 2 else f"(H, W, {layout.channels})"
        got = f"{array.shape} {array.dtype}" if isinstance(array, np.ndarray) else type(array)
        raise EncodingError(
            f"{encoding} image array is {got}; expected {shape} {layout.dtype.name}"
        )
    if encoding in ("rgb8",):
        rgb = array
    elif encoding in ("bgr8", "8UC3"):
        rgb = array[..., ::-1]
    elif encoding == "rgba8":
        rgb = array[..., :3]
    elif encoding == "bgra8":
        rgb = array[..., 2::-1]
    elif encoding in ("mono8", "8UC1"):
        rgb = np.repeat(array[..., None], 3, axis=2)
    elif encoding == "mono16":
        rgb = np.repeat((array >> 8).astype(np.uint8)[..., None], 3, axis=2)
    else:  # yuv422 (UYVY) / yuv422_yuy2 (YUYV)
        import cv2

        if array.shape[1] % 2:
            raise EncodingError(f"{encoding} image width {array.shape[1]} is odd; expected even")
        code = cv2.COLOR_YUV2RGB_UYVY if encoding == "yuv422" else cv2.COLOR_YUV2RGB_YUY2
        rgb = cv2.cvtColor(np.ascontiguousarray(array), code)
    return np.ascontiguousarray(rgb)


def encode_image(array: np.ndarray, encoding: str) -> tuple[np.ndarray, int]:
    """Encode an array as ``sensor_msgs/Image`` bytes (little endian, no row padding).

    Args:
        array: ``(H, W)`` or ``(H, W, C)`` with the encoding's channels; dtype must match the
            encoding's element type (uint8, uint16 or float32).
        encoding: one of ``ENCODINGS``.

    Returns:
        ``(data, step)``: ``data`` a flat C-contiguous uint8 array of ``H * step`` bytes
        (publish it with ``is_bigendian = 0``), ``step = W * bytes per pixel``.

    Raises:
        EncodingError: unknown encoding, or a shape/dtype that does not fit it.
    """
    layout = _layout(encoding)
    if not isinstance(array, np.ndarray):
        raise EncodingError(f"{encoding} image must be a numpy array, got {type(array).__name__}")
    shape_ok = array.ndim == 2 if layout.channels == 1 else (
        array.ndim == 3 and array.shape[2] == layout.channels
    )
    if array.ndim == 3 and layout.channels == 1 and array.shape[2] == 1:
        array, shape_ok = array[..., 0], True
    if not shape_ok or array.dtype.kind != layout.dtype.kind or (
        array.dtype.itemsize != layout.dtype.itemsize
    ):
        shape = "(H, W)" if layout.channels == 1 else f"(H, W, {layout.channels})"
        raise EncodingError(
            f"{encoding} image array is {array.shape} {array.dtype}; expected {shape} "
            f"{layout.dtype.name}"
        )
    _check_dimension("height", array.shape[0])
    _check_dimension("width", array.shape[1])
    pixels = np.ascontiguousarray(array, dtype=layout.dtype)  # little endian
    if pixels.nbytes > MAX_DATA_BYTES:
        raise EncodingError(
            f"{encoding} image has {pixels.nbytes} bytes; expected at most {MAX_DATA_BYTES}"
        )
    return pixels.reshape(-1).view(np.uint8), array.shape[1] * layout.bytes_per_pixel


def encode_depth_32fc1(depth: np.ndarray) -> tuple[np.ndarray, int]:
    """Encode an ``(H, W)`` depth map in metres as ``32FC1`` (NaN = invalid, REP 118).

    Any float or integer dtype is converted to float32.

    Returns:
        ``(data, step)`` as ``encode_image``; ``step = 4 * W``.

    Raises:
        EncodingError: not a 2-D (or ``(H, W, 1)``) numeric array.
    """
    if not isinstance(depth, np.ndarray) or depth.dtype.kind not in "fiu" or not (
        depth.ndim == 2 or (depth.ndim == 3 and depth.shape[2] == 1)
    ):
        got = f"{depth.shape} {depth.dtype}" if isinstance(depth, np.ndarray) else type(depth)
        raise EncodingError(f"depth array is {got}; expected (H, W) float metres")
    return encode_image(depth.astype(np.float32, copy=False).reshape(depth.shape[:2]), "32FC1")


def _compressed_bytes(data: Any) -> np.ndarray:
    try:
        raw = np.frombuffer(data, dtype=np.uint8)
    except (TypeError, ValueError):
        raise EncodingError(
            f"compressed image data of type {type(data).__name__} is not a byte buffer"
        ) from None
    if raw.size == 0:
        raise EncodingError("compressed image data is empty; expected jpeg or png bytes")
    if raw.size > MAX_DATA_BYTES:
        raise EncodingError(
            f"compressed image data has {raw.size} bytes; expected at most {MAX_DATA_BYTES}"
        )
    return raw


_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# JPEG start-of-frame markers (baseline, progressive, lossless, arithmetic ...): they carry
# the frame size. C4 (DHT), C8 (JPG) and CC (DAC) share the range but are not frames.
_JPEG_SOF = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}


def _png_size(raw: memoryview) -> tuple[int, int] | None:
    # signature, then the IHDR chunk: length (13), b"IHDR", width, height (big endian)
    if len(raw) < 24 or bytes(raw[12:16]) != b"IHDR":
        return None
    return int.from_bytes(raw[16:20], "big"), int.from_bytes(raw[20:24], "big")


_JPEG_FILL = re.compile(rb"\xff+")
_JPEG_MAX_SEGMENTS = 4096  # before the frame header; real files have a few dozen


def _jpeg_size(raw: memoryview) -> tuple[int, int] | None:
    i = 2  # after SOI (FF D8)
    n = len(raw)
    for _ in range(_JPEG_MAX_SEGMENTS):
        fill = _JPEG_FILL.match(raw, i)  # a marker: one or more FF, then its code
        if fill is None or fill.end() >= n:
            return None  # not at a marker: corrupt or truncated
        marker = raw[fill.end()]
        i = fill.end() + 1
        if marker == 0x01 or 0xD0 <= marker <= 0xD7:  # TEM, RSTn: no length
            continue
        if marker in (0xD9, 0xDA) or i + 2 > n:  # EOI or scan data before any frame header
            return None
        length = int.from_bytes(raw[i:i + 2], "big")
        if length < 2:
            return None
        if marker in _JPEG_SOF:
            if length < 7 or i + 7 > n:
                return None
            # length (2), precision (1), height (2), width (2)
            return int.from_bytes(raw[i + 5:i + 7], "big"), int.from_bytes(raw[i + 3:i + 5], "big")
        i += length
    return None


def _other_size(raw: bytes) -> tuple[int, int] | None:
    """Size from any other header Pillow reads (tiff, webp, bmp ...), without decoding."""
    try:
        from PIL import Image
    except ImportError:  # pragma: no cover - pillow is an install requirement
        return None
    try:
        # Our own limit applies below; Pillow's bomb warning would be a stray log line.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(raw)) as im:
                width, height = im.size
    except Image.DecompressionBombError:
        # Pillow refuses headers over 2 * Image.MAX_IMAGE_PIXELS without telling the size
        limit = 2 * int(Image.MAX_IMAGE_PIXELS or 0)
        raise EncodingError(
            f"compressed image header claims more than {limit} pixels; expected a jpeg or "
            "png camera image of a usable size"
        ) from None
    except Exception:  # Pillow raises many types for bytes it cannot identify
        return None
    return int(width), int(height)


def _undecodable(raw: np.ndarray, format: str) -> EncodingError:
    return EncodingError(
        f"compressed image data ({raw.size} bytes, format {format!r}) could not be decoded "
        "as jpeg or png"
    )


def _checked_compressed(data: Any, format: str) -> tuple[np.ndarray, tuple[int, int]]:
    """The bytes and the (width, height) their header gives, or EncodingError."""
    if "compressedDepth" in format:
        raise EncodingError(
            f"compressed image format {format!r} is a depth format; expected a jpeg or png "
            "colour image"
        )
    raw = _compressed_bytes(data)
    view = memoryview(raw)
    if bytes(view[:8]) == _PNG_SIGNATURE:
        size = _png_size(view)
    elif bytes(view[:2]) == b"\xff\xd8":
        size = _jpeg_size(view)
    else:
        size = _other_size(raw.tobytes())
    if size is None:
        raise _undecodable(raw, format)
    return raw, size


def compressed_image_size(data: Any, format: str = "") -> tuple[int, int]:
    """``(width, height)`` of ``CompressedImage`` bytes, read from the header alone.

    Nothing is decoded, so a tiny message that claims a huge image can be rejected before
    it costs any memory.

    Raises:
        EncodingError: empty/oversized data, a depth format, or no readable image header.
    """
    return _checked_compressed(data, format)[1]


def decode_compressed(data: Any, format: str = "", max_pixels: int | None = None,
                      check: Callable[[int, int], None] | None = None) -> np.ndarray:
    """Decode ``sensor_msgs/CompressedImage`` jpeg/png bytes to ``(H, W, 3)`` uint8 RGB.

    The size is read from the image header first; an image larger than ``max_pixels`` (or
    with a side over ``MAX_DIMENSION``) is rejected without being decoded.

    Args:
        data: the message's ``data``.
        format: the message's ``format`` (``"jpeg"``, ``"png"``, ``"bgr8; jpeg compressed
            bgr8"`` ...); ``compressedDepth`` formats are rejected.
        max_pixels: the most pixels (width x height) accepted; ``None``:
            ``MAX_COMPRESSED_PIXELS``.
        check: called first with the header's ``(width, height)``, before the limits above
            and any decoding; it raises to refuse the image (the node's own size rules).

    Raises:
        EncodingError: empty/oversized data, a depth format, an image too large, or bytes
            that do not decode.
    """
    import cv2

    raw, (width, height) = _checked_compressed(data, format)
    if check is not None:
        check(width, height)
    limit = MAX_COMPRESSED_PIXELS if max_pixels is None else int(max_pixels)
    if width * height > limit or width > MAX_DIMENSION or height > MAX_DIMENSION:
        raise EncodingError(
            f"compressed image is {width}x{height} = {width * height} pixels; expected at "
            f"most {limit} pixels and sides of at most {MAX_DIMENSION}"
        )
    if width < 1 or height < 1:
        raise _undecodable(raw, format)
    image = cv2.imdecode(raw, cv2.IMREAD_UNCHANGED)
    if image is None:
        raise _undecodable(raw, format)
    if image.dtype == np.uint16:
        image = (image >> 8).astype(np.uint8)
    if image.ndim == 2:
        return np.ascontiguousarray(np.repeat(image[..., None], 3, axis=2))
    if image.shape[2] == 4:
        return cv2.cvtColor(image, cv2.COLOR_BGRA2RGB)
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def encode_compressed(rgb: np.ndarray, format: str = "jpeg",
                      quality: int = 90) -> tuple[bytes, str]:
    """Compress ``(H, W, 3)`` uint8 RGB to jpeg or png for a ``CompressedImage``.

    Returns:
        ``(data, format_string)``, the format string as image_transport writes it
        (``"rgb8; jpeg compressed bgr8"``).

    Raises:
        EncodingError: bad array or a format other than jpeg/png.
    """
    import cv2

    if not isinstance(rgb, np.ndarray) or rgb.dtype != np.uint8 or rgb.ndim != 3 or (
        rgb.shape[2] != 3
    ):
        got = f"{rgb.shape} {rgb.dtype}" if isinstance(rgb, np.ndarray) else type(rgb)
        raise EncodingError(f"image to compress is {got}; expected (H, W, 3) uint8 RGB")
    if format not in ("jpeg", "png"):
        raise EncodingError(
            f"compression format {format!r} is not supported; expected jpeg or png"
        )
    if format == "jpeg":
        params = [cv2.IMWRITE_JPEG_QUALITY, int(quality)]
    else:
        params = [cv2.IMWRITE_PNG_COMPRESSION, 3]
    ok, buf = cv2.imencode(f".{'jpg' if format == 'jpeg' else 'png'}",
                           cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), params)
    if not ok:
        raise EncodingError(f"OpenCV could not encode a {rgb.shape} image as {format}")
    return buf.tobytes(), f"rgb8; {format} compressed bgr8"


def decode_image_msg(msg: Any) -> np.ndarray:
    """``decode_image`` on an object with ``sensor_msgs/Image`` fields."""
    return decode_image(msg.data, msg.width, msg.height, msg.encoding, msg.step,
                        msg.is_bigendian)


def rgb8_from_msg(msg: Any) -> np.ndarray:
    """``(H, W, 3)`` uint8 RGB from an object with ``sensor_msgs/Image`` fields."""
    return to_rgb8(decode_image_msg(msg), msg.encoding)


def rgb8_from_compressed_msg(msg: Any, max_pixels: int | None = None) -> np.ndarray:
    """``(H, W, 3)`` uint8 RGB from an object with ``sensor_msgs/CompressedImage`` fields."""
    return decode_compressed(msg.data, msg.format, max_pixels)
