"""Headroom storage: layout, locating payload views, and in-place DDS encoding."""

import numpy as np
import pytest

from depth_estimation_ros.core import headroom
from depth_estimation_ros.dds import messages as m


def test_layout_alignment_and_span() -> None:
    fs = headroom.allocate([12, 40])
    a, b = fs.payloads
    base = fs.storage.ctypes.data
    assert a.ctypes.data - base == headroom.HEADROOM
    assert b.ctypes.data - (a.ctypes.data + a.nbytes) == headroom.HEADROOM
    assert fs.storage.nbytes - (b.ctypes.data - base + b.nbytes) == headroom.TAILROOM
    assert fs.span.ctypes.data == a.ctypes.data and fs.span.nbytes == 12 + headroom.HEADROOM + 40
    assert all(p.ctypes.data % 4 == 0 for p in fs.payloads)
    with pytest.raises(ValueError, match="multiples of 4"):
        headroom.allocate([6])
    with pytest.raises(ValueError, match="at least one"):
        headroom.allocate([])


def test_locate_follows_views_and_ignores_foreign_memory() -> None:
    fs = headroom.allocate([64, 32 * 6])
    records = fs.payloads[1].view(np.float32).reshape(2, 3, 8)
    for view in (records, records.reshape(-1).view(np.uint8), memoryview(records.reshape(-1))):
        storage, offset = headroom.locate(view)
        assert storage is fs.storage and offset == 2 * headroom.HEADROOM + 64
    inner = fs.payloads[0][8:24]
    assert headroom.locate(inner)[1] == headroom.HEADROOM + 8
    assert headroom.locate(records[:, ::2]) is None  # not contiguous
    assert headroom.locate(np.zeros(64, np.uint8)) is None  # not registered
    assert headroom.locate(bytearray(8)) is None and headroom.locate(b"x") is None
    with pytest.raises(ValueError, match="writable 1-D"):
        headroom.register(np.zeros((2, 2), np.uint8))


def _cloud_msg(data: np.ndarray, frame_id: str) -> m.PointCloud2:
    return m.PointCloud2(
        header=m.Header(stamp=m.Time(sec=5, nanosec=6), frame_id=frame_id), height=1,
        width=data.size // 32, point_step=32, row_step=data.size,
        fields=[m.PointField(name="x", offset=0, datatype=7, count=1)],
        data=memoryview(data), is_dense=False)


def _stock(msg) -> bytes:
    raw = msg.serialize(use_version_2=False)
    return raw.ljust((len(raw) + 3) & ~3, b"\0")


@pytest.mark.parametrize("frame_id", ["", "cam", "camera_color_optical_frame"])
def test_payload_in_headroom_is_encoded_in_place(frame_id: str) -> None:
    fs = headroom.allocate([32 * 10, 32 * 7])
    rng = np.random.default_rng(0)
    for p in fs.payloads:
        p[:] = rng.integers(0, 256, p.size, dtype=np.uint8)
    before = [p.copy() for p in fs.payloads]
    encoder = m.PayloadEncoder()
    for p in fs.payloads:
        msg = _cloud_msg(p, frame_id)
        out = encoder.encode(msg)
        assert bytes(out) == _stock(msg)
        # the CDR view is the storage itself around the payload: no copy was made
        assert np.shares_memory(np.frombuffer(out, np.uint8), fs.storage)
    assert encoder.in_place == 2
    for p, b in zip(fs.payloads, before, strict=True):  # payload bytes untouched
        np.testing.assert_array_equal(p, b)
    image = m.Image(header=m.Header(frame_id=frame_id), height=10, width=8, encoding="32FC1",
                    step=32, data=fs.payloads[0])
    assert bytes(encoder.encode(image)) == _stock(image) and encoder.in_place == 3


def test_too_little_headroom_falls_back_to_a_copy() -> None:
    fs = headroom.allocate([64])
    msg = _cloud_msg(fs.payloads[0], "f" * (headroom.HEADROOM + 10))  # header does not fit
    encoder = m.PayloadEncoder()
    out = encoder.encode(msg)
    assert bytes(out) == _stock(msg) and encoder.in_place == 0
    assert not np.shares_memory(np.frombuffer(out, np.uint8), fs.storage)
