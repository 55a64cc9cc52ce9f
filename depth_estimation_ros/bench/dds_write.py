"""The DDS write of one 640×480 cloud to a subscriber in another process over loopback:
what the node pays per cloud after the stages.
"""

from __future__ import annotations

import os
import sys
import time
from typing import Any

import numpy as np

from depth_estimation_ros.bench.inputs import FRAME_ID, HEIGHT, WIDTH, sample_cloud
from depth_estimation_ros.bench.timing import summarize
from depth_estimation_ros.core.pointcloud import (
    XYZ_POINT_STEP,
    XYZRGB_POINT_STEP,
    cloud_from_records,
)
from depth_estimation_ros.dds import messages
from depth_estimation_ros.dds.types import dds_message_types
from depth_estimation_ros.node import msgconv

# the subscriber of measure_dds_write: takes every cloud until its stdin is closed
_SINK_CHILD = """
import sys, threading
from depth_estimation_ros.dds import messages as m
from depth_estimation_ros.dds.qos import QosProfile
from depth_estimation_ros.dds.runtime import DdsNode
done = threading.Event()
threading.Thread(target=lambda: (sys.stdin.read(), done.set()), daemon=True).start()
with DdsNode("benchmark_sink", domain_id=int(sys.argv[1])) as node:
    node.create_subscription(m.PointCloud2, "/benchmark/points", lambda msg: None,
                             QosProfile(reliability="best_effort", depth=1))
    print("ready", flush=True)
    node.spin(until=done.is_set, timeout=120.0)
"""


def measure_dds_write(repeats: int = 30, colour: bool = True) -> dict[str, Any]:
    """The DDS write of one 640×480 cloud (``Publisher.publish``: encode in place, then
    cyclonedds copies the sample and sends it) to a subscriber in another process over
    loopback, best effort; what the node pays per cloud after the stages above."""
    import subprocess

    from depth_estimation_ros.core import headroom
    from depth_estimation_ros.dds.qos import QosProfile
    from depth_estimation_ros.dds.runtime import DdsNode, ensure_cyclonedds_uri

    ensure_cyclonedds_uri()
    domain = 100 + os.getpid() % 100  # a domain of its own: no other node sees the topic
    step = XYZRGB_POINT_STEP if colour else XYZ_POINT_STEP
    storage = headroom.allocate([WIDTH * HEIGHT * step]).payloads[0]
    storage[:] = np.frombuffer(sample_cloud(colour).data, np.uint8)  # as the estimator's
    cloud = cloud_from_records(storage.view("<f4").reshape(HEIGHT, WIDTH, step // 4), colour)
    msg = msgconv.point_cloud_msg(dds_message_types(), cloud, (1, 0), FRAME_ID)
    child = subprocess.Popen([sys.executable, "-c", _SINK_CHILD, str(domain)],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        if child.stdout.readline().strip() != "ready":
            raise RuntimeError("the benchmark's DDS subscriber process did not start")
        with DdsNode("benchmark_source", domain_id=domain) as node:
            pub = node.create_publisher(messages.PointCloud2, "/benchmark/points",
                                        QosProfile(reliability="best_effort", depth=1))
            if not pub.wait_for_subscriptions(1, timeout=30):
                raise RuntimeError("the benchmark's DDS subscriber did not match")
            times = []
            for _ in range(repeats + 3):
                t0 = time.perf_counter()
                pub.publish(msg)
                times.append(time.perf_counter() - t0)
                time.sleep(0.05)  # a camera's pace; the reader keeps up
            in_place = pub.in_place_writes
    finally:
        child.stdin.close()
        try:
            child.wait(timeout=10)
        except subprocess.TimeoutExpired:
            child.kill()
    return {"bytes": int(cloud.data.nbytes), "publish": summarize(times[3:]),
            "in_place_writes": in_place, "qos": "best_effort", "subscribers": 1}
