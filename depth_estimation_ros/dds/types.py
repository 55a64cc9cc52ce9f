"""The node's message type table on DDS: the ROS 2 types under their DDS names.

:func:`dds_message_types` fills a ``msgconv.MessageTypes`` with the classes of
``depth_estimation_ros.dds.messages`` and the DDS field adapters, for the standalone node, the
benchmark and the tests; the rclpy shell has its own table (``ros.shell.ROS_TYPES``).
"""

from __future__ import annotations

from depth_estimation_ros.dds import messages as m
from depth_estimation_ros.node.msgconv import MessageTypes, dds_byte_array, dds_float32_array


def dds_message_types(distro: str | None = None) -> MessageTypes:
    """The ROS 2 types under their DDS names; ``Range`` in the layout of ``distro``
    (default ``ROS_DISTRO``, else Jazzy)."""
    return MessageTypes(
        Image=m.Image, CompressedImage=m.CompressedImage, CameraInfo=m.CameraInfo,
        PointCloud2=m.PointCloud2, PointField=m.PointField, Header=m.Header, Time=m.Time,
        DiagnosticArray=m.DiagnosticArray, DiagnosticStatus=m.DiagnosticStatus,
        KeyValue=m.KeyValue, byte_array=dds_byte_array,
        LaserScan=m.LaserScan, Range=m.range_type(distro), TFMessage=m.TFMessage,
        TransformStamped=m.TransformStamped, Transform=m.Transform, Vector3=m.Vector3,
        Quaternion=m.Quaternion, float32_array=dds_float32_array,
    )
