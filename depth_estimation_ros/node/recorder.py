"""Receive the depth node's outputs and keep what they say: rates, latencies, files.

:class:`DepthRecorder` takes depth images, camera infos, point clouds, laser scans and range
readings (any message classes with the ROS 2 fields: DDS or rclpy), measures rate and
latency per stream, and saves every Nth depth image as a colourised PNG and its cloud as a
PLY on a saver thread. It knows no transport; ``python -m depth_estimation_ros.record``
subscribes it on DDS.
"""

import logging
import math
import queue
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from depth_estimation_ros.core.encodings import EncodingError, decode_image_msg
from depth_estimation_ros.core.ply import write_ply
from depth_estimation_ros.core.pointcloud import PointCloudError, unpack_cloud, unpack_rgb
from depth_estimation_ros.core.reporting import worth_logging
from depth_estimation_ros.core.visualize import DEFAULT_CMAP, save_depth_png

__all__ = ["DepthRecorder", "RateLatency", "cloud_arrays", "depth_metres"]

logger = logging.getLogger(__name__)

_MAX_PENDING_CLOUDS = 16  # saved-image stamps waiting for their cloud


def _stamp_ns(msg: Any) -> int:
    stamp = msg.header.stamp
    return int(stamp.sec) * 1_000_000_000 + int(stamp.nanosec)


def depth_metres(msg: Any) -> np.ndarray:
    """``(H, W)`` float32 metres (NaN invalid) from a 32FC1 or 16UC1 (mm) depth Image.

    Raises:
        EncodingError: another encoding, or a malformed image.
    """
    image = decode_image_msg(msg)
    if msg.encoding == "32FC1":
        return image.astype(np.float32, copy=False)
    if msg.encoding == "16UC1":
        depth = image.astype(np.float32) / 1000.0
        depth[image == 0] = np.nan  # REP 118: 0 mm = invalid
        return depth
    raise EncodingError(f"depth image encoding {msg.encoding!r} is not a depth encoding; "
                        "expected 32FC1 (metres) or 16UC1 (millimetres)")


def cloud_arrays(msg: Any) -> tuple[np.ndarray, np.ndarray | None]:
    """``(H, W, 3)`` float32 points and ``(H, W, 3)`` uint8 colours (or None) of a PointCloud2.

    Raises:
        PointCloudError: the cloud has no x/y/z fields or a malformed layout.
    """
    cloud = unpack_cloud(msg.data, msg.fields, msg.point_step, msg.width, msg.height,
                         bool(msg.is_bigendian), msg.row_step)
    names = cloud.dtype.names or ()
    if not {"x", "y", "z"} <= set(names):
        raise PointCloudError(f"point cloud fields {list(names)} lack x, y and z")
    xyz = np.stack([cloud["x"], cloud["y"], cloud["z"]], axis=-1).astype(np.float32)
    rgb = unpack_rgb(cloud["rgb"]) if "rgb" in names else None
    return xyz, rgb


@dataclass
class RateLatency:
    """Arrival times and latencies of one stream; rates and percentiles over any window."""

    arrivals: list[float] = field(default_factory=list)  # time.monotonic() seconds
    latencies_ms: list[float] = field(default_factory=list)  # wall now - header stamp

    def add(self, arrival: float, latency_ms: float) -> None:
        """Record one message."""
        self.arrivals.append(arrival)
        self.latencies_ms.append(latency_ms)

    def rate_hz(self, since: float | None = None) -> float:
        """Messages per second between the first and last arrival (after ``since``)."""
        times = self.arrivals if since is None else [t for t in self.arrivals if t >= since]
        if len(times) < 2 or times[-1] <= times[0]:
            return 0.0
        return (len(times) - 1) / (times[-1] - times[0])

    def latency(self, since: float | None = None) -> dict[str, float]:
        """``{"p50", "p95", "mean", "max"}`` latency in ms (after ``since``); empty if none."""
        values = [lat for t, lat in zip(self.arrivals, self.latencies_ms, strict=True)
                  if since is None or t >= since]
        if not values:
            return {}
        arr = np.asarray(values)
        return {"p50": float(np.percentile(arr, 50)), "p95": float(np.percentile(arr, 95)),
                "mean": float(arr.mean()), "max": float(arr.max())}


class DepthRecorder:
    """Receives depth images, camera infos and clouds; saves every Nth pair; keeps statistics.

    The ``on_*`` callbacks only measure and enqueue; PNG/PLY writing happens on a saver thread
    so slow disks do not distort the latency of the next message.

    Args:
        out_dir: folder for ``depth_<n>.png`` / ``cloud_<n>.ply`` (created).
        save_every: save depth image number 1, 1 + N, 1 + 2N, ... (0 saves nothing).
        vmin: depth at the low end of the colour scale (default per image).
        vmax: depth at the high end of the colour scale (default per image).
        cmap: matplotlib colormap.
    """

    def __init__(self, out_dir: Path, save_every: int = 10, vmin: float | None = None,
                 vmax: float | None = None, cmap: str = DEFAULT_CMAP) -> None:
        self.out_dir = Path(out_dir)
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self.save_every = save_every
        self.vmin, self.vmax, self.cmap = vmin, vmax, cmap
        self.depth = RateLatency()
        self.points = RateLatency()
        self.camera_infos = 0
        self.errors: dict[str, int] = {}
        self.saved_png: list[str] = []
        self.saved_ply: list[str] = []
        self.last_image: dict[str, Any] = {}
        self.last_info: dict[str, Any] = {}
        self.depth_min = float("inf")
        self.depth_max = float("-inf")
        self.scans = RateLatency()
        self.scan_nearest: tuple[float, float] | None = None  # (metres, radians) of the last
        self.ranges: dict[str, float] = {}  # topic -> latest Range reading (metres)
        self._lock = threading.Lock()
        self._recent_clouds: deque[tuple[int, Any]] = deque(maxlen=8)
        self._pending_clouds: dict[int, int] = {}  # stamp ns -> image number
        self._jobs: queue.Queue = queue.Queue(maxsize=32)
        self.save_skipped = 0
        self._saver = threading.Thread(target=self._save_loop, name="recorder-saver", daemon=True)
        self._saver.start()

    @property
    def images(self) -> int:
        """Depth images received so far."""
        return len(self.depth.arrivals)

    def _error(self, kind: str, exc: Exception) -> None:
        with self._lock:
            self.errors[kind] = self.errors.get(kind, 0) + 1
            count = self.errors[kind]
        if worth_logging(count):
            logger.warning(f"{kind} message rejected ({count} so far): {exc}")

    def _enqueue(self, job: tuple) -> None:
        try:
            self._jobs.put_nowait(job)
        except queue.Full:
            with self._lock:
                self.save_skipped += 1

    def on_depth(self, msg: Any) -> None:
        """Depth image callback."""
        now_wall, now_mono = time.time_ns(), time.monotonic()
        with self._lock:
            self.depth.add(now_mono, (now_wall - _stamp_ns(msg)) / 1e6)
            number = self.images
            self.last_image = {"width": int(msg.width), "height": int(msg.height),
                               "encoding": str(msg.encoding),
                               "frame_id": str(msg.header.frame_id)}
        if self.save_every > 0 and (number - 1) % self.save_every == 0:
            stamp = _stamp_ns(msg)
            self._enqueue(("png", number, msg))
            with self._lock:
                cloud = next((c for s, c in self._recent_clouds if s == stamp), None)
                if cloud is None:
                    self._pending_clouds[stamp] = number
                    while len(self._pending_clouds) > _MAX_PENDING_CLOUDS:
                        self._pending_clouds.pop(next(iter(self._pending_clouds)))
            if cloud is not None:
                self._enqueue(("ply", number, cloud))

    def on_points(self, msg: Any) -> None:
        """PointCloud2 callback."""
        now_wall, now_mono = time.time_ns(), time.monotonic()
        stamp = _stamp_ns(msg)
        with self._lock:
            self.points.add(now_mono, (now_wall - stamp) / 1e6)
            self._recent_clouds.append((stamp, msg))
            number = self._pending_clouds.pop(stamp, None)
        if number is not None:
            self._enqueue(("ply", number, msg))

    def on_scan(self, msg: Any) -> None:
        """LaserScan callback: keeps the nearest finite return of the newest scan."""
        now_wall, now_mono = time.time_ns(), time.monotonic()
        ranges = np.asarray(msg.ranges, dtype=np.float32)
        finite = np.flatnonzero(np.isfinite(ranges))
        nearest = None
        if finite.size:
            i = int(finite[np.argmin(ranges[finite])])
            nearest = (float(ranges[i]), float(msg.angle_min) + i * float(msg.angle_increment))
        with self._lock:
            self.scans.add(now_mono, (now_wall - _stamp_ns(msg)) / 1e6)
            self.scan_nearest = nearest

    def range_callback(self, topic: str) -> Callable[[Any], None]:
        """A Range callback that keeps ``topic``'s latest reading."""
        def on_range(msg: Any) -> None:
            with self._lock:
                self.ranges[topic] = float(msg.range)
        with self._lock:
            self.ranges.setdefault(topic, float("nan"))
        return on_range

    def sensors_line(self) -> str:
        """The scan's nearest obstacle and each range reading, or '' before any arrived."""
        with self._lock:
            parts = []
            if self.scans.arrivals:
                if self.scan_nearest is None:
                    parts.append("scan: no return")
                else:
                    distance, bearing = self.scan_nearest
                    parts.append(f"scan nearest {distance:.2f} m at "
                                 f"{round(math.degrees(bearing)) or 0:+d} deg")
            if any(math.isfinite(v) or math.isinf(v) for v in self.ranges.values()):
                parts.append("ranges " + ", ".join(f"{v:.2f}" for v in self.ranges.values())
                             + " m")
        return "; ".join(parts)

    def on_camera_info(self, msg: Any) -> None:
        """CameraInfo callback."""
        with self._lock:
            self.camera_infos += 1
            self.last_info = {"width": int(msg.width), "height": int(msg.height),
                              "k": [float(v) for v in msg.k]}

    def _save_loop(self) -> None:
        while True:
            job = self._jobs.get()
            try:
                if job is None:
                    return
                kind, number, msg = job
                if kind == "png":
                    self._save_png(number, msg)
                else:
                    self._save_ply(number, msg)
            except (EncodingError, PointCloudError, ValueError) as exc:
                self._error("depth image" if job[0] == "png" else "point cloud", exc)
            except OSError as exc:
                self._error("file write", exc)
            except Exception as exc:  # keep saving later frames whatever one frame did
                logger.exception(f"saving {job!r:.60} failed")
                self._error("save", exc)
            finally:
                self._jobs.task_done()

    def _save_png(self, number: int, msg: Any) -> None:
        depth = depth_metres(msg)
        valid = depth[np.isfinite(depth) & (depth > 0)]
        path = save_depth_png(self.out_dir / f"depth_{number:06d}.png", depth, self.vmin,
                              self.vmax, self.cmap)
        with self._lock:
            if valid.size:
                self.depth_min = min(self.depth_min, float(valid.min()))
                self.depth_max = max(self.depth_max, float(valid.max()))
            self.saved_png.append(path.name)

    def _save_ply(self, number: int, msg: Any) -> None:
        xyz, rgb = cloud_arrays(msg)
        path = self.out_dir / f"cloud_{number:06d}.ply"
        write_ply(path, xyz, rgb)
        with self._lock:
            self.saved_ply.append(path.name)

    def flush(self, timeout: float = 30.0) -> None:
        """Wait for queued saves (at most ``timeout`` seconds), then stop the saver."""
        deadline = time.monotonic() + timeout
        while self._jobs.unfinished_tasks and time.monotonic() < deadline:
            time.sleep(0.02)
        try:
            self._jobs.put(None, timeout=max(0.0, deadline - time.monotonic()))
        except queue.Full:
            return
        self._saver.join(timeout=max(0.1, deadline - time.monotonic()))

    def status_line(self, window_s: float) -> str:
        """One line: rates and latencies over the last ``window_s`` seconds, files saved."""
        since = time.monotonic() - window_s
        with self._lock:
            lat = self.depth.latency(since)
            parts = [f"depth {self.images} msgs, {self.depth.rate_hz(since):.2f} Hz"]
            if lat:
                parts.append(f"latency p50 {lat['p50']:.1f} ms p95 {lat['p95']:.1f} ms")
            parts.append(f"points {len(self.points.arrivals)} msgs, "
                         f"{self.points.rate_hz(since):.2f} Hz")
            parts.append(f"saved {len(self.saved_png)} png {len(self.saved_ply)} ply")
        sensors = self.sensors_line()
        return "; ".join(parts + ([sensors] if sensors else []))

    def summary(self, topics: dict[str, str], duration_s: float) -> dict[str, Any]:
        """Everything measured, as plain JSON types."""
        with self._lock:
            return {
                "topics": topics,
                "duration_s": round(duration_s, 3),
                "images": self.images,
                "clouds": len(self.points.arrivals),
                "camera_infos": self.camera_infos,
                "rate_hz": round(self.depth.rate_hz(), 3),
                "points_rate_hz": round(self.points.rate_hz(), 3),
                "latency_ms": {k: round(v, 2) for k, v in self.depth.latency().items()},
                "points_latency_ms": {k: round(v, 2) for k, v in self.points.latency().items()},
                "image": self.last_image,
                "camera_info": self.last_info,
                "depth_range_m": ([round(self.depth_min, 4), round(self.depth_max, 4)]
                                  if self.depth_min <= self.depth_max else None),
                "saved_png": sorted(self.saved_png),
                "saved_ply": sorted(self.saved_ply),
                "save_skipped": self.save_skipped,
                "errors": dict(self.errors),
                "out_dir": str(self.out_dir),
                "scans": len(self.scans.arrivals),
                "scan_rate_hz": round(self.scans.rate_hz(), 3),
                "scan_nearest": (None if self.scan_nearest is None else
                                 {"range_m": round(self.scan_nearest[0], 4),
                                  "bearing_deg": round(math.degrees(self.scan_nearest[1]), 2)}),
                "ranges_m": {t: (round(v, 4) if math.isfinite(v) else str(v))
                             for t, v in self.ranges.items()},
            }
