"""Depth filters, voxel cloud and camera mount on rendered scenes of known geometry."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest

from depth_estimation_ros.core.camera import CameraIntrinsics, backproject
from depth_estimation_ros.core.filters import (
    DepthFilters,
    FilterConfig,
    ScaleStabilizer,
    TemporalFilter,
    edge_mask,
)
from depth_estimation_ros.core.mount import (
    Mount,
    mount_transform,
    quaternion_from_rpy,
    rotate_vector,
)
from depth_estimation_ros.core.standin import static_transforms
from depth_estimation_ros.core.voxel import voxel_points

W, H = 640, 480
CAMERA = CameraIntrinsics(525.0, 525.0, 319.5, 239.5, W, H)
WALL, BOX = 3.0, 1.5  # metres along the optical axis
NATIVE = (147, 109)  # the network's output size


def box_scene(left: int = 240, right: int = 400, top: int = 160, bottom: int = 320
              ) -> np.ndarray:
    """A fronto-parallel wall at 3 m with a box face at 1.5 m in front of it."""
    depth = np.full((H, W), WALL, np.float32)
    depth[top:bottom, left:right] = BOX
    return depth


def smeared(depth: np.ndarray) -> np.ndarray:
    """The scene as a monocular network sees it: at 147x109 and bilinearly upsampled, so
    the box's edges become ramps of flying pixels between box and wall."""
    low = cv2.resize(depth, NATIVE, interpolation=cv2.INTER_AREA)
    return cv2.resize(low, (W, H), interpolation=cv2.INTER_LINEAR)


def test_box_in_front_of_a_wall_leaves_no_points_between_them_and_keeps_both_faces():
    depth = smeared(box_scene())
    between = (depth > BOX * 1.05) & (depth < WALL * 0.95)
    assert between.sum() > 1000  # the flying pixels are there to begin with
    out = DepthFilters(FilterConfig())(depth, CAMERA).depth
    points = backproject(out, CAMERA).reshape(-1, 3)
    z = points[np.isfinite(points[:, 2]), 2]
    assert not np.any((z > BOX * 1.05) & (z < WALL * 0.95))
    # both faces kept away from the ramps (the smear reaches ~2 network pixels, 9 here)
    box_kept = np.isfinite(out[175:305, 255:385]).mean()
    wall = np.ones((H, W), bool)
    wall[145:335, 225:415] = False
    wall_kept = np.isfinite(out[wall]).mean()
    assert box_kept > 0.99 and wall_kept > 0.99, (box_kept, wall_kept)
    assert np.isfinite(out).mean() > 0.9


def test_fronto_parallel_and_mildly_slanted_planes_are_kept_grazing_ones_removed():
    v, u = np.mgrid[0:H, 0:W].astype(np.float32)
    x = (u - CAMERA.cx) / CAMERA.fx
    assert not edge_mask(np.full((H, W), 2.0, np.float32), CAMERA).any()
    for angle, removed in ((60.0, False), (85.0, True)):
        # plane through (0, 0, 2) whose normal is turned by `angle` about y: z = 2 / (1 + x t)
        t = math.tan(math.radians(angle))
        depth = np.where(1.0 + x * t > 0.05, 2.0 / (1.0 + x * t), np.nan).astype(np.float32)
        centre = edge_mask(depth, CAMERA, 80.0, dilate=0)[H // 2, W // 2]
        assert centre == removed, angle


def test_invalid_pixels_stay_invalid_and_the_input_is_not_changed():
    depth = smeared(box_scene())
    depth[:50] = np.nan
    before = depth.copy()
    out = DepthFilters(FilterConfig(temporal_filter=True, scale_stabilizer=True))(
        depth, CAMERA, "cam", 0.0).depth
    np.testing.assert_array_equal(depth, before)
    assert np.isnan(out[:50]).all()


def _edge_mask_reference(depth: np.ndarray, camera: CameraIntrinsics, max_angle: float,
                         stride: int) -> np.ndarray:
    """The edge criterion in plain numpy (no dilation): numpy's log, central differences
    with replicated borders, ``|n|^2 |r|^2 > 1 / cos^2``, judged on every ``stride``-th
    pixel and repeated over the block."""
    with np.errstate(all="ignore"):
        lz = np.log(depth[::stride, ::stride].astype(np.float64))
        pad = np.pad(lz, 1, mode="edge")
        a = (pad[1:-1, 2:] - pad[1:-1, :-2]) / (2 * stride)
        b = (pad[2:, 1:-1] - pad[:-2, 1:-1]) / (2 * stride)
        du = np.arange(0, camera.width, stride)[None, :] - camera.cx
        dv = np.arange(0, camera.height, stride)[:, None] - camera.cy
        nz = 1.0 + du * a + dv * b
        n2 = (camera.fx * a) ** 2 + (camera.fy * b) ** 2 + nz ** 2
        r2 = 1.0 + (du / camera.fx) ** 2 + (dv / camera.fy) ** 2
        bad = n2 * r2 > 1.0 / math.cos(math.radians(max_angle)) ** 2
    full = np.repeat(np.repeat(bad, stride, 0), stride, 1)[:camera.height, :camera.width]
    return full & (depth > 0)


@pytest.mark.parametrize("width, height", [(640, 480), (160, 120)])
def test_edge_mask_matches_a_numpy_reference_with_nan_zero_and_negative_pixels(width, height):
    # the filter takes OpenCV's log: NaN, 0 and negative depths must behave as numpy's
    # (NaN and < 0 give NaN: not judged; 0 gives -inf: its neighbours are a step)
    camera = CameraIntrinsics(0.8 * width, 0.8 * width, width / 2 - 0.5, height / 2 - 0.5,
                              width, height)
    rng = np.random.default_rng(3)
    low = rng.uniform(0.4, 6.0, (12, 16)).astype(np.float32)
    depth = cv2.resize(low, (width, height), interpolation=cv2.INTER_LINEAR)
    specials = rng.random((height, width))
    depth[specials < 0.01] = np.nan
    depth[(specials >= 0.01) & (specials < 0.015)] = 0.0
    depth[(specials >= 0.015) & (specials < 0.02)] = -1.0
    stride = 2 if width >= 320 else 1
    for angle in (70.0, 80.0):
        got = edge_mask(depth, camera, angle, dilate=0)
        want = _edge_mask_reference(depth, camera, angle, stride)
        # float32 against float64: only pixels within rounding of the threshold may differ
        assert (got != want).mean() < 1e-3, angle
        assert want.sum() > 100 and not got[~(depth > 0)].any()


def test_temporal_filter_converges_on_a_static_scene():
    rng = np.random.default_rng(0)
    truth = box_scene()
    filt = TemporalFilter(alpha=0.3, delta=0.1)
    for i in range(30):
        noisy = truth * (1.0 + rng.normal(0.0, 0.01, truth.shape)).astype(np.float32)
        out = filt(noisy, "cam", i / 30.0)
    raw_err = np.abs(noisy - truth).mean()
    out_err = np.abs(out - truth).mean()
    assert out_err < 0.6 * raw_err, (out_err, raw_err)


def test_temporal_filter_does_not_smear_a_moved_object_beyond_delta():
    filt = TemporalFilter(alpha=0.2, delta=0.05)
    for i in range(10):
        filt(box_scene(), "cam", i / 30.0)
    moved = box_scene(left=300, right=460)  # the box moved 60 px to the right
    out = filt(moved, "cam", 10 / 30.0)
    # every pixel is within delta of the new frame; the changed ones are the new frame
    assert np.all(np.abs(out - moved) <= 0.05 * moved + 1e-6)
    changed = box_scene() != moved
    np.testing.assert_array_equal(out[changed], moved[changed])


def test_temporal_filter_resets_on_frame_size_and_gap():
    filt = TemporalFilter(alpha=0.2, delta=0.5, reset_gap=0.5)
    a = np.full((4, 4), 2.0, np.float32)
    b = np.full((4, 4), 2.2, np.float32)
    filt(a, "cam", 0.0)
    assert filt(b, "cam", 0.1)[0, 0] == pytest.approx(2.04)  # smoothed
    filt(a, "cam", 0.2)
    np.testing.assert_array_equal(filt(b, "other", 0.3), b)  # new frame_id
    filt(a, "other", 0.4)
    np.testing.assert_array_equal(filt(b, "other", 2.0), b)  # gap
    filt(a, "other", 2.1)
    np.testing.assert_array_equal(filt(np.full((2, 2), 2.2, np.float32), "other", 2.2),
                                  np.full((2, 2), 2.2, np.float32))  # new size
    filt(a, "other", 2.3)
    filt.reset()
    np.testing.assert_array_equal(filt(b, "other", 2.4), b)


def test_scale_stabilizer_removes_an_injected_scale_jump():
    stab = ScaleStabilizer(alpha=0.3)
    truth = box_scene()
    gains = [1.0] * 10 + [1.15] + [1.0] * 20  # one frame reads 15 % far
    medians = []
    for i, g in enumerate(gains):
        out = stab(truth * np.float32(g), "cam", i / 30.0)
        medians.append(float(np.nanmedian(out)))
    raw_jump = 0.15
    jump = medians[10] / medians[9] - 1.0
    assert abs(jump) < 0.35 * raw_jump, jump
    # and it returns to the network's own scale within a few frames
    assert medians[-1] == pytest.approx(float(np.median(truth)), rel=1e-3)


def test_scale_stabilizer_follows_a_lasting_scale_change():
    stab = ScaleStabilizer(alpha=0.3)
    truth = box_scene()
    for i in range(40):
        out = stab(truth * np.float32(1.0 if i < 10 else 1.2), "cam", i / 30.0)
    assert np.nanmedian(out) == pytest.approx(1.2 * np.median(truth), rel=1e-3)


def test_filters_on_the_native_output_size():
    small = CameraIntrinsics(120.0, 120.0, 73.0, 54.0, 147, 109)
    depth = cv2.resize(box_scene(), (147, 109), interpolation=cv2.INTER_LINEAR)
    out = DepthFilters()(depth, small).depth
    assert out.shape == depth.shape and np.isnan(out).any() and np.isfinite(out).mean() > 0.7


def test_mount_maps_the_optical_axis_to_the_parents_x_for_a_level_camera():
    transform = mount_transform(Mount("base_link", 0.2, 0.0, 0.5), "camera_optical_frame")
    assert (transform.parent, transform.child) == ("base_link", "camera_optical_frame")
    assert transform.translation == (0.2, 0.0, 0.5)
    q = transform.rotation
    np.testing.assert_allclose(rotate_vector(q, (0.0, 0.0, 1.0)), (1.0, 0.0, 0.0), atol=1e-12)
    np.testing.assert_allclose(rotate_vector(q, (1.0, 0.0, 0.0)), (0.0, -1.0, 0.0), atol=1e-12)
    np.testing.assert_allclose(rotate_vector(q, (0.0, 1.0, 0.0)), (0.0, 0.0, -1.0), atol=1e-12)
    # REP 103: positive yaw looks left, positive pitch looks down
    left = mount_transform(Mount(yaw=math.pi / 2), "c").rotation
    np.testing.assert_allclose(rotate_vector(left, (0.0, 0.0, 1.0)), (0.0, 1.0, 0.0),
                               atol=1e-12)
    down = mount_transform(Mount(pitch=0.3), "c").rotation
    np.testing.assert_allclose(rotate_vector(down, (0.0, 0.0, 1.0)),
                               (math.cos(0.3), 0.0, -math.sin(0.3)), atol=1e-12)


def test_quaternion_from_rpy_matches_the_rotation_matrices():
    roll, pitch, yaw = 0.3, -0.2, 1.1
    cr, sr, cp, sp, cy, sy = (math.cos(roll), math.sin(roll), math.cos(pitch),
                              math.sin(pitch), math.cos(yaw), math.sin(yaw))
    rx = np.array([[1, 0, 0], [0, cr, -sr], [0, sr, cr]])
    ry = np.array([[cp, 0, sp], [0, 1, 0], [-sp, 0, cp]])
    rz = np.array([[cy, -sy, 0], [sy, cy, 0], [0, 0, 1]])
    matrix = rz @ ry @ rx
    q = quaternion_from_rpy(roll, pitch, yaw)
    for axis in np.eye(3):
        np.testing.assert_allclose(rotate_vector(q, tuple(axis)), matrix @ axis, atol=1e-12)


def test_mount_is_merged_with_the_scan_and_range_frames():
    mount = mount_transform(Mount(x=0.1), "cam")
    transforms = static_transforms("cam", True, "", True, 2, 0.4, mount)
    assert transforms[0] == mount
    assert [t.child for t in transforms] == ["cam", "cam_scan", "cam_range_0", "cam_range_1"]


def _voxel_keys(points: np.ndarray, size: float) -> np.ndarray:
    return np.floor(points / size).astype(np.int64)


def test_voxel_cloud_has_one_point_per_occupied_voxel():
    depth = DepthFilters()(smeared(box_scene()), CAMERA).depth  # as the node gives it
    depth += 0.013  # the faces off voxel boundaries (exactly on one, rounding splits them)
    depth[100:110] = np.nan
    for size in (0.05, 0.2):
        points = voxel_points(depth, CAMERA, size, 0.1, 10.0)
        assert points.dtype == np.float32 and points.shape[1] == 3
        keys = _voxel_keys(points, size)
        assert len(np.unique(keys, axis=0)) == len(points)  # no voxel twice
        full = backproject(depth, CAMERA, 1, 0.1, 10.0).reshape(-1, 3)
        full = full[np.isfinite(full[:, 2])]
        occupied = {tuple(k) for k in _voxel_keys(full, size)}
        ours = {tuple(k) for k in keys}
        assert ours <= occupied
        assert len(ours) > 0.9 * len(occupied), (size, len(ours), len(occupied))


def test_voxel_cloud_range_and_bad_size():
    depth = box_scene()
    points = voxel_points(depth, CAMERA, 0.1, 0.1, 2.0)  # the wall is beyond 2 m
    assert np.all(points[:, 2] <= 2.0) and len(points) > 0
    assert voxel_points(np.full((H, W), np.nan, np.float32), CAMERA, 0.1).shape == (0, 3)
    with pytest.raises(ValueError, match="Voxel size"):
        voxel_points(depth, CAMERA, 0.0)


def test_fast_median_is_numpys_bit_for_bit() -> None:
    from depth_estimation_ros.core.filters import _median

    rng = np.random.default_rng(1)
    for n in (1, 2, 3, 4, 11, 777, 19_200, 19_201):
        for k in range(20):
            x = (rng.random(n) * rng.choice([1e-3, 1.0, 1e3])).astype(np.float32)
            if k % 4 == 0:
                x[: n // 2] = x[0]  # ties at the middle
            assert _median(x.copy()) == float(np.median(x)), (n, k)
