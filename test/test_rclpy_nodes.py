"""rclpy tests of the two nodes in one process: lifecycle transitions and live parameters.

The node under test and a test node (camera publisher, output subscribers, lifecycle service
clients, as ``ros2 lifecycle set`` uses) share one rclpy context and executor. Skipped where
ROS 2 (rclpy, the message packages) is not installed, as on CI; the core they call is tested
there (test_pipeline.py and the DDS end-to-end tests).
"""

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest

from depth_estimation_ros.node import params as cfg

# Skip with the reason where ROS 2 is absent, never at import: on a ROS install
# launch_testing's pytest plugin imports every test module while collecting the directory,
# and a module-level skip there would skip every test in it.
try:
    import rclpy
    from lifecycle_msgs.msg import State, Transition
    from lifecycle_msgs.srv import ChangeState, GetState
    from rclpy.executors import MultiThreadedExecutor
    from rclpy.parameter import Parameter
    from rclpy.qos import QoSProfile, qos_profile_sensor_data
    from sensor_msgs.msg import Image, LaserScan, Range
    from tf2_msgs.msg import TFMessage

    from depth_estimation_ros.ros.lifecycle_node import DepthEstimationLifecycleNode
    from depth_estimation_ros.ros.node import DepthEstimationNode
    from depth_estimation_ros.ros.shell import TF_STATIC_QOS
except ImportError as exc:
    _MISSING = exc.name
else:
    _MISSING = None
pytestmark = pytest.mark.skipif(
    _MISSING is not None,
    reason=f"rclpy tests skipped: {_MISSING} is not installed (needs a ROS 2 install; the "
           f"core these nodes call is tested without one)")

WIDTH, HEIGHT = 64, 48
FRAME_ID = "rclpy_test_optical_frame"
IMAGE_TOPIC = "/rclpy_test/image_raw"


class Graph:
    """The node under test, a test node and an executor spinning both on a thread."""

    def __init__(self, node_class: type, weights: Path, **overrides) -> None:
        self.context = rclpy.Context()
        # a domain of our own: other ROS processes on this machine must not feed our topics
        rclpy.init(context=self.context, domain_id=int(time.time_ns() // 1000 % 200) + 20)
        values = {"checkpoint": str(weights), "device": "cpu", "use_camera_info": False,
                  "publish_pointcloud": False, "publish_scan": True, **overrides}
        self.node = node_class(
            context=self.context,
            parameter_overrides=[Parameter(k, value=v) for k, v in values.items()],
            cli_args=["--ros-args", "-r", f"image:={IMAGE_TOPIC}"])
        self.test = rclpy.create_node("rclpy_nodes_test", context=self.context)
        self.received: dict[str, list] = {"depth": [], "scan": [], "tf": [], "range": []}
        reliable = QoSProfile(depth=10)
        self.test.create_subscription(Image, "/depth/image", self.received["depth"].append,
                                      reliable)
        self.test.create_subscription(LaserScan, "/depth/scan", self.received["scan"].append,
                                      reliable)
        self.test.create_subscription(Range, "/depth/range", self.received["range"].append,
                                      reliable)
        self.test.create_subscription(TFMessage, "/tf_static", self.received["tf"].append,
                                      TF_STATIC_QOS)
        self.camera = self.test.create_publisher(Image, IMAGE_TOPIC, qos_profile_sensor_data)
        self.executor = MultiThreadedExecutor(num_threads=4, context=self.context)
        self.executor.add_node(self.node)
        self.executor.add_node(self.test)
        self._thread = threading.Thread(target=self.executor.spin, daemon=True)
        self._thread.start()
        self.stamps: list[tuple[int, int]] = []

    def close(self) -> None:
        self.executor.shutdown()
        self.node.destroy_node()
        self.test.destroy_node()
        rclpy.try_shutdown(context=self.context)
        self._thread.join(5.0)

    def publish_frame(self) -> None:
        rgb = np.random.default_rng(len(self.stamps)).integers(0, 256, (HEIGHT, WIDTH, 3),
                                                                dtype=np.uint8)
        msg = Image(height=HEIGHT, width=WIDTH, encoding="rgb8", step=WIDTH * 3)
        msg.header.frame_id = FRAME_ID
        msg.header.stamp.sec, msg.header.stamp.nanosec = 1000 + len(self.stamps), 12345
        msg.data = rgb.tobytes()
        self.stamps.append((msg.header.stamp.sec, msg.header.stamp.nanosec))
        self.camera.publish(msg)

    def feed_until(self, done: Callable[[], bool], timeout: float) -> bool:
        """Publish a frame every 0.1 s until ``done()`` or ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if done():
                return True
            self.publish_frame()
            time.sleep(0.1)
        return done()

    def call(self, srv_type: type, service: str, request, timeout: float = 60.0):
        client = self.test.create_client(srv_type, f"/{cfg.NODE_NAME}/{service}")
        assert client.wait_for_service(timeout_sec=10.0), service
        future = client.call_async(request)
        deadline = time.monotonic() + timeout
        while not future.done() and time.monotonic() < deadline:
            time.sleep(0.01)
        assert future.done(), f"{service} did not answer within {timeout} s"
        return future.result()

    def transition(self, transition_id: int) -> bool:
        """What ``ros2 lifecycle set`` does: the change_state service."""
        request = ChangeState.Request()
        request.transition.id = transition_id
        return self.call(ChangeState, "change_state", request).success

    def state(self) -> int:
        return self.call(GetState, "get_state", GetState.Request()).current_state.id

    def clear(self) -> None:
        for messages in self.received.values():
            messages.clear()


@pytest.fixture
def make_graph(compact_checkpoint: Path) -> Iterator[Callable[..., Graph]]:
    graphs = []

    def make(node_class: type, **overrides) -> Graph:
        graphs.append(Graph(node_class, compact_checkpoint, **overrides))
        return graphs[-1]

    yield make
    for graph in graphs:
        graph.close()


def test_lifecycle_transitions_gate_processing_and_free_the_model(make_graph) -> None:
    g = make_graph(DepthEstimationLifecycleNode)
    assert g.state() == State.PRIMARY_STATE_UNCONFIGURED
    # unconfigured: no model loaded, no output publisher exists yet
    assert g.node._processor is None
    assert not g.node.get_publishers_info_by_topic("/depth/scan")

    assert g.transition(Transition.TRANSITION_CONFIGURE)
    assert g.state() == State.PRIMARY_STATE_INACTIVE
    assert g.node.get_publishers_info_by_topic("/depth/scan")
    # inactive: frames are ignored, nothing is published
    assert not g.feed_until(lambda: any(g.received.values()), timeout=2.0)

    assert g.transition(Transition.TRANSITION_ACTIVATE)
    assert g.state() == State.PRIMARY_STATE_ACTIVE
    assert g.feed_until(lambda: g.received["depth"] and g.received["scan"], timeout=60.0)
    depth, scan = g.received["depth"][0], g.received["scan"][0]
    for msg in (depth, scan):  # the input's stamp, one of the frames we sent
        assert (msg.header.stamp.sec, msg.header.stamp.nanosec) in g.stamps
    assert depth.header.frame_id == FRAME_ID and depth.encoding == "32FC1"
    assert scan.header.frame_id == f"{FRAME_ID}_scan" and len(scan.ranges) == WIDTH
    # the scan frame hangs off the optical frame on /tf_static
    assert g.feed_until(lambda: g.received["tf"], timeout=10.0)
    transform = g.received["tf"][-1].transforms[0]
    assert (transform.header.frame_id, transform.child_frame_id) == (FRAME_ID,
                                                                      f"{FRAME_ID}_scan")

    assert g.transition(Transition.TRANSITION_DEACTIVATE)
    assert g.state() == State.PRIMARY_STATE_INACTIVE
    time.sleep(0.5)  # a frame in flight at the transition
    g.clear()
    assert not g.feed_until(lambda: g.received["depth"] or g.received["scan"], timeout=2.0)

    assert g.transition(Transition.TRANSITION_CLEANUP)
    assert g.state() == State.PRIMARY_STATE_UNCONFIGURED
    assert g.node._processor is None
    assert not g.node.get_publishers_info_by_topic("/depth/scan")

    # configure again works (the model is loaded anew), then shut down from inactive
    assert g.transition(Transition.TRANSITION_CONFIGURE)
    assert g.transition(Transition.TRANSITION_INACTIVE_SHUTDOWN)
    assert g.state() == State.PRIMARY_STATE_FINALIZED
    assert g.node._processor is None


def test_lifecycle_shutdown_from_active(make_graph) -> None:
    g = make_graph(DepthEstimationLifecycleNode)
    assert g.transition(Transition.TRANSITION_CONFIGURE)
    assert g.transition(Transition.TRANSITION_ACTIVATE)
    assert g.transition(Transition.TRANSITION_ACTIVE_SHUTDOWN)
    assert g.state() == State.PRIMARY_STATE_FINALIZED
    assert g.node._processor is None


def test_configure_fails_without_the_weights_and_the_node_lives_on(make_graph,
                                                                   tmp_path: Path) -> None:
    g = make_graph(DepthEstimationLifecycleNode, checkpoint=str(tmp_path / "missing.pt"))
    assert not g.transition(Transition.TRANSITION_CONFIGURE)
    assert g.state() == State.PRIMARY_STATE_UNCONFIGURED
    assert g.node._processor is None


@pytest.mark.parametrize("lifecycle", [False, True], ids=["plain", "lifecycle"])
def test_live_scan_parameters_apply_on_the_next_frame(make_graph, lifecycle: bool) -> None:
    g = make_graph(DepthEstimationLifecycleNode if lifecycle else DepthEstimationNode)
    if lifecycle:
        assert g.transition(Transition.TRANSITION_CONFIGURE)
        assert g.transition(Transition.TRANSITION_ACTIVATE)
    assert g.feed_until(lambda: g.received["scan"], timeout=60.0)
    assert len(g.received["scan"][-1].ranges) == WIDTH

    result = g.node.set_parameters([Parameter("scan_offset", value=0.3),
                                    Parameter("scan_decimation", value=4)])
    assert all(r.successful for r in result), [r.reason for r in result]
    assert g.node.get_parameter("scan_offset").value == 0.3
    sent = len(g.stamps)
    g.clear()
    # frames sent after the change carry WIDTH / 4 rays
    assert g.feed_until(lambda: any(len(s.ranges) == WIDTH // 4 and s.header.stamp.sec
                                    >= 1000 + sent for s in g.received["scan"]), timeout=30.0)

    # outside the declared range: rclpy's descriptor check names the parameter and the range
    bad = g.node.set_parameters([Parameter("scan_offset", value=1.5)])[0]
    assert not bad.successful
    assert "scan_offset" in bad.reason and "Max: 1.0" in bad.reason
    # in range but inconsistent with another parameter: the core's sentence
    bad = g.node.set_parameters([Parameter("scan_range_min", value=20.0)])[0]
    assert not bad.successful
    assert bad.reason == ("Parameter 'scan_range_min' (20.0 m) must be less than "
                          "'scan_range_max' (10.0 m).")
    assert g.node.get_parameter("scan_offset").value == 0.3  # unchanged, node running
    assert g.node.get_parameter("scan_range_min").value == 0.45
    assert g.feed_until(lambda: len(g.received["scan"]) > 3, timeout=30.0)

    # switched on live: the Range publisher made now (while active) publishes
    assert not g.received["range"]
    assert g.node.set_parameters([Parameter("publish_range", value=True)])[0].successful
    assert g.feed_until(lambda: g.received["range"], timeout=30.0)
    assert g.received["range"][0].header.frame_id == f"{FRAME_ID}_range"


def test_bad_filter_parameters_are_rejected_live_with_their_range(make_graph) -> None:
    g = make_graph(DepthEstimationNode)
    for name, value, limit in (("edge_max_angle", 95.0, "Max: 89.9"),
                               ("temporal_alpha", 0.0, "Min: 0.05"),
                               ("cloud_voxel_size", -1.0, "Min: 0.0")):
        bad = g.node.set_parameters([Parameter(name, value=value)])[0]
        assert not bad.successful
        assert name in bad.reason and limit in bad.reason, bad.reason
    good = g.node.set_parameters([Parameter("temporal_filter", value=True),
                                  Parameter("edge_max_angle", value=75.0)])
    assert all(r.successful for r in good), [r.reason for r in good]
    assert g.node.get_parameter("edge_max_angle").value == 75.0
