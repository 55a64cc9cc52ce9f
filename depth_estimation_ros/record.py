"""Record the depth node's output over DDS: colourised PNGs, PLY clouds, rate and latency.

    python -m depth_estimation_ros.record --out DIR [--count N] [--duration S]
        [--save-every N] [--json summary.json] [--depth-topic /depth/image]
        [--info-topic /depth/camera_info] [--points-topic /depth/points]
        [--scan-topic /depth/scan] [--range-topics /depth/range,...]
        [--reliability reliable] [--durability volatile] [--history-depth 5]

Subscribes ``/depth/image`` (32FC1 metres or 16UC1 millimetres), its sibling CameraInfo and
``/depth/points``; every ``--save-every``-th depth image is written as
``depth_<n>.png`` (with a colour scale, NaN black) and the cloud with the same stamp as
``cloud_<n>.ply`` (finite points, with colour when the cloud has ``rgb``). The stand-in
sensors are followed too: the laser scan's nearest obstacle (range and bearing, positive to
the left) and each range topic's latest reading. Rate (Hz) and
latency (receive time minus header stamp, ms; meaningful when both clocks are the same machine's
or synchronised) are printed every ``--report-every`` seconds and summarised at the end
(``--json`` writes the summary). Stops after ``--count`` depth images or ``--duration``
seconds, or on Ctrl-C. Exit status 0 when at least one depth image arrived, 1 when none did,
2 for bad arguments.
"""

import argparse
import errno
import json
import logging
import signal
import sys
import threading
import time
from pathlib import Path

from depth_estimation_ros.core.atomic import atomic_write_text, ensure_writable_folder
from depth_estimation_ros.core.visualize import DEFAULT_CMAP
from depth_estimation_ros.node.recorder import DepthRecorder

__all__ = ["build_parser", "main"]

LOG_LEVELS = ("debug", "info", "warning", "warn", "error", "critical")


def _sibling_info_topic(image_topic: str) -> str:
    head = image_topic.rsplit("/", 1)[0] if "/" in image_topic else ""
    return f"{head}/camera_info"


def build_parser() -> argparse.ArgumentParser:
    """The command-line interface."""
    p = argparse.ArgumentParser(prog="python -m depth_estimation_ros.record",
                                description=__doc__.split("\n\n")[0])
    p.add_argument("--out", required=True, help="output folder for PNGs, PLYs")
    p.add_argument("--depth-topic", default="/depth/image", help="depth Image topic")
    p.add_argument("--info-topic", default=None,
                   help="CameraInfo topic (default: sibling of the depth topic)")
    p.add_argument("--points-topic", default="/depth/points",
                   help="PointCloud2 topic ('' to not subscribe)")
    p.add_argument("--scan-topic", default="/depth/scan",
                   help="LaserScan topic ('' to not subscribe)")
    p.add_argument("--range-topics", default="/depth/range",
                   help="comma-separated Range topics, e.g. /depth/range_0,/depth/range_1 "
                        "('' for none)")
    p.add_argument("--count", type=int, default=0,
                   help="stop after this many depth images (0: no limit)")
    p.add_argument("--duration", type=float, default=0.0,
                   help="stop after this many seconds (0: no limit)")
    p.add_argument("--save-every", type=int, default=10,
                   help="save depth image 1, 1+N, 1+2N, ... and its cloud (0: save nothing)")
    p.add_argument("--json", default=None, help="write the summary to this JSON file")
    p.add_argument("--report-every", type=float, default=2.0,
                   help="print rate and latency every this many seconds (0: only at the end)")
    p.add_argument("--vmin", type=float, default=None, help="colour scale start, metres")
    p.add_argument("--vmax", type=float, default=None, help="colour scale end, metres")
    p.add_argument("--cmap", default=DEFAULT_CMAP, help="matplotlib colormap (turbo, viridis)")
    p.add_argument("--reliability", default="reliable", choices=("best_effort", "reliable"),
                   help="subscription reliability (default reliable, as the node publishes: "
                        "multi-MB clouds then arrive whole; best_effort also matches "
                        "best-effort publishers but loses clouds whose fragments overflow "
                        "the socket buffer)")
    p.add_argument("--durability", default="volatile", choices=("volatile", "transient_local"),
                   help="subscription durability")
    p.add_argument("--history-depth", type=int, default=5, help="subscription KEEP_LAST depth")
    p.add_argument("--log-level", default="info", type=str.lower, choices=LOG_LEVELS,
                   help="logging level (default info)")
    return p


def _check_json_path(path: Path) -> None:
    """Raise OSError unless the summary can later be written to ``path`` (a file name)."""
    if path.is_dir():
        raise IsADirectoryError(errno.EISDIR, "it is a folder; expected a file name")
    ensure_writable_folder(path.parent, create=False)


def main(argv: list[str] | None = None) -> int:
    """Run the recorder; see the module docstring for arguments and exit status."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(),
                        format="[%(levelname)s] [%(name)s]: %(message)s")
    from depth_estimation_ros.dds import messages as m
    from depth_estimation_ros.dds.qos import QosError, QosProfile
    from depth_estimation_ros.dds.runtime import DdsNode, TopicNameError, ensure_cyclonedds_uri

    if args.count < 0 or args.duration < 0 or args.save_every < 0:
        print("error: --count, --duration and --save-every must be >= 0", file=sys.stderr)
        return 2
    try:
        qos = QosProfile(args.reliability, args.durability, args.history_depth)
    except QosError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    topics = {"depth": args.depth_topic,
              "camera_info": args.info_topic or _sibling_info_topic(args.depth_topic),
              "points": args.points_topic, "scan": args.scan_topic,
              "ranges": [t.strip() for t in args.range_topics.split(",") if t.strip()]}
    try:
        out_dir = ensure_writable_folder(args.out)
    except OSError as exc:
        print(f"error: cannot write outputs to {args.out}: {exc.strerror or exc}",
              file=sys.stderr)
        return 2
    if args.json:  # after --out (it may be inside it); before recording, not at the end
        try:
            _check_json_path(Path(args.json))
        except OSError as exc:
            print(f"error: cannot write the --json summary to {args.json}: "
                  f"{exc.strerror or exc}", file=sys.stderr)
            return 2
    recorder = DepthRecorder(out_dir, args.save_every, args.vmin, args.vmax, args.cmap)
    ensure_cyclonedds_uri()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    start = time.monotonic()
    try:
        with DdsNode("depth_recorder") as node:
            node.create_subscription(m.Image, topics["depth"], recorder.on_depth, qos)
            node.create_subscription(m.CameraInfo, topics["camera_info"],
                                     recorder.on_camera_info, qos)
            if topics["points"]:
                node.create_subscription(m.PointCloud2, topics["points"], recorder.on_points,
                                         qos)
            if topics["scan"]:
                node.create_subscription(m.LaserScan, topics["scan"], recorder.on_scan, qos)
            for topic in topics["ranges"]:
                node.create_subscription(m.range_type(), topic, recorder.range_callback(topic),
                                         qos)
            listened = [topics["depth"], topics["camera_info"],
                        topics["points"] or "(no points)", *filter(None, [topics["scan"]]),
                        *topics["ranges"]]
            print(f"record: domain {node.domain_id}, listening on {', '.join(listened)}; "
                  f"saving to {recorder.out_dir}", flush=True)
            next_report = start + args.report_every
            while not stop.is_set():
                now = time.monotonic()
                if args.count and recorder.images >= args.count:
                    break
                if args.duration and now - start >= args.duration:
                    break
                if args.report_every > 0 and now >= next_report:
                    print(f"record: {recorder.status_line(args.report_every)}", flush=True)
                    next_report = now + args.report_every
                stop.wait(0.05)
    except KeyboardInterrupt:
        pass
    except (TopicNameError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    duration = time.monotonic() - start
    recorder.flush()
    summary = recorder.summary(topics, duration)
    lat = summary["latency_ms"]
    print(f"record: done after {duration:.1f} s: {summary['images']} depth images at "
          f"{summary['rate_hz']:.2f} Hz, {summary['clouds']} clouds, latency "
          + (f"p50 {lat['p50']:.1f} ms p95 {lat['p95']:.1f} ms" if lat else "n/a")
          + f"; saved {len(summary['saved_png'])} png, {len(summary['saved_ply'])} ply "
          f"in {recorder.out_dir}"
          + (f"; {sensors}" if (sensors := recorder.sensors_line()) else ""), flush=True)
    if args.json:
        try:
            atomic_write_text(args.json, json.dumps(summary, indent=2, sort_keys=True) + "\n")
        except OSError as exc:  # checked at the start; the folder changed since
            print(f"error: cannot write the --json summary to {args.json}: "
                  f"{exc.strerror or exc}", file=sys.stderr)
            return 2
    if summary["images"] == 0:
        print(f"record: no depth images received on {topics['depth']}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
