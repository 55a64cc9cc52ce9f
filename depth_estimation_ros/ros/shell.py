"""What the plain and the lifecycle rclpy nodes share: message classes, parameter
declaration and live changes, the output publishers, the input subscriptions and ``main``.

The nodes themselves only decide *when* these are made (at start-up, or in the lifecycle
transitions); decoding, inference and message filling live in the ROS-free core.
"""

from __future__ import annotations

import signal
from collections.abc import Callable
from typing import Any

import rclpy
from builtin_interfaces.msg import Time
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from geometry_msgs.msg import Quaternion, Transform, TransformStamped, Vector3
from rcl_interfaces.msg import (
    FloatingPointRange,
    IntegerRange,
    ParameterDescriptor,
    SetParametersResult,
)
from rclpy.exceptions import ParameterException
from rclpy.executors import ExternalShutdownException
from rclpy.logging import get_logger
from rclpy.node import Node
from rclpy.parameter import Parameter
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import (
    CameraInfo,
    CompressedImage,
    Image,
    LaserScan,
    PointCloud2,
    PointField,
    Range,
)
from std_msgs.msg import Header
from tf2_msgs.msg import TFMessage

from depth_estimation_ros.core.checkpoint import CheckpointError
from depth_estimation_ros.node import params as cfg
from depth_estimation_ros.node.msgconv import MessageTypes, ros_byte_array, ros_float32_array
from depth_estimation_ros.node.params import DepthNodeParams, ParameterError, ParamSpec
from depth_estimation_ros.node.pipeline import DepthProcessor, Outputs

ROS_TYPES = MessageTypes(
    Image=Image, CompressedImage=CompressedImage, CameraInfo=CameraInfo,
    PointCloud2=PointCloud2, PointField=PointField, Header=Header, Time=Time,
    DiagnosticArray=DiagnosticArray, DiagnosticStatus=DiagnosticStatus, KeyValue=KeyValue,
    LaserScan=LaserScan, Range=Range, TFMessage=TFMessage, TransformStamped=TransformStamped,
    Transform=Transform, Vector3=Vector3, Quaternion=Quaternion,
    byte_array=ros_byte_array, float32_array=ros_float32_array,
)

# What tf2's static listener asks for (tf2_ros.StaticTransformBroadcaster offers the same).
TF_STATIC_QOS = QoSProfile(depth=1, history=HistoryPolicy.KEEP_LAST,
                           reliability=ReliabilityPolicy.RELIABLE,
                           durability=DurabilityPolicy.TRANSIENT_LOCAL)

# Failures the node reports in one line: missing weights, a bad parameter, an unusable device.
STARTUP_ERRORS = (CheckpointError, ParameterError, ParameterException, ValueError)


def descriptor(spec: ParamSpec) -> ParameterDescriptor:
    """The rclpy descriptor of a declared parameter (description, range, read-only)."""
    desc = ParameterDescriptor(
        description=spec.description,
        additional_constraints=spec.constraints,
        read_only=spec.read_only,
    )
    if spec.type is float and spec.min_value is not None:
        desc.floating_point_range = [FloatingPointRange(
            from_value=float(spec.min_value), to_value=float(spec.max_value), step=0.0)]
    elif spec.type is int and spec.min_value is not None:
        desc.integer_range = [IntegerRange(
            from_value=int(spec.min_value), to_value=int(spec.max_value), step=1)]
    return desc


def qos_profile(reliability: str, durability: str, depth: int) -> QoSProfile:
    """A keep-last QoS profile from the parameter strings."""
    return QoSProfile(
        history=HistoryPolicy.KEEP_LAST,
        depth=depth,
        reliability=(ReliabilityPolicy.RELIABLE if reliability == "reliable"
                     else ReliabilityPolicy.BEST_EFFORT),
        durability=(DurabilityPolicy.TRANSIENT_LOCAL if durability == "transient_local"
                    else DurabilityPolicy.VOLATILE),
    )


def declare_parameters(node: Node) -> dict[str, str]:
    """Declare every parameter with its descriptor.

    A value given at start-up that rclpy refuses (wrong type, out of range) leaves the
    parameter at its default and is returned as ``{name: reason}``: the plain node stops on
    it, the lifecycle node fails ``configure`` until the parameter is set to a good value.
    """
    refused = {}
    for spec in cfg.PARAMETERS:
        try:
            node.declare_parameter(spec.name, spec.default, descriptor(spec))
        except ParameterException as exc:
            refused[spec.name] = (f"Parameter '{spec.name}' must be {spec.constraints}; its "
                                  f"start-up value was refused ({exc}).")
            node.declare_parameter(spec.name, spec.default, descriptor(spec),
                                   ignore_override=True)
    return refused


def read_parameters(node: Node) -> DepthNodeParams:
    """The declared parameters' values, validated together.

    Raises:
        ParameterError: a value or a combination of values the node cannot use.
    """
    return DepthNodeParams.from_values(
        {spec.name: node.get_parameter(spec.name).value for spec in cfg.PARAMETERS})


def make_outputs(create: Callable[..., Any], destroy: Callable[[Any], Any],
                 params: DepthNodeParams) -> Outputs:
    """The output publishers, made with ``create(msg_type, topic, qos)`` and destroyed with
    ``destroy(publisher)`` (a node's ``create_publisher`` / ``destroy_publisher``, or their
    lifecycle versions)."""
    out_qos = qos_profile(params.output_qos_reliability, params.output_qos_durability,
                          params.output_qos_depth)
    return Outputs(
        depth=create(Image, cfg.DEPTH_IMAGE_TOPIC, out_qos),
        camera_info=create(CameraInfo, cfg.DEPTH_CAMERA_INFO_TOPIC, out_qos),
        points=create(PointCloud2, cfg.DEPTH_POINTS_TOPIC, out_qos),
        points_voxel=create(PointCloud2, cfg.DEPTH_POINTS_VOXEL_TOPIC, out_qos),
        scan=create(LaserScan, cfg.DEPTH_SCAN_TOPIC, out_qos),
        color=create(Image, cfg.DEPTH_COLOR_TOPIC, out_qos),
        tf_static=create(TFMessage, cfg.TF_STATIC_TOPIC, TF_STATIC_QOS),
        ranges=RangePublishers(create, destroy, out_qos),
    )


class RangePublishers:
    """The processor's Range publisher factory: ``self(n)`` destroys the ones made before
    and returns ``n`` new ones on ``params.range_topics(n)`` (the sector count is live)."""

    def __init__(self, create: Callable[..., Any], destroy: Callable[[Any], Any],
                 qos: QoSProfile) -> None:
        self._create, self._destroy, self._qos = create, destroy, qos
        self._made: list[Any] = []

    def __call__(self, sectors: int) -> list[Any]:
        for publisher in self._made:
            self._destroy(publisher)
        topics = cfg.range_topics(sectors) if sectors > 0 else []
        self._made = [self._create(Range, topic, self._qos) for topic in topics]
        return self._made


def subscribe_inputs(node: Node, params: DepthNodeParams, processor: DepthProcessor) -> list:
    """Subscribe the camera image (raw or compressed) and, if used, its camera_info."""
    in_qos = qos_profile(params.input_qos_reliability, params.input_qos_durability,
                         params.input_qos_depth)
    image_topic, info_topic = cfg.input_topics(
        _remapped(node, cfg.IMAGE_INPUT), _remapped(node, cfg.CAMERA_INFO_INPUT),
        params.image_transport)
    if params.image_transport == "compressed":
        subs = [node.create_subscription(
            CompressedImage, image_topic, processor.on_compressed_image, in_qos)]
    else:
        subs = [node.create_subscription(Image, image_topic, processor.on_image, in_qos)]
    if params.use_camera_info:
        subs.append(node.create_subscription(
            CameraInfo, info_topic, processor.on_camera_info, in_qos))
    return subs


def _remapped(node: Node, name: str) -> str | None:
    """Where a remapping rule sends topic ``name``, or None if no rule applies."""
    remapped = node.resolve_topic_name(name)
    return None if remapped == node.resolve_topic_name(name, only_expand=True) else remapped


class LiveParameters:
    """``ros2 param set``: validate in the on-set callback, apply once accepted.

    Applied in a post-set callback where rclpy has one (Iron and later), else (Humble) at
    the end of validation. Without a processor (a lifecycle node not configured) changes are
    validated against the declared values and read at the next ``configure``.

    Args:
        node: The node whose parameters these are.
        processor: Returns the running `DepthProcessor`, or None.
        refused: Start-up values rclpy refused (`declare_parameters`); a good value set for
            one of them clears it.
    """

    def __init__(self, node: Node, processor: Callable[[], DepthProcessor | None],
                 refused: dict[str, str] | None = None) -> None:
        self._node = node
        self._processor = processor
        self.refused = refused if refused is not None else {}
        self._apply_on_validate = not hasattr(node, "add_post_set_parameters_callback")
        node.add_on_set_parameters_callback(self._validate)
        if not self._apply_on_validate:
            node.add_post_set_parameters_callback(self._apply)

    def _validate(self, parameters: list[Parameter]) -> SetParametersResult:
        changes = {p.name: p.value for p in parameters if p.name in cfg.SPECS}
        if not changes:  # e.g. use_sim_time: not ours
            return SetParametersResult(successful=True)
        processor = self._processor()
        try:
            if processor is None:
                read_parameters(self._node).with_changes(changes)
            elif self._apply_on_validate:
                processor.set_parameters(changes)
            else:
                processor.params.with_changes(changes)
        except ParameterError as exc:
            return SetParametersResult(successful=False, reason=str(exc))
        if self._apply_on_validate:
            self._accepted(changes)
        return SetParametersResult(successful=True)

    def _apply(self, parameters: list[Parameter]) -> None:
        changes = {p.name: p.value for p in parameters if p.name in cfg.SPECS}
        processor = self._processor()
        if changes and processor is not None:
            processor.set_parameters(changes)  # validated above
        self._accepted(changes)

    def _accepted(self, changes: dict[str, Any]) -> None:
        for name in changes:
            self.refused.pop(name, None)


def spin(make_node: Callable[[], Node], args: list[str] | None = None) -> int:
    """Init rclpy, spin the node ``make_node()`` returns until Ctrl+C, shut down cleanly.

    Returns:
        0, or 1 after one fatal log line when the node cannot start.
    """
    rclpy.init(args=args)
    node = None
    try:
        node = make_node()
        rclpy.spin(node)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    except STARTUP_ERRORS as exc:
        get_logger(cfg.NODE_NAME).fatal(str(exc))
        return 1
    finally:
        # Ctrl+C in a terminal reaches the node and ros2 launch, which forwards another
        # SIGINT: that one must not cut the clean-up (worker, model release) short.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        if node is not None:
            node.destroy_node()
        rclpy.try_shutdown()
    return 0
