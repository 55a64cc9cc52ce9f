"""Scoring a depth estimator on a source: metrics on the Eigen crop (or the whole frame), the
median-scaled and oracle rows, sample frames and error histograms.

Predictions come from :class:`~depth_estimation_ros.core.estimator.DepthEstimator` at the
ground truth's resolution; where the network's crop does not cover the frame the prediction
is extended from its edge, and predictions are clamped to the depth range instead of being
dropped as NaN.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from tqdm import tqdm

from depth_estimation_ros.core.camera import CameraIntrinsics
from depth_estimation_ros.core.estimator import DepthEstimator
from depth_training.datasets.source import DepthSource
from depth_training.errors import EvaluationError
from depth_training.figures import ErrorHistograms, Sample
from depth_training.metrics import MAX_DEPTH, MIN_DEPTH, MetricAccumulator, eigen_mask

__all__ = ["EvaluationResult", "evaluate", "median_scale", "predict_frames", "valid_mask"]


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
