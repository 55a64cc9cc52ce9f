"""The ROS graph: a DdsNode announces itself on ros_discovery_info as rmw-based nodes do.

A second process reads the announcement the way the ROS 2 daemon does (a transient-local
reader of rmw_dds_common/ParticipantEntitiesInfo) and checks the GIDs against what DDS
discovery itself reports for the node's participant and endpoints.
"""

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from cyclonedds.builtin import BuiltinDataReader, BuiltinTopicDcpsPublication
from cyclonedds.domain import DomainParticipant
from cyclonedds.sub import DataReader
from cyclonedds.topic import Topic

from depth_estimation_ros.dds import messages as m
from depth_estimation_ros.dds.qos import reader_qos
from depth_estimation_ros.dds.runtime import GRAPH_QOS, GRAPH_TOPIC, DdsNode, loopback_config_path

REPO = Path(__file__).resolve().parents[1]

NODE_CHILD = """
    import json, sys
    from depth_estimation_ros.dds import messages as m
    from depth_estimation_ros.dds.qos import DEFAULT, SENSOR_DATA
    from depth_estimation_ros.dds.runtime import DdsNode
    with DdsNode("depth_estimation_node", namespace="/robot") as node:
        image = node.create_publisher(m.Image, "depth/image", SENSOR_DATA)
        points = node.create_publisher(m.PointCloud2, "depth/points", SENSOR_DATA)
        sub = node.create_subscription(m.Image, "/camera/image_raw", lambda msg: None,
                                       SENSOR_DATA)
        points.destroy()  # the announcement follows endpoint changes
        print(json.dumps({"participant": node.participant.guid.hex,
                          "writers": [image._writer.guid.hex],
                          "readers": [sub._reader.guid.hex]}), flush=True)
        sys.stdin.read()
"""


@pytest.fixture()
def env():
    return dict(os.environ, ROS_DOMAIN_ID=str(1 + (os.getpid() + 7) % 200),
                CYCLONEDDS_URI=loopback_config_path().as_uri(),
                PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))


@pytest.mark.parametrize("distro", ["jazzy", "humble"])
def test_node_is_announced_with_the_gids_discovery_reports(env, distro, monkeypatch):
    env = dict(env, ROS_DISTRO=distro)
    monkeypatch.setenv("CYCLONEDDS_URI", env["CYCLONEDDS_URI"])
    child = subprocess.Popen([sys.executable, "-c", textwrap.dedent(NODE_CHILD)], env=env,
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    try:
        ids = json.loads(child.stdout.readline())
        _, _, info_cls = m.graph_types(distro)
        size = 24 if distro == "humble" else 16
        dp = DomainParticipant(int(env["ROS_DOMAIN_ID"]))
        # a late joiner, as the ROS 2 daemon often is: transient local hands it the latest
        reader = DataReader(dp, Topic(dp, GRAPH_TOPIC, info_cls),
                            qos=reader_qos(GRAPH_QOS, m.type_hash(info_cls)))
        publications = BuiltinDataReader(dp, BuiltinTopicDcpsPublication)
        deadline, info, topics = time.monotonic() + 20, None, {}
        while time.monotonic() < deadline and (info is None or ids["writers"][0] not in topics):
            for sample in reader.take(N=10):
                names = [n.node_name for n in sample.node_entities_info_seq]
                if names == ["depth_estimation_node"]:
                    info = sample
            for pub in publications.take(N=50):
                topics[pub.key.hex] = pub.topic_name
            time.sleep(0.05)
    finally:
        child.stdin.close()
        child.wait(timeout=20)
    assert info is not None, child.stderr.read()
    (node,) = info.node_entities_info_seq
    assert (node.node_namespace, node.node_name) == ("/robot", "depth_estimation_node")

    def hexes(gids):
        for gid in gids:
            assert len(gid.data) == size and bytes(gid.data[16:]) == bytes(size - 16)
        return [bytes(g.data[:16]).hex() for g in gids]

    assert hexes([info.gid]) == [ids["participant"]]
    assert hexes(node.writer_gid_seq) == ids["writers"]  # points was destroyed: gone
    assert hexes(node.reader_gid_seq) == ids["readers"]
    # the writer GID is the endpoint DDS discovery announces on the ROS topic
    assert topics[ids["writers"][0]] == "rt/robot/depth/image"


def test_graph_info_in_process_tracks_endpoints():
    with DdsNode("graph_local") as node:
        assert node.graph_info().node_entities_info_seq[0].node_namespace == "/"
        pub = node.create_publisher(m.Time, "/graph/t", GRAPH_QOS)
        info = node.graph_info()
        assert [bytes(g.data[:16]) for g in info.node_entities_info_seq[0].writer_gid_seq] == [
            pub._writer.guid.bytes]
        pub.destroy()
        assert node.graph_info().node_entities_info_seq[0].writer_gid_seq == []
