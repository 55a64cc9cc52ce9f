"""The camera's mount on the robot as a static transform (REP 103 body convention, no ROS).

A user gives the camera's pose in a parent frame (``base_link``) the way a URDF joint gives
it: x, y, z in metres and roll, pitch, yaw in radians of the camera *body* (x forward, y
left, z up; fixed-axis roll about x, then pitch about y, then yaw about z). Depth outputs are
in the camera's *optical* frame (z forward, x right, y down), so `mount_transform` composes
the body pose with the body -> optical rotation (the ``rpy = (-pi/2, 0, -pi/2)`` of every
camera URDF): for a level camera the optical z axis lands on the parent's +x.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from depth_estimation_ros.core.standin import StaticTransform, quaternion_multiply

__all__ = ["BODY_TO_OPTICAL", "Mount", "mount_transform", "quaternion_from_rpy",
           "rotate_vector"]

# Rotation of the optical frame in the camera body frame, (x, y, z, w): a point p in the
# optical frame is R p in the body frame (x_b = z_o, y_b = -x_o, z_b = -y_o).
BODY_TO_OPTICAL = (-0.5, 0.5, -0.5, 0.5)


@dataclass(frozen=True)
class Mount:
    """Camera body pose in the parent frame (REP 103).

    Attributes:
        parent: Parent frame (``base_link``).
        x, y, z: Translation, metres.
        roll, pitch, yaw: Fixed-axis rotations about x, y, z (radians), applied in that order.
    """

    parent: str = "base_link"
    x: float = 0.0
    y: float = 0.0
    z: float = 0.0
    roll: float = 0.0
    pitch: float = 0.0
    yaw: float = 0.0


def quaternion_from_rpy(roll: float, pitch: float, yaw: float
                        ) -> tuple[float, float, float, float]:
    """(x, y, z, w) of ``Rz(yaw) Ry(pitch) Rx(roll)`` (tf2's ``setRPY``)."""
    cr, sr = math.cos(roll / 2.0), math.sin(roll / 2.0)
    cp, sp = math.cos(pitch / 2.0), math.sin(pitch / 2.0)
    cy, sy = math.cos(yaw / 2.0), math.sin(yaw / 2.0)
    return (sr * cp * cy - cr * sp * sy,
            cr * sp * cy + sr * cp * sy,
            cr * cp * sy - sr * sp * cy,
            cr * cp * cy + sr * sp * sy)


def rotate_vector(q: tuple[float, float, float, float], v: tuple[float, float, float]
                  ) -> tuple[float, float, float]:
    """``q v q*`` for a unit quaternion (x, y, z, w)."""
    qx, qy, qz, qw = q
    conj = (-qx, -qy, -qz, qw)
    x, y, z, _ = quaternion_multiply(quaternion_multiply(q, (*v, 0.0)), conj)
    return (x, y, z)


def mount_transform(mount: Mount, optical_frame: str) -> StaticTransform:
    """Parent -> optical frame: the body pose composed with the body -> optical rotation."""
    rotation = quaternion_multiply(quaternion_from_rpy(mount.roll, mount.pitch, mount.yaw),
                                   BODY_TO_OPTICAL)
    return StaticTransform(mount.parent, optical_frame, (mount.x, mount.y, mount.z), rotation)
