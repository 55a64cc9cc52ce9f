"""Tests for the depth_estimation_ros.sim renderer: exact depth, determinism, textures, motion."""

from __future__ import annotations

import math
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from depth_estimation_ros.core.camera import CameraIntrinsics, backproject
from depth_estimation_ros.sim import SyntheticFrame, SyntheticScene, render_scene
from depth_estimation_ros.sim.camera import CameraPose
from depth_estimation_ros.sim.geometry import Box
from depth_estimation_ros.sim.materials import (
    TEXTURE_KINDS,
    TEXTURE_SIZE,
    Material,
    procedural_texture,
)

ROOM = (4.0, 5.0, 2.8)


def _world_rays(pose: CameraPose, cam: CameraIntrinsics) -> tuple[np.ndarray, np.ndarray]:
    """Camera centre (3,) and world ray directions (H, W, 3) with unit optical z (float64)."""
    xr = (np.arange(cam.width) - cam.cx) / cam.fx
    yr = (np.arange(cam.height) - cam.cy) / cam.fy
    rays = np.stack(np.broadcast_arrays(xr[None, :], yr[:, None], 1.0), axis=-1)
    return np.asarray(pose.position, dtype=np.float64), rays @ pose.world_from_optical().T


def _reference_depth(scene: SyntheticScene, pose: CameraPose, cam: CameraIntrinsics) -> np.ndarray:
    """Brute-force float64 ray casting: room planes plus a slab test per box."""
    origin, rays = _world_rays(pose, cam)
    best = np.full(rays.shape[:2], np.inf)
    with np.errstate(divide="ignore", invalid="ignore"):
        for axis in range(3):
            for bound in (0.0, scene.room_size[axis]):
                t = (bound - origin[axis]) / rays[..., axis]
                best = np.where((t > 0) & (t < best), t, best)
        for box in scene.boxes:
            c, s = math.cos(box.yaw), math.sin(box.yaw)
            to_local = np.array([[c, s, 0.0], [-s, c, 0.0], [0.0, 0.0, 1.0]])
            q = to_local @ (origin - np.asarray(box.center))
            d = rays @ to_local.T
            half = np.asarray(box.size) / 2
            t1 = (-half - q) / d
            t2 = (half - q) / d
            near = np.minimum(t1, t2).max(axis=-1)
            far = np.maximum(t1, t2).min(axis=-1)
            hit = (far >= near) & (near > 0) & (near < best)
            best = np.where(hit, near, best)
    return best  # z along the optical axis, because the rays have unit optical z


def test_empty_room_floor_and_facing_wall_match_analytic_depth() -> None:
    scene = SyntheticScene(ROOM)
    pose = CameraPose((2.0, 0.5, 1.0), yaw=math.pi / 2, pitch=0.0)
    frame = scene.render(pose)
    cam = CameraIntrinsics.nyu_kinect()
    assert isinstance(frame, SyntheticFrame) and frame.intrinsics == cam
    depth = frame.depth.astype(np.float64)
    # Looking along +y, level: optical x is world +x and optical y is world -z, so the floor
    # (1 m below) is hit at z = 1 / ((v - cy) / fy) wherever that point is inside the room.
    v = np.arange(cam.height)[:, None]
    u = np.arange(cam.width)[None, :]
    with np.errstate(divide="ignore"):
        z_floor = 1.0 * cam.fy / (v - cam.cy)
    x_hit = 2.0 + (u - cam.cx) * z_floor / cam.fx
    y_hit = 0.5 + z_floor
    on_floor = (v > cam.cy + 1) & (y_hit < 4.999) & (x_hit > 0.001) & (x_hit < 3.999)
    assert on_floor.sum() > 30000
    expected = np.broadcast_to(z_floor, depth.shape)[on_floor]
    np.testing.assert_allclose(depth[on_floor], expected, rtol=2e-6, atol=1e-4)
    # The wall y = 5 faces the camera: constant depth 4.5 m around the image centre.
    np.testing.assert_allclose(depth[200:300, 250:400], 4.5, rtol=1e-6)
    # Everywhere: matches the brute-force reference.
    np.testing.assert_allclose(depth, _reference_depth(scene, pose, cam), rtol=2e-6, atol=1e-5)


def test_backprojected_depth_lies_on_room_planes() -> None:
    scene = SyntheticScene(ROOM)
    pose = CameraPose((2.5, 1.2, 1.3), yaw=2.0, pitch=0.35, roll=0.1)
    frame = scene.render(pose, 160, 120)
    points = backproject(frame.depth, frame.intrinsics).reshape(-1, 3).astype(np.float64)
    world = points @ pose.world_from_optical().T + np.asarray(pose.position)
    to_plane = np.minimum(np.abs(world), np.abs(world - np.asarray(ROOM))).min(axis=1)
    assert to_plane.max() < 1e-4
    assert np.all(world > -1e-4) and np.all(world < np.asarray(ROOM) + 1e-4)


def test_yawed_boxes_and_tilted_camera_match_brute_force_ray_casting() -> None:
    materials = (Material("paint"), Material("tiles"), Material("paint"), Material("wood", 1))
    boxes = [
        Box((3.0, 2.5, 0.4), (0.8, 0.6, 0.8), 3, yaw=0.5),
        Box((2.6, 3.5, 1.0), (0.3, 1.2, 2.0), 3, yaw=-0.2),
        Box((3.3, 1.4, 0.75), (1.0, 0.7, 0.05), 3),  # a thin table top
        Box((2.2, 2.2, 0.1), (0.2, 0.2, 0.2), 3, yaw=1.0),
    ]
    scene = SyntheticScene(ROOM, boxes, materials)
    pose = CameraPose((0.8, 2.2, 1.6), yaw=0.15, pitch=0.3, roll=-0.05)
    cam = CameraIntrinsics.nyu_kinect(160, 120)
    frame = scene.render(pose, intrinsics=cam)
    reference = _reference_depth(scene, pose, cam)
    error = np.abs(frame.depth - reference) / reference
    # Only pixels whose centre grazes an edge may pick a different surface.
    assert np.mean(error > 1e-5) < 0.002
    assert np.median(error) < 1e-6
    # The boxes are visible and nearer than the walls behind them.
    room_only = _reference_depth(SyntheticScene(ROOM), pose, cam)
    assert np.mean(frame.depth < room_only - 0.05) > 0.1


def test_box_face_towards_camera_has_constant_depth() -> None:
    box = Box((3.0, 2.0, 1.5), (0.4, 1.0, 0.8), 0)
    scene = SyntheticScene(ROOM, [box])
    pose = CameraPose((1.0, 2.0, 1.5), yaw=0.0)
    frame = scene.render(pose, 320, 240)
    cam = frame.intrinsics
    # The face x = 2.8 spans y in [1.5, 2.5] and z in [1.1, 1.9]: 1.8 m ahead of the camera.
    half_w = 0.5 * cam.fx / 1.8
    half_h = 0.4 * cam.fy / 1.8
    inner = frame.depth[
        math.ceil(cam.cy - half_h) + 1 : math.floor(cam.cy + half_h) - 1,
        math.ceil(cam.cx - half_w) + 1 : math.floor(cam.cx + half_w) - 1,
    ]
    assert inner.size > 1000
    np.testing.assert_allclose(inner, 1.8, rtol=1e-6)
    # Just outside the face, the far wall (3 m away) shows.
    assert frame.depth[round(cam.cy), math.floor(cam.cx + half_w) + 2] == pytest.approx(3.0)


@pytest.mark.parametrize("seed", [0, 1, 2, 3, 4, 5])
def test_random_scenes_are_plausible(seed: int) -> None:
    frame = render_scene(seed, 152, 114)
    assert frame.rgb.shape == (114, 152, 3) and frame.rgb.dtype == np.uint8
    assert frame.depth.shape == (114, 152) and frame.depth.dtype == np.float32
    assert np.all(np.isfinite(frame.depth)) and np.all(frame.depth > 0)
    assert 0.3 < frame.depth.min() and frame.depth.max() < 10.5  # NYU-like range, metres
    assert frame.rgb.std() > 10  # textured and lit, not flat
    assert 20 < frame.rgb.mean() < 235
    # The camera stands inside the room, clear of furniture footprints.
    scene = SyntheticScene.random(seed)
    lx, ly, lz = scene.room_size
    assert 3.0 <= lx <= 7.0 and 3.0 <= ly <= 7.0 and 2.4 <= lz <= 3.2
    assert len(scene.boxes) > 5


def test_render_scene_is_deterministic_and_seeds_differ() -> None:
    first = render_scene(11, 120, 90)
    again = render_scene(11, 120, 90)
    np.testing.assert_array_equal(first.rgb, again.rgb)
    np.testing.assert_array_equal(first.depth, again.depth)
    assert first.pose == again.pose
    other = render_scene(12, 120, 90)
    assert not np.array_equal(first.depth, other.depth)
    assert SyntheticScene.random(11).boxes != SyntheticScene.random(12).boxes


def test_non_default_resolution_uses_scaled_kinect_intrinsics() -> None:
    frame = render_scene(3, 304, 228)
    assert frame.intrinsics == CameraIntrinsics.nyu_kinect(304, 228)
    assert frame.rgb.shape == (228, 304, 3) and frame.depth.shape == (228, 304)
    # The same view at another resolution sees the same geometry (centre pixel depth).
    big = render_scene(3, 608, 456)
    small_centre = frame.depth[114, 152]
    big_centre = big.depth[228, 304]
    assert small_centre == pytest.approx(big_centre, rel=0.05)


def test_explicit_intrinsics_and_bad_arguments() -> None:
    scene = SyntheticScene(ROOM)
    cam = CameraIntrinsics(fx=100.0, fy=100.0, cx=40.0, cy=30.0, width=80, height=60)
    frame = scene.render(intrinsics=cam)
    assert frame.depth.shape == (60, 80) and frame.intrinsics is cam
    assert scene.render(width=80, height=60, intrinsics=cam).depth.shape == (60, 80)
    with pytest.raises(ValueError, match="differs"):
        scene.render(width=640, height=480, intrinsics=cam)
    with pytest.raises(ValueError, match="inside the room"):
        scene.render(CameraPose((5.0, 1.0, 1.0)), 32, 24)
    with pytest.raises(ValueError, match="seed"):
        SyntheticScene.random(-1)
    with pytest.raises(ValueError, match="Room size"):
        SyntheticScene((4.0, 0.0, 2.5))
    with pytest.raises(ValueError, match="Material index"):
        SyntheticScene(ROOM, [Box((1.0, 1.0, 1.0), (0.5, 0.5, 0.5), 7)])


def test_trajectory_loops_smoothly_and_stays_clear() -> None:
    scene = SyntheticScene.random(4)
    lx, ly, lz = scene.room_size
    period = scene.period
    start, end = scene.trajectory_pose(1.0), scene.trajectory_pose(1.0 + period)
    np.testing.assert_allclose(start.position, end.position, atol=1e-9)
    assert math.cos(start.yaw - end.yaw) == pytest.approx(1.0)
    step = 0.1  # seconds: a 10 frames/s camera moves a few centimetres per frame
    poses = [scene.trajectory_pose(k * step) for k in range(int(period / step))]
    positions = np.array([p.position for p in poses])
    moves = np.linalg.norm(np.diff(positions, axis=0), axis=1)
    assert moves.max() < 0.1 and moves.min() > 0.0
    assert np.all(positions > 0.3) and np.all(positions < np.array([lx, ly, lz]) - 0.3)
    yaws = np.unwrap([p.yaw for p in poses])
    assert np.abs(np.diff(yaws)).max() < 0.1
    for pose in poses[:: len(poses) // 6]:
        depth = scene.render(pose, 64, 48).depth
        assert depth.min() > 0.3 and np.all(np.isfinite(depth))


def test_procedural_textures_are_seeded_and_varied() -> None:
    for kind in TEXTURE_KINDS:
        texture = procedural_texture(kind, 1)
        assert texture.shape == (TEXTURE_SIZE, TEXTURE_SIZE, 3) and texture.dtype == np.uint8
        assert texture.std() > 1.0, kind
        assert not texture.flags.writeable
    assert not np.array_equal(procedural_texture("wood", 0), procedural_texture("wood", 1))
    procedural_texture.cache_clear()
    np.testing.assert_array_equal(procedural_texture("tiles", 2), procedural_texture("tiles", 2))
    with pytest.raises(ValueError, match="unknown"):
        procedural_texture("marble")


def test_textures_and_lighting_show_in_the_image() -> None:
    scene = SyntheticScene(
        ROOM,
        materials=(Material("wallpaper"), Material("tiles", 0, (1, 1, 1), 0.5), Material("paint")),
    )
    frame = scene.render(CameraPose((1.0, 2.5, 1.4), yaw=0.0, pitch=0.4), 160, 120)
    floor = frame.rgb[100:, :].astype(np.float64)
    assert floor.std() > 8  # grout lines between tiles
    # A flat-textured (paint) ceiling still varies with light falloff and vignette.
    up = scene.render(CameraPose((1.0, 2.5, 1.4), yaw=0.0, pitch=-1.2), 160, 120)
    assert up.rgb.astype(np.float64).std() > 3


def test_frames_own_their_arrays_and_threads_render_independently() -> None:
    scene = SyntheticScene.random(6)
    poses = [scene.trajectory_pose(t) for t in (0.0, 7.0, 14.0, 21.0)]
    sequential = [scene.render(pose, 96, 72) for pose in poses]
    kept = sequential[0].depth.copy(), sequential[0].rgb.copy()
    scene.render(poses[1], 96, 72)  # reuses this thread's scratch buffers
    np.testing.assert_array_equal(sequential[0].depth, kept[0])
    np.testing.assert_array_equal(sequential[0].rgb, kept[1])
    with ThreadPoolExecutor(max_workers=2) as pool:
        threaded = list(pool.map(lambda pose: scene.render(pose, 96, 72), poses * 2))
    for frame, expected in zip(threaded, sequential * 2, strict=True):
        np.testing.assert_array_equal(frame.depth, expected.depth)
        np.testing.assert_array_equal(frame.rgb, expected.rgb)


def test_close_views_are_near_furniture_and_walls_and_clear_of_them() -> None:
    from depth_estimation_ros.sim import furniture
    from depth_estimation_ros.sim.layout import furnish_room

    room_medians, close_medians = [], []
    for seed in range(12):
        scene = SyntheticScene.random(seed)
        close = scene.close_pose
        assert close != scene.default_pose  # a pose was found, not the fallback
        x, y, z = close.position
        lx, ly, lz = scene.room_size
        assert 0.3 <= x <= lx - 0.3 and 0.3 <= y <= ly - 0.3 and 0.8 <= z <= lz - 0.4
        assert 0.1 <= close.pitch <= 1.0  # looking down, as at a counter or a table
        room = furnish_room(np.random.default_rng([seed, 0x5EED]))
        assert room.boxes == scene.boxes  # the same room the scene was built from
        for fp in room.footprints:
            assert furniture.rect_distance(np.array([[x, y]]), fp) >= 0.3 - 1e-9
        room_medians.append(np.median(render_scene(seed, 80, 60).depth))
        close_medians.append(np.median(render_scene(seed, 80, 60, view="close").depth))
    # Close up means nearer: the typical depth drops from room scale (about 2.5 m).
    assert np.median(close_medians) < 0.7 * np.median(room_medians)
    assert np.median(close_medians) < 1.8


def test_close_views_look_down_at_work_surfaces() -> None:
    from depth_estimation_ros.sim import furniture
    from depth_estimation_ros.sim.layout import _work_surface, furnish_room

    at_surface = 0
    for seed in range(40):
        room = furnish_room(np.random.default_rng([seed, 0x5EED]))
        pose = SyntheticScene.random(seed).close_pose
        point = np.array([pose.position[:2]])
        for fp in room.footprints:
            top = _work_surface(room, fp)
            if top is None:
                continue
            assert 0.2 < top <= 1.2  # a table, counter, desk, bed or low cabinet top
            if furniture.rect_distance(point, fp) <= 1.2 and pose.pitch >= 0.2:
                at_surface += 1
                break
    # Tables and counters are a frequent close-up, as they are for hand-held cameras.
    assert at_surface >= 10


def test_close_view_keeps_the_room_view_and_rejects_unknown_views() -> None:
    room = render_scene(5, 64, 48)
    np.testing.assert_array_equal(room.depth, render_scene(5, 64, 48, view="room").depth)
    close = render_scene(5, 64, 48, view="close")
    assert close.pose == SyntheticScene.random(5).close_pose
    assert not np.array_equal(room.depth, close.depth)
    with pytest.raises(ValueError, match="view 'top' is not one of"):
        render_scene(5, 64, 48, view="top")


def _rect_distances(points: np.ndarray, footprint: tuple) -> np.ndarray:
    """Distance of each of (N, 2) points to a yawed rectangle ``(cx, cy, hx, hy, yaw)``."""
    cx, cy, hx, hy, yaw = footprint
    rel = points - np.array([cx, cy])
    along = np.abs(rel @ np.array([math.cos(yaw), math.sin(yaw)])) - hx
    across = np.abs(rel @ np.array([-math.sin(yaw), math.cos(yaw)])) - hy
    return np.hypot(np.maximum(along, 0.0), np.maximum(across, 0.0))


def test_table_views_stand_at_a_cluttered_table_and_look_down_across_it() -> None:
    from depth_estimation_ros.sim import furniture
    from depth_estimation_ros.sim.layout import _top_box, furnish_room

    cam = CameraIntrinsics.nyu_kinect(80, 60)
    found, on_top_shares, medians = 0, [], []
    for seed in range(16):
        scene = SyntheticScene.random_table(seed)
        room = furnish_room(np.random.default_rng([seed, 0x5EED]))
        added = scene.boxes[len(room.boxes):]
        assert scene.boxes[:len(room.boxes)] == room.boxes  # the room itself is unchanged
        if not added:  # no table, desk or counter in this room: the close-up instead
            assert scene.default_pose == SyntheticScene.random(seed).close_pose
            continue
        found += 1
        # the clutter stands on one work surface: inside its top, resting on it
        tops = [(fp, box) for fp in room.footprints if (box := _top_box(room, fp))]
        centres = np.array([b.center[:2] for b in added])
        fp, top = min(tops, key=lambda t: _rect_distances(centres, t[0]).max())
        z_top = top.center[2] + top.size[2] / 2
        assert 0.6 <= z_top <= 1.0 and min(top.size[:2]) >= 0.45
        for box in added:
            assert furniture.rect_distance(np.array([box.center[:2]]), fp) == 0.0
            bottom = box.center[2] - box.size[2] / 2
            assert z_top - 1e-6 <= bottom <= z_top + 0.16
        assert 4 <= len(added) <= 24  # 4-12 things, a monitor with its stand
        # the camera stands clear of the furniture, 0.3-1.2 m from the surface, looking down
        pose = scene.default_pose
        x, y, z = pose.position
        lx, ly, lz = scene.room_size
        assert 0.3 <= x <= lx - 0.3 and 0.3 <= y <= ly - 0.3 and 1.2 <= z <= 1.8
        assert all(furniture.rect_distance(np.array([[x, y]]), f) >= 0.3 - 1e-9
                   for f in room.footprints)
        assert 0.3 - 1e-9 <= furniture.rect_distance(np.array([[x, y]]), fp) <= 1.5
        assert 0.15 <= pose.pitch <= 1.1 and abs(pose.roll) <= 0.15
        # and the table top fills a good part of the picture
        frame = scene.render(pose, cam.width, cam.height, cam)
        origin, rays = _world_rays(pose, cam)
        points = origin + rays * frame.depth[..., None]
        on_top = np.abs(points[..., 2] - z_top) < 0.02
        inside = _rect_distances(points[..., :2].reshape(-1, 2), fp).reshape(on_top.shape)
        on_top_shares.append(float((on_top & (inside < 0.02)).mean()))
        medians.append(float(np.median(frame.depth)))
    assert found >= 8  # most rooms have a table, desk or counter
    assert np.median(on_top_shares) > 0.1, on_top_shares
    assert 0.8 < np.median(medians) < 2.5, medians


def test_table_view_renders_by_seed_and_leaves_the_other_views_alone() -> None:
    seed = next(s for s in range(20) if len(SyntheticScene.random_table(s).boxes)
                > len(SyntheticScene.random(s).boxes))  # a room with a table
    table = render_scene(seed, 64, 48, view="table")
    np.testing.assert_array_equal(table.depth, render_scene(seed, 64, 48, view="table").depth)
    assert table.pose == SyntheticScene.random_table(seed).default_pose
    room, close = SyntheticScene.random(seed), render_scene(seed, 64, 48, view="close")
    assert close.pose == room.close_pose and not np.array_equal(table.depth, close.depth)
    np.testing.assert_array_equal(render_scene(seed, 64, 48).depth,
                                  room.render(room.default_pose, 64, 48).depth)
