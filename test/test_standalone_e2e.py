"""End to end over real DDS on loopback: the standalone node runs in its own process and this
process talks to it through the ROS 2 DDS types, like a camera driver and RViz would.

Each test has its own node process and its own ``ROS_DOMAIN_ID`` (no cross-talk); all node
processes start together when the module starts, to overlap their start-up. The model is an
untrained compact checkpoint with the paper's crop, so depth at input resolution has a NaN
border and about 2.5 m inside.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from cyclonedds._clayer import ddspy_write

from depth_estimation_ros.core.camera import CameraIntrinsics
from depth_estimation_ros.core.encodings import encode_compressed, encode_image
from depth_estimation_ros.core.model import PreprocessConfig
from depth_estimation_ros.dds import messages as m
from depth_estimation_ros.dds.qos import SENSOR_DATA, TRANSIENT_LOCAL, QosProfile
from depth_estimation_ros.dds.runtime import DdsNode, ensure_cyclonedds_uri

ROOT = Path(__file__).resolve().parents[1]
RELIABLE = QosProfile(reliability="reliable", durability="volatile", depth=10)
W, H = 64, 48
FRAME_ID = "e2e_camera_optical_frame"
# Domains unique to this run (pid based) so parallel runs on one machine do not talk.
_DOMAIN_BASE = 30 + (os.getpid() % 19) * 10


# -- node processes ----------------------------------------------------------------------


class NodeProcess:
    """``python -m depth_estimation_ros.standalone`` in its own process, output captured."""

    def __init__(self, args: list[str], domain: int) -> None:
        self.domain = domain
        env = dict(os.environ, ROS_DOMAIN_ID=str(domain), CYCLONEDDS_URI=ensure_cyclonedds_uri(),
                   OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "depth_estimation_ros.standalone", *args], cwd=ROOT, env=env,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.lines: list[str] = []
        self._cond = threading.Condition()
        self._eof = False
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        for line in self.proc.stdout:
            with self._cond:
                self.lines.append(line.rstrip())
                self._cond.notify_all()
        with self._cond:
            self._eof = True
            self._cond.notify_all()

    def log(self) -> str:
        return "\n".join(self.lines[-40:])

    def wait_for(self, pattern: str, timeout: float = 60.0, start: int = 0) -> re.Match:
        """Wait for an output line (from line ``start`` on) matching ``pattern``."""
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for line in self.lines[start:]:
                    if match := regex.search(line):
                        return match
                if self._eof:
                    pytest.fail(f"node exited ({self.proc.wait()}) before printing "
                                f"{pattern!r}:\n{self.log()}")
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    pytest.fail(f"no line matching {pattern!r} in {timeout} s:\n{self.log()}")
                self._cond.wait(min(remaining, 0.5))

    def wait_exit(self, timeout: float = 60.0) -> int:
        code = self.proc.wait(timeout)
        with self._cond:
            self._cond.wait_for(lambda: self._eof, 5.0)
        return code

    def rss_mb(self) -> float:
        status = Path(f"/proc/{self.proc.pid}/status").read_text()
        return int(re.search(r"VmRSS:\s+(\d+) kB", status).group(1)) / 1024

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                return self.wait_exit(15.0)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        return self.proc.wait()


def _params_file(path: Path, **values: Any) -> Path:
    path.write_text(yaml.safe_dump({"/**": {"ros__parameters": values}}))
    return path


@pytest.fixture(scope="module")
def nodes(compact_checkpoint: Path, tmp_path_factory) -> Iterator[dict[str, NodeProcess]]:
    """Start every node configuration at once; stop them all at the end."""
    base = ["-p", f"checkpoint:={compact_checkpoint}", "-p", "device:=cpu",
            "-p", "diagnostics_period:=0.5"]
    native_yaml = _params_file(
        tmp_path_factory.mktemp("params") / "native.yaml", checkpoint=str(compact_checkpoint),
        device="cpu", output_resolution="native", image_transport="compressed",
        use_camera_info=False, fx=50.0, fy=50.0, pointcloud_color=False,
        pointcloud_decimation=2)
    configs = {
        "passthrough": base,
        "native": ["--params-file", str(native_yaml), "--ros-args", "--log-level", "info"],
        "overload": base + ["-p", "input_qos_reliability:=reliable",
                            "-p", "publish_pointcloud:=false"],
        "bad_input": base + ["-p", "max_input_pixels:=1000000", "-p", "log_period:=1.0"],
        "no_weights": ["-p", "checkpoint:=/nonexistent/depth_model.pt", "-p", "device:=cpu"],
        "bad_param": base + ["-p", "pointcloud_decimation:=0"],
        "standin": base + ["-p", "publish_scan:=true", "-p", "publish_range:=true",
                           "-p", "range_sectors:=3", "-p", "range_field_of_view:=0.3",
                           "-p", "publish_pointcloud:=false"],
    }
    procs = {name: NodeProcess(args, _DOMAIN_BASE + i)
             for i, (name, args) in enumerate(configs.items())}
    procs["native"].params_file = native_yaml
    yield procs
    for proc in procs.values():
        proc.stop()


# -- this process's side of the graph -------------------------------------------------------


class Peer:
    """Camera publishers and output subscribers on one domain, in this process."""

    def __init__(self, domain: int, image_qos: QosProfile = SENSOR_DATA,
                 outputs: bool = True) -> None:
        ensure_cyclonedds_uri()
        self.node = DdsNode("e2e_peer", domain_id=domain)
        self.received: dict[str, list] = {"image": [], "info": [], "points": [], "diag": []}
        self._cond = threading.Condition()
        topics = [("diag", m.DiagnosticArray, "/diagnostics")]
        if outputs:
            topics += [("image", m.Image, "/depth/image"), ("info", m.CameraInfo,
                       "/depth/camera_info"), ("points", m.PointCloud2, "/depth/points")]
        for key, msg_type, topic in topics:
            self.node.create_subscription(msg_type, topic, self._keep(key), RELIABLE)
        self.image = self.node.create_publisher(m.Image, "/camera/image_raw", image_qos)
        self.info = self.node.create_publisher(m.CameraInfo, "/camera/camera_info", image_qos)
        self.compressed = self.node.create_publisher(
            m.CompressedImage, "/camera/image_raw/compressed", image_qos)

    def _keep(self, key: str) -> Callable[[Any], None]:
        def callback(msg: Any) -> None:
            with self._cond:
                self.received[key].append(msg)
                self._cond.notify_all()
        return callback

    def find(self, key: str, predicate: Callable[[Any], bool]) -> Any | None:
        with self._cond:
            return next((msg for msg in reversed(self.received[key]) if predicate(msg)), None)

    def wait(self, key: str, predicate: Callable[[Any], bool], timeout: float = 20.0,
             publish: Callable[[], None] | None = None, period: float = 0.3) -> Any:
        """Wait for a ``key`` output matching ``predicate``, calling ``publish`` every
        ``period`` s meanwhile (this rides over discovery and best-effort losses)."""
        deadline = time.monotonic() + timeout
        next_publish = 0.0
        while True:
            now = time.monotonic()
            if publish is not None and now >= next_publish:
                publish()
                next_publish = now + period
            if (msg := self.find(key, predicate)) is not None:
                return msg
            if now > deadline:
                pytest.fail(f"no matching {key} output within {timeout} s "
                            f"(got {len(self.received[key])})")
            with self._cond:
                self._cond.wait(0.05)

    def diag_values(self, predicate: Callable[[dict], bool] = lambda v: True,
                    timeout: float = 20.0) -> dict[str, str]:
        """Key/values of the newest /diagnostics status that satisfies ``predicate``."""
        def values(msg: m.DiagnosticArray) -> dict[str, str]:
            return {kv.key: kv.value for kv in msg.status[0].values}
        return values(self.wait("diag", lambda msg: predicate(values(msg)), timeout))

    def close(self) -> None:
        self.node.destroy()


@pytest.fixture
def peers() -> Iterator[Callable[..., Peer]]:
    made: list[Peer] = []

    def make(*args: Any, **kwargs: Any) -> Peer:
        made.append(Peer(*args, **kwargs))
        return made[-1]

    yield make
    for peer in made:
        peer.close()


def _header(sec: int, nanosec: int = 0, frame_id: str = FRAME_ID) -> m.Header:
    return m.Header(stamp=m.Time(sec=sec, nanosec=nanosec), frame_id=frame_id)


def _image(rgb: np.ndarray, sec: int, nanosec: int = 0, **fields: Any) -> m.Image:
    data, step = encode_image(rgb, "rgb8")
    values = dict(header=_header(sec, nanosec), height=rgb.shape[0], width=rgb.shape[1],
                  encoding="rgb8", is_bigendian=0, step=step, data=data)
    values.update(fields)
    return m.Image(**values)


def _stamp(msg: Any) -> tuple[int, int]:
    return msg.header.stamp.sec, msg.header.stamp.nanosec


def _rgb(seed: int, height: int = H, width: int = W) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)


def _covered_region(width: int, height: int) -> tuple[int, int, int, int]:
    """(left, top, w, h) the paper crop covers, computed here from the crop numbers."""
    pre = PreprocessConfig.paper()
    return (round(pre.crop_left / pre.resize_width * width),
            round(pre.crop_top / pre.resize_height * height),
            round(pre.input_width / pre.resize_width * width),
            round(pre.input_height / pre.resize_height * height))


# -- tests ----------------------------------------------------------------------------------


def test_header_encoding_nan_camera_info_and_cloud_layout(nodes, peers) -> None:
    node = nodes["passthrough"]
    node.wait_for(r"Ready on DDS domain")
    peer = peers(node.domain)
    camera = CameraIntrinsics(60.0, 62.0, 30.5, 22.5, W, H)
    info = m.CameraInfo(header=_header(0), **camera.to_camera_info_fields())
    rgb = _rgb(3)
    counter = iter(range(1000, 2000))

    def publish() -> None:
        peer.info.publish(info)
        peer.image.publish(_image(rgb, next(counter), 123_456_789))

    # Frames processed before the CameraInfo arrived carry default intrinsics; wait for ours.
    out_info = peer.wait("info", lambda msg: list(msg.k) == list(camera.K.reshape(-1)),
                         publish=publish)
    stamp = _stamp(out_info)
    depth_msg = peer.wait("image", lambda msg: _stamp(msg) == stamp)
    cloud = peer.wait("points", lambda msg: _stamp(msg) == stamp)

    # Header passthrough (REP 118 / REP 103: same stamp and optical frame as the input).
    for msg in (depth_msg, out_info, cloud):
        assert msg.header.frame_id == FRAME_ID and msg.header.stamp.nanosec == 123_456_789
    # 32FC1 at the input resolution, NaN outside the covered region, metres inside.
    assert (depth_msg.encoding, depth_msg.width, depth_msg.height) == ("32FC1", W, H)
    assert (depth_msg.step, depth_msg.is_bigendian) == (W * 4, 0)
    depth = np.frombuffer(depth_msg.data, "<f4").reshape(H, W)
    left, top, width, height = _covered_region(W, H)
    inner = depth[top:top + height, left:left + width]
    assert np.isfinite(inner).all() and (inner > 0.1).all() and (inner < 10.0).all()
    assert np.isnan(depth).sum() == W * H - width * height
    # Camera info for the depth image: same size, our K, P = [K | 0].
    assert (out_info.width, out_info.height) == (W, H)
    np.testing.assert_allclose(np.reshape(out_info.p, (3, 4))[:, :3], camera.K)
    # depth_image_proc cloud layout, organised, z = depth, x and y back-projected with K.
    assert (cloud.height, cloud.width, cloud.point_step, cloud.row_step) == (H, W, 32, W * 32)
    assert [(f.name, f.offset, f.datatype, f.count) for f in cloud.fields] == [
        ("x", 0, 7, 1), ("y", 4, 7, 1), ("z", 8, 7, 1), ("rgb", 16, 7, 1)]
    assert cloud.is_dense is False and cloud.is_bigendian is False
    points = np.frombuffer(cloud.data, "<f4").reshape(H, W, 8)
    np.testing.assert_array_equal(points[..., 2], depth)
    valid = np.isfinite(depth)
    u, v = np.meshgrid(np.arange(W), np.arange(H))
    np.testing.assert_allclose(points[..., 0][valid], ((u - 30.5) * depth / 60.0)[valid],
                               rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(points[..., 1][valid], ((v - 22.5) * depth / 62.0)[valid],
                               rtol=1e-5, atol=1e-6)
    assert np.isnan(points[..., :3][~valid]).all()
    packed = np.frombuffer(cloud.data, "<u4").reshape(H, W, 8)[..., 4]
    expected = (rgb[..., 0].astype(np.uint32) << 16) | (rgb[..., 1].astype(np.uint32) << 8) \
        | rgb[..., 2]
    np.testing.assert_array_equal(packed, expected)
    # Ctrl-C: clean shutdown, status 0.
    assert node.stop() == 0
    node.wait_for(r"Shut down\.")


def test_native_resolution_compressed_input_and_live_reload(nodes, peers) -> None:
    node = nodes["native"]
    node.wait_for(r"Ready on DDS domain \d+: /camera/image_raw/compressed -> ")
    peer = peers(node.domain)
    data, fmt = encode_compressed(_rgb(4), "png")
    counter = iter(range(2000, 3000))

    def publish() -> None:
        peer.compressed.publish(m.CompressedImage(header=_header(next(counter)), format=fmt,
                                                  data=data))

    depth_msg = peer.wait("image", lambda msg: True, publish=publish)
    stamp = _stamp(depth_msg)
    info = peer.wait("info", lambda msg: _stamp(msg) == stamp)
    cloud = peer.wait("points", lambda msg: _stamp(msg) == stamp)
    assert (depth_msg.width, depth_msg.height, depth_msg.encoding) == (147, 109, "32FC1")
    assert np.isfinite(np.frombuffer(depth_msg.data, "<f4")).all()  # native: all covered
    # fx = fy = 50 from the params file, centre principal point, cropped then scaled.
    left, top, width, height = _covered_region(W, H)
    sx, sy = 147 / width, 109 / height
    expected = [50.0 * sx, 0.0, (31.5 - left) * sx, 0.0, 50.0 * sy, (23.5 - top) * sy, 0, 0, 1]
    assert (info.width, info.height) == (147, 109)
    np.testing.assert_allclose(info.k, expected, rtol=1e-9)
    # xyz only, every 2nd pixel.
    assert (cloud.height, cloud.width, cloud.point_step) == (55, 74, 16)
    assert [f.name for f in cloud.fields] == ["x", "y", "z"]

    # SIGHUP re-reads the params file: a live change applies, a read-only one is refused.
    values = yaml.safe_load(node.params_file.read_text())["/**"]["ros__parameters"]
    _params_file(node.params_file, **{**values, "pointcloud_decimation": 4})
    mark = len(node.lines)
    node.proc.send_signal(signal.SIGHUP)
    node.wait_for(r"Parameters updated: pointcloud_decimation=4", 20.0, mark)
    peer.wait("points", lambda msg: (msg.height, msg.width) == (28, 37), publish=publish)
    _params_file(node.params_file, **{**values, "pointcloud_decimation": 4, "device": "cuda"})
    mark = len(node.lines)
    node.proc.send_signal(signal.SIGHUP)
    node.wait_for(r"Parameter change rejected: Parameter 'device' is read-only", 20.0, mark)
    after = next(counter) + 1
    peer.wait("image", lambda msg: msg.header.stamp.sec > after, publish=publish)  # still up


def test_overload_keeps_only_the_newest_frame_with_bounded_memory(nodes, peers) -> None:
    node = nodes["overload"]
    node.wait_for(r"Ready on DDS domain")
    peer = peers(node.domain, image_qos=QosProfile("reliable", "volatile", 5))
    rgb = _rgb(5, 480, 640)  # 0.9 MB per frame: a queue of them would show in RSS
    warm = iter(range(1, 1000))
    peer.wait("image", lambda msg: True, publish=lambda: peer.image.publish(
        _image(rgb, next(warm))))
    inference_ms = float(peer.diag_values(lambda v: "inference (ms)" in v)["inference (ms)"])
    time.sleep(1.0)  # let warm-up frames finish
    rss_before = node.rss_mb()

    # Publish 10x faster than one inference takes.
    count, period = 100, max(inference_ms / 10.0, 2.0) / 1e3
    first = 10_000
    start = time.monotonic()
    for i in range(count):
        peer.image.publish(_image(rgb, first + i))
        time.sleep(max(0.0, start + (i + 1) * period - time.monotonic()))
    last = first + count - 1
    peer.wait("image", lambda msg: msg.header.stamp.sec == last, timeout=30.0)  # the newest
    rss_after = node.rss_mb()

    stamps = [msg.header.stamp.sec for msg in list(peer.received["image"])
              if msg.header.stamp.sec >= first]
    assert stamps == sorted(set(stamps)), "frames must come out newest-last, each once"
    assert len(stamps) <= count // 4, f"{len(stamps)} of {count} frames processed"
    diag = peer.diag_values(lambda v: int(v["frames processed"]) >= len(stamps) + 1)
    received, dropped = int(diag["frames received"]), int(diag["frames dropped"])
    assert dropped >= count // 2, diag
    assert int(diag["frames processed"]) + dropped <= received, diag
    assert rss_after - rss_before < 40.0, (rss_before, rss_after)
    assert float(diag["latency max (ms)"]) < 10 * inference_ms + 1000.0, diag


def test_bad_input_is_rejected_counted_and_the_node_keeps_running(nodes, peers) -> None:
    node = nodes["bad_input"]
    node.wait_for(r"Ready on DDS domain")
    rgb = _rgb(6)
    # No subscriber to any output: frames are received but not processed.
    watcher = peers(node.domain, outputs=False)
    seq = iter(range(3000, 4000))
    watcher.wait("diag", lambda msg: int({kv.key: kv.value for kv in msg.status[0].values}[
        "frames idle (no subscribers)"]) >= 3, publish=lambda: watcher.image.publish(
        _image(rgb, next(seq))))
    assert watcher.diag_values()["frames processed"] == "0"
    watcher.close()

    peer = peers(node.domain)
    peer.wait("image", lambda msg: True, publish=lambda: peer.image.publish(
        _image(rgb, next(seq))))
    good = _image(rgb, 0)
    zero_k = m.CameraInfo(header=_header(0), width=W, height=H)
    nan_k = m.CameraInfo(header=_header(0), width=W, height=H,
                         k=[np.nan, 0, 32, 0, 60, 24, 0, 0, 1])
    huge_k = m.CameraInfo(header=_header(0), width=1, height=1,
                          k=[1e308, 0, 0.5, 0, 1e308, 0.5, 0, 0, 1])
    # CDR bytes that do not decode as an Image: a frame_id that is not UTF-8
    frame_id = FRAME_ID.encode()
    undecodable = bytes(_image(rgb, 5).serialize()).replace(frame_id, b"\xff" + frame_id[1:])
    undecodable = undecodable.ljust(-(-len(undecodable) // 4) * 4, b"\0")

    def send(publisher, msg):
        return lambda: publisher.publish(msg)

    cases = [
        (send(peer.image, _image(rgb, 1, encoding="yuv420_fancy")),
         r"Rejected image message: Image encoding 'yuv420_fancy' is not supported"),
        (send(peer.image, _image(rgb, 2, width=0)),
         r"Rejected image message: Image is 0x48 pixels"),
        (send(peer.image, _image(rgb, 3, width=100_000, height=100_000)),
         r"Rejected image message: .*expected at most 1000000 \(parameter max_input_pixels\)"),
        (send(peer.image, _image(rgb, 4, data=bytes(good.data)[: len(good.data) // 2])),
         r"Rejected image message: image data has 4608 bytes; expected step \* height"),
        (lambda: ddspy_write(peer.image._writer._ref, undecodable),
         r"Rejected image message: its bytes do not decode as a ROS message "
         r"\(UnicodeDecodeError"),
        # valid for its 1x1 image, but scaled to the 64x48 frames fx overflows
        (lambda: (peer.info.publish(huge_k), peer.image.publish(_image(rgb, 6))),
         r"Rejected camera_info message: intrinsics of a 1x1 image cannot be scaled to the "
         r"64x48 frame .*; using the fallback intrinsics"),
        (send(peer.info, zero_k), r"Rejected camera_info message: .*uncalibrated"),
        (send(peer.info, nan_k), r"Rejected camera_info message: .*finite"),
    ]
    for publish, pattern in cases:
        mark = len(node.lines)
        deadline = time.monotonic() + 20.0
        while not any(re.search(pattern, line) for line in node.lines[mark:]):
            assert time.monotonic() < deadline, f"no {pattern!r}:\n{node.log()}"
            publish()  # again if a best-effort sample was lost
            time.sleep(0.3)
    # The node is still up: a good frame goes through, with the default intrinsics.
    info = peer.wait("info", lambda msg: msg.header.stamp.sec >= 4000,
                     publish=lambda: peer.image.publish(_image(rgb, next(seq) + 1000)))
    np.testing.assert_allclose(info.k, CameraIntrinsics.nyu_kinect(W, H).K.reshape(-1))
    diag = peer.diag_values(lambda v: int(v["messages rejected"]) >= len(cases))
    assert diag["frame errors"] == "0"
    # The periodic status line reports them too.
    node.wait_for(rf"Depth: in [\d.]+ Hz, out [\d.]+ Hz, .*rejected {diag['messages rejected']}")
    assert node.proc.poll() is None


def test_missing_weights_exit_with_one_clear_message(nodes) -> None:
    node = nodes["no_weights"]
    assert node.wait_exit() == 1
    line = node.wait_for(r"Cannot load the depth model").string
    assert "/nonexistent/depth_model.pt does not exist" in line
    assert "python -m depth_training.train" in line  # how to make weights


def test_bad_parameter_exits_with_the_reason(nodes) -> None:
    node = nodes["bad_param"]
    assert node.wait_exit() == 2
    node.wait_for(re.escape("Parameter 'pointcloud_decimation' must be an integer in [1, 16], "
                            "got 0."))


def test_stand_in_sensors_arrive_with_the_camera_stamp(nodes, peers) -> None:
    node = nodes["standin"]
    node.wait_for(r"Ready on DDS domain")
    peer = peers(node.domain)
    outputs = [("scan", m.LaserScan, "/depth/scan"), ("color", m.Image, "/depth/image_color"),
               *((f"range{i}", m.range_type(), f"/depth/range_{i}") for i in range(3))]
    for key, msg_type, topic in outputs:
        peer.received[key] = []
        peer.node.create_subscription(msg_type, topic, peer._keep(key), RELIABLE)
    camera = CameraIntrinsics(60.0, 60.0, 31.5, 23.5, W, H)
    info = m.CameraInfo(header=_header(0), **camera.to_camera_info_fields())
    counter = iter(range(3000, 4000))

    def publish() -> None:
        peer.info.publish(info)
        peer.image.publish(_image(_rgb(5), next(counter), 42))

    scan = peer.wait("scan", lambda msg: True, publish=publish)
    stamp = _stamp(scan)
    assert stamp[1] == 42 and scan.header.frame_id == FRAME_ID + "_scan"
    # a scan of about 2.5 m (the untrained model) with NaN where the crop leaves no depth
    ranges = np.asarray(scan.ranges)
    assert len(ranges) == W and np.isfinite(ranges).sum() > W // 2
    assert ((ranges[np.isfinite(ranges)] > 0.45) & (ranges[np.isfinite(ranges)] < 10)).all()
    depth = peer.wait("image", lambda msg: _stamp(msg) == stamp)
    color = peer.wait("color", lambda msg: _stamp(msg) == stamp)
    assert (color.encoding, color.width, color.height) == ("rgb8", depth.width, depth.height)
    for i in range(3):
        reading = peer.wait(f"range{i}", lambda msg: _stamp(msg) == stamp)
        assert reading.header.frame_id == f"{FRAME_ID}_range_{i}"
        assert 0.2 < reading.range < 5.0 and reading.radiation_type == 0
    # a /tf_static reader joining now still gets the node's one message (transient local)
    late = DdsNode("e2e_tf_listener", domain_id=node.domain)
    try:
        got: list = []
        late.create_subscription(m.TFMessage, "/tf_static", got.append, TRANSIENT_LOCAL)
        assert late.spin(until=lambda: bool(got), timeout=10.0)
        children = [t.child_frame_id for t in got[0].transforms]
        assert children == [FRAME_ID + "_scan", *(f"{FRAME_ID}_range_{i}" for i in range(3))]
        assert all(t.header.frame_id == FRAME_ID for t in got[0].transforms)
        assert all(t.header.stamp.nanosec == 42 for t in got[0].transforms)  # a camera stamp
    finally:
        late.destroy()
    values = peer.diag_values(lambda v: int(v.get("published depth/scan", "0")) > 0)
    assert int(values["published depth/range_2"]) > 0
    assert node.stop() == 0
