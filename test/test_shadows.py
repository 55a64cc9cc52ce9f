"""Shadows and ambient occlusion in rendered rooms: sim.shading.Lighting's shadow, shadow_blur
and occlusion, SyntheticScene.random(shadows=True) and the training option
data.synthetic_shadows."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from depth_estimation_ros.sim import SyntheticScene, render_scene
from depth_estimation_ros.sim.camera import CameraPose, pixel_rays
from depth_estimation_ros.sim.geometry import Box
from depth_estimation_ros.sim.materials import Material
from depth_estimation_ros.sim.shading import Lighting
from depth_training.config import load_config
from depth_training.datasets.build import build_datasets

ROOM = (4.0, 4.0, 3.0)
LIGHT = (1.0, 2.0, 2.0)
# a 0.6 m cube on the floor, 1 m from below the light: its shadow falls on the floor beyond it
CUBE = Box((2.0, 2.0, 0.3), (0.6, 0.6, 0.6), 0)
FLAT = (Material("checker", 0, (0.0, 0.0, 0.0), 1.0),  # unused: the cube's own colour
        Material("paint", 0, (1.0, 1.0, 1.0), None))  # stretched once: nearly uniform grey
SIDE_VIEW = CameraPose((2.2, 0.4, 1.8), yaw=np.pi / 2, pitch=0.6)


def _scene(boxes=(CUBE,), pose=SIDE_VIEW, **light) -> SyntheticScene:
    lighting = Lighting(light_position=LIGHT, vignette=0.0, sun_strength=0.0, **light)
    materials = FLAT[:1] + FLAT[1:] * 3
    return SyntheticScene(ROOM, boxes, materials, room_materials=(1, 2, 3),
                          lighting=lighting, default_pose=pose)


def _world_points(frame) -> np.ndarray:
    """(H, W, 3) world point of every pixel."""
    rays = pixel_rays(frame.intrinsics)
    d = np.stack(np.broadcast_arrays(rays.xr[None, :], rays.yr[:, None], 1.0), -1)
    world = d @ frame.pose.world_from_optical().T
    return np.asarray(frame.pose.position) + frame.depth[..., None] * world


def _blocked(points: np.ndarray, box: Box, light=LIGHT) -> np.ndarray:
    """Whether the segment from each point to the light passes through the (unyawed) box."""
    lo = np.asarray(box.center) - np.asarray(box.size) / 2
    hi = np.asarray(box.center) + np.asarray(box.size) / 2
    direction = np.asarray(light) - points
    with np.errstate(divide="ignore", invalid="ignore"):
        t0, t1 = (lo - points) / direction, (hi - points) / direction
    near = np.nanmax(np.minimum(t0, t1), axis=-1)
    far = np.nanmin(np.maximum(t0, t1), axis=-1)
    return (near < far) & (far > 1e-6) & (near < 1.0)


def _floor(frame, margin: float = 0.08) -> np.ndarray:
    """Floor pixels away (by ``margin`` m) from the cube and from the shadow's edge."""
    points = _world_points(frame)
    on_floor = points[..., 2] < 1e-3
    away = np.abs(points[..., :2] - 2.0).max(-1) > 0.3 + margin
    edge_free = np.ones_like(on_floor)
    for dx, dy in ((margin, 0), (-margin, 0), (0, margin), (0, -margin)):
        shifted = points + np.array([dx, dy, 0.0])
        edge_free &= _blocked(shifted, CUBE) == _blocked(points, CUBE)
    return on_floor & away & edge_free


def test_the_cube_shadows_exactly_the_floor_it_hides_from_the_light() -> None:
    plain = _scene().render()
    shadowed = _scene(shadow=1.0, shadow_blur=0.0).render()
    np.testing.assert_array_equal(shadowed.depth, plain.depth)
    blocked = _blocked(_world_points(plain), CUBE)
    floor = _floor(plain)
    in_shadow, lit = floor & blocked, floor & ~blocked
    assert in_shadow.sum() > 500 and lit.sum() > 5000
    grey_plain = plain.rgb.astype(np.float64).mean(-1)
    grey_shadow = shadowed.rgb.astype(np.float64).mean(-1)
    # lit floor is untouched; the shadowed floor keeps only the ambient light (0.38 of the
    # light next to it, where the point light adds about as much again)
    assert np.abs(grey_shadow[lit] - grey_plain[lit]).max() <= 1.0
    ratio = grey_shadow[in_shadow].mean() / grey_plain[in_shadow].mean()
    assert 0.3 < ratio < 0.7


def test_shadow_strength_and_blur() -> None:
    plain = _scene().render()
    half = _scene(shadow=0.5, shadow_blur=0.0).render()
    full = _scene(shadow=1.0, shadow_blur=0.0).render()
    soft = _scene(shadow=1.0, shadow_blur=4.0).render()
    floor = _floor(plain)
    blocked = _blocked(_world_points(plain), CUBE)
    grey = {k: f.rgb.astype(np.float64).mean(-1) for k, f in
            (("plain", plain), ("half", half), ("full", full), ("soft", soft))}
    region = floor & blocked
    lost_half = (grey["plain"] - grey["half"])[region].mean()
    lost_full = (grey["plain"] - grey["full"])[region].mean()
    assert lost_full > 20 and lost_half == pytest.approx(lost_full / 2, rel=0.1, abs=1.5)
    # a blurred edge has intermediate values where the hard one jumps
    assert len(np.unique(soft.rgb)) > len(np.unique(full.rgb))
    # a screen-space blur: away from the edges (most of the floor) nothing changes
    assert np.quantile(np.abs(grey["soft"] - grey["full"])[floor], 0.9) <= 1.0


def test_ambient_occlusion_darkens_creases_not_planes_nor_silhouettes() -> None:
    # an empty room's corner (floor + two walls), and a box floating far in front of a wall
    corner = CameraPose((1.2, 1.2, 1.4), yaw=np.pi + np.pi / 4, pitch=0.35)
    plain = _scene((), corner).render()
    dark = _scene((), corner, occlusion=0.8).render()
    np.testing.assert_array_equal(dark.depth, plain.depth)
    points = _world_points(plain)
    # distance of each surface point to the nearest crease of the corner
    to_crease = np.minimum.reduce([
        np.where(points[..., 2] < 1e-3, np.minimum(points[..., 0], points[..., 1]), np.inf),
        np.where(points[..., 0] < 1e-3, np.minimum(points[..., 1], points[..., 2]), np.inf),
        np.where(points[..., 1] < 1e-3, np.minimum(points[..., 0], points[..., 2]), np.inf),
    ])
    grey_plain = plain.rgb.astype(np.float64).mean(-1)
    grey_dark = dark.rgb.astype(np.float64).mean(-1)
    crease, flat = to_crease < 0.02, (to_crease > 0.4) & np.isfinite(to_crease)
    assert crease.sum() > 200 and flat.sum() > 20000
    assert (grey_dark / grey_plain)[crease].mean() < 0.93
    assert np.abs(grey_dark - grey_plain)[flat].max() <= 1.0

    floating = Box((3.0, 2.0, 1.5), (0.3, 0.8, 0.8), 0)  # 1 m in front of the +x wall
    front = CameraPose((0.5, 2.0, 1.5), yaw=0.0, pitch=0.0)
    plain = _scene((floating,), front).render()
    dark = _scene((floating,), front, occlusion=0.8).render()
    points = _world_points(plain)
    on_wall = points[..., 0] > ROOM[0] - 1e-3
    wall_grey = np.abs(dark.rgb.astype(np.float64) - plain.rgb).mean(-1)
    # wall pixels right beside the box's silhouette (within 4 px), far from the room's creases
    box_px = ~on_wall & (points[..., 0] > 2.0)
    near_box = np.zeros_like(box_px)
    for s in range(-4, 5):
        near_box |= np.roll(box_px, s, 0) | np.roll(box_px, s, 1)
    beside = on_wall & near_box & (points[..., 2] > 0.5) & (points[..., 2] < 2.5) \
        & (np.abs(points[..., 1] - 2.0) < 1.5)
    assert beside.sum() > 100
    assert wall_grey[beside].max() <= 1.0


def test_lighting_refuses_bad_values_and_a_light_outside_the_room() -> None:
    for bad in ({"shadow": 1.5}, {"shadow": -0.1}, {"occlusion": 2.0},
                {"shadow_blur": -1.0}):
        with pytest.raises(ValueError, match=next(iter(bad))):
            Lighting(**bad)
    lighting = Lighting(light_position=(2.0, 2.0, 3.5), shadow=0.5)
    with pytest.raises(ValueError, match="strictly inside the room"):
        SyntheticScene(ROOM, (CUBE,), FLAT, room_materials=(1, 1, 1), lighting=lighting)


@pytest.mark.parametrize("view", ["room", "close", "table"])
def test_random_rooms_with_shadows_keep_their_depth_and_poses(view: str) -> None:
    for seed in (3, 8):
        plain = render_scene(seed, 160, 120, view=view)
        lit = render_scene(seed, 160, 120, view=view, shadows=True)
        again = render_scene(seed, 160, 120, view=view, shadows=True)
        np.testing.assert_array_equal(lit.depth, plain.depth)
        assert lit.pose == plain.pose
        np.testing.assert_array_equal(lit.rgb, again.rgb)
        assert np.abs(lit.rgb.astype(int) - plain.rgb).mean() > 0.3
    scene = SyntheticScene.random(3, shadows=True)
    assert 0.5 <= scene.lighting.shadow <= 0.9 and 0.3 <= scene.lighting.occlusion <= 0.8
    assert SyntheticScene.random(3).lighting == dataclasses.replace(
        scene.lighting, shadow=0.0, shadow_blur=1.5, occlusion=0.0)


def test_training_option_shadows_training_rooms_only() -> None:
    from depth_estimation_ros.core.model import PreprocessConfig

    base = ["model.variant=compact", "data.synthetic_train=2", "data.synthetic_val=1",
            "data.width=32", "data.height=24"]
    train, val = build_datasets(load_config(None, [*base, "data.synthetic_shadows=true"]),
                                PreprocessConfig.full_frame())
    assert train.source.shadows and not val.source.shadows  # validation stays comparable
    assert "shadows=True" in repr(train.source)
    plain, _ = build_datasets(load_config(None, base), PreprocessConfig.full_frame())
    assert not plain.source.shadows
    np.testing.assert_array_equal(train.source.depth(0), plain.source.depth(0))
    assert not np.array_equal(train.source.image(0), plain.source.image(0))
