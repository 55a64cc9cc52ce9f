"""DDS runtime over real Cyclone DDS on loopback, across processes and within one."""

import json
import os
import subprocess
import sys
import textwrap
import threading
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest
from cyclonedds._clayer import ddspy_write

from depth_estimation_ros.core import headroom
from depth_estimation_ros.dds import messages as m
from depth_estimation_ros.dds.qos import DEFAULT, SENSOR_DATA, QosError, QosProfile
from depth_estimation_ros.dds.runtime import (
    DdsNode,
    TopicNameError,
    domain_id_from_env,
    ensure_cyclonedds_uri,
    loopback_config_path,
    resolve_topic_name,
)

REPO = Path(__file__).resolve().parents[1]
RELIABLE = QosProfile(reliability="reliable", durability="volatile", depth=5)
BEST_EFFORT = QosProfile(reliability="best_effort", durability="volatile", depth=5)


@pytest.fixture(scope="module", autouse=True)
def dds_env() -> dict[str, str]:
    """A domain of our own (other test runs share this host) and the loopback config."""
    old = {k: os.environ.get(k) for k in ("ROS_DOMAIN_ID", "CYCLONEDDS_URI")}
    os.environ["ROS_DOMAIN_ID"] = str(1 + os.getpid() % 200)
    os.environ["CYCLONEDDS_URI"] = loopback_config_path().as_uri()
    yield dict(os.environ)
    for key, value in old.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


def _image_pattern(seq: int) -> np.ndarray:
    return np.random.default_rng(seq).integers(0, 256, size=(480, 640, 3), dtype=np.uint8)


def _run_child(code: str, env: dict[str, str]) -> subprocess.Popen:
    child_env = dict(env, PYTHONPATH=str(REPO) + os.pathsep + env.get("PYTHONPATH", ""))
    return subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(code)], env=child_env, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True,
    )


PUBLISHER_CHILD = """
    import sys, time
    import numpy as np
    from depth_estimation_ros.dds import messages as m
    from depth_estimation_ros.dds.qos import SENSOR_DATA
    from depth_estimation_ros.dds.runtime import DdsNode
    with DdsNode("camera_child") as node:
        pub = node.create_publisher(m.Image, "/camera/image_raw", SENSOR_DATA)
        if not pub.wait_for_subscriptions(1, timeout=30):
            sys.exit("no subscriber matched")
        for seq in range(5):
            rgb = np.random.default_rng(seq).integers(0, 256, size=(480, 640, 3), dtype=np.uint8)
            pub.publish(m.Image(
                header=m.Header(stamp=m.Time(sec=100 + seq, nanosec=7), frame_id="cam_optical"),
                height=480, width=640, encoding="rgb8", step=1920, data=rgb))
            time.sleep(0.05)
        time.sleep(0.5)
"""


def test_image_published_in_one_process_arrives_decoded_in_another(dds_env) -> None:
    received: list[m.Image] = []
    with DdsNode("listener") as node:
        sub = node.create_subscription(m.Image, "/camera/image_raw", received.append, SENSOR_DATA)
        child = _run_child(PUBLISHER_CHILD, dds_env)
        try:
            got = node.spin(until=lambda: len(received) >= 3, timeout=30)
        finally:
            out, err = child.communicate(timeout=30)
        assert child.returncode == 0, err
        assert got, f"received {len(received)} images; child stderr: {err}"
        assert sub.get_publisher_count() == 0  # the child has gone
    for msg in received:
        seq = msg.header.stamp.sec - 100
        assert msg.header.stamp.nanosec == 7 and msg.header.frame_id == "cam_optical"
        assert (msg.height, msg.width, msg.encoding, msg.step) == (480, 640, "rgb8", 1920)
        rgb = np.frombuffer(msg.data, np.uint8).reshape(480, 640, 3)
        assert np.array_equal(rgb, _image_pattern(seq))


QOS_CHILD = """
    import json, sys, time
    from depth_estimation_ros.dds import messages as m
    from depth_estimation_ros.dds.qos import QosProfile
    from depth_estimation_ros.dds.runtime import DdsNode
    rel = QosProfile(reliability="reliable", depth=5)
    be = QosProfile(reliability="best_effort", depth=5)
    got = {"be_topic_reliable": 0, "be_topic_best_effort": 0, "rel_topic_reliable": 0,
           "rel_topic_best_effort": 0}
    def count(key):
        def cb(msg):
            got[key] += 1
        return cb
    with DdsNode("qos_child") as node:
        subs = {
            f"{topic}_topic_{name}": node.create_subscription(
                m.Time, f"/qos/{topic}", count(f"{topic}_topic_{name}"), qos)
            for topic in ("be", "rel")
            for name, qos in (("reliable", rel), ("best_effort", be))
        }
        print("ready", flush=True)
        node.spin(until=lambda: sys.stdin.readline() != "", timeout=60)
        time.sleep(0.3)
        matched = {k: s.get_publisher_count() for k, s in subs.items()}
        print(json.dumps({"matched": matched, "got": got}), flush=True)
"""


def test_best_effort_writer_skips_reliable_reader_reliable_writer_matches_both(dds_env) -> None:
    child_env = dict(dds_env, PYTHONPATH=str(REPO))
    child = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(QOS_CHILD)], env=child_env, text=True,
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )
    try:
        assert child.stdout.readline().strip() == "ready"
        with DdsNode("qos_parent") as node:
            pub_be = node.create_publisher(m.Time, "/qos/be", BEST_EFFORT)
            pub_rel = node.create_publisher(m.Time, "/qos/rel", RELIABLE)
            assert pub_rel.wait_for_subscriptions(2, timeout=30)
            assert pub_be.wait_for_subscriptions(1, timeout=30)
            time.sleep(1.0)  # discovery is complete; the reliable reader still must not match
            assert pub_be.get_subscription_count() == 1
            assert pub_rel.get_subscription_count() == 2
            for i in range(3):
                pub_be.publish(m.Time(sec=i))
                pub_rel.publish(m.Time(sec=i))
            time.sleep(0.5)
            out, err = child.communicate("go\n", timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
    report = json.loads(out.strip().splitlines()[-1])
    assert report["matched"] == {"be_topic_reliable": 0, "be_topic_best_effort": 1,
                                 "rel_topic_reliable": 1, "rel_topic_best_effort": 1}, err
    assert report["got"] == {"be_topic_reliable": 0, "be_topic_best_effort": 3,
                             "rel_topic_reliable": 3, "rel_topic_best_effort": 3}, err


def test_transient_local_late_joiner_gets_last_sample() -> None:
    latched = QosProfile(reliability="reliable", durability="transient_local", depth=1)
    got: list[m.CameraInfo] = []
    with DdsNode("info_pub") as a, DdsNode("info_sub") as b:
        pub = a.create_publisher(m.CameraInfo, "/latched/camera_info", latched)
        pub.publish(m.CameraInfo(width=1, height=1))
        pub.publish(m.CameraInfo(width=640, height=480))
        b.create_subscription(m.CameraInfo, "/latched/camera_info", got.append, latched)
        assert b.spin(until=lambda: got, timeout=15)
        time.sleep(0.2)
    assert [(c.width, c.height) for c in got] == [(640, 480)]


def test_large_payloads_written_back_to_back_arrive_intact() -> None:
    # Image and PointCloud2 publishers encode into one reused buffer (PayloadEncoder): each
    # sample must be copied by the writer before the next one overwrites that buffer.
    qos = QosProfile(reliability="reliable", durability="volatile", depth=8)
    rng = np.random.default_rng(7)
    sent = [rng.integers(0, 256, size, dtype=np.uint8) for size in (640 * 480 * 32, 999, 4096)]
    in_place = headroom.allocate([640 * 480 * 32]).payloads[0]  # as estimate_with_cloud's
    in_place[:] = rng.integers(0, 256, in_place.size, dtype=np.uint8)
    sent.append(in_place)
    got: list[m.PointCloud2] = []
    with DdsNode("big_pub") as a, DdsNode("big_sub") as b:
        pub = a.create_publisher(m.PointCloud2, "/big/points", qos)
        b.create_subscription(m.PointCloud2, "/big/points", got.append, qos)
        assert pub.wait_for_subscriptions(1, timeout=15)
        for i, data in enumerate(sent):  # no spinning in between: all are in flight at once
            assert pub.publish(m.PointCloud2(
                header=m.Header(stamp=m.Time(sec=i), frame_id="cam"), height=1,
                width=data.size, point_step=1, row_step=data.size, data=data, is_dense=True))
        assert b.spin(until=lambda: len(got) == len(sent), timeout=30)
        assert pub.in_place_writes == 1  # the last one was not copied before writing
    for i, (msg, data) in enumerate(zip(got, sent, strict=True)):
        assert msg.header.stamp.sec == i and msg.is_dense and msg.width == data.size
        assert np.array_equal(np.frombuffer(msg.data, np.uint8), data)


def test_callbacks_run_on_runtime_thread_errors_are_contained_timers_fire() -> None:
    threads: list[str] = []
    seen: list[int] = []
    ticks: list[float] = []

    def callback(msg: m.Time) -> None:
        threads.append(threading.current_thread().name)
        if msg.sec == 1:
            raise RuntimeError("boom")
        seen.append(msg.sec)

    with DdsNode("robust", namespace="/ns") as node:
        sub = node.create_subscription(m.Time, "clock_test", callback, DEFAULT)
        pub = node.create_publisher(m.Time, "/ns/clock_test", DEFAULT)
        assert sub.topic_name == pub.topic_name == "/ns/clock_test"
        assert pub.wait_for_subscriptions(1, timeout=10)
        timer = node.create_timer(0.05, lambda: ticks.append(time.monotonic()))
        for sec in (1, 2, 3):
            pub.publish(m.Time(sec=sec))
        assert node.spin(until=lambda: len(seen) == 2 and len(ticks) >= 3, timeout=10)
        timer.cancel()
        n_ticks = len(ticks)
        time.sleep(0.2)
        assert len(ticks) <= n_ticks + 1
        assert sub.callback_errors == 1 and sub.received == 3
    assert seen == [2, 3]
    assert set(threads) == {"dds-node-robust"}


def test_an_undecodable_sample_is_counted_and_the_others_arrive() -> None:
    # A frame_id that is not UTF-8 does not decode; the good samples around it (often taken
    # with it in one batch) must still arrive, and the bad one be counted and reported.
    reliable = QosProfile(reliability="reliable", durability="volatile", depth=20)
    got: list[str] = []
    errors: list[Exception] = []
    with DdsNode("bad_pub") as a, DdsNode("bad_sub") as b:
        pub = a.create_publisher(m.Header, "/undecodable", reliable)
        sub = b.create_subscription(m.Header, "/undecodable", lambda h: got.append(h.frame_id),
                                    reliable, errors.append)
        assert pub.wait_for_subscriptions(1, timeout=10)
        for i in range(6):  # written raw, as DataWriter.write does (padded to 4 bytes)
            raw = m.Header(stamp=m.Time(sec=i), frame_id=f"f{i}x").serialize()
            if i == 2:
                raw = raw.replace(b"f2x", b"\xff\xfe\xfd")
            assert ddspy_write(pub._writer._ref, raw.ljust(-(-len(raw) // 4) * 4, b"\0")) >= 0
        assert b.spin(until=lambda: len(got) == 5 and errors, timeout=10)
    assert got == ["f0x", "f1x", "f3x", "f4x", "f5x"]
    assert sub.undecodable == 1 and sub.received == 5
    assert isinstance(errors[0], UnicodeDecodeError)


def test_destroyed_subscription_stops_callbacks_and_unmatches() -> None:
    got: list[m.Time] = []
    with DdsNode("unsub") as node:
        pub = node.create_publisher(m.Time, "/unsub", DEFAULT)
        sub = node.create_subscription(m.Time, "/unsub", got.append, DEFAULT)
        assert pub.wait_for_subscriptions(1, timeout=10)
        pub.publish(m.Time(sec=1))
        assert node.spin(until=lambda: got, timeout=10)
        sub.destroy()
        assert node.spin(until=lambda: pub.get_subscription_count() == 0, timeout=10)
        pub.publish(m.Time(sec=2))
        time.sleep(0.2)
    assert [t.sec for t in got] == [1]


def test_publisher_and_node_input_errors() -> None:
    with DdsNode("errors") as node:
        pub = node.create_publisher(m.Image, "/err/image", SENSOR_DATA)
        with pytest.raises(TypeError, match="expected a Image message"):
            pub.publish(m.CameraInfo())
        with pytest.raises(TypeError, match="already used with sensor_msgs/msg/Image"):
            node.create_publisher(m.CameraInfo, "/err/image", SENSOR_DATA)
        with pytest.raises(TopicNameError, match="topic name"):
            node.create_publisher(m.Image, "/bad//name", SENSOR_DATA)
        with pytest.raises(TypeError, match="dtype int16"):
            pub.publish(m.Image(data=np.zeros(4, np.int16)))
        pub.destroy()
        with pytest.raises(RuntimeError, match="destroyed"):
            pub.publish(m.Image())
    node.destroy()  # idempotent
    with pytest.raises(RuntimeError, match="destroyed"):
        node.create_publisher(m.Image, "/x", SENSOR_DATA)
    with pytest.raises(TopicNameError, match="node name"):
        DdsNode("1bad")


def test_resolve_topic_name() -> None:
    assert resolve_topic_name("/depth/image") == "/depth/image"
    assert resolve_topic_name("depth/image") == "/depth/image"
    assert resolve_topic_name("image", "/robot1") == "/robot1/image"
    assert resolve_topic_name("image", "robot1") == "/robot1/image"
    with pytest.raises(TopicNameError, match="namespace"):
        resolve_topic_name("image", "robot1/")
    assert resolve_topic_name("~/points", "/r", "depth") == "/r/depth/points"
    for bad in ("", "/", "a/", "/a//b", "/1a", "a b", "~x"):
        with pytest.raises(TopicNameError):
            resolve_topic_name(bad, "", "node")


def test_qos_profile_validation() -> None:
    assert SENSOR_DATA == QosProfile("best_effort", "volatile", 5)
    with pytest.raises(QosError, match="reliability 'sometimes'"):
        QosProfile(reliability="sometimes")
    with pytest.raises(QosError, match="durability"):
        QosProfile(durability="persistent")
    with pytest.raises(QosError, match="depth 0"):
        QosProfile(depth=0)


def test_domain_id_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ROS_DOMAIN_ID", "")
    assert domain_id_from_env() == 0
    monkeypatch.setenv("ROS_DOMAIN_ID", "42")
    assert domain_id_from_env() == 42
    for bad in ("x", "-1", "233"):
        monkeypatch.setenv("ROS_DOMAIN_ID", bad)
        with pytest.raises(ValueError, match="ROS_DOMAIN_ID"):
            domain_id_from_env()


def test_loopback_config_and_ensure_uri(monkeypatch: pytest.MonkeyPatch) -> None:
    path = loopback_config_path()
    assert path == REPO / "config" / "cyclonedds_loopback.xml"
    ns = {"c": "https://cdds.io/config"}
    root = ET.parse(path).getroot()
    assert root.find("c:Domain/c:General/c:Interfaces/c:NetworkInterface", ns).get("name") == "lo"
    assert root.find("c:Domain/c:General/c:AllowMulticast", ns).text == "false"
    assert root.find("c:Domain/c:Discovery/c:Peers/c:Peer", ns).get("address") == "127.0.0.1"
    assert root.find("c:Domain/c:Discovery/c:SPDPInterval", ns).text == "1s"
    monkeypatch.setenv("CYCLONEDDS_URI", "file:///user/choice.xml")
    assert ensure_cyclonedds_uri() == "file:///user/choice.xml"
    monkeypatch.delenv("CYCLONEDDS_URI")
    assert ensure_cyclonedds_uri() == path.as_uri() == os.environ["CYCLONEDDS_URI"]
