"""The rclpy node ``depth_estimation_node``: ROS wiring only, over `DepthProcessor`.

Subscribes ``image`` (or ``<image>/compressed``) and ``camera_info``; publishes
``depth/image``, ``depth/camera_info``, ``depth/points``, ``depth/scan``, ``depth/range``
(or ``depth/range_<i>``), ``depth/image_color``, ``/tf_static`` and ``/diagnostics``.
Decoding, inference, message filling and statistics live in the ROS-free core; what this
node shares with ``depth_estimation_lifecycle_node`` is in `rclpy_shell`.
"""

from __future__ import annotations

from typing import Any

from diagnostic_msgs.msg import DiagnosticArray
from rclpy.node import Node

from depth_estimation_ros.node import params as cfg
from depth_estimation_ros.node.params import ParameterError
from depth_estimation_ros.node.pipeline import DepthProcessor, build_estimator, ready_line
from depth_estimation_ros.ros.shell import (
    ROS_TYPES,
    LiveParameters,
    declare_parameters,
    make_outputs,
    read_parameters,
    spin,
    subscribe_inputs,
)


class DepthEstimationNode(Node):
    """Monocular depth: camera image in; depth image, cloud, scan, ranges out."""

    def __init__(self, **kwargs: Any) -> None:
        """Args: rclpy ``Node`` keyword arguments (``context``, ``parameter_overrides``)."""
        super().__init__(cfg.NODE_NAME, **kwargs)
        refused = declare_parameters(self)
        if refused:
            raise ParameterError(next(iter(refused.values())))
        params = read_parameters(self)
        estimator = build_estimator(params)
        self.get_logger().info(f"Model: {estimator.describe()}")

        outputs = make_outputs(self.create_publisher, self.destroy_publisher, params)
        self._processor = DepthProcessor(
            estimator, params, ROS_TYPES, outputs, self.get_logger(), self.get_name(),
            now=lambda: self.get_clock().now().seconds_nanoseconds())
        self._subscriptions_in = subscribe_inputs(self, params, self._processor)

        self._diagnostics_pub = self.create_publisher(DiagnosticArray, cfg.DIAGNOSTICS_TOPIC, 10)
        self._diagnostics_timer = self.create_timer(
            params.diagnostics_period, self._publish_diagnostics)
        self._log_timer = None
        if params.log_period > 0.0:
            self._log_timer = self.create_timer(params.log_period, self._processor.log_status)
        self._live = LiveParameters(self, lambda: self._processor)
        self.get_logger().info(
            f"Ready: {ready_line(self._subscriptions_in[0].topic_name, outputs)}")

    def _publish_diagnostics(self) -> None:
        self._diagnostics_pub.publish(self._processor.diagnostics())

    def destroy_node(self) -> None:
        """Stop the worker thread, then destroy the ROS entities."""
        self._processor.close()
        super().destroy_node()


def main(args: list[str] | None = None) -> int:
    """Entry point of ``ros2 run depth_estimation_ros depth_estimation_node``."""
    return spin(DepthEstimationNode, args)


if __name__ == "__main__":
    raise SystemExit(main())
