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
RGB-D recordings (``--kind rosbag|tum|folder|7scenes``, :mod:`depth_training.datasets.rgbd`) are
evaluated on the whole frame (no Eigen crop), by default on the held-out contiguous part of
training's split, each frame's depth rescaled by its camera's focal length over the model's.

This module is the command; the scoring is :mod:`depth_training.evaluation`, the written
report :mod:`depth_training.report`.

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
import shutil
from pathlib import Path
from typing import Any

from depth_estimation_ros.core.checkpoint import CheckpointError, load_checkpoint
from depth_estimation_ros.core.estimator import DepthEstimator
from depth_training.datasets.nyu import NYUv2Labeled
from depth_training.datasets.rgbd import RGBD_KINDS, open_rgbd_source
from depth_training.datasets.rosbag import (
    DEFAULT_DEPTH_TOPIC,
    DEFAULT_INFO_TOPIC,
    DEFAULT_RGB_TOPIC,
)
from depth_training.datasets.seven_scenes import REGISTRATIONS
from depth_training.datasets.source import DepthSource
from depth_training.datasets.splits import make_split
from depth_training.datasets.synthetic import SyntheticDepthSource
from depth_training.errors import DatasetError, EvaluationError
from depth_training.evaluation import evaluate
from depth_training.metrics import EIGEN_CROP, MAX_DEPTH, METRIC_KEYS, MIN_DEPTH, eigen_crop_for
from depth_training.report import find_metrics_csv, prepare_out_dir, write_outputs

log = logging.getLogger(__name__)

EVAL_SPLITS: tuple[str, ...] = ("official", "random", "contiguous", "all")
DEFAULT_SPLIT_GAP = 10  # training's data.split_gap default
RECORDING_VAL_FRACTION = 0.1  # held-out share of a recording: finetune_rgbd.yaml's
# options of open_rgbd_source that a recording's --kind takes from the CLI or the run
RGBD_OPTIONS: tuple[str, ...] = ("rgb_topic", "depth_topic", "info_topic", "tolerance",
                                 "depth_scale", "fx", "fy", "cx", "cy", "registration")
DEFAULT_SYNTHETIC_SEED = 1_000_000  # training's default synthetic validation seed


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
                              "file in its layout), --data RECORDING --kind "
                              "rosbag|tum|folder|7scenes, or --synthetic N")
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
    out, created = prepare_out_dir(Path(args.out) if args.out else
                                    ckpt_path.parent / f"eval_{ckpt_path.stem}")
    try:
        metrics_csv = find_metrics_csv(args.run_dir, ckpt, ckpt_path)
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
                         "a rosbag2 folder, TUM RGB-D sequence, rgb/+depth/ folder or "
                         "7-Scenes/3DMatch sequence")
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
                         "folder and 7scenes 0.001)")
    for name in ("fx", "fy", "cx", "cy"):
        ap.add_argument(f"--{name}", type=float,
                        help=f"colour intrinsic {name} in pixels at the image size (rosbag: "
                             "overrides CameraInfo; tum default Freiburg 1; folder default "
                             "unknown; 7scenes default camera-intrinsics.txt)")
    ap.add_argument("--registration", choices=REGISTRATIONS,
                    help="7scenes/3dmatch: re-render the depth in the colour camera with "
                         "7-Scenes' Kinect calibration (7scenes), take them as aligned (none), "
                         "or 7scenes when the depth camera is 7-Scenes' 585/320/240 at 640x480 "
                         "and no --fx is given (auto, the default)")
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
