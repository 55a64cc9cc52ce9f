"""ROS 2 DDS message types: names, layout, type hashes, CDR bytes vs rosbags, speed."""

import time

import numpy as np
import pytest
from cyclonedds.idl._main import get_idl_annotations
from rosbags.typesys import Stores, get_typestore

from depth_estimation_ros.dds import messages as m

JAZZY = get_typestore(Stores.ROS2_JAZZY)
HUMBLE = get_typestore(Stores.ROS2_HUMBLE)
R = JAZZY.types


def _dds_name(ros_name: str) -> str:
    pkg, sub, name = ros_name.split("/")
    return f"{pkg}::{sub}::dds_::{name}_"


@pytest.mark.parametrize("cls", m.MESSAGE_TYPES, ids=lambda c: c.__name__)
def test_dds_type_name_fields_final_keyless(cls: type) -> None:
    ros_name = m.ros_type_name(cls)
    assert cls.__idl__.idl_transformed_typename == _dds_name(ros_name)
    assert get_idl_annotations(cls)["extensibility"] == "final"
    cls.__idl__.populate()
    assert cls.__idl__.keyless
    ours = list(cls.__dataclass_fields__)
    theirs = [name for name, _ in JAZZY.fielddefs[ros_name][1]]
    assert ours == theirs


@pytest.mark.parametrize("cls", m.MESSAGE_TYPES, ids=lambda c: c.__name__)
def test_type_hash_matches_rosbags_jazzy_and_humble(cls: type) -> None:
    ros_name = m.ros_type_name(cls)
    assert m.type_hash(cls) == JAZZY.hash_rihs01(ros_name)
    if cls is m.Range:  # Humble's Range has no variance field, so another hash
        assert m.type_hash(m.RangeHumble) == HUMBLE.hash_rihs01(ros_name) != m.type_hash(cls)
    else:
        assert m.type_hash(cls) == HUMBLE.hash_rihs01(ros_name)
    assert m.type_hash(cls).startswith("RIHS01_") and len(m.type_hash(cls)) == 7 + 64


def test_constants() -> None:
    assert (m.PointField.INT8, m.PointField.FLOAT32, m.PointField.FLOAT64) == (1, 7, 8)
    assert (m.DiagnosticStatus.OK, m.DiagnosticStatus.STALE) == (0, 3)
    assert "FLOAT32" not in m.PointField.__dataclass_fields__


def _header(ours: bool):
    if ours:
        return m.Header(stamp=m.Time(sec=1_700_000_000, nanosec=123_456_789), frame_id="cam")
    return R["std_msgs/msg/Header"](
        stamp=R["builtin_interfaces/msg/Time"](sec=1_700_000_000, nanosec=123_456_789),
        frame_id="cam",
    )


def _same_cdr(ours: object, theirs: object, ros_name: str) -> bytes:
    a = ours.serialize(use_version_2=False)
    b = bytes(JAZZY.serialize_cdr(theirs, ros_name))
    assert a[:4] == b"\x00\x01\x00\x00"  # plain CDR (XCDR1), little endian
    assert a == b
    return a


def test_image_cdr_identical_to_rosbags_and_round_trips() -> None:
    rng = np.random.default_rng(0)
    data = rng.integers(0, 256, size=(7, 3 * 5 + 3), dtype=np.uint8)  # padded rows (step 18)
    ours = m.Image(header=_header(True), height=7, width=5, encoding="rgb8", step=18,
                   data=data)
    theirs = R["sensor_msgs/msg/Image"](
        header=_header(False), height=7, width=5, encoding="rgb8", is_bigendian=0, step=18,
        data=data.reshape(-1),
    )
    raw = _same_cdr(ours, theirs, "sensor_msgs/msg/Image")
    back = m.Image.deserialize(raw)
    assert isinstance(back.data, bytes) and back.data == data.tobytes()
    assert back.header == ours.header and back.step == 18 and back.encoding == "rgb8"
    parsed = JAZZY.deserialize_cdr(raw, "sensor_msgs/msg/Image")
    assert np.array_equal(parsed.data, data.reshape(-1))


def test_camera_info_cdr_identical_to_rosbags() -> None:
    k = [500.0, 0.0, 320.5, 0.0, 501.0, 240.25, 0.0, 0.0, 1.0]
    r = [1.0, 0, 0, 0, 1.0, 0, 0, 0, 1.0]
    p = [500.0, 0.0, 320.5, 0.0, 0.0, 501.0, 240.25, 0.0, 0.0, 0.0, 1.0, 0.0]
    d = [0.1, -0.2, 0.001, 0.002, 0.0]
    ours = m.CameraInfo(
        header=_header(True), height=480, width=640, distortion_model="plumb_bob", d=d, k=k,
        r=[float(x) for x in r], p=p, binning_x=1, binning_y=2,
        roi=m.RegionOfInterest(x_offset=1, y_offset=2, height=3, width=4, do_rectify=True),
    )
    theirs = R["sensor_msgs/msg/CameraInfo"](
        header=_header(False), height=480, width=640, distortion_model="plumb_bob",
        d=np.array(d), k=np.array(k), r=np.array(r, dtype=np.float64), p=np.array(p),
        binning_x=1, binning_y=2,
        roi=R["sensor_msgs/msg/RegionOfInterest"](
            x_offset=1, y_offset=2, height=3, width=4, do_rectify=True),
    )
    raw = _same_cdr(ours, theirs, "sensor_msgs/msg/CameraInfo")
    assert m.CameraInfo.deserialize(raw) == ours


def test_pointcloud2_cdr_identical_to_rosbags() -> None:
    names = [("x", 0), ("y", 4), ("z", 8), ("rgb", 16)]
    pts = np.random.default_rng(1).random((2, 3, 8)).astype(np.float32)  # point_step 32
    ours = m.PointCloud2(
        header=_header(True), height=2, width=3,
        fields=[m.PointField(name=n, offset=o, datatype=m.PointField.FLOAT32, count=1)
                for n, o in names],
        is_bigendian=False, point_step=32, row_step=96, data=pts.view(np.uint8),
        is_dense=False,
    )
    theirs = R["sensor_msgs/msg/PointCloud2"](
        header=_header(False), height=2, width=3,
        fields=[R["sensor_msgs/msg/PointField"](name=n, offset=o, datatype=7, count=1)
                for n, o in names],
        is_bigendian=False, point_step=32, row_step=96, data=pts.view(np.uint8).reshape(-1),
        is_dense=False,
    )
    raw = _same_cdr(ours, theirs, "sensor_msgs/msg/PointCloud2")
    back = m.PointCloud2.deserialize(raw)
    assert np.array_equal(np.frombuffer(back.data, np.float32).reshape(2, 3, 8), pts)
    assert [f.name for f in back.fields] == ["x", "y", "z", "rgb"]


def test_compressed_image_and_diagnostics_cdr_identical_to_rosbags() -> None:
    payload = bytes(range(13))
    _same_cdr(
        m.CompressedImage(header=_header(True), format="jpeg", data=payload),
        R["sensor_msgs/msg/CompressedImage"](
            header=_header(False), format="jpeg", data=np.frombuffer(payload, np.uint8)),
        "sensor_msgs/msg/CompressedImage",
    )
    ours = m.DiagnosticArray(header=_header(True), status=[m.DiagnosticStatus(
        level=m.DiagnosticStatus.WARN, name="depth: rate", message="slow", hardware_id="cpu",
        values=[m.KeyValue(key="hz", value="3.5")])])
    theirs = R["diagnostic_msgs/msg/DiagnosticArray"](header=_header(False), status=[
        R["diagnostic_msgs/msg/DiagnosticStatus"](
            level=1, name="depth: rate", message="slow", hardware_id="cpu",
            values=[R["diagnostic_msgs/msg/KeyValue"](key="hz", value="3.5")])])
    raw = _same_cdr(ours, theirs, "diagnostic_msgs/msg/DiagnosticArray")
    assert m.DiagnosticArray.deserialize(raw) == ours


def test_byte_field_accepts_all_byte_like_inputs_identically() -> None:
    arr = np.arange(24, dtype=np.uint8).reshape(4, 6)
    expected = m.Image(height=4, width=6, encoding="mono8", step=6,
                       data=arr.tobytes()).serialize()
    inputs = [bytearray(arr.tobytes()), memoryview(arr.tobytes()), arr, arr.reshape(-1).tolist(),
              np.asfortranarray(arr), memoryview(arr)]
    for value in inputs:
        msg = m.Image(height=4, width=6, encoding="mono8", step=6, data=value)
        assert msg.serialize() == expected, type(value)
    # A non-contiguous view (every other column of a wider array) is copied correctly.
    wide = np.zeros((4, 12), np.uint8)
    wide[:, ::2] = arr
    assert m.Image(height=4, width=6, encoding="mono8", step=6,
                   data=wide[:, ::2]).serialize() == expected


def test_byte_field_rejects_wrong_dtype_and_types() -> None:
    with pytest.raises(TypeError, match="Image.data.*dtype float32"):
        m.Image(data=np.zeros(4, np.float32)).serialize()
    with pytest.raises(TypeError, match="expected bytes"):
        m.Image(data=3.5).serialize()


def test_time_helpers() -> None:
    t = m.Time.from_nanoseconds(1_700_000_000_987_654_321)
    assert (t.sec, t.nanosec) == (1_700_000_000, 987_654_321)
    assert t.to_nanoseconds() == 1_700_000_000_987_654_321
    assert abs(t.to_seconds() - 1_700_000_000.987654321) < 1e-6
    assert abs(m.Time.now().to_seconds() - time.time()) < 5


def test_image_640x480_32fc1_serialise_deserialise_speed() -> None:
    depth = np.random.default_rng(2).random((480, 640), dtype=np.float32)
    msg = m.Image(header=_header(True), height=480, width=640, encoding="32FC1", step=2560,
                  data=depth.view(np.uint8))
    ser, de = [], []
    for _ in range(7):
        t0 = time.perf_counter()
        raw = msg.serialize(use_version_2=False)
        t1 = time.perf_counter()
        back = m.Image.deserialize(raw)
        t2 = time.perf_counter()
        ser.append(t1 - t0)
        de.append(t2 - t1)
    assert np.array_equal(np.frombuffer(back.data, np.float32).reshape(480, 640), depth)
    s_ms, d_ms = 1e3 * min(ser), 1e3 * min(de)
    print(f"\n640x480 32FC1 Image ({len(raw)} B): serialise {s_ms:.2f} ms, "
          f"deserialise {d_ms:.2f} ms (best of 7)")
    assert s_ms < 10.0 and d_ms < 10.0


def test_byte_field_assigned_later_is_still_checked_at_serialisation() -> None:
    msg = m.PointCloud2()
    msg.data = np.zeros(3, np.int16)
    with pytest.raises(Exception, match="Failed to encode member data") as info:
        msg.serialize()
    assert isinstance(info.value.__cause__, TypeError)


@pytest.mark.parametrize("cls", [m.Image, m.CompressedImage, m.PointCloud2],
                         ids=lambda c: c.__name__)
def test_byte_fields_use_the_one_copy_machine_and_keep_xtypes_info(cls: type) -> None:
    # What messages.py relies on in cyclonedds-python 11.0.1 (see its module docstring).
    idl = cls.__idl__
    for machine in (idl.v1_machine, idl.v2_machine):
        assert type(machine.members_machines["data"]).__name__ == "_OctetSequenceMachine"
    idl.fill_type_data()  # XTypes type information still builds (declared sequence<uint8>)
    assert idl.get_type_info() is not None


def _stock_padded(msg, use_version_2: bool) -> bytes:
    """What ``DataWriter.write`` sends: ``serialize()``, zero-padded to a multiple of 4."""
    raw = msg.serialize(use_version_2=use_version_2)
    return raw.ljust((len(raw) + 3) & ~3, b"\0")


def _payload_messages(n: int, frame_id: str) -> list:
    data = np.random.default_rng(n).integers(0, 256, n, dtype=np.uint8)
    header = m.Header(stamp=m.Time(sec=3, nanosec=4), frame_id=frame_id)
    return [
        m.Image(header=header, height=1, width=n, encoding="mono8", step=n, data=data),
        m.CompressedImage(header=header, format="png", data=data.tobytes()),
        m.PointCloud2(header=header, height=1, width=n, point_step=1, row_step=n,
                      fields=[m.PointField(name="i", offset=0, datatype=2, count=1)],
                      data=data, is_dense=True),
    ]


@pytest.mark.parametrize("use_version_2", [False, True])
def test_payload_encoder_bytes_identical_to_stock_writer(use_version_2: bool) -> None:
    encoder = m.PayloadEncoder()
    # every payload length modulo 4 and every frame_id length modulo 4 (alignment of the
    # fields around the payload), largest first so later messages reuse a dirtier buffer
    for n in (1003, 64, 7, 6, 5, 4, 1, 0):
        for frame_id in ("", "c", "ca", "cam", "cam_optical_frame"):
            for msg in _payload_messages(n, frame_id):
                got = encoder.encode(msg, use_version_2)
                assert bytes(got) == _stock_padded(msg, use_version_2), (type(msg), n, frame_id)
                assert len(got) % 4 == 0


def test_payload_encoder_takes_strided_arrays_and_rejects_other_types() -> None:
    wide = np.arange(48, dtype=np.uint8).reshape(4, 12)
    msg = m.Image(height=4, width=6, encoding="mono8", step=6, data=wide[:, ::2])
    expected = m.Image(height=4, width=6, encoding="mono8", step=6,
                       data=wide[:, ::2].tobytes())
    assert bytes(m.PayloadEncoder().encode(msg)) == _stock_padded(expected, False)
    assert not m.PayloadEncoder.supports(m.CameraInfo)
    with pytest.raises(TypeError, match="got CameraInfo"):
        m.PayloadEncoder().encode(m.CameraInfo())
    with pytest.raises(TypeError, match="dtype int16"):
        m.PayloadEncoder().encode(m.Image(data=np.zeros(3, np.int16)))


def test_payload_encoder_reuses_its_buffer_for_a_coloured_cloud() -> None:
    # 640x480 x 32 B, the node's default cloud: the second encode writes into the pages the
    # first one mapped (that, not the arithmetic, is what makes it fast; see bench/packing.py)
    rng = np.random.default_rng(0)
    base = _payload_messages(0, "camera_color_optical_frame")[2]
    encoder = m.PayloadEncoder()
    views = []
    for _ in range(2):
        msg = m.PointCloud2(header=base.header, height=480, width=640, point_step=32,
                            row_step=640 * 32, fields=base.fields,
                            data=rng.integers(0, 256, 480 * 640 * 32, dtype=np.uint8))
        views.append(encoder.encode(msg))
        assert bytes(views[-1]) == _stock_padded(msg, False)
    assert views[0].obj is views[1].obj


@pytest.mark.parametrize("distro,store,size", [("jazzy", JAZZY, 16), ("iron", JAZZY, 16),
                                               ("humble", HUMBLE, 24)])
def test_graph_messages_cdr_identical_to_rosbags(distro: str, store, size: int) -> None:
    gid_cls, node_cls, info_cls = m.graph_types(distro)
    ros = "rmw_dds_common/msg/"
    assert [name for name, _ in store.fielddefs[ros + "Gid"][1]] == ["data"]
    assert store.fielddefs[ros + "Gid"][1][0][1][1][1] == size  # char[size]
    for cls, name in ((gid_cls, "Gid"), (node_cls, "NodeEntitiesInfo"),
                      (info_cls, "ParticipantEntitiesInfo")):
        assert cls.__idl__.idl_transformed_typename == _dds_name(ros + name)
        assert list(cls.__dataclass_fields__) == [f for f, _ in store.fielddefs[ros + name][1]]
    guids = [bytes(range(i, i + 16)) for i in (1, 40, 90)]
    pad = bytes(size - 16)
    ours = info_cls(gid=gid_cls(data=guids[0] + pad), node_entities_info_seq=[
        node_cls(node_namespace="/robot", node_name="depth_estimation_node",
                 reader_gid_seq=[gid_cls(data=guids[1] + pad)],
                 writer_gid_seq=[gid_cls(data=guids[2] + pad), gid_cls(data=guids[0] + pad)])])
    T = store.types

    def gid(raw: bytes):
        return T[ros + "Gid"](data=np.frombuffer(raw + pad, np.uint8))

    theirs = T[ros + "ParticipantEntitiesInfo"](gid=gid(guids[0]), node_entities_info_seq=[
        T[ros + "NodeEntitiesInfo"](node_namespace="/robot", node_name="depth_estimation_node",
                                    reader_gid_seq=[gid(guids[1])],
                                    writer_gid_seq=[gid(guids[2]), gid(guids[0])])])
    raw = ours.serialize(use_version_2=False)
    assert raw == bytes(store.serialize_cdr(theirs, ros + "ParticipantEntitiesInfo"))
    back = info_cls.deserialize(raw)
    assert bytes(back.node_entities_info_seq[0].writer_gid_seq[0].data) == guids[2] + pad


def test_graph_types_follow_ros_distro(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ROS_DISTRO", "humble")
    assert m.graph_types()[0] is m.GidHumble
    monkeypatch.setenv("ROS_DISTRO", "jazzy")
    assert m.graph_types()[0] is m.Gid
    monkeypatch.delenv("ROS_DISTRO")
    assert m.graph_types()[2] is m.ParticipantEntitiesInfo
    assert m.type_hash(m.ParticipantEntitiesInfo) == JAZZY.hash_rihs01(
        "rmw_dds_common/msg/ParticipantEntitiesInfo")


def test_laser_scan_cdr_identical_to_rosbags_with_rep117_values() -> None:
    ranges = np.array([1.25, np.inf, -np.inf, np.nan, 0.5], np.float32)
    kw = dict(angle_min=-0.5, angle_max=0.5, angle_increment=0.25, time_increment=0.0,
              scan_time=0.2, range_min=0.45, range_max=10.0)
    theirs = R["sensor_msgs/msg/LaserScan"](header=_header(False), ranges=ranges,
                                            intensities=np.zeros(0, np.float32), **kw)
    for value in (ranges, ranges.tolist()):  # numpy arrays and lists encode alike
        raw = _same_cdr(m.LaserScan(header=_header(True), ranges=value, **kw), theirs,
                        "sensor_msgs/msg/LaserScan")
    back = m.LaserScan.deserialize(raw)
    assert np.array_equal(np.array(back.ranges, np.float32), ranges, equal_nan=True)
    assert back.intensities == [] and back.scan_time == pytest.approx(0.2)


@pytest.mark.parametrize("distro,store", [("jazzy", JAZZY), ("humble", HUMBLE)])
def test_range_cdr_identical_to_rosbags_per_distro(distro: str, store) -> None:
    cls = m.range_type(distro)
    ros = "sensor_msgs/msg/Range"
    assert list(cls.__dataclass_fields__) == [f for f, _ in store.fielddefs[ros][1]]
    assert cls.__idl__.idl_transformed_typename == _dds_name(ros)
    assert (cls.ULTRASOUND, cls.INFRARED) == (0, 1)
    assert "ULTRASOUND" not in cls.__dataclass_fields__
    kw = dict(radiation_type=cls.INFRARED, field_of_view=0.3, min_range=0.1, max_range=4.0,
              range=float("inf"))
    theirs = (store.types[ros](header=_header(False), variance=0.0, **kw) if distro == "jazzy"
              else store.types[ros](header=_header(False), **kw))
    raw = cls(header=_header(True), **kw).serialize(use_version_2=False)
    assert raw == bytes(store.serialize_cdr(theirs, ros))
    assert cls.deserialize(raw).range == float("inf")


def test_range_type_follows_ros_distro(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ROS_DISTRO", "humble")
    assert m.range_type() is m.RangeHumble
    monkeypatch.setenv("ROS_DISTRO", "jazzy")
    assert m.range_type() is m.Range
    monkeypatch.delenv("ROS_DISTRO")
    assert m.range_type() is m.Range and "variance" in m.Range.__dataclass_fields__


def test_tf_message_cdr_identical_to_rosbags() -> None:
    def ours(child: str, q: tuple[float, ...]) -> m.TransformStamped:
        return m.TransformStamped(
            header=_header(True), child_frame_id=child,
            transform=m.Transform(translation=m.Vector3(x=0.1, y=-0.2, z=0.3),
                                  rotation=m.Quaternion(x=q[0], y=q[1], z=q[2], w=q[3])))

    def theirs(child: str, q: tuple[float, ...]):
        return R["geometry_msgs/msg/TransformStamped"](
            header=_header(False), child_frame_id=child,
            transform=R["geometry_msgs/msg/Transform"](
                translation=R["geometry_msgs/msg/Vector3"](x=0.1, y=-0.2, z=0.3),
                rotation=R["geometry_msgs/msg/Quaternion"](x=q[0], y=q[1], z=q[2], w=q[3])))

    q = (0.5, -0.5, 0.5, 0.5)
    raw = _same_cdr(
        m.TFMessage(transforms=[ours("cam_scan", q), ours("cam_range_0", (0, 0, 0, 1))]),
        R["tf2_msgs/msg/TFMessage"](transforms=[theirs("cam_scan", q),
                                                theirs("cam_range_0", (0, 0, 0, 1))]),
        "tf2_msgs/msg/TFMessage")
    back = m.TFMessage.deserialize(raw)
    assert [tf.child_frame_id for tf in back.transforms] == ["cam_scan", "cam_range_0"]
    assert m.Quaternion() == m.Quaternion(x=0.0, y=0.0, z=0.0, w=1.0)  # the .msg's identity
