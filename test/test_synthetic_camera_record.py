"""Synthetic camera and recorder CLIs over real DDS, plus the PNG/PLY helpers they use."""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from depth_estimation_ros.core.camera import CameraIntrinsics, backproject
from depth_estimation_ros.core.encodings import (
    decode_compressed,
    encode_depth_32fc1,
    encode_image,
    rgb8_from_msg,
)
from depth_estimation_ros.core.ply import PlyError, read_ply, write_ply
from depth_estimation_ros.core.pointcloud import pack_cloud
from depth_estimation_ros.core.visualize import VisualizeError, colorize_depth, save_depth_png
from depth_estimation_ros.dds import messages as m
from depth_estimation_ros.dds.qos import SENSOR_DATA, QosProfile
from depth_estimation_ros.dds.runtime import DdsNode, loopback_config_path
from depth_estimation_ros.node.recorder import (
    DepthRecorder,
    RateLatency,
    cloud_arrays,
    depth_metres,
)
from depth_estimation_ros.sim.frames import FrameSource, convert_rgb

REPO = Path(__file__).resolve().parents[1]
K = CameraIntrinsics(fx=40.0, fy=40.0, cx=15.5, cy=11.5, width=32, height=24)


@pytest.fixture(scope="module")
def dds_env() -> dict[str, str]:
    """Environment for child processes: our own domain, the loopback config, the repo."""
    env = dict(os.environ, ROS_DOMAIN_ID=str(1 + (os.getpid() + 97) % 200),
               CYCLONEDDS_URI=loopback_config_path().as_uri(), PYTHONUNBUFFERED="1")
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    old = {k: os.environ.get(k) for k in ("ROS_DOMAIN_ID", "CYCLONEDDS_URI")}
    os.environ.update({k: env[k] for k in old})
    yield env
    for key, value in old.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


# ------------------------------------------------------------------ visualize / ply


def test_colorize_depth_scale_and_invalid_black() -> None:
    depth = np.array([[1.0, 2.0, 3.0], [np.nan, 0.0, np.inf]], np.float32)
    rgb = colorize_depth(depth, cmap="viridis")
    assert rgb.shape == (2, 3, 3) and rgb.dtype == np.uint8
    assert (rgb[1] == 0).all()  # NaN, 0 and inf are black
    import matplotlib

    lut = matplotlib.colormaps["viridis"]
    assert np.abs(rgb[0, 0].astype(int) - np.array(lut(0.0)[:3]) * 255).max() <= 1
    assert np.abs(rgb[0, 2].astype(int) - np.array(lut(1.0)[:3]) * 255).max() <= 1
    fixed = colorize_depth(depth, vmin=0.0, vmax=6.0)  # fixed range: 3 m is mid-scale
    assert not np.array_equal(fixed[0, 2], colorize_depth(depth)[0, 2])
    with pytest.raises(VisualizeError, match="expected \\(H, W\\) metres"):
        colorize_depth(np.zeros((2, 2, 3)))
    with pytest.raises(VisualizeError, match="not a matplotlib colormap"):
        colorize_depth(depth, cmap="nope")


def test_save_depth_png_has_depth_pixels_and_colour_bar(tmp_path: Path) -> None:
    depth = np.linspace(0.5, 4.0, 48 * 64, dtype=np.float32).reshape(48, 64)
    depth[5:10, 5:10] = np.nan
    path = save_depth_png(tmp_path / "d.png", depth)
    image = cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)
    assert image.shape[0] == 48 and image.shape[1] > 64  # colour bar on the right
    assert np.array_equal(image[:, :64], colorize_depth(depth))
    assert [p.name for p in tmp_path.iterdir()] == ["d.png"]  # no temporary left over


def test_write_ply_finite_points_with_colour_and_read_back(tmp_path: Path) -> None:
    xyz = np.random.default_rng(0).random((4, 5, 3)).astype(np.float32)
    xyz[0, 0] = np.nan
    xyz[1, 2, 2] = np.inf
    rgb = np.random.default_rng(1).integers(0, 256, (4, 5, 3), dtype=np.uint8)
    assert write_ply(tmp_path / "c.ply", xyz, rgb) == 18
    header = (tmp_path / "c.ply").read_bytes().split(b"end_header\n")[0].decode()
    assert "format binary_little_endian 1.0" in header and "element vertex 18" in header
    assert "property uchar red" in header
    points, colours = read_ply(tmp_path / "c.ply")
    keep = np.isfinite(xyz.reshape(-1, 3)).all(axis=1)
    assert np.array_equal(points, xyz.reshape(-1, 3)[keep])
    assert np.array_equal(colours, rgb.reshape(-1, 3)[keep])
    assert write_ply(tmp_path / "plain.ply", xyz) == 18
    assert read_ply(tmp_path / "plain.ply")[1] is None
    with pytest.raises(PlyError, match="colours array"):
        write_ply(tmp_path / "bad.ply", xyz, rgb[:2])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.ply", "plain.ply"]


# ------------------------------------------------------------------ camera frames


def test_frame_source_cache_cycles_and_encodings() -> None:
    source = FrameSource(seed=3, width=32, height=24, rate=10.0, cache_frames=3,
                         compressed=True, ground_truth=True)
    try:
        frames = [source.get(i) for i in range(7)]
    finally:
        source.close()
    assert [f.index for f in frames] == [0, 1, 2, 0, 1, 2, 0]
    assert frames[3] is frames[0]  # rendered once, reused
    assert not np.array_equal(frames[0].data, frames[1].data)  # the camera moves
    depth = np.frombuffer(frames[0].depth.tobytes(), "<f4").reshape(24, 32)
    assert np.isfinite(depth).all() and (depth > 0).all()
    rgb = frames[0].data.reshape(24, 32, 3)
    assert np.abs(decode_compressed(frames[0].jpeg).astype(int) - rgb).mean() < 20
    assert frames[0].intrinsics.width == 32
    assert np.array_equal(convert_rgb(rgb, "bgr8"), rgb[..., ::-1])
    assert convert_rgb(rgb, "rgba8").shape == (24, 32, 4)
    gray = convert_rgb(rgb, "mono8")
    assert np.abs(gray.astype(int) - cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)).max() <= 1


def test_synthetic_camera_cli_publishes_images_and_sibling_info(dds_env) -> None:
    images: list[m.Image] = []
    infos: list[m.CameraInfo] = []
    jpegs: list[m.CompressedImage] = []
    with DdsNode("camera_test") as node:
        node.create_subscription(m.Image, "/cam_test/image_raw", images.append, SENSOR_DATA)
        node.create_subscription(m.CameraInfo, "/cam_test/camera_info", infos.append,
                                 SENSOR_DATA)
        node.create_subscription(m.CompressedImage, "/cam_test/image_raw/compressed",
                                 jpegs.append, SENSOR_DATA)
        proc = subprocess.run(
            [sys.executable, "-m", "depth_estimation_ros.synthetic_camera", "--count", "5",
             "--rate", "20", "--width", "48", "--height", "32", "--encoding", "bgr8",
             "--compressed", "--topic", "/cam_test/image_raw", "--wait-subscribers", "30",
             "--seed", "2"],
            env=dds_env, capture_output=True, text=True, timeout=90)
        assert proc.returncode == 0, proc.stderr
        node.spin(until=lambda: len(images) >= 5 and len(jpegs) >= 5, timeout=3)
    assert "published 5 frames" in proc.stdout
    assert len(images) >= 4 and len(infos) >= 4  # best effort on loopback: ~never drops
    info_by_stamp = {i.header.stamp.to_nanoseconds(): i for i in infos}
    for img in images:
        assert (img.width, img.height, img.encoding, img.step) == (48, 32, "bgr8", 144)
        assert img.header.frame_id == "camera_optical_frame"
    matched = [info_by_stamp[img.header.stamp.to_nanoseconds()] for img in images
               if img.header.stamp.to_nanoseconds() in info_by_stamp]  # same stamp as the image
    assert len(matched) >= 3, (len(images), len(infos))
    for info in matched:
        assert (info.width, info.height) == (48, 32) and info.k[0] > 0 and info.k[8] == 1.0
    rgbs = [rgb8_from_msg(img) for img in images]
    assert not np.array_equal(rgbs[0], rgbs[-1])  # moving camera
    # best effort on loopback: a JPEG may be dropped like any frame, so pair by stamp
    jpeg_by_stamp = {j.header.stamp.to_nanoseconds(): j for j in jpegs}
    pairs = [(jpeg_by_stamp[img.header.stamp.to_nanoseconds()], rgb)
             for img, rgb in zip(images, rgbs, strict=True)
             if img.header.stamp.to_nanoseconds() in jpeg_by_stamp]
    assert len(pairs) >= 3, (len(images), len(jpegs))
    for jpeg, rgb in pairs:  # each JPEG is its image's, compressed
        assert "jpeg" in jpeg.format
        assert np.abs(decode_compressed(jpeg.data, jpeg.format).astype(int) - rgb).mean() < 20
    stamps = [img.header.stamp.to_seconds() for img in images]
    assert abs(time.time() - stamps[-1]) < 60 and all(np.diff(stamps) > 0)


# ------------------------------------------------------------------ recorder


def _depth(i: int) -> np.ndarray:
    v, u = np.mgrid[0:24, 0:32]
    depth = (1.0 + 0.05 * u + 0.02 * v + 0.1 * i).astype(np.float32)  # (24, 32) metres
    depth[:2, :3] = np.nan
    return depth


def _messages(i: int, stamp: m.Time) -> tuple[m.Image, m.CameraInfo, m.PointCloud2]:
    header = m.Header(stamp=stamp, frame_id="camera_optical_frame")
    data, step = encode_depth_32fc1(_depth(i))
    image = m.Image(header=header, height=24, width=32, encoding="32FC1", step=step, data=data)
    f = K.to_camera_info_fields()
    info = m.CameraInfo(header=header, height=24, width=32, k=list(f["k"]), p=list(f["p"]))
    rgb = np.full((24, 32, 3), (200, 100, 50), np.uint8)
    cloud = pack_cloud(backproject(_depth(i), K), rgb)
    points = m.PointCloud2(
        header=header, height=cloud.height, width=cloud.width,
        fields=[m.PointField(name=s.name, offset=s.offset, datatype=s.datatype, count=s.count)
                for s in cloud.fields],
        is_bigendian=False, point_step=cloud.point_step, row_step=cloud.row_step,
        data=cloud.data, is_dense=False)
    return image, info, points


def test_record_cli_saves_png_ply_and_summary(dds_env, tmp_path: Path) -> None:
    out, summary_path = tmp_path / "rec", tmp_path / "summary.json"
    proc = subprocess.Popen(
        [sys.executable, "-m", "depth_estimation_ros.record", "--out", str(out), "--count", "4",
         "--save-every", "2", "--json", str(summary_path), "--report-every", "0.5",
         "--duration", "60"],
        env=dds_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    reliable = QosProfile(reliability="reliable", depth=5)  # the node's output QoS
    try:
        with DdsNode("fake_depth_node") as node:
            pubs = (node.create_publisher(m.Image, "/depth/image", reliable),
                    node.create_publisher(m.CameraInfo, "/depth/camera_info", reliable),
                    node.create_publisher(m.PointCloud2, "/depth/points", reliable))
            assert all(p.wait_for_subscriptions(1, timeout=30) for p in pubs), proc.stderr
            i = 0
            while proc.poll() is None and i < 200:
                image, info, points = _messages(i, m.Time.now())
                pubs[1].publish(info)
                pubs[0].publish(image)
                pubs[2].publish(points)
                i += 1
                time.sleep(0.1)
        stdout, stderr = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, stderr
    assert "Hz" in stdout and "latency p50" in stdout
    summary = json.loads(summary_path.read_text())
    assert summary["images"] >= 4 and summary["camera_infos"] >= 3
    assert summary["image"] == {"width": 32, "height": 24, "encoding": "32FC1",
                                "frame_id": "camera_optical_frame"}
    assert 0 < summary["rate_hz"] < 50
    assert 0 <= summary["latency_ms"]["p50"] <= summary["latency_ms"]["p95"] < 5000
    assert summary["saved_png"][:2] == ["depth_000001.png", "depth_000003.png"]
    assert summary["saved_ply"][:2] == ["cloud_000001.ply", "cloud_000003.ply"]
    assert summary["errors"] == {}
    lo, hi = summary["depth_range_m"]
    assert 0.9 < lo < hi < 5.0
    xyz, rgb = read_ply(out / "cloud_000001.ply")
    assert len(xyz) == 24 * 32 - 6 and (rgb == (200, 100, 50)).all()
    assert cv2.imread(str(out / "depth_000001.png")).shape[0] == 24


def test_record_cli_without_publisher_exits_1(dds_env, tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "depth_estimation_ros.record", "--out", str(tmp_path),
         "--depth-topic", "/nobody/depth", "--duration", "0.5", "--report-every", "0"],
        env=dds_env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1 and "no depth images received on /nobody/depth" in proc.stderr


@pytest.mark.parametrize("case", ["out_under_a_file", "json_folder_missing", "json_is_a_folder",
                                  "log_level"])
def test_record_cli_bad_paths_and_options_fail_before_recording(dds_env, tmp_path: Path,
                                                                case: str) -> None:
    a_file = tmp_path / "file.txt"
    a_file.write_text("not a folder")
    args, expected = {
        "out_under_a_file": (["--out", str(a_file / "rec")],
                             f"error: cannot write outputs to {a_file / 'rec'}: "),
        "json_folder_missing": (["--out", str(tmp_path / "rec"), "--json",
                                 str(tmp_path / "missing" / "summary.json")],
                                "error: cannot write the --json summary to "),
        "json_is_a_folder": (["--out", str(tmp_path / "rec"), "--json", str(tmp_path)],
                             "error: cannot write the --json summary to "),
        "log_level": (["--out", str(tmp_path / "rec"), "--log-level", "bogus"],
                      "record: error: argument --log-level: invalid choice: 'bogus'"),
    }[case]
    proc = subprocess.run(
        [sys.executable, "-m", "depth_estimation_ros.record", "--duration", "0.3",
         "--report-every", "0", *args], env=dds_env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    assert "record: done" not in proc.stdout  # refused before recording, not after it
    errors = [line for line in proc.stderr.splitlines() if "error:" in line]
    assert len(errors) == 1 and expected in errors[0], proc.stderr
    assert a_file.read_text() == "not a folder"


def test_camera_and_recorder_log_level_is_checked_by_argparse(dds_env) -> None:
    from depth_estimation_ros import record, synthetic_camera

    for module in (record, synthetic_camera):
        args = ["--out", "x"] if module is record else []
        assert module.build_parser().parse_args([*args, "--log-level", "WARNING"]).log_level == (
            "warning")
    proc = subprocess.run(
        [sys.executable, "-m", "depth_estimation_ros.synthetic_camera", "--count", "1",
         "--log-level", "bogus"], env=dds_env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    assert "argument --log-level: invalid choice: 'bogus'" in proc.stderr


def test_recorder_pairs_clouds_by_stamp_either_order(tmp_path: Path) -> None:
    rec = DepthRecorder(tmp_path, save_every=1)
    a = _messages(0, m.Time(sec=10))
    b = _messages(1, m.Time(sec=11))
    rec.on_points(a[2])  # cloud before its image
    rec.on_depth(a[0])
    rec.on_depth(b[0])  # image before its cloud
    rec.on_points(b[2])
    rec.on_camera_info(a[1])
    rec.flush()
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "cloud_000001.ply", "cloud_000002.ply", "depth_000001.png", "depth_000002.png"]
    z1 = read_ply(tmp_path / "cloud_000002.ply")[0][:, 2]
    assert np.allclose(np.sort(z1), np.sort(_depth(1)[np.isfinite(_depth(1))]), rtol=1e-6)
    summary = rec.summary({}, 1.0)
    assert summary["images"] == 2 and summary["clouds"] == 2 and summary["camera_infos"] == 1


def test_depth_metres_16uc1_and_bad_encoding() -> None:
    mm = np.array([[0, 1500], [2500, 65535]], np.uint16)
    data, step = encode_image(mm, "16UC1")
    msg = m.Image(height=2, width=2, encoding="16UC1", step=step, data=data)
    depth = depth_metres(msg)
    assert np.isnan(depth[0, 0]) and np.allclose(depth.ravel()[1:], [1.5, 2.5, 65.535])
    with pytest.raises(ValueError, match="not a depth encoding"):
        depth_metres(m.Image(height=1, width=1, encoding="rgb8", step=3, data=b"abc"))
    xyz, rgb = cloud_arrays(_messages(0, m.Time())[2])
    assert xyz.shape == (24, 32, 3) and rgb.shape == (24, 32, 3)


def test_rate_latency_statistics() -> None:
    stats = RateLatency()
    for k in range(11):
        stats.add(100.0 + 0.1 * k, float(k))
    assert stats.rate_hz() == pytest.approx(10.0)
    assert stats.latency()["p50"] == 5.0 and stats.latency()["max"] == 10.0
    assert stats.rate_hz(since=100.55) == pytest.approx(10.0)
    assert stats.latency(since=100.55)["p50"] == 8.0
    assert RateLatency().latency() == {} and RateLatency().rate_hz() == 0.0
