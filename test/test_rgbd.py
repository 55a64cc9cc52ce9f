"""RGB-D recordings as depth sources: real rosbag2 files (mcap, sqlite3) written with rosbags,
real PNG/npy files, TUM lists; pairing, splits, and the errors a user can cause."""

from __future__ import annotations

import logging
from pathlib import Path

import cv2
import numpy as np
import pytest
from rosbags.rosbag2 import StoragePlugin, Writer
from rosbags.typesys import Stores, get_typestore

from depth_estimation_ros.core.camera import CameraIntrinsics
from depth_estimation_ros.core.encodings import encode_compressed
from depth_training import make_rgbd_bag
from depth_training.datasets.folder import FolderRGBD
from depth_training.datasets.recording import pair_stamps
from depth_training.datasets.rosbag import (
    DEFAULT_DEPTH_TOPIC,
    DEFAULT_INFO_TOPIC,
    DEFAULT_RGB_TOPIC,
    RosbagRGBD,
)
from depth_training.datasets.splits import make_split
from depth_training.datasets.tum import TUM_FR1_INTRINSICS, TumRGBD
from depth_training.errors import DatasetError

TS = get_typestore(Stores.ROS2_JAZZY)
T = TS.types
W, H = 32, 24
K = CameraIntrinsics(fx=40.0, fy=41.0, cx=15.5, cy=11.5, width=W, height=H)
T0 = 1_700_000_000 * 10**9
MS = 1_000_000


def rgb_frame(i: int, w: int = W, h: int = H) -> np.ndarray:
    return np.random.default_rng([i, 1]).integers(0, 256, size=(h, w, 3), dtype=np.uint8)


def depth_frame(i: int, w: int = W, h: int = H) -> np.ndarray:
    """(h, w) metres on a millimetre grid (exact in 16UC1), 0 in the top-left corner."""
    d = np.round(np.linspace(0.5, 4.0, w * h).reshape(h, w) + 0.1 * i, 3).astype(np.float32)
    d[:2, :2] = 0.0
    return d


def _header(ns: int) -> object:
    return T["std_msgs/msg/Header"](
        stamp=T["builtin_interfaces/msg/Time"](sec=ns // 10**9, nanosec=ns % 10**9),
        frame_id="camera_color_optical_frame")


def _info(ns: int, k: CameraIntrinsics) -> bytes:
    f = k.to_camera_info_fields()
    msg = T["sensor_msgs/msg/CameraInfo"](
        header=_header(ns), height=k.height, width=k.width, distortion_model="plumb_bob",
        d=np.zeros(5), k=np.array(f["k"]), r=np.array(f["r"]), p=np.array(f["p"]),
        binning_x=0, binning_y=0, roi=T["sensor_msgs/msg/RegionOfInterest"](
            x_offset=0, y_offset=0, height=0, width=0, do_rectify=False))
    return TS.serialize_cdr(msg, "sensor_msgs/msg/CameraInfo")


def _image(ns: int, array: np.ndarray, encoding: str) -> bytes:
    h, w = array.shape[:2]
    data = np.ascontiguousarray(array).view(np.uint8).reshape(-1)
    msg = T["sensor_msgs/msg/Image"](header=_header(ns), height=h, width=w, encoding=encoding,
                                     is_bigendian=0, step=data.size // h, data=data)
    return TS.serialize_cdr(msg, "sensor_msgs/msg/Image")


def write_bag(path: Path, rgb_ns: list[int], depth_ns: list[int], *,
              storage: StoragePlugin = StoragePlugin.MCAP, depth_encoding: str = "16UC1",
              depth_size: tuple[int, int] = (W, H), compressed: bool = False,
              info: bool = True, depth_info: CameraIntrinsics | None = None,
              nan_pixel: bool = False) -> Path:
    """A RealSense-like bag: colour i at rgb_ns[i], depth j (of frame j) at depth_ns[j]."""
    with Writer(path, version=9, storage_plugin=storage) as writer:
        rgb_type = "sensor_msgs/msg/CompressedImage" if compressed else "sensor_msgs/msg/Image"
        c_rgb = writer.add_connection(DEFAULT_RGB_TOPIC, rgb_type, typestore=TS)
        c_depth = writer.add_connection(DEFAULT_DEPTH_TOPIC, "sensor_msgs/msg/Image",
                                        typestore=TS)
        c_info = (writer.add_connection(DEFAULT_INFO_TOPIC, "sensor_msgs/msg/CameraInfo",
                                        typestore=TS) if info else None)
        c_dinfo = (writer.add_connection("/camera/aligned_depth_to_color/camera_info",
                                         "sensor_msgs/msg/CameraInfo", typestore=TS)
                   if depth_info is not None else None)
        events = [(ns, "rgb", i) for i, ns in enumerate(rgb_ns)]
        events += [(ns, "depth", j) for j, ns in enumerate(depth_ns)]
        for ns, what, i in sorted(events):
            if what == "rgb":
                rgb = rgb_frame(i)
                if compressed:
                    data, fmt = encode_compressed(rgb, "png")
                    raw = TS.serialize_cdr(T["sensor_msgs/msg/CompressedImage"](
                        header=_header(ns), format=fmt, data=np.frombuffer(data, np.uint8)),
                        "sensor_msgs/msg/CompressedImage")
                else:
                    raw = _image(ns, rgb, "rgb8")
                writer.write(c_rgb, ns, raw)
                if c_info is not None:
                    writer.write(c_info, ns, _info(ns, K))
            else:
                d = depth_frame(i, *depth_size)
                if depth_encoding == "16UC1":
                    raw = _image(ns, np.round(d * 1000).astype(np.uint16), "16UC1")
                elif depth_encoding == "32FC1":
                    if nan_pixel:
                        d = d.copy()
                        d[0, 0] = np.nan
                    raw = _image(ns, d.astype(np.float32), "32FC1")
                else:  # an unsupported depth encoding, e.g. mono8
                    raw = _image(ns, (d * 10).astype(np.uint8), depth_encoding)
                writer.write(c_depth, ns, raw)
                if c_dinfo is not None:
                    writer.write(c_dinfo, ns, _info(ns, depth_info))
    return path


def _stamps(n: int, period_ms: float = 33.3) -> list[int]:
    return [T0 + round(i * period_ms * MS) for i in range(n)]


# --------------------------------------------------------------------------- rosbag
@pytest.mark.parametrize("storage", [StoragePlugin.MCAP, StoragePlugin.SQLITE3])
@pytest.mark.parametrize("encoding", ["16UC1", "32FC1"])
def test_bag_in_both_storages_and_depth_encodings(tmp_path: Path, storage: StoragePlugin,
                                                  encoding: str) -> None:
    stamps = _stamps(5)
    bag = write_bag(tmp_path / "bag", stamps, stamps, storage=storage, depth_encoding=encoding,
                    nan_pixel=True)
    src = RosbagRGBD(bag)
    assert len(src) == 5 and (src.width, src.height) == (W, H)
    assert src.intrinsics(0) == K and src.intrinsics(4) == K
    np.testing.assert_allclose(src.stamps, np.array(stamps) / 1e9)
    for i in (3, 0, 4):  # out of order: reads seek by log time
        np.testing.assert_array_equal(src.image(i), rgb_frame(i))
        d = src.depth(i)
        assert d.dtype == np.float32 and d.shape == (H, W)
        expect = depth_frame(i)
        if encoding == "32FC1":
            expect[0, 0] = 0.0  # NaN (REP 118 invalid) becomes 0, the training's invalid
        np.testing.assert_allclose(d, expect, atol=1e-6)
        assert np.isfinite(d).all()


def test_compressed_colour_and_a_dataloader_worker(tmp_path: Path) -> None:
    import torch
    from torch.utils.data import DataLoader

    from depth_estimation_ros.core.model import PreprocessConfig
    from depth_training.datasets.dataset import DepthDataset

    stamps = _stamps(4)
    src = RosbagRGBD(write_bag(tmp_path / "bag", stamps, stamps, compressed=True))
    np.testing.assert_array_equal(src.image(2), rgb_frame(2))  # png: lossless
    import pickle

    copy = pickle.loads(pickle.dumps(src))  # a spawned worker gets the source this way
    np.testing.assert_array_equal(copy.depth(1), src.depth(1))
    ds = DepthDataset(src, np.arange(4), PreprocessConfig.full_frame(), None)
    # a forked worker reopens the bag (readers do not cross fork)
    batches = list(DataLoader(ds, batch_size=2, num_workers=1))
    assert [b["index"].tolist() for b in batches] == [[0, 1], [2, 3]]
    assert torch.isfinite(batches[0]["depth"]).all() and batches[0]["depth"].max() > 1.0


def test_pairing_nearest_first_each_depth_once() -> None:
    rgb = [0, 33, 66]
    depth = [14, 47]
    # candidates by distance: 0-14 (14), 33-47 (14), 33-14 (19), 66-47 (19): the first two
    # win, and 66 is left without a partner rather than taking 47 from 33
    assert pair_stamps(rgb, depth, 20) == [(0, 0), (1, 1)]
    assert pair_stamps(rgb, depth, 10) == []
    assert pair_stamps([5, 1], [2, 6], 2) == [(1, 0), (0, 1)]  # sorted by colour stamp
    assert pair_stamps([], [1], 5) == [] and pair_stamps([1], [], 5) == []


def test_bag_pairs_with_jitter_and_missing_partners(tmp_path: Path,
                                                    caplog: pytest.LogCaptureFixture) -> None:
    rgb = _stamps(8)
    jitter = [6, -7, 3, 9, -4, 0, 8, -9]  # ms, within the 20 ms tolerance
    depth = [ns + j * MS for ns, j in zip(rgb, jitter, strict=True)]
    del depth[5]  # frame 5 lost its depth
    depth.append(rgb[-1] + 200 * MS)  # a depth frame long after the last colour frame
    del rgb[2]  # and frame 2 lost its colour
    with caplog.at_level(logging.INFO, logger="depth_training.datasets.rosbag"):
        src = RosbagRGBD(write_bag(tmp_path / "bag", rgb, depth))
    assert len(src) == 6
    np.testing.assert_allclose(src.stamps, np.array([rgb[i] for i in (0, 1, 2, 3, 5, 6)]) / 1e9)
    # write_bag renders depth j as depth_frame(j), j its position in the depth list: the
    # colour frames 0 1 3 4 6 7 pair with the depths of the same frames, at positions:
    depth_index = [0, 1, 3, 4, 5, 6]
    for k, j in enumerate(depth_index):
        np.testing.assert_allclose(src.depth(k), depth_frame(j), atol=1e-6)
    assert "left out" in caplog.text
    # a tight tolerance leaves only frame 4 (-4 ms): no other pair is that close
    assert len(RosbagRGBD(tmp_path / "bag", tolerance=0.0045)) == 1


def test_depth_camera_info_must_match_colour(tmp_path: Path) -> None:
    stamps = _stamps(3)
    same = write_bag(tmp_path / "same", stamps, stamps, depth_info=K)
    assert len(RosbagRGBD(same)) == 3
    other = CameraIntrinsics(fx=30.0, fy=30.0, cx=15.5, cy=11.5, width=W, height=H)
    bad = write_bag(tmp_path / "bad", stamps, stamps, depth_info=other)
    with pytest.raises(DatasetError, match="not aligned to colour"):
        RosbagRGBD(bad)
    # intrinsics given as parameters stand in for a missing CameraInfo
    no_info = write_bag(tmp_path / "noinfo", stamps, stamps, info=False)
    with pytest.raises(DatasetError, match="no CameraInfo"):
        RosbagRGBD(no_info)
    given = RosbagRGBD(no_info, fx=50.0)
    assert given.intrinsics(0) == CameraIntrinsics(50.0, 50.0, (W - 1) / 2, (H - 1) / 2, W, H)


@pytest.mark.parametrize(("case", "match"), [
    ("missing_topic", r"no depth topic /camera/depth/image_rect_raw; topics in the bag: "
                      r"/camera/aligned_depth_to_color/image_raw \(Image\), "
                      r"/camera/color/camera_info \(CameraInfo\), /camera/color/image_raw"),
    ("encoding", "depth encoding 'mono8', which is not supported; expected 16UC1"),
    ("no_pairs", r"no colour/depth pair within 20 ms .*nearest stamps 50.0 ms apart"),
    ("unreadable", "cannot be read as rosbag2"),
    ("size", "depth image on .* is 16x12 but the colour image on .* is 32x24"),
    ("absent", "does not exist"),
])
def test_bad_bags_are_one_clear_sentence(tmp_path: Path, case: str, match: str) -> None:
    stamps = _stamps(3)
    path = tmp_path / "bag"
    if case == "missing_topic":
        write_bag(path, stamps, stamps)
        with pytest.raises(DatasetError, match=match):
            RosbagRGBD(path, depth_topic="/camera/depth/image_rect_raw")
        return
    if case == "encoding":
        write_bag(path, stamps, stamps, depth_encoding="mono8")
    elif case == "no_pairs":
        stamps = _stamps(3, period_ms=100.0)
        write_bag(path, stamps, [ns + 50 * MS for ns in stamps])
    elif case == "unreadable":
        path.mkdir()
        (path / "metadata.yaml").write_text("not: [a bag", encoding="utf-8")
    elif case == "size":
        write_bag(path, stamps, stamps, depth_size=(16, 12))
    with pytest.raises(DatasetError, match=match) as err:
        RosbagRGBD(path)
    assert "\n" not in str(err.value)


# --------------------------------------------------------------------------- make_rgbd_bag
@pytest.mark.parametrize(("storage", "encoding"), [("mcap", "16UC1"), ("sqlite3", "32FC1")])
def test_make_rgbd_bag_is_a_realsense_like_recording(tmp_path: Path, storage: str,
                                                     encoding: str) -> None:
    out = tmp_path / "synthetic_bag"
    argv = [str(out), "--frames", "6", "--width", "64", "--height", "48", "--rooms", "2",
            "--storage", storage, "--depth-encoding", encoding, "--no-progress"]
    assert make_rgbd_bag.main(argv) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["synthetic_bag"]  # no temp left
    src = RosbagRGBD(out)
    assert len(src) == 6
    k = src.intrinsics(0)
    assert k.fx == pytest.approx(610.0 * 64 / 640)  # not the NYU Kinect's 518.9 × 0.1
    d = [src.depth(i) for i in range(6)]
    assert all(((x > 0.2) & (x < 15)).mean() > 0.95 for x in d)
    if encoding == "16UC1":  # millimetres
        assert np.allclose(d[0] * 1000, np.round(d[0] * 1000), atol=1e-3)
    # a continuous trajectory: consecutive frames of a room are near duplicates, the next
    # room is not
    same_room = np.abs(src.image(1).astype(int) - src.image(0)).mean()
    next_room = np.abs(src.image(3).astype(int) - src.image(2)).mean()
    assert same_room < 0.5 * next_room
    assert make_rgbd_bag.main(argv) == 2  # exists: refused, nothing overwritten
    assert len(RosbagRGBD(out)) == 6


# --------------------------------------------------------------------------- TUM
def _write_tum(root: Path, rgb_t: list[float], depth_t: list[float]) -> Path:
    (root / "rgb").mkdir(parents=True)
    (root / "depth").mkdir()
    rgb_lines = ["# color images", "# file: 'rgbd_dataset_test.bag'", "# timestamp filename"]
    for i, t in enumerate(rgb_t):
        cv2.imwrite(str(root / "rgb" / f"{t:.6f}.png"), rgb_frame(i)[..., ::-1])
        rgb_lines.append(f"{t:.6f} rgb/{t:.6f}.png")
    depth_lines = ["# depth maps", "# timestamp filename", ""]
    for j, t in enumerate(depth_t):
        cv2.imwrite(str(root / "depth" / f"{t:.6f}.png"),
                    np.round(depth_frame(j) * 5000).astype(np.uint16))
        depth_lines.append(f"{t:.6f} depth/{t:.6f}.png")
    (root / "rgb.txt").write_text("\n".join(rgb_lines) + "\n", encoding="utf-8")
    (root / "depth.txt").write_text("\n".join(depth_lines) + "\n", encoding="utf-8")
    return root


def test_tum_association_depth_units_and_intrinsics(tmp_path: Path) -> None:
    rgb_t = [1305031102.175304, 1305031102.211214, 1305031102.243211, 1305031102.275326]
    # depth 0 is 12 ms after rgb 0, depth 1 is 30 ms from everything: unpaired; depth 2
    # pairs with rgb 2 (-4 ms), rgb 1 and 3 have no depth within 20 ms
    depth_t = [1305031102.187304, 1305031102.305000, 1305031102.239211]
    root = _write_tum(tmp_path / "seq", rgb_t, depth_t)
    src = TumRGBD(root)
    assert len(src) == 2
    np.testing.assert_allclose(src.stamps, [rgb_t[0], rgb_t[2]])
    np.testing.assert_array_equal(src.image(1), rgb_frame(2))
    np.testing.assert_allclose(src.depth(0), depth_frame(0), atol=1e-4)  # value / 5000 m
    np.testing.assert_allclose(src.depth(1), depth_frame(2), atol=1e-4)
    fx, fy, cx, cy = TUM_FR1_INTRINSICS  # Freiburg 1 at 640×480, scaled to these 32×24
    k = src.intrinsics(0)
    np.testing.assert_allclose([k.fx, k.fy, k.cx, k.cy],
                               [fx * W / 640, fy * H / 480, cx * W / 640, cy * H / 480])
    assert TumRGBD(root, fx=20.0, fy=21.0, cx=16.0, cy=12.0).intrinsics(1).fx == 20.0
    (root / "depth.txt").write_text("1305031102.1 \n", encoding="utf-8")
    with pytest.raises(DatasetError, match=r"depth.txt:1: .* is not a 'timestamp path' line"):
        TumRGBD(root)


# --------------------------------------------------------------------------- folder
def test_folder_kind_matching_stems_and_depth_scale(tmp_path: Path,
                                                    caplog: pytest.LogCaptureFixture) -> None:
    root = tmp_path / "frames"
    (root / "rgb").mkdir(parents=True)
    (root / "depth").mkdir()
    for i in range(3):
        cv2.imwrite(str(root / "rgb" / f"{i:06d}.png"), rgb_frame(i)[..., ::-1])
    cv2.imwrite(str(root / "depth" / "000000.png"),
                np.round(depth_frame(0) * 1000).astype(np.uint16))
    d2 = depth_frame(2)
    d2[3, 3] = np.nan
    np.save(root / "depth" / "000002.npy", d2)  # float metres, NaN invalid
    cv2.imwrite(str(root / "rgb" / "extra.jpg"), rgb_frame(9)[..., ::-1])
    with caplog.at_level(logging.WARNING, logger="depth_training.datasets.folder"):
        src = FolderRGBD(root, depth_scale=0.001)
    assert len(src) == 2 and "no partner" in caplog.text
    np.testing.assert_allclose(src.depth(0), depth_frame(0), atol=1e-6)
    np.testing.assert_array_equal(src.image(1), rgb_frame(2))
    assert src.intrinsics(0) is None  # not given: no focal-length rescale
    npy = FolderRGBD(root, depth_scale=1.0, fx=30.0).depth(1)
    assert npy[3, 3] == 0.0 and npy[5, 5] == pytest.approx(d2[5, 5])
    assert FolderRGBD(root, fx=30.0).intrinsics(1).cx == pytest.approx((W - 1) / 2)
    cv2.imwrite(str(root / "depth" / "000000.png"), np.zeros((H, W, 3), np.uint8))
    with pytest.raises(DatasetError, match="expected a single-channel 16-bit PNG"):
        FolderRGBD(root)
    (root / "depth" / "000000.png").write_bytes(b"not a png")
    with pytest.raises(DatasetError, match="cannot be read"):
        FolderRGBD(root)


# --------------------------------------------------------------------------- splits
def test_contiguous_split_holds_out_the_end_with_a_gap() -> None:
    s = make_split("contiguous", 100, val_fraction=0.1, gap=5)
    np.testing.assert_array_equal(s.test, np.arange(90, 100))
    np.testing.assert_array_equal(s.train, np.arange(85))
    tiny = make_split("contiguous", 4, val_fraction=0.25, gap=10)  # the gap gives way
    assert tiny.test.tolist() == [3] and tiny.train.tolist() == [0]
    r = make_split("random", 100, seed=3, val_fraction=0.1)
    assert len(r.test) == 10 and not set(r.test) & set(r.train)
    assert not np.array_equal(r.test, s.test)
