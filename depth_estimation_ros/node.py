"""The rclpy node ``depth_estimation_node``: ROS wiring only, over `DepthProcessor`.

Subscribes ``image`` (or ``<image>/compressed``) and ``camera_info``; publishes
``depth/image``, ``depth/camera_info``, ``depth/points`` and ``/diagnostics``. Decoding,
inference, message filling and statistics live in the ROS-free core.
"""

from __future__ import annotations

import rclpy
from builtin_interfaces.msg import Time
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
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
from sensor_msgs.msg import CameraInfo, CompressedImage, Image, PointCloud2, PointField
from std_msgs.msg import Header

from depth_estimation_ros import params as cfg
from depth_estimation_ros.checkpoint import CheckpointError
from depth_estimation_ros.msgconv import MessageTypes, ros_byte_array
from depth_estimation_ros.params import DepthNodeParams, ParameterError, ParamSpec
from depth_estimation_ros.pipeline import DepthProcessor, Outputs, build_estimator

ROS_TYPES = MessageTypes(
    Image=Image, CompressedImage=CompressedImage, CameraInfo=CameraInfo,
    PointCloud2=PointCloud2, PointField=PointField, Header=Header, Time=Time,
    DiagnosticArray=DiagnosticArray, DiagnosticStatus=DiagnosticStatus, KeyValue=KeyValue,
    byte_array=ros_byte_array,
)


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


class DepthEstimationNode(Node):
    """Monocular depth: camera image in, depth image, camera info and point cloud out."""

    def __init__(self) -> None:
        super().__init__(cfg.NODE_NAME)
        for spec in cfg.PARAMETERS:
            self.declare_parameter(spec.name, spec.default, descriptor(spec))
        params = DepthNodeParams.from_values(
            {spec.name: self.get_parameter(spec.name).value for spec in cfg.PARAMETERS})
        estimator = build_estimator(params)
        self.get_logger().info(f"Model: {estimator.describe()}")

        out_qos = qos_profile(params.output_qos_reliability, params.output_qos_durability,
                              params.output_qos_depth)
        outputs = Outputs(
            depth=self.create_publisher(Image, cfg.DEPTH_IMAGE_TOPIC, out_qos),
            camera_info=self.create_publisher(CameraInfo, cfg.DEPTH_CAMERA_INFO_TOPIC, out_qos),
            points=self.create_publisher(PointCloud2, cfg.DEPTH_POINTS_TOPIC, out_qos),
        )
        self._processor = DepthProcessor(
            estimator, params, ROS_TYPES, outputs, self.get_logger(), self.get_name(),
            now=lambda: self.get_clock().now().seconds_nanoseconds())

        in_qos = qos_profile(params.input_qos_reliability, params.input_qos_durability,
                             params.input_qos_depth)
        image_topic, info_topic = cfg.input_topics(
            self._remapped(cfg.IMAGE_INPUT), self._remapped(cfg.CAMERA_INFO_INPUT),
            params.image_transport)
        if params.image_transport == "compressed":
            self._image_sub = self.create_subscription(
                CompressedImage, image_topic, self._processor.on_compressed_image, in_qos)
        else:
            self._image_sub = self.create_subscription(
                Image, image_topic, self._processor.on_image, in_qos)
        self._info_sub = None
        if params.use_camera_info:
            self._info_sub = self.create_subscription(
                CameraInfo, info_topic, self._processor.on_camera_info, in_qos)

        self._diagnostics_pub = self.create_publisher(DiagnosticArray, cfg.DIAGNOSTICS_TOPIC, 10)
        self._diagnostics_timer = self.create_timer(
            params.diagnostics_period, self._publish_diagnostics)
        self._log_timer = None
        if params.log_period > 0.0:
            self._log_timer = self.create_timer(params.log_period, self._processor.log_status)
        # Validate in the on-set callback and apply once accepted: in a post-set callback
        # where rclpy has one (Iron and later), else (Humble) at the end of validation.
        self._apply_on_validate = not hasattr(self, "add_post_set_parameters_callback")
        self.add_on_set_parameters_callback(self._on_set_parameters)
        if not self._apply_on_validate:
            self.add_post_set_parameters_callback(self._on_parameters_set)
        self.get_logger().info(
            f"Ready: {self._image_sub.topic_name} -> {outputs.depth.topic_name}, "
            f"{outputs.camera_info.topic_name}, {outputs.points.topic_name}")

    def _remapped(self, name: str) -> str | None:
        """Where a remapping rule sends topic ``name``, or None if no rule applies."""
        remapped = self.resolve_topic_name(name)
        return None if remapped == self.resolve_topic_name(name, only_expand=True) else remapped

    def _publish_diagnostics(self) -> None:
        self._diagnostics_pub.publish(self._processor.diagnostics())

    def _on_set_parameters(self, parameters: list[Parameter]) -> SetParametersResult:
        changes = {p.name: p.value for p in parameters if p.name in cfg.SPECS}
        if not changes:  # e.g. use_sim_time: not ours
            return SetParametersResult(successful=True)
        try:
            if self._apply_on_validate:
                self._processor.set_parameters(changes)
            else:
                self._processor.params.with_changes(changes)
        except ParameterError as exc:
            return SetParametersResult(successful=False, reason=str(exc))
        return SetParametersResult(successful=True)

    def _on_parameters_set(self, parameters: list[Parameter]) -> None:
        changes = {p.name: p.value for p in parameters if p.name in cfg.SPECS}
        if changes:
            self._processor.set_parameters(changes)  # validated above

    def destroy_node(self) -> None:
        """Stop the worker thread, then destroy the ROS entities."""
        self._processor.close()
        super().destroy_node()


def main(args: list[str] | None = None) -> int:
    """Entry point of ``ros2 run depth_estimation_ros depth_estimation_node``."""
    rclpy.init(args=args)
    node = None
    try:
        node = DepthEstimationNode()
        rclpy.spin(node)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    except (CheckpointError, ParameterError, ParameterException, ValueError) as exc:
        # Missing weights, a bad parameter or an unusable device: one clear line, exit 1.
        get_logger(cfg.NODE_NAME).fatal(str(exc))
        return 1
    finally:
        if node is not None:
            node.destroy_node()
        rclpy.try_shutdown()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
