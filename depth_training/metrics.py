"""Depth-estimation error metrics: the one implementation used by validation and evaluation.

Definitions (Eigen et al. 2014/2015), over the valid pixels of a depth map, ``p`` predicted and
``t`` true depth in metres, ``d = ln p - ln t``:

* ``delta{1,2,3}``: share of pixels with ``max(p/t, t/p) < 1.25**i``
* ``abs_rel`` = mean ``|p - t| / t``;  ``sq_rel`` = mean ``(p - t)**2 / t``
* ``rmse`` = sqrt mean ``(p - t)**2``;  ``rmse_log`` = sqrt mean ``d**2``
* ``log10`` = mean ``|log10 p - log10 t|``
* ``si_log`` (scale-invariant) = sqrt(mean ``d**2`` - (mean ``d``)**2), computed per image

A pixel is valid where the target is finite and within ``[MIN_DEPTH, MAX_DEPTH]`` (and inside
the optional mask). Finite predictions are clamped to that range, as is usual; pixels whose
prediction is not finite are left out and reported through :attr:`MetricAccumulator.coverage`.

Averaging: :class:`MetricAccumulator` pools **all pixels of the test set** by default
(``mode="pixel"``), which is how Eigen's evaluation code averages, so our numbers compare with
:data:`PUBLISHED_RESULTS`. ``mode="image"`` averages per-image metrics instead (the monodepth
convention). In pixel mode ``si_log`` is the square root of the pixel-weighted mean of the
per-image variances of ``d``, so it stays scale invariant per image. On NYUv2 the in-painted
ground truth is dense, so nearly every test image has the same number of evaluated pixels and
the two modes agree on the means (δ, abs/sq rel, log10); they differ for the square-rooted
metrics (RMSE, RMSE log), where pooling takes the root of the set-wide mean.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, fields
from typing import Any

import numpy as np
import torch

log = logging.getLogger(__name__)

# Eigen crop on the 480×640 NYUv2 frame: rows 45:471, cols 41:601 (top, bottom, left, right).
EIGEN_CROP: tuple[int, int, int, int] = (45, 471, 41, 601)
EIGEN_FRAME: tuple[int, int] = (480, 640)  # (H, W) the crop is defined on
MIN_DEPTH: float = 1e-3  # metres; evaluated depth range
MAX_DEPTH: float = 10.0  # metres

METRIC_KEYS: tuple[str, ...] = (
    "delta1", "delta2", "delta3", "abs_rel", "sq_rel", "rmse", "rmse_log", "log10", "si_log",
)
# Larger is better for these; smaller is better for the rest.
HIGHER_IS_BETTER: frozenset[str] = frozenset({"delta1", "delta2", "delta3"})

# The published NYUv2 test-set rows (654 images); None where the paper gives no number.
PUBLISHED_RESULTS: dict[str, dict[str, float | None]] = {
    "Eigen 2014 (coarse+fine)": {
        "delta1": 0.611, "delta2": 0.887, "delta3": 0.971, "abs_rel": 0.215, "sq_rel": 0.212,
        "rmse": 0.907, "rmse_log": 0.285, "log10": None, "si_log": 0.219},
    "Eigen 2015 AlexNet": {
        "delta1": 0.697, "delta2": 0.912, "delta3": 0.977, "abs_rel": 0.198, "sq_rel": 0.180,
        "rmse": 0.753, "rmse_log": 0.255, "log10": None, "si_log": 0.202},
    "Eigen 2015 VGG": {
        "delta1": 0.769, "delta2": 0.950, "delta3": 0.988, "abs_rel": 0.158, "sq_rel": 0.121,
        "rmse": 0.641, "rmse_log": 0.214, "log10": None, "si_log": 0.171},
    "seed (labelled subset, 5 % val)": {
        "delta1": 0.653, "delta2": 0.860, "delta3": 0.955, "abs_rel": None, "sq_rel": None,
        "rmse": 0.792, "rmse_log": 0.272, "log10": None, "si_log": None},
}


def eigen_crop_for(height: int, width: int) -> tuple[int, int, int, int]:
    """The Eigen crop (top, bottom, left, right) for a frame of the given size.

    It is :data:`EIGEN_CROP` on 480×640 and scaled proportionally on other sizes.
    """
    if height < 1 or width < 1:
        raise ValueError(f"frame size must be positive, got {height}x{width}")
    fh, fw = EIGEN_FRAME
    top, bottom, left, right = EIGEN_CROP
    if (height, width) == EIGEN_FRAME:
        return EIGEN_CROP
    return (round(top * height / fh), round(bottom * height / fh),
            round(left * width / fw), round(right * width / fw))


def eigen_mask(target: np.ndarray | torch.Tensor) -> np.ndarray:
    """Evaluation mask: inside the Eigen crop and with target depth in [MIN_DEPTH, MAX_DEPTH].

    Args:
        target: (..., H, W) depth in metres; NaN or 0 = invalid.

    Returns:
        Boolean array of the target's shape.
    """
    t = _as_numpy(target, "target")
    if t.ndim < 2:
        raise ValueError(f"target must have at least 2 dims (H, W), got shape {t.shape}")
    top, bottom, left, right = eigen_crop_for(*t.shape[-2:])
    crop = np.zeros(t.shape[-2:], dtype=bool)
    crop[top:bottom, left:right] = True
    with np.errstate(invalid="ignore"):
        in_range = np.isfinite(t) & (t >= MIN_DEPTH) & (t <= MAX_DEPTH)
    return in_range & crop


@dataclass
class _Sums:
    """Per-pixel sums over valid pixels; adding two gives the pooled sums."""

    n: int = 0  # valid pixels with a finite prediction
    n_target: int = 0  # valid target pixels (with or without a prediction)
    d1: int = 0
    d2: int = 0
    d3: int = 0
    abs_rel: float = 0.0
    sq_rel: float = 0.0
    sq: float = 0.0  # Σ (p - t)² in m²
    log_sq: float = 0.0  # Σ d²
    log10: float = 0.0
    si_var: float = 0.0  # Σ over images of n_i · var_i(d)

    def __iadd__(self, other: _Sums) -> _Sums:
        for f in fields(self):
            setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))
        return self

    def metrics(self) -> dict[str, float]:
        """The metrics of these sums (NaN for every key when there is no valid pixel)."""
        if self.n == 0:
            return {k: math.nan for k in METRIC_KEYS}
        n = self.n
        return {
            "delta1": self.d1 / n, "delta2": self.d2 / n, "delta3": self.d3 / n,
            "abs_rel": self.abs_rel / n, "sq_rel": self.sq_rel / n,
            "rmse": math.sqrt(self.sq / n), "rmse_log": math.sqrt(self.log_sq / n),
            "log10": self.log10 / n, "si_log": math.sqrt(max(self.si_var, 0.0) / n),
        }


def _as_numpy(x: Any, name: str) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        return x.detach().to("cpu", torch.float64).numpy()
    if isinstance(x, np.ndarray):
        return x
    raise TypeError(f"{name} must be a numpy array or a torch tensor, got {type(x).__name__}")


def _image_sums(pred: np.ndarray, target: np.ndarray, mask: np.ndarray | None) -> _Sums:
    """Sums for one (H, W) depth map pair in metres."""
    with np.errstate(invalid="ignore"):
        valid = np.isfinite(target) & (target >= MIN_DEPTH) & (target <= MAX_DEPTH)
    if mask is not None:
        valid &= mask
    n_target = int(valid.sum())
    valid &= np.isfinite(pred)
    p = np.clip(pred[valid].astype(np.float64), MIN_DEPTH, MAX_DEPTH)
    t = target[valid].astype(np.float64)
    s = _Sums(n=int(p.size), n_target=n_target)
    if p.size == 0:
        return s
    ratio = np.maximum(p / t, t / p)
    diff = p - t
    d = np.log(p) - np.log(t)
    s.d1 = int((ratio < 1.25).sum())
    s.d2 = int((ratio < 1.25**2).sum())
    s.d3 = int((ratio < 1.25**3).sum())
    s.abs_rel = float((np.abs(diff) / t).sum())
    s.sq_rel = float((diff**2 / t).sum())
    s.sq = float((diff**2).sum())
    s.log_sq = float((d**2).sum())
    s.log10 = float(np.abs(d).sum() / math.log(10.0))
    s.si_var = float(((d - d.mean()) ** 2).sum())  # n · var(d)
    return s


class MetricAccumulator:
    """Accumulates depth metrics over many images.

    Args:
        mode: ``"pixel"`` pools all valid pixels of all images (Eigen's evaluation, the
            default); ``"image"`` averages per-image metrics (images without a valid pixel
            are skipped).
    """

    MODES: tuple[str, ...] = ("pixel", "image")

    def __init__(self, mode: str = "pixel") -> None:
        if mode not in self.MODES:
            raise ValueError(f"averaging mode must be one of {self.MODES}, got {mode!r}")
        self.mode = mode
        self._total = _Sums()
        self._per_image: list[dict[str, float]] = []
        self.n_images = 0

    def update(self, pred: np.ndarray | torch.Tensor, target: np.ndarray | torch.Tensor,
               mask: np.ndarray | torch.Tensor | None = None) -> list[dict[str, float]]:
        """Add images.

        Args:
            pred: (..., H, W) predicted depth in metres (NaN = no prediction).
            target: same shape, true depth in metres (0 or NaN = invalid).
            mask: optional boolean array broadcastable to the target (True = evaluate).

        Returns:
            The per-image metrics of the added images (one dict per image).
        """
        p = _as_numpy(pred, "pred")
        t = _as_numpy(target, "target")
        if p.shape != t.shape:
            raise ValueError(f"pred shape {p.shape} does not match target shape {t.shape}")
        if t.ndim < 2:
            raise ValueError(f"depth maps must have at least 2 dims (H, W), got shape {t.shape}")
        m = None
        if mask is not None:
            m = np.broadcast_to(_as_numpy(mask, "mask").astype(bool), t.shape)
        h, w = t.shape[-2:]
        p, t = p.reshape(-1, h, w), t.reshape(-1, h, w)
        m = m.reshape(-1, h, w) if m is not None else None
        added = []
        for i in range(t.shape[0]):
            s = _image_sums(p[i], t[i], None if m is None else m[i])
            self._total += s
            self.n_images += 1
            per = s.metrics()
            if s.n > 0:
                self._per_image.append(per)
            added.append(per)
        return added

    @property
    def n_pixels(self) -> int:
        """Valid pixels evaluated so far (with a finite prediction)."""
        return self._total.n

    @property
    def coverage(self) -> float:
        """Share of valid target pixels that had a finite prediction (NaN before any)."""
        if self._total.n_target == 0:
            return math.nan
        return self._total.n / self._total.n_target

    def compute(self) -> dict[str, float]:
        """The metrics so far, keyed as :data:`METRIC_KEYS` (NaN when nothing was valid)."""
        if self._total.n == 0:
            log.warning("no valid pixels to compute depth metrics on")
        if self.mode == "pixel":
            return self._total.metrics()
        if not self._per_image:
            return {k: math.nan for k in METRIC_KEYS}
        return {k: float(np.mean([m[k] for m in self._per_image])) for k in METRIC_KEYS}


def depth_metrics(pred: np.ndarray | torch.Tensor, target: np.ndarray | torch.Tensor,
                  mask: np.ndarray | torch.Tensor | None = None) -> dict[str, float]:
    """Metrics of a depth map or a batch of them, all pixels pooled (see the module docstring).

    Args:
        pred: (H, W) or (B, [1,] H, W) predicted depth in metres; numpy or torch.
        target: same shape, true depth in metres (0 or NaN = invalid).
        mask: optional boolean mask broadcastable to the target (e.g. :func:`eigen_mask`).

    Returns:
        Dict with the keys of :data:`METRIC_KEYS` (floats; NaN when no pixel is valid).
    """
    acc = MetricAccumulator("pixel")
    acc.update(pred, target, mask)
    return acc.compute()
