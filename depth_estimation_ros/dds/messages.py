"""ROS 2 message types under their DDS names, for cyclonedds-python (plain CDR, XCDR1).

Each class is an ``IdlStruct`` dataclass named like the type rosidl generates for DDS
(``sensor_msgs/msg/Image`` is ``sensor_msgs::msg::dds_::Image_``), final and keyless, with
field names, order and types exactly as in the ``.msg`` files, so a process that publishes
them is a ROS 2 peer on the wire.

Byte payloads (``Image.data``, ``CompressedImage.data``, ``PointCloud2.data``) are declared
``sequence<uint8>`` (that is what the XTypes type information announces), but are encoded by
one ``memcpy``-style copy instead of cyclonedds' element-wise default, which builds a Python
list of ints and costs tens of ms per 1 MB image. They accept ``bytes``, ``bytearray``,
``memoryview``, a ``numpy`` ``uint8`` array (any shape, C-contiguous or not) or a list of ints,
and decode to ``bytes`` (use ``np.frombuffer``).

Pinned behaviour of cyclonedds-python 11.0.1 this relies on (checked at import time and by
``test/test_dds_messages.py``): ``IDL.populate()`` builds ``StructMachine`` objects whose
``members_machines`` dict maps field names to machines; a ``sequence[uint8]`` field gets a
``PlainCdrV2SequenceOfPrimitiveMachine``, which we swap for a subclass of the library's own
``BytesMachine`` (the machine it uses for ``bytes`` fields: uint32 length, then the raw
bytes; the same CDR as ``sequence<uint8>`` in XCDR1 and XCDR2).
"""

import dataclasses
import struct
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from cyclonedds.idl import IdlStruct
from cyclonedds.idl import types as t
from cyclonedds.idl._machinery import (
    BytesMachine,
    PlainCdrV2SequenceOfPrimitiveMachine,
    StructMachine,
)
from cyclonedds.idl.annotations import final

from depth_estimation_ros.core import headroom

__all__ = [
    "CameraInfo",
    "CompressedImage",
    "DiagnosticArray",
    "DiagnosticStatus",
    "Header",
    "Image",
    "KeyValue",
    "LaserScan",
    "MESSAGE_TYPES",
    "PayloadEncoder",
    "GRAPH_TYPES",
    "graph_types",
    "range_type",
    "PointCloud2",
    "PointField",
    "Quaternion",
    "Range",
    "RangeHumble",
    "RegionOfInterest",
    "TFMessage",
    "Time",
    "Transform",
    "TransformStamped",
    "Vector3",
    "as_bytes_like",
    "ros_type_name",
    "type_hash",
]

# RIHS01 type hashes (REP 2016), identical for Humble, Iron and Jazzy. Computed with
# rosbags' type store (``get_typestore(Stores.ROS2_JAZZY).hash_rihs01(name)``); the test
# suite recomputes them, so a wrong constant fails there rather than on a ROS graph.
TYPE_HASHES: dict[str, str] = {
    "builtin_interfaces/msg/Time":
        "RIHS01_b106235e25a4c5ed35098aa0a61a3ee9c9b18d197f398b0e4206cea9acf9c197",
    "std_msgs/msg/Header":
        "RIHS01_f49fb3ae2cf070f793645ff749683ac6b06203e41c891e17701b1cb597ce6a01",
    "sensor_msgs/msg/Image":
        "RIHS01_d31d41a9a4c4bc8eae9be757b0beed306564f7526c88ea6a4588fb9582527d47",
    "sensor_msgs/msg/CompressedImage":
        "RIHS01_15640771531571185e2efc8a100baf923961a4d15d5569652e6cb6691e8e371a",
    "sensor_msgs/msg/CameraInfo":
        "RIHS01_b3dfd68ff46c9d56c80fd3bd4ed22c7a4ddce8c8348f2f59c299e73118e7e275",
    "sensor_msgs/msg/RegionOfInterest":
        "RIHS01_ad16bcba5f9131dcdba6fbded19f726f5440e3c513b4fb586dd3027eeed8abb1",
    "sensor_msgs/msg/PointField":
        "RIHS01_5c6a4750728c2bcfbbf7037225b20b02d4429634732146b742dee1726637ef01",
    "sensor_msgs/msg/PointCloud2":
        "RIHS01_9198cabf7da3796ae6fe19c4cb3bdd3525492988c70522628af5daa124bae2b5",
    "diagnostic_msgs/msg/KeyValue":
        "RIHS01_d68081eaa540288c5440753baecef0c4e16e81a5f78ad68902ded5100413bb42",
    "diagnostic_msgs/msg/DiagnosticStatus":
        "RIHS01_b0e3e692ea2d54a8af2f4ef1930e81556a2db55216b771f8a7d2724ed47bf0e4",
    "diagnostic_msgs/msg/DiagnosticArray":
        "RIHS01_5a8a36efb05fb25070fa0fb3810290c0e6cd4862b54a8fb975a1ee8dc55a333e",
    "sensor_msgs/msg/LaserScan":
        "RIHS01_64c191398013af96509d518dac71d5164f9382553fce5c1f8cca5be7924bd828",
    # Jazzy's Range (with ``float32 variance``); Humble's is `HUMBLE_RANGE_HASH`
    "sensor_msgs/msg/Range":
        "RIHS01_b42b62562e93cbfe9d42b82fe5994dfa3d63d7d5c90a317981703f7388adff3a",
    "geometry_msgs/msg/Vector3":
        "RIHS01_cc12fe83e4c02719f1ce8070bfd14aecd40f75a96696a67a2a1f37f7dbb0765d",
    "geometry_msgs/msg/Quaternion":
        "RIHS01_8a765f66778c8ff7c8ab94afcc590a2ed5325a1d9a076ffff38fbce36f458684",
    "geometry_msgs/msg/Transform":
        "RIHS01_beb83fbe698636351461f6f35d1abb20010c43d55374d81bd041f1ba2581fddc",
    "geometry_msgs/msg/TransformStamped":
        "RIHS01_0a241f87d04668d94099cbb5ba11691d5ad32c2f29682e4eb5653424bd275206",
    "tf2_msgs/msg/TFMessage":
        "RIHS01_e369d0f05a23ae52508854b66f6aa0437f3449d652e8cbf22d5abe85d020f087",
    # the ROS graph (Iron and later; Humble sends no type hashes and ignores these)
    "rmw_dds_common/msg/Gid":
        "RIHS01_a8e2f2bd4b156011c7ed7618c1db625ac341c2dc3ff09b8dd107f33f20dcec07",
    "rmw_dds_common/msg/NodeEntitiesInfo":
        "RIHS01_8ecbfcad87fa92b9c1458f525b5faf5bf7cab9427a92524d72a394112992b5ab",
    "rmw_dds_common/msg/ParticipantEntitiesInfo":
        "RIHS01_e725f4a506958c79f95dd693b965722c57b19cd18e7eff984f49561b93dc985d",
}

# Humble's Range (no ``variance``). Humble endpoints send no type hashes; kept for the record
# and for a Humble peer that logs it.
HUMBLE_RANGE_HASH = "RIHS01_9430b1915b94d4268ff903679e8ecd09b6a67d331bd028738ec1eeb592891ebd"


def as_bytes_like(value: Any) -> bytes | bytearray | memoryview:
    """Return ``value`` as a flat byte buffer without per-element Python conversion.

    Args:
        value: bytes, bytearray, memoryview, numpy uint8 array or a sequence of ints 0..255.

    Returns:
        An object ``bytearray`` slice assignment accepts (numpy arrays are not accepted
        there directly because they also implement the number protocol).

    Raises:
        TypeError: ``value`` is not byte-like, or a numpy array whose dtype is not uint8.
    """
    if isinstance(value, (bytes, bytearray)):
        return value
    if isinstance(value, np.ndarray):
        if value.dtype != np.uint8:
            raise TypeError(
                f"byte field got a numpy array of dtype {value.dtype}; expected uint8 "
                "(use array.view(np.uint8) or encodings.encode_image for typed pixels)"
            )
        return memoryview(np.ascontiguousarray(value).reshape(-1))
    if isinstance(value, memoryview):
        if value.format == "B" and value.ndim == 1 and value.contiguous:
            return value
        if value.c_contiguous:
            return value.cast("B")
        return value.tobytes()
    if isinstance(value, (list, tuple)):
        return bytes(value)
    raise TypeError(
        f"byte field got {type(value).__name__}; expected bytes, bytearray, memoryview, "
        "a numpy uint8 array or a list of ints"
    )


def _check_bytes_like(value: Any, where: str) -> None:
    """Raise ``TypeError`` early (at construction) for values ``as_bytes_like`` would reject."""
    if isinstance(value, (bytes, bytearray, memoryview, list, tuple)):
        return
    if isinstance(value, np.ndarray) and value.dtype == np.uint8:
        return
    try:
        as_bytes_like(value)
    except TypeError as exc:
        raise TypeError(f"{where}: {exc}") from None


class _OctetSequenceMachine(BytesMachine):
    """``sequence<uint8>`` encoded in one copy; decodes to ``bytes``."""

    def serialize(self, buffer, value, *args, **kwargs):  # noqa: ANN001, D102
        super().serialize(buffer, as_bytes_like(value), *args, **kwargs)


class _FloatSequenceMachine(PlainCdrV2SequenceOfPrimitiveMachine):
    """``sequence<float32>`` that also takes a numpy array (the stock machine tests the
    value's truth, which numpy refuses); decodes to a list, as the stock one does."""

    def serialize(self, buffer, value, *args, **kwargs):  # noqa: ANN001, D102
        if isinstance(value, np.ndarray):
            value = value.reshape(-1).tolist()  # C floats -> Python floats in one call
        super().serialize(buffer, value, *args, **kwargs)


def _use_float_arrays(cls: type, *names: str) -> None:
    """Let the ``sequence[float32]`` fields ``names`` of ``cls`` take numpy arrays."""
    idl = cls.__idl__
    idl.populate()
    for machine in (idl.v1_machine, idl.v2_machine):
        for name in names:
            current = machine.members_machines[name]
            if type(current) is not PlainCdrV2SequenceOfPrimitiveMachine:
                raise RuntimeError(
                    f"cyclonedds built a {type(current).__name__} for {cls.__name__}.{name}; "
                    "expected PlainCdrV2SequenceOfPrimitiveMachine (is cyclonedds still 11.0.1?)"
                )
            replacement = _FloatSequenceMachine(t.float32)
            replacement.max_length = current.max_length
            machine.members_machines[name] = replacement


def _use_fast_bytes(cls: type, *names: str) -> None:
    """Swap the element-wise machine of ``sequence[uint8]`` fields ``names`` of ``cls``."""
    idl = cls.__idl__
    idl.populate()
    for machine in (idl.v1_machine, idl.v2_machine):
        if not isinstance(machine, StructMachine):
            raise RuntimeError(
                f"cyclonedds built a {type(machine).__name__} for {cls.__name__}; expected "
                "StructMachine (is cyclonedds still 11.0.1?)"
            )
        for name in names:
            current = machine.members_machines.get(name)
            if isinstance(current, _OctetSequenceMachine):
                continue
            if not isinstance(current, PlainCdrV2SequenceOfPrimitiveMachine):
                raise RuntimeError(
                    f"cyclonedds built a {type(current).__name__} for {cls.__name__}.{name}; "
                    "expected PlainCdrV2SequenceOfPrimitiveMachine (is cyclonedds still 11.0.1?)"
                )
            machine.members_machines[name] = _OctetSequenceMachine()


def _register(cls: type, ros_name: str) -> None:
    cls.__ros_type__ = ros_name
    cls.__ros_typehash__ = TYPE_HASHES[ros_name]


# ---------------------------------------------------------------------------------------
# builtin_interfaces, std_msgs


@dataclass
@final
class Time(IdlStruct, typename="builtin_interfaces.msg.dds_.Time_"):
    """``builtin_interfaces/msg/Time``: seconds and nanoseconds since the epoch."""

    sec: t.int32 = 0
    nanosec: t.uint32 = 0

    @classmethod
    def from_nanoseconds(cls, ns: int) -> "Time":
        """Build from integer nanoseconds (e.g. ``time.time_ns()``)."""
        sec, nanosec = divmod(int(ns), 1_000_000_000)
        return cls(sec=sec, nanosec=nanosec)

    @classmethod
    def now(cls) -> "Time":
        """Wall-clock time now (what ROS 2 uses for stamps without sim time)."""
        return cls.from_nanoseconds(time.time_ns())

    def to_nanoseconds(self) -> int:
        """Integer nanoseconds since the epoch."""
        return self.sec * 1_000_000_000 + self.nanosec

    def to_seconds(self) -> float:
        """Float seconds since the epoch."""
        return self.sec + self.nanosec * 1e-9


@dataclass
@final
class Header(IdlStruct, typename="std_msgs.msg.dds_.Header_"):
    """``std_msgs/msg/Header``."""

    stamp: Time = field(default_factory=Time)
    frame_id: str = ""


# ---------------------------------------------------------------------------------------
# sensor_msgs


@dataclass
@final
class Image(IdlStruct, typename="sensor_msgs.msg.dds_.Image_"):
    """``sensor_msgs/msg/Image``; ``data`` is raw bytes, ``step`` bytes per row."""

    header: Header = field(default_factory=Header)
    height: t.uint32 = 0
    width: t.uint32 = 0
    encoding: str = ""
    is_bigendian: t.uint8 = 0
    step: t.uint32 = 0
    data: t.sequence[t.uint8] = b""

    def __post_init__(self) -> None:
        _check_bytes_like(self.data, "Image.data")


@dataclass
@final
class CompressedImage(IdlStruct, typename="sensor_msgs.msg.dds_.CompressedImage_"):
    """``sensor_msgs/msg/CompressedImage``; ``format`` e.g. ``"jpeg"`` or ``"rgb8; png ..."``."""

    header: Header = field(default_factory=Header)
    format: str = ""
    data: t.sequence[t.uint8] = b""

    def __post_init__(self) -> None:
        _check_bytes_like(self.data, "CompressedImage.data")


@dataclass
@final
class RegionOfInterest(IdlStruct, typename="sensor_msgs.msg.dds_.RegionOfInterest_"):
    """``sensor_msgs/msg/RegionOfInterest``."""

    x_offset: t.uint32 = 0
    y_offset: t.uint32 = 0
    height: t.uint32 = 0
    width: t.uint32 = 0
    do_rectify: bool = False


def _zeros(n: int) -> Any:
    return field(default_factory=lambda: [0.0] * n)


@dataclass
@final
class CameraInfo(IdlStruct, typename="sensor_msgs.msg.dds_.CameraInfo_"):
    """``sensor_msgs/msg/CameraInfo``; ``k`` 3x3, ``r`` 3x3, ``p`` 3x4, row-major."""

    header: Header = field(default_factory=Header)
    height: t.uint32 = 0
    width: t.uint32 = 0
    distortion_model: str = ""
    d: t.sequence[t.float64] = field(default_factory=list)
    k: t.array[t.float64, 9] = _zeros(9)
    r: t.array[t.float64, 9] = _zeros(9)
    p: t.array[t.float64, 12] = _zeros(12)
    binning_x: t.uint32 = 0
    binning_y: t.uint32 = 0
    roi: RegionOfInterest = field(default_factory=RegionOfInterest)


@dataclass
@final
class PointField(IdlStruct, typename="sensor_msgs.msg.dds_.PointField_"):
    """``sensor_msgs/msg/PointField``; ``datatype`` is one of the constants below."""

    name: str = ""
    offset: t.uint32 = 0
    datatype: t.uint8 = 0
    count: t.uint32 = 0


# .msg constants (set after class creation so they are not IDL members).
for _i, _name in enumerate(
    ("INT8", "UINT8", "INT16", "UINT16", "INT32", "UINT32", "FLOAT32", "FLOAT64"), start=1
):
    setattr(PointField, _name, _i)


@dataclass
@final
class PointCloud2(IdlStruct, typename="sensor_msgs.msg.dds_.PointCloud2_"):
    """``sensor_msgs/msg/PointCloud2``; ``data`` is ``height * row_step`` raw bytes."""

    header: Header = field(default_factory=Header)
    height: t.uint32 = 0
    width: t.uint32 = 0
    fields: t.sequence[PointField] = field(default_factory=list)
    is_bigendian: bool = False
    point_step: t.uint32 = 0
    row_step: t.uint32 = 0
    data: t.sequence[t.uint8] = b""
    is_dense: bool = False

    def __post_init__(self) -> None:
        _check_bytes_like(self.data, "PointCloud2.data")


# ---------------------------------------------------------------------------------------
# diagnostic_msgs


@dataclass
@final
class KeyValue(IdlStruct, typename="diagnostic_msgs.msg.dds_.KeyValue_"):
    """``diagnostic_msgs/msg/KeyValue``."""

    key: str = ""
    value: str = ""


@dataclass
@final
class DiagnosticStatus(IdlStruct, typename="diagnostic_msgs.msg.dds_.DiagnosticStatus_"):
    """``diagnostic_msgs/msg/DiagnosticStatus``; ``level`` is OK/WARN/ERROR/STALE."""

    level: t.byte = 0
    name: str = ""
    message: str = ""
    hardware_id: str = ""
    values: t.sequence[KeyValue] = field(default_factory=list)


for _i, _name in enumerate(("OK", "WARN", "ERROR", "STALE")):
    setattr(DiagnosticStatus, _name, _i)


@dataclass
@final
class DiagnosticArray(IdlStruct, typename="diagnostic_msgs.msg.dds_.DiagnosticArray_"):
    """``diagnostic_msgs/msg/DiagnosticArray``."""

    header: Header = field(default_factory=Header)
    status: t.sequence[DiagnosticStatus] = field(default_factory=list)


# ---------------------------------------------------------------------------------------
# sensor_msgs: the stand-in sensors (LaserScan, Range)


@dataclass
@final
class LaserScan(IdlStruct, typename="sensor_msgs.msg.dds_.LaserScan_"):
    """``sensor_msgs/msg/LaserScan``: angles (rad) about the frame's z axis, x forward;
    ``ranges`` in metres (REP 117: NaN no measurement, +Inf nothing within ``range_max``,
    -Inf closer than ``range_min``). Sequences take lists or float32 numpy arrays."""

    header: Header = field(default_factory=Header)
    angle_min: t.float32 = 0.0
    angle_max: t.float32 = 0.0
    angle_increment: t.float32 = 0.0
    time_increment: t.float32 = 0.0
    scan_time: t.float32 = 0.0
    range_min: t.float32 = 0.0
    range_max: t.float32 = 0.0
    ranges: t.sequence[t.float32] = field(default_factory=list)
    intensities: t.sequence[t.float32] = field(default_factory=list)


def _range_class(with_variance: bool, suffix: str) -> type:
    """``sensor_msgs/msg/Range`` as Jazzy (``variance`` last) or Humble (no ``variance``)
    declares it; both share the DDS type name."""

    @dataclass
    @final
    class Range(IdlStruct, typename="sensor_msgs.msg.dds_.Range_"):
        """``sensor_msgs/msg/Range``: one cone along the frame's x axis; ``range`` in metres
        (+Inf no detection within ``max_range``, -Inf too close to quantify)."""

        header: Header = field(default_factory=Header)
        radiation_type: t.uint8 = 0
        field_of_view: t.float32 = 0.0
        min_range: t.float32 = 0.0
        max_range: t.float32 = 0.0
        range: t.float32 = 0.0
        if with_variance:
            variance: t.float32 = 0.0  # 0 = unknown

    Range.__name__ = Range.__qualname__ = "Range" + suffix
    Range.ULTRASOUND, Range.INFRARED = 0, 1  # .msg constants, set after: not IDL members
    return Range


Range = _range_class(True, "")
RangeHumble = _range_class(False, "Humble")


def range_type(distro: str | None = None) -> type:
    """The ``Range`` class of a ROS 2 distribution: Humble's lacks ``variance``.

    Args:
        distro: e.g. ``"humble"``, ``"jazzy"``; default ``ROS_DISTRO`` from the environment,
            else the Jazzy layout.
    """
    return RangeHumble if _is_humble_or_older(distro) else Range


# ---------------------------------------------------------------------------------------
# geometry_msgs, tf2_msgs: static transforms on /tf_static


@dataclass
@final
class Vector3(IdlStruct, typename="geometry_msgs.msg.dds_.Vector3_"):
    """``geometry_msgs/msg/Vector3`` (metres, for a translation)."""

    x: float = 0.0
    y: float = 0.0
    z: float = 0.0


@dataclass
@final
class Quaternion(IdlStruct, typename="geometry_msgs.msg.dds_.Quaternion_"):
    """``geometry_msgs/msg/Quaternion`` (x, y, z, w); identity by default, as in the .msg."""

    x: float = 0.0
    y: float = 0.0
    z: float = 0.0
    w: float = 1.0


@dataclass
@final
class Transform(IdlStruct, typename="geometry_msgs.msg.dds_.Transform_"):
    """``geometry_msgs/msg/Transform``: the child frame's pose in the parent frame."""

    translation: Vector3 = field(default_factory=Vector3)
    rotation: Quaternion = field(default_factory=Quaternion)


@dataclass
@final
class TransformStamped(IdlStruct, typename="geometry_msgs.msg.dds_.TransformStamped_"):
    """``geometry_msgs/msg/TransformStamped``: ``header.frame_id`` is the parent."""

    header: Header = field(default_factory=Header)
    child_frame_id: str = ""
    transform: Transform = field(default_factory=Transform)


@dataclass
@final
class TFMessage(IdlStruct, typename="tf2_msgs.msg.dds_.TFMessage_"):
    """``tf2_msgs/msg/TFMessage``: what /tf and /tf_static carry."""

    transforms: t.sequence[TransformStamped] = field(default_factory=list)


# ---------------------------------------------------------------------------------------
# rmw_dds_common: the ROS graph (``ros_discovery_info``, what ``ros2 node list`` reads)
#
# A GID is the 16-byte DDS GUID of a participant, reader or writer. Iron and later declare it
# ``char[16]``; Humble ``char[24]`` (the GUID, then zeros). Both layouts share the DDS type
# name, so a process uses the one of the distribution it talks to (see ``graph_types``).


def _graph_classes(gid_size: int, suffix: str) -> tuple[type, type, type]:
    """(Gid, NodeEntitiesInfo, ParticipantEntitiesInfo) with ``gid_size``-byte GIDs."""

    @dataclass
    @final
    class Gid(IdlStruct, typename="rmw_dds_common.msg.dds_.Gid_"):
        """``rmw_dds_common/msg/Gid``: the 16-byte GUID (then zeros where 24 bytes)."""

        data: t.array[t.uint8, gid_size] = field(default_factory=lambda: [0] * gid_size)

    @dataclass
    @final
    class NodeEntitiesInfo(IdlStruct, typename="rmw_dds_common.msg.dds_.NodeEntitiesInfo_"):
        """``rmw_dds_common/msg/NodeEntitiesInfo``: a node and its readers' and writers'
        GIDs."""

        node_namespace: t.bounded_str[256] = ""
        node_name: t.bounded_str[256] = ""
        reader_gid_seq: t.sequence[Gid] = field(default_factory=list)
        writer_gid_seq: t.sequence[Gid] = field(default_factory=list)

    @dataclass
    @final
    class ParticipantEntitiesInfo(
            IdlStruct, typename="rmw_dds_common.msg.dds_.ParticipantEntitiesInfo_"):
        """``rmw_dds_common/msg/ParticipantEntitiesInfo``: a participant's nodes."""

        gid: Gid = field(default_factory=Gid)
        node_entities_info_seq: t.sequence[NodeEntitiesInfo] = field(default_factory=list)

    classes = (Gid, NodeEntitiesInfo, ParticipantEntitiesInfo)
    for cls in classes:
        cls.__name__ = cls.__qualname__ = cls.__name__ + suffix
    return classes


Gid, NodeEntitiesInfo, ParticipantEntitiesInfo = _graph_classes(16, "")
GidHumble, NodeEntitiesInfoHumble, ParticipantEntitiesInfoHumble = _graph_classes(24, "Humble")

GRAPH_TYPES: dict[str, tuple[type, type, type]] = {
    "iron": (Gid, NodeEntitiesInfo, ParticipantEntitiesInfo),
    "humble": (GidHumble, NodeEntitiesInfoHumble, ParticipantEntitiesInfoHumble),
}


def graph_types(distro: str | None = None) -> tuple[type, type, type]:
    """(Gid, NodeEntitiesInfo, ParticipantEntitiesInfo) classes for a ROS 2 distribution.

    Args:
        distro: e.g. ``"humble"``, ``"jazzy"``; default ``ROS_DISTRO`` from the environment,
            else Iron-and-later layouts. Foxy, Galactic and Humble use 24-byte GIDs.
    """
    return GRAPH_TYPES["humble" if _is_humble_or_older(distro) else "iron"]


def _is_humble_or_older(distro: str | None) -> bool:
    """Whether ``distro`` (default ``ROS_DISTRO``, else Jazzy) is Humble or older."""
    import os

    name = (distro if distro is not None else os.environ.get("ROS_DISTRO", "")).strip().lower()
    return name in ("foxy", "galactic", "humble")


MESSAGE_TYPES: tuple[type, ...] = (
    Time, Header, Image, CompressedImage, RegionOfInterest, CameraInfo, PointField,
    PointCloud2, KeyValue, DiagnosticStatus, DiagnosticArray, LaserScan, Range, Vector3,
    Quaternion, Transform, TransformStamped, TFMessage,
)

for _cls, _ros_name in zip(
    MESSAGE_TYPES,
    (
        "builtin_interfaces/msg/Time", "std_msgs/msg/Header", "sensor_msgs/msg/Image",
        "sensor_msgs/msg/CompressedImage", "sensor_msgs/msg/RegionOfInterest",
        "sensor_msgs/msg/CameraInfo", "sensor_msgs/msg/PointField",
        "sensor_msgs/msg/PointCloud2", "diagnostic_msgs/msg/KeyValue",
        "diagnostic_msgs/msg/DiagnosticStatus", "diagnostic_msgs/msg/DiagnosticArray",
        "sensor_msgs/msg/LaserScan", "sensor_msgs/msg/Range", "geometry_msgs/msg/Vector3",
        "geometry_msgs/msg/Quaternion", "geometry_msgs/msg/Transform",
        "geometry_msgs/msg/TransformStamped", "tf2_msgs/msg/TFMessage",
    ),
    strict=True,
):
    _register(_cls, _ros_name)
RangeHumble.__ros_type__ = "sensor_msgs/msg/Range"
RangeHumble.__ros_typehash__ = HUMBLE_RANGE_HASH

for _cls, _ros_name in (
    (Gid, "rmw_dds_common/msg/Gid"), (GidHumble, "rmw_dds_common/msg/Gid"),
    (NodeEntitiesInfo, "rmw_dds_common/msg/NodeEntitiesInfo"),
    (NodeEntitiesInfoHumble, "rmw_dds_common/msg/NodeEntitiesInfo"),
    (ParticipantEntitiesInfo, "rmw_dds_common/msg/ParticipantEntitiesInfo"),
    (ParticipantEntitiesInfoHumble, "rmw_dds_common/msg/ParticipantEntitiesInfo"),
):
    _register(_cls, _ros_name)

_use_fast_bytes(Image, "data")
_use_fast_bytes(CompressedImage, "data")
_use_fast_bytes(PointCloud2, "data")
_use_float_arrays(LaserScan, "ranges", "intensities")


# Bytes each type's CDR carries after its ``data`` payload: PointCloud2's ``is_dense``
# (a bool, alignment 1, so the tail never depends on where the payload ends); Image and
# CompressedImage end with ``data``. ``test_dds_messages`` checks these against the stock
# serializer for every payload length modulo 4.
_TAIL_AFTER_DATA: dict[type, int] = {Image: 0, CompressedImage: 0, PointCloud2: 1}


class PayloadEncoder:
    """Encodes messages with a large ``data`` payload with at most one copy of it.

    The stock path (``DataWriter.write``) allocates a fresh buffer per message, copies the
    payload into it, slices it, converts it to ``bytes`` and pads it with ``ljust``: four
    copies of a 9.8 MB coloured 640×480 cloud, most of them into never-touched pages (2 to
    20 ms on the 2-vCPU development VM, depending on the allocator's state). Here the fields
    around the payload are encoded by cyclonedds' own machinery on a copy of the message with
    an empty payload (a few hundred bytes), and then either

    - the payload lies in :mod:`depth_estimation_ros.core.headroom` storage (what
      ``DepthEstimator.estimate_with_cloud`` returns): the fields are written into the free
      bytes around it and the payload is not copied at all; or
    - it is copied once into a buffer kept from the previous message, whose pages are
      already mapped.

    The bytes are identical to ``msg.serialize()`` followed by the writer's padding to a
    multiple of 4 (tested). The returned view is valid until the next :meth:`encode` call
    and, in the first case, until the payload's storage is written again; the DDS writer
    copies it into its own sample before returning. Not thread-safe: a caller shared
    between threads holds a lock from :meth:`encode` until it is done with the view, and a
    payload in headroom storage is published from one thread at a time.
    """

    def __init__(self) -> None:
        self._buffer = bytearray()
        self.in_place = 0  # messages encoded around their payload, without copying it

    @staticmethod
    def supports(msg_type: type) -> bool:
        """Whether ``msg_type`` has a payload this encoder handles."""
        return msg_type in _TAIL_AFTER_DATA

    def encode(self, msg: Any, use_version_2: bool = False) -> memoryview:
        """CDR of ``msg`` (with the 4-byte encapsulation header), zero-padded to 4 bytes.

        Raises:
            TypeError: ``msg`` is not an Image, CompressedImage or PointCloud2, or its
                ``data`` is not byte-like.
        """
        tail = _TAIL_AFTER_DATA.get(type(msg))
        if tail is None:
            raise TypeError(f"PayloadEncoder encodes Image, CompressedImage and PointCloud2; "
                            f"got {type(msg).__name__}")
        payload = memoryview(as_bytes_like(msg.data))
        if payload.format != "B" or payload.ndim != 1:
            payload = payload.cast("B")
        n = payload.nbytes
        # Everything but the payload: header, sizes, fields, length 0, then the tail.
        head = msg.__idl__.serialize(dataclasses.replace(msg, data=b""),
                                     use_version_2=use_version_2)
        cut = len(head) - tail  # end of the uint32 payload length
        after = ((len(head) + n + 3) & ~3) - cut - n  # tail and padding
        length = struct.pack("<I" if head[1] & 1 else ">I", n)  # encapsulation: odd = LE
        placed = headroom.locate(payload)
        if placed is not None:
            storage, at = placed
            if at >= cut and at + n + after <= storage.nbytes:
                out = memoryview(storage)[at - cut: at + n + after]
                out[: cut - 4] = head[: cut - 4]
                out[cut - 4: cut] = length
                out[cut + n: cut + n + tail] = head[cut:]
                out[cut + n + tail:] = bytes(after - tail)
                self.in_place += 1
                return out
        if len(self._buffer) < cut + n + after:
            # grow with headroom so slightly larger messages do not reallocate again
            size = cut + n + after
            self._buffer = bytearray(size + size // 8)
        buf = self._buffer
        buf[: cut - 4] = head[: cut - 4]
        buf[cut - 4: cut] = length
        buf[cut: cut + n] = payload
        buf[cut + n: cut + n + tail] = head[cut:]
        buf[cut + n + tail: cut + n + after] = bytes(after - tail)
        return memoryview(buf)[: cut + n + after]


def ros_type_name(msg_type: type) -> str:
    """ROS name of a message class, e.g. ``"sensor_msgs/msg/Image"``.

    Raises:
        TypeError: ``msg_type`` is not one of this module's message classes.
    """
    name = getattr(msg_type, "__ros_type__", None)
    if name is None:
        raise TypeError(
            f"message type {msg_type!r} is not a ROS 2 message class from "
            "depth_estimation_ros.dds.messages"
        )
    return name


def type_hash(msg_type: type) -> str:
    """RIHS01 type hash string of a message class (``"RIHS01_<64 hex>"``)."""
    ros_type_name(msg_type)  # TypeError for a class that is not ours
    return msg_type.__ros_typehash__
