"""Depth post-processing filters for a costmap: edges, temporal smoothing, scale (no ROS).

A monocular network's depth is smooth across object edges, so the pixels between a chair
and the wall behind it hang in the air ("flying pixels"), and its overall scale jitters from
frame to frame. These filters work on the (H, W) float32 depth image in metres along the
optical axis (NaN invalid), vectorised numpy / OpenCV, before any output is made from it:

- `edge_mask` / the edge filter: invalidates pixels whose surface is seen at more than
  ``max_angle`` from the viewing ray. With ``p = dz/du``, ``q = dz/dv`` (central differences),
  the surface normal of the back-projected points is ``n = (-gu, -gv, 1 + x gu + y gv)``
  with ``gu = fx p / z``, ``gv = fy q / z``, and the ray ``r = (x, y, 1)``,
  ``x = (u - cx) / fx``, ``y = (v - cy) / fy``; then ``n . r = 1`` exactly, so
  ``cos(angle) = 1 / (|n| |r|)``. A depth discontinuity is the limit of grazing incidence
  (a one-pixel jump of ``dz`` reads as ``gu = fx dz / z``), so one criterion removes both
  the smeared ramps between objects and surfaces seen edge-on. ``dilate`` widens the removed
  band by that many pixels (the ramp's feet).
- `TemporalFilter`: librealsense's temporal filter: ``out = alpha * depth + (1 - alpha) *
  previous`` where both are valid and differ by less than ``delta`` (relative: a fraction of
  the depth), else the new depth as is, so a moved object is never smeared beyond ``delta``.
  It resets when the frame_id or the size changes, or after a gap in the stamps.
- `ScaleStabilizer`: damps frame-to-frame jumps of the whole map's scale (the dominant
  monocular error). ``d`` = log of the ratio of this frame's median depth to the previous
  frame's; the gain ``g`` applied to the frame follows ``log g <- (1 - alpha)(log g - d)``:
  a jump is countered at once by ``1 - alpha`` of it, and the gain decays back to 1, so the
  network's own scale is followed within a few frames (a steady approach at ``d`` per
  frame is read ``(1 - alpha) d / alpha`` low).
- `DepthFilters`: the three in that order (stabiliser, temporal, edges), one ``__call__``
  per frame and `reset`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from depth_estimation_ros.core.camera import CameraIntrinsics

__all__ = [
    "DepthFilters",
    "FilterConfig",
    "FilterResult",
    "ScaleStabilizer",
    "TemporalFilter",
    "edge_mask",
]

_MEDIAN_STRIDE = 4  # the scale's median is taken on every 4th row and column (1/16 of them)


@dataclass(frozen=True)
class FilterConfig:
    """Settings of `DepthFilters` (the node's parameters of the same names).

    Attributes:
        edge_filter: Remove flying pixels and grazing surfaces.
        edge_max_angle: Largest angle (degrees) between the viewing ray and the surface
            normal that is kept.
        edge_dilate: Pixels the removed band is widened by.
        temporal_filter: Exponential smoothing over frames.
        temporal_alpha: Weight of the new frame (1 = no smoothing).
        temporal_delta: Largest relative change that is smoothed; larger changes are taken
            as they are.
        temporal_reset_gap: Seconds between stamps after which the history is dropped.
        scale_stabilizer: Damp frame-to-frame jumps of the median depth.
        scale_alpha: How fast the stabiliser follows a scale change (1 = not at all damped).
    """

    edge_filter: bool = True
    edge_max_angle: float = 80.0
    edge_dilate: int = 1
    temporal_filter: bool = False
    temporal_alpha: float = 0.4
    temporal_delta: float = 0.05
    temporal_reset_gap: float = 0.5
    scale_stabilizer: bool = False
    scale_alpha: float = 0.3

    @property
    def enabled(self) -> bool:
        """Whether any filter is on."""
        return self.edge_filter or self.temporal_filter or self.scale_stabilizer

    @property
    def changes_values(self) -> bool:
        """Whether a filter changes depth values (not only invalidates pixels)."""
        return self.temporal_filter or self.scale_stabilizer


@dataclass(frozen=True)
class FilterResult:
    """One filtered frame.

    Attributes:
        depth: (H, W) float32 metres, NaN invalid (a new array; the input is not changed).
        removed: Pixels the edge filter made invalid.
        gain: Scale factor the stabiliser applied (1.0 when off).
        valid_in: Valid pixels of the input.
    """

    depth: np.ndarray
    removed: int
    gain: float
    valid_in: int


def _rays(camera: CameraIntrinsics, stride: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``u - cx`` (1, W'), ``v - cy`` (H', 1) and ``|r|^2`` (H', W') of every ``stride``-th
    pixel, float32, cached per camera."""
    key = (camera.fx, camera.fy, camera.cx, camera.cy, camera.width, camera.height, stride)
    hit = _RAYS.get(key)
    if hit is None:
        if len(_RAYS) > 8:
            _RAYS.clear()
        du = np.arange(0, camera.width, stride) - camera.cx
        dv = np.arange(0, camera.height, stride) - camera.cy
        r2 = 1.0 + (du / camera.fx)[None, :] ** 2 + (dv / camera.fy)[:, None] ** 2
        hit = _RAYS[key] = (du.astype(np.float32)[None, :], dv.astype(np.float32)[:, None],
                            r2.astype(np.float32))
    return hit


_RAYS: dict[tuple, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
_CENTRAL = np.array([[-0.5, 0.0, 0.5]], dtype=np.float32)  # d/du over +-1 sample


def edge_mask(depth: np.ndarray, camera: CameraIntrinsics, max_angle_deg: float = 80.0,
              dilate: int = 1) -> np.ndarray:
    """Pixels on depth discontinuities or surfaces seen beyond ``max_angle_deg`` from the ray.

    Images 320 or more pixels wide are judged on every second row and column (a 2x2 block
    shares its verdict): four times cheaper, and a monocular network's depth has no detail
    finer than that (its output is 147x109).

    Args:
        depth: (H, W) float32 metres, NaN invalid; the intrinsics' size.
        camera: Intrinsics of the depth image.
        max_angle_deg: Largest kept angle between the ray and the surface normal (degrees).
        dilate: Widen the mask by this many pixels.

    Returns:
        (H, W) bool, True where the pixel should be made invalid (valid pixels only).
    """
    z = np.asarray(depth, dtype=np.float32)
    if z.shape != (camera.height, camera.width):
        raise ValueError(f"Depth image of shape {z.shape} must match the intrinsics' "
                         f"{camera.height}x{camera.width}.")
    stride = 2 if camera.width >= 320 else 1
    zs = np.ascontiguousarray(z[::stride, ::stride]) if stride > 1 else z
    du, dv, r2 = _rays(camera, stride)
    # d(log z)/du = p / z, per original pixel; NaN (and log of <= 0) propagates and the
    # comparison below is False there: pixels next to invalid ones are not judged
    with np.errstate(invalid="ignore", divide="ignore"):
        lz = np.log(zs)
    a = cv2.filter2D(lz, cv2.CV_32F, _CENTRAL / stride, borderType=cv2.BORDER_REPLICATE)
    b = cv2.filter2D(lz, cv2.CV_32F, _CENTRAL.T / stride, borderType=cv2.BORDER_REPLICATE)
    # n = (-fx a, -fy b, 1 + (u - cx) a + (v - cy) b), n . r = 1 (module doc)
    nz = du * a
    nz += dv * b
    nz += 1.0
    fx2, fy2 = camera.fx * camera.fx, camera.fy * camera.fy
    n2 = cv2.multiply(a, a, scale=fx2)
    n2 += cv2.multiply(b, b, scale=fy2)
    n2 += cv2.multiply(nz, nz)
    # cos(angle) = 1 / sqrt(|n|^2 |r|^2) < cos(max)  <=>  |n|^2 |r|^2 > 1 / cos(max)^2
    limit = 1.0 / max(math.cos(math.radians(max_angle_deg)), 1e-6) ** 2
    bad = (cv2.multiply(n2, r2) > limit).view(np.uint8)
    if stride > 1:
        bad = cv2.resize(bad, (camera.width, camera.height), interpolation=cv2.INTER_NEAREST)
    if dilate > 0:
        size = 2 * dilate + 1
        bad = cv2.dilate(bad, cv2.getStructuringElement(cv2.MORPH_RECT, (size, size)))
    bad = bad.view(bool)
    np.logical_and(bad, z > 0, out=bad)
    return bad


class TemporalFilter:
    """librealsense-style temporal smoothing with an edge-preserving relative delta.

    Args:
        alpha: Weight of the new frame, in (0, 1].
        delta: Largest relative difference to the history that is smoothed.
        reset_gap: Seconds between frames after which the history is dropped.
    """

    def __init__(self, alpha: float = 0.4, delta: float = 0.05, reset_gap: float = 0.5) -> None:
        self.alpha, self.delta, self.reset_gap = alpha, delta, reset_gap
        self._prev: np.ndarray | None = None
        self._key: tuple | None = None
        self._time: float | None = None

    def reset(self) -> None:
        """Forget the history."""
        self._prev, self._key, self._time = None, None, None

    def __call__(self, depth: np.ndarray, frame_id: str = "", stamp: float | None = None
                 ) -> np.ndarray:
        """Smooth one frame; returns a new array and keeps it as the history.

        Args:
            depth: (H, W) float32 metres, NaN invalid.
            frame_id: The frame's frame_id; a change resets the history.
            stamp: The frame's time (s); a gap over ``reset_gap`` (or going back) resets.
        """
        key = (frame_id, depth.shape)
        if self._prev is None or key != self._key or (
                stamp is not None and self._time is not None
                and not 0.0 <= stamp - self._time <= self.reset_gap):
            out = np.array(depth, dtype=np.float32, copy=True)
        else:
            prev = self._prev
            # close: |z - prev| < delta * z; NaN on either side compares False
            close = cv2.absdiff(depth, prev) < depth * np.float32(self.delta)
            out = cv2.addWeighted(depth, self.alpha, prev, 1.0 - self.alpha, 0.0)
            cv2.copyTo(depth, (~close).view(np.uint8), out)
        self._prev, self._key, self._time = out, key, stamp
        return out


class ScaleStabilizer:
    """Damp frame-to-frame jumps of the depth map's overall scale (see the module doc).

    Args:
        alpha: How much of a scale change passes at once, in (0, 1]; 1 disables damping.
        reset_gap: Seconds between frames after which the history is dropped.
    """

    def __init__(self, alpha: float = 0.3, reset_gap: float = 0.5) -> None:
        self.alpha, self.reset_gap = alpha, reset_gap
        self.reset()

    def reset(self) -> None:
        """Forget the history (the gain returns to 1)."""
        self._median: float | None = None
        self._log_gain = 0.0
        self._key: tuple | None = None
        self._time: float | None = None

    @property
    def gain(self) -> float:
        """The factor applied to the last frame."""
        return math.exp(self._log_gain)

    def __call__(self, depth: np.ndarray, frame_id: str = "", stamp: float | None = None
                 ) -> np.ndarray:
        """Rescale one frame; returns a new array (or ``depth`` itself when the gain is 1)."""
        sample = depth[::_MEDIAN_STRIDE, ::_MEDIAN_STRIDE]
        sample = sample[sample > 0]  # drops NaN too
        key = (frame_id, depth.shape)
        if sample.size == 0:
            return depth
        median = float(np.median(sample))
        if self._median is None or key != self._key or (
                stamp is not None and self._time is not None
                and not 0.0 <= stamp - self._time <= self.reset_gap):
            self._log_gain = 0.0
        else:
            step = math.log(median / self._median)
            self._log_gain = (1.0 - self.alpha) * (self._log_gain - step)
        self._median, self._key, self._time = median, key, stamp
        if self._log_gain == 0.0:
            return depth
        return depth * np.float32(math.exp(self._log_gain))


class DepthFilters:
    """The node's filter chain: scale stabiliser, temporal filter, edge filter.

    Args:
        config: Which filters run and their settings; replace with `configure`.
    """

    def __init__(self, config: FilterConfig | None = None) -> None:
        self.config = config or FilterConfig()
        self._temporal = TemporalFilter()
        self._scale = ScaleStabilizer()
        self.configure(self.config)

    def configure(self, config: FilterConfig) -> None:
        """Apply new settings; the history is kept unless a filter was switched on or off."""
        old, self.config = self.config, config
        t, s = self._temporal, self._scale
        t.alpha, t.delta, t.reset_gap = (config.temporal_alpha, config.temporal_delta,
                                         config.temporal_reset_gap)
        s.alpha, s.reset_gap = config.scale_alpha, config.temporal_reset_gap
        if old.temporal_filter != config.temporal_filter:
            t.reset()
        if old.scale_stabilizer != config.scale_stabilizer:
            s.reset()

    def reset(self) -> None:
        """Forget the temporal and scale history (lifecycle activate, a new stream)."""
        self._temporal.reset()
        self._scale.reset()

    def __call__(self, depth: np.ndarray, camera: CameraIntrinsics, frame_id: str = "",
                 stamp: float | None = None) -> FilterResult:
        """Filter one frame.

        Args:
            depth: (H, W) float32 metres, NaN invalid; not changed.
            camera: Intrinsics of the depth image.
            frame_id: The frame's frame_id (a change resets the history).
            stamp: The frame's time in seconds (a gap resets the history).
        """
        c = self.config
        out = np.asarray(depth, dtype=np.float32)
        valid_in = int(np.count_nonzero(out > 0))
        gain = 1.0
        if c.scale_stabilizer:
            out = self._scale(out, frame_id, stamp)
            gain = self._scale.gain
        if c.temporal_filter:
            out = self._temporal(out, frame_id, stamp)
        removed = 0
        if c.edge_filter:
            bad = edge_mask(out, camera, c.edge_max_angle, c.edge_dilate)
            removed = int(np.count_nonzero(bad))
            if removed:
                if out is depth or c.temporal_filter:  # the temporal history stays whole
                    out = out.copy()
                np.copyto(out, np.float32(np.nan), where=bad)
        if out is depth:
            out = out.copy()
        return FilterResult(out, removed, gain, valid_in)
