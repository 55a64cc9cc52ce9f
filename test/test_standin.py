"""Stand-in sensors: scan, range sectors, their frames and the colour view, against geometry
computed by hand (rendered rooms with exact depth, analytic planes)."""

import math

import numpy as np
import pytest

from depth_estimation_ros.core.camera import CameraIntrinsics, backproject
from depth_estimation_ros.core.standin import (
    INFRARED,
    RangeConfig,
    ScanConfig,
    StandinError,
    depth_to_ranges,
    depth_to_scan,
    range_frame_ids,
    range_transforms,
    scan_transform,
    sector_yaws,
    static_transforms,
)
from depth_estimation_ros.core.visualize import BUILTIN_CMAPS, DepthColorizer, builtin_lut
from depth_estimation_ros.sim import SyntheticScene
from depth_estimation_ros.sim.camera import CameraPose
from depth_estimation_ros.sim.geometry import Box

CAMERA = CameraIntrinsics(525.0, 525.0, 319.5, 239.5, 640, 480)


def matrix(q: tuple[float, float, float, float]) -> np.ndarray:
    """Rotation matrix of an (x, y, z, w) unit quaternion (textbook formula)."""
    x, y, z, w = q
    return np.array([
        [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
        [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
        [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
    ])


def room(wall: float, boxes=(), yaw: float = 0.0, camera=CAMERA) -> np.ndarray:
    """Depth of a 40 m wide room whose front wall is ``wall`` metres ahead (along the
    optical axis when yaw = 0)."""
    scene = SyntheticScene((1.0 + wall, 40.0, 3.0), boxes,
                           default_pose=CameraPose((1.0, 20.0, 1.5), yaw=yaw))
    return scene.render(None, camera.width, camera.height, camera).depth


def ray_angles(scan) -> np.ndarray:
    return scan.angle_min + scan.angle_increment * np.arange(len(scan.ranges))


# -- scan ------------------------------------------------------------------------------------


@pytest.mark.parametrize("yaw", [0.0, 0.3])
@pytest.mark.parametrize("config", [ScanConfig(), ScanConfig(height=9, offset=0.5, decimation=3)])
def test_scan_of_a_wall_is_the_analytic_range_at_every_angle(yaw, config):
    depth = room(3.0, yaw=yaw)
    scan = depth_to_scan(depth, CAMERA, config)
    # the wall is 3 m ahead along the room's x; a ray at scan angle t (to the left) of a
    # camera yawed left by `yaw` travels at yaw + t from the room's x axis
    expected = 3.0 / np.cos(yaw + ray_angles(scan))
    np.testing.assert_allclose(scan.ranges, expected, rtol=2e-5)
    assert len(scan.ranges) == 639 // config.decimation + 1
    assert scan.angle_max == pytest.approx(
        scan.angle_min + scan.angle_increment * (len(scan.ranges) - 1))
    # depthimage_to_laserscan's angles: left edge ray to the axis, minus the right edge's
    assert scan.angle_min == pytest.approx(-math.atan((639 - 319.5) / 525.0))
    if config.decimation == 1:
        assert scan.angle_max == pytest.approx(math.atan(319.5 / 525.0))
    assert scan.time_increment == 0.0


def test_scan_runs_right_to_left_and_takes_the_nearest_return_in_the_band():
    # a box on the camera's left (world +y) at 1.5 m; band rows cover only its bottom part
    box = Box(center=(2.75, 21.0, 1.2), size=(0.5, 0.6, 0.62), material=0)
    depth = room(4.0, [box])
    scan = depth_to_scan(depth, CAMERA, ScanConfig(height=41))  # rows 220..260
    angles = ray_angles(scan)
    hit = scan.ranges < 3.0
    assert hit.any()
    assert angles[hit].min() > 0.0  # left of the axis: the high end of the angles
    # its near face x = 2.5 (1.5 m ahead) from atan(0.7 / 1.5) leftwards: range 1.5 / cos;
    # its right side face y = 20.7 (0.7 m left) between atan(0.7 / 2) and that
    # (rays within a column of an edge interpolate across it, so they are left out)
    edge = math.atan(0.7 / 1.5)
    face = angles > edge + 3e-3
    side = (angles > math.atan(0.7 / 2.0) + 3e-3) & (angles < edge - 3e-3)
    assert hit[face | side].all() and not hit[angles < math.atan(0.7 / 2.0) - 3e-3].any()
    np.testing.assert_allclose(scan.ranges[face], 1.5 / np.cos(angles[face]), rtol=1e-4)
    np.testing.assert_allclose(scan.ranges[side], 0.7 / np.sin(angles[side]), rtol=1e-4)
    # a band near the top of the image looks over the box
    top = depth_to_scan(depth, CAMERA, ScanConfig(height=5, offset=0.05))
    assert not (top.ranges < 3.0).any()


def test_scan_rep117_readings_for_columns_without_a_return():
    camera = CameraIntrinsics(100.0, 100.0, 4.5, 2.0, 10, 5)
    depth = np.full((5, 10), 2.0, np.float32)
    config = ScanConfig(height=3, range_min=0.5, range_max=5.0)  # rows 1..3
    depth[1:4, 9] = np.nan  # no measurement -> NaN      (ray 0 is column 9)
    depth[1:4, 8] = 7.0  # beyond range_max -> +inf
    depth[1:4, 7] = 0.2  # nearer than range_min -> -inf
    depth[1:4, 6] = [np.nan, 0.2, 7.0]  # too close wins over too far
    depth[1:4, 5] = [np.inf, np.nan, np.inf]  # inf depth: nothing within range
    depth[1:4, 4] = [0.2, 3.0, 7.0]  # an in-range return wins
    depth[1:4, 3] = [0.0, -1.0, np.nan]  # zero and negative depth are no measurement
    depth[0, 2] = 0.2  # outside the band: ignored
    scan = depth_to_scan(depth, camera, config)
    r = scan.ranges[::-1]  # back to column order (rays run right to left)
    assert np.isnan(r[9]) and np.isnan(r[3])
    assert r[8] == np.inf and r[5] == np.inf
    assert r[7] == -np.inf and r[6] == -np.inf
    k = math.sqrt(1 + ((4 - 4.5) / 100.0) ** 2)
    assert r[4] == pytest.approx(3.0 * k, rel=1e-6)
    assert r[2] == pytest.approx(2.0 * math.sqrt(1 + ((2 - 4.5) / 100.0) ** 2), rel=1e-6)


def test_a_scan_point_taken_back_through_the_transform_lands_on_its_pixel():
    # odd width with the principal point on a pixel: rays 0, 50 and 100 fall on columns
    camera = CameraIntrinsics(80.0, 80.0, 50.0, 40.0, 101, 81)
    box = Box(center=(3.0, 20.4, 1.5), size=(0.4, 0.5, 0.4), material=0, yaw=0.5)
    depth = room(5.0, [box], yaw=0.1, camera=camera)
    scan = depth_to_scan(depth, camera, ScanConfig())  # the band is row 40 = cy: y = 0
    tf = scan_transform("camera_optical_frame")
    assert (tf.parent, tf.child) == ("camera_optical_frame", "camera_optical_frame_scan")
    angles = ray_angles(scan)
    in_scan = np.stack([scan.ranges * np.cos(angles), scan.ranges * np.sin(angles),
                        np.zeros_like(angles)], axis=1)
    optical = in_scan @ matrix(tf.rotation).T + np.asarray(tf.translation)  # (N, 3)
    pixels = backproject(depth, camera)[40]  # (W, 3)
    for ray in (0, 50, 100):
        np.testing.assert_allclose(optical[ray], pixels[100 - ray], atol=2e-5)
    # every ray's point lies on its own viewing ray, on the image row of the band
    u = camera.fx * optical[:, 0] / optical[:, 2] + camera.cx
    np.testing.assert_allclose(u, camera.cx - camera.fx * np.tan(angles), atol=1e-4)
    np.testing.assert_allclose(optical[:, 1], 0.0, atol=1e-6)


def test_scan_band_taller_than_the_image_is_refused():
    with pytest.raises(StandinError, match="'scan_height'.*at most the depth image height"):
        depth_to_scan(np.ones((4, 8), np.float32),
                      CameraIntrinsics(10.0, 10.0, 3.5, 1.5, 8, 4), ScanConfig(height=5))


def test_scan_band_at_the_top_edge_stays_in_the_image():
    depth = np.full((6, 4), 3.0, np.float32)
    depth[0:3] = 1.0
    camera = CameraIntrinsics(100.0, 100.0, 1.5, 2.5, 4, 6)
    scan = depth_to_scan(depth, camera, ScanConfig(height=3, offset=0.0))
    assert np.all(scan.ranges < 1.01)  # rows 0..2
    scan = depth_to_scan(depth, camera, ScanConfig(height=3, offset=1.0))
    assert np.all(scan.ranges > 2.99)  # rows 3..5


# -- range sectors ---------------------------------------------------------------------------


def test_a_box_in_front_of_a_sector_gives_that_sectors_range():
    fov = 0.3
    yaws = sector_yaws(3, fov)
    assert yaws[0] < 0 < yaws[2]  # sector 0 on the right, sector 2 on the left
    # a 0.3 m wide box face 1.2 m ahead inside the leftmost cone only
    centre_y = 20.0 + 1.2 * math.tan(yaws[2])
    box = Box(center=(2.25, centre_y, 1.5), size=(0.1, 0.3, 0.8), material=0)
    depth = room(4.0, [box])
    config = RangeConfig(sectors=3, field_of_view=fov, radiation_type=INFRARED,
                         range_min=0.2, range_max=6.0, percentile=5.0)
    readings = depth_to_ranges(depth, CAMERA, config)
    assert [r.radiation_type for r in readings] == [INFRARED] * 3
    assert all(r.field_of_view == fov and r.max_range == 6.0 for r in readings)
    # expected by brute force: every pixel whose ray is within fov/2 of the cone's axis
    rays = backproject(np.ones_like(depth), CAMERA).reshape(-1, 3)
    unit = rays / np.linalg.norm(rays, axis=1, keepdims=True)
    distance = (depth.reshape(-1, 1) * np.linalg.norm(rays, axis=1, keepdims=True))[:, 0]
    for reading, yaw in zip(readings, yaws, strict=True):
        axis = np.array([-math.sin(yaw), 0.0, math.cos(yaw)])
        inside = unit @ axis >= math.cos(fov / 2)
        assert reading.range == pytest.approx(np.percentile(distance[inside], 5.0), rel=3e-3)
    assert readings[2].range == pytest.approx(1.2 / math.cos(yaws[2]), rel=0.03)
    assert readings[0].range > 3.9 and readings[1].range > 3.9  # the wall


def test_nan_pixels_and_one_outlier_do_not_move_the_range():
    depth = room(2.0)
    config = RangeConfig(field_of_view=0.4)
    (clean,) = depth_to_ranges(depth, CAMERA, config)
    holed = depth.copy()
    holed[np.random.default_rng(0).random(depth.shape) < 0.3] = np.nan
    (with_holes,) = depth_to_ranges(holed, CAMERA, config)
    assert with_holes.range == pytest.approx(clean.range, abs=5e-3)
    spiked = depth.copy()
    spiked[240, 360] = 0.12  # one bad pixel in the cone, on any sampling lattice up to 6
    (with_outlier,) = depth_to_ranges(spiked, CAMERA, config)
    assert with_outlier.range == pytest.approx(clean.range, abs=1e-3)
    assert clean.range == pytest.approx(2.0, rel=0.01)


def test_range_readings_without_a_measurement():
    config = RangeConfig(range_min=0.5, range_max=4.0)
    nan = np.full((480, 640), np.nan, np.float32)
    assert math.isnan(depth_to_ranges(nan, CAMERA, config)[0].range)
    assert depth_to_ranges(np.full_like(nan, 9.0), CAMERA, config)[0].range == math.inf
    assert depth_to_ranges(np.full_like(nan, 0.3), CAMERA, config)[0].range == -math.inf


def test_sectors_wider_than_the_view_are_refused():
    # the camera sees atan(319.5 / 525) = 0.546 rad either side of the axis
    depth_to_ranges(np.ones((480, 640), np.float32), CAMERA, RangeConfig(3, 0.36))
    with pytest.raises(StandinError, match="'range_sectors' x 'range_field_of_view'"):
        depth_to_ranges(np.ones((480, 640), np.float32), CAMERA, RangeConfig(3, 0.37))


# -- frames ----------------------------------------------------------------------------------


def test_scan_frame_is_x_forward_y_left_z_up():
    r = matrix(scan_transform("cam").rotation)  # columns: scan axes in the optical frame
    np.testing.assert_allclose(r[:, 0], [0, 0, 1], atol=1e-12)  # forward = optical z
    np.testing.assert_allclose(r[:, 1], [-1, 0, 0], atol=1e-12)  # left = -optical x
    np.testing.assert_allclose(r[:, 2], [0, -1, 0], atol=1e-12)  # up = -optical y


def test_sector_frames_point_along_their_cones():
    tfs = range_transforms("cam", 3, 0.4)
    assert [t.child for t in tfs] == range_frame_ids("cam", 3) == [
        "cam_range_0", "cam_range_1", "cam_range_2"]
    for tf, yaw in zip(tfs, sector_yaws(3, 0.4), strict=True):
        assert np.linalg.norm(tf.rotation) == pytest.approx(1.0)
        r = matrix(tf.rotation)
        np.testing.assert_allclose(r[:, 0], [-math.sin(yaw), 0, math.cos(yaw)], atol=1e-12)
        np.testing.assert_allclose(r[:, 2], [0, -1, 0], atol=1e-12)  # still z up
    assert range_frame_ids("cam", 1) == ["cam_range"]


def test_static_transforms_follow_what_is_published():
    children = [t.child for t in static_transforms("cam", True, "", True, 2, 0.3)]
    assert children == ["cam_scan", "cam_range_0", "cam_range_1"]
    # a scan frame from the robot description: no transform of ours for it
    assert [t.child for t in static_transforms("cam", True, "base_scan", False, 1, 0.3)] == []
    assert all(t.parent == "cam" for t in static_transforms("cam", True, "", True, 1, 0.3))


# -- colour ----------------------------------------------------------------------------------


@pytest.mark.parametrize("cmap", BUILTIN_CMAPS)
def test_builtin_maps_match_matplotlib(cmap):
    import matplotlib

    reference = matplotlib.colormaps[cmap](np.linspace(0.0, 1.0, 256))[:, :3] * 255.0
    assert np.abs(builtin_lut(cmap).astype(float) - reference).max() <= 4.5


def test_colorizer_fixed_range_and_nan_black():
    colorize = DepthColorizer(1.0, 5.0, "viridis")
    depth = np.array([[np.nan, 0.5, 1.0, 3.0, 5.0, 9.0, np.inf]], np.float32)
    rgb = colorize(depth)
    assert rgb.shape == (1, 7, 3) and rgb.dtype == np.uint8
    lut = builtin_lut("viridis")
    assert rgb[0, 0].tolist() == [0, 0, 0]
    assert rgb[0, 1].tolist() == rgb[0, 2].tolist() == lut[0].tolist()  # vmin and nearer
    assert rgb[0, 4].tolist() == rgb[0, 5].tolist() == rgb[0, 6].tolist() == lut[255].tolist()
    assert np.abs(rgb[0, 3].astype(int) - lut[128]).max() <= 2  # the middle
    with pytest.raises(ValueError, match="expected finite vmin < vmax"):
        DepthColorizer(2.0, 2.0)
    with pytest.raises(ValueError, match="not built in"):
        DepthColorizer(1.0, 2.0, "jet")
