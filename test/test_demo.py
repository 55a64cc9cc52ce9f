"""README command one's main job, run as a user runs it: three processes over DDS."""

import json
import os
import re
import subprocess
import sys

from depth_estimation_ros.core.ply import read_ply


def test_demo_runs_camera_node_recorder_and_leaves_files(tmp_path, compact_checkpoint):
    env = dict(os.environ)
    env.pop("CYCLONEDDS_URI", None)  # the demo must find the shipped loopback config itself
    env["ROS_DOMAIN_ID"] = str(150 + os.getpid() % 50)
    out = tmp_path / "demo"
    r = subprocess.run([sys.executable, "-m", "depth_estimation_ros.demo", "--out", str(out),
                        "--frames", "4", "--save-every", "3", "--rate", "4",
                        "--checkpoint", str(compact_checkpoint), "--device", "cpu"],
                       capture_output=True, text=True, timeout=150, env=env)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-2000:]
    assert "[  node]" in r.stdout and "[camera]" in r.stdout and "[record]" in r.stdout
    assert "4 depth images (640x480 32FC1" in r.stdout
    pngs = sorted(p.name for p in out.glob("depth_*.png"))
    assert pngs == ["depth_000001.png", "depth_000004.png"]
    plys = sorted(out.glob("cloud_*.ply"))
    assert plys, r.stdout[-2000:]
    xyz, rgb = read_ply(plys[0])
    assert len(xyz) > 1000 and (xyz[:, 2] > 0).all() and rgb is not None
    summary = json.loads((out / "summary.json").read_text())
    # the stand-in sensors: a scan with a nearest obstacle inside the room, three sectors
    assert summary["scans"] >= 1
    nearest = summary["scan_nearest"]
    assert 0.45 <= nearest["range_m"] <= 10.0 and abs(nearest["bearing_deg"]) <= 33.0
    ranges = summary["ranges_m"]
    assert list(ranges) == ["/depth/range_0", "/depth/range_1", "/depth/range_2"]
    assert all(isinstance(v, float) and 0.2 <= v <= 5.0 for v in ranges.values()), ranges
    assert re.search(r"\[record\] record: done .*Hz.*scan nearest \d+\.\d\d m at [+-]\d+ deg; "
                     r"ranges \d+\.\d\d, \d+\.\d\d, \d+\.\d\d m", r.stdout), r.stdout[-3000:]
    assert re.search(r"demo: \d+ scans, nearest obstacle \d+\.\d\d m at [+-]\d+ deg \(left \+\); "
                     r"range sectors right to left: range_0 \d", r.stdout), r.stdout[-2000:]


def test_demo_without_weights_says_how_to_get_them(tmp_path):
    r = subprocess.run([sys.executable, "-m", "depth_estimation_ros.demo", "--out",
                        str(tmp_path), "--checkpoint", str(tmp_path / "none.pt")],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 2
    assert "does not exist" in r.stderr and "depth_training.train" in r.stderr
