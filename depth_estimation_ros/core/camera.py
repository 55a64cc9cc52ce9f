"""Pinhole camera geometry: intrinsics, resizing and cropping, and depth back-projection.

Pure numpy, no ROS imports. Pixel coordinates follow ROS / OpenCV: the centre of pixel
(row ``v``, column ``u``) is at ``(u, v)``, and the optical frame is REP 103 (z forward,
x right, y down).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

__all__ = [
    "NYU_KINECT_FX",
    "NYU_KINECT_FY",
    "NYU_KINECT_CX",
    "NYU_KINECT_CY",
    "NYU_KINECT_WIDTH",
    "NYU_KINECT_HEIGHT",
    "CameraInfoError",
    "CameraIntrinsics",
    "backproject",
    "project",
    "register_depth",
]

# NYU Depth v2 Kinect RGB camera at 640x480 (pixels).
NYU_KINECT_FX = 518.8579
NYU_KINECT_FY = 519.4696
NYU_KINECT_CX = 325.5824
NYU_KINECT_CY = 253.7362
NYU_KINECT_WIDTH = 640
NYU_KINECT_HEIGHT = 480

# ROS CameraInfo: plumb_bob with five zero coefficients is what camera_info_manager writes
# for an undistorted camera; every consumer (image_geometry, depth_image_proc, RViz) reads
# it as "no distortion", whereas an empty D is only handled by newer image_geometry.
DISTORTION_MODEL = "plumb_bob"


class CameraInfoError(ValueError):
    """Raised for intrinsics that cannot describe a pinhole camera (zeros, NaN, bad shape)."""


@dataclass(frozen=True)
class CameraIntrinsics:
    """Pinhole intrinsics of an undistorted image.

    Attributes:
        fx: Focal length along x (pixels).
        fy: Focal length along y (pixels).
        cx: Principal point x (pixels, ROS convention: pixel centres at integers).
        cy: Principal point y (pixels).
        width: Image width (pixels).
        height: Image height (pixels).
    """

    fx: float
    fy: float
    cx: float
    cy: float
    width: int
    height: int

    def __post_init__(self) -> None:
        values = {"fx": self.fx, "fy": self.fy, "cx": self.cx, "cy": self.cy}
        for name, value in values.items():
            numeric = isinstance(value, (int, float, np.floating, np.integer))
            if not numeric or not math.isfinite(float(value)):
                raise CameraInfoError(
                    f"Camera intrinsic {name}={value!r} must be a finite number."
                )
            object.__setattr__(self, name, float(value))
        if self.fx <= 0.0 or self.fy <= 0.0:
            raise CameraInfoError(
                f"Camera focal lengths must be positive, got fx={self.fx}, fy={self.fy} "
                "(an all-zero K means the camera is uncalibrated)."
            )
        for name in ("width", "height"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value <= 0:
                raise CameraInfoError(f"Camera {name}={value!r} must be a positive integer.")
            object.__setattr__(self, name, int(value))

    @property
    def K(self) -> np.ndarray:  # noqa: N802 - the conventional name of the matrix
        """The 3x3 camera matrix (float64)."""
        return np.array(
            [[self.fx, 0.0, self.cx], [0.0, self.fy, self.cy], [0.0, 0.0, 1.0]], dtype=np.float64
        )

    @classmethod
    def from_matrix(
        cls,
        K: Sequence[float] | np.ndarray,
        width: int,
        height: int,  # noqa: N803
    ) -> CameraIntrinsics:
        """Build intrinsics from a 3x3 camera matrix (or the 9 row-major values of a CameraInfo).

        Args:
            K: 3x3 matrix, or 9 values in row-major order (ROS ``CameraInfo.k``).
            width: Image width (pixels).
            height: Image height (pixels).

        Raises:
            CameraInfoError: If K is not 3x3, not finite, has non-positive focal lengths,
                skew, or a last row other than ``0 0 1``.
        """
        try:
            matrix = np.asarray(K, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise CameraInfoError(f"Camera matrix K={K!r} is not numeric.") from exc
        if matrix.size == 9:
            matrix = matrix.reshape(3, 3)
        if matrix.shape != (3, 3):
            raise CameraInfoError(
                f"Camera matrix K must be 3x3 or 9 values, got shape {np.shape(K)}."
            )
        if not np.all(np.isfinite(matrix)):
            raise CameraInfoError(f"Camera matrix K must be finite, got {matrix.tolist()}.")
        if not np.array_equal(matrix[2], [0.0, 0.0, 1.0]):
            raise CameraInfoError(
                f"Camera matrix K must have last row [0, 0, 1], got {matrix[2].tolist()} "
                "(an all-zero K means the camera is uncalibrated)."
            )
        if matrix[0, 1] != 0.0 or matrix[1, 0] != 0.0:
            raise CameraInfoError(
                f"Camera matrix K must have zero skew, got K[0,1]={matrix[0, 1]}, "
                f"K[1,0]={matrix[1, 0]}."
            )
        return cls(
            fx=float(matrix[0, 0]),
            fy=float(matrix[1, 1]),
            cx=float(matrix[0, 2]),
            cy=float(matrix[1, 2]),
            width=width,
            height=height,
        )

    @classmethod
    def nyu_kinect(
        cls, width: int = NYU_KINECT_WIDTH, height: int = NYU_KINECT_HEIGHT
    ) -> CameraIntrinsics:
        """The NYU Depth v2 Kinect RGB camera, resized to ``width`` x ``height`` if asked."""
        base = cls(
            fx=NYU_KINECT_FX,
            fy=NYU_KINECT_FY,
            cx=NYU_KINECT_CX,
            cy=NYU_KINECT_CY,
            width=NYU_KINECT_WIDTH,
            height=NYU_KINECT_HEIGHT,
        )
        if (width, height) == (NYU_KINECT_WIDTH, NYU_KINECT_HEIGHT):
            return base
        return base.scaled(width, height)

    def scaled(self, width: int, height: int) -> CameraIntrinsics:
        """Intrinsics of this image resized to ``width`` x ``height``.

        Scales as ROS ``image_proc`` resize does: ``fx, cx`` by ``width / self.width`` and
        ``fy, cy`` by ``height / self.height``.
        """
        for name, value in (("width", width), ("height", height)):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value <= 0:
                raise CameraInfoError(f"Resized {name}={value!r} must be a positive integer.")
        sx = width / self.width
        sy = height / self.height
        return CameraIntrinsics(
            fx=self.fx * sx,
            fy=self.fy * sy,
            cx=self.cx * sx,
            cy=self.cy * sy,
            width=int(width),
            height=int(height),
        )

    def cropped(self, left: int, top: int, width: int, height: int) -> CameraIntrinsics:
        """Intrinsics of the crop ``[top:top + height, left:left + width]`` of this image.

        Raises:
            CameraInfoError: If the crop does not lie inside the image.
        """
        if (
            min(left, top) < 0
            or width <= 0
            or height <= 0
            or left + width > self.width
            or top + height > self.height
        ):
            raise CameraInfoError(
                f"Crop (left={left}, top={top}, width={width}, height={height}) must lie inside "
                f"the {self.width}x{self.height} image."
            )
        return CameraIntrinsics(
            fx=self.fx,
            fy=self.fy,
            cx=self.cx - left,
            cy=self.cy - top,
            width=int(width),
            height=int(height),
        )

    def to_camera_info_fields(self) -> dict[str, object]:
        """Values for a ROS 2 ``sensor_msgs/CameraInfo`` of this (undistorted) camera.

        Keys are the message's field names: ``height``, ``width``, ``distortion_model``
        (``"plumb_bob"``), ``d`` (five zeros), ``k`` (9 floats, row-major), ``r`` (identity,
        9 floats), ``p`` (12 floats, ``[fx 0 cx 0; 0 fy cy 0; 0 0 1 0]``), ``binning_x`` and
        ``binning_y`` (0). The header and ``roi`` are left to the caller.
        """
        return {
            "height": self.height,
            "width": self.width,
            "distortion_model": DISTORTION_MODEL,
            "d": [0.0] * 5,
            "k": [self.fx, 0.0, self.cx, 0.0, self.fy, self.cy, 0.0, 0.0, 1.0],
            "r": [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0],
            "p": [self.fx, 0.0, self.cx, 0.0, 0.0, self.fy, self.cy, 0.0, 0.0, 0.0, 1.0, 0.0],
            "binning_x": 0,
            "binning_y": 0,
        }


@functools.lru_cache(maxsize=16)
def _ray_grid(intrinsics: CameraIntrinsics, decimation: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-column ``(u - cx) / fx`` of shape (1, W') and per-row ``(v - cy) / fy`` (H', 1)."""
    u = np.arange(0, intrinsics.width, decimation, dtype=np.float64)
    v = np.arange(0, intrinsics.height, decimation, dtype=np.float64)
    x_ray = ((u - intrinsics.cx) / intrinsics.fx).astype(np.float32)[None, :]
    y_ray = ((v - intrinsics.cy) / intrinsics.fy).astype(np.float32)[:, None]
    x_ray.flags.writeable = False
    y_ray.flags.writeable = False
    return x_ray, y_ray


def backproject(
    depth: np.ndarray,
    intrinsics: CameraIntrinsics,
    decimation: int = 1,
    min_range: float = 0.0,
    max_range: float = math.inf,
    out: np.ndarray | None = None,
) -> np.ndarray:
    """Back-project a depth image to an organised XYZ point grid in the optical frame.

    ``x = (u - cx) * z / fx`` and ``y = (v - cy) * z / fy`` with ``z = depth[v, u]``
    (REP 103: z forward, x right, y down). A point is invalid (all three coordinates NaN)
    where the depth is NaN, infinite, non-positive, or its ``z`` lies outside
    ``[min_range, max_range]`` (the range is the depth along the optical axis, not the
    ray length).

    Args:
        depth: (H, W) float depth in metres, H and W equal to the intrinsics' size.
        intrinsics: Camera of the depth image.
        decimation: Keep every ``decimation``-th pixel in both axes (``u = j * d``,
            ``v = i * d``), giving ``H' = ceil(H / d)``, ``W' = ceil(W / d)``.
        min_range: Smallest valid z (metres).
        max_range: Largest valid z (metres).
        out: Optional (H', W', 3) float32 array (a view into a cloud's records, say) to
            write the points into.

    Returns:
        (H', W', 3) float32 points in metres, NaN where invalid (``out`` when given).

    Raises:
        ValueError: If the depth is not a 2-D float array of the intrinsics' size, or the
            decimation or range is invalid.
    """
    depth = np.asarray(depth)
    if depth.ndim != 2 or depth.shape != (intrinsics.height, intrinsics.width):
        raise ValueError(
            f"Depth image of shape {depth.shape} must be 2-D (height, width) = "
            f"({intrinsics.height}, {intrinsics.width}) to match the camera intrinsics."
        )
    if not np.issubdtype(depth.dtype, np.floating):
        raise ValueError(
            f"Depth image dtype {depth.dtype} must be floating point metres "
            "(convert 16UC1 millimetres first)."
        )
    if (
        isinstance(decimation, bool)
        or not isinstance(decimation, (int, np.integer))
        or (decimation < 1)
    ):
        raise ValueError(f"Decimation {decimation!r} must be a positive integer.")
    if not (min_range >= 0.0 and max_range > min_range):
        raise ValueError(
            f"Range [{min_range}, {max_range}] must satisfy 0 <= min_range < max_range."
        )
    x_ray, y_ray = _ray_grid(intrinsics, int(decimation))
    # (H', W') metres; a fresh float32 copy we may overwrite.
    z = np.array(depth[::decimation, ::decimation], dtype=np.float32, copy=True)
    # invalid = not (z > 0 and min_range <= z <= max_range and z < inf), NaN included, with
    # the comparisons the range makes redundant left out (min_range >= 0, max_range > it)
    invalid = np.empty(z.shape, dtype=bool)
    with np.errstate(invalid="ignore"):
        if min_range > 0.0:
            np.greater_equal(z, min_range, out=invalid)
        else:
            np.greater(z, 0.0, out=invalid)
        if math.isfinite(max_range):
            invalid &= np.less_equal(z, max_range)
        else:
            invalid &= np.less(z, np.inf)
    np.logical_not(invalid, out=invalid)
    np.copyto(z, np.float32(np.nan), where=invalid)
    points = np.empty(z.shape + (3,), dtype=np.float32) if out is None else out  # metres
    if points.shape != z.shape + (3,) or points.dtype != np.float32:
        raise ValueError(f"Output array of shape {points.shape} and dtype {points.dtype} "
                         f"must be float32 of shape {z.shape + (3,)}.")
    np.multiply(x_ray, z, out=points[..., 0])
    np.multiply(y_ray, z, out=points[..., 1])
    points[..., 2] = z
    return points


def project(points: np.ndarray, intrinsics: CameraIntrinsics) -> np.ndarray:
    """Project optical-frame points to pixel coordinates.

    Args:
        points: (..., 3) points in the optical frame (metres), z > 0.
        intrinsics: The camera.

    Returns:
        (..., 2) float64 ``(u, v)`` pixel coordinates (NaN where z <= 0 or NaN).
    """
    points = np.asarray(points, dtype=np.float64)
    if points.shape[-1:] != (3,):
        raise ValueError(f"Points of shape {points.shape} must have a last axis of size 3.")
    z = points[..., 2]
    with np.errstate(divide="ignore", invalid="ignore"):
        inv_z = np.where(z > 0.0, 1.0 / z, np.nan)
    u = intrinsics.fx * points[..., 0] * inv_z + intrinsics.cx
    v = intrinsics.fy * points[..., 1] * inv_z + intrinsics.cy
    return np.stack([u, v], axis=-1)


def register_depth(
    depth: np.ndarray,
    depth_camera: CameraIntrinsics,
    colour_camera: CameraIntrinsics,
    depth_to_colour: np.ndarray,
    fill: float = float("nan"),
) -> np.ndarray:
    """Re-render a depth camera's image in a colour camera (what ``depth_image_proc``'s
    ``register`` node does): each valid depth pixel is back-projected, moved by the rigid
    transform into the colour camera's optical frame and projected to its nearest colour
    pixel; where several land on one pixel the nearest surface wins (a z-buffer), so what the
    colour camera cannot see is not painted through a foreground edge. No hole filling: a
    colour camera with a longer focal length than the depth camera's (or a finer grid) leaves
    pixels between the projected ones at ``fill``.

    Args:
        depth: (H, W) float depth in metres of the depth camera; NaN, non-positive or
            infinite = no return.
        depth_camera: The depth camera (its size must be the depth image's).
        colour_camera: The target camera; the output has its size.
        depth_to_colour: (4, 4) rigid transform taking points from the depth camera's optical
            frame to the colour camera's (metres).
        fill: Value of the colour pixels no depth pixel lands on.

    Returns:
        (colour H, colour W) float32 depth in metres along the colour camera's optical axis.

    Raises:
        ValueError: A depth image that does not match its camera, or a transform that is not
            a finite 4×4 rigid matrix with last row 0 0 0 1.
    """
    t = np.asarray(depth_to_colour, dtype=np.float64)
    if (t.shape != (4, 4) or not np.isfinite(t).all()
            or not np.allclose(t[3], (0.0, 0.0, 0.0, 1.0))
            or not np.allclose(t[:3, :3] @ t[:3, :3].T, np.eye(3), atol=1e-4)):
        raise ValueError(f"depth_to_colour must be a finite 4x4 rigid transform (rotation, "
                         f"translation, last row 0 0 0 1); got {t.tolist()}")
    points = backproject(np.asarray(depth, dtype=np.float32), depth_camera).reshape(-1, 3)
    points = points[np.isfinite(points[:, 2])].astype(np.float64)
    moved = points @ t[:3, :3].T + t[:3, 3]
    with np.errstate(invalid="ignore"):
        uv = np.rint(project(moved, colour_camera))
        width, height = colour_camera.width, colour_camera.height
        inside = ((moved[:, 2] > 0.0) & (uv[:, 0] >= 0) & (uv[:, 0] < width)
                  & (uv[:, 1] >= 0) & (uv[:, 1] < height))
    z = moved[inside, 2]
    pixel = uv[inside, 1].astype(np.int64) * width + uv[inside, 0].astype(np.int64)
    order = np.lexsort((z, pixel))  # by pixel, nearest first within a pixel
    pixel, z = pixel[order], z[order]
    first = np.ones(pixel.size, dtype=bool)
    first[1:] = pixel[1:] != pixel[:-1]
    out = np.full(height * width, fill, dtype=np.float32)
    out[pixel[first]] = z[first]
    return out.reshape(height, width)
