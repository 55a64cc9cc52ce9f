"""Evaluate a checkpoint on NYUv2 (or a file in its layout, or synthetic scenes).

Predictions come from :class:`~depth_estimation_ros.core.estimator.DepthEstimator` (its model,
device, precision and preprocessing) at the ground truth's resolution, and are scored on the
Eigen crop within [1e-3, 10] m with :mod:`depth_training.metrics`, all pixels of the split
pooled as in Eigen's evaluation. Where the network's crop does not cover the frame (the paper
preprocessing leaves a 12/16-pixel border at 640×480), the prediction is extended from its
edge, and predictions are clamped to the depth range instead of being dropped as NaN; the
share of evaluated pixels that needed the extension is reported.

Writes to ``--out``: ``metrics.json``, ``results.md`` (our row beside the published rows),
``samples.png``, ``error_hist.png`` and, when the run's ``metrics.csv`` is found,
``training_curves.png``. Everything is written to a temporary folder first and moved in at
the end, so a failed run leaves no partial results.

Beside the metric numbers, each table has the median-scaled prediction (× median(gt) /
median(pred) per image) and an oracle constant (each image's ground-truth median) as rows.
RGB-D recordings (``--kind rosbag|tum|folder``, :mod:`depth_training.rgbd`) are evaluated on
the whole frame (no Eigen crop), by default on the held-out contiguous part of training's
split, each frame's depth rescaled by its camera's focal length over the model's.

Usage::

    python -m depth_training.evaluate --checkpoint runs/nyu/best.pt \\
        --data nyu_depth_v2_labeled.mat --split official --out runs/nyu/eval
    python -m depth_training.evaluate --checkpoint runs/mybag/best.pt \\
        --data my_bag --kind rosbag --out runs/mybag/eval
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import shutil
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from depth_estimation_ros.core.camera import CameraIntrinsics
from depth_estimation_ros.core.checkpoint import CheckpointError, load_checkpoint
from depth_estimation_ros.core.estimator import DepthEstimator
from depth_training.data import (
    DatasetError,
    DepthSource,
    NYUv2Labeled,
    SyntheticDepthSource,
    make_split,
)
from depth_training.figures import (
    ErrorHistograms,
    Sample,
    error_histogram_figure,
    sample_grid,
    training_curves,
)
from depth_training.metrics import (
    EIGEN_CROP,
    MAX_DEPTH,
    METRIC_KEYS,
    MIN_DEPTH,
    PUBLISHED_RESULTS,
    MetricAccumulator,
    eigen_crop_for,
    eigen_mask,
)
from depth_training.rgbd import (
    DEFAULT_DEPTH_TOPIC,
    DEFAULT_INFO_TOPIC,
    DEFAULT_RGB_TOPIC,
    RGBD_KINDS,
    open_rgbd_source,
)

log = logging.getLogger(__name__)

EVAL_SPLITS: tuple[str, ...] = ("official", "random", "contiguous", "all")
DEFAULT_SPLIT_GAP = 10  # training's data.split_gap default
RECORDING_VAL_FRACTION = 0.1  # held-out share of a recording: finetune_rgbd.yaml's
# options of open_rgbd_source that --kind rosbag|tum|folder take from the CLI or the run
RGBD_OPTIONS: tuple[str, ...] = ("rgb_topic", "depth_topic", "info_topic", "tolerance",
                                 "depth_scale", "fx", "fy", "cx", "cy")
DEFAULT_SYNTHETIC_SEED = 1_000_000  # training's default synthetic validation seed
# Columns of the results table: (metric key, header, higher is better).
TABLE_COLUMNS: tuple[tuple[str, str, bool], ...] = (
    ("delta1", "δ<1.25", True), ("delta2", "δ<1.25²", True), ("delta3", "δ<1.25³", True),
    ("abs_rel", "abs rel", False), ("sq_rel", "sq rel", False), ("rmse", "RMSE", False),
    ("rmse_log", "RMSE log", False), ("si_log", "sc-inv", False), ("log10", "log10", False),
)


class EvaluationError(RuntimeError):
    """The evaluation cannot run: bad arguments, unusable inputs or outputs."""


@dataclass
class EvaluationResult:
    """What one evaluation produced."""

    metrics: dict[str, float]  # keys of METRIC_KEYS
    n_images: int
    n_pixels: int
    coverage: float  # share of valid target pixels with a finite prediction
    extended_fraction: float  # share of evaluated pixels outside the network's crop
    per_image: list[dict[str, Any]] = field(default_factory=list)
    # the prediction × median(gt) / median(pred) per image: structure without global scale
    median_scaled: dict[str, float] = field(default_factory=dict)
    # a constant prediction, each image's ground-truth median: the reference a model must beat
    oracle: dict[str, float] = field(default_factory=dict)
    samples: list[Sample] = field(default_factory=list)
    histograms: ErrorHistograms = field(default_factory=ErrorHistograms)
    seconds: float = 0.0


def predict_frames(estimator: DepthEstimator, rgbs: Sequence[np.ndarray],
                   intrinsics: Sequence[CameraIntrinsics | None] | None = None) -> np.ndarray:
    """Depth of same-sized frames at their resolution, for evaluation.

    Unlike :meth:`DepthEstimator.estimate_batch`, nothing is set to NaN: outside the
    network's crop the prediction is extended from its edge, and out-of-range values are kept
    (the metrics clamp them). Inside the crop and the range both agree.

    Args:
        estimator: the loaded model.
        rgbs: frames, each (H, W, 3) uint8 RGB of the same size.
        intrinsics: each frame's camera (or None): the estimator rescales its depth by the
            frame's focal length over the model's (the focal-length rescale); None = none.

    Returns:
        (B, H, W) float32 metres.
    """
    frames = [np.asarray(a, dtype=np.uint8) for a in rgbs]
    extra: dict[str, Any] = {}
    if intrinsics is not None and any(k is not None for k in intrinsics):
        extra["intrinsics"] = list(intrinsics)
    return np.stack(estimator.estimate_batch(frames, "rgb8", "input", mask_invalid=False,
                                             **extra))


def valid_mask(target: np.ndarray) -> np.ndarray:
    """The whole frame where the target depth lies in [MIN_DEPTH, MAX_DEPTH] (no crop)."""
    with np.errstate(invalid="ignore"):
        return np.isfinite(target) & (target >= MIN_DEPTH) & (target <= MAX_DEPTH)


def median_scale(pred: np.ndarray, target: np.ndarray, mask: np.ndarray) -> float:
    """median(target) / median(pred) over the evaluated pixels (NaN when there are none)."""
    with np.errstate(invalid="ignore"):
        m = mask & np.isfinite(pred) & (pred > 0)
    if not m.any():
        return math.nan
    return float(np.median(target[m]) / np.median(pred[m]))


def _sample_positions(n: int, k: int) -> set[int]:
    """Up to ``k`` positions spread evenly over ``range(n)``."""
    if k <= 0 or n == 0:
        return set()
    return {int(round(p)) for p in np.linspace(0, n - 1, min(k, n))}


def evaluate(estimator: DepthEstimator, source: DepthSource, indices: Sequence[int], *,
             batch_size: int = 8, samples: int = 6, mode: str = "pixel",
             progress: bool = True, crop: bool = True) -> EvaluationResult:
    """Score ``estimator`` on items ``indices`` of ``source`` (Eigen crop, 1e-3–10 m).

    Besides the metric numbers it scores the median-scaled prediction (each image's
    prediction × median(gt) / median(pred)) and an oracle constant (each image's ground-truth
    median everywhere). A source with ``intrinsics(i)`` has each frame's depth rescaled by
    its focal length (see :func:`predict_frames`).

    Args:
        estimator: the loaded model.
        source: images (H, W, 3) uint8 and depths (H, W) metres.
        indices: items to evaluate.
        batch_size: frames per network pass.
        samples: how many frames, spread over the split, to keep for the sample figure.
        mode: metric averaging, ``pixel`` (Eigen) or ``image``.
        progress: show a tqdm bar.
        crop: evaluate inside the Eigen crop (NYUv2's white undistortion border is outside
            it); False = the whole frame (other cameras).

    Raises:
        EvaluationError: no index, or frames of different sizes.
        DatasetError: an unreadable item or a depth map with NaN.
    """
    indices = [int(i) for i in indices]
    if not indices:
        raise EvaluationError("the evaluation split is empty; expected at least one image")
    if batch_size < 1:
        raise EvaluationError(f"batch size must be at least 1, got {batch_size}")
    acc = MetricAccumulator(mode)
    acc_scaled, acc_oracle = MetricAccumulator(mode), MetricAccumulator(mode)
    camera_of = getattr(source, "intrinsics", None)
    hist = ErrorHistograms()
    keep = _sample_positions(len(indices), samples)
    result = EvaluationResult(metrics={}, n_images=0, n_pixels=0, coverage=math.nan,
                              extended_fraction=0.0, histograms=hist)
    n_eval = n_extended = 0
    t0 = time.perf_counter()
    bar = tqdm(total=len(indices), desc="evaluating", unit="img", disable=not progress)
    try:
        for start in range(0, len(indices), batch_size):
            chunk = indices[start:start + batch_size]
            rgbs = [source.image(i) for i in chunk]
            targets = [source.depth(i) for i in chunk]
            shapes = {a.shape[:2] for a in rgbs} | {t.shape for t in targets}
            if len(shapes) != 1:
                raise EvaluationError(f"images and depths of items {chunk} differ in size "
                                      f"{sorted(shapes)}; expected one frame size")
            cameras = [camera_of(i) for i in chunk] if camera_of is not None else None
            preds = predict_frames(estimator, rgbs, cameras)  # (B, H, W) metres
            h, w = targets[0].shape
            r = estimator.output_region(w, h)
            covered = np.zeros((h, w), dtype=bool)
            covered[r.top:r.top + r.height, r.left:r.left + r.width] = True
            for k, i in enumerate(chunk):
                target, pred = targets[k], preds[k]
                mask = eigen_mask(target) if crop else valid_mask(target)
                per = acc.update(pred, target, mask)[0]
                scale = median_scale(pred, target, mask)
                if math.isfinite(scale):
                    acc_scaled.update(pred * np.float32(scale), target, mask)
                    acc_oracle.update(np.full_like(target, np.median(target[mask])), target,
                                      mask)
                result.per_image.append({"index": i, **per, "median_ratio": scale})
                n_eval += int(mask.sum())
                n_extended += int((mask & ~covered).sum())
                hist.update(np.clip(pred, MIN_DEPTH, MAX_DEPTH), target, mask)
                if start + k in keep:
                    result.samples.append(Sample(i, rgbs[k], pred, target, mask))
            bar.update(len(chunk))
    finally:
        bar.close()
    result.metrics = acc.compute()
    result.median_scaled = acc_scaled.compute()
    result.oracle = acc_oracle.compute()
    result.n_images = acc.n_images
    result.n_pixels = acc.n_pixels
    result.coverage = acc.coverage
    result.extended_fraction = n_extended / n_eval if n_eval else 0.0
    result.seconds = time.perf_counter() - t0
    return result


def _fmt(value: float | None, best: bool = False) -> str:
    if value is None or not math.isfinite(value):
        return "—"
    return f"**{value:.3f}**" if best else f"{value:.3f}"


def results_table(ours: dict[str, float], our_name: str,
                  extra: Sequence[tuple[str, dict[str, float]]] = (),
                  published: bool = True) -> str:
    """Markdown table: the published NYUv2 rows (if ``published``), ours, then the ``extra``
    rows (best value per column in bold)."""
    rows = [(name, vals) for name, vals in PUBLISHED_RESULTS.items()] if published else []
    rows += [(our_name, ours), *extra]
    head = "| | " + " | ".join(h for _, h, _ in TABLE_COLUMNS) + " |"
    sep = "|---|" + "---|" * len(TABLE_COLUMNS)
    best: dict[str, float] = {}
    for key, _, higher in TABLE_COLUMNS:
        vals = [v[key] for _, v in rows if v.get(key) is not None and math.isfinite(v[key])]
        if len(vals) > 1:  # nothing to compare with a lone value
            best[key] = max(vals) if higher else min(vals)
    lines = [head, sep]
    for name, vals in rows:
        cells = [_fmt(vals.get(k), vals.get(k) is not None and vals.get(k) == best.get(k))
                 for k, _, _ in TABLE_COLUMNS]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def results_markdown(result: EvaluationResult, info: dict[str, Any],
                     figures: list[str]) -> str:
    """The ``results.md`` text."""
    our_name = f"ours ({info['variant']}, {info['split']}, {result.n_images} images)"
    nyu = info.get("kind", "nyuv2") == "nyuv2"
    frame = f"{info['frame'][1]}×{info['frame'][0]}"
    if info.get("eval_crop"):
        top, bottom, left, right = info["eval_crop"]
        region = f"Eigen crop rows {top}:{bottom}, cols {left}:{right} of {frame}"
    else:
        region = f"the whole {frame} frame (no Eigen crop: that removes NYUv2's border)"
    focal = info.get("focal_rescale") or "none (the model's focal length or the camera's " \
        "is unknown)"
    extra = [("ours, median-scaled", result.median_scaled),
             ("oracle constant (per-image gt median)", result.oracle)]
    lines = [
        "# Depth evaluation",
        "",
        f"- checkpoint: `{info['checkpoint']}`",
        f"- data: `{info['data']}` ({info.get('kind', 'nyuv2')}) — split `{info['split']}`, "
        f"{result.n_images} images, {result.n_pixels:,} evaluated pixels",
        f"- protocol: {region}, depth in [{MIN_DEPTH:g}, {MAX_DEPTH:g}] m, "
        f"predictions clamped to that range; metrics over all pixels of the split "
        f"({info['averaging']} averaging)",
        f"- prediction at {frame} via DepthEstimator on "
        f"{info['device']}; {100 * result.extended_fraction:.1f} % of evaluated pixels lie "
        "outside the network's crop (edge-extended); focal-length rescale: " + focal,
        "",
        results_table(result.metrics, our_name, extra, published=nyu),
        "",
        "Median-scaled: each image's prediction × median(gt) / median(pred), the usual way to "
        "compare structure across cameras. Oracle constant: each image's ground-truth median "
        "as a flat prediction (it knows the true scale), the floor a model has to beat. "
        "sc-inv = sqrt(mean d² − (mean d)²), d = ln p − ln t.",
        "",
    ]
    if nyu:
        lines += ["Published rows: NYUv2 official test set (654 images). The seed's row is its "
                  "own 5 % random validation split of the labelled set, not the official test "
                  "set. '—' = not reported.", ""]
    if nyu and (result.n_images < 654 or info["split"] != "official"):
        lines += ["Note: this is not the official 654-image test split, so the comparison "
                  "with the published rows is indicative only.", ""]
    for name in figures:
        lines.append(f"![{Path(name).stem}]({name})")
    return "\n".join(lines) + "\n"


def _find_metrics_csv(run_dir: str | None, ckpt: dict[str, Any],
                      ckpt_path: Path) -> Path | None:
    """The run's ``metrics.csv``: ``--run-dir``, the run recorded in the checkpoint, or the
    checkpoint's folder."""
    if run_dir:
        p = Path(run_dir) / "metrics.csv"
        if not p.is_file():
            raise EvaluationError(f"run folder {run_dir} has no metrics.csv; expected the "
                                  "training log written by depth_training.train")
        return p
    training = ckpt.get("training") or {}
    config = training.get("config") if isinstance(training.get("config"), dict) else {}
    candidates = [training.get("run_dir"), training.get("out_dir"), config.get("out_dir"),
                  str(ckpt_path.parent)]
    for c in candidates:
        if isinstance(c, str) and c and (Path(c) / "metrics.csv").is_file():
            return Path(c) / "metrics.csv"
    return None


def _prepare_out_dir(out: Path) -> tuple[Path, Path | None]:
    """Create ``out`` if needed and check it is writable.

    Returns:
        ``out`` and the topmost folder this call created (None if ``out`` existed), which
        is removed again if the evaluation fails.
    """
    created = None
    for folder in (out, *out.parents):
        if folder.exists():
            break
        created = folder
    try:
        out.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=out):
            pass
    except OSError as exc:
        raise EvaluationError(f"output folder {out} is not writable ({exc.strerror or exc}); "
                              "expected a folder we can create files in") from exc
    return out, created


def write_outputs(out: Path, result: EvaluationResult, info: dict[str, Any],
                  metrics_csv: Path | None) -> list[Path]:
    """Write metrics.json, results.md and the figures into ``out`` (all or nothing)."""
    tmp = Path(tempfile.mkdtemp(prefix=".eval-", dir=out))
    try:
        figures: list[str] = []
        title = f"{info['variant']} on {Path(str(info['data'])).name} ({info['split']})"
        if result.samples:
            sample_grid(result.samples, tmp / "samples.png", title=title)
            figures.append("samples.png")
        error_histogram_figure(result.histograms, tmp / "error_hist.png",
                               title=f"per-pixel error, {title}")
        figures.append("error_hist.png")
        if metrics_csv is not None:
            if training_curves(metrics_csv, tmp / "training_curves.png"):
                figures.append("training_curves.png")
            else:
                log.warning("%s has no plottable columns; no training curves", metrics_csv)
        doc = {
            "metrics": result.metrics,
            "median_scaled": result.median_scaled,
            "oracle": result.oracle,
            "n_images": result.n_images,
            "n_pixels": result.n_pixels,
            "coverage": result.coverage,
            "extended_fraction": result.extended_fraction,
            "seconds": result.seconds,
            **info,
            "metrics_csv": str(metrics_csv) if metrics_csv else None,
            "figures": figures,
            "per_image": result.per_image,
        }
        (tmp / "metrics.json").write_text(json.dumps(doc, indent=2, allow_nan=True) + "\n",
                                          encoding="utf-8")
        (tmp / "results.md").write_text(results_markdown(result, info, figures),
                                        encoding="utf-8")
        names = ["metrics.json", "results.md", *figures]
        for name in names:
            os.replace(tmp / name, out / name)
        return [out / n for n in names]
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _open_source(args: argparse.Namespace, data_cfg: dict[str, Any]) -> tuple[DepthSource, str]:
    if args.synthetic is not None:
        if args.synthetic < 1:
            raise EvaluationError(f"--synthetic needs a positive number of scenes, got "
                                  f"{args.synthetic}")
        seed = args.synthetic_seed
        if seed is None:  # the training run's validation scenes, if it recorded them
            seed = int(data_cfg.get("synthetic_val_seed", DEFAULT_SYNTHETIC_SEED))
        src = SyntheticDepthSource(args.synthetic, seed=seed)
        return src, f"synthetic:{args.synthetic}:seed{seed}"
    if args.data is None:
        raise EvaluationError("no data given; pass --data nyu_depth_v2_labeled.mat (or a "
                              "file in its layout), --data RECORDING --kind rosbag|tum|folder, "
                              "or --synthetic N")
    if args.kind in RGBD_KINDS:
        same = data_cfg.get("kind") == args.kind
        opts = {}
        for key in RGBD_OPTIONS:  # unset options: the run's, when it trained on this kind
            value = getattr(args, key)
            if value is None and same and key in data_cfg:
                value = data_cfg[key]
            if value is not None:
                opts[key] = value
        return open_rgbd_source(args.kind, args.data, **opts), str(args.data)
    return NYUv2Labeled(args.data), str(args.data)


def run(args: argparse.Namespace) -> list[Path]:
    """Evaluate as the CLI arguments say; returns the written files."""
    if args.data is not None and args.synthetic is not None:
        raise EvaluationError("pass either --data or --synthetic, not both")
    if args.kind != "nyuv2" and args.synthetic is not None:
        raise EvaluationError(f"--kind {args.kind} reads --data; --synthetic renders scenes")
    if args.split is None:  # synthetic scenes are held out by their seed, not by a split
        args.split = ("all" if args.synthetic is not None else
                      "official" if args.kind == "nyuv2" else "contiguous")
    if args.split == "official" and args.kind != "nyuv2":
        raise EvaluationError(f"--split official is NYUv2's; use contiguous, random or all for "
                              f"--kind {args.kind}")
    if args.samples < 0:
        raise EvaluationError(f"--samples must be non-negative, got {args.samples}")
    ckpt = load_checkpoint(args.checkpoint)
    ckpt_path = Path(ckpt["path"])
    out, created = _prepare_out_dir(Path(args.out) if args.out else
                                    ckpt_path.parent / f"eval_{ckpt_path.stem}")
    try:
        metrics_csv = _find_metrics_csv(args.run_dir, ckpt, ckpt_path)
        training = ckpt.get("training") or {}
        config = training.get("config") if isinstance(training.get("config"), dict) else {}
        seed = args.seed if args.seed is not None else int(config.get("seed", 0))
        data_cfg = config.get("data") if isinstance(config.get("data"), dict) else {}
        source, data_name = _open_source(args, data_cfg)
        # the held-out part of the run's own split when it trained on this kind of data;
        # for a recording the fine-tuning config's otherwise
        trained_here = data_cfg.get("kind", "nyuv2") == args.kind
        default_fraction = 0.05 if args.kind == "nyuv2" else RECORDING_VAL_FRACTION
        val_fraction = (args.val_fraction if args.val_fraction is not None
                        else float(data_cfg.get("val_fraction", default_fraction))
                        if trained_here else default_fraction)
        gap = (args.split_gap if args.split_gap is not None
               else int(data_cfg.get("split_gap", DEFAULT_SPLIT_GAP))
               if trained_here else DEFAULT_SPLIT_GAP)
        split = make_split(args.split, len(source), seed=seed, val_fraction=val_fraction,
                           gap=gap)
        if split.test.size == 0:
            raise EvaluationError(f"split {args.split!r} of {data_name} has no test image")
        try:
            estimator = DepthEstimator(ckpt, device=args.device)
        except ValueError as exc:
            raise EvaluationError(str(exc)) from exc
        log.info("evaluating %s on %d images of %s (%s split)", estimator.describe(),
                 split.test.size, data_name, args.split)
        crop = args.kind == "nyuv2"
        result = evaluate(estimator, source, split.test, batch_size=args.batch_size,
                          samples=args.samples, progress=not args.no_progress, crop=crop)
        frame = source.depth(int(split.test[0])).shape
        camera = getattr(source, "intrinsics", None)
        k = camera(int(split.test[0])) if camera is not None else None
        f0 = float(getattr(estimator.preprocess, "focal_length", 0.0) or 0.0)
        focal = None
        if k is not None and f0 > 0:
            f1 = estimator.preprocess.input_focal_length(k.fx, k.width)
            focal = (f"×{f1 / f0:.3f} (camera fx {k.fx:.1f} px at {k.width}×{k.height} = "
                     f"{f1:.1f} px at the network input; model {f0:.1f} px)")
        info = {
            "checkpoint": str(ckpt_path),
            "variant": estimator.variant,
            "preprocess": estimator.preprocess.to_dict(),
            "data": data_name,
            "split": args.split,
            "kind": args.kind,
            "split_seed": seed if args.split == "random" else None,
            "val_fraction": val_fraction if args.split in ("random", "contiguous") else None,
            "split_gap": gap if args.split == "contiguous" else None,
            "focal_rescale": focal,
            "device": str(estimator.device),
            "averaging": "pixel",
            "frame": list(frame),
            "eval_crop": list(eigen_crop_for(*frame)) if crop else None,
            "eigen_crop_480x640": list(EIGEN_CROP),
            "depth_range": [MIN_DEPTH, MAX_DEPTH],
            "metric_keys": list(METRIC_KEYS),
        }
        return write_outputs(out, result, info, metrics_csv)
    except BaseException:
        if created is not None:
            shutil.rmtree(created, ignore_errors=True)
        raise


def build_parser() -> argparse.ArgumentParser:
    """The CLI's argument parser."""
    ap = argparse.ArgumentParser(
        prog="python -m depth_training.evaluate",
        description="Evaluate a depth checkpoint on NYUv2 (Eigen crop, 1e-3–10 m) and write "
                    "metrics.json, results.md and figures.")
    ap.add_argument("--checkpoint", required=True, help="checkpoint file (best.pt)")
    ap.add_argument("--data", type=Path,
                    help="nyu_depth_v2_labeled.mat (or a file in its layout), or with --kind "
                         "a rosbag2 folder, TUM RGB-D sequence or rgb/+depth/ folder")
    ap.add_argument("--kind", choices=("nyuv2", *RGBD_KINDS), default="nyuv2",
                    help="what --data is (default nyuv2)")
    ap.add_argument("--split", choices=EVAL_SPLITS, default=None,
                    help="official (654 test images; needs the 1449-image file), random "
                         "(the seeded held-out share, as in training), contiguous (the "
                         "recording's last --val-fraction, as in training) or all (default: "
                         "official for nyuv2, contiguous for a recording, all for "
                         "--synthetic)")
    ap.add_argument("--split-gap", type=int,
                    help=f"contiguous: frames left out before the held-out part (default: the "
                         f"checkpoint's, or {DEFAULT_SPLIT_GAP})")
    ap.add_argument("--rgb-topic", help=f"rosbag colour topic (default {DEFAULT_RGB_TOPIC})")
    ap.add_argument("--depth-topic",
                    help=f"rosbag aligned depth topic (default {DEFAULT_DEPTH_TOPIC})")
    ap.add_argument("--info-topic",
                    help=f"rosbag colour CameraInfo topic (default {DEFAULT_INFO_TOPIC})")
    ap.add_argument("--tolerance", type=float,
                    help="rosbag/tum colour-depth stamp tolerance, seconds (default 0.02)")
    ap.add_argument("--depth-scale", type=float,
                    help="metres per depth unit (default: 16UC1 0.001, 32FC1 1, tum 1/5000, "
                         "folder 0.001)")
    for name in ("fx", "fy", "cx", "cy"):
        ap.add_argument(f"--{name}", type=float,
                        help=f"colour intrinsic {name} in pixels at the image size (rosbag: "
                             "overrides CameraInfo; tum default Freiburg 1; folder default "
                             "unknown)")
    ap.add_argument("--synthetic", type=int, metavar="N",
                    help="evaluate on N synthetic scenes instead of --data")
    ap.add_argument("--synthetic-seed", type=int,
                    help="seed of the synthetic scenes (default: the run's validation seed, "
                         f"or {DEFAULT_SYNTHETIC_SEED})")
    ap.add_argument("--seed", type=int, help="random split seed (default: the checkpoint's)")
    ap.add_argument("--val-fraction", type=float,
                    help="random/contiguous held-out share (default: the checkpoint's when it "
                         "trained on this kind of data, else 0.05 for nyuv2 and "
                         f"{RECORDING_VAL_FRACTION} for a recording, as finetune_rgbd.yaml)")
    ap.add_argument("--out", type=Path,
                    help="output folder (default: eval_<checkpoint name> beside it)")
    ap.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    ap.add_argument("--samples", type=int, default=6, help="rows of the sample figure")
    ap.add_argument("--batch-size", type=int, default=8, help="frames per network pass")
    ap.add_argument("--run-dir", help="training run folder with metrics.csv (default: the "
                                      "checkpoint's run, if recorded or beside it)")
    ap.add_argument("--no-progress", action="store_true", help="no progress bar")
    return ap


def main(argv: list[str] | None = None) -> None:
    """CLI entry point: prints the metrics; one error line and exit 1 on bad input."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        written = run(args)
    except (DatasetError, CheckpointError, EvaluationError) as exc:
        raise SystemExit(f"error: {exc}") from None
    except OSError as exc:
        raise SystemExit(f"error: {exc.filename or ''} {exc.strerror or exc}".strip()) from None
    doc = json.loads(written[0].read_text(encoding="utf-8"))
    print(" ".join(f"{k}={doc['metrics'][k]:.4f}" for k in METRIC_KEYS))
    for p in written:
        print(f"wrote {p}")


if __name__ == "__main__":
    main()
