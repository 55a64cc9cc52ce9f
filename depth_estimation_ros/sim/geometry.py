"""Scene geometry as planar faces: the room's six inner walls and the faces of yawed boxes,
with each face's frame, extents, texture-coordinate forms and tint."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from depth_estimation_ros.sim.camera import Vec3
from depth_estimation_ros.sim.materials import Material

__all__ = ["Box"]

_UV_BIAS = 64.0  # texture repeats added to u, v so they stay positive before truncation
ROOM_FACES = 6  # the first faces of every scene are the room's


@dataclass(frozen=True)
class Box:
    """A solid box, axis-aligned up to a yaw about the vertical axis.

    Attributes:
        center: Centre in metres, world frame.
        size: Full extents along the box's own x, y, z axes (metres).
        material: Index into the scene's materials.
        yaw: Radians about world z.
        uv_offset: Metres the texture is shifted by, so equal materials do not line up.
    """

    center: Vec3
    size: Vec3
    material: int
    yaw: float = 0.0
    uv_offset: tuple[float, float] = (0.0, 0.0)


@dataclass(frozen=True)
class Faces:
    """Planar rectangles of the scene; the first six are the room's, normals pointing in."""

    corners: np.ndarray  # (F, 4, 3) metres
    normal: np.ndarray  # (F, 3) unit, pointing to the visible side
    center: np.ndarray  # (F, 3) metres
    e1: np.ndarray  # (F, 3) unit tangent
    e2: np.ndarray  # (F, 3) unit tangent
    half: np.ndarray  # (F, 2) half extents along e1, e2 (metres)
    u_coef: np.ndarray  # (F, 4) texture u = P . u_coef[:3] + u_coef[3] (repeats)
    v_coef: np.ndarray  # (F, 4) texture v likewise
    texture_slot: np.ndarray  # (F,) index of the face's texture in the scene atlas
    tint: np.ndarray  # (F, 3) float32


def _box_frames(boxes: Sequence[Box]) -> tuple[np.ndarray, ...]:
    """Centre, outward normal, e1, e2 (each (6n, 3)) and half extents (6n, 2) of box faces.

    Faces per box: +x, -x, +y, -y, +z, -z of the box's own (yawed) axes. Vertical faces
    have e2 pointing down, so texture rows run top to bottom.
    """
    count = len(boxes)
    centre = np.array([box.center for box in boxes], dtype=np.float64).reshape(count, 3)
    half = np.array([box.size for box in boxes], dtype=np.float64).reshape(count, 3) / 2
    yaw = np.array([box.yaw for box in boxes], dtype=np.float64)
    zero, one = np.zeros(count), np.ones(count)
    ax = np.stack([np.cos(yaw), np.sin(yaw), zero], 1)  # (n, 3)
    ay = np.stack([-np.sin(yaw), np.cos(yaw), zero], 1)
    az = np.stack([zero, zero, one], 1)
    normal = np.stack([ax, -ax, ay, -ay, az, -az], 1)  # (n, 6, 3)
    e1 = np.stack([ay, -ay, -ax, ax, ax, ax], 1)
    e2 = np.stack([-az, -az, -az, -az, ay, -ay], 1)
    hx, hy, hz = half[:, 0], half[:, 1], half[:, 2]
    depth = np.stack([hx, hx, hy, hy, hz, hz], 1)  # (n, 6) half extent along the normal
    h1 = np.stack([hy, hy, hx, hx, hx, hx], 1)
    h2 = np.stack([hz, hz, hz, hz, hy, hy], 1)
    centres = centre[:, None, :] + depth[..., None] * normal
    return (
        centres.reshape(-1, 3),
        normal.reshape(-1, 3),
        e1.reshape(-1, 3),
        e2.reshape(-1, 3),
        np.stack([h1, h2], -1).reshape(-1, 2),
    )


def _room_frames(size: Vec3) -> tuple[np.ndarray, ...]:
    """The same arrays as :func:`_box_frames` for the room's six inner faces (normals in)."""
    lx, ly, lz = size
    x, y, z = np.eye(3)
    mid = np.array([lx, ly, lz]) / 2
    frames = [
        (mid * [0, 1, 1], x, -y, -z, ly / 2, lz / 2),
        (mid * [2, 1, 1], -x, y, -z, ly / 2, lz / 2),
        (mid * [1, 0, 1], y, x, -z, lx / 2, lz / 2),
        (mid * [1, 2, 1], -y, -x, -z, lx / 2, lz / 2),
        (mid * [1, 1, 0], z, x, y, lx / 2, ly / 2),  # floor
        (mid * [1, 1, 2], -z, x, -y, lx / 2, ly / 2),  # ceiling
    ]
    return tuple(np.array([f[i] for f in frames], dtype=np.float64) for i in range(4)) + (
        np.array([[f[4], f[5]] for f in frames], dtype=np.float64),
    )


def build_faces(
    room_size: Vec3,
    boxes: Sequence[Box],
    room_materials: tuple[int, int, int],
    materials: Sequence[Material],
    slots: Sequence[int],
) -> Faces:
    """The room's six inner faces then six faces per box, with texture forms and tints.

    ``slots`` gives each material's texture slot in the scene's atlas.
    """
    wall, floor, ceiling = room_materials
    room = _room_frames(room_size)
    boxed = _box_frames(boxes)
    centre, normal, e1, e2, half = (
        np.concatenate([r, b]) for r, b in zip(room, boxed, strict=True)
    )
    face_material = np.array(
        [wall, wall, wall, wall, floor, ceiling]
        + [box.material for box in boxes for _ in range(6)]
    )
    offsets = np.array(
        [(0.0, 0.0)] * ROOM_FACES + [box.uv_offset for box in boxes for _ in range(6)],
        dtype=np.float64,
    )
    signs = np.array([[-1, -1], [1, -1], [1, 1], [-1, 1]], dtype=np.float64)
    corners = (
        centre[:, None, :]
        + signs[None, :, 0, None] * half[:, None, 0, None] * e1[:, None, :]
        + signs[None, :, 1, None] * half[:, None, 1, None] * e2[:, None, :]
    )  # (F, 4, 3)
    tile = np.array(
        [np.nan if m.tile_size is None else m.tile_size for m in materials], dtype=np.float64
    )[face_material]
    stretched = np.isnan(tile)[:, None]  # stretch the texture once over the face, inside [0, 1)
    scale = np.where(stretched, 0.9999 / (2 * half), 1.0 / tile[:, None])  # (F, 2)
    offsets = np.where(stretched, 0.0, offsets)
    # u = ((P - c) . e1 + h1 + off1) * scale1, likewise v; the bias keeps them positive.
    u_coef = np.concatenate([e1 * scale[:, :1], np.zeros((len(tile), 1))], 1)
    v_coef = np.concatenate([e2 * scale[:, 1:], np.zeros((len(tile), 1))], 1)
    u_coef[:, 3] = (half[:, 0] + offsets[:, 0] - np.einsum("fi,fi->f", centre, e1)) * scale[
        :, 0
    ] + _UV_BIAS
    v_coef[:, 3] = (half[:, 1] + offsets[:, 1] - np.einsum("fi,fi->f", centre, e2)) * scale[
        :, 1
    ] + _UV_BIAS
    tint = np.array([m.tint for m in materials], dtype=np.float32)[face_material]
    texture_slot = np.asarray(slots, dtype=np.intp)[face_material]
    return Faces(corners, normal, centre, e1, e2, half, u_coef, v_coef, texture_slot, tint)
