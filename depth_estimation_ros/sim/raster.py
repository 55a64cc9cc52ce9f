"""Visibility: z-buffering the room and the box faces into inverse depth and face ids.

Rendering is done in inverse depth: for a plane, ``1/z`` of the hit is an affine function of
the normalised pixel coordinates ``((u - cx)/fx, (v - cy)/fy)``, so the room is a per-pixel
maximum over six affine images and each box face an affine image tested against its four
edges (also affine) inside its screen rectangle. The depth is therefore exact (``z`` along
the optical axis, not the ray length).
"""

from __future__ import annotations

import math
import threading

import numpy as np

from depth_estimation_ros.core.camera import CameraIntrinsics
from depth_estimation_ros.sim.camera import pixel_rays
from depth_estimation_ros.sim.geometry import ROOM_FACES, Faces

__all__ = ["Workspace", "rasterise", "workspace"]

_NEAR = 1e-3  # metres; faces are clipped at this optical-axis depth to bound them on screen


def _clip_near(polygon: np.ndarray) -> np.ndarray:
    """Clip a convex polygon (N, 3) in the optical frame to ``z >= _NEAR``."""
    kept: list[np.ndarray] = []
    count = len(polygon)
    for i in range(count):
        a, b = polygon[i], polygon[(i + 1) % count]
        a_in, b_in = a[2] >= _NEAR, b[2] >= _NEAR
        if a_in:
            kept.append(a)
        if a_in != b_in:
            t = (_NEAR - a[2]) / (b[2] - a[2])
            kept.append(a + t * (b - a))
    return np.array(kept).reshape(-1, 3)


class Workspace:
    """Scratch images reused from frame to frame.

    Allocating fresh multi-megabyte temporaries every frame costs more in page faults than
    the arithmetic does, so the renderer writes into these with ``out=``.
    """

    def __init__(self, height: int, width: int) -> None:
        shape = (height, width)
        self.inv_depth = np.empty(shape, dtype=np.float32)  # 1/m
        self.face_id = np.empty(shape, dtype=np.intp)
        self.f32 = [np.empty(shape, dtype=np.float32) for _ in range(3)]
        self.mask = [np.empty(shape, dtype=bool) for _ in range(2)]
        self.i32 = [np.empty(shape, dtype=np.int32) for _ in range(2)]
        self.rows16 = [np.empty(shape, dtype=np.complex128) for _ in range(2)]  # rows of 4 float32
        self.u32 = np.empty(shape, dtype=np.uint32)


_THREAD_STATE = threading.local()


def workspace(height: int, width: int) -> Workspace:
    """This thread's workspace for a resolution (a few resolutions are kept)."""
    cache: dict[tuple[int, int], Workspace] | None = getattr(_THREAD_STATE, "workspaces", None)
    if cache is None:
        cache = _THREAD_STATE.workspaces = {}
    work = cache.get((height, width))
    if work is None:
        if len(cache) >= 4:
            cache.clear()
        work = cache[(height, width)] = Workspace(height, width)
    return work


def rasterise(
    faces: Faces,
    origin: np.ndarray,
    rotation: np.ndarray,
    camera: CameraIntrinsics,
    work: Workspace,
) -> None:
    """Fill ``work.inv_depth`` (1/m) and ``work.face_id`` with the nearest surfaces.

    Args:
        faces: The scene's faces, the room's six first.
        origin: (3,) camera centre in metres, strictly inside the room.
        rotation: (3, 3) world-from-optical rotation of the camera.
        camera: Intrinsics; the workspace has their size.
        work: Scratch images, written in place.
    """
    rays = pixel_rays(camera)
    # Signed distance of the camera to every face plane; > 0 means the face is seen
    # from its front. The room faces always are (the camera is inside).
    dist = np.einsum("fi,fi->f", origin - faces.center, faces.normal)
    # A ray D = R (xr, yr, 1) hits plane f at t = dist / -(n . D), so 1/t, the inverse
    # depth, is the linear form -(R^T n) / dist applied to (xr, yr, 1).
    w_room = -(faces.normal[:ROOM_FACES] @ rotation) / dist[:ROOM_FACES, None]  # (6, 3)
    row_terms = (w_room[:, 1, None] * rays.yr).astype(np.float32)[:, :, None]  # (6, H, 1)
    col_terms = (w_room[:, 0, None] * rays.xr + w_room[:, 2, None]).astype(np.float32)
    inv_depth, face_id = work.inv_depth, work.face_id
    candidate, closer = work.f32[0], work.mask[0]
    # The camera is inside the room: the exit face is the one with the largest 1/z.
    np.add(row_terms[0], col_terms[0], out=inv_depth)
    face_id.fill(0)
    for f in range(1, ROOM_FACES):
        np.add(row_terms[f], col_terms[f], out=candidate)
        np.greater(candidate, inv_depth, out=closer)
        np.maximum(inv_depth, candidate, out=inv_depth)
        np.copyto(face_id, f, where=closer)
    if len(dist) > ROOM_FACES:
        _rasterise_boxes(faces, origin, rotation, camera, dist, work)


def _rasterise_boxes(
    faces: Faces,
    origin: np.ndarray,
    rotation: np.ndarray,
    camera: CameraIntrinsics,
    dist: np.ndarray,
    work: Workspace,
) -> None:
    """Z-buffer every front-facing box face into the workspace, in place."""
    rays = pixel_rays(camera)
    height, width = camera.height, camera.width
    index = np.flatnonzero(dist[ROOM_FACES:] > 1e-9) + ROOM_FACES
    if index.size == 0:
        return
    # Corners in the optical frame: (n, 4, 3) metres.
    corners = (faces.corners[index] - origin) @ rotation
    in_front = corners[..., 2] >= _NEAR
    rects: list[tuple[int, int, int, int]] = []
    nearest: list[float] = []
    kept: list[int] = []
    for k in np.flatnonzero(in_front.any(axis=1)):
        polygon = corners[k] if in_front[k].all() else _clip_near(corners[k])
        pz = polygon[:, 2]
        u = camera.fx * polygon[:, 0] / pz + camera.cx
        v = camera.fy * polygon[:, 1] / pz + camera.cy
        c0 = max(0, math.floor(u.min()))
        c1 = min(width, math.ceil(u.max()) + 1)
        r0 = max(0, math.floor(v.min()))
        r1 = min(height, math.ceil(v.max()) + 1)
        if c0 >= c1 or r0 >= r1:
            continue
        rects.append((r0, r1, c0, c1))
        nearest.append(float((1.0 / pz).max()))  # largest inverse depth on the face
        kept.append(int(index[k]))
    if not kept:
        return
    ids = np.asarray(kept)
    normal_t = faces.normal[ids] @ rotation  # (n, 3): R^T n
    w = -normal_t / dist[ids, None]  # inverse depth form
    rel = origin - faces.center[ids]  # (n, 3)
    # s_k * w = ((o - c) . e_k) w + (R^T e_k) . (xr, yr, 1) is the in-plane coordinate
    # times the inverse depth; |s_k| <= h_k becomes h_k w -/+ s_k w >= 0 (w > 0).
    s1 = np.einsum("ni,ni->n", rel, faces.e1[ids])[:, None] * w + faces.e1[ids] @ rotation
    s2 = np.einsum("ni,ni->n", rel, faces.e2[ids])[:, None] * w + faces.e2[ids] @ rotation
    h1 = faces.half[ids, 0, None]
    h2 = faces.half[ids, 1, None]
    forms = np.stack([w, h1 * w - s1, h1 * w + s1, h2 * w - s2, h2 * w + s2], axis=1)
    col_terms = (forms[..., 0, None] * rays.xr + forms[..., 2, None]).astype(np.float32)
    row_terms = (forms[..., 1, None] * rays.yr).astype(np.float32)
    row_terms[:, 1:] *= -1.0  # edges test col >= -row with one comparison
    inv_depth, face_id = work.inv_depth, work.face_id
    for n in np.argsort(-np.asarray(nearest), kind="stable"):  # nearest faces first
        r0, r1, c0, c1 = rects[n]
        depth_view = inv_depth[r0:r1, c0:c1]
        if nearest[n] < depth_view.min():
            continue  # everything here is already closer than this face can be
        cols, rows = col_terms[n, :, c0:c1], row_terms[n, :, r0:r1, None]
        shape = (r1 - r0, c1 - c0)
        candidate = work.f32[0][: shape[0], : shape[1]]
        mask = work.mask[0][: shape[0], : shape[1]]
        edge = work.mask[1][: shape[0], : shape[1]]
        np.add(rows[0], cols[0], out=candidate)
        np.greater(candidate, depth_view, out=mask)
        for k in range(1, 5):
            np.greater_equal(cols[k], rows[k], out=edge)
            mask &= edge
        np.copyto(depth_view, candidate, where=mask)
        np.copyto(face_id[r0:r1, c0:c1], ids[n], where=mask)
