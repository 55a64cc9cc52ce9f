"""The stand-in sensors through the DDS-native node in this process: a `StandaloneDepthNode`
with a real (untrained) model publishes on real DDS sockets (loopback) to subscribers on a
second participant. Frames go straight to the processor's callback; the separate-process
path is in test_standalone_e2e.py."""

from __future__ import annotations

import gc
import logging
import os
import time
import weakref
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from dds_listener import Listener

from depth_estimation_ros.core.camera import CameraIntrinsics
from depth_estimation_ros.core.encodings import encode_image
from depth_estimation_ros.core.estimator import DepthEstimator
from depth_estimation_ros.core.standin import (
    RangeConfig,
    ScanConfig,
    depth_to_ranges,
    depth_to_scan,
)
from depth_estimation_ros.dds import messages as m
from depth_estimation_ros.dds.depth_node import StandaloneDepthNode
from depth_estimation_ros.dds.runtime import ensure_cyclonedds_uri
from depth_estimation_ros.dds.types import dds_message_types
from depth_estimation_ros.node.params import DepthNodeParams

torch.set_num_threads(1)
W, H = 64, 48
CAMERA = CameraIntrinsics(60.0, 60.0, 31.5, 23.5, W, H)
FRAME = "standin_camera_optical_frame"
DOMAIN = 190 + os.getpid() % 40  # apart from test_standalone_e2e's domains
TOPICS = {
    "depth": (m.Image, "/depth/image"),
    "info": (m.CameraInfo, "/depth/camera_info"),
    "scan": (m.LaserScan, "/depth/scan"),
    "color": (m.Image, "/depth/image_color"),
    "range": (m.range_type(), "/depth/range"),
    **{f"range{i}": (m.range_type(), f"/depth/range_{i}") for i in range(3)},
}


@pytest.fixture(scope="module")
def estimator(compact_checkpoint: Path) -> DepthEstimator:
    return DepthEstimator(compact_checkpoint, "cpu")


@pytest.fixture
def graph(estimator, monkeypatch) -> Iterator[Callable[..., tuple[StandaloneDepthNode, Listener]]]:
    monkeypatch.setenv("ROS_DOMAIN_ID", str(DOMAIN))
    ensure_cyclonedds_uri()
    made: list = []

    def make(**values: Any) -> tuple[StandaloneDepthNode, Listener]:
        params = DepthNodeParams.from_values({"device": "cpu", "log_period": 0.0, **values})
        node = StandaloneDepthNode(estimator, params, logging.getLogger("standin_test"))
        listener = Listener("standin_listener", DOMAIN, TOPICS)
        made.extend([listener, node])
        for pub in (node.outputs.depth, node.outputs.scan):
            assert pub.wait_for_subscriptions(1, 10.0)
        return node, listener

    yield make
    for thing in made:
        (thing.node.destroy if isinstance(thing, Listener) else thing.close)()


def _image(sec: int, nanosec: int = 0) -> m.Image:
    rgb = np.random.default_rng(sec).integers(0, 256, (H, W, 3), dtype=np.uint8)
    data, step = encode_image(rgb, "rgb8")
    return m.Image(header=m.Header(stamp=m.Time(sec=sec, nanosec=nanosec), frame_id=FRAME),
                   height=H, width=W, encoding="rgb8", is_bigendian=0, step=step, data=data)


def _send(node: StandaloneDepthNode, sec: int, nanosec: int = 0) -> tuple[int, int]:
    node.processor.on_image(_image(sec, nanosec))
    assert node.processor.wait_idle(20.0)
    return sec, nanosec


def _stamp(msg: Any) -> tuple[int, int]:
    return msg.header.stamp.sec, msg.header.stamp.nanosec


def _depth(msg: m.Image) -> np.ndarray:
    return np.frombuffer(msg.data, "<f4").reshape(msg.height, msg.width)


def _info(node: StandaloneDepthNode) -> None:
    node.processor.on_camera_info(m.CameraInfo(header=m.Header(frame_id=FRAME),
                                               **CAMERA.to_camera_info_fields()))


def test_outputs_carry_the_input_stamp_their_frames_and_the_same_geometry(graph) -> None:
    node, listener = graph(publish_scan=True, scan_height=5, publish_range=True,
                           range_sectors=3, range_field_of_view=0.3,
                           range_radiation_type="infrared", range_min=0.3, range_max=8.0)
    _info(node)
    _send(node, 100, 5)
    stamp = _send(node, 100, 250_000_000)
    depth_msg = listener.wait("depth", lambda msg: _stamp(msg) == stamp)
    scan = listener.wait("scan", lambda msg: _stamp(msg) == stamp)
    color = listener.wait("color", lambda msg: _stamp(msg) == stamp)
    ranges = [listener.wait(f"range{i}", lambda msg: _stamp(msg) == stamp) for i in range(3)]
    depth = _depth(depth_msg)
    assert np.isfinite(depth).any()

    # the scan: in <frame>_scan, the measured frame period, the core's conversion
    assert scan.header.frame_id == FRAME + "_scan"
    assert scan.scan_time == pytest.approx(0.249999995, abs=1e-6)
    assert scan.time_increment == 0.0
    assert (scan.range_min, scan.range_max) == pytest.approx((0.45, 10.0))
    expected = depth_to_scan(depth, CAMERA, ScanConfig(height=5))
    np.testing.assert_array_equal(np.asarray(scan.ranges, np.float32), expected.ranges)
    assert scan.angle_min == pytest.approx(expected.angle_min)
    assert list(scan.intensities) == []
    # the sectors: right to left, their own frames, infrared, the core's readings
    readings = depth_to_ranges(depth, CAMERA, RangeConfig(3, 0.3, 1, 0.3, 8.0, 5.0))
    for i, (msg, reading) in enumerate(zip(ranges, readings, strict=True)):
        assert msg.header.frame_id == f"{FRAME}_range_{i}"
        assert msg.radiation_type == 1
        assert (msg.min_range, msg.max_range) == pytest.approx((0.3, 8.0))
        assert msg.field_of_view == pytest.approx(0.3)
        assert msg.range == pytest.approx(reading.range, rel=1e-6)
    assert listener.got["range"] == []  # one topic per sector when there are several
    # colour: rgb8, same size and frame as the depth, NaN black
    assert (color.encoding, color.width, color.height, color.step) == ("rgb8", W, H, W * 3)
    assert color.header.frame_id == FRAME
    rgb = np.frombuffer(color.data, np.uint8).reshape(H, W, 3)
    assert (rgb[np.isnan(depth)] == 0).all() and (rgb[np.isfinite(depth)].max(axis=1) > 0).all()

    # /tf_static, joined late: transient local still hands over the one message
    listener.subscribe_tf_static()
    tf = listener.wait("tf")
    assert [t.child_frame_id for t in tf.transforms] == [
        FRAME + "_scan", *(f"{FRAME}_range_{i}" for i in range(3))]
    assert {t.header.frame_id for t in tf.transforms} == {FRAME}
    assert _stamp(tf.transforms[0]) == (100, 5)  # the first frame that knew the layout
    q = tf.transforms[0].transform.rotation
    assert (q.x, q.y, q.z, q.w) == (0.5, -0.5, 0.5, 0.5)

    values = {kv.key: kv.value for kv in node.processor.diagnostics().status[0].values}
    assert values["published depth/scan"] == "2"
    assert values["published depth/range_2"] == "2"
    assert values["published /tf_static"] == "1"  # once: nothing about it changed


def test_scan_time_is_the_frame_period_after_frames_without_a_scan(graph) -> None:
    node, listener = graph(publish_scan=True)
    _info(node)
    first = _send(node, 30)
    assert listener.wait("scan", lambda msg: _stamp(msg) == first).scan_time == 0.0
    node.processor.set_parameters({"publish_scan": False})
    for sec in (31, 32):  # processed (depth is subscribed), no scan made
        listener.wait("depth", lambda msg, s=_send(node, sec): _stamp(msg) == s)
    node.processor.set_parameters({"publish_scan": True})
    later = _send(node, 32, 500_000_000)
    # the camera's period since the last processed frame, not 2.5 s since the last scan
    assert listener.wait("scan", lambda msg: _stamp(msg) == later).scan_time == \
        pytest.approx(0.5)


def test_live_changes_take_effect_on_the_next_frame(graph) -> None:
    node, listener = graph(publish_scan=True, publish_range=True)
    _info(node)
    listener.subscribe_tf_static()
    first = _send(node, 10)
    assert len(listener.wait("scan", lambda msg: _stamp(msg) == first).ranges) == W
    listener.wait("range", lambda msg: _stamp(msg) == first)
    node.processor.set_parameters({"scan_decimation": 4, "scan_frame": "base_scan",
                                   "range_sectors": 2, "range_field_of_view": 0.4,
                                   "color_map": "viridis", "color_max": 3.0})
    pubs = node.processor._range_pubs
    assert [p.topic_name for p in pubs] == ["/depth/range_0", "/depth/range_1"]
    for pub in pubs:
        assert pub.wait_for_subscriptions(1, 10.0)
    second = _send(node, 11)
    scan = listener.wait("scan", lambda msg: _stamp(msg) == second)
    assert (len(scan.ranges), scan.header.frame_id) == (16, "base_scan")
    assert scan.scan_time == pytest.approx(1.0)
    for i in range(2):
        msg = listener.wait(f"range{i}", lambda msg: _stamp(msg) == second)
        assert msg.header.frame_id == f"{FRAME}_range_{i}"
    # the new layout replaces the old on /tf_static: no scan transform (base_scan is the
    # robot's), two sectors
    tf = listener.wait("tf", lambda msg: _stamp(msg.transforms[0]) == second)
    assert [t.child_frame_id for t in tf.transforms] == [f"{FRAME}_range_0",
                                                         f"{FRAME}_range_1"]
    color = listener.wait("color", lambda msg: _stamp(msg) == second)
    assert color.encoding == "rgb8"
    # turning ranges off removes their publishers
    node.processor.set_parameters({"publish_range": False})
    assert node.processor._range_pubs == ()


def test_settings_that_do_not_fit_the_image_skip_only_that_output(graph, caplog) -> None:
    node, listener = graph(publish_scan=True, scan_height=48, publish_range=True,
                           range_sectors=2, range_field_of_view=0.3)
    _info(node)
    node.processor.set_parameters({"scan_height": 49, "range_field_of_view": 0.6})
    # caplog's own handler on the logger: with launch imported (launch_testing's pytest plugin
    # on a ROS install) new loggers do not propagate to the root logger caplog listens on
    log = logging.getLogger("standin_test")
    log.addHandler(caplog.handler)
    propagate, log.propagate = log.propagate, False  # each record once either way
    try:
        with caplog.at_level(logging.WARNING, "standin_test"):
            stamps = [_send(node, 20 + i) for i in range(3)]
    finally:
        log.removeHandler(caplog.handler)
        log.propagate = propagate
    for stamp in stamps:
        listener.wait("depth", lambda msg, s=stamp: _stamp(msg) == s)
        listener.wait("color", lambda msg, s=stamp: _stamp(msg) == s)
    assert listener.got["scan"] == [] and listener.got["range0"] == []
    warnings = [r.getMessage() for r in caplog.records]
    scan_lines = [w for w in warnings if "Skipped depth/scan" in w]
    range_lines = [w for w in warnings if "Skipped depth/range" in w]
    assert len(scan_lines) == 1 and len(range_lines) == 1  # rate-limited
    assert "'scan_height' (49 rows) must be at most the depth image height (48 rows)" in \
        scan_lines[0]
    assert "'range_sectors' x 'range_field_of_view' (2 x 0.600 rad)" in range_lines[0]
    snapshot = node.processor.stats.snapshot("test")
    assert snapshot.skipped == 6 and snapshot.errors == 0
    # fixed live: the scan comes back on the next frame
    node.processor.set_parameters({"scan_height": 48})
    stamp = _send(node, 30)
    listener.wait("scan", lambda msg: _stamp(msg) == stamp)


def test_deactivated_processor_ignores_frames_and_release_frees_the_model(
        graph, compact_checkpoint) -> None:
    node, listener = graph(publish_scan=True)
    _send(node, 40)
    listener.wait("scan", lambda msg: _stamp(msg) == (40, 0))
    processor = node.processor
    processor.deactivate()
    assert not processor.active
    for sec in (41, 42):
        _send(node, sec)
    time.sleep(0.5)  # anything published would have arrived by now
    assert all(_stamp(msg)[0] < 41 for msg in listener.got["scan"] + listener.got["depth"])
    assert processor.stats.snapshot("test").inactive == 2
    processor.activate()
    listener.wait("scan", lambda msg: _stamp(msg) == _send(node, 43))

    # release: the processor keeps no reference to the model
    own = DepthEstimator(compact_checkpoint, "cpu")
    params = DepthNodeParams.from_values({"device": "cpu", "log_period": 0.0})
    other = StandaloneDepthNode(own, params, logging.getLogger("standin_test"))
    ref = weakref.ref(own)
    del own
    other.processor.release()
    gc.collect()
    assert ref() is None
    assert other.processor.diagnostics().status[0].hardware_id == "cpu"
    with pytest.raises(RuntimeError, match="was released"):
        other.processor.activate()
    other.close()


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_release_returns_the_models_gpu_memory(compact_checkpoint) -> None:
    own = DepthEstimator(compact_checkpoint, "cuda")
    own.estimate(np.zeros((H, W, 3), np.uint8), "rgb8")
    weights = sum(p.numel() * p.element_size() for p in own.model.parameters())
    allocated, reserved = torch.cuda.memory_allocated(), torch.cuda.memory_reserved()
    params = DepthNodeParams.from_values({"device": "cuda", "log_period": 0.0})
    node = StandaloneDepthNode(own, params, logging.getLogger("standin_test"))
    del own
    node.processor.release()
    # the weights are gone, and the cached blocks went back to the driver
    assert torch.cuda.memory_allocated() <= allocated - weights
    assert torch.cuda.memory_reserved() < reserved
    node.close()


def test_message_builders_round_trip_through_cdr() -> None:
    from depth_estimation_ros.core.standin import RangeReading, Scan, static_transforms
    from depth_estimation_ros.node import msgconv

    scan = Scan(-0.5, 0.5, 0.25, 0.0, 0.1, 0.45, 10.0,
                np.array([1.0, np.nan, np.inf, -np.inf, 2.5], np.float32))
    msg = msgconv.laser_scan_msg(dds_message_types(), scan, (3, 4), "f_scan")
    back = m.LaserScan.deserialize(msg.serialize())
    np.testing.assert_array_equal(np.asarray(back.ranges, np.float32), scan.ranges)
    assert (back.header.frame_id, back.angle_increment, back.scan_time) == ("f_scan", 0.25,
                                                                            pytest.approx(0.1))
    reading = RangeReading(0, 0.5, 0.2, 5.0, 1.25)
    for distro, has_variance in (("jazzy", True), ("humble", False)):
        types = dds_message_types(distro)
        msg = msgconv.range_msg(types, reading, (3, 4), "f_range")
        assert hasattr(msg, "variance") is has_variance
        back = types.Range.deserialize(msg.serialize())
        assert (back.range, back.radiation_type, back.header.frame_id) == (1.25, 0, "f_range")
    tfs = static_transforms("f", True, "", True, 2, 0.4)
    msg = msgconv.tf_message(dds_message_types(), tfs, (3, 4))
    back = m.TFMessage.deserialize(msg.serialize())
    assert [(t.header.frame_id, t.child_frame_id) for t in back.transforms] == [
        (t.parent, t.child) for t in tfs]
    q = back.transforms[2].transform.rotation
    assert (q.x, q.y, q.z, q.w) == pytest.approx(tfs[2].rotation)
    # rclpy's float32[] fields take array.array('f'): one copy, values kept
    values = msgconv.ros_float32_array(scan.ranges)
    assert values.typecode == "f"
    np.testing.assert_array_equal(np.frombuffer(values, np.float32), scan.ranges)
