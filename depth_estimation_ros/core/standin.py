"""Stand-in sensors from a depth image: a laser scan, range sectors and their frames (no ROS).

What a robot with a LIDAR or an ultrasonic ring consumes, computed from a (H, W) float32
depth image in metres along the optical axis (NaN invalid) and its `CameraIntrinsics`:

- `depth_to_scan`: a ``sensor_msgs/LaserScan`` the way depthimage_to_laserscan makes one. A
  band of rows centred at a fraction of the image height; per column the nearest return in
  the band whose in-plane range ``z * sqrt(1 + ((u - cx) / fx)^2)`` lies within
  [range_min, range_max]. Angles run counter-clockwise about the scan frame's z (up), so ray 0
  is the image's right edge (``angle_min = -atan((W - 1 - cx) / fx)``) and the last ray its
  left edge (``angle_max = atan(cx / fx)``), ``angle_increment = (max - min) / (W - 1)``: one ray
  per column, every ``decimation``-th kept.
  Columns are not evenly spaced in angle, so each ray looks along its own exact angle: it
  interpolates inverse depth between the two columns either side (exact on any plane), or
  takes the nearest column's reading where one of them has no in-range return.
  depthimage_to_laserscan instead drops each column into the bin its angle falls in, which
  leaves NaN bins near the centre and stacks several columns into one near the edges.
  REP 117 readings, per ray: a number when there is an in-range return; otherwise ``-inf``
  if some band pixel is nearer than range_min (too close), else ``+inf`` if some band pixel
  is beyond range_max (nothing within range: depth beyond it, or ``+inf`` depth), else NaN
  (no measurement: every band pixel NaN, zero or negative). depthimage_to_laserscan
  publishes NaN for out-of-range readings (its issue #61); REP 117 asks for the infinities.
- `depth_to_ranges`: ``sensor_msgs/Range`` readings for ``sectors`` adjacent circular cones of
  ``field_of_view`` each, centred on the optical axis, sector 0 the rightmost (index grows
  counter-clockwise, like the scan's angles). A reading is a low percentile of the Euclidean
  distances of the valid pixels inside the cone (not the minimum: one bad pixel must not stop
  a robot); ``-inf`` below min_range, ``+inf`` beyond max_range (the Range message's
  comments), NaN when the cone holds no valid pixel.
- `static_transforms`: the optical frame -> ``<frame>_scan`` rotation (x forward, z up) and
  optical -> each sector's frame (x along the cone's axis), as plain data for ``/tf_static``.

Everything runs on host numpy (the depth is a host array after its one download; the work
is a few hundred microseconds). Geometry per (intrinsics, settings) is computed once and
cached.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np

from depth_estimation_ros.core.camera import CameraIntrinsics

__all__ = [
    "INFRARED",
    "MAX_CONE_SAMPLES",
    "RADIATION_TYPES",
    "RangeConfig",
    "RangeReading",
    "SCAN_FRAME_SUFFIX",
    "Scan",
    "ScanConfig",
    "StandinError",
    "StaticTransform",
    "ULTRASOUND",
    "depth_to_ranges",
    "depth_to_scan",
    "quaternion_multiply",
    "range_frame_ids",
    "range_transforms",
    "scan_transform",
    "sector_yaws",
    "static_transforms",
]

# sensor_msgs/Range radiation_type constants
ULTRASOUND, INFRARED = 0, 1
RADIATION_TYPES: dict[str, int] = {"ultrasound": ULTRASOUND, "infrared": INFRARED}

SCAN_FRAME_SUFFIX = "_scan"
RANGE_FRAME_SUFFIX = "_range"
# Optical frame (z forward, x right, y down) -> scan frame (x forward, y left, z up), as
# (x, y, z, w): x_s = z_o, y_s = -x_o, z_s = -y_o.
OPTICAL_TO_SCAN = (0.5, -0.5, 0.5, 0.5)
# A cone's pixels are sampled on a regular lattice coarse enough to keep at most this many
# (a percentile of 4096 samples is as robust as one of 50 000 and ten times cheaper).
MAX_CONE_SAMPLES = 4096


class StandinError(ValueError):
    """Scan or range settings that do not fit this depth image (checked per frame)."""


@dataclass(frozen=True)
class ScanConfig:
    """LaserScan settings.

    Attributes:
        height: Rows in the band (pixels, >= 1).
        offset: Band centre as a fraction of the image height (0 top row, 1 bottom row).
        decimation: Keep every N-th ray.
        range_min: Nearest valid range (metres).
        range_max: Farthest valid range (metres).
    """

    height: int = 1
    offset: float = 0.5
    decimation: int = 1
    range_min: float = 0.45
    range_max: float = 10.0


@dataclass(frozen=True)
class Scan:
    """A LaserScan's fields (angles in radians, ranges in metres, times in seconds)."""

    angle_min: float
    angle_max: float
    angle_increment: float
    time_increment: float
    scan_time: float
    range_min: float
    range_max: float
    ranges: np.ndarray  # (N,) float32, REP 117 readings


@dataclass(frozen=True)
class _ScanGeometry:
    rows: slice  # the band
    z_lo: np.ndarray  # (W,) float32 depth at which a column's range is range_min
    z_hi: np.ndarray  # (W,) float32 depth at which it is range_max
    col_a: np.ndarray  # (N,) int: column left of the ray's exact position (smaller u)
    weight_b: np.ndarray  # (N,) float64: weight of column col_a + 1 in the interpolation
    col_near: np.ndarray  # (N,) int: column nearest to the ray
    inv_cos: np.ndarray  # (N,) float64: range / z along the ray's own angle
    col_factor: np.ndarray  # (N,) float64: range / z of the nearest column's pixel
    angle_min: float
    angle_max: float
    angle_increment: float


def _band_rows(height: int, band: int, offset: float) -> slice:
    """Rows of a ``band``-row window centred at ``offset`` (0 top .. 1 bottom), kept inside
    the image (a band at the top edge starts at row 0)."""
    if band > height:
        raise StandinError(
            f"Parameter 'scan_height' ({band} rows) must be at most the depth image height "
            f"({height} rows).")
    centre = offset * (height - 1)
    start = int(math.floor(centre - (band - 1) / 2.0 + 0.5))
    start = min(max(start, 0), height - band)
    return slice(start, start + band)


@functools.lru_cache(maxsize=8)
def _scan_geometry(intrinsics: CameraIntrinsics, config: ScanConfig) -> _ScanGeometry:
    width, fx, cx = intrinsics.width, intrinsics.fx, intrinsics.cx
    if width < 2:
        raise StandinError(f"A laser scan needs a depth image at least 2 columns wide, got "
                           f"{width}.")
    rows = _band_rows(intrinsics.height, config.height, config.offset)
    x_col = (np.arange(width, dtype=np.float64) - cx) / fx  # (W,) tan of each column's angle
    k_col = np.sqrt(1.0 + x_col * x_col)  # (W,) in-plane range / z
    angle_max = math.atan2(cx, fx)  # left edge, u = 0
    angle_min = -math.atan2(width - 1 - cx, fx)  # right edge, u = W - 1
    step = (angle_max - angle_min) / (width - 1)
    n = (width - 1) // config.decimation + 1
    theta = angle_min + step * config.decimation * np.arange(n, dtype=np.float64)  # (N,)
    u = np.clip(cx - fx * np.tan(theta), 0.0, width - 1.0)  # exact column of each ray
    col_a = np.minimum(np.floor(u).astype(np.intp), width - 2)
    col_near = np.rint(u).astype(np.intp)
    return _ScanGeometry(
        rows=rows,
        z_lo=(config.range_min / k_col).astype(np.float32),
        z_hi=(config.range_max / k_col).astype(np.float32),
        col_a=col_a,
        weight_b=u - col_a,
        col_near=col_near,
        inv_cos=1.0 / np.cos(theta),
        col_factor=k_col[col_near],
        angle_min=angle_min,
        angle_max=float(theta[-1]),
        angle_increment=step * config.decimation,
    )


def depth_to_scan(
    depth: np.ndarray, intrinsics: CameraIntrinsics, config: ScanConfig, scan_time: float = 0.0
) -> Scan:
    """A laser scan from a depth image (see the module docstring for the conversion).

    Args:
        depth: (H, W) float32 metres along the optical axis, NaN invalid.
        intrinsics: Camera of the depth image (its size).
        config: Band, decimation and range limits.
        scan_time: Seconds between scans (the frame period; 0 when unknown). The rays of one
            image are exposed together, so ``time_increment`` is 0.

    Raises:
        StandinError: the band does not fit the image.
        ValueError: the depth does not match the intrinsics.
    """
    _check_depth(depth, intrinsics)
    g = _scan_geometry(intrinsics, config)
    band = depth[g.rows]  # (h, W) metres
    with np.errstate(invalid="ignore"):
        in_range = (band >= g.z_lo) & (band <= g.z_hi)
        too_close = (band > 0.0) & (band < g.z_lo)
        too_far = band > g.z_hi  # includes +inf depth
    # (W,) nearest in-range depth per column, +inf where none
    z_near = np.where(in_range, band, np.float32(np.inf)).min(axis=0).astype(np.float64)
    za, zb = z_near[g.col_a], z_near[g.col_a + 1]
    both = np.isfinite(za) & np.isfinite(zb)
    with np.errstate(divide="ignore", invalid="ignore"):
        # 1/z is linear in u on any plane: exact range along the ray's own angle
        z_ray = 1.0 / ((1.0 - g.weight_b) / za + g.weight_b / zb)
        ranges = np.clip(z_ray * g.inv_cos, config.range_min, config.range_max)
    c = g.col_near
    fallback = np.where(
        np.isfinite(z_near[c]), z_near[c] * g.col_factor,
        np.where(too_close.any(axis=0)[c], -np.inf,
                 np.where(too_far.any(axis=0)[c], np.inf, np.nan)))
    ranges = np.where(both, ranges, fallback).astype(np.float32)
    return Scan(
        angle_min=g.angle_min, angle_max=g.angle_max, angle_increment=g.angle_increment,
        time_increment=0.0, scan_time=float(scan_time), range_min=config.range_min,
        range_max=config.range_max, ranges=ranges)


# -- range sectors ----------------------------------------------------------------------------


@dataclass(frozen=True)
class RangeConfig:
    """Range sector settings.

    Attributes:
        sectors: Number of adjacent cones across the view (1 on the optical axis).
        field_of_view: Full opening angle of each cone (radians).
        radiation_type: `ULTRASOUND` or `INFRARED`.
        range_min: Nearest reading (metres); nearer is ``-inf``.
        range_max: Farthest reading (metres); farther is ``+inf``.
        percentile: Percentile (0..100) of the cone's distances reported as its range.
    """

    sectors: int = 1
    field_of_view: float = 0.5
    radiation_type: int = ULTRASOUND
    range_min: float = 0.1
    range_max: float = 5.0
    percentile: float = 5.0


@dataclass(frozen=True)
class RangeReading:
    """A Range message's fields for one sector."""

    radiation_type: int
    field_of_view: float  # radians
    min_range: float  # metres
    max_range: float  # metres
    range: float  # metres, or +-inf / NaN (see the module docstring)


def sector_yaws(sectors: int, field_of_view: float) -> np.ndarray:
    """(sectors,) yaw of each cone's axis in the scan frame (radians, positive to the left),
    adjacent cones centred on the optical axis, sector 0 the rightmost."""
    return (np.arange(sectors, dtype=np.float64) - (sectors - 1) / 2.0) * field_of_view


@functools.lru_cache(maxsize=8)
def _sector_pixels(
    intrinsics: CameraIntrinsics, sectors: int, field_of_view: float
) -> tuple[tuple[np.ndarray, np.ndarray], ...]:
    """Per sector: (flat pixel indices inside the cone on a sampling lattice, their
    Euclidean distance / z factors)."""
    half = field_of_view / 2.0
    span = sectors * half
    left, right = math.atan2(intrinsics.cx, intrinsics.fx), math.atan2(
        intrinsics.width - 1 - intrinsics.cx, intrinsics.fx)
    if span > min(left, right) + 1e-9:
        raise StandinError(
            f"Parameters 'range_sectors' x 'range_field_of_view' ({sectors} x "
            f"{field_of_view:.3f} rad) must fit the depth image's horizontal field of view: "
            f"at most {2.0 * min(left, right):.3f} rad for this camera.")
    x = ((np.arange(intrinsics.width) - intrinsics.cx) / intrinsics.fx)[None, :]  # (1, W)
    y = ((np.arange(intrinsics.height) - intrinsics.cy) / intrinsics.fy)[:, None]  # (H, 1)
    norm = np.sqrt(x * x + y * y + 1.0)  # (H, W) distance / z
    out = []
    for yaw in sector_yaws(sectors, field_of_view):
        # cone axis in the optical frame: (-sin yaw, 0, cos yaw); pixel ray (x, y, 1)
        inside = (math.cos(yaw) - math.sin(yaw) * x) >= math.cos(half) * norm  # (H, W)
        stride = max(1, math.ceil(math.sqrt(np.count_nonzero(inside) / MAX_CONE_SAMPLES)))
        lattice = np.zeros_like(inside)
        lattice[::stride, ::stride] = True
        flat = np.flatnonzero(inside & lattice)
        factor = norm.reshape(-1)[flat].astype(np.float32)
        flat.flags.writeable = False
        factor.flags.writeable = False
        out.append((flat, factor))
    return tuple(out)


def depth_to_ranges(
    depth: np.ndarray, intrinsics: CameraIntrinsics, config: RangeConfig
) -> list[RangeReading]:
    """One Range reading per sector (see the module docstring).

    Args:
        depth: (H, W) float32 metres along the optical axis, NaN invalid.
        intrinsics: Camera of the depth image.
        config: Sectors, cone width, radiation type, limits and percentile.

    Raises:
        StandinError: the sectors together are wider than the image's field of view.
        ValueError: the depth does not match the intrinsics.
    """
    _check_depth(depth, intrinsics)
    flat_depth = depth.reshape(-1)
    readings = []
    for flat, factor in _sector_pixels(intrinsics, config.sectors, config.field_of_view):
        distance = flat_depth[flat] * factor  # (n,) metres
        with np.errstate(invalid="ignore"):
            distance = distance[distance > 0.0]  # drops NaN, zero and negative depth
        if distance.size == 0:
            value = math.nan
        else:
            value = float(np.percentile(distance, config.percentile))
            if value < config.range_min:
                value = -math.inf
            elif value > config.range_max:
                value = math.inf
        readings.append(RangeReading(config.radiation_type, config.field_of_view,
                                     config.range_min, config.range_max, value))
    return readings


def _check_depth(depth: np.ndarray, intrinsics: CameraIntrinsics) -> None:
    if depth.ndim != 2 or depth.shape != (intrinsics.height, intrinsics.width):
        raise ValueError(
            f"Depth image of shape {depth.shape} must be (height, width) = "
            f"({intrinsics.height}, {intrinsics.width}) to match the camera intrinsics.")


# -- frames ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class StaticTransform:
    """One ``geometry_msgs/TransformStamped`` of ``/tf_static``: a point p in ``child`` is
    ``R(rotation) p + translation`` in ``parent``.

    Attributes:
        parent: Header frame_id.
        child: child_frame_id.
        translation: (x, y, z) metres.
        rotation: Quaternion (x, y, z, w).
    """

    parent: str
    child: str
    translation: tuple[float, float, float]
    rotation: tuple[float, float, float, float]


def quaternion_multiply(
    a: tuple[float, float, float, float], b: tuple[float, float, float, float]
) -> tuple[float, float, float, float]:
    """Hamilton product ``a * b`` of (x, y, z, w) quaternions (rotate by b, then by a)."""
    ax, ay, az, aw = a
    bx, by, bz, bw = b
    return (aw * bx + ax * bw + ay * bz - az * by,
            aw * by - ax * bz + ay * bw + az * bx,
            aw * bz + ax * by - ay * bx + az * bw,
            aw * bw - ax * bx - ay * by - az * bz)


def scan_transform(optical_frame: str) -> StaticTransform:
    """Optical frame -> ``<optical_frame>_scan`` (same origin, x forward, z up)."""
    return StaticTransform(optical_frame, optical_frame + SCAN_FRAME_SUFFIX, (0.0, 0.0, 0.0),
                           OPTICAL_TO_SCAN)


def range_frame_ids(optical_frame: str, sectors: int) -> list[str]:
    """Frames of the sectors: ``<frame>_range`` for one, ``<frame>_range_<i>`` for several."""
    base = optical_frame + RANGE_FRAME_SUFFIX
    return [base] if sectors == 1 else [f"{base}_{i}" for i in range(sectors)]


def range_transforms(
    optical_frame: str, sectors: int, field_of_view: float
) -> list[StaticTransform]:
    """Optical frame -> each sector's frame (x along the cone's axis, z up)."""
    out = []
    for child, yaw in zip(range_frame_ids(optical_frame, sectors),
                          sector_yaws(sectors, field_of_view), strict=True):
        about_z = (0.0, 0.0, math.sin(yaw / 2.0), math.cos(yaw / 2.0))
        out.append(StaticTransform(optical_frame, child, (0.0, 0.0, 0.0),
                                   quaternion_multiply(OPTICAL_TO_SCAN, about_z)))
    return out


def static_transforms(
    optical_frame: str,
    scan: bool,
    scan_frame: str,
    ranges: bool,
    sectors: int,
    field_of_view: float,
    mount: StaticTransform | None = None,
) -> tuple[StaticTransform, ...]:
    """All the transforms the node publishes on ``/tf_static`` for an optical frame.

    Args:
        optical_frame: The depth image's frame_id.
        scan: Whether the scan is published.
        scan_frame: The scan's frame when the robot description has one (then no transform
            is published for it); empty for ``<optical_frame>_scan``.
        ranges: Whether the range sectors are published.
        sectors: Number of sectors.
        field_of_view: Each sector's cone (radians).
        mount: The camera's mount (parent -> optical frame, `mount.mount_transform`), or None
            when something else (a robot description) publishes it.
    """
    out: list[StaticTransform] = [mount] if mount is not None else []
    if scan and not scan_frame:
        out.append(scan_transform(optical_frame))
    if ranges:
        out.extend(range_transforms(optical_frame, sectors, field_of_view))
    return tuple(out)
