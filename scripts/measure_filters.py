"""Measure the depth filters on real Kinect frames with ground truth (docs/filters.md's table).

Reads a 7-Scenes style folder (``frame-NNNNNN.color.jpg``, ``frame-NNNNNN.depth.png`` 16-bit
millimetres with 0 / 65535 invalid, ``camera-intrinsics.txt``), e.g. the kitchen frames of
andyzeng/tsdf-fusion-python's ``data/``, predicts depth for the last ``--frames`` frames with
a checkpoint (the packaged weights by default), and for each filter setting reports:

- phantoms: share of cloud points (valid depth within [min_range, max_range]) more than 10 %
  of their depth away from the true surface along their ray (ground truth at that pixel);
  ``aligned`` first scales each frame by median(gt) / median(pred), which leaves the
  geometry errors (smeared edges) a filter can act on rather than the model's scale error;
- kept: share of the unfiltered setting's valid points still valid;
- scale jitter: std over the frames of median(pred) / median(gt) (relative to its mean), and
  the std of its frame-to-frame change (log).

The ``oracle`` source replaces the network by the ground truth resampled to the network's
147x109 output and back (area down, bilinear up), which has exactly the edge smear of the
network's resolution and no other error: the filter's effect on edges alone.

    .venv/bin/python scripts/measure_filters.py kitchen/data --frames 150 \
        [--checkpoint runs/kitchen/best.pt]
"""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from depth_estimation_ros.core.camera import CameraIntrinsics
from depth_estimation_ros.core.filters import DepthFilters, FilterConfig

NATIVE = (147, 109)  # network output, width x height
MIN_RANGE, MAX_RANGE = 0.1, 10.0
PHANTOM = 0.10  # relative depth error along the ray that makes a point a phantom

SETTINGS: dict[str, FilterConfig] = {
    "none": FilterConfig(edge_filter=False),
    "edge 85°": FilterConfig(edge_max_angle=85.0),
    "edge 80° (default)": FilterConfig(),
    "edge 80°, dilate 0": FilterConfig(edge_dilate=0),
    "edge 75°": FilterConfig(edge_max_angle=75.0),
    "edge 70°": FilterConfig(edge_max_angle=70.0),
    "temporal": FilterConfig(edge_filter=False, temporal_filter=True),
    "stabiliser": FilterConfig(edge_filter=False, scale_stabilizer=True),
    "all on": FilterConfig(temporal_filter=True, scale_stabilizer=True),
}


def read_frames(folder: Path, count: int) -> tuple[list[Path], CameraIntrinsics]:
    """The last ``count`` colour frames of a 7-Scenes folder and its camera."""
    colours = sorted(folder.glob("frame-*.color.jpg"))
    if not colours:
        raise SystemExit(f"{folder} holds no frame-*.color.jpg; expected a 7-Scenes folder.")
    k = np.loadtxt(folder / "camera-intrinsics.txt")
    first = cv2.imread(str(colours[0]))
    h, w = first.shape[:2]
    return colours[-count:], CameraIntrinsics(k[0, 0], k[1, 1], k[0, 2], k[1, 2], w, h)


def read_gt(colour: Path) -> np.ndarray:
    """Ground-truth depth (H, W) float32 metres, NaN invalid."""
    raw = cv2.imread(str(colour).replace(".color.jpg", ".depth.png"), cv2.IMREAD_UNCHANGED)
    gt = raw.astype(np.float32) / 1000.0
    gt[(raw == 0) | (raw == 65535)] = np.nan
    return gt


def oracle(gt: np.ndarray) -> np.ndarray:
    """Ground truth at the network's resolution and back: valid-weighted area average down,
    bilinear up (cells with under half valid pixels stay invalid)."""
    h, w = gt.shape
    valid = np.isfinite(gt).astype(np.float32)
    total = cv2.resize(np.nan_to_num(gt), NATIVE, interpolation=cv2.INTER_AREA)
    weight = cv2.resize(valid, NATIVE, interpolation=cv2.INTER_AREA)
    low = np.where(weight > 0.5, total / np.maximum(weight, 1e-6), np.nan).astype(np.float32)
    up = cv2.resize(np.nan_to_num(low), (w, h), interpolation=cv2.INTER_LINEAR)
    ok = cv2.resize(np.isfinite(low).astype(np.float32), (w, h),
                    interpolation=cv2.INTER_LINEAR) > 0.999
    return np.where(ok, up, np.nan).astype(np.float32)


def predict(frames: list[Path], camera: CameraIntrinsics, checkpoint: str | None,
            cache: Path | None) -> np.ndarray:
    """The model's depth for each frame, (N, H, W) float32 metres (cached in ``cache``)."""
    if cache is not None and cache.exists():
        return np.load(cache)["depth"]
    from depth_estimation_ros.core.estimator import DepthEstimator

    estimator = DepthEstimator(checkpoint, "cpu")
    out = []
    for path in tqdm(frames, desc="predict", unit="frame"):
        rgb = cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)
        out.append(estimator.estimate(rgb, "rgb8", "input", intrinsics=camera))
    depth = np.stack(out).astype(np.float32)
    if cache is not None:
        np.savez_compressed(cache, depth=depth)
    return depth


def evaluate(preds: np.ndarray, gts: list[np.ndarray], camera: CameraIntrinsics,
             config: FilterConfig, fps: float) -> dict[str, float]:
    """Phantoms, aligned phantoms, kept points and scale jitter of one filter setting."""
    filters = DepthFilters(config)
    phantom = aligned = points = kept = base = 0
    ratios = []
    for i, (pred, gt) in enumerate(zip(preds, gts, strict=True)):
        out = filters(pred, camera, "kinect", i / fps).depth
        in_range = (out >= MIN_RANGE) & (out <= MAX_RANGE)
        raw_range = (pred >= MIN_RANGE) & (pred <= MAX_RANGE)
        base += int(np.count_nonzero(raw_range))
        kept += int(np.count_nonzero(in_range & raw_range))
        sel = in_range & np.isfinite(gt)
        p, t = out[sel], gt[sel]
        both = np.isfinite(out) & np.isfinite(gt)
        scale = float(np.median(gt[both]) / np.median(out[both]))
        ratios.append(1.0 / scale)
        points += p.size
        phantom += int(np.count_nonzero(np.abs(p - t) > PHANTOM * t))
        aligned += int(np.count_nonzero(np.abs(p * scale - t) > PHANTOM * t))
    r = np.asarray(ratios)
    return {
        "phantoms": phantom / max(points, 1),
        "aligned": aligned / max(points, 1),
        "kept": kept / max(base, 1),
        "jitter": float(r.std() / r.mean()),
        "step": float(np.std(np.diff(np.log(r)))),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folder", type=Path, help="7-Scenes style frame folder")
    parser.add_argument("--frames", type=int, default=150, help="last N frames (default 150)")
    parser.add_argument("--checkpoint", default=None, help="model (default: packaged weights)")
    parser.add_argument("--fps", type=float, default=30.0, help="frame rate for the stamps")
    parser.add_argument("--cache", type=Path, default=None,
                        help="npz to keep the predictions in between runs")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO)
    frames, camera = read_frames(args.folder, args.frames)
    gts = [read_gt(f) for f in frames]
    t0 = time.perf_counter()
    sources = {"model": predict(frames, camera, args.checkpoint, args.cache),
               "oracle": np.stack([oracle(g) for g in gts])}
    logging.info(f"inputs ready in {time.perf_counter() - t0:.1f} s")
    print(f"{len(frames)} frames ({frames[0].name} .. {frames[-1].name}), {camera.width}x"
          f"{camera.height}, fx {camera.fx:g}\n")
    print("| source | setting | phantoms | phantoms (scale-aligned) | kept | scale jitter "
          "(std/mean) | frame-to-frame scale step (std, log) |")
    print("|---|---|---|---|---|---|---|")
    for source, preds in sources.items():
        for name, config in SETTINGS.items():
            m = evaluate(preds, gts, camera, config, args.fps)
            print(f"| {source} | {name} | {m['phantoms']:.1%} | {m['aligned']:.1%} | "
                  f"{m['kept']:.1%} | {m['jitter']:.3f} | {m['step']:.4f} |", flush=True)


if __name__ == "__main__":
    main()
