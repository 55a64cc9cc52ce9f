"""The filters, the voxel cloud and the mount through the DDS-native node in this process: a
`StandaloneDepthNode` with a real (untrained) model publishes on real DDS sockets
(loopback) to subscribers on a second participant; frames go straight to the processor."""

from __future__ import annotations

import logging
import os
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
from depth_estimation_ros.core.mount import Mount, mount_transform
from depth_estimation_ros.core.pointcloud import unpack_cloud
from depth_estimation_ros.dds import messages as m
from depth_estimation_ros.dds.depth_node import StandaloneDepthNode
from depth_estimation_ros.dds.runtime import ensure_cyclonedds_uri
from depth_estimation_ros.node.params import DepthNodeParams, ParameterError

torch.set_num_threads(1)
W, H = 160, 120
CAMERA = CameraIntrinsics(150.0, 150.0, 79.5, 59.5, W, H)
FRAME = "filters_camera_optical_frame"
DOMAIN = 150 + os.getpid() % 40  # apart from the other DDS tests' domains
TOPICS = {"depth": (m.Image, "/depth/image"), "points": (m.PointCloud2, "/depth/points"),
          "voxel": (m.PointCloud2, "/depth/points_voxel")}


@pytest.fixture(scope="module")
def estimator(compact_checkpoint: Path) -> DepthEstimator:
    return DepthEstimator(compact_checkpoint, "cpu")


@pytest.fixture
def graph(estimator, monkeypatch) -> Iterator[Callable[..., tuple[StandaloneDepthNode, Listener]]]:
    monkeypatch.setenv("ROS_DOMAIN_ID", str(DOMAIN))
    ensure_cyclonedds_uri()
    made: list = []

    def make(**values: Any) -> tuple[StandaloneDepthNode, Listener]:
        params = DepthNodeParams.from_values({"device": "cpu", "log_period": 0.0,
                                              "pointcloud_color": False, **values})
        node = StandaloneDepthNode(estimator, params, logging.getLogger("filters_test"))
        listener = Listener("filters_listener", DOMAIN, TOPICS, tf_static=True)
        made.extend([listener, node])
        for pub in (node.outputs.depth, node.outputs.points, node.outputs.points_voxel):
            assert pub.wait_for_subscriptions(1, 10.0)
        node.processor.on_camera_info(m.CameraInfo(header=m.Header(frame_id=FRAME),
                                                   **CAMERA.to_camera_info_fields()))
        return node, listener

    yield make
    for thing in made:
        (thing.node.destroy if isinstance(thing, Listener) else thing.close)()


def _send(node: StandaloneDepthNode, sec: int, rgb: np.ndarray | None = None) -> None:
    if rgb is None:
        rgb = np.random.default_rng(sec).integers(0, 256, (H, W, 3), dtype=np.uint8)
    data, step = encode_image(rgb, "rgb8")
    node.processor.on_image(m.Image(header=m.Header(stamp=m.Time(sec=sec, nanosec=0),
                                                    frame_id=FRAME),
                                    height=H, width=W, encoding="rgb8", is_bigendian=0,
                                    step=step, data=data))
    assert node.processor.wait_idle(30.0)


def _depth(msg: m.Image) -> np.ndarray:
    return np.frombuffer(msg.data, "<f4").reshape(msg.height, msg.width)


def _xyz(msg: m.PointCloud2) -> np.ndarray:
    cloud = unpack_cloud(msg.data, msg.fields, msg.point_step, msg.width, msg.height,
                         row_step=msg.row_step)
    return np.stack([cloud["x"], cloud["y"], cloud["z"]], axis=-1)


def _stamped(sec: int) -> Callable[[Any], bool]:
    return lambda msg: msg.header.stamp.sec == sec


def _edges_image() -> np.ndarray:
    """Bright block on a dark, textured background: the untrained model's depth has
    structure there for the edge filter to act on."""
    rng = np.random.default_rng(3)
    rgb = rng.integers(0, 60, (H, W, 3), dtype=np.uint8)
    rgb[30:90, 50:110] = 230
    return rgb


def test_depth_cloud_and_voxel_cloud_agree_and_filters_are_counted(graph) -> None:
    # the untrained model's depth is nearly flat: the steepest angle lets the filter act
    node, listener = graph(cloud_voxel_size=0.1, edge_filter=False, edge_max_angle=45.0,
                           min_range=0.0, max_range=1000.0)
    _send(node, 9, _edges_image())
    unfiltered = _depth(listener.wait("depth", _stamped(9)))
    assert node.processor.stats.snapshot("test").filtered_pixels == 0
    node.processor.set_parameters({"edge_filter": True})
    _send(node, 10, _edges_image())
    depth = _depth(listener.wait("depth", _stamped(10)))
    removed = int(np.isnan(depth).sum() - np.isnan(unfiltered).sum())
    assert removed > 0
    stats = node.processor.stats.snapshot("test")
    assert stats.filtered_pixels == removed
    assert stats.filter_input_pixels == int(np.isfinite(unfiltered).sum())
    points = _xyz(listener.wait("points", _stamped(10)))
    assert points.shape == (H, W, 3)
    # the same pixels are invalid in the image and the cloud
    np.testing.assert_array_equal(np.isnan(depth), np.isnan(points[..., 2]))
    np.testing.assert_allclose(points[..., 2], depth, rtol=1e-6)
    voxel = listener.wait("voxel", _stamped(10))
    assert voxel.height == 1 and voxel.is_dense and voxel.header.frame_id == FRAME
    vox = _xyz(voxel)[0]
    keys = np.floor(vox / 0.1).astype(np.int64)
    assert len(vox) > 0 and len(np.unique(keys, axis=0)) == len(vox)
    assert np.isfinite(vox).all()
    # every voxel point is a point of the filtered depth image
    valid = points[np.isfinite(points[..., 2])]
    full_keys = {tuple(k) for k in np.floor(valid / 0.1).astype(np.int64)}
    assert {tuple(k) for k in keys} <= full_keys
    values = {kv.key: kv.value for kv in node.processor.diagnostics().status[0].values}
    assert values["pixels removed by the edge filter"] == str(removed)


def test_temporal_filter_and_stabiliser_change_the_cloud_with_the_image(graph) -> None:
    node, listener = graph(temporal_filter=True, temporal_delta=1.0, temporal_alpha=0.5,
                           scale_stabilizer=True, temporal_reset_gap=30.0)
    _send(node, 20)
    _send(node, 21)  # another image: smoothed with the first
    depth = _depth(listener.wait("depth", _stamped(21)))
    points = _xyz(listener.wait("points", _stamped(21)))
    np.testing.assert_allclose(points[..., 2], depth, rtol=1e-6)
    x = (np.arange(W) - CAMERA.cx) / CAMERA.fx
    np.testing.assert_allclose(points[..., 0], x[None, :] * depth, rtol=1e-5, atol=1e-6)


def test_lifecycle_activate_resets_the_temporal_state(graph) -> None:
    node, listener = graph(temporal_filter=True, temporal_delta=1.0, temporal_alpha=0.2,
                           temporal_reset_gap=30.0, edge_filter=False)
    _send(node, 30)
    first = _depth(listener.wait("depth", _stamped(30)))
    node.processor.deactivate()
    node.processor.activate()
    _send(node, 31, np.random.default_rng(30).integers(0, 256, (H, W, 3), dtype=np.uint8))
    # the same image as frame 30, seen fresh: no history blended in
    again = _depth(listener.wait("depth", _stamped(31)))
    np.testing.assert_allclose(again, first, rtol=1e-6)
    _send(node, 32, _edges_image())
    blended = _depth(listener.wait("depth", _stamped(32)))
    assert not np.allclose(blended, first)


def test_mount_is_published_on_tf_static_with_the_scan_frame(graph) -> None:
    node, listener = graph(publish_mount=True, mount_x=0.2, mount_z=0.3, mount_pitch=0.1,
                           publish_scan=True)
    _send(node, 40)
    msg = listener.wait("tf", lambda msg: any(t.child_frame_id == FRAME
                                              for t in msg.transforms))
    by_child = {t.child_frame_id: t for t in msg.transforms}
    assert set(by_child) == {FRAME, FRAME + "_scan"}  # one message holds them all
    mount = by_child[FRAME]
    assert mount.header.frame_id == "base_link"
    expected = mount_transform(Mount("base_link", 0.2, 0.0, 0.3, 0.0, 0.1, 0.0), FRAME)
    t, r = mount.transform.translation, mount.transform.rotation
    np.testing.assert_allclose((t.x, t.y, t.z), expected.translation)
    np.testing.assert_allclose((r.x, r.y, r.z, r.w), expected.rotation)
    # a live change of the mount publishes it again
    node.processor.set_parameters({"mount_yaw": 0.5})
    _send(node, 41)
    listener.wait("tf", lambda msg: any(t.child_frame_id == FRAME and abs(
        t.transform.rotation.z - mount_transform(Mount(pitch=0.1, yaw=0.5), FRAME).rotation[2])
        < 1e-9 for t in msg.transforms))


@pytest.mark.parametrize(("name", "value", "fragment"), [
    ("edge_max_angle", 95.0, "[45.0, 89.9]"),
    ("edge_dilate", -1, "[0, 10]"),
    ("temporal_alpha", 0.0, "[0.05, 1.0]"),
    ("temporal_delta", 2.0, "[0.001, 1.0]"),
    ("scale_alpha", 1.5, "[0.01, 1.0]"),
    ("cloud_voxel_size", -0.1, "[0.0, 10.0]"),
    ("mount_pitch", 7.0, "[-6.3, 6.3]"),
    ("temporal_filter", 1, "true or false"),
])
def test_bad_filter_parameters_are_rejected_live(graph, name, value, fragment) -> None:
    node, _ = graph()
    before = node.processor.params
    with pytest.raises(ParameterError) as info:
        node.processor.set_parameters({name: value})
    assert f"'{name}'" in str(info.value) and fragment in str(info.value)
    assert node.processor.params is before
    with pytest.raises(ParameterError, match="'mount_parent_frame'.*tf2 frame name"):
        node.processor.set_parameters({"mount_parent_frame": "base link"})
