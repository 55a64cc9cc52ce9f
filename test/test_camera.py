"""Tests for depth_estimation_ros.core.camera: intrinsics and back-projection."""

from __future__ import annotations

import math

import numpy as np
import pytest

from depth_estimation_ros.core.camera import (
    CameraInfoError,
    CameraIntrinsics,
    _ray_grid,
    backproject,
    project,
    register_depth,
)


def _small_camera() -> CameraIntrinsics:
    return CameraIntrinsics(fx=50.0, fy=40.0, cx=3.5, cy=2.0, width=8, height=5)


def test_k_matrix_and_from_matrix_round_trip() -> None:
    cam = CameraIntrinsics.nyu_kinect()
    K = cam.K
    assert K.dtype == np.float64 and K.shape == (3, 3)
    np.testing.assert_array_equal(K[2], [0.0, 0.0, 1.0])
    assert (K[0, 0], K[1, 1], K[0, 2], K[1, 2]) == (518.8579, 519.4696, 325.5824, 253.7362)
    assert CameraIntrinsics.from_matrix(K, 640, 480) == cam
    # ROS CameraInfo.k is a flat row-major list of 9 floats.
    assert CameraIntrinsics.from_matrix(list(K.ravel()), 640, 480) == cam


@pytest.mark.parametrize(
    "K",
    [
        [0.0] * 9,  # uncalibrated camera publishes all zeros
        [500.0, 0, 320, 0, math.nan, 240, 0, 0, 1],
        [500.0, 0, 320, 0, 500, math.inf, 0, 0, 1],
        [-500.0, 0, 320, 0, 500, 240, 0, 0, 1],
        [500.0, 0, 320, 0, 500, 240, 0, 0, 2],
        [500.0, 0, 320, 0, 500, 240, 0.1, 0, 1],
        [500.0, 3.0, 320, 0, 500, 240, 0, 0, 1],
        [500.0, 0, 320, 0, 500, 240],
        "not a matrix",
    ],
)
def test_from_matrix_rejects_bad_k(K: object) -> None:
    with pytest.raises(CameraInfoError):
        CameraIntrinsics.from_matrix(K, 640, 480)


def test_camera_info_error_is_value_error_and_bad_sizes_rejected() -> None:
    assert issubclass(CameraInfoError, ValueError)
    with pytest.raises(CameraInfoError, match="width"):
        CameraIntrinsics(fx=1.0, fy=1.0, cx=0.0, cy=0.0, width=0, height=4)
    with pytest.raises(CameraInfoError, match="cx"):
        CameraIntrinsics(fx=1.0, fy=1.0, cx=math.nan, cy=0.0, width=4, height=4)


def test_nyu_kinect_scaled_like_image_proc_resize() -> None:
    half = CameraIntrinsics.nyu_kinect(320, 240)
    assert half.fx == pytest.approx(518.8579 / 2)
    assert half.fy == pytest.approx(519.4696 / 2)
    assert half.cx == pytest.approx(325.5824 / 2)
    assert half.cy == pytest.approx(253.7362 / 2)
    assert (half.width, half.height) == (320, 240)
    small = CameraIntrinsics.nyu_kinect().scaled(304, 228)
    assert small.fx == pytest.approx(518.8579 * 304 / 640)
    assert small.cx == pytest.approx(325.5824 * 304 / 640)
    assert small.fy == pytest.approx(519.4696 * 228 / 480)
    assert small.cy == pytest.approx(253.7362 * 228 / 480)
    with pytest.raises(CameraInfoError):
        small.scaled(0, 10)


def test_cropped_shifts_principal_point() -> None:
    cam = CameraIntrinsics.nyu_kinect(320, 240)
    crop = cam.cropped(8, 6, 304, 228)  # the paper's centre crop
    assert crop.cx == pytest.approx(cam.cx - 8) and crop.cy == pytest.approx(cam.cy - 6)
    assert (crop.fx, crop.fy, crop.width, crop.height) == (cam.fx, cam.fy, 304, 228)
    with pytest.raises(CameraInfoError, match="inside"):
        cam.cropped(20, 0, 304, 228)
    with pytest.raises(CameraInfoError):
        cam.cropped(-1, 0, 10, 10)


def test_camera_info_fields_layout() -> None:
    cam = CameraIntrinsics(fx=500.0, fy=501.0, cx=320.5, cy=240.25, width=640, height=480)
    info = cam.to_camera_info_fields()
    assert info["width"] == 640 and info["height"] == 480
    assert info["distortion_model"] == "plumb_bob" and info["d"] == [0.0] * 5
    assert info["k"] == [500.0, 0.0, 320.5, 0.0, 501.0, 240.25, 0.0, 0.0, 1.0]
    assert info["r"] == [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0]
    P = np.array(info["p"]).reshape(3, 4)
    np.testing.assert_array_equal(P[:, :3], cam.K)
    np.testing.assert_array_equal(P[:, 3], 0.0)
    assert all(isinstance(v, float) for key in ("k", "r", "p", "d") for v in info[key])
    # A consumer rebuilding intrinsics from the CameraInfo gets the same camera back.
    assert CameraIntrinsics.from_matrix(info["k"], info["width"], info["height"]) == cam


def test_backproject_matches_pinhole_formula() -> None:
    cam = _small_camera()
    rng = np.random.default_rng(0)
    depth = rng.uniform(0.5, 5.0, size=(5, 8)).astype(np.float32)
    points = backproject(depth, cam)
    assert points.shape == (5, 8, 3) and points.dtype == np.float32
    for v, u in [(0, 0), (2, 3), (4, 7), (1, 6)]:
        z = float(depth[v, u])
        expected = [(u - 3.5) * z / 50.0, (v - 2.0) * z / 40.0, z]
        np.testing.assert_allclose(points[v, u], expected, rtol=1e-6)
    # Re-projecting the points lands on the pixel centres they came from.
    uv = project(points, cam)
    vv, uu = np.mgrid[0:5, 0:8]
    np.testing.assert_allclose(uv[..., 0], uu, atol=1e-4)
    np.testing.assert_allclose(uv[..., 1], vv, atol=1e-4)


def test_backproject_invalid_points_are_nan() -> None:
    cam = _small_camera()
    depth = np.full((5, 8), 2.0, dtype=np.float64)
    depth[0, 0] = np.nan
    depth[0, 1] = 0.0
    depth[0, 2] = -1.0
    depth[0, 3] = 0.2  # below min_range
    depth[0, 4] = 9.0  # above max_range
    depth[0, 5] = np.inf
    points = backproject(depth, cam, min_range=0.3, max_range=8.0)
    assert np.all(np.isnan(points[0, :6]))
    assert np.all(np.isfinite(points[0, 6:])) and np.all(np.isfinite(points[1:]))
    # The boundaries are inclusive.
    edge = backproject(np.full((5, 8), 8.0), cam, min_range=0.3, max_range=8.0)
    assert np.all(np.isfinite(edge))
    # Infinite depth is invalid even with the default unbounded range.
    unbounded = backproject(np.where(np.isinf(depth), np.inf, 3.0), cam)
    assert np.all(np.isnan(unbounded[0, 5])) and np.isfinite(unbounded[0, 4]).all()
    # The input is not modified.
    assert depth[0, 1] == 0.0 and np.isnan(depth[0, 0])


def test_backproject_decimation_takes_every_dth_pixel() -> None:
    cam = _small_camera()
    depth = np.arange(40, dtype=np.float32).reshape(5, 8) + 1.0
    points = backproject(depth, cam, decimation=3)
    assert points.shape == (2, 3, 3)  # ceil(5/3), ceil(8/3)
    full = backproject(depth, cam)
    np.testing.assert_array_equal(points, full[::3, ::3])
    i, j = 1, 2  # pixel u = 6, v = 3
    z = depth[3, 6]
    np.testing.assert_allclose(points[i, j], [(6 - 3.5) * z / 50, (3 - 2.0) * z / 40, z])


def test_backproject_rejects_bad_input() -> None:
    cam = _small_camera()
    with pytest.raises(ValueError, match="match the camera"):
        backproject(np.ones((8, 5), np.float32), cam)
    with pytest.raises(ValueError, match="match the camera"):
        backproject(np.ones((5, 8, 1), np.float32), cam)
    with pytest.raises(ValueError, match="floating point"):
        backproject(np.ones((5, 8), np.uint16), cam)
    with pytest.raises(ValueError, match="Decimation"):
        backproject(np.ones((5, 8), np.float32), cam, decimation=0)
    with pytest.raises(ValueError, match="Range"):
        backproject(np.ones((5, 8), np.float32), cam, min_range=2.0, max_range=1.0)


def test_ray_grid_is_cached_per_camera_and_decimation() -> None:
    cam = _small_camera()
    first = _ray_grid(cam, 2)
    again = _ray_grid(CameraIntrinsics(50.0, 40.0, 3.5, 2.0, 8, 5), 2)
    assert first[0] is again[0] and first[1] is again[1]
    assert _ray_grid(cam, 1)[0] is not first[0]
    assert not first[0].flags.writeable
    assert first[0].shape == (1, 4) and first[1].shape == (3, 1)


def _plane_scene(depth_camera: CameraIntrinsics) -> np.ndarray:
    """A wall at 3 m with a box at 1 m in front of its middle, NaN and 0 holes."""
    depth = np.full((depth_camera.height, depth_camera.width), 3.0, dtype=np.float32)
    depth[20:28, 30:40] = 1.0
    depth[2, 3] = np.nan
    depth[4, 5] = 0.0
    return depth


def test_register_depth_with_the_same_camera_is_the_identity() -> None:
    k = CameraIntrinsics(fx=58.5, fy=58.5, cx=32.0, cy=24.0, width=64, height=48)
    depth = _plane_scene(k)
    out = register_depth(depth, k, k, np.eye(4))
    ok = np.isfinite(depth) & (depth > 0)
    np.testing.assert_array_equal(out[ok], depth[ok])
    assert np.isnan(out[~ok]).all() and out.dtype == np.float32


def test_register_depth_reprojects_into_a_wider_shifted_camera() -> None:
    # 7-Scenes' geometry at 1/10 scale: depth camera fx 58.5, colour fx 52.5, 2.5 cm apart
    kd = CameraIntrinsics(fx=58.5, fy=58.5, cx=32.0, cy=24.0, width=64, height=48)
    kc = CameraIntrinsics(fx=52.5, fy=52.5, cx=32.0, cy=24.0, width=64, height=48)
    t = np.eye(4)
    t[0, 3] = -0.3  # 30 cm: a shift of fx * 0.3 / z pixels (5.25 px at 3 m, 15.75 at 1 m)
    depth = _plane_scene(kd)
    out = register_depth(depth, kd, kc, t, fill=0.0)
    # depth pixel (u, v) at z lands on u' = cx + (u - cx) * 52.5 / 58.5 - 52.5 * 0.3 / z
    for u, v, z in ((10, 10, 3.0), (50, 40, 3.0), (34, 23, 1.0)):
        uc = round(32.0 + (u - 32.0) * 52.5 / 58.5 - 52.5 * 0.3 / z)
        vc = round(24.0 + (v - 24.0) * 52.5 / 58.5)
        assert out[vc, uc] == pytest.approx(z), (u, v, z)
    # the colour camera sees further than the depth camera: its border has no depth
    assert (out[:, -3:] == 0.0).all() and (out[:2] == 0.0).all()
    # the box (1 m, depth columns 30-39) moves 15.75 px, the wall 5.25: on row 24 the box
    # covers colour columns 15-22 (over the wall landing there: a z-buffer), and the wall it
    # hid from the depth camera (colour columns 25-33) stays without depth, not the box's
    np.testing.assert_array_equal(out[24, 15:23], 1.0)
    np.testing.assert_array_equal(out[24, 25:33], 0.0)
    assert out[24, 10] == pytest.approx(3.0) and out[24, 40] == pytest.approx(3.0)


def test_register_depth_keeps_the_nearest_of_two_surfaces() -> None:
    k = CameraIntrinsics(fx=50.0, fy=50.0, cx=15.5, cy=0.0, width=32, height=1)
    depth = np.full((1, 32), 4.0, dtype=np.float32)
    depth[0, 16] = 1.0  # a thin post at 1 m; moving 0.24 m sideways shifts it 12 px, the wall 3
    t = np.eye(4)
    t[0, 3] = 0.24
    out = register_depth(depth, k, k, t)
    assert out[0, 16 + 12] == pytest.approx(1.0)  # the post covers the wall that lands there
    assert out[0, 16 + 3] == pytest.approx(4.0) or np.isnan(out[0, 16 + 3])
    assert np.nanmax(out) == pytest.approx(4.0) and np.isnan(out[0, :3]).all()


@pytest.mark.parametrize("t", [
    np.eye(3), np.full((4, 4), np.nan), np.diag([2.0, 1, 1, 1]),
    np.array([[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0], [1, 0, 0, 1.0]])])
def test_register_depth_rejects_a_transform_that_is_not_rigid(t: np.ndarray) -> None:
    k = CameraIntrinsics(fx=50.0, fy=50.0, cx=4.0, cy=3.0, width=8, height=6)
    with pytest.raises(ValueError, match="rigid transform"):
        register_depth(np.ones((6, 8), dtype=np.float32), k, k, t)
