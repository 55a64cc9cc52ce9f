"""Frame pipeline, newest-frame worker, message conversion and statistics (in process).

The model is a real (untrained) compact network; messages are the real DDS classes and go
through real CDR serialisation. The end-to-end path over DDS sockets is in
test_standalone_e2e.py.
"""

import array
import math
import re
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from depth_estimation_ros.core.camera import CameraIntrinsics
from depth_estimation_ros.core.encodings import encode_compressed, encode_image
from depth_estimation_ros.core.estimator import DepthEstimator
from depth_estimation_ros.dds import messages as m
from depth_estimation_ros.dds.types import dds_message_types
from depth_estimation_ros.node.diagnostics import ERROR, OK, WARN, PipelineStats, report
from depth_estimation_ros.node.msgconv import (
    InputError,
    camera_info_msg,
    compressed_image_to_rgb,
    depth_image_msg,
    diagnostic_array_msg,
    image_to_rgb,
    intrinsics_from_camera_info,
    point_cloud_msg,
    ros_byte_array,
    stamp_and_frame,
)
from depth_estimation_ros.node.params import DepthNodeParams
from depth_estimation_ros.node.pipeline import Frame, FramePipeline, LatestFrameWorker

torch.set_num_threads(1)
TYPES = dds_message_types()
W, H = 64, 48


@pytest.fixture(scope="module")
def estimator(compact_checkpoint: Path) -> DepthEstimator:
    return DepthEstimator(compact_checkpoint, "cpu")


@pytest.fixture(scope="module")
def rgb() -> np.ndarray:
    return np.random.default_rng(1).integers(0, 256, (H, W, 3), dtype=np.uint8)


def _image_msg(pixels: np.ndarray, pixel_encoding: str, **fields) -> m.Image:
    """An Image of ``pixels``; ``fields`` overwrite message fields (to make bad ones)."""
    data, step = encode_image(pixels, pixel_encoding)
    values = dict(header=m.Header(stamp=m.Time(sec=5, nanosec=6), frame_id="cam"),
                  height=pixels.shape[0], width=pixels.shape[1], encoding=pixel_encoding,
                  is_bigendian=0, step=step, data=data)
    values.update(fields)
    return m.Image(**values)


def _roundtrip(msg):
    """Serialise to CDR and back, as a subscriber would receive it."""
    return type(msg).deserialize(msg.serialize())


# -- FramePipeline -------------------------------------------------------------------------


def test_input_resolution_depth_intrinsics_and_cloud(estimator, rgb) -> None:
    pipeline = FramePipeline(estimator, DepthNodeParams(device="cpu"))
    result = pipeline.process(Frame(rgb, (3, 4), "cam"))
    assert result.depth.shape == (H, W) and result.depth.dtype == np.float32
    assert (result.stamp, result.frame_id) == ((3, 4), "cam")
    # Paper crop: a NaN border outside the covered region, metres inside.
    region = estimator.output_region(W, H)
    inner = result.depth[region.top:region.top + region.height,
                         region.left:region.left + region.width]
    assert np.isfinite(inner).all() and 0.1 < float(inner.mean()) < 10.0
    assert np.isnan(result.depth).sum() == H * W - inner.size > 0
    assert result.intrinsics == CameraIntrinsics.nyu_kinect(W, H)
    cloud = result.cloud
    assert (cloud.height, cloud.width, cloud.point_step) == (H, W, 32)
    assert [f.name for f in cloud.fields] == ["x", "y", "z", "rgb"]
    assert set(result.timings) == {"inference", "filters"}  # the edge filter is on by default


def test_native_resolution_and_live_cloud_settings(estimator, rgb) -> None:
    params = DepthNodeParams(device="cpu", output_resolution="native")
    pipeline = FramePipeline(estimator, params)
    result = pipeline.process(Frame(rgb, (0, 0), "cam"))
    assert result.depth.shape == (109, 147)
    expected = estimator.depth_intrinsics(CameraIntrinsics.nyu_kinect(W, H), "native")
    assert result.intrinsics == expected and (expected.width, expected.height) == (147, 109)
    # Live change: decimation, no colour, tight range -> fewer, xyz-only, all-NaN points.
    pipeline.params = params.with_changes(
        {"pointcloud_decimation": 4, "pointcloud_color": False, "max_range": 0.5})
    cloud = pipeline.process(Frame(rgb, (0, 0), "cam")).cloud
    assert (cloud.height, cloud.width, cloud.point_step) == (28, 37, 16)
    xyz = cloud.data.view(np.float32).reshape(28, 37, 4)[..., :3]
    assert np.isnan(xyz).all()
    assert pipeline.process(Frame(rgb, (0, 0), "cam"), want_cloud=False).cloud is None


def test_intrinsics_sources(estimator) -> None:
    pipeline = FramePipeline(estimator, DepthNodeParams())
    camera = CameraIntrinsics(100.0, 110.0, 63.5, 47.5, 128, 96)
    assert pipeline.input_intrinsics(128, 96, camera) is camera
    assert pipeline.input_intrinsics(64, 48, camera) == camera.scaled(64, 48)
    pipeline.params = DepthNodeParams(fx=50.0, fy=55.0)
    assert pipeline.input_intrinsics(64, 48) == CameraIntrinsics(50.0, 55.0, 31.5, 23.5, 64, 48)
    pipeline.params = DepthNodeParams(fx=50.0, fy=55.0, cx=30.0, cy=20.0)
    assert pipeline.input_intrinsics(64, 48) == CameraIntrinsics(50.0, 55.0, 30.0, 20.0, 64, 48)
    # one focal length alone (as a live update sets it): square pixels
    pipeline.params = pipeline.params.with_changes({"fy": 0.0})
    assert pipeline.input_intrinsics(64, 48) == CameraIntrinsics(50.0, 50.0, 30.0, 20.0, 64, 48)
    pipeline.params = DepthNodeParams(fy=60.0)
    assert pipeline.input_intrinsics(64, 48) == CameraIntrinsics(60.0, 60.0, 31.5, 23.5, 64, 48)


# -- LatestFrameWorker ---------------------------------------------------------------------


def test_worker_keeps_only_the_newest_item_and_never_blocks() -> None:
    release = threading.Event()
    handled: list[int] = []

    def handler(item: int) -> None:
        handled.append(item)
        release.wait(5.0)

    worker = LatestFrameWorker(handler)
    try:
        assert worker.submit(1) is False
        deadline = time.monotonic() + 5.0
        while not handled and time.monotonic() < deadline:
            time.sleep(0.005)  # item 1 is now in progress
        start = time.perf_counter()
        dropped = [worker.submit(i) for i in range(2, 50)]
        assert time.perf_counter() - start < 0.1  # the busy handler does not block callers
        assert dropped == [False] + [True] * 47  # 2 waits; each later item replaces it
        release.set()
        assert worker.wait_idle(5.0)
        assert handled == [1, 49]
    finally:
        release.set()
        worker.stop()


def test_worker_survives_handler_errors_and_stops() -> None:
    errors: list[tuple[int, str]] = []
    handled: list[int] = []

    def handler(item: int) -> None:
        if item < 0:
            raise RuntimeError("bad frame")
        handled.append(item)

    worker = LatestFrameWorker(handler, on_error=lambda i, e: errors.append((i, str(e))))
    worker.submit(-1)
    assert worker.wait_idle(5.0)
    worker.submit(7)
    assert worker.wait_idle(5.0)
    assert errors == [(-1, "bad frame")] and handled == [7]
    worker.stop()
    assert worker.submit(8) is True and handled == [7]  # stopped: the item is dropped


def test_worker_does_not_report_the_item_that_fails_because_of_stop() -> None:
    # On Ctrl+C rclpy shuts its context down before the node stops the worker: the frame in
    # progress then fails to publish. That is shutdown, not a frame error to count.
    started, release = threading.Event(), threading.Event()
    errors: list[int] = []

    def handler(item: int) -> None:
        started.set()
        release.wait(5.0)
        raise RuntimeError("publisher's context is shut down")

    worker = LatestFrameWorker(handler, on_error=lambda i, e: errors.append(i))
    worker.submit(1)
    assert started.wait(5.0)
    stopper = threading.Thread(target=worker.stop)
    stopper.start()
    while not worker._stopped:  # stop() has begun (it then waits for the item)
        time.sleep(0.001)
    release.set()
    stopper.join(5.0)
    assert not stopper.is_alive() and errors == []


# -- msgconv: input ------------------------------------------------------------------------


@pytest.mark.parametrize("encoding", ["rgb8", "bgr8", "rgba8", "bgra8", "mono8"])
def test_supported_encodings_decode_to_rgb(rgb, encoding: str) -> None:
    pixels = {
        "rgb8": rgb, "bgr8": rgb[..., ::-1],
        "rgba8": np.dstack([rgb, np.full((H, W), 9, np.uint8)]),
        "bgra8": np.dstack([rgb[..., ::-1], np.zeros((H, W), np.uint8)]),
        "mono8": rgb[..., 0],
    }[encoding]
    decoded = image_to_rgb(_roundtrip(_image_msg(np.ascontiguousarray(pixels), encoding)), 10**6)
    expected = np.repeat(rgb[..., :1], 3, axis=2) if encoding == "mono8" else rgb
    np.testing.assert_array_equal(decoded, expected)


def test_padded_rows_decode(rgb) -> None:
    padded = np.zeros((H, W * 3 + 8), np.uint8)
    padded[:, : W * 3] = rgb.reshape(H, -1)
    msg = _image_msg(rgb, "rgb8", step=W * 3 + 8, data=padded)
    np.testing.assert_array_equal(image_to_rgb(msg, 10**6), rgb)


@pytest.mark.parametrize(
    ("fields", "fragment"),
    [
        ({"encoding": "yuv420_weird"}, "encoding 'yuv420_weird' is not supported"),
        ({"encoding": "32FC1"}, "encoding '32FC1' is not supported"),
        ({"width": 0}, "is 0x48 pixels; expected at least 2x2"),
        ({"width": 100_000, "height": 100_000}, "expected at most 1000000"),
        ({"data": b"\x00" * 100}, "image data has 100 bytes; expected step * height"),
        ({"step": 10}, "image step 10 is invalid"),
    ],
)
def test_bad_images_raise_input_error(rgb, fields: dict, fragment: str) -> None:
    with pytest.raises(InputError, match=re.escape(fragment)):
        image_to_rgb(_image_msg(rgb, "rgb8", **fields), max_pixels=10**6)


def test_compressed_images(rgb) -> None:
    data, fmt = encode_compressed(rgb, "png")
    msg = m.CompressedImage(header=m.Header(frame_id="cam"), format=fmt, data=data)
    np.testing.assert_array_equal(compressed_image_to_rgb(_roundtrip(msg), 10**6), rgb)
    with pytest.raises(InputError, match="expected at most 100"):
        compressed_image_to_rgb(msg, max_pixels=100)
    with pytest.raises(InputError, match="could not be decoded"):
        compressed_image_to_rgb(m.CompressedImage(format="jpeg", data=b"not a jpeg"), 10**6)


def test_camera_info_parsing() -> None:
    k = [500.0, 0.0, 320.0, 0.0, 510.0, 240.0, 0.0, 0.0, 1.0]
    info = m.CameraInfo(width=640, height=480, k=k)
    assert intrinsics_from_camera_info(_roundtrip(info)) == CameraIntrinsics(
        500.0, 510.0, 320.0, 240.0, 640, 480)
    bad = [
        (m.CameraInfo(width=640, height=480), "uncalibrated"),
        (m.CameraInfo(width=640, height=480, k=[math.nan] + k[1:]), "must be finite"),
        (m.CameraInfo(width=0, height=480, k=k), "positive width and height"),
    ]
    for msg, fragment in bad:
        with pytest.raises(InputError, match=fragment):
            intrinsics_from_camera_info(msg)


# -- msgconv: output -----------------------------------------------------------------------


def test_depth_image_message_is_32fc1_with_nan() -> None:
    depth = np.full((H, W), 2.5, np.float32)
    depth[0, :] = np.nan
    msg = _roundtrip(depth_image_msg(TYPES, depth, (11, 12), "optical"))
    assert stamp_and_frame(msg) == ((11, 12), "optical")
    assert (msg.encoding, msg.width, msg.height, msg.step, msg.is_bigendian) == (
        "32FC1", W, H, W * 4, 0)
    decoded = np.frombuffer(msg.data, "<f4").reshape(H, W)
    np.testing.assert_array_equal(decoded, depth)  # NaN positions equal too


def test_camera_info_and_cloud_messages(estimator, rgb) -> None:
    result = FramePipeline(estimator, DepthNodeParams()).process(Frame(rgb, (1, 2), "cam"))
    info = _roundtrip(camera_info_msg(TYPES, result.intrinsics, (1, 2), "cam"))
    assert (info.width, info.height, info.distortion_model) == (W, H, "plumb_bob")
    np.testing.assert_allclose(np.reshape(info.k, (3, 3)), result.intrinsics.K)
    assert info.p[0] == result.intrinsics.fx and info.p[3] == 0.0
    cloud = _roundtrip(point_cloud_msg(TYPES, result.cloud, (1, 2), "cam"))
    assert stamp_and_frame(cloud) == ((1, 2), "cam")
    assert [(f.name, f.offset, f.datatype, f.count) for f in cloud.fields] == [
        ("x", 0, 7, 1), ("y", 4, 7, 1), ("z", 8, 7, 1), ("rgb", 16, 7, 1)]
    assert (cloud.height, cloud.width, cloud.point_step, cloud.row_step) == (H, W, 32, W * 32)
    assert cloud.is_dense is False and cloud.is_bigendian is False
    points = np.frombuffer(cloud.data, np.float32).reshape(H, W, 8)
    np.testing.assert_array_equal(points[..., 2], result.depth)  # z is the depth, NaN too


def test_ros_byte_array_is_one_copy_of_the_buffer() -> None:
    data = np.arange(10, dtype=np.uint8)
    out = ros_byte_array(memoryview(data))
    assert isinstance(out, array.array) and out.typecode == "B"
    assert out.tobytes() == data.tobytes()


# -- diagnostics ---------------------------------------------------------------------------


def test_stats_rates_levels_and_message() -> None:
    now = [100.0]
    stats = PipelineStats(clock=lambda: now[0])
    for _ in range(20):
        stats.count("received")
    stats.count("dropped", 10)
    now[0] += 1.0
    for _ in range(10):
        stats.record_processed(0.05, {"inference": 0.04})
    now[0] += 1.0
    snap = stats.snapshot()
    assert (snap.received, snap.processed, snap.dropped) == (20, 10, 10)
    assert snap.input_rate_hz == pytest.approx(10.0) and snap.output_rate_hz == 5.0
    assert snap.latency_ms == pytest.approx(50.0)
    assert snap.stage_ms["inference"] == pytest.approx(40.0)
    status = report(snap, "depth_estimation_node", "cpu")
    assert status.level == OK and "dropped 10" in status.message
    assert ("frames dropped", "10") in status.values
    stats.count("rejected")
    assert report(stats.snapshot(), "n", "cpu").level == WARN
    stats.count("errors")
    assert report(stats.snapshot(), "n", "cpu").level == ERROR
    assert report(stats.snapshot(), "n", "cpu").level == OK  # new period, nothing new
    # The log line keeps its own period: it still sees all 10 processed frames.
    assert stats.snapshot("log").output_rate_hz == pytest.approx(5.0)

    msg = _roundtrip(diagnostic_array_msg(TYPES, status, (7, 8)))
    assert msg.header.stamp.sec == 7 and msg.status[0].level == m.DiagnosticStatus.OK
    assert msg.status[0].name == "depth_estimation_node: depth pipeline"
    assert {kv.key: kv.value for kv in msg.status[0].values}["frames processed"] == "10"


def test_build_estimator_follows_precision_and_threads(compact_checkpoint):
    from depth_estimation_ros.node.pipeline import build_estimator

    threads = torch.get_num_threads()
    try:
        params = DepthNodeParams(checkpoint=str(compact_checkpoint), device="cpu",
                                 precision="bf16", num_threads=1)
        est = build_estimator(params)
        assert est.dtype == torch.bfloat16 and torch.get_num_threads() == 1
        assert build_estimator(DepthNodeParams(checkpoint=str(compact_checkpoint),
                                               device="cpu")).dtype == torch.float32
        with pytest.raises(ValueError, match="CUDA"):
            build_estimator(DepthNodeParams(checkpoint=str(compact_checkpoint), device="cpu",
                                            precision="fp16"))
    finally:
        torch.set_num_threads(threads)


def test_compressed_bomb_rejected_before_decoding(monkeypatch) -> None:
    """A small PNG claiming 20000x20000 gets the max_input_pixels message, undecoded."""
    import struct
    import zlib

    import cv2

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (struct.pack(">I", len(body)) + kind + body
                + struct.pack(">I", zlib.crc32(kind + body)))

    side = 20000
    row = b"\x00" * (1 + side // 8)  # 1-bit greyscale: filter byte + packed zero bits
    deflate = zlib.compressobj(9)
    idat = b"".join(deflate.compress(row) for _ in range(side)) + deflate.flush()
    png = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", side, side, 1, 0, 0,
                                                              0, 0))
           + chunk(b"IDAT", idat) + chunk(b"IEND", b""))
    msg = _roundtrip(m.CompressedImage(header=m.Header(frame_id="cam"), format="png", data=png))

    def refuse(*args, **kwargs):
        raise AssertionError("cv2.imdecode was called before the size was checked")

    monkeypatch.setattr(cv2, "imdecode", refuse)
    expected = (f"Compressed image is {side}x{side} = {side * side} pixels; expected at most "
                f"{4096 * 4096} (parameter max_input_pixels).")
    with pytest.raises(InputError, match=re.escape(expected)):
        compressed_image_to_rgb(msg, 4096 * 4096)
    with pytest.raises(InputError, match="could not be decoded"):
        compressed_image_to_rgb(m.CompressedImage(format="png", data=png[:20]), 4096 * 4096)


def test_ready_line_names_every_output_the_shell_publishes() -> None:
    from types import SimpleNamespace

    from depth_estimation_ros.node.pipeline import Outputs, ready_line

    def pub(name: str) -> SimpleNamespace:
        return SimpleNamespace(topic_name=name)

    full = Outputs(pub("/depth/image"), pub("/depth/camera_info"), pub("/depth/points"),
                   points_voxel=pub("/depth/points_voxel"), scan=pub("/depth/scan"),
                   color=pub("/depth/image_color"), tf_static=pub("/tf_static"),
                   ranges=lambda n: [])
    line = ready_line("/camera/image_raw", full)
    assert line.startswith("/camera/image_raw -> /depth/image, /depth/camera_info, ")
    for name in ("/depth/points_voxel", "/depth/scan", "/tf_static", "range sectors"):
        assert name in line
    bare = ready_line("/in", Outputs(pub("/d"), pub("/i"), pub("/p")))
    assert bare == "/in -> /d, /i, /p"
