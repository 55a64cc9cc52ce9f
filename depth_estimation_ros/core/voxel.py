"""Voxel-downsampled, unorganised point cloud from a depth image (no ROS).

Nav2's voxel layer marks the voxel each point falls in, so a cloud with one point per
occupied voxel marks the same voxels as the full organised cloud at a fraction of its size
(a few thousand points instead of 307 200 at 640x480). `voxel_points` builds it straight
from the depth image:

- pixels are sampled every ``stride`` rows and columns, where a voxel seen at the frame's
  farthest kept depth still spans two strides (``stride = floor(voxel * min(fx, fy) /
  (2 z_far))``, at least 1): nearer voxels span more pixels, so a surface's voxels are sampled;
- each sampled point's voxel index ``floor(p / voxel)`` is packed into one int64 key;
- a point is dropped when its key equals its left or upper neighbour's (the organised grid
  makes most duplicates adjacent, and following left/up links always ends at a kept point of
  the same voxel); the rest are sorted by key with their index in the low bits (one
  ``np.sort`` of int64, far cheaper than a stable argsort) and the first of each key kept.
  Keys hold 15 bits per axis: points more than 16 383 voxels from the camera on an axis
  (819 m at 5 cm) are left out.

The result is the first sampled point (in row-major order) of every occupied voxel, in the
optical frame (REP 103), metres.
"""

from __future__ import annotations

import math

import numpy as np

from depth_estimation_ros.core.camera import CameraIntrinsics

__all__ = ["voxel_points", "voxel_stride"]

_BITS = 15  # per axis in the key: +-2^14 voxels
_OFFSET = 1 << (_BITS - 1)
_INDEX_BITS = 18  # sample index in the sorted word: up to 262 144 samples per frame


def _voxel_index(scaled: np.ndarray) -> np.ndarray:
    """floor() as int64 plus the key offset; through int32, as numpy's float32 -> int64 cast
    is up to 50x slower on some inputs (|scaled| < 2^14 here, or the point is dropped)."""
    clipped = np.clip(np.floor(scaled), -(1 << 20), 1 << 20)
    return clipped.astype(np.int32).astype(np.int64) + _OFFSET


def voxel_stride(camera: CameraIntrinsics, voxel: float, max_range: float) -> int:
    """Pixel step at which a voxel seen at ``max_range`` still spans two steps (a slanted
    surface crosses some voxels in slivers narrower than the voxel)."""
    if not math.isfinite(max_range) or max_range <= 0.0:
        return 1
    return max(1, int(voxel * min(camera.fx, camera.fy) / (2.0 * max_range)))


def voxel_points(depth: np.ndarray, camera: CameraIntrinsics, voxel: float,
                 min_range: float = 0.0, max_range: float = math.inf) -> np.ndarray:
    """One point per occupied voxel of a depth image's points.

    Args:
        depth: (H, W) float32 metres along the optical axis, NaN invalid; intrinsics' size.
        camera: Intrinsics of the depth image.
        voxel: Voxel edge (metres), > 0.
        min_range: Smallest z kept (metres).
        max_range: Largest z kept (metres).

    Returns:
        (N, 3) float32 x, y, z (optical frame), one row per occupied voxel.

    Raises:
        ValueError: on a voxel size that is not positive, or a depth of the wrong shape.
    """
    if not voxel > 0.0:
        raise ValueError(f"Voxel size {voxel!r} must be a positive number of metres.")
    depth = np.asarray(depth, dtype=np.float32)
    if depth.shape != (camera.height, camera.width):
        raise ValueError(f"Depth image of shape {depth.shape} must match the intrinsics' "
                         f"{camera.height}x{camera.width}.")
    with np.errstate(invalid="ignore"):
        coarse = depth[::8, ::8]
        coarse = coarse[(coarse >= min_range) & (coarse <= max_range)]
    far = float(coarse.max()) if coarse.size else max_range
    stride = voxel_stride(camera, voxel, far)
    while math.ceil(camera.height / stride) * math.ceil(camera.width / stride) >= (
            1 << _INDEX_BITS):
        stride += 1
    z = depth[::stride, ::stride]
    xr = ((np.arange(0, camera.width, stride) - camera.cx) / camera.fx).astype(np.float32)
    yr = ((np.arange(0, camera.height, stride) - camera.cy) / camera.fy).astype(np.float32)
    inv = np.float32(1.0 / voxel)
    with np.errstate(invalid="ignore"):
        valid = (z >= max(min_range, 1e-6)) & (z <= max_range)
    zq = np.where(valid, z, np.float32(0.0))
    x = xr[None, :] * zq
    y = yr[:, None] * zq
    ix = _voxel_index(x * inv)
    iy = _voxel_index(y * inv)
    iz = _voxel_index(zq * inv)
    limit = 1 << _BITS
    valid &= (ix >= 0) & (ix < limit) & (iy >= 0) & (iy < limit) & (iz < limit)
    key = (ix << (2 * _BITS)) | (iy << _BITS) | iz
    key[~valid] = -1
    keep = valid.copy()
    keep[:, 1:] &= key[:, 1:] != key[:, :-1]
    keep[1:, :] &= key[1:, :] != key[:-1, :]
    flat = np.flatnonzero(keep)
    word = np.sort((key.reshape(-1)[flat] << _INDEX_BITS) | flat)
    voxel_key = word >> _INDEX_BITS
    first = np.ones(word.size, dtype=bool)
    first[1:] = voxel_key[1:] != voxel_key[:-1]
    index = word[first] & ((1 << _INDEX_BITS) - 1)
    return np.stack([x.reshape(-1)[index], y.reshape(-1)[index], zq.reshape(-1)[index]],
                    axis=1)
