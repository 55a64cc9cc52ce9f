"""Offline depth for image files and videos.

    python -m depth_estimation_ros.estimate INPUT... -o OUTDIR [--checkpoint PATH]
        [--device DEV] [--ply] [--every N] [--max-frames N]

For each frame: ``<name>.npy`` (float32 metres, NaN invalid), ``<name>_depth.png`` (colourised,
with a colour scale) and, with ``--ply``, ``<name>.ply`` (coloured point cloud, back-projected
with the NYU Kinect intrinsics scaled to the frame, or ``--fx/--fy/--cx/--cy``).

With ``--fx/--fy`` the depth is rescaled for that camera's focal length (the model was trained
at the one its checkpoint records, logged at start); without them it is left as predicted.
"""

from __future__ import annotations

import argparse
import logging
import math
import sys
import time
from pathlib import Path

import numpy as np

from depth_estimation_ros.core.atomic import atomic_path, ensure_writable_folder
from depth_estimation_ros.core.camera import CameraIntrinsics, backproject
from depth_estimation_ros.core.checkpoint import CheckpointError
from depth_estimation_ros.core.estimator import DepthEstimator
from depth_estimation_ros.core.media import (
    VIDEO_SUFFIXES,
    InputError,
    expand_inputs,
    frames_of,
    video_frame_count,
)

_LOG = logging.getLogger("depth_estimation_ros.estimate")


def save_outputs(outdir: Path, name: str, rgb: np.ndarray, depth: np.ndarray,
                 intrinsics: CameraIntrinsics, write_ply_file: bool) -> list[Path]:
    """Write ``name.npy``, ``name_depth.png`` and optionally ``name.ply``; return the paths."""
    from depth_estimation_ros.core.ply import write_ply
    from depth_estimation_ros.core.visualize import save_depth_png

    npy = outdir / f"{name}.npy"
    with atomic_path(npy) as tmp, open(tmp, "wb") as f:
        np.save(f, depth.astype(np.float32, copy=False))
    png = outdir / f"{name}_depth.png"
    save_depth_png(png, depth)
    written = [npy, png]
    if write_ply_file:
        xyz = backproject(depth, intrinsics)
        ply = outdir / f"{name}.ply"
        write_ply(ply, xyz, rgb)
        written.append(ply)
    return written


def _camera(args: argparse.Namespace, width: int, height: int) -> CameraIntrinsics | None:
    """The ``--fx/--fy/--cx/--cy`` camera at a ``width`` x ``height`` frame; None if not
    given."""
    if args.fx is None:
        return None
    return CameraIntrinsics(args.fx, args.fy, args.cx, args.cy, width, height)


def _save_frame(outdir: Path, name: str, rgb: np.ndarray, depth: np.ndarray,
                estimator: DepthEstimator, output: str, args: argparse.Namespace) -> None:
    height, width = rgb.shape[:2]
    intr = _camera(args, width, height) or CameraIntrinsics.nyu_kinect(width, height)
    save_outputs(outdir, name, estimator.colour_for_depth(rgb, output), depth,
                 estimator.depth_intrinsics(intr, output), args.ply)


def _check_args(args: argparse.Namespace) -> str | None:
    """The first problem with the numeric options, as one line; None when they are fine."""
    if args.every < 1:
        return "--every must be at least 1"
    if args.max_frames < 0:
        return f"--max-frames {args.max_frames} is invalid; expected >= 0 (0: all frames)"
    intr_args = [args.fx, args.fy, args.cx, args.cy]
    if any(v is not None for v in intr_args) and not all(v is not None for v in intr_args):
        return "give all of --fx --fy --cx --cy or none"
    for name in ("fx", "fy", "cx", "cy"):
        value = getattr(args, name)
        if value is not None and not math.isfinite(value):
            return f"--{name} {value} is invalid; expected a finite number of pixels"
    for name in ("fx", "fy"):
        value = getattr(args, name)
        if value is not None and value <= 0:
            return f"--{name} {value} is invalid; expected a focal length > 0 pixels"
    return None


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m depth_estimation_ros.estimate",
        description="Metric depth (.npy), a colourised PNG and optionally a PLY cloud for each "
                    "image or video frame.")
    p.add_argument("inputs", nargs="+", help="image files, video files or folders of them")
    p.add_argument("-o", "--outdir", required=True, help="output folder (created if needed)")
    p.add_argument("--checkpoint", default=None,
                   help="checkpoint file (default: the weights shipped with the package)")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N (default auto)")
    p.add_argument("--ply", action="store_true", help="also write a coloured .ply point cloud")
    p.add_argument("--native", action="store_true",
                   help="keep the network's native resolution instead of the input's")
    p.add_argument("--every", type=int, default=1, help="videos: use every N-th frame")
    p.add_argument("--max-frames", type=int, default=0, help="stop after N frames (0: all)")
    for name in ("fx", "fy", "cx", "cy"):
        p.add_argument(f"--{name}", type=float, default=None,
                       help=f"intrinsic {name} in pixels of the input (default: NYU Kinect "
                            "values scaled to the frame); with them the depth is rescaled "
                            "for the camera's focal length")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    problem = _check_args(args)
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return 2
    try:
        inputs = expand_inputs(args.inputs)
        estimator = DepthEstimator(args.checkpoint, args.device)
    except (InputError, CheckpointError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    outdir = Path(args.outdir)
    try:
        ensure_writable_folder(outdir)
    except OSError as exc:
        print(f"error: cannot write outputs to {outdir}: {exc.strerror or exc}",
              file=sys.stderr)
        return 2
    _LOG.info("model: %s", estimator.describe())
    if args.fx is None:
        _LOG.info("camera: unknown (no --fx/--fy): depth is not rescaled for its focal length")

    from tqdm import tqdm

    total = sum(video_frame_count(p) or 1 if p.suffix.lower() in VIDEO_SUFFIXES else 1
                for p in inputs) // max(1, args.every) or None
    if args.max_frames:
        total = min(total or args.max_frames, args.max_frames)
    output = "native" if args.native else "input"
    count, failures, start = 0, 0, time.perf_counter()
    sizes_logged: set[tuple[int, int]] = set()
    bar = tqdm(total=total, unit="frame", disable=args.quiet or (total or 0) < 2)
    for path in inputs:
        try:
            for name, rgb in frames_of(path, args.every):
                camera = _camera(args, rgb.shape[1], rgb.shape[0])
                if camera is not None and (camera.width, camera.height) not in sizes_logged:
                    sizes_logged.add((camera.width, camera.height))
                    scale = estimator.focal_scale(camera, camera.width, camera.height)
                    _LOG.info(f"camera: fx = {camera.fx:g} px at {camera.width}x"
                              f"{camera.height}: depth x {scale:.4g} (its focal length over "
                              "the model's)")
                try:
                    depth = estimator.estimate(rgb, "rgb8", output, camera)
                except ValueError as exc:  # e.g. smaller than the 2x2 the network needs
                    raise InputError(f"{path} cannot be used: {exc}") from exc
                try:
                    _save_frame(outdir, name, rgb, depth, estimator, output, args)
                except OSError as exc:  # disk full, folder removed: later frames fail too
                    bar.close()
                    print(f"error: cannot write outputs to {outdir}: {exc.strerror or exc}",
                          file=sys.stderr)
                    return 2
                count += 1
                bar.update(1)
                if args.max_frames and count >= args.max_frames:
                    break
        except InputError as exc:  # one bad file does not stop the others
            tqdm.write(f"error: {exc}", file=sys.stderr)
            failures += 1
        if args.max_frames and count >= args.max_frames:
            break
    bar.close()
    elapsed = time.perf_counter() - start
    print(f"{count} frame(s) -> {outdir} in {elapsed:.1f} s"
          + (f" ({1000 * elapsed / count:.0f} ms/frame)" if count else "")
          + (f"; {failures} input(s) failed" if failures else ""))
    return 0 if count and not failures else (1 if failures else 2)


if __name__ == "__main__":
    sys.exit(main())
