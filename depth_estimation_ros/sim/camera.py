"""The camera for rendering: world-frame poses, intrinsics defaults and per-pixel rays.

World frame: x and y horizontal, z up, floor at ``z = 0``. Images use the REP 103 optical
frame (z forward, x right, y down); a pixel's ray is ``(xr, yr, 1)`` in that frame.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np

from depth_estimation_ros.core.camera import CameraIntrinsics

__all__ = ["CameraPose", "Vec3"]

Vec3 = tuple[float, float, float]


@dataclass(frozen=True)
class CameraPose:
    """A camera pose in the world frame.

    Attributes:
        position: Camera centre ``(x, y, z)`` in metres (z up, floor at 0).
        yaw: Heading in radians about world z; 0 looks along +x, pi/2 along +y.
        pitch: Radians; positive tilts the view down (rotation about the camera's left axis).
        roll: Radians about the viewing axis; positive turns the camera clockwise as seen
            from behind it (right-handed about the forward axis).
    """

    position: Vec3
    yaw: float = 0.0
    pitch: float = 0.0
    roll: float = 0.0

    def world_from_optical(self) -> np.ndarray:
        """(3, 3) rotation taking optical-frame vectors (x right, y down, z forward) to world."""
        cy, sy = math.cos(self.yaw), math.sin(self.yaw)
        cp, sp = math.cos(self.pitch), math.sin(self.pitch)
        cr, sr = math.cos(self.roll), math.sin(self.roll)
        rz = np.array([[cy, -sy, 0.0], [sy, cy, 0.0], [0.0, 0.0, 1.0]])
        ry = np.array([[cp, 0.0, sp], [0.0, 1.0, 0.0], [-sp, 0.0, cp]])
        rx = np.array([[1.0, 0.0, 0.0], [0.0, cr, -sr], [0.0, sr, cr]])
        # Body frame: x forward, y left, z up. Optical x = -left, y = -up, z = forward.
        body_from_optical = np.array([[0.0, 0.0, 1.0], [-1.0, 0.0, 0.0], [0.0, -1.0, 0.0]])
        return rz @ ry @ rx @ body_from_optical


@dataclass(frozen=True)
class Rays:
    """Per-resolution pixel ray terms; a pixel's ray is ``(xr[u], yr[v], 1)``."""

    xr: np.ndarray  # (W,) float64 (u - cx) / fx
    yr: np.ndarray  # (H,) float64 (v - cy) / fy
    col: np.ndarray  # (1, W) float32 xr
    row: np.ndarray  # (H, 1) float32 yr
    norm2: np.ndarray  # (H, W) float32 squared ray length 1 + xr^2 + yr^2
    radius2: np.ndarray  # (H, W) float32 squared distance from the image centre, corners 1


@functools.lru_cache(maxsize=8)
def pixel_rays(intrinsics: CameraIntrinsics) -> Rays:
    xr = (np.arange(intrinsics.width) - intrinsics.cx) / intrinsics.fx
    yr = (np.arange(intrinsics.height) - intrinsics.cy) / intrinsics.fy
    xn = (np.arange(intrinsics.width) + 0.5) / intrinsics.width * 2.0 - 1.0
    yn = (np.arange(intrinsics.height) + 0.5) / intrinsics.height * 2.0 - 1.0
    rays = Rays(
        xr=xr,
        yr=yr,
        col=xr.astype(np.float32)[None, :],
        row=yr.astype(np.float32)[:, None],
        norm2=(1.0 + xr[None, :] ** 2 + yr[:, None] ** 2).astype(np.float32),
        radius2=((xn[None, :] ** 2 + yn[:, None] ** 2) / 2.0).astype(np.float32),
    )
    for array in (rays.xr, rays.yr, rays.col, rays.row, rays.norm2, rays.radius2):
        array.flags.writeable = False
    return rays


def resolve_intrinsics(
    width: int | None, height: int | None, intrinsics: CameraIntrinsics | None
) -> CameraIntrinsics:
    """The camera of one render: the given intrinsics, or the NYU Kinect camera scaled to
    the size (640 x 480 by default); a size that disagrees with the intrinsics is an error."""
    if intrinsics is None:
        return CameraIntrinsics.nyu_kinect(
            640 if width is None else width, 480 if height is None else height
        )
    if (width is not None and width != intrinsics.width) or (
        height is not None and height != intrinsics.height
    ):
        raise ValueError(
            f"Requested size {width}x{height} differs from the intrinsics' "
            f"{intrinsics.width}x{intrinsics.height}; pass one or make them agree."
        )
    return intrinsics


def default_path_radii(lx: float, ly: float) -> tuple[float, float]:
    """Trajectory semi-axes: about a fifth of the room, at least 1 m from the walls."""
    return (
        max(0.15, min(0.2 * lx, lx / 2 - 1.0, 1.2)),
        max(0.15, min(0.2 * ly, ly / 2 - 1.0, 1.2)),
    )
