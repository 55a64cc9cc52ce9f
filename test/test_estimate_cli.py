"""The offline CLI, run as a user would: a real subprocess on real image and video files."""

import struct
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from depth_estimation_ros import estimate
from depth_estimation_ros.core.checkpoint import save_checkpoint
from depth_estimation_ros.core.model import PreprocessConfig, build_model


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


def _png_claiming(path, width, height):
    """A ~100-byte PNG whose header claims ``width`` x ``height`` (a decompression bomb)."""
    def chunk(kind, data):
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data)))
    path.write_bytes(b"\x89PNG\r\n\x1a\n"
                     + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
                     + chunk(b"IDAT", zlib.compress(b"\x00" * 100)) + chunk(b"IEND", b""))
    return path


def test_huge_and_tiny_images_are_skipped_with_one_line_each(tmp_path, checkpoint):
    bomb = _png_claiming(tmp_path / "bomb.png", 30000, 30000)
    Image.fromarray(np.zeros((1, 1, 3), np.uint8)).save(tmp_path / "dot.png")
    Image.fromarray(np.zeros((1, 500, 3), np.uint8)).save(tmp_path / "row.png")
    good = _photo(tmp_path / "zgood.png", 40, 30)  # sorted last: after the bad ones
    out = tmp_path / "out"
    r = _cli(bomb, tmp_path / "dot.png", tmp_path / "row.png", good, "-o", out,
             "--checkpoint", checkpoint, "--device", "cpu", "-q")
    assert r.returncode == 1 and "Traceback" not in r.stderr, r.stderr
    errors = [line for line in r.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 3, r.stderr
    assert "bomb.png is too large to decode" in errors[0]
    assert "dot.png cannot be used" in errors[1] and "too small" in errors[1]
    assert "row.png cannot be used" in errors[2] and "too small" in errors[2]
    assert "3 input(s) failed" in r.stdout
    assert sorted(p.name for p in out.iterdir()) == ["zgood.npy", "zgood_depth.png"]


@pytest.mark.parametrize("bad, expected", [
    (["--fx", "0", "--fy", "0", "--cx", "0", "--cy", "0"], "--fx 0.0 is invalid"),
    (["--fx", "50", "--fy", "-1", "--cx", "0", "--cy", "0"], "--fy -1.0 is invalid"),
    (["--fx", "nan", "--fy", "50", "--cx", "1", "--cy", "1"], "--fx nan is invalid"),
    (["--fx", "50", "--fy", "50", "--cx", "inf", "--cy", "1"], "--cx inf is invalid"),
    (["--max-frames", "-1"], "--max-frames -1 is invalid"),
])
def test_bad_numeric_options_are_one_line_before_any_work(tmp_path, capsys, bad, expected):
    good = _photo(tmp_path / "good.png", 40, 30)
    out = tmp_path / "out"
    assert estimate.main([str(good), "-o", str(out), *bad]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"error: {expected}"), err
    assert not out.exists()  # rejected before the model is loaded or anything written


@pytest.mark.parametrize("where", ["a_file", "proc"])
def test_unwritable_output_folder_is_one_line(tmp_path, capsys, checkpoint, where):
    if where == "proc":
        outdir = Path("/proc/self")  # exists, is a folder, and not even root can write it
        if not outdir.is_dir():
            pytest.skip("needs Linux /proc")
    else:
        outdir = tmp_path / "taken"
        outdir.write_text("a file, not a folder")
    good = _photo(tmp_path / "good.png", 40, 30)
    code = estimate.main([str(good), "-o", str(outdir), "--checkpoint", str(checkpoint),
                          "--device", "cpu", "-q"])
    err = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error")]
    assert code == 2 and err == [err[0]] and err[0].startswith(
        f"error: cannot write outputs to {outdir}: "), err


def test_given_focal_length_rescales_the_depth_and_says_so(tmp_path):
    torch.manual_seed(0)
    model = build_model("compact")
    f0 = 518.8579 * 304 / 640  # the NYU Kinect at the full-frame input
    ckpt = save_checkpoint(tmp_path / "f0.pt", model, model_config=model.config,
                           preprocess=PreprocessConfig(**{**PreprocessConfig.full_frame()
                                                          .to_dict(), "focal_length": f0}))
    photo = _photo(tmp_path / "room.png", 320, 240)
    plain = _cli(photo, "-o", tmp_path / "plain", "--checkpoint", ckpt, "--device", "cpu")
    assert plain.returncode == 0, plain.stderr
    assert "assumes fx = 246.5 px at its 304x228 input" in plain.stderr
    assert "not rescaled" in plain.stderr
    # fx 129.7 px at 320x240 is half the Kinect's (259.4): everything is half as far
    fx = 518.8579 / 4
    rescaled = _cli(photo, "-o", tmp_path / "half", "--checkpoint", ckpt, "--device", "cpu",
                    "--fx", fx, "--fy", fx, "--cx", 159.5, "--cy", 119.5)
    assert rescaled.returncode == 0, rescaled.stderr
    assert "depth x 0.5 " in rescaled.stderr
    # two processes: their float results may differ in the last digits (7e-5 relative was
    # seen under colcon test on Jazzy), far below the factor 2 the rescale makes
    np.testing.assert_allclose(np.load(tmp_path / "half" / "room.npy"),
                               np.load(tmp_path / "plain" / "room.npy") * 0.5, rtol=1e-3)
