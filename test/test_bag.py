"""rosbag2 in -> depth rosbag2 out, both storages, with real rosbags files."""

from pathlib import Path

import numpy as np
import pytest
from rosbags.rosbag2 import Reader, StoragePlugin, Writer
from rosbags.typesys import Stores, get_typestore

from depth_estimation_ros import bag
from depth_estimation_ros.core.camera import CameraIntrinsics, backproject
from depth_estimation_ros.core.encodings import encode_compressed
from depth_estimation_ros.core.pointcloud import pack_cloud, unpack_cloud
from depth_estimation_ros.node.bag import (
    BagError,
    BagFrameOutputs,
    convert_bag,
    find_camera_topics,
)

TS = get_typestore(Stores.ROS2_JAZZY)
T = TS.types
W, H, N = 32, 24, 4
K = CameraIntrinsics(fx=30.0, fy=31.0, cx=15.5, cy=11.5, width=W, height=H)


def _frame(i: int) -> np.ndarray:
    return np.random.default_rng(i).integers(0, 256, size=(H, W, 3), dtype=np.uint8)


def _header(i: int) -> object:
    return T["std_msgs/msg/Header"](
        stamp=T["builtin_interfaces/msg/Time"](sec=1000 + i, nanosec=500 + i),
        frame_id="camera_optical_frame")


def make_camera_bag(path: Path, storage: StoragePlugin, compressed: bool = False,
                    extra_image_topic: str | None = None) -> Path:
    """A small camera bag: N images (+ compressed or a second camera) and camera_info."""
    with Writer(path, version=9, storage_plugin=storage) as writer:
        if compressed:
            img_conn = writer.add_connection("/cam/image_raw/compressed",
                                             "sensor_msgs/msg/CompressedImage", typestore=TS)
        else:
            img_conn = writer.add_connection("/cam/image_raw", "sensor_msgs/msg/Image",
                                             typestore=TS)
        info_conn = writer.add_connection("/cam/camera_info", "sensor_msgs/msg/CameraInfo",
                                          typestore=TS)
        extra = (writer.add_connection(extra_image_topic, "sensor_msgs/msg/Image", typestore=TS)
                 if extra_image_topic else None)
        f = K.to_camera_info_fields()
        for i in range(N):
            t_ns = 5_000_000_000 + i * 100_000_000
            info = T["sensor_msgs/msg/CameraInfo"](
                header=_header(i), height=H, width=W, distortion_model="plumb_bob",
                d=np.zeros(5), k=np.array(f["k"]), r=np.array(f["r"]), p=np.array(f["p"]),
                binning_x=0, binning_y=0,
                roi=T["sensor_msgs/msg/RegionOfInterest"](
                    x_offset=0, y_offset=0, height=0, width=0, do_rectify=False))
            writer.write(info_conn, t_ns, TS.serialize_cdr(info, "sensor_msgs/msg/CameraInfo"))
            rgb = _frame(i)
            if compressed:
                data, fmt = encode_compressed(rgb, "png")
                msg = T["sensor_msgs/msg/CompressedImage"](
                    header=_header(i), format=fmt, data=np.frombuffer(data, np.uint8))
                writer.write(img_conn, t_ns + 1, TS.serialize_cdr(
                    msg, "sensor_msgs/msg/CompressedImage"))
            else:
                bgr = np.ascontiguousarray(rgb[..., ::-1])  # bgr8 exercises decoding
                msg = T["sensor_msgs/msg/Image"](
                    header=_header(i), height=H, width=W, encoding="bgr8", is_bigendian=0,
                    step=3 * W, data=bgr.reshape(-1))
                writer.write(img_conn, t_ns + 1, TS.serialize_cdr(msg, "sensor_msgs/msg/Image"))
            if extra is not None:
                writer.write(extra, t_ns + 2, TS.serialize_cdr(msg, "sensor_msgs/msg/Image"))
    return path


class BrightnessDepth:
    """A real (if silly) processing function: depth from brightness, cloud from K."""

    def __init__(self) -> None:
        self.calls: list[tuple] = []

    def __call__(self, rgb, stamp, frame_id, camera):  # noqa: ANN001, ANN204
        self.calls.append((rgb.copy(), stamp, frame_id, camera))
        depth = (1.0 + rgb.mean(axis=2) / 255.0).astype(np.float32)  # (H, W) metres
        depth[0, 0] = np.nan
        intr = camera or K
        return BagFrameOutputs(depth=depth, intrinsics=intr,
                               cloud=pack_cloud(backproject(depth, intr), rgb))


def _read(path: Path) -> dict[str, list[tuple[int, object]]]:
    out: dict[str, list[tuple[int, object]]] = {}
    with Reader(path) as reader:
        for conn, t_ns, raw in reader.messages():
            out.setdefault(conn.topic, []).append((t_ns, TS.deserialize_cdr(raw, conn.msgtype)))
    return out


@pytest.mark.parametrize("in_storage", [StoragePlugin.MCAP, StoragePlugin.SQLITE3])
@pytest.mark.parametrize("out_storage", ["mcap", "sqlite3"])
def test_round_trip_depth_bag(tmp_path: Path, in_storage: StoragePlugin, out_storage: str) -> None:
    src = make_camera_bag(tmp_path / "in", in_storage)
    process = BrightnessDepth()
    report = convert_bag(src, tmp_path / "out", process, storage=out_storage, progress=False)
    assert (report.image_topic, report.info_topic) == ("/cam/image_raw", "/cam/camera_info")
    assert (report.images, report.processed, report.clouds, report.skipped) == (N, N, N, 0)
    suffix = ".mcap" if out_storage == "mcap" else ".db3"
    assert list((tmp_path / "out").glob(f"*{suffix}"))
    # The callable saw RGB (decoded from bgr8), the input stamps/frame and the bag's K.
    for i, (rgb, stamp, frame_id, camera) in enumerate(process.calls):
        assert np.array_equal(rgb, _frame(i))
        assert stamp == (1000 + i, 500 + i) and frame_id == "camera_optical_frame"
        assert camera == K
    got = _read(tmp_path / "out")
    assert sorted(got) == ["/depth/camera_info", "/depth/image", "/depth/points"]
    for i in range(N):
        t_ns, depth_msg = got["/depth/image"][i]
        assert t_ns == 5_000_000_000 + i * 100_000_000 + 1  # input log time kept
        assert (depth_msg.header.stamp.sec, depth_msg.header.stamp.nanosec) == (1000 + i, 500 + i)
        assert depth_msg.header.frame_id == "camera_optical_frame"
        assert (depth_msg.encoding, depth_msg.width, depth_msg.height) == ("32FC1", W, H)
        depth = np.frombuffer(depth_msg.data.tobytes(), "<f4").reshape(H, W)
        expected = (1.0 + _frame(i).mean(axis=2) / 255.0).astype(np.float32)
        assert np.isnan(depth[0, 0]) and np.allclose(depth.ravel()[1:], expected.ravel()[1:])
        info = got["/depth/camera_info"][i][1]
        assert info.header.stamp.sec == 1000 + i and np.allclose(info.k, K.K.ravel())
        cloud_msg = got["/depth/points"][i][1]
        cloud = unpack_cloud(cloud_msg.data, cloud_msg.fields, cloud_msg.point_step,
                             cloud_msg.width, cloud_msg.height, cloud_msg.is_bigendian)
        assert cloud.shape == (H, W) and cloud_msg.point_step == 32
        np.testing.assert_allclose(cloud["z"][1:, 1:], expected[1:, 1:], rtol=1e-6)


def test_compressed_input_copy_input_and_max_frames(tmp_path: Path) -> None:
    src = make_camera_bag(tmp_path / "in", StoragePlugin.MCAP, compressed=True)
    process = BrightnessDepth()
    report = convert_bag(src, tmp_path / "out", process, copy_input=True, max_frames=3,
                         with_points=False, progress=False)
    assert report.image_topic == "/cam/image_raw/compressed"
    assert report.info_topic == "/cam/camera_info"  # sibling of the base topic
    assert report.processed == 3 and report.clouds == 0
    assert np.array_equal(process.calls[2][0], _frame(2))  # png is lossless
    got = _read(tmp_path / "out")
    assert len(got["/depth/image"]) == 3 and "/depth/points" not in got
    assert len(got["/cam/image_raw/compressed"]) == 3
    assert len(got["/cam/camera_info"]) >= 3


def test_undecodable_frames_are_skipped_not_fatal(tmp_path: Path) -> None:
    src = make_camera_bag(tmp_path / "in", StoragePlugin.SQLITE3)

    def failing(rgb, stamp, frame_id, camera):  # noqa: ANN001, ANN202
        if stamp[0] == 1001:
            raise ValueError("depth model rejected this frame")
        return BagFrameOutputs(depth=np.ones(rgb.shape[:2], np.float32))

    report = convert_bag(src, tmp_path / "out", failing, progress=False)
    assert (report.processed, report.skipped) == (N - 1, 1)
    assert "rejected" in report.errors[0]
    assert len(_read(tmp_path / "out")["/depth/image"]) == N - 1


def _image_cdr(i: int, frame_id: str = "cam") -> bytes:
    msg = T["sensor_msgs/msg/Image"](
        header=T["std_msgs/msg/Header"](
            stamp=T["builtin_interfaces/msg/Time"](sec=1000 + i, nanosec=0), frame_id=frame_id),
        height=H, width=W, encoding="rgb8", is_bigendian=0, step=3 * W,
        data=_frame(i).reshape(-1))
    return bytes(TS.serialize_cdr(msg, "sensor_msgs/msg/Image"))


def make_raw_image_bag(path: Path, raws: list[bytes]) -> Path:
    """A camera bag whose Image messages are the given CDR bytes (valid or not)."""
    with Writer(path, version=9, storage_plugin=StoragePlugin.MCAP) as writer:
        conn = writer.add_connection("/cam/image_raw", "sensor_msgs/msg/Image", typestore=TS)
        for i, raw in enumerate(raws):
            writer.write(conn, 5_000_000_000 + i, raw)
    return path


def test_undecodable_image_messages_are_skipped_and_the_rest_converted(tmp_path: Path) -> None:
    good = _image_cdr(0)
    assert good[12:20] == b"\x04\x00\x00\x00cam\x00"  # frame_id length + "cam\0"
    truncated = good[:20]
    bad_utf8 = good[:16] + b"\xff\xfe\xfd\x00" + good[20:]  # frame_id not UTF-8
    src = make_raw_image_bag(tmp_path / "in", [truncated, _image_cdr(1), bad_utf8, _image_cdr(3)])
    process = BrightnessDepth()
    report = convert_bag(src, tmp_path / "out", process, progress=False)
    assert (report.images, report.processed, report.skipped) == (4, 2, 2)
    assert len(report.errors) == 2 and all("not a readable" in e for e in report.errors)
    assert [call[1] for call in process.calls] == [(1001, 0), (1003, 0)]
    assert (tmp_path / "out" / "metadata.yaml").exists()  # a complete, readable bag
    assert [m.header.stamp.sec for _, m in _read(tmp_path / "out")["/depth/image"]] == [
        1001, 1003]


@pytest.mark.parametrize("failure", [RuntimeError("model crashed"), KeyboardInterrupt()])
def test_failed_conversion_removes_its_partial_output(tmp_path: Path,
                                                      failure: BaseException) -> None:
    src = make_camera_bag(tmp_path / "in", StoragePlugin.MCAP)
    out = tmp_path / "new" / "deeper" / "out"  # its parents are made by this run too
    good = BrightnessDepth()

    def fails_on_third(rgb, stamp, frame_id, camera):  # noqa: ANN001, ANN202
        if stamp[0] == 1002:
            raise failure
        return good(rgb, stamp, frame_id, camera)

    with pytest.raises(type(failure)):
        convert_bag(src, out, fails_on_third, progress=False)
    assert not (tmp_path / "new").exists()  # no half-written bag blocks the rerun
    assert convert_bag(src, out, BrightnessDepth(), progress=False).processed == N


def test_cli_unwritable_output_is_one_line_error(tmp_path: Path, compact_checkpoint: Path,
                                                 capsys: pytest.CaptureFixture) -> None:
    src = make_camera_bag(tmp_path / "in", StoragePlugin.MCAP)
    not_a_folder = tmp_path / "file.txt"
    not_a_folder.write_text("a file, not a folder")
    code = bag.main([str(src), str(not_a_folder / "out"), "--checkpoint",
                     str(compact_checkpoint), "--device", "cpu", "--no-progress"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1, err
    assert err[0].startswith("error: output bag") and "cannot be written" in err[0]
    assert not_a_folder.read_text() == "a file, not a folder"


def test_topic_detection_and_bad_inputs(tmp_path: Path) -> None:
    topics = {"/a/image_raw": "sensor_msgs/msg/Image",
              "/a/image_raw/compressed": "sensor_msgs/msg/CompressedImage",
              "/a/camera_info": "sensor_msgs/msg/CameraInfo",
              "/a/depth/image_raw": "sensor_msgs/msg/Image"}
    assert find_camera_topics(topics) == ("/a/image_raw", "/a/camera_info")
    assert find_camera_topics(topics, "/a/image_raw/compressed") == (
        "/a/image_raw/compressed", "/a/camera_info")
    with pytest.raises(BagError, match="not in the bag"):
        find_camera_topics(topics, "/nope")
    with pytest.raises(BagError, match="pass --image-topic"):
        find_camera_topics({**topics, "/b/image": "sensor_msgs/msg/Image"})

    src = make_camera_bag(tmp_path / "in", StoragePlugin.MCAP, extra_image_topic="/cam2/image")
    with pytest.raises(BagError, match="pass --image-topic"):
        convert_bag(src, tmp_path / "out", BrightnessDepth(), progress=False)
    report = convert_bag(src, tmp_path / "out", BrightnessDepth(), image_topic="/cam2/image",
                         progress=False)
    assert report.processed == N and report.info_topic is None
    with pytest.raises(BagError, match="exists already"):
        convert_bag(src, tmp_path / "out", BrightnessDepth(), progress=False)
    with pytest.raises(BagError, match="cannot be read as rosbag2"):
        convert_bag(tmp_path / "missing", tmp_path / "out2", BrightnessDepth(), progress=False)
    with pytest.raises(BagError, match="storage 'rosbag1'"):
        convert_bag(src, tmp_path / "out3", BrightnessDepth(), storage="rosbag1")


def test_cli_runs_the_real_pipeline(tmp_path: Path, compact_checkpoint: Path,
                                    capsys: pytest.CaptureFixture) -> None:
    src = make_camera_bag(tmp_path / "in", StoragePlugin.SQLITE3)
    code = bag.main([str(src), str(tmp_path / "out"), "--storage", "mcap", "--checkpoint",
                     str(compact_checkpoint), "--device", "cpu", "--max-frames", "2",
                     "--no-progress"])
    assert code == 0, capsys.readouterr().err
    assert "2 depth images, 2 clouds" in capsys.readouterr().out
    got = _read(tmp_path / "out")
    depth_msg = got["/depth/image"][0][1]
    assert depth_msg.encoding == "32FC1" and depth_msg.header.stamp.sec == 1000
    depth = np.frombuffer(depth_msg.data.tobytes(), "<f4")
    assert np.isfinite(depth).any() and (depth[np.isfinite(depth)] > 0).all()
    assert len(got["/depth/points"]) == 2
    assert bag.main([str(src), str(tmp_path / "out"), "--checkpoint",
                     str(compact_checkpoint), "--device", "cpu"]) == 2  # output exists
