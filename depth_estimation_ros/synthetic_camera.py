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
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import numpy as np

from depth_estimation_ros.core.camera import CameraIntrinsics
from depth_estimation_ros.core.encodings import encode_compressed, encode_depth_32fc1, encode_image

__all__ = ["CAMERA_ENCODINGS", "CameraFrame", "FrameSource", "build_parser", "main"]

logger = logging.getLogger(__name__)

CAMERA_ENCODINGS = ("rgb8", "bgr8", "rgba8", "bgra8", "mono8")
DEFAULT_FRAME_ID = "camera_optical_frame"
_AHEAD = 3  # frames rendered ahead of the publisher (live mode)


@dataclass(frozen=True)
class CameraFrame:
    """One frame, already encoded for publishing.

    Attributes:
        index: frame (or cache slot) number.
        data: image bytes in the chosen encoding, ``height * step`` bytes.
        step: bytes per image row.
        jpeg: jpeg bytes when compressed publishing is on.
        depth: exact depth as 32FC1 bytes (``4 * width`` per row) when asked for.
        intrinsics: the camera.
        render_s: seconds the render and encode took.
    """

    index: int
    data: np.ndarray
    step: int
    jpeg: bytes | None
    depth: np.ndarray | None
    intrinsics: CameraIntrinsics
    render_s: float


def convert_rgb(rgb: np.ndarray, encoding: str) -> np.ndarray:
    """``(H, W, 3)`` uint8 RGB as an array laid out for ``encoding``."""
    if encoding == "rgb8":
        return rgb
    if encoding == "bgr8":
        return np.ascontiguousarray(rgb[..., ::-1])
    if encoding in ("rgba8", "bgra8"):
        colour = rgb if encoding == "rgba8" else rgb[..., ::-1]
        alpha = np.full(rgb.shape[:2] + (1,), 255, np.uint8)
        return np.concatenate([colour, alpha], axis=2)
    if encoding == "mono8":
        # ITU-R BT.601 luma, as OpenCV's RGB2GRAY
        weights = np.array([0.299, 0.587, 0.114], np.float32)
        return np.clip(rgb.astype(np.float32) @ weights + 0.5, 0, 255).astype(np.uint8)
    raise ValueError(f"camera encoding {encoding!r} is not supported; expected one of "
                     f"{', '.join(CAMERA_ENCODINGS)}")


class FrameSource:
    """Renders and encodes frames along the trajectory, ahead of the publisher.

    Args:
        seed: scene seed (``SyntheticScene.random``).
        width: image width, pixels.
        height: image height, pixels.
        rate: publishing rate, Hz; live frame ``i`` shows trajectory time ``i / rate``.
        encoding: one of ``CAMERA_ENCODINGS``.
        compressed: also produce jpeg bytes.
        ground_truth: also produce the exact depth.
        cache_frames: K > 0 cycles through K poses spread over one trajectory loop,
            each rendered once; 0 renders every frame.
        jpeg_quality: 1..100.
    """

    def __init__(self, seed: int, width: int, height: int, rate: float, encoding: str = "rgb8",
                 compressed: bool = False, ground_truth: bool = False, cache_frames: int = 0,
                 jpeg_quality: int = 90) -> None:
        from depth_estimation_ros.sim import SyntheticScene

        if encoding not in CAMERA_ENCODINGS:
            raise ValueError(f"camera encoding {encoding!r} is not supported; expected one of "
                             f"{', '.join(CAMERA_ENCODINGS)}")
        self.scene = SyntheticScene.random(seed)
        self.width, self.height, self.rate = width, height, rate
        self.encoding, self.compressed, self.ground_truth = encoding, compressed, ground_truth
        self.cache_frames, self.jpeg_quality = cache_frames, jpeg_quality
        self._frames: OrderedDict[int, CameraFrame] = OrderedDict()
        self._cond = threading.Condition()
        self._wanted = 0  # the publisher's next frame index
        self._stop = False
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="camera-render", daemon=True)
        self._thread.start()

    def _slot(self, index: int) -> int:
        return index % self.cache_frames if self.cache_frames else index

    def _pose_time(self, slot: int) -> float:
        if self.cache_frames:
            return slot * self.scene.period / self.cache_frames
        return slot / self.rate

    def render(self, slot: int) -> CameraFrame:
        """Render and encode one frame (any thread)."""
        t0 = time.perf_counter()
        frame = self.scene.render(self.scene.trajectory_pose(self._pose_time(slot)),
                                  self.width, self.height)
        data, step = encode_image(convert_rgb(frame.rgb, self.encoding), self.encoding)
        jpeg = (encode_compressed(frame.rgb, "jpeg", self.jpeg_quality)[0]
                if self.compressed else None)
        depth = encode_depth_32fc1(frame.depth)[0] if self.ground_truth else None
        return CameraFrame(slot, data, step, jpeg, depth, frame.intrinsics,
                           time.perf_counter() - t0)

    def _next_to_render(self) -> int | None:
        """Slot to render next, or None when far enough ahead (holding the lock)."""
        for index in range(self._wanted, self._wanted + _AHEAD):
            slot = self._slot(index)
            if slot not in self._frames:
                return slot
        return None

    def _run(self) -> None:
        try:
            while True:
                with self._cond:
                    slot = self._next_to_render()
                    while slot is None and not self._stop:
                        self._cond.wait()
                        slot = self._next_to_render()
                    if self._stop:
                        return
                frame = self.render(slot)
                with self._cond:
                    self._frames[slot] = frame
                    if not self.cache_frames:  # live: forget what was published
                        for old in [k for k in self._frames if k < self._wanted]:
                            del self._frames[old]
                    self._cond.notify_all()
        except BaseException as exc:  # surfaced to the publisher by get()
            with self._cond:
                self.error = exc
                self._cond.notify_all()

    def get(self, index: int, timeout: float = 60.0) -> CameraFrame:
        """Frame ``index`` (blocks until it is rendered).

        Raises:
            RuntimeError: the renderer failed or took longer than ``timeout`` seconds.
        """
        slot = self._slot(index)
        deadline = time.monotonic() + timeout
        with self._cond:
            self._wanted = index
            self._cond.notify_all()
            while slot not in self._frames:
                if self.error is not None:
                    raise RuntimeError(f"rendering frame {index} failed: {self.error}")
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise RuntimeError(f"rendering frame {index} took over {timeout:.0f} s")
                self._cond.wait(remaining)
            frame = self._frames[slot]
            self._wanted = index + 1
            if not self.cache_frames:
                del self._frames[slot]
            self._cond.notify_all()
            return frame

    def close(self) -> None:
        """Stop the render thread."""
        with self._cond:
            self._stop = True
            self._cond.notify_all()
        self._thread.join(timeout=10.0)


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
