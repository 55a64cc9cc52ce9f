"""Zero-shot metric depth on small public real RGB-D samples (five real scenes, 14 frames).

A second real check beside the 7-Scenes kitchen, to tell a model's scale error on one room
from a bias on real cameras in general; see also `load_slambook` (two more real scenes from
gaoxiang12/slambook2). Open3D's ``examples/TestData/RGBD`` (in its
repository until 2019, e.g. the snapshot that ``fetch github:mikiec84/Open3D`` brings) holds
one frame from each of TUM RGB-D (an office desk), SUN3D (a corridor) and NYU Depth v2 (a
basement) in their native encodings (``other_formats/``), decoded here as Open3D's
``create_from_*_format`` does, and five consecutive frames of a *rendered* living room in
the Redwood layout (``color/0000N.jpg``, ``depth/0000N.png`` in millimetres; by its look and
camera, Augmented ICL-NUIM's photorealistic living room), reported apart:

- ``livingroom`` (rendered, 5 frames): uint16 mm; fx = fy = 525 (``camera_primesense.json``)
- ``tum``: uint16 / 5000 m; fx = fy = 525 (TUM's default Kinect)
- ``sun``: uint16 rotated right by 3 bits, mm; fx = fy = 570.3 (SUN3D's Xtion)
- ``nyu``: raw Kinect disparity d, a 16-bit PGM read little-endian, 351.3 / (1092.5 − d) m;
  fx = fy = 518.86

(all 640×480, cx = 319.5, cy = 239.5).

Depth outside 0.1–10 m is invalid; the whole frame is evaluated (no crop; the NYU frame is a
raw, unregistered one). Per checkpoint and scene it prints median(gt) / median(pred), metric
δ1 and abs rel, and median-scaled δ1 (the living room's five frames averaged), and the mean
over the real scenes.

    .venv/bin/python scripts/eval_real_samples.py \
        depth_estimation_ros/weights/compact_synthetic.pt \
        depth_estimation_ros/weights/mobile_synthetic.pt \
        --open3d /path/to/Open3D/examples/TestData/RGBD --slambook /path/to/slambook2
"""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np

from depth_estimation_ros.core.camera import CameraIntrinsics
from depth_estimation_ros.core.estimator import DepthEstimator
from depth_training.evaluation import median_scale, valid_mask
from depth_training.metrics import depth_metrics

REAL = ("tum", "sun", "nyu", "home", "tum_fr2_desk")  # the living room is rendered


def _camera(f: float) -> CameraIntrinsics:
    return CameraIntrinsics(f, f, 319.5, 239.5, 640, 480)


def _read(path: Path, flags: int = cv2.IMREAD_UNCHANGED) -> np.ndarray:
    image = cv2.imread(str(path), flags)
    if image is None:
        raise SystemExit(f"cannot read {path}: expected Open3D's examples/TestData/RGBD folder")
    return image


def _rgb(path: Path) -> np.ndarray:
    return cv2.cvtColor(_read(path, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)


def load_samples(root: Path) -> list[tuple[str, np.ndarray, np.ndarray, CameraIntrinsics]]:
    """``(scene, rgb, depth in metres (NaN invalid), camera)`` of every sample frame."""
    other = root / "other_formats"
    samples = [("livingroom", _rgb(root / f"color/{i:05d}.jpg"),
                _read(root / f"depth/{i:05d}.png") / 1000.0, _camera(525.0)) for i in range(5)]
    samples.append(("tum", _rgb(other / "TUM_color.png"),
                    _read(other / "TUM_depth.png") / 5000.0, _camera(525.0)))
    sun = _read(other / "SUN_depth.png").astype(np.uint32)
    sun = ((sun >> 3) | (sun << 13)) & 0xFFFF
    samples.append(("sun", _rgb(other / "SUN_color.jpg"), sun / 1000.0, _camera(570.3)))
    raw = _read(other / "NYU_depth.pgm").byteswap().astype(np.float64)  # cv2 reads big-endian
    with np.errstate(divide="ignore"):
        nyu = np.where(raw < 1092.5, 351.3 / (1092.5 - raw), 0.0)
    samples.append(("nyu", _rgb(other / "NYU_color.ppm"), nyu, _camera(518.86)))
    return [(scene, rgb, _valid(depth), camera) for scene, rgb, depth, camera in samples]


def load_slambook(root: Path) -> list[tuple[str, np.ndarray, np.ndarray, CameraIntrinsics]]:
    """The real RGB-D frames of gaoxiang12/slambook2: ``ch5/rgbd`` (five frames of a home,
    Kinect, mm, fx 518 / fy 519, cx 325.5, cy 253.5, as its ``joinMap.cpp``) and ``ch7``
    (two frames of a TUM freiburg2 desk, depth / 5000, fx 520.9 / fy 521.0, cx 325.1, cy 249.7,
    as its ``pose_estimation_3d2d.cpp``)."""
    home = CameraIntrinsics(518.0, 519.0, 325.5, 253.5, 640, 480)
    desk = CameraIntrinsics(520.9, 521.0, 325.1, 249.7, 640, 480)
    samples = [("home", _rgb(root / f"ch5/rgbd/color/{i}.png"),
                _read(root / f"ch5/rgbd/depth/{i}.pgm") / 1000.0, home) for i in range(1, 6)]
    samples += [("tum_fr2_desk", _rgb(root / f"ch7/{i}.png"),
                 _read(root / f"ch7/{i}_depth.png") / 5000.0, desk) for i in (1, 2)]
    return [(scene, rgb, _valid(depth), camera) for scene, rgb, depth, camera in samples]


def _valid(depth: np.ndarray) -> np.ndarray:
    depth = depth.astype(np.float32)
    depth[~valid_mask(depth)] = np.nan
    return depth


def evaluate(checkpoint: str, samples: list) -> dict[str, dict[str, float]]:
    """Per scene (frames averaged): scale, metric δ1 / abs rel, median-scaled δ1."""
    estimator = DepthEstimator(checkpoint, device="cpu")
    rows: dict[str, list[tuple[float, float, float, float]]] = {}
    for scene, rgb, depth, camera in samples:
        pred = estimator.estimate(rgb, "rgb8", "input", intrinsics=camera)
        mask = valid_mask(depth) & np.isfinite(pred)
        scale = median_scale(pred, depth, mask)
        metric = depth_metrics(pred, depth, mask)
        aligned = depth_metrics(pred * np.float32(scale), depth, mask)
        rows.setdefault(scene, []).append((scale, metric["delta1"], metric["abs_rel"],
                                           aligned["delta1"]))
    return {scene: dict(zip(("scale", "delta1", "abs_rel", "aligned_delta1"),
                            np.mean(values, axis=0).tolist(), strict=True))
            for scene, values in rows.items()}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("checkpoints", nargs="+", help="checkpoints to compare")
    parser.add_argument("--open3d", type=Path, help="Open3D's examples/TestData/RGBD folder")
    parser.add_argument("--slambook", type=Path, help="a gaoxiang12/slambook2 checkout")
    args = parser.parse_args(argv)
    samples = load_samples(args.open3d) if args.open3d else []
    samples += load_slambook(args.slambook) if args.slambook else []
    if not samples:
        parser.error("give --open3d and/or --slambook")
    print("| checkpoint | scene | median(gt)/median(pred) | metric δ1 | abs rel | "
          "median-scaled δ1 |")
    print("|---|---|---|---|---|---|")
    for checkpoint in args.checkpoints:
        result = evaluate(checkpoint, samples)
        for scene, r in result.items():
            print(f"| {Path(checkpoint).name} | {scene} | {r['scale']:.3f} | {r['delta1']:.3f} | "
                  f"{r['abs_rel']:.3f} | {r['aligned_delta1']:.3f} |")
        real = [r for scene, r in result.items() if scene in REAL]
        mean = {k: float(np.mean([r[k] for r in real])) for k in
                ("delta1", "abs_rel", "aligned_delta1")}
        print(f"| {Path(checkpoint).name} | **mean of the {len(real)} real scenes** | — | "
              f"**{mean['delta1']:.3f}** | {mean['abs_rel']:.3f} | {mean['aligned_delta1']:.3f} |")


if __name__ == "__main__":
    main()
