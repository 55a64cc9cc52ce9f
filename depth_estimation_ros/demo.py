"""The main job on a fresh machine: camera → depth node → recorder, three processes over DDS.

    python -m depth_estimation_ros.demo [--out demo_output] [--frames 30] [--rate 5]
        [--device auto] [--checkpoint PATH]

Starts the synthetic camera (`depth_estimation_ros.synthetic_camera`), the DDS-native depth node
(`depth_estimation_ros.standalone`, point clouds, the laser scan and three range sectors on)
and the recorder (`depth_estimation_ros.record`) as separate processes speaking ROS 2's wire
protocol on loopback, streams their output with a prefix each, and stops everything once the
recorder has its frames. The recorder's lines show the rate beside the scan's nearest
obstacle and each sector's range. No ROS and no GPU needed. Leaves colourised depth PNGs,
PLY clouds and a JSON summary in ``--out``.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from depth_estimation_ros.core.checkpoint import CheckpointError, resolve_checkpoint_path
from depth_estimation_ros.dds.runtime import loopback_config_path
from depth_estimation_ros.node.params import range_topics

SECTORS = 3
SECTOR_FOV = 0.35  # rad: three fit the synthetic camera's 1.1 rad horizontal view


def _pump(name: str, proc: subprocess.Popen, lines: list[str]) -> None:
    assert proc.stdout is not None
    for line in proc.stdout:
        line = line.rstrip()
        lines.append(line)
        print(f"[{name:>6}] {line}", flush=True)


def _start(name: str, module: str, args: list[str], env: dict[str, str],
           logs: dict[str, list[str]]) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-u", "-m", module, *args], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            bufsize=1)
    logs[name] = []
    threading.Thread(target=_pump, args=(name, proc, logs[name]), daemon=True).start()
    return proc


def _stop(proc: subprocess.Popen, timeout: float = 10.0) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m depth_estimation_ros.demo",
                                description=__doc__.split("\n\n")[0])
    p.add_argument("--out", default="demo_output", help="output folder (default demo_output)")
    p.add_argument("--frames", type=int, default=30, help="depth frames to record (default 30)")
    p.add_argument("--rate", type=float, default=5.0, help="camera rate in Hz (default 5)")
    p.add_argument("--save-every", type=int, default=10,
                   help="save a PNG and a PLY every N frames (default 10)")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    p.add_argument("--checkpoint", default=None, help="checkpoint (default: shipped weights)")
    p.add_argument("--timeout", type=float, default=180.0,
                   help="give up after this many seconds (default 180)")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        checkpoint = resolve_checkpoint_path(args.checkpoint)
    except CheckpointError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    out = Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    env.setdefault("CYCLONEDDS_URI", loopback_config_path().as_uri())
    env.setdefault("ROS_DOMAIN_ID", "0")
    env["PYTHONUNBUFFERED"] = "1"
    print(f"demo: domain {env['ROS_DOMAIN_ID']}, DDS config {env['CYCLONEDDS_URI']}\n"
          f"demo: weights {checkpoint}\ndemo: output {out}", flush=True)

    logs: dict[str, list[str]] = {}
    node = _start("node", "depth_estimation_ros.standalone",
                  ["-p", "publish_pointcloud:=true", "-p", "pointcloud_color:=true",
                   "-p", "publish_scan:=true", "-p", "publish_range:=true",
                   "-p", f"range_sectors:={SECTORS}", "-p", f"range_field_of_view:={SECTOR_FOV}",
                   "-p", f"device:={args.device}", "-p", f"checkpoint:={checkpoint}"], env, logs)
    record = _start("record", "depth_estimation_ros.record",
                    ["--out", str(out), "--count", str(args.frames),
                     "--save-every", str(args.save_every), "--json", str(out / "summary.json"),
                     "--scan-topic", "/depth/scan",
                     "--range-topics", ",".join(f"/{t}" for t in range_topics(SECTORS))],
                    env, logs)
    time.sleep(1.0)  # let node and recorder join before the first frame
    camera = _start("camera", "depth_estimation_ros.synthetic_camera",
                    ["--rate", str(args.rate)], env, logs)
    start = time.monotonic()
    code = 0
    try:
        while record.poll() is None:
            if time.monotonic() - start > args.timeout:
                print(f"demo: no result after {args.timeout:.0f} s; stopping", flush=True)
                code = 1
                break
            for name, proc in (("node", node), ("camera", camera)):
                if proc.poll() is not None:
                    print(f"demo: {name} exited early with code {proc.returncode}", flush=True)
                    code = 1
            if code:
                break
            time.sleep(0.2)
    except KeyboardInterrupt:
        code = 130
    finally:
        for proc in (camera, record, node):
            _stop(proc)
    if code == 0 and record.returncode != 0:
        code = record.returncode
    summary_path = out / "summary.json"
    if code == 0 and summary_path.exists():
        summary = json.loads(summary_path.read_text())
        lat = summary.get("latency_ms", {})
        image = summary.get("image", {})
        print(f"\ndemo: {summary.get('images', 0)} depth images "
              f"({image.get('width')}x{image.get('height')} {image.get('encoding')}, frame "
              f"{image.get('frame_id')!r}) at {summary.get('rate_hz', 0):.1f} Hz, camera-to-depth "
              f"latency p50 {lat.get('p50', float('nan')):.0f} ms, p95 "
              f"{lat.get('p95', float('nan')):.0f} ms; {summary.get('clouds', 0)} point clouds")
        nearest = summary.get("scan_nearest")
        ranges = summary.get("ranges_m", {})
        print(f"demo: {summary.get('scans', 0)} scans, nearest obstacle "
              + (f"{nearest['range_m']:.2f} m at {round(nearest['bearing_deg']) or 0:+d} deg "
                 f"(left +)"
                 if nearest else "none")
              + "; range sectors right to left: "
              + ", ".join(f"{t.rsplit('/', 1)[-1]} {v if isinstance(v, str) else f'{v:.2f}'} m"
                          for t, v in ranges.items()))
        files = summary.get("saved_png", []) + summary.get("saved_ply", [])
        print(f"demo: wrote {', '.join(files)} and summary.json to {out}")
    elif code == 0:
        code = 1
        print("demo: the recorder wrote no summary", flush=True)
    return code


if __name__ == "__main__":
    sys.exit(main())
