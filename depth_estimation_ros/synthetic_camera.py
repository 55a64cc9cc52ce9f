"""A synthetic ROS 2 camera over DDS: rendered indoor scenes with a moving camera.

    python -m depth_estimation_ros.synthetic_camera [--rate 10] [--width 640] [--height 480]
        [--count N] [--seed 0] [--encoding rgb8] [--compressed] [--cache-frames K]
        [--ground-truth-topic /camera/depth/image] [--wait-subscribers SECONDS]

Publishes ``sensor_msgs/Image`` on ``/camera/image_raw`` and the sibling ``CameraInfo`` on
``/camera/camera_info`` (same stamp, frame_id ``camera_optical_frame``) at ``--rate`` Hz, the
camera moving along the scene's looping trajectory (``synthetic.SyntheticScene``); with
``--compressed`` also a jpeg ``CompressedImage`` on ``/camera/image_raw/compressed``; with
``--ground-truth-topic`` also the exact depth (32FC1 metres) with its own sibling CameraInfo.

Frames are rendered ahead on a worker thread. If rendering is slower than the rate, the rate
slips (with a warning); ``--cache-frames K`` renders K poses spread over one trajectory loop
once and then cycles through them, which holds any rate after the first loop. Stops after
``--count`` frames (0: run until Ctrl-C / SIGTERM). Exit status 0, or 2 for bad arguments.
"""

import argparse
import logging
import signal
import sys
import threading
import time
from typing import Any

from depth_estimation_ros.core.camera import CameraIntrinsics
from depth_estimation_ros.sim.frames import CAMERA_ENCODINGS, FrameSource

__all__ = ["DEFAULT_FRAME_ID", "build_parser", "main"]

logger = logging.getLogger(__name__)

DEFAULT_FRAME_ID = "camera_optical_frame"


def _sibling_info_topic(image_topic: str) -> str:
    head = image_topic.rsplit("/", 1)[0] if "/" in image_topic else ""
    return f"{head}/camera_info"


def camera_info_msg(m: Any, intrinsics: CameraIntrinsics, header: Any) -> Any:
    """A ``CameraInfo`` of ``messages`` module ``m`` for ``intrinsics`` (no distortion)."""
    f = intrinsics.to_camera_info_fields()
    return m.CameraInfo(header=header, height=int(f["height"]), width=int(f["width"]),
                        distortion_model=str(f["distortion_model"]),
                        d=[float(v) for v in f["d"]], k=[float(v) for v in f["k"]],
                        r=[float(v) for v in f["r"]], p=[float(v) for v in f["p"]],
                        binning_x=int(f["binning_x"]), binning_y=int(f["binning_y"]))


def build_parser() -> argparse.ArgumentParser:
    """The command-line interface."""
    p = argparse.ArgumentParser(prog="python -m depth_estimation_ros.synthetic_camera",
                                description=__doc__.split("\n\n")[0])
    p.add_argument("--rate", type=float, default=10.0, help="frames per second (default 10)")
    p.add_argument("--width", type=int, default=640, help="image width (default 640)")
    p.add_argument("--height", type=int, default=480, help="image height (default 480)")
    p.add_argument("--count", type=int, default=0, help="frames to publish (0: until stopped)")
    p.add_argument("--seed", type=int, default=0, help="scene seed (default 0)")
    p.add_argument("--encoding", default="rgb8", choices=CAMERA_ENCODINGS,
                   help="image encoding (default rgb8)")
    p.add_argument("--compressed", action="store_true",
                   help="also publish jpeg CompressedImage on <topic>/compressed")
    p.add_argument("--jpeg-quality", type=int, default=90, help="jpeg quality 1..100")
    p.add_argument("--topic", default="/camera/image_raw", help="image topic")
    p.add_argument("--info-topic", default=None,
                   help="CameraInfo topic (default: sibling camera_info of --topic)")
    p.add_argument("--frame-id", default=DEFAULT_FRAME_ID, help="header frame_id")
    p.add_argument("--ground-truth-topic", default="",
                   help="also publish the exact depth (32FC1) on this topic (+ sibling info)")
    p.add_argument("--cache-frames", type=int, default=0,
                   help="cycle through K poses over one loop, each rendered once (0: live)")
    p.add_argument("--wait-subscribers", type=float, default=0.0,
                   help="wait up to this many seconds for a subscriber to any image topic "
                        "before starting (0: start at once)")
    p.add_argument("--reliability", default="best_effort", choices=("best_effort", "reliable"),
                   help="publisher reliability (default best_effort, ROS sensor data)")
    p.add_argument("--durability", default="volatile", choices=("volatile", "transient_local"),
                   help="publisher durability")
    p.add_argument("--history-depth", type=int, default=5, help="publisher KEEP_LAST depth")
    p.add_argument("--log-level", default="info", type=str.lower,
                   choices=("debug", "info", "warning", "warn", "error", "critical"),
                   help="logging level (default info)")
    return p


def _check_args(args: argparse.Namespace) -> str | None:
    if not 0 < args.rate <= 1000:
        return f"--rate {args.rate} is invalid; expected 0 < rate <= 1000 Hz"
    for name in ("width", "height"):
        if not 2 <= getattr(args, name) <= 8192:
            return f"--{name} {getattr(args, name)} is invalid; expected 2..8192 pixels"
    if args.count < 0 or args.cache_frames < 0 or args.seed < 0 or args.wait_subscribers < 0:
        return "--count, --cache-frames, --seed and --wait-subscribers must be >= 0"
    if not 1 <= args.jpeg_quality <= 100:
        return f"--jpeg-quality {args.jpeg_quality} is invalid; expected 1..100"
    return None


def main(argv: list[str] | None = None) -> int:
    """Run the camera; see the module docstring."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(),
                        format="[%(levelname)s] [%(name)s]: %(message)s")
    problem = _check_args(args)
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return 2
    from depth_estimation_ros.dds import messages as m
    from depth_estimation_ros.dds.qos import QosError, QosProfile
    from depth_estimation_ros.dds.runtime import DdsNode, ensure_cyclonedds_uri

    try:
        qos = QosProfile(args.reliability, args.durability, args.history_depth)
    except QosError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    ensure_cyclonedds_uri()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    source = FrameSource(args.seed, args.width, args.height, args.rate, args.encoding,
                         args.compressed, bool(args.ground_truth_topic), args.cache_frames,
                         args.jpeg_quality)
    published = 0
    try:
        with DdsNode("synthetic_camera") as node:
            info_topic = args.info_topic or _sibling_info_topic(args.topic)
            pub_image = node.create_publisher(m.Image, args.topic, qos)
            pub_info = node.create_publisher(m.CameraInfo, info_topic, qos)
            pub_jpeg = (node.create_publisher(m.CompressedImage, f"{args.topic}/compressed", qos)
                        if args.compressed else None)
            pub_gt = pub_gt_info = None
            if args.ground_truth_topic:
                pub_gt = node.create_publisher(m.Image, args.ground_truth_topic, qos)
                pub_gt_info = node.create_publisher(
                    m.CameraInfo, _sibling_info_topic(args.ground_truth_topic), qos)
            print(f"camera: domain {node.domain_id}, {args.width}x{args.height} "
                  f"{args.encoding} at {args.rate:g} Hz on {pub_image.topic_name} + "
                  f"{pub_info.topic_name}" + (f" + {pub_jpeg.topic_name}" if pub_jpeg else "")
                  + (f" + {pub_gt.topic_name}" if pub_gt else ""), flush=True)
            frame_pubs = [p for p in (pub_image, pub_jpeg, pub_gt) if p is not None]
            if args.wait_subscribers > 0 and not node.spin(
                    until=lambda: any(p.get_subscription_count() for p in frame_pubs),
                    timeout=args.wait_subscribers):
                logger.warning(f"no image subscriber after {args.wait_subscribers:g} s; "
                               "publishing anyway")
            period = 1.0 / args.rate
            start = next_due = time.monotonic()
            last_report, slow_warned = start, False
            while not stop.is_set() and (args.count == 0 or published < args.count):
                frame = source.get(published)
                now = time.monotonic()
                if now < next_due:
                    stop.wait(next_due - now)
                    if stop.is_set():
                        break
                elif now - next_due > period:  # behind: restart the schedule, no burst
                    if not slow_warned and published > 1:
                        logger.warning(f"rendering ({frame.render_s * 1e3:.0f} ms/frame) is "
                                       f"slower than {args.rate:g} Hz; use a smaller size, a "
                                       "lower --rate or --cache-frames")
                        slow_warned = True
                    next_due = now
                header = m.Header(stamp=m.Time.now(), frame_id=args.frame_id)
                info = camera_info_msg(m, frame.intrinsics, header)
                pub_info.publish(info)
                pub_image.publish(m.Image(header=header, height=args.height, width=args.width,
                                          encoding=args.encoding, is_bigendian=0,
                                          step=frame.step, data=frame.data))
                if pub_jpeg is not None:
                    pub_jpeg.publish(m.CompressedImage(
                        header=header, format="rgb8; jpeg compressed bgr8", data=frame.jpeg))
                if pub_gt is not None:
                    pub_gt_info.publish(info)
                    pub_gt.publish(m.Image(header=header, height=args.height, width=args.width,
                                           encoding="32FC1", is_bigendian=0,
                                           step=4 * args.width, data=frame.depth))
                published += 1
                next_due += period
                if time.monotonic() - last_report >= 5.0:
                    elapsed = time.monotonic() - start
                    print(f"camera: {published} frames, {published / elapsed:.2f} Hz, "
                          f"{pub_image.get_subscription_count()} subscriber(s)", flush=True)
                    last_report = time.monotonic()
            time.sleep(0.2)  # let the last samples leave before the writers go
    except KeyboardInterrupt:
        pass
    except RuntimeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    finally:
        source.close()
    print(f"camera: published {published} frames", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
