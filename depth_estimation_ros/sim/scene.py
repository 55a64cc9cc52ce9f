"""The scene-level API: a furnished room that renders RGB and exact metric depth from any
camera pose inside it, random rooms from a seed, and a looping camera path through them.

A room is an axis-aligned box the camera is inside; furniture is built from boxes that may be
yawed about the vertical axis (``layout``, ``furniture``). Surfaces carry procedural
textures (``materials``); a frame is z-buffered in inverse depth (``raster``), so the depth
is exact (z along the optical axis), then textured and lit (``shading``).

World frame: x and y horizontal, z up; the room spans ``[0, Lx] x [0, Ly] x [0, Lz]`` with
the floor at ``z = 0``. Camera poses are a position and yaw / pitch / roll (see
:class:`~depth_estimation_ros.sim.camera.CameraPose`); images use the REP 103 optical frame
(z forward, x right, y down).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from depth_estimation_ros.core.camera import CameraIntrinsics
from depth_estimation_ros.sim.camera import (
    CameraPose,
    Vec3,
    default_path_radii,
    resolve_intrinsics,
)
from depth_estimation_ros.sim.geometry import Box, build_faces
from depth_estimation_ros.sim.layout import (
    FurnishedRoom,
    close_view_pose,
    furnish_room,
    table_view,
)
from depth_estimation_ros.sim.materials import Material, PhotoTextures, texture_atlas
from depth_estimation_ros.sim.raster import rasterise, workspace
from depth_estimation_ros.sim.shading import Lighting, Shader

__all__ = ["VIEWS", "SyntheticFrame", "SyntheticScene", "render_scene"]


@dataclass
class SyntheticFrame:
    """One rendered view.

    Attributes:
        rgb: (H, W, 3) uint8 colour image.
        depth: (H, W) float32 metres along the optical axis, finite and positive everywhere.
        intrinsics: The camera the frame was rendered with.
        pose: The camera pose.
    """

    rgb: np.ndarray
    depth: np.ndarray
    intrinsics: CameraIntrinsics
    pose: CameraPose | None = None


_DEFAULT_MATERIALS = (
    Material("paint", 0, (0.96, 0.94, 0.9), 1.5),
    Material("wood_floor", 0, (1.0, 1.0, 1.0), 1.6),
    Material("paint", 1, (0.98, 0.98, 0.98), 2.0),
)


class SyntheticScene:
    """A furnished room that renders RGB and exact depth from any camera pose inside it.

    Build one with :meth:`random` (seeded), or directly from a room size and boxes for
    scenes with known geometry.

    Args:
        room_size: ``(Lx, Ly, Lz)`` metres; the room spans ``[0, Lx] x [0, Ly] x [0, Lz]``.
        boxes: Furniture and objects.
        materials: Materials referenced by the boxes and the room; None uses plain walls,
            a wooden floor and a plain ceiling (indices 0, 1, 2).
        room_materials: Material indices of the walls, floor and ceiling.
        lighting: Light set-up.
        default_pose: Pose used when :meth:`render` gets none; None looks along +x from the
            room centre at 1.5 m (or mid-height in low rooms).
        path_radii: Semi-axes (metres) of the ellipse :meth:`trajectory_pose` follows around
            the room centre; None picks about a fifth of the room.
        path_height: Mean camera height (metres) on the trajectory.
        period: Seconds per loop of the trajectory.

    Raises:
        ValueError: On a non-positive room size or a material index out of range.
    """

    def __init__(
        self,
        room_size: Vec3,
        boxes: Sequence[Box] = (),
        materials: Sequence[Material] | None = None,
        room_materials: tuple[int, int, int] = (0, 1, 2),
        lighting: Lighting | None = None,
        default_pose: CameraPose | None = None,
        path_radii: tuple[float, float] | None = None,
        path_height: float | None = None,
        period: float = 30.0,
    ) -> None:
        size = tuple(float(v) for v in room_size)
        if len(size) != 3 or not all(math.isfinite(v) and v > 0.0 for v in size):
            raise ValueError(f"Room size {room_size!r} must be three positive lengths in metres.")
        self.room_size: Vec3 = size  # type: ignore[assignment]
        self.boxes: tuple[Box, ...] = tuple(boxes)
        self.materials: tuple[Material, ...] = tuple(
            _DEFAULT_MATERIALS if materials is None else materials
        )
        for index in list(room_materials) + [box.material for box in self.boxes]:
            if not 0 <= index < len(self.materials):
                raise ValueError(
                    f"Material index {index} is out of range for {len(self.materials)} materials."
                )
        for box in self.boxes:
            if not all(v > 0.0 for v in box.size):
                raise ValueError(f"Box size {box.size} must be positive along every axis.")
        self.room_materials = tuple(room_materials)
        self.lighting = lighting or Lighting()
        lx, ly, lz = size
        if path_radii is None:
            path_radii = default_path_radii(lx, ly)
        self.path_radii = (float(path_radii[0]), float(path_radii[1]))
        self.path_height = float(min(1.45, 0.55 * lz) if path_height is None else path_height)
        if not period > 0.0:
            raise ValueError(f"Trajectory period {period} must be positive seconds.")
        self.period = float(period)
        self.default_pose = default_pose or CameraPose(
            (lx / 2, ly / 2, min(1.5, lz / 2)), yaw=0.0, pitch=0.0
        )
        # random scenes draw a close-up pose on first use (see :attr:`close_pose`)
        self._close: tuple[FurnishedRoom, int] | CameraPose | None = None
        atlas, slots = texture_atlas(self.materials)
        self._faces = build_faces(size, self.boxes, self.room_materials, self.materials, slots)
        self._shader = Shader(self._faces, self.lighting, self.room_size, atlas)

    # ------------------------------------------------------------------ construction

    @classmethod
    def random(
        cls, seed: int, photos: PhotoTextures | None = None, shadows: bool = False,
        detail: bool = False,
    ) -> SyntheticScene:
        """A random furnished room (bedroom, living room, kitchen, office, ...) from a seed.

        The same seed always gives the same scene; its :attr:`default_pose` is a random
        plausible camera pose drawn from the same seed, looking across the room, and its
        :attr:`close_pose` a close-up one (0.5–1.4 m from furniture or a wall, pitched down).
        ``photos`` swaps some of its textures for photographs, drawn from the seed's own
        stream: the room and its poses are the same with or without them. ``shadows`` gives
        its point light shadows and its creases ambient occlusion, of random strengths drawn
        from another stream of the seed (:func:`shadowed`); the depth is the same.
        ``detail`` filters its textures as a camera would and adds fine surface detail of a
        random strength (:func:`detailed`, from a third stream).
        """
        rng = _scene_rng(seed)
        room = _lit(_dressed(furnish_room(rng), photos, seed), shadows, seed, detail)
        return SyntheticScene._random_of(room, rng, seed)

    @staticmethod
    def _random_of(room: FurnishedRoom, rng: np.random.Generator, seed: int) -> SyntheticScene:
        """:meth:`random`'s scene of ``room`` (furnished from ``rng``, which then draws the
        pose when the room has none)."""
        scene = SyntheticScene._of_room(room)
        scene.default_pose = (
            room.camera
            if room.camera is not None
            else scene.trajectory_pose(rng.uniform(0.0, scene.period))
        )
        scene._close = (room, int(seed))  # drawn by close_pose when first asked for
        return scene

    @classmethod
    def random_table(
        cls, seed: int, photos: PhotoTextures | None = None, shadows: bool = False,
        detail: bool = False,
    ) -> SyntheticScene:
        """The room of :meth:`random` with clutter on one of its tables, desks or counters
        and a :attr:`default_pose` standing at it, looking down across it
        (:func:`~depth_estimation_ros.sim.layout.table_view`), drawn from the seed's own
        stream; a room without a work surface is :meth:`random`'s with its close-up pose.
        ``photos``, ``shadows`` and ``detail`` as in :meth:`random`."""
        rng = _scene_rng(seed)
        room = _lit(_dressed(furnish_room(rng), photos, seed), shadows, seed, detail)
        view = table_view(room, np.random.default_rng([int(seed), 0x7AB1E]))
        if view is None:  # the room is furnished once either way
            scene = SyntheticScene._random_of(room, rng, seed)
            scene.default_pose = scene.close_pose
            return scene
        cluttered, pose = view
        scene = SyntheticScene._of_room(cluttered)
        scene.default_pose = pose
        scene._close = (cluttered, int(seed))
        return scene

    @staticmethod
    def _of_room(room: FurnishedRoom) -> SyntheticScene:
        return SyntheticScene(room.size, room.boxes, room.materials,
                              room_materials=room.room_materials, lighting=room.lighting,
                              path_radii=room.path_radii)

    @property
    def close_pose(self) -> CameraPose:
        """A close-up pose (:func:`close_view_pose`): random scenes draw it, on first use, from
        their own stream (the room and :attr:`default_pose` are what they were before close-ups
        existed, and scenes seen only across the room never pay for it); otherwise, and when
        none is found, :attr:`default_pose`."""
        if isinstance(self._close, tuple):
            room, seed = self._close
            self._close = close_view_pose(room, np.random.default_rng([seed, 0xC105E]))
        return self._close if self._close is not None else self.default_pose

    # ------------------------------------------------------------------ camera motion

    def trajectory_pose(self, t: float) -> CameraPose:
        """A smooth, looping camera pose at time ``t`` seconds (period :attr:`period`).

        The camera circles an ellipse around the room centre (kept clear of furniture in
        random scenes), looking roughly across the room with a gentle sway in heading,
        pitch, height and roll; ``t`` and ``t + period`` give the same pose.
        """
        theta = 2.0 * math.pi * (t / self.period)
        lx, ly, lz = self.room_size
        ax, ay = self.path_radii
        position = (
            lx / 2 + ax * math.cos(theta),
            ly / 2 + ay * math.sin(theta),
            min(self.path_height + 0.08 * math.sin(2 * theta), lz - 0.3),
        )
        return CameraPose(
            position,
            yaw=theta + math.pi + 0.5 * math.sin(theta),
            pitch=0.17 + 0.1 * math.sin(2 * theta + 1.0),
            roll=0.02 * math.sin(3 * theta),
        )

    # ------------------------------------------------------------------ rendering

    def render(
        self,
        pose: CameraPose | None = None,
        width: int | None = None,
        height: int | None = None,
        intrinsics: CameraIntrinsics | None = None,
    ) -> SyntheticFrame:
        """Render colour and exact depth.

        Args:
            pose: Camera pose; None uses :attr:`default_pose`.
            width: Image width; default 640, or the intrinsics' width.
            height: Image height; default 480, or the intrinsics' height.
            intrinsics: Camera; None uses the NYU Kinect camera scaled to the size.

        Returns:
            The frame; depth is z along the optical axis in metres, finite and positive.

        Raises:
            ValueError: If the pose is not strictly inside the room, or the size disagrees
                with the intrinsics.
        """
        camera = resolve_intrinsics(width, height, intrinsics)
        pose = self.default_pose if pose is None else pose
        origin = np.asarray(pose.position, dtype=np.float64)
        if origin.shape != (3,) or not (
            np.all(origin > 0.0) and np.all(origin < np.asarray(self.room_size))
        ):
            raise ValueError(
                f"Camera position {pose.position} must lie strictly inside the room "
                f"[0, {self.room_size[0]}] x [0, {self.room_size[1]}] x "
                f"[0, {self.room_size[2]}]."
            )
        rotation = pose.world_from_optical()
        work = workspace(camera.height, camera.width)
        rasterise(self._faces, origin, rotation, camera, work)
        depth = np.reciprocal(work.inv_depth)  # (H, W) metres, a fresh array for the caller
        rgb = self._shader.shade(origin, rotation, camera, depth, work)
        return SyntheticFrame(rgb=rgb, depth=depth, intrinsics=camera, pose=pose)


VIEWS: tuple[str, ...] = ("room", "close", "table")


def _scene_rng(seed: int) -> np.random.Generator:
    """The stream a random scene's room (and its across-the-room pose) is drawn from."""
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"Scene seed {seed!r} must be a non-negative integer.")
    return np.random.default_rng([int(seed), 0x5EED])


def _dressed(room: FurnishedRoom, photos: PhotoTextures | None, seed: int) -> FurnishedRoom:
    """``room`` with some textures swapped for ``photos`` (from the seed's own stream)."""
    if photos is None:
        return room
    materials = photos.dress(room.materials, np.random.default_rng([int(seed), 0xF0707]))
    return replace(room, materials=materials)


def shadowed(lighting: Lighting, rng: np.random.Generator) -> Lighting:
    """``lighting`` with shadows and ambient occlusion of random strengths: the point light
    loses 50-90 % in shadow, edges blurred by 0.5-3 pixels (at 640 wide), creases lose up to
    30-80 % of their light."""
    return replace(
        lighting,
        shadow=float(rng.uniform(0.5, 0.9)),
        shadow_blur=float(rng.uniform(0.5, 3.0)),
        occlusion=float(rng.uniform(0.3, 0.8)),
    )


def detailed(lighting: Lighting, rng: np.random.Generator) -> Lighting:
    """``lighting`` with mip-mapped textures and a fine detail layer of random strength
    (a spread of 2-10 % of the light)."""
    return replace(lighting, mipmaps=True, detail=float(rng.uniform(0.02, 0.1)))


def _lit(room: FurnishedRoom, shadows: bool, seed: int, detail: bool = False) -> FurnishedRoom:
    """``room`` with :func:`shadowed` lighting if ``shadows`` and :func:`detailed` textures
    if ``detail``, each from its own stream of the seed."""
    lighting = room.lighting
    if shadows:
        lighting = shadowed(lighting, np.random.default_rng([int(seed), 0x5AD0]))
    if detail:
        lighting = detailed(lighting, np.random.default_rng([int(seed), 0xDE7A]))
    return room if lighting is room.lighting else replace(room, lighting=lighting)


def render_scene(
    seed: int,
    width: int | None = None,
    height: int | None = None,
    intrinsics: CameraIntrinsics | None = None,
    view: str = "room",
    photos: PhotoTextures | None = None,
    shadows: bool = False,
    detail: bool = False,
) -> SyntheticFrame:
    """Render a random scene from its random plausible camera pose, both from ``seed``.

    Args:
        seed: Non-negative scene seed; the same seed gives the same frame.
        width: Image width; default 640, or the intrinsics' width.
        height: Image height; default 480, or the intrinsics' height.
        intrinsics: Camera; None uses the NYU Kinect camera scaled to the size.
        view: ``"room"`` looks across the room (:attr:`SyntheticScene.default_pose`),
            ``"close"`` at furniture or a wall from nearby (:attr:`SyntheticScene.close_pose`),
            ``"table"`` down across a cluttered table (:meth:`SyntheticScene.random_table`).
        photos: photographs that replace some procedural textures
            (:class:`~depth_estimation_ros.sim.materials.PhotoTextures`); None = none.
        shadows: shadows and ambient occlusion (:meth:`SyntheticScene.random`); the depth
            is the same either way.
        detail: mip-mapped textures with fine surface detail (:meth:`SyntheticScene.random`);
            the depth is the same either way.
    """
    if view not in VIEWS:
        raise ValueError(f"view {view!r} is not one of {VIEWS}")
    if view == "table":
        scene = SyntheticScene.random_table(seed, photos, shadows, detail)
        return scene.render(scene.default_pose, width, height, intrinsics)
    scene = SyntheticScene.random(seed, photos, shadows, detail)
    pose = scene.close_pose if view == "close" else scene.default_pose
    return scene.render(pose, width, height, intrinsics)
