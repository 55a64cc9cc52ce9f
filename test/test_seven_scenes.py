"""The 7-Scenes / 3DMatch frame layout as an own-camera recording kind: real files in that
layout written here (colour JPEG/PNG, 16-bit millimetre depth, pose and intrinsics text),
real fine-tuning from the shipped checkpoint and real evaluation on the CPU."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from depth_estimation_ros.core.camera import CameraIntrinsics
from depth_estimation_ros.core.checkpoint import default_checkpoint_path, model_from_checkpoint
from depth_estimation_ros.core.estimator import DepthEstimator
from depth_estimation_ros.sim import SyntheticScene
from depth_training import evaluate as evaluate_cli
from depth_training.config import load_config
from depth_training.datasets.build import build_datasets
from depth_training.datasets.rgbd import open_rgbd_source
from depth_training.datasets.seven_scenes import REGISTRATIONS as SEVEN_SCENES_REGISTRATIONS
from depth_training.datasets.seven_scenes import SevenScenesRGBD
from depth_training.errors import DatasetError
from depth_training.train import main
from depth_training.validation import validate

FINETUNE = Path(__file__).resolve().parents[1] / "depth_training" / "configs" / (
    "finetune_rgbd.yaml")
FAST = ["progress=false", "tensorboard=false", "num_workers=0", "threads=2", "amp=off",
        "device=cpu"]
W, H = 64, 48
K_TEXT = "58.5 0 32\n0 58.5 24\n0 0 1\n"  # fx = fy = 585, cx 320, cy 240 at 640x480, / 10


def _write_frame(folder: Path, n: int, rgb: np.ndarray, depth_mm: np.ndarray,
                 pose: np.ndarray, colour: str = "jpg") -> None:
    stem = folder / f"frame-{n:06d}"
    params = [cv2.IMWRITE_JPEG_QUALITY, 95] if colour == "jpg" else []
    assert cv2.imwrite(f"{stem}.color.{colour}", rgb[..., ::-1], params)
    assert cv2.imwrite(f"{stem}.depth.png", depth_mm.astype(np.uint16))
    np.savetxt(f"{stem}.pose.txt", pose, fmt="%.6f")


def _pattern(n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A distinct colour image, millimetre depth with both invalid markers, and a pose."""
    rgb = np.zeros((H, W, 3), dtype=np.uint8)
    rgb[..., 0] = np.arange(W, dtype=np.uint8)[None, :] * 3
    rgb[..., 1] = np.arange(H, dtype=np.uint8)[:, None] * 4
    rgb[..., 2] = 10 * n
    mm = np.full((H, W), 1000 + 100 * n, dtype=np.uint16)
    mm[1, 2] = 0
    mm[3, 4] = 65535
    pose = np.eye(4)
    pose[:3, 3] = (0.1 * n, -0.2, 1.5)
    return rgb, mm, pose


def _sequence(folder: Path, frames: int, colour: str = "png", intrinsics: bool = True) -> Path:
    folder.mkdir(parents=True)
    for n in range(frames):
        _write_frame(folder, n, *_pattern(n), colour=colour)
    if intrinsics:
        (folder / "camera-intrinsics.txt").write_text(K_TEXT)
    return folder


def test_reader_finds_frames_reads_intrinsics_and_masks_invalid_depth(tmp_path: Path) -> None:
    seq = _sequence(tmp_path / "seq-01", 4)
    (seq / "notes.txt").write_text("not a frame")
    np.savetxt(seq / "frame-000009.pose.txt", np.eye(4))  # a pose without frame: ignored
    src = SevenScenesRGBD(seq)
    assert len(src) == 4 and (src.width, src.height) == (W, H)
    k = src.intrinsics(2)
    assert (k.fx, k.fy, k.cx, k.cy, k.width, k.height) == (58.5, 58.5, 32.0, 24.0, W, H)
    for n in range(4):
        rgb, mm, pose = _pattern(n)
        np.testing.assert_array_equal(src.image(n), rgb)  # PNG: exact, in frame order
        depth = src.depth(n)
        assert depth.dtype == np.float32 and depth[1, 2] == 0 and depth[3, 4] == 0
        valid = (mm != 0) & (mm != 65535)
        np.testing.assert_allclose(depth[valid], mm[valid] * 1e-3, rtol=1e-6)
        np.testing.assert_allclose(src.pose(n), pose, atol=1e-6)
    # the alias opens the same reader
    alias = open_rgbd_source("3dmatch", seq)
    assert isinstance(alias, SevenScenesRGBD) and len(alias) == 4
    np.testing.assert_array_equal(alias.depth(3), src.depth(3))


def test_scene_folder_of_sequences_and_intrinsics_beside_or_default(tmp_path: Path) -> None:
    scene = tmp_path / "scene"
    _sequence(scene / "seq-01", 3, colour="jpg", intrinsics=False)
    _sequence(scene / "seq-02", 2, colour="jpg", intrinsics=False)
    src = open_rgbd_source("7scenes", scene)
    assert len(src) == 5 and src.stamps.tolist() == [0, 1, 2, 3, 4]
    assert src.image(3).shape == (H, W, 3)
    assert src.intrinsics(0).fx == pytest.approx(58.5)  # 7-Scenes' 585 scaled to 64 px
    (scene / "camera-intrinsics.txt").write_text("70 0 31\n0 71 23\n0 0 1\n")  # 3DMatch
    k = SevenScenesRGBD(scene).intrinsics(4)
    assert (k.fx, k.fy, k.cx, k.cy) == (70.0, 71.0, 31.0, 23.0)
    k = SevenScenesRGBD(scene, fx=80.0).intrinsics(0)  # an explicit fx wins
    assert (k.fx, k.fy, k.cx, k.cy) == (80.0, 80.0, 31.5, 23.5)


def _kinect_sequence(folder: Path, intrinsics: str | None) -> Path:
    """One 640x480 frame in Microsoft 7-Scenes' form: a wall 2 m away, two invalid pixels."""
    folder.mkdir(parents=True)
    rgb = np.full((480, 640, 3), 90, dtype=np.uint8)
    mm = np.full((480, 640), 2000, dtype=np.uint16)
    mm[240, 320] = 0
    mm[100, 100] = 65535
    _write_frame(folder, 0, rgb, mm, np.eye(4), colour="png")
    if intrinsics is not None:
        (folder / "camera-intrinsics.txt").write_text(intrinsics)
    return folder


def test_seven_scenes_depth_is_registered_to_its_colour_camera(tmp_path: Path) -> None:
    kinect = "585 0 320\n0 585 240\n0 0 1\n"  # 7-Scenes' depth camera, as copies write it
    for name, text in (("file", kinect), ("nofile", None)):
        seq = _kinect_sequence(tmp_path / name, text)
        src = open_rgbd_source("7scenes", seq)  # auto: this is 7-Scenes' Kinect
        assert src.registration == "7scenes"
        k = src.intrinsics(0)
        assert (k.fx, k.fy, k.cx, k.cy) == (525.0, 525.0, 320.0, 240.0)  # the colour camera
        depth = src.depth(0)
        # the wall, seen 2.6 cm to the side and turned by < 0.6 deg: still ~2 m
        assert np.median(depth[depth > 0]) == pytest.approx(2.0, abs=0.01)
        # the colour camera sees wider (fx 525 < 585): its border has no depth
        assert (depth[:, :15] == 0).all() and (depth[:, -40:] == 0).all()
        assert (depth[:15] == 0).all() and (depth[-25:] == 0).all()
        # ... and the colour camera sits 2.6 cm to the right: the wall's image moves ~7 px left
        cols = np.flatnonzero((depth > 0).any(axis=0))
        assert 300 < (cols.min() + cols.max()) / 2 < 315
        assert 0.75 < (depth > 0).mean() < 0.85  # (525 / 585)^2 = 0.81 of the frame
        as_given = SevenScenesRGBD(seq, registration="none")
        assert as_given.intrinsics(0).fx == 585.0 and as_given.depth(0)[10, 10] == 2.0
        assert as_given.depth(0)[240, 320] == 0.0 and as_given.depth(0)[100, 100] == 0.0
        assert repr(src) != repr(as_given)  # frame caches of the two do not mix
    # an explicit colour camera still registers when asked, into that camera
    k = SevenScenesRGBD(seq, fx=500.0, registration="7scenes").intrinsics(0)
    assert (k.fx, k.cx, k.cy) == (500.0, 319.5, 239.5)
    assert SevenScenesRGBD(seq, fx=500.0).registration == "none"  # auto: a given camera


def test_other_sequences_are_taken_as_registered(tmp_path: Path) -> None:
    small = _sequence(tmp_path / "small", 2)  # 585 scaled to 64x48: not the Kinect's frames
    assert SevenScenesRGBD(small).registration == "none"
    assert open_rgbd_source("3dmatch", small).registration == "none"
    other = _kinect_sequence(tmp_path / "other", "570 0 320\n0 570 240\n0 0 1\n")
    src = SevenScenesRGBD(other)
    assert src.registration == "none" and src.intrinsics(0).fx == 570.0
    assert src.depth(0)[5, 5] == 2.0
    registered = SevenScenesRGBD(small, registration="7scenes")  # scaled calibration
    assert registered.intrinsics(0).fx == pytest.approx(52.5)
    with pytest.raises(DatasetError, match="unknown 7-Scenes registration 'kinect'"):
        SevenScenesRGBD(small, registration="kinect")


@pytest.mark.parametrize(("text", "match"), [
    ("585 0 320\n0 585 240\n", r"rows of \[3, 3\] numbers"),
    ("585 0 320 0\n0 585 240\n0 0 1\n", r"rows of \[4, 3, 3\] numbers"),
    ("fx 0 cx\n0 fy cy\n0 0 1\n", "not a number"),
    ("585 0 320\n0 585 240\n0 0 2\n", "not a pinhole intrinsics matrix"),
    ("-585 0 320\n0 585 240\n0 0 1\n", "bad intrinsics"),
])
def test_a_bad_intrinsics_file_is_one_clear_sentence(tmp_path: Path, text: str,
                                                     match: str) -> None:
    seq = _sequence(tmp_path / "seq", 2)
    (seq / "camera-intrinsics.txt").write_text(text)
    with pytest.raises(DatasetError, match=match) as info:
        SevenScenesRGBD(seq)
    message = str(info.value)
    assert "camera-intrinsics.txt" in message and "\n" not in message


def test_missing_frames_or_depth_are_reported(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DatasetError, match="holds no frame-NNNNNN.color"):
        SevenScenesRGBD(empty)
    with pytest.raises(DatasetError, match="does not exist"):
        SevenScenesRGBD(tmp_path / "nowhere")
    seq = _sequence(tmp_path / "seq", 2)
    (seq / "frame-000001.depth.png").unlink()
    with pytest.raises(DatasetError, match="has no depth image frame-000001.depth.png"):
        SevenScenesRGBD(seq)
    seq = _sequence(tmp_path / "seq2", 1)
    (seq / "frame-000000.pose.txt").write_text("1 0 0\n0 1 0\n")
    with pytest.raises(DatasetError, match="expected 4x4 camera-to-world"):
        SevenScenesRGBD(seq).pose(0)


@pytest.fixture(scope="module")
def room(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """24 frames of one rendered room along a continuous path in the 7-Scenes layout (JPEG
    colour, millimetre PNG depth with its invalid markers), through a narrow lens (fx 900 px
    at 640x480, in camera-intrinsics.txt) that the shipped model does not know."""
    seq = tmp_path_factory.mktemp("7scenes") / "seq-01"
    seq.mkdir()
    scene = SyntheticScene.random(5)
    sx = W / 640.0
    camera = CameraIntrinsics(fx=900 * sx, fy=900 * sx, cx=(W - 1) / 2, cy=(H - 1) / 2,
                              width=W, height=H)
    for n in range(24):
        pose = scene.trajectory_pose(n / 5.0)
        x, y, z = pose.position
        pose = dataclasses.replace(pose, position=(x, y, max(0.2, z - 0.45)))
        frame = scene.render(pose, intrinsics=camera)
        mm = np.zeros((H, W), dtype=np.uint16)
        ok = np.isfinite(frame.depth) & (frame.depth > 0) & (frame.depth < 65.0)
        mm[ok] = np.round(frame.depth[ok] * 1000).astype(np.uint16)
        mm[n % H, :3] = 65535  # a few saturated pixels per frame
        c2w = np.eye(4)
        c2w[:3, :3] = pose.world_from_optical()
        c2w[:3, 3] = pose.position
        _write_frame(seq, n, frame.rgb, mm, c2w)
    (seq / "camera-intrinsics.txt").write_text(
        f"{camera.fx} 0 {camera.cx}\n0 {camera.fy} {camera.cy}\n0 0 1\n")
    return seq


def test_finetune_on_7scenes_frames_lowers_the_held_out_loss(room: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    assert main(["--config", str(FINETUNE), "--out", str(run), "data.kind=7scenes",
                 f"data.path={room}", "data.val_fraction=0.25", "data.split_gap=2",
                 "batch_size=8", "eval_batch_size=8", *FAST, "epochs.coarse=4",
                 "epochs.fine=2"]) == 0
    cfg = load_config(run / "config.yaml")
    assert cfg.data.kind == "7scenes" and cfg.data.resolved_split() == "contiguous"
    before, _, pre = model_from_checkpoint(default_checkpoint_path())
    after, _, _ = model_from_checkpoint(run / "best.pt")
    train, val = build_datasets(cfg, pre)
    assert val.indices.tolist() == list(range(18, 24)) and len(train) == 16
    assert float(train[0]["focal_scale"]) > 1.5  # the narrow lens, from the intrinsics file
    loader = DataLoader(val, batch_size=8)
    loss = {name: validate(m, loader, "fine", cfg, torch.device("cpu"))["val_loss"]
            for name, m in (("before", before), ("after", after))}
    assert loss["after"] < 0.8 * loss["before"], loss  # measured: 0.026 -> 0.004
    # evaluation reads the same kind and defaults to the run's held-out frames
    evaluate_cli.main(["--checkpoint", str(run / "best.pt"), "--data", str(room), "--kind",
                       "7scenes", "--out", str(tmp_path / "eval"), "--no-progress",
                       "--device", "cpu", "--samples", "1"])
    doc = json.loads((tmp_path / "eval" / "metrics.json").read_text())
    assert [p["index"] for p in doc["per_image"]] == list(range(18, 24))
    assert doc["kind"] == "7scenes" and "×" in doc["focal_rescale"]
    est = DepthEstimator(run / "best.pt", device="cpu")
    assert np.isfinite(est.estimate(SevenScenesRGBD(room).image(20), "rgb8")).mean() > 0.9


def test_evaluate_names_a_bad_intrinsics_file(tmp_path: Path) -> None:
    seq = _sequence(tmp_path / "seq", 3)
    (seq / "camera-intrinsics.txt").write_text("585 0 320\n")
    with pytest.raises(SystemExit) as info:
        evaluate_cli.main(["--checkpoint", str(default_checkpoint_path()), "--data", str(seq),
                           "--kind", "3dmatch", "--out", str(tmp_path / "eval"), "--device",
                           "cpu", "--no-progress"])
    message = str(info.value)
    assert message.startswith("error: ") and "camera-intrinsics.txt" in message
    assert "\n" not in message and not (tmp_path / "eval").exists()


def test_the_config_and_the_readers_know_the_same_recording_kinds() -> None:
    from depth_training import config
    from depth_training.datasets import rgbd

    assert config.RGBD_KINDS == rgbd.RGBD_KINDS and "7scenes" in config.DATA_KINDS
    assert config.REGISTRATIONS == SEVEN_SCENES_REGISTRATIONS
    with pytest.raises(config.ConfigError, match="data.path must name the recording"):
        config.load_config(FINETUNE, ["data.kind=7scenes"])
    with pytest.raises(config.ConfigError, match="data.registration must be one of auto"):
        config.load_config(FINETUNE, ["data.kind=7scenes", "data.path=x",
                                      "data.registration=yes"])
