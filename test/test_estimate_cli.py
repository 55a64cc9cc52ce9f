"""The offline CLI, run as a user would: a real subprocess on real image and video files."""

import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image

from depth_estimation_ros.checkpoint import save_checkpoint
from depth_estimation_ros.model import PreprocessConfig, build_model


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    torch.manual_seed(0)
    model = build_model("compact")
    path = tmp_path_factory.mktemp("ckpt") / "compact.pt"
    return save_checkpoint(path, model, model_config=model.config,
                           preprocess=PreprocessConfig.full_frame())


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "depth_estimation_ros.estimate", *map(str, args)],
                          capture_output=True, text=True, timeout=120)


def _photo(path, width, height):
    rng = np.random.default_rng(3)
    y, x = np.mgrid[0:height, 0:width]
    noise = rng.integers(0, 60, (height, width))
    img = np.dstack([(x * 255 // width), (y * 255 // height), noise])
    Image.fromarray(img.astype(np.uint8)).save(path, quality=90)
    return path


def test_photo_of_arbitrary_size_gives_npy_png_ply(tmp_path, checkpoint):
    photo = _photo(tmp_path / "room.jpg", 517, 333)
    out = tmp_path / "out"
    r = _cli(photo, "-o", out, "--checkpoint", checkpoint, "--device", "cpu", "--ply")
    assert r.returncode == 0, r.stderr
    depth = np.load(out / "room.npy")
    assert depth.shape == (333, 517) and depth.dtype == np.float32
    assert np.isfinite(depth).mean() > 0.99
    png = Image.open(out / "room_depth.png")
    assert png.mode in ("RGB", "RGBA") and png.size[0] >= 517  # image plus colour scale
    with open(out / "room.ply", "rb") as f:
        header = f.read(400).split(b"end_header")[0].decode()
    assert header.startswith("ply") and "element vertex" in header
    assert "property uchar red" in header
    n = int(header.split("element vertex")[1].split()[0])
    assert n == np.isfinite(depth).sum()
    assert "1 frame(s)" in r.stdout


def test_native_resolution_and_folder_input(tmp_path, checkpoint):
    _photo(tmp_path / "a.png", 64, 48)
    _photo(tmp_path / "b.png", 200, 90)
    (tmp_path / "notes.txt").write_text("not an image")
    out = tmp_path / "out"
    r = _cli(tmp_path, "-o", out, "--checkpoint", checkpoint, "--device", "cpu", "--native",
             "--ply")
    assert r.returncode == 0, r.stderr
    assert np.load(out / "a.npy").shape == (109, 147)
    assert np.load(out / "b.npy").shape == (109, 147)


def test_video_frames(tmp_path, checkpoint):
    import cv2

    path = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (96, 72))
    for i in range(5):
        frame = np.full((72, 96, 3), 40 * i, np.uint8)
        frame[:, : 10 * (i + 1)] = 255
        writer.write(frame)
    writer.release()
    out = tmp_path / "out"
    r = _cli(path, "-o", out, "--checkpoint", checkpoint, "--device", "cpu", "--every", "2")
    assert r.returncode == 0, r.stderr
    names = sorted(p.name for p in out.glob("*.npy"))
    assert names == ["clip_000000.npy", "clip_000002.npy", "clip_000004.npy"]


def test_bad_inputs_give_one_clear_error(tmp_path, checkpoint):
    r = _cli(tmp_path / "missing.jpg", "-o", tmp_path / "o", "--checkpoint", checkpoint)
    assert r.returncode == 2 and "does not exist" in r.stderr and "Traceback" not in r.stderr
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"\xff\xd8 this is not really a jpeg")
    good = _photo(tmp_path / "good.png", 40, 30)
    r = _cli(bad, good, "-o", tmp_path / "o", "--checkpoint", checkpoint, "--device", "cpu")
    assert r.returncode == 1 and "broken.jpg is not a readable image" in r.stderr
    assert (tmp_path / "o" / "good.npy").exists()  # the good file is still processed
    r = _cli(good, "-o", tmp_path / "o", "--checkpoint", tmp_path / "nope.pt")
    assert r.returncode == 2 and "does not exist" in r.stderr and "train" in r.stderr
    r = _cli(good, "-o", tmp_path / "o", "--checkpoint", checkpoint, "--device", "tpu")
    assert r.returncode == 2 and "not understood" in r.stderr
