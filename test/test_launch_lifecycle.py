"""ROS 2 launch test: ``depth.launch.py lifecycle:=true autostart:=true`` brings the managed
node to active by itself; depth and scan then arrive with the camera's stamp.

Runs under ``colcon test`` / ``launch_test`` on a ROS 2 install with this package installed
(the launch file is taken from its share directory). Skipped without ``launch_testing`` and
``rclpy`` (e.g. on CI); the launch file's structure is checked there by test_node_import.py.
"""

import os
import tempfile
import time
import unittest
from pathlib import Path

import numpy as np
import pytest

try:
    import launch_testing
    import launch_testing.actions
    import launch_testing.asserts
except ImportError as exc:  # no launch_testing: no launch_testing pytest plugin either
    pytest.skip(f"ROS 2 launch test skipped: {exc.name} is not installed (needs a ROS 2 "
                f"install with launch_testing and rclpy)", allow_module_level=True)

# From here on launch_testing's plugin is loaded: it imports every test module while
# collecting the directory, so a module-level skip would skip every test in it; what is
# missing skips this launch test through a mark instead.
try:
    import rclpy
    from ament_index_python.packages import PackageNotFoundError, get_package_share_directory
    from launch.actions import IncludeLaunchDescription
    from launch.launch_description_sources import PythonLaunchDescriptionSource
    from rclpy.qos import QoSProfile, qos_profile_sensor_data
    from sensor_msgs.msg import Image, LaserScan

    from launch import LaunchDescription
except ImportError as exc:
    _MISSING = f"{exc.name} is not installed"
else:
    try:
        SHARE = get_package_share_directory("depth_estimation_ros")
        _MISSING = None
    except PackageNotFoundError:
        _MISSING = ("depth_estimation_ros is not installed in the sourced workspace (colcon "
                    "build, then source install/setup.bash)")

from conftest import make_compact_checkpoint  # noqa: E402

IMAGE_TOPIC = "/launch_lifecycle_test/image_raw"
FRAME_ID = "launch_lifecycle_test_optical_frame"
WIDTH, HEIGHT = 64, 48


@pytest.mark.launch_test
@pytest.mark.skipif(_MISSING is not None, reason=f"ROS 2 launch test skipped: {_MISSING}")
def generate_test_description():
    """The packaged launch file, lifecycle node with autostart, small untrained weights."""
    checkpoint = make_compact_checkpoint(Path(tempfile.mkdtemp()) / "compact.pt")
    depth_launch = IncludeLaunchDescription(
        PythonLaunchDescriptionSource(os.path.join(SHARE, "launch", "depth.launch.py")),
        launch_arguments={
            "lifecycle": "true", "autostart": "true", "checkpoint": str(checkpoint),
            "device": "cpu", "image_topic": IMAGE_TOPIC, "publish_scan": "true",
            "publish_range": "true",
        }.items(),
    )
    return LaunchDescription([depth_launch, launch_testing.actions.ReadyToTest()])


class TestAutostart(unittest.TestCase):
    """Without any lifecycle call from us, the node becomes active and publishes."""

    @classmethod
    def setUpClass(cls) -> None:
        rclpy.init()
        cls.node = rclpy.create_node("depth_launch_lifecycle_test")

    @classmethod
    def tearDownClass(cls) -> None:
        cls.node.destroy_node()
        rclpy.shutdown()

    def test_active_by_itself_then_depth_and_scan_arrive(self, proc_output) -> None:
        proc_output.assertWaitFor("Active: processing frames", timeout=120)
        publisher = self.node.create_publisher(Image, IMAGE_TOPIC, qos_profile_sensor_data)
        received: dict[str, list] = {"/depth/image": [], "/depth/scan": []}
        for topic, msg_type in (("/depth/image", Image), ("/depth/scan", LaserScan)):
            self.node.create_subscription(msg_type, topic, received[topic].append,
                                          QoSProfile(depth=10))
        rgb = np.random.default_rng(0).integers(0, 256, (HEIGHT, WIDTH, 3), dtype=np.uint8)
        stamps = []
        deadline = time.monotonic() + 60.0
        next_frame = 0.0
        while not all(received.values()) and time.monotonic() < deadline:
            if time.monotonic() >= next_frame:
                msg = Image(height=HEIGHT, width=WIDTH, encoding="rgb8", step=WIDTH * 3)
                msg.header.frame_id = FRAME_ID
                msg.header.stamp = self.node.get_clock().now().to_msg()
                msg.data = rgb.tobytes()
                stamps.append((msg.header.stamp.sec, msg.header.stamp.nanosec))
                publisher.publish(msg)
                next_frame = time.monotonic() + 0.2
            rclpy.spin_once(self.node, timeout_sec=0.05)
        self.assertTrue(all(received.values()),
                        f"no message within 60 s on {[t for t, m in received.items() if not m]}")
        for topic, messages in received.items():
            stamp = messages[0].header.stamp
            self.assertIn((stamp.sec, stamp.nanosec), stamps, topic)
        self.assertEqual(received["/depth/image"][0].header.frame_id, FRAME_ID)
        self.assertEqual(received["/depth/scan"][0].header.frame_id, f"{FRAME_ID}_scan")


@launch_testing.post_shutdown_test()
class TestShutdown(unittest.TestCase):
    """After the launch: the lifecycle node exited cleanly on SIGINT."""

    def test_exit_code(self, proc_info) -> None:
        launch_testing.asserts.assertExitCodes(proc_info)
