"""Messages ↔ numpy for the transport shells (no ROS imports).

Input messages (``Image``, ``CompressedImage``, ``CameraInfo``) are parsed into numpy and
`CameraIntrinsics`, raising `InputError` with one clear sentence for anything unusable.
Output messages are filled from plain arrays through a `MessageTypes` bundle, so the same
functions serve ``sensor_msgs.msg`` (rclpy) and ``depth_estimation_ros.dds.messages`` (field
names match). Byte payloads go in as one buffer copy, never element by element.
"""

from __future__ import annotations

import array
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from depth_estimation_ros.core.camera import CameraInfoError, CameraIntrinsics
from depth_estimation_ros.core.encodings import (
    SUPPORTED_INPUT_ENCODINGS,
    EncodingError,
    decode_compressed,
    decode_image,
    to_rgb8,
)
from depth_estimation_ros.core.pointcloud import CloudBuffer
from depth_estimation_ros.core.standin import RangeReading, Scan, StaticTransform
from depth_estimation_ros.node.diagnostics import DiagnosticReport

_LEVEL_NAMES = ("OK", "WARN", "ERROR", "STALE")
MIN_SIDE = 2  # pixels; the estimator needs at least 2x2


class InputError(ValueError):
    """An input message the node cannot use (bad encoding, size, data or intrinsics)."""


def dds_byte_array(buffer: memoryview) -> memoryview:
    """Byte-field value for DDS messages: the buffer itself (encoded in one copy)."""
    return buffer


def ros_byte_array(buffer: memoryview) -> array.array:
    """Byte-field value for rclpy messages: ``array.array('B')`` passes their setter check
    without the per-element scan a ``bytes`` value gets."""
    out = array.array("B")
    out.frombytes(buffer)
    return out


def dds_float32_array(values: np.ndarray) -> np.ndarray:
    """float32[] field value for DDS messages: the (N,) float32 array itself."""
    return values


def ros_float32_array(values: np.ndarray) -> array.array:
    """float32[] field value for rclpy messages: ``array.array('f')``, one copy (rclpy's
    setter rejects numpy scalars element by element, and takes an array.array as it is)."""
    out = array.array("f")
    out.frombytes(np.ascontiguousarray(values, dtype=np.float32).tobytes())
    return out


@dataclass(frozen=True)
class MessageTypes:
    """The message classes a shell publishes and receives, plus its byte-field adapter."""

    Image: type
    CompressedImage: type
    CameraInfo: type
    PointCloud2: type
    PointField: type
    Header: type
    Time: type
    DiagnosticArray: type
    DiagnosticStatus: type
    KeyValue: type
    byte_array: Callable[[memoryview], Any] = dds_byte_array
    # The stand-in sensors' types; None in a shell that does not publish them.
    LaserScan: type | None = None
    Range: type | None = None  # the distribution's layout (Jazzy has `variance`)
    TFMessage: type | None = None
    TransformStamped: type | None = None
    Transform: type | None = None
    Vector3: type | None = None
    Quaternion: type | None = None
    float32_array: Callable[[np.ndarray], Any] = dds_float32_array


# -- input --------------------------------------------------------------------------------


def stamp_and_frame(msg: Any) -> tuple[tuple[int, int], str]:
    """Return ((sec, nanosec), frame_id) of a message's header."""
    header = msg.header
    return (int(header.stamp.sec), int(header.stamp.nanosec)), str(header.frame_id)


def _check_size(width: int, height: int, max_pixels: int, what: str) -> None:
    if width < MIN_SIDE or height < MIN_SIDE:
        raise InputError(
            f"{what} is {width}x{height} pixels; expected at least {MIN_SIDE}x{MIN_SIDE}."
        )
    if width * height > max_pixels:
        raise InputError(
            f"{what} is {width}x{height} = {width * height} pixels; expected at most "
            f"{max_pixels} (parameter max_input_pixels)."
        )


def image_to_rgb(msg: Any, max_pixels: int) -> np.ndarray:
    """Decode a ``sensor_msgs/Image`` to (H, W, 3) uint8 RGB.

    Raises:
        InputError: unsupported encoding, size out of range, or data/step inconsistent.
    """
    width, height, encoding = int(msg.width), int(msg.height), str(msg.encoding)
    if encoding not in SUPPORTED_INPUT_ENCODINGS:
        raise InputError(
            f"Image encoding {encoding!r} is not supported; expected one of "
            f"{', '.join(SUPPORTED_INPUT_ENCODINGS)}."
        )
    _check_size(width, height, max_pixels, "Image")
    try:
        pixels = decode_image(
            msg.data, width, height, encoding, int(msg.step), bool(msg.is_bigendian)
        )
        return to_rgb8(pixels, encoding)
    except EncodingError as exc:
        raise InputError(str(exc)) from exc


def compressed_image_to_rgb(msg: Any, max_pixels: int) -> np.ndarray:
    """Decode a ``sensor_msgs/CompressedImage`` (JPEG/PNG) to (H, W, 3) uint8 RGB.

    The size is read from the image header and checked before anything is decoded, so a
    small message claiming a huge image (a decompression bomb) costs no memory.

    Raises:
        InputError: undecodable data, unsupported format, or size out of range.
    """
    def check(width: int, height: int) -> None:  # InputError passes through
        _check_size(width, height, max_pixels, "Compressed image")

    try:
        rgb = decode_compressed(msg.data, str(msg.format), check=check)
    except EncodingError as exc:
        raise InputError(str(exc)) from exc
    check(rgb.shape[1], rgb.shape[0])  # what was decoded, should a header have lied
    return rgb


def intrinsics_from_camera_info(msg: Any) -> CameraIntrinsics:
    """Intrinsics from a ``sensor_msgs/CameraInfo``'s K at its width x height.

    Raises:
        InputError: zero size, or K with zeros, NaN or infinities where values are needed.
    """
    width, height = int(msg.width), int(msg.height)
    if width < 1 or height < 1:
        raise InputError(
            f"CameraInfo is for a {width}x{height} image; expected a calibrated camera with "
            f"a positive width and height."
        )
    k = np.asarray(msg.k, dtype=np.float64)
    if k.size != 9:
        raise InputError(f"CameraInfo K has {k.size} values; expected 9 (3x3, row-major).")
    try:
        return CameraIntrinsics.from_matrix(k.reshape(3, 3), width, height)
    except CameraInfoError as exc:
        raise InputError(str(exc)) from exc


# -- output -------------------------------------------------------------------------------


def header_msg(types: MessageTypes, stamp: tuple[int, int], frame_id: str) -> Any:
    """A ``std_msgs/Header`` with the given stamp (sec, nanosec) and frame_id."""
    return types.Header(stamp=types.Time(sec=stamp[0], nanosec=stamp[1]), frame_id=frame_id)


def depth_image_msg(
    types: MessageTypes, depth: np.ndarray, stamp: tuple[int, int], frame_id: str
) -> Any:
    """A ``32FC1`` ``sensor_msgs/Image`` (REP 118) from (H, W) float32 metres, NaN invalid."""
    if depth.ndim != 2:
        raise ValueError(f"depth must be a (H, W) array, got shape {depth.shape}")
    pixels = np.ascontiguousarray(depth, dtype="<f4")  # little endian, is_bigendian = 0
    return _image_msg(types, pixels, "32FC1", stamp, frame_id)


def rgb_image_msg(
    types: MessageTypes, rgb: np.ndarray, stamp: tuple[int, int], frame_id: str
) -> Any:
    """An ``rgb8`` ``sensor_msgs/Image`` from (H, W, 3) uint8."""
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise ValueError(f"rgb must be a (H, W, 3) uint8 array, got {rgb.shape} {rgb.dtype}")
    return _image_msg(types, np.ascontiguousarray(rgb), "rgb8", stamp, frame_id)


def _image_msg(types: MessageTypes, pixels: np.ndarray, encoding: str,
               stamp: tuple[int, int], frame_id: str) -> Any:
    """A ``sensor_msgs/Image`` of C-contiguous little-endian ``pixels`` (H, W[, C]), rows
    unpadded, the bytes in one copy."""
    height, width = pixels.shape[:2]
    return types.Image(
        header=header_msg(types, stamp, frame_id),
        height=height,
        width=width,
        encoding=encoding,
        is_bigendian=0,
        step=pixels.strides[0],
        data=types.byte_array(memoryview(pixels.reshape(-1).view(np.uint8))),
    )


def laser_scan_msg(
    types: MessageTypes, scan: Scan, stamp: tuple[int, int], frame_id: str
) -> Any:
    """A ``sensor_msgs/LaserScan`` (no intensities) from a `Scan`."""
    return types.LaserScan(
        header=header_msg(types, stamp, frame_id),
        angle_min=float(scan.angle_min),
        angle_max=float(scan.angle_max),
        angle_increment=float(scan.angle_increment),
        time_increment=float(scan.time_increment),
        scan_time=float(scan.scan_time),
        range_min=float(scan.range_min),
        range_max=float(scan.range_max),
        ranges=types.float32_array(scan.ranges),
    )


def range_msg(
    types: MessageTypes, reading: RangeReading, stamp: tuple[int, int], frame_id: str
) -> Any:
    """A ``sensor_msgs/Range`` from a `RangeReading`; Jazzy's ``variance`` keeps its
    default 0 (unknown), and Humble's type has none."""
    return types.Range(
        header=header_msg(types, stamp, frame_id),
        radiation_type=int(reading.radiation_type),
        field_of_view=float(reading.field_of_view),
        min_range=float(reading.min_range),
        max_range=float(reading.max_range),
        range=float(reading.range),
    )


def tf_message(
    types: MessageTypes, transforms: Sequence[StaticTransform], stamp: tuple[int, int]
) -> Any:
    """A ``tf2_msgs/TFMessage`` holding ``transforms``, all stamped ``stamp``."""
    return types.TFMessage(transforms=[
        types.TransformStamped(
            header=header_msg(types, stamp, t.parent),
            child_frame_id=t.child,
            transform=types.Transform(
                translation=types.Vector3(x=float(t.translation[0]), y=float(t.translation[1]),
                                          z=float(t.translation[2])),
                rotation=types.Quaternion(x=float(t.rotation[0]), y=float(t.rotation[1]),
                                          z=float(t.rotation[2]), w=float(t.rotation[3])),
            ),
        )
        for t in transforms
    ])


def camera_info_msg(
    types: MessageTypes, intrinsics: CameraIntrinsics, stamp: tuple[int, int], frame_id: str
) -> Any:
    """A ``sensor_msgs/CameraInfo`` for ``intrinsics`` (no distortion: the depth image is
    produced in the ideal pinhole model of K)."""
    fields = intrinsics.to_camera_info_fields()
    return types.CameraInfo(
        header=header_msg(types, stamp, frame_id),
        height=int(fields["height"]),
        width=int(fields["width"]),
        distortion_model=str(fields["distortion_model"]),
        d=[float(v) for v in fields["d"]],
        k=[float(v) for v in fields["k"]],
        r=[float(v) for v in fields["r"]],
        p=[float(v) for v in fields["p"]],
    )


def point_cloud_msg(
    types: MessageTypes, cloud: CloudBuffer, stamp: tuple[int, int], frame_id: str
) -> Any:
    """A ``sensor_msgs/PointCloud2`` from a packed `CloudBuffer`."""
    return types.PointCloud2(
        header=header_msg(types, stamp, frame_id),
        height=cloud.height,
        width=cloud.width,
        fields=[
            types.PointField(name=f.name, offset=f.offset, datatype=f.datatype, count=f.count)
            for f in cloud.fields
        ],
        is_bigendian=bool(cloud.is_bigendian),
        point_step=cloud.point_step,
        row_step=cloud.row_step,
        data=types.byte_array(memoryview(np.ascontiguousarray(cloud.data).reshape(-1))),
        is_dense=bool(cloud.is_dense),
    )


def diagnostic_array_msg(
    types: MessageTypes, status: DiagnosticReport, stamp: tuple[int, int]
) -> Any:
    """A ``diagnostic_msgs/DiagnosticArray`` holding one status."""
    level = getattr(types.DiagnosticStatus, _LEVEL_NAMES[status.level])
    return types.DiagnosticArray(
        header=header_msg(types, stamp, ""),
        status=[
            types.DiagnosticStatus(
                level=level,
                name=status.name,
                message=status.message,
                hardware_id=status.hardware_id,
                values=[types.KeyValue(key=k, value=v) for k, v in status.values],
            )
        ],
    )
