"""Tests for depth_estimation_ros.core.pointcloud: PointCloud2 byte layout and round trips."""

from __future__ import annotations

import math
import struct

import numpy as np
import pytest

from depth_estimation_ros.core.camera import CameraIntrinsics, backproject
from depth_estimation_ros.core.pointcloud import (
    FLOAT32,
    FLOAT64,
    INT16,
    UINT8,
    UINT32,
    XYZ_FIELDS,
    XYZ_POINT_STEP,
    XYZRGB_FIELDS,
    XYZRGB_POINT_STEP,
    CloudBuffer,
    PointCloudError,
    PointFieldSpec,
    cloud_from_records,
    dtype_from_fields,
    pack_cloud,
    pack_rgb,
    unpack_cloud,
    unpack_rgb,
)

_NAN_BITS = struct.pack("<f", math.nan)


def _grid(height: int = 3, width: int = 4, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    xyz = rng.normal(size=(height, width, 3)).astype(np.float32)
    xyz[0, 1] = np.nan  # an invalid point
    rgb = rng.integers(0, 256, size=(height, width, 3), dtype=np.uint8)
    return xyz, rgb


def _reference_bytes(xyz: np.ndarray, rgb: np.ndarray | None) -> bytes:
    """The per-point struct.pack loop that depth_image_proc's layout describes."""
    out = bytearray()
    for v in range(xyz.shape[0]):
        for u in range(xyz.shape[1]):
            x, y, z = (float(c) for c in xyz[v, u])
            if rgb is None:
                out += struct.pack("<fff4x", x, y, z)
            else:
                r, g, b = (int(c) for c in rgb[v, u])
                packed = struct.unpack("<f", struct.pack("<I", (r << 16) | (g << 8) | b))[0]
                out += struct.pack("<fff4xf12x", x, y, z, packed)
    return bytes(out)


def test_field_layouts_match_depth_image_proc() -> None:
    assert [(f.name, f.offset, f.datatype, f.count) for f in XYZ_FIELDS] == [
        ("x", 0, FLOAT32, 1),
        ("y", 4, FLOAT32, 1),
        ("z", 8, FLOAT32, 1),
    ]
    assert XYZRGB_FIELDS[:3] == XYZ_FIELDS
    assert XYZRGB_FIELDS[3] == PointFieldSpec("rgb", 16, FLOAT32, 1)
    assert (XYZ_POINT_STEP, XYZRGB_POINT_STEP) == (16, 32)
    assert FLOAT32 == 7 and FLOAT64 == 8 and UINT8 == 2


def test_pack_xyz_bytes_field_by_field() -> None:
    xyz, _ = _grid()
    cloud = pack_cloud(xyz)
    assert isinstance(cloud, CloudBuffer)
    assert (cloud.height, cloud.width) == (3, 4)
    assert cloud.point_step == 16 and cloud.row_step == 64
    assert cloud.is_bigendian is False and cloud.is_dense is False
    assert cloud.fields == XYZ_FIELDS
    data = cloud.data
    assert data.dtype == np.uint8 and data.ndim == 1 and data.flags.c_contiguous
    assert data.size == 3 * 4 * 16
    raw = data.tobytes()
    for v in range(3):
        for u in range(4):
            start = (v * 4 + u) * 16
            point = raw[start : start + 16]
            if np.isnan(xyz[v, u]).all():
                assert point[0:4] == point[4:8] == point[8:12] == _NAN_BITS
            else:
                assert point[0:4] == struct.pack("<f", xyz[v, u, 0])
                assert point[4:8] == struct.pack("<f", xyz[v, u, 1])
                assert point[8:12] == struct.pack("<f", xyz[v, u, 2])
            assert point[12:16] == b"\0\0\0\0"  # padding is zero


def test_pack_rgb_byte_order_is_b_g_r_0() -> None:
    xyz = np.zeros((1, 2, 3), np.float32)
    rgb = np.array([[[0x11, 0x22, 0x33], [255, 0, 128]]], dtype=np.uint8)
    cloud = pack_cloud(xyz, rgb)
    raw = cloud.data.tobytes()
    assert cloud.point_step == 32 and cloud.row_step == 64 and cloud.fields == XYZRGB_FIELDS
    assert raw[16:20] == bytes([0x33, 0x22, 0x11, 0])
    assert raw[32 + 16 : 32 + 20] == bytes([128, 0, 255, 0])
    assert raw[20:32] == bytes(12) and raw[12:16] == bytes(4)
    np.testing.assert_array_equal(pack_rgb(rgb)[0], [0x112233, 0xFF0080])


def test_round_trip_organised_with_and_without_colour() -> None:
    xyz, rgb = _grid(5, 7)
    for colours in (None, rgb):
        cloud = pack_cloud(xyz, colours)
        points = unpack_cloud(
            cloud.data.tobytes(), cloud.fields, cloud.point_step, cloud.width, cloud.height
        )
        assert points.shape == (5, 7)
        for axis, name in enumerate("xyz"):
            np.testing.assert_array_equal(points[name], xyz[..., axis])  # NaN == NaN here
        if colours is not None:
            assert points["rgb"].dtype == np.dtype("<f4")
            np.testing.assert_array_equal(unpack_rgb(points["rgb"]), rgb)


@pytest.mark.parametrize("with_rgb", [False, True])
def test_pack_matches_reference_struct_loop(with_rgb: bool) -> None:
    xyz, rgb = _grid(4, 6, seed=3)
    cloud = pack_cloud(xyz, rgb if with_rgb else None)
    assert cloud.data.tobytes() == _reference_bytes(xyz, rgb if with_rgb else None)


def test_backprojected_depth_packs_nan_for_invalid_pixels() -> None:
    cam = CameraIntrinsics(fx=10.0, fy=10.0, cx=1.5, cy=1.0, width=4, height=3)
    depth = np.full((3, 4), 2.0, np.float32)
    depth[1, 2] = 0.0
    cloud = pack_cloud(backproject(depth, cam))
    points = unpack_cloud(cloud.data, cloud.fields, 16, 4, 3)
    assert np.isnan(points["x"][1, 2]) and np.isnan(points["z"][1, 2])
    assert points["z"][0, 0] == 2.0 and points["x"][0, 0] == pytest.approx(-0.3)


def test_unpack_any_layout_big_endian_counts_and_row_padding() -> None:
    fields = [
        PointFieldSpec("intensity", 0, FLOAT64),
        PointFieldSpec("ring", 8, INT16),
        PointFieldSpec("rgba", 10, UINT8, count=4),
        PointFieldSpec("t", 16, UINT32),
    ]
    height, width, point_step, row_step = 2, 3, 24, 80  # 8 bytes of row padding
    raw = bytearray(row_step * height)
    for v in range(height):
        for u in range(width):
            start = v * row_step + u * point_step
            struct.pack_into(">dh4B2xI", raw, start, v + u / 10, -u, v, u, 7, 9, 100000 + u)
    points = unpack_cloud(bytes(raw), fields, point_step, width, height, True, row_step)
    assert points.shape == (2, 3)
    assert points["intensity"][1, 2] == pytest.approx(1.2)
    np.testing.assert_array_equal(points["ring"], [[0, -1, -2], [0, -1, -2]])
    np.testing.assert_array_equal(points["rgba"][1, 2], [1, 2, 7, 9])
    np.testing.assert_array_equal(points["t"][0], [100000, 100001, 100002])
    assert not points.flags.writeable  # a view on immutable bytes
    # A list of ints (what a naive DDS binding hands over) is accepted too.
    again = unpack_cloud(list(raw), fields, point_step, width, height, True, row_step)
    np.testing.assert_array_equal(again["t"], points["t"])


def test_unpack_accepts_message_like_fields() -> None:
    class RosPointField:  # attribute-compatible with sensor_msgs/PointField
        def __init__(self, name: str, offset: int, datatype: int, count: int) -> None:
            self.name, self.offset, self.datatype, self.count = name, offset, datatype, count

    xyz, _ = _grid()
    cloud = pack_cloud(xyz)
    fields = [RosPointField(f.name, f.offset, f.datatype, f.count) for f in cloud.fields]
    points = unpack_cloud(cloud.data, fields, 16, cloud.width, cloud.height)
    np.testing.assert_array_equal(points["y"], xyz[..., 1])


def test_dtype_from_fields_offsets_and_itemsize() -> None:
    dtype = dtype_from_fields(XYZRGB_FIELDS, XYZRGB_POINT_STEP)
    assert dtype.itemsize == 32
    assert dtype.fields["rgb"][1] == 16 and dtype.fields["z"][1] == 8
    assert dtype.fields["x"][0] == np.dtype("<f4")
    assert dtype_from_fields(XYZ_FIELDS, 16, is_bigendian=True).fields["x"][0] == np.dtype(">f4")


@pytest.mark.parametrize(
    ("fields", "point_step", "match"),
    [
        ([PointFieldSpec("x", 0, 9)], 16, "datatype"),
        ([PointFieldSpec("x", 14, FLOAT32)], 16, "does not fit"),
        ([PointFieldSpec("x", 0, FLOAT32), PointFieldSpec("x", 4, FLOAT32)], 16, "unique"),
        ([PointFieldSpec("x", 0, FLOAT32, count=0)], 16, "count"),
        (XYZ_FIELDS, 0, "Point step"),
    ],
)
def test_bad_layouts_raise(fields: list[PointFieldSpec], point_step: int, match: str) -> None:
    with pytest.raises(PointCloudError, match=match):
        dtype_from_fields(fields, point_step)


def test_bad_inputs_raise() -> None:
    xyz, rgb = _grid()
    assert issubclass(PointCloudError, ValueError)
    with pytest.raises(PointCloudError, match="too short|need"):
        unpack_cloud(b"\0" * 10, XYZ_FIELDS, 16, 4, 3)
    with pytest.raises(PointCloudError, match="Row step"):
        unpack_cloud(b"\0" * 200, XYZ_FIELDS, 16, 4, 3, row_step=32)
    with pytest.raises(PointCloudError, match="grid"):
        pack_cloud(xyz.reshape(-1, 3))
    with pytest.raises(PointCloudError, match="match"):
        pack_cloud(xyz, rgb[:, :2])
    with pytest.raises(PointCloudError, match="uint8"):
        pack_cloud(xyz, rgb.astype(np.float32))


def test_cloud_from_records_wraps_without_copy_and_checks_layout() -> None:
    xyz, rgb = _grid()
    packed = pack_cloud(xyz, rgb)
    records = packed.data.view("<f4").reshape(xyz.shape[0], xyz.shape[1], 8)
    again = cloud_from_records(records, colour=True)
    assert np.shares_memory(again.data, records)
    assert again.fields == XYZRGB_FIELDS and again.row_step == 32 * xyz.shape[1]
    xyz_only = cloud_from_records(np.zeros((2, 3, 4), "<f4"), colour=False)
    assert xyz_only.fields == XYZ_FIELDS and xyz_only.data.nbytes == 2 * 3 * 16
    for bad, colour in [(records, False), (np.zeros((2, 3, 8), np.float64), True),
                        (records[:, ::2], True), (np.zeros((2, 3, 8), ">f4"), True)]:
        with pytest.raises(PointCloudError, match="C-contiguous"):
            cloud_from_records(bad, colour)
