"""The managed (lifecycle) node ``depth_estimation_lifecycle_node``: ROS wiring only.

Same parameters, topics and core as ``depth_estimation_node`` (see `rclpy_shell`), driven by
the ROS 2 lifecycle (``ros2 lifecycle set /depth_estimation_node <transition>``):

- configure: load the weights onto the device, create the publishers and subscriptions;
  missing weights or bad parameters fail the transition with one log line;
- activate: start processing frames;
- deactivate: stop (frames are ignored, nothing is published);
- cleanup: destroy the entities and free the model and its GPU memory;
- shutdown: the same, from any state.
"""

from __future__ import annotations

from typing import Any

from diagnostic_msgs.msg import DiagnosticArray
from rclpy.lifecycle import LifecycleNode, LifecycleState, TransitionCallbackReturn

from depth_estimation_ros.node import params as cfg
from depth_estimation_ros.node.pipeline import DepthProcessor, build_estimator
from depth_estimation_ros.ros.shell import (
    ROS_TYPES,
    STARTUP_ERRORS,
    LiveParameters,
    declare_parameters,
    make_outputs,
    read_parameters,
    spin,
    subscribe_inputs,
)


class DepthEstimationLifecycleNode(LifecycleNode):
    """Monocular depth as a managed node: nothing is loaded until ``configure``."""

    def __init__(self, **kwargs: Any) -> None:
        """Args: rclpy ``Node`` keyword arguments (``context``, ``parameter_overrides``)."""
        super().__init__(cfg.NODE_NAME, **kwargs)
        self._processor: DepthProcessor | None = None
        self._active = False
        self._publishers_out: list[Any] = []
        self._subscriptions_in: list[Any] = []
        self._timers: list[Any] = []
        self._live = LiveParameters(self, lambda: self._processor, declare_parameters(self))
        self.get_logger().info(
            f"Unconfigured: 'ros2 lifecycle set {self.get_fully_qualified_name()} configure' "
            f"loads the model")

    def on_configure(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Load the model onto its device; create the publishers and subscriptions."""
        try:
            if self._live.refused:
                raise ValueError(next(iter(self._live.refused.values())))
            params = read_parameters(self)
            estimator = build_estimator(params)
        except STARTUP_ERRORS as exc:
            self.get_logger().error(f"Configure failed: {exc}")
            return TransitionCallbackReturn.FAILURE
        outputs = make_outputs(self._create_publisher, self._destroy_publisher, params)
        processor = DepthProcessor(
            estimator, params, ROS_TYPES, outputs, self.get_logger(), self.get_name(),
            now=lambda: self.get_clock().now().seconds_nanoseconds())
        processor.deactivate()  # a new processor is active: not until on_activate
        self._processor = processor
        self._subscriptions_in = subscribe_inputs(self, params, processor)
        diagnostics = self._create_publisher(DiagnosticArray, cfg.DIAGNOSTICS_TOPIC, 10)
        self._timers = [self.create_timer(
            params.diagnostics_period, lambda: diagnostics.publish(processor.diagnostics()))]
        if params.log_period > 0.0:
            self._timers.append(self.create_timer(params.log_period, processor.log_status))
        self.get_logger().info(f"Configured: {estimator.describe()}")
        return super().on_configure(state)

    def on_activate(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Enable the publishers and start processing."""
        result = super().on_activate(state)  # the lifecycle publishers
        self._active = True
        self._processor.activate()
        self.get_logger().info("Active: processing frames")
        return result

    def on_deactivate(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Stop processing: frames are ignored and nothing is published."""
        self._processor.deactivate()  # waits for the frame in progress (not published)
        self._active = False
        self.get_logger().info("Inactive: frames are ignored")
        return super().on_deactivate(state)

    def on_cleanup(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Destroy the entities and free the model (and its GPU memory)."""
        self._teardown()
        self.get_logger().info("Unconfigured: model freed")
        return super().on_cleanup(state)

    def on_shutdown(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Free everything, from any primary state."""
        self._teardown()
        self.get_logger().info(f"Finalized (shutdown from {state.label})")
        return super().on_shutdown(state)

    def on_error(self, state: LifecycleState) -> TransitionCallbackReturn:
        """A transition raised: free everything and go back to unconfigured."""
        self._teardown()
        return TransitionCallbackReturn.SUCCESS

    def _create_publisher(self, msg_type: type, topic: str, qos: Any) -> Any:
        """A lifecycle publisher, enabled if made while active (e.g. a new range sector)."""
        publisher = self.create_lifecycle_publisher(msg_type, topic, qos)
        if self._active:
            publisher.on_activate(None)
        self._publishers_out.append(publisher)
        return publisher

    def _destroy_publisher(self, publisher: Any) -> None:
        self._publishers_out.remove(publisher)
        self.destroy_lifecycle_publisher(publisher)

    def _teardown(self) -> None:
        self._active = False
        for timer in self._timers:
            self.destroy_timer(timer)
        for subscription in self._subscriptions_in:
            self.destroy_subscription(subscription)
        self._timers, self._subscriptions_in = [], []
        if self._processor is not None:
            self._processor.release()  # stops the worker, frees the model and GPU memory
            self._processor = None
        for publisher in list(self._publishers_out):
            self._destroy_publisher(publisher)

    def destroy_node(self) -> None:
        """Free the model, then destroy the ROS entities."""
        self._teardown()
        super().destroy_node()


def main(args: list[str] | None = None) -> int:
    """Entry point of ``ros2 run depth_estimation_ros depth_estimation_lifecycle_node``."""
    return spin(DepthEstimationLifecycleNode, args)


if __name__ == "__main__":
    raise SystemExit(main())
