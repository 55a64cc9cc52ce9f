"""PointCloud2 layout and packed buffers, built from numpy arrays and never per point.

Pure numpy, no ROS imports: the transport shells copy a :class:`CloudBuffer` into a
``sensor_msgs/PointCloud2``. The layouts are depth_image_proc's: an organised cloud
(height x width = the image), ``is_dense = False``, NaN for invalid points, ``x, y, z``
float32 at offsets 0/4/8 and, with colour, ``rgb`` float32 at offset 16 whose four bytes are
``b, g, r, 0`` (little endian), i.e. the uint32 ``(r << 16) | (g << 8) | b``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

__all__ = [
    "INT8",
    "UINT8",
    "INT16",
    "UINT16",
    "INT32",
    "UINT32",
    "FLOAT32",
    "FLOAT64",
    "XYZ_FIELDS",
    "XYZ_POINT_STEP",
    "XYZRGB_FIELDS",
    "XYZRGB_POINT_STEP",
    "CloudBuffer",
    "PointCloudError",
    "PointFieldSpec",
    "cloud_from_records",
    "cloud_points",
    "invalidate_points",
    "dtype_from_fields",
    "pack_cloud",
    "pack_rgb",
    "unpack_cloud",
    "unpack_rgb",
]

# sensor_msgs/PointField datatype constants.
INT8 = 1
UINT8 = 2
INT16 = 3
UINT16 = 4
INT32 = 5
UINT32 = 6
FLOAT32 = 7
FLOAT64 = 8

# Datatype -> numpy type without byte order (added per cloud).
_NUMPY_TYPES: dict[int, str] = {
    INT8: "i1",
    UINT8: "u1",
    INT16: "i2",
    UINT16: "u2",
    INT32: "i4",
    UINT32: "u4",
    FLOAT32: "f4",
    FLOAT64: "f8",
}


class PointCloudError(ValueError):
    """Raised for a point-cloud layout or buffer that does not describe a valid cloud."""


@dataclass(frozen=True)
class PointFieldSpec:
    """One ``sensor_msgs/PointField``: a named value at a byte offset inside each point."""

    name: str
    offset: int  # bytes from the start of the point
    datatype: int  # one of INT8 ... FLOAT64
    count: int = 1  # number of consecutive values


XYZ_FIELDS: tuple[PointFieldSpec, ...] = (
    PointFieldSpec("x", 0, FLOAT32),
    PointFieldSpec("y", 4, FLOAT32),
    PointFieldSpec("z", 8, FLOAT32),
)
XYZ_POINT_STEP = 16  # bytes; 12..15 are padding, as depth_image_proc lays it out

XYZRGB_FIELDS: tuple[PointFieldSpec, ...] = XYZ_FIELDS + (PointFieldSpec("rgb", 16, FLOAT32),)
XYZRGB_POINT_STEP = 32  # bytes; 12..15 and 20..31 are padding


@dataclass(frozen=True, eq=False)
class CloudBuffer:
    """Everything a ``sensor_msgs/PointCloud2`` needs besides its header.

    ``data`` is a 1-D contiguous uint8 array of ``row_step * height`` bytes, ready to hand
    to a message (``memoryview(data)`` / ``data.tobytes()``) without a per-byte Python list.
    """

    width: int
    height: int
    fields: tuple[PointFieldSpec, ...]
    point_step: int  # bytes per point
    row_step: int  # bytes per row
    is_bigendian: bool = False
    is_dense: bool = False  # organised clouds keep NaN points, so never dense
    data: np.ndarray = field(kw_only=True)  # (row_step * height,) uint8


def dtype_from_fields(
    fields: Sequence[PointFieldSpec], point_step: int, is_bigendian: bool = False
) -> np.dtype:
    """A numpy structured dtype with the fields' names, offsets and ``itemsize=point_step``.

    Fields with ``count > 1`` become sub-arrays of that length.

    Raises:
        PointCloudError: On an unknown datatype, a duplicate or empty name, a non-positive
            count, or a field that does not fit inside ``point_step`` bytes.
    """
    if point_step <= 0:
        raise PointCloudError(f"Point step {point_step} must be a positive number of bytes.")
    order = ">" if is_bigendian else "<"
    names: list[str] = []
    formats: list[object] = []
    offsets: list[int] = []
    for spec in fields:
        if spec.datatype not in _NUMPY_TYPES:
            raise PointCloudError(
                f"Point field {spec.name!r} has datatype {spec.datatype}; expected one of "
                f"1..8 (INT8..FLOAT64)."
            )
        if not spec.name or spec.name in names:
            raise PointCloudError(f"Point field name {spec.name!r} must be non-empty and unique.")
        if spec.count < 1:
            raise PointCloudError(f"Point field {spec.name!r} count {spec.count} must be >= 1.")
        base = np.dtype(order + _NUMPY_TYPES[spec.datatype])
        if spec.offset < 0 or spec.offset + base.itemsize * spec.count > point_step:
            raise PointCloudError(
                f"Point field {spec.name!r} at offset {spec.offset} ({spec.count} x "
                f"{base.itemsize} bytes) does not fit in a point of {point_step} bytes."
            )
        names.append(spec.name)
        formats.append(base if spec.count == 1 else (base, (spec.count,)))
        offsets.append(spec.offset)
    return np.dtype(
        {"names": names, "formats": formats, "offsets": offsets, "itemsize": point_step}
    )


def pack_rgb(rgb: np.ndarray) -> np.ndarray:
    """Pack (..., 3) uint8 RGB into the uint32 ``(r << 16) | (g << 8) | b`` of PCL/ROS."""
    rgb = np.asarray(rgb)
    r = rgb[..., 0].astype(np.uint32)
    g = rgb[..., 1].astype(np.uint32)
    b = rgb[..., 2].astype(np.uint32)
    return (r << 16) | (g << 8) | b


def unpack_rgb(packed: np.ndarray) -> np.ndarray:
    """Unpack ``rgb`` values (float32 bit patterns or uint32) to (..., 3) uint8 RGB."""
    packed = np.asarray(packed)
    if packed.dtype.kind == "f":
        packed = np.ascontiguousarray(packed, dtype=packed.dtype.newbyteorder("=")).view(np.uint32)
    packed = packed.astype(np.uint32, copy=False)
    out = np.empty(packed.shape + (3,), dtype=np.uint8)
    out[..., 0] = (packed >> 16) & 0xFF
    out[..., 1] = (packed >> 8) & 0xFF
    out[..., 2] = packed & 0xFF
    return out


def pack_cloud(xyz: np.ndarray, rgb: np.ndarray | None = None) -> CloudBuffer:
    """Pack an organised point grid (and optional colours) into a PointCloud2 buffer.

    Args:
        xyz: (H, W, 3) points in metres (float32, or anything castable), NaN where invalid.
        rgb: Optional (H, W, 3) uint8 colours of the same grid (decimate them as the points).

    Returns:
        A little-endian organised cloud, ``XYZ_FIELDS`` / 16-byte points without colour or
        ``XYZRGB_FIELDS`` / 32-byte points with it, padding bytes zero.

    Raises:
        PointCloudError: If the shapes are wrong or do not match.
    """
    xyz = np.asarray(xyz)
    if xyz.ndim != 3 or xyz.shape[2] != 3:
        raise PointCloudError(f"Points of shape {xyz.shape} must be an (H, W, 3) grid.")
    height, width = xyz.shape[:2]
    point_step = XYZ_POINT_STEP
    if rgb is not None:
        rgb = np.asarray(rgb)
        if rgb.shape != xyz.shape:
            raise PointCloudError(
                f"Colours of shape {rgb.shape} must match the points' shape {xyz.shape}."
            )
        if rgb.dtype != np.uint8:
            raise PointCloudError(f"Colours dtype {rgb.dtype} must be uint8.")
        point_step = XYZRGB_POINT_STEP
    records = np.zeros((height, width, point_step // 4), dtype="<f4")
    # One 1-D strided copy per value: numpy's copies with a short innermost axis (all of x,
    # y, z at once, or three colour bytes) are 2-3x slower than three plane copies.
    for i in range(3):
        records[..., i] = xyz[..., i]
    if rgb is not None:
        # rgb at offset 16 is the uint32 (r << 16) | (g << 8) | b, little endian: bytes b,
        # g, r, 0. Written as bytes, so the bit pattern is exact (as a float32 it is a
        # denormal, which float arithmetic might flush to zero).
        rgb_bytes = records.view(np.uint8)[..., 16:19]
        for i in range(3):
            rgb_bytes[..., i] = rgb[..., 2 - i]
    return cloud_from_records(records, rgb is not None)


def cloud_from_records(records: np.ndarray, colour: bool) -> CloudBuffer:
    """Wrap finished point records as a `CloudBuffer` without copying.

    Args:
        records: (H, W, 8) float32 (``XYZRGB_FIELDS``, 32-byte points) if ``colour`` else
            (H, W, 4) (``XYZ_FIELDS``, 16 bytes), C-contiguous, little endian, padding zero
            and ``rgb`` holding the packed colour's bit pattern: what :func:`pack_cloud` and
            ``DepthEstimator.estimate_with_cloud`` build.
        colour: whether the records carry the ``rgb`` field.

    Raises:
        PointCloudError: If the shape, dtype or memory layout is not the one described.
    """
    fields, point_step = (XYZRGB_FIELDS, XYZRGB_POINT_STEP) if colour else (
        XYZ_FIELDS, XYZ_POINT_STEP)
    floats = point_step // 4
    if (records.ndim != 3 or records.shape[2] != floats
            or records.dtype != np.dtype("<f4") or not records.flags.c_contiguous):
        raise PointCloudError(
            f"Point records of shape {records.shape}, dtype {records.dtype} must be a "
            f"C-contiguous (H, W, {floats}) little-endian float32 array for "
            f"{'coloured' if colour else 'xyz'} points."
        )
    height, width = records.shape[:2]
    return CloudBuffer(
        width=width,
        height=height,
        fields=fields,
        point_step=point_step,
        row_step=point_step * width,
        is_bigendian=False,
        is_dense=False,
        data=records.reshape(-1).view(np.uint8),
    )


def cloud_points(cloud: CloudBuffer) -> np.ndarray:
    """Writable (H, W, 3) float32 view of the x, y, z of a cloud built by `pack_cloud` or
    `cloud_from_records` (little endian, xyz at offsets 0/4/8)."""
    if cloud.is_bigendian or cloud.point_step % 4 or cloud.fields[:3] != XYZ_FIELDS:
        raise PointCloudError("Cloud must be little endian with x, y, z float32 at 0/4/8.")
    records = cloud.data.view("<f4").reshape(cloud.height, cloud.width, cloud.point_step // 4)
    return records[..., :3]


def invalidate_points(cloud: CloudBuffer, invalid: np.ndarray) -> None:
    """Set the points of an organised cloud to NaN where ``invalid`` (H, W) is True."""
    xyz = cloud_points(cloud)
    if invalid.shape != xyz.shape[:2]:
        raise PointCloudError(f"Mask of shape {invalid.shape} must match the cloud's "
                              f"{xyz.shape[:2]}.")
    np.copyto(xyz, np.float32(np.nan), where=invalid[..., None])


def unpack_cloud(
    data: bytes | bytearray | memoryview | np.ndarray | Sequence[int],
    fields: Sequence[PointFieldSpec],
    point_step: int,
    width: int,
    height: int,
    is_bigendian: bool = False,
    row_step: int | None = None,
) -> np.ndarray:
    """View a PointCloud2 byte buffer as an (H, W) structured array of its fields.

    Works for any field layout. The result shares memory with ``data`` when it is a buffer
    (read-only for ``bytes``); a list of ints is converted first.

    Args:
        data: The message's ``data`` bytes.
        fields: Its fields (``PointFieldSpec`` or anything with ``name``, ``offset``,
            ``datatype``, ``count`` attributes, such as ``sensor_msgs/PointField``).
        point_step: Bytes per point.
        width: Points per row.
        height: Rows (1 for an unorganised cloud).
        is_bigendian: Byte order of the values.
        row_step: Bytes per row; defaults to ``point_step * width``.

    Raises:
        PointCloudError: If the layout is invalid or the buffer is too short.
    """
    specs = [
        spec
        if isinstance(spec, PointFieldSpec)
        else PointFieldSpec(str(spec.name), int(spec.offset), int(spec.datatype), int(spec.count))
        for spec in fields
    ]
    dtype = dtype_from_fields(specs, point_step, is_bigendian)
    if width < 0 or height < 0:
        raise PointCloudError(f"Cloud size {width}x{height} must not be negative.")
    if row_step is None:
        row_step = point_step * width
    if row_step < point_step * width:
        raise PointCloudError(
            f"Row step {row_step} must be at least point_step * width = {point_step * width}."
        )
    if isinstance(data, (bytes, bytearray, memoryview)):
        buffer = np.frombuffer(data, dtype=np.uint8)
    else:
        buffer = np.asarray(data)
        if buffer.dtype != np.uint8:
            buffer = buffer.astype(np.uint8)
        buffer = buffer.reshape(-1)
    needed = row_step * height
    if buffer.size < needed:
        raise PointCloudError(
            f"Cloud data has {buffer.size} bytes; {width}x{height} points with row step "
            f"{row_step} need {needed}."
        )
    if height == 0 or width == 0:
        return np.zeros((height, width), dtype=dtype)
    return np.ndarray(
        shape=(height, width),
        dtype=dtype,
        buffer=buffer,
        offset=0,
        strides=(row_step, point_step),
    )
