"""The frame pipeline both transport shells call (no ROS imports).

Three layers, each usable on its own:

- `FramePipeline`: decoded frame (RGB uint8 + stamp + frame_id + optional intrinsics) →
  `FrameResult` (depth in metres at the configured resolution, the intrinsics for that
  resolution, an optional packed point cloud, per-stage timings).
- `LatestFrameWorker`: one worker thread behind a one-slot mailbox. Submitting never blocks;
  a frame still waiting when a newer one arrives is dropped (and reported as dropped).
- `DepthProcessor`: the message-level glue shared by the rclpy node and the DDS runtime:
  callbacks hand raw messages to the worker, which decodes them (`msgconv`), runs the
  `FramePipeline`, fills the output messages and publishes them; bad input is rejected with a
  counted log line; statistics go to ``/diagnostics``. The message classes and publishers
  come from the shell, so the same code serves ``sensor_msgs.msg`` and
  ``depth_estimation_ros.dds.messages``. Besides depth, camera_info and the cloud it makes
  the stand-in sensors (`standin`: laser scan, range sectors, their ``/tf_static`` frames)
  and the colourised depth, each only while someone subscribes; lifecycle shells use
  `DepthProcessor.activate` / `deactivate` / `release`.
"""

from __future__ import annotations

import dataclasses
import gc
import logging
import math
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar

import numpy as np

from depth_estimation_ros.core.camera import CameraInfoError, CameraIntrinsics, backproject
from depth_estimation_ros.core.filters import DepthFilters, FilterConfig
from depth_estimation_ros.core.mount import Mount, mount_transform
from depth_estimation_ros.core.pointcloud import (
    CloudBuffer,
    cloud_points,
    invalidate_points,
    pack_cloud,
)
from depth_estimation_ros.core.standin import (
    RADIATION_TYPES,
    SCAN_FRAME_SUFFIX,
    RangeConfig,
    ScanConfig,
    StandinError,
    depth_to_ranges,
    depth_to_scan,
    range_frame_ids,
    static_transforms,
)
from depth_estimation_ros.core.visualize import DepthColorizer
from depth_estimation_ros.core.voxel import voxel_points
from depth_estimation_ros.node import msgconv
from depth_estimation_ros.node import params as cfg
from depth_estimation_ros.node.diagnostics import PipelineStats, report, summary
from depth_estimation_ros.node.msgconv import InputError, MessageTypes
from depth_estimation_ros.node.params import NODE_NAME, DepthNodeParams

if TYPE_CHECKING:  # torch is imported only where a model is loaded
    from depth_estimation_ros.core.estimator import DepthEstimator

_LOG = logging.getLogger(__name__)

T = TypeVar("T")
Stamp = tuple[int, int]  # (sec, nanosec) of builtin_interfaces/Time


@dataclass(frozen=True)
class Frame:
    """A decoded camera frame.

    Attributes:
        rgb: (H, W, 3) uint8 RGB image.
        stamp: (sec, nanosec) of the input header.
        frame_id: Optical frame of the camera (REP 103).
        intrinsics: Camera intrinsics from camera_info (any resolution), or None to use the
            configured defaults.
        received: Monotonic time (s) the message arrived, for latency.
    """

    rgb: np.ndarray
    stamp: Stamp
    frame_id: str
    intrinsics: CameraIntrinsics | None = None
    received: float = field(default_factory=time.monotonic)


@dataclass(frozen=True)
class FrameResult:
    """What one frame turns into; plain data, ready to be put in messages.

    Attributes:
        depth: (H', W') float32 metres along the optical axis, NaN where invalid.
        intrinsics: Intrinsics of the depth image (its resolution).
        cloud: Organised point cloud (depth_image_proc layout) or None.
        stamp: (sec, nanosec) copied from the input.
        frame_id: Copied from the input.
        timings: Seconds per stage: ``inference`` (the device pass: network, upsampling and,
            when a cloud is wanted, its finished records; one download) and ``filters``
            (the depth filters, the cloud made to agree with them) when any is on.
        received: Monotonic time (s) the input arrived.
        filtered: Pixels the edge filter made invalid.
        valid: Valid pixels before the filters.
    """

    depth: np.ndarray
    intrinsics: CameraIntrinsics
    cloud: CloudBuffer | None
    stamp: Stamp
    frame_id: str
    timings: Mapping[str, float]
    received: float
    filtered: int = 0
    valid: int = 0


def filter_config(params: DepthNodeParams) -> FilterConfig:
    """The `FilterConfig` of the node's parameters (they carry its fields' names)."""
    return FilterConfig(**{f.name: getattr(params, f.name)
                           for f in dataclasses.fields(FilterConfig)})


def apply_filters(filters: DepthFilters, depth: np.ndarray, intrinsics: CameraIntrinsics,
                  cloud: CloudBuffer | None, params: DepthNodeParams, frame_id: str,
                  stamp: Stamp) -> tuple[np.ndarray, int, int]:
    """Filter one frame's depth and make its cloud agree (same points, same NaNs).

    Returns:
        (filtered depth, pixels the edge filter removed, valid pixels before the filters).
    """
    result = filters(depth, intrinsics, frame_id, stamp[0] + stamp[1] * 1e-9)
    if cloud is not None:
        d = params.pointcloud_decimation
        if filters.config.changes_values:
            backproject(result.depth, intrinsics, d, params.min_range, params.max_range,
                        out=cloud_points(cloud))
        elif result.removed:
            invalidate_points(cloud, np.isnan(result.depth[::d, ::d]))
    return result.depth, result.removed, result.valid_in


class FramePipeline:
    """Estimate depth for a frame and derive its intrinsics and point cloud.

    Args:
        estimator: The loaded model on its device.
        params: Node parameters; replace `params` to apply live changes.
    """

    def __init__(self, estimator: DepthEstimator, params: DepthNodeParams) -> None:
        self.estimator = estimator
        self.params = params  # swapped whole (atomic), read once per frame
        self.filters = DepthFilters(filter_config(params))  # used on the worker thread only
        self._filter_params = params

    def input_intrinsics(
        self, width: int, height: int, camera: CameraIntrinsics | None = None
    ) -> CameraIntrinsics:
        """Intrinsics of a ``width`` x ``height`` input frame.

        Uses the camera_info intrinsics (scaled if the sizes differ), else the ``fx, fy, cx,
        cy`` parameters, else the NYU Kinect intrinsics scaled to the frame.
        """
        if camera is not None:
            if (camera.width, camera.height) == (width, height):
                return camera
            return camera.scaled(width, height)
        p = self.params
        if p.fx > 0.0 or p.fy > 0.0:
            # one focal length given: square pixels (fx and fy are set one at a time live)
            fx, fy = p.fx or p.fy, p.fy or p.fx
            cx = p.cx if p.cx > 0.0 else (width - 1) / 2.0
            cy = p.cy if p.cy > 0.0 else (height - 1) / 2.0
            return CameraIntrinsics(fx, fy, cx, cy, width, height)
        return CameraIntrinsics.nyu_kinect(width, height)

    def knows_camera(self, camera: CameraIntrinsics | None = None) -> bool:
        """Whether a frame's intrinsics are the camera's own (camera_info, or the ``fx``/``fy``
        parameters) rather than the NYU Kinect fallback: only then is the depth rescaled for
        the camera's focal length (an unknown camera keeps the model's own scale)."""
        return camera is not None or self.params.fx > 0.0 or self.params.fy > 0.0

    def output_intrinsics(self, input_intrinsics: CameraIntrinsics) -> CameraIntrinsics:
        """Intrinsics of the depth image for the configured output resolution."""
        return self.estimator.depth_intrinsics(input_intrinsics, self.params.output_resolution)

    def process(self, frame: Frame, want_cloud: bool = True) -> FrameResult:
        """Run one frame through the model (and back-projection when ``want_cloud``)."""
        p = self.params
        height, width = frame.rgb.shape[:2]
        t0 = time.perf_counter()
        camera = self.input_intrinsics(width, height, frame.intrinsics)
        intrinsics = self.output_intrinsics(camera)
        known = self.knows_camera(frame.intrinsics)
        cloud = None
        if want_cloud and p.publish_pointcloud:
            # Depth and the finished cloud records from one device pass and one download.
            depth, cloud = self.estimator.estimate_with_cloud(
                frame.rgb, "rgb8", p.output_resolution, intrinsics,
                p.pointcloud_decimation, p.min_range, p.max_range, p.pointcloud_color,
                rescale=known)
        else:
            depth = self.estimator.estimate(frame.rgb, "rgb8", output=p.output_resolution,
                                            intrinsics=camera if known else None)
        t1 = time.perf_counter()
        timings = {"inference": t1 - t0}
        if p is not self._filter_params:  # live change: applied here, on the worker thread
            self.filters.configure(filter_config(p))
            self._filter_params = p
        filtered = valid = 0
        if self.filters.config.enabled:
            depth, filtered, valid = apply_filters(self.filters, depth, intrinsics, cloud, p,
                                                   frame.frame_id, frame.stamp)
            timings["filters"] = time.perf_counter() - t1
        return FrameResult(
            depth=depth,
            intrinsics=intrinsics,
            cloud=cloud,
            stamp=frame.stamp,
            frame_id=frame.frame_id,
            timings=timings,
            received=frame.received,
            filtered=filtered,
            valid=valid,
        )


def build_estimator(params: DepthNodeParams) -> DepthEstimator:
    """The estimator the node's parameters ask for (checkpoint, device, precision, ...).

    Raises:
        CheckpointError: missing, corrupt or incompatible weights.
        ValueError: a device or precision this machine cannot provide.
    """
    import torch

    from depth_estimation_ros.core.estimator import DepthEstimator

    if params.num_threads > 0:
        torch.set_num_threads(params.num_threads)
    precision = params.precision
    return DepthEstimator(
        params.checkpoint or None, params.device,
        half=None if precision == "auto" else precision == "fp16",
        bfloat16=precision == "bf16", cuda_graphs=params.cuda_graphs)


def mount_of(params: DepthNodeParams) -> Mount | None:
    """The camera's mount the parameters ask to publish, or None."""
    if not params.publish_mount:
        return None
    return Mount(params.mount_parent_frame, params.mount_x, params.mount_y, params.mount_z,
                 params.mount_roll, params.mount_pitch, params.mount_yaw)


def voxel_cloud(result: FrameResult, params: DepthNodeParams) -> CloudBuffer:
    """The unorganised one-point-per-voxel cloud of a frame's (filtered) depth."""
    points = voxel_points(result.depth, result.intrinsics, params.cloud_voxel_size,
                          params.min_range, params.max_range)
    cloud = pack_cloud(points[None, :, :])
    return dataclasses.replace(cloud, is_dense=True)  # no NaN points in it


class LatestFrameWorker(Generic[T]):
    """One worker thread with a one-slot mailbox: only the newest item is kept.

    Args:
        handler: Called on the worker thread for each item taken from the mailbox.
        on_error: Called on the worker thread when ``handler`` raises; the worker goes on.
        name: Thread name.
    """

    def __init__(
        self,
        handler: Callable[[T], None],
        on_error: Callable[[T, Exception], None] | None = None,
        name: str = "depth-worker",
    ) -> None:
        self._handler = handler
        self._on_error = on_error
        self._cond = threading.Condition()
        self._slot: list[T] = []  # zero or one pending item
        self._busy = False
        self._stopped = False
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def submit(self, item: T) -> bool:
        """Put ``item`` in the mailbox without waiting.

        Returns:
            True if an older pending item was replaced (dropped), or if the worker is stopped
            and ``item`` itself is dropped.
        """
        with self._cond:
            if self._stopped:
                return True
            dropped = bool(self._slot)
            self._slot[:] = [item]
            self._cond.notify()
        return dropped

    def wait_idle(self, timeout: float) -> bool:
        """Wait until the mailbox is empty and no item is being handled; False on timeout."""
        with self._cond:
            return self._cond.wait_for(lambda: not self._slot and not self._busy, timeout)

    def stop(self, timeout: float = 5.0) -> None:
        """Stop after the item in progress; a pending item is discarded."""
        with self._cond:
            self._stopped = True
            self._slot.clear()
            self._cond.notify_all()
        if threading.current_thread() is not self._thread:
            self._thread.join(timeout)

    def _run(self) -> None:
        while True:
            with self._cond:
                self._cond.wait_for(lambda: self._slot or self._stopped)
                if self._stopped:
                    return
                item = self._slot.pop()
                self._busy = True
            try:
                self._handler(item)
            except Exception as exc:  # a bad frame must not kill the worker
                if self._stopped:
                    # stop() came while this item was in progress: the transport is going
                    # away (e.g. rclpy's context is already shut down on Ctrl+C), so a
                    # failed publish now is expected, not a frame error
                    _LOG.debug(f"item in progress at stop failed: {exc}")
                elif self._on_error is not None:
                    self._on_error(item, exc)
                else:
                    _LOG.exception("frame handler failed")
            finally:
                with self._cond:
                    self._busy = False
                    self._cond.notify_all()


class Publisher(Protocol):
    """What both shells' publishers offer (rclpy ``Publisher`` and the DDS runtime's)."""

    def publish(self, msg: Any) -> None: ...  # noqa: D102

    def get_subscription_count(self) -> int: ...  # noqa: D102


class Logger(Protocol):
    """What both shells' loggers offer (rclpy node logger and ``logging.Logger``)."""

    def info(self, message: str) -> None: ...  # noqa: D102

    def warning(self, message: str) -> None: ...  # noqa: D102

    def error(self, message: str) -> None: ...  # noqa: D102


RangePublisherFactory = Callable[[int], Sequence[Publisher]]
"""``factory(n)``: destroy the Range publishers it made before and return ``n`` new ones, on
`params.range_topics` ``(n)`` (``depth/range`` for one sector, ``depth/range_<i>`` for
several); ``factory(0)`` only destroys. The processor calls it when ``publish_range`` or
``range_sectors`` changes, so the shell need not know the sector count."""


@dataclass(frozen=True)
class Outputs:
    """The node's output publishers; the stand-in sensors' are optional (None: not
    published by this shell)."""

    depth: Publisher  # depth/image, sensor_msgs/Image 32FC1
    camera_info: Publisher  # depth/camera_info
    points: Publisher  # depth/points, sensor_msgs/PointCloud2
    points_voxel: Publisher | None = None  # depth/points_voxel, unorganised PointCloud2
    scan: Publisher | None = None  # depth/scan, sensor_msgs/LaserScan
    color: Publisher | None = None  # depth/image_color, sensor_msgs/Image rgb8
    # /tf_static, tf2_msgs/TFMessage: RELIABLE + TRANSIENT_LOCAL, depth 1 (as tf2 expects)
    tf_static: Publisher | None = None
    ranges: RangePublisherFactory | None = None  # depth/range[_<i>], sensor_msgs/Range


def ready_line(input_topic: str, outputs: Outputs) -> str:
    """The shells' start-up line: the input topic and every output topic they publish."""
    names = [getattr(pub, "topic_name", "?") for pub in (
        outputs.depth, outputs.camera_info, outputs.points, outputs.points_voxel,
        outputs.scan, outputs.color, outputs.tf_static) if pub is not None]
    if outputs.ranges is not None:
        names.append("depth/range[_<i>] (range sectors)")
    return f"{input_topic} -> {', '.join(names)}"


@dataclass(frozen=True)
class _Pending:
    msg: Any
    compressed: bool
    received: float  # monotonic s


def wall_clock_stamp() -> Stamp:
    """(sec, nanosec) of the wall clock now."""
    sec, nanosec = divmod(time.time_ns(), 1_000_000_000)
    return sec, nanosec


class DepthProcessor:
    """Message-level frame handling shared by the rclpy node and the DDS runtime.

    Callbacks (`on_image`, `on_compressed_image`, `on_camera_info`) return at once: frames go
    to a `LatestFrameWorker`, and nothing is done while no output has a subscriber. Every
    output carries the input's stamp. The scan is stamped with ``scan_frame`` or
    ``<frame>_scan``, each range sector with its own frame (`standin.range_frame_ids`); one
    TFMessage with all of the node's static transforms goes to ``/tf_static`` when the
    frame_id or the sector layout is first seen or changes. Settings that do not fit a
    frame (a band taller than the image, sectors wider than its view) skip that output for
    the frame with a counted, rate-limited log line; the other outputs go on.

    Lifecycle: a processor starts active; `deactivate` makes it ignore (and count) inputs
    and publish nothing until `activate`; `release` stops it for good and lets go of the
    model (and its GPU memory).

    Args:
        estimator: The loaded model.
        params: Validated node parameters.
        types: Message classes of the shell.
        outputs: The shell's publishers.
        logger: The shell's logger.
        node_name: Name used in diagnostics.
        now: Clock for the diagnostics header stamp, (sec, nanosec).
    """

    _REPEAT_S = 5.0  # an identical rejection or error message is logged at most this often

    def __init__(
        self,
        estimator: DepthEstimator,
        params: DepthNodeParams,
        types: MessageTypes,
        outputs: Outputs,
        logger: Logger,
        node_name: str = NODE_NAME,
        now: Callable[[], Stamp] = wall_clock_stamp,
    ) -> None:
        self.pipeline = FramePipeline(estimator, params)
        self.stats = PipelineStats()
        self._types = types
        self._outputs = outputs
        self._log = logger
        self._node_name = node_name
        self._now = now
        self._camera: CameraIntrinsics | None = None
        self._last_logged: dict[str, float] = {}  # message -> monotonic time logged
        self._aspect_warned: set[tuple[int, int, int, int]] = set()
        self._device = str(estimator.device)
        self._active = True
        self._range_pubs: Sequence[Publisher] = ()
        self._range_lock = threading.Lock()
        self._sync_range_publishers(params)
        self._tf_key: tuple | None = None  # what the last /tf_static message described
        self._last_scan_ns: int | None = None  # input stamp of the last frame processed
        self._colorizer: DepthColorizer | None = None
        self._worker: LatestFrameWorker[_Pending] = LatestFrameWorker(
            self._handle, self._on_error
        )

    @property
    def params(self) -> DepthNodeParams:
        """The parameters in force."""
        return self.pipeline.params

    # -- callbacks (transport threads): never block --------------------------------------

    def on_image(self, msg: Any) -> None:
        """Take a ``sensor_msgs/Image``."""
        self._submit(msg, compressed=False)

    def on_compressed_image(self, msg: Any) -> None:
        """Take a ``sensor_msgs/CompressedImage``."""
        self._submit(msg, compressed=True)

    def on_camera_info(self, msg: Any) -> None:
        """Take a ``sensor_msgs/CameraInfo``; its intrinsics apply to the following frames."""
        if not self.params.use_camera_info:
            return
        try:
            self._camera = msgconv.intrinsics_from_camera_info(msg)
        except InputError as exc:
            self._reject("camera_info", exc)

    def on_undecodable(self, source: str, exc: Exception) -> None:
        """Count and report a ``source`` message whose bytes did not decode (the DDS
        runtime's subscriptions call this; rclpy drops such messages in the middleware)."""
        self._reject(source, InputError(f"its bytes do not decode as a ROS message "
                                        f"({type(exc).__name__}: {exc})"))

    def _submit(self, msg: Any, compressed: bool) -> None:
        self.stats.count("received")
        if not self._active:
            self.stats.count("inactive")
            return
        if not self._has_subscribers():
            self.stats.count("idle")
            return
        if self._worker.submit(_Pending(msg, compressed, time.monotonic())):
            self.stats.count("dropped")

    def _has_subscribers(self) -> bool:
        o = self._outputs
        counts = [o.depth.get_subscription_count(), o.camera_info.get_subscription_count()]
        p = self.params
        if p.publish_pointcloud:
            counts.append(o.points.get_subscription_count())
        if p.cloud_voxel_size > 0.0 and o.points_voxel is not None:
            counts.append(o.points_voxel.get_subscription_count())
        if p.publish_scan and o.scan is not None:
            counts.append(o.scan.get_subscription_count())
        if p.publish_color and o.color is not None:
            counts.append(o.color.get_subscription_count())
        if p.publish_range:
            counts.extend(pub.get_subscription_count() for pub in self._range_pubs)
        return any(counts)

    # -- worker thread --------------------------------------------------------------------

    def _handle(self, pending: _Pending) -> None:
        if not self._active:  # deactivated while this frame waited
            self.stats.count("inactive")
            return
        p = self.params
        t0 = time.perf_counter()
        try:
            if pending.compressed:
                rgb = msgconv.compressed_image_to_rgb(pending.msg, p.max_input_pixels)
            else:
                rgb = msgconv.image_to_rgb(pending.msg, p.max_input_pixels)
        except InputError as exc:
            self._reject("image", exc)
            return
        stamp, frame_id = msgconv.stamp_and_frame(pending.msg)
        camera = self._camera_for(rgb.shape[1], rgb.shape[0])
        t1 = time.perf_counter()
        o = self._outputs
        want_cloud = p.publish_pointcloud and o.points.get_subscription_count() > 0
        result = self.pipeline.process(
            Frame(rgb, stamp, frame_id, camera, pending.received), want_cloud
        )
        t2 = time.perf_counter()
        if not self._active:
            self.stats.count("inactive")
            return
        types = self._types
        count = self.stats.count_published
        if o.depth.get_subscription_count():
            o.depth.publish(msgconv.depth_image_msg(types, result.depth, stamp, frame_id))
            count(cfg.DEPTH_IMAGE_TOPIC)
        if o.camera_info.get_subscription_count():
            o.camera_info.publish(
                msgconv.camera_info_msg(types, result.intrinsics, stamp, frame_id)
            )
            count(cfg.DEPTH_CAMERA_INFO_TOPIC)
        if result.cloud is not None:
            o.points.publish(msgconv.point_cloud_msg(types, result.cloud, stamp, frame_id))
            count(cfg.DEPTH_POINTS_TOPIC)
        t3 = time.perf_counter()
        stages = {"decode": t1 - t0, **result.timings, "publish": t3 - t2}
        if result.valid:
            self.stats.count_filtered(result.filtered, result.valid)
        if (p.cloud_voxel_size > 0.0 and o.points_voxel is not None
                and o.points_voxel.get_subscription_count()):
            o.points_voxel.publish(msgconv.point_cloud_msg(
                types, voxel_cloud(result, p), stamp, frame_id))
            count(cfg.DEPTH_POINTS_VOXEL_TOPIC)
            stages["voxel"] = time.perf_counter() - t3
        stages.update(self._publish_standins(p, result))
        self.stats.record_processed(time.monotonic() - pending.received, stages)

    # -- stand-in sensors and colour (worker thread) ---------------------------------------

    def _publish_standins(self, p: DepthNodeParams, result: FrameResult) -> dict[str, float]:
        """Scan, range sectors, colour image and /tf_static for one frame; returns the
        seconds each computed output took (stage timings)."""
        o, types = self._outputs, self._types
        depth, camera = result.depth, result.intrinsics
        stamp, frame_id = result.stamp, result.frame_id
        count = self.stats.count_published
        stages: dict[str, float] = {}
        scan_time = self._scan_time(stamp)  # every processed frame is a scan's time base
        self._publish_tf_static(p, stamp, frame_id)
        if p.publish_scan and o.scan is not None and o.scan.get_subscription_count():
            t0 = time.perf_counter()
            config = ScanConfig(p.scan_height, p.scan_offset, p.scan_decimation,
                                p.scan_range_min, p.scan_range_max)
            try:
                scan = depth_to_scan(depth, camera, config, scan_time)
            except StandinError as exc:
                self._skip(cfg.DEPTH_SCAN_TOPIC, exc)
            else:
                scan_frame = p.scan_frame or frame_id + SCAN_FRAME_SUFFIX
                o.scan.publish(msgconv.laser_scan_msg(types, scan, stamp, scan_frame))
                count(cfg.DEPTH_SCAN_TOPIC)
                stages["scan"] = time.perf_counter() - t0
        with self._range_lock:  # a live sector change must not destroy them mid-publish
            pubs = self._range_pubs
            wanted = [pub.get_subscription_count() > 0 for pub in pubs]
            # publishers for another sector count: the change came after this frame's params
            if p.publish_range and any(wanted) and len(pubs) == p.range_sectors:
                t0 = time.perf_counter()
                config = RangeConfig(p.range_sectors, p.range_field_of_view,
                                     RADIATION_TYPES[p.range_radiation_type], p.range_min,
                                     p.range_max, p.range_percentile)
                try:
                    readings = depth_to_ranges(depth, camera, config)
                except StandinError as exc:
                    self._skip(cfg.DEPTH_RANGE_TOPIC, exc)
                else:
                    frames = range_frame_ids(frame_id, p.range_sectors)
                    for pub, want, reading, frame, topic in zip(
                            pubs, wanted, readings, frames, cfg.range_topics(p.range_sectors),
                            strict=True):
                        if want:
                            pub.publish(msgconv.range_msg(types, reading, stamp, frame))
                            count(topic)
                    stages["ranges"] = time.perf_counter() - t0
        if p.publish_color and o.color is not None and o.color.get_subscription_count():
            t0 = time.perf_counter()
            colorizer = self._colorizer
            if colorizer is None or (colorizer.vmin, colorizer.vmax, colorizer.cmap) != (
                    p.color_min, p.color_max, p.color_map):
                colorizer = self._colorizer = DepthColorizer(p.color_min, p.color_max,
                                                             p.color_map)
            o.color.publish(msgconv.rgb_image_msg(types, colorizer(depth), stamp, frame_id))
            count(cfg.DEPTH_COLOR_TOPIC)
            stages["color"] = time.perf_counter() - t0
        return stages

    def _publish_tf_static(self, p: DepthNodeParams, stamp: Stamp, frame_id: str) -> None:
        """One TFMessage with all our static transforms, when what they describe changed
        (tf2: a static publisher's newest message holds all of its transforms)."""
        pub = self._outputs.tf_static
        if pub is None:
            return
        mount = mount_of(p)
        key = (frame_id, p.publish_scan, p.scan_frame, p.publish_range, p.range_sectors,
               p.range_field_of_view, mount)
        if key == self._tf_key:
            return
        self._tf_key = key
        transforms = static_transforms(
            frame_id, p.publish_scan, p.scan_frame, p.publish_range, p.range_sectors,
            p.range_field_of_view, mount_transform(mount, frame_id) if mount else None)
        if transforms:
            pub.publish(msgconv.tf_message(self._types, transforms, stamp))
            self.stats.count_published(cfg.TF_STATIC_TOPIC)

    def _scan_time(self, stamp: Stamp) -> float:
        """Seconds since the previous processed frame's input stamp (the measured scan
        period, also when no scan was wanted for that frame: a subscriber that joins late
        gets the camera's period, not the gap since the last scan); 0 for the first frame
        or when the stamps do not increase."""
        ns = stamp[0] * 1_000_000_000 + stamp[1]
        last, self._last_scan_ns = self._last_scan_ns, ns
        return (ns - last) * 1e-9 if last is not None and ns > last else 0.0

    def _skip(self, output: str, exc: StandinError) -> None:
        n = self.stats.count("skipped")
        text = f"Skipped {output} for this frame: {exc}"
        if self._fresh(text):
            self._log.warning(f"{text} ({n} outputs skipped so far)")

    def _sync_range_publishers(self, params: DepthNodeParams) -> None:
        """Have one Range publisher per sector while publish_range is on, none when off."""
        factory = self._outputs.ranges
        if factory is None:
            return
        wanted = params.range_sectors if params.publish_range else 0
        with self._range_lock:
            if len(self._range_pubs) != wanted:
                self._range_pubs = tuple(factory(wanted))

    def _camera_for(self, width: int, height: int) -> CameraIntrinsics | None:
        """The camera_info intrinsics scaled to a ``width`` x ``height`` frame (as
        image_proc's resize does), or None for the fallback ones when they cannot be."""
        camera = self._camera
        if camera is None or (camera.width, camera.height) == (width, height):
            return camera
        try:
            scaled = camera.scaled(width, height)
        except CameraInfoError as exc:
            self._camera = None  # until the next camera_info
            self._reject("camera_info", InputError(
                f"intrinsics of a {camera.width}x{camera.height} image cannot be scaled to "
                f"the {width}x{height} frame ({exc}); using the fallback intrinsics"))
            return None
        key = (camera.width, camera.height, width, height)
        if (abs(math.log((camera.width / camera.height) / (width / height))) > 0.01
                and key not in self._aspect_warned):
            self._aspect_warned.add(key)
            self._log.warning(
                f"camera_info is for a {camera.width}x{camera.height} image but frames are "
                f"{width}x{height}, another aspect ratio: its intrinsics are scaled unevenly "
                f"(x by {width / camera.width:.3g}, y by {height / camera.height:.3g})")
        return scaled

    def _reject(self, source: str, exc: Exception) -> None:
        n = self.stats.count("rejected")
        text = f"Rejected {source} message: {exc}"
        if self._fresh(text):
            self._log.warning(f"{text} ({n} rejected so far)")

    def _on_error(self, pending: _Pending, exc: Exception) -> None:
        n = self.stats.count("errors")
        text = f"{type(exc).__name__}: {exc}"
        if self._fresh(text):
            self._log.error(f"Depth pipeline failed on a frame ({n} so far): {text}")

    def _fresh(self, text: str) -> bool:
        """Whether to log ``text``: not if the same text was logged within ``_REPEAT_S``
        (the counters and diagnostics still count every occurrence)."""
        now = time.monotonic()
        if now - self._last_logged.get(text, -math.inf) <= self._REPEAT_S:
            return False
        if len(self._last_logged) > 64:  # forget old messages
            self._last_logged = {k: t for k, t in self._last_logged.items()
                                 if now - t <= self._REPEAT_S}
        self._last_logged[text] = now
        return True

    # -- parameters, diagnostics, shutdown ------------------------------------------------

    def set_parameters(self, changes: Mapping[str, Any]) -> DepthNodeParams:
        """Validate and apply live parameter changes.

        Raises:
            ParameterError: if a change is invalid or touches a read-only parameter.
        """
        updated = self.params.with_changes(changes)
        self.pipeline.params = updated
        self._sync_range_publishers(updated)
        changed = ", ".join(f"{k}={v!r}" for k, v in changes.items())
        self._log.info(f"Parameters updated: {changed}")
        return updated

    def diagnostics(self) -> Any:
        """A ``diagnostic_msgs/DiagnosticArray`` for the period since the last call."""
        snapshot = self.stats.snapshot("diagnostics")
        status = report(snapshot, self._node_name, self._device)
        return msgconv.diagnostic_array_msg(self._types, status, self._now())

    def log_status(self) -> None:
        """Log one status line for the period since the last call."""
        self._log.info(f"Depth: {summary(self.stats.snapshot('log'))}")

    def wait_idle(self, timeout: float) -> bool:
        """Wait until no frame is pending or in progress (for tests and shutdown)."""
        return self._worker.wait_idle(timeout)

    # -- lifecycle --------------------------------------------------------------------------

    @property
    def active(self) -> bool:
        """Whether frames are processed (see `activate` / `deactivate`)."""
        return self._active

    def activate(self) -> None:
        """Start processing frames (a new processor is already active).

        Raises:
            RuntimeError: after `release` (make a new processor with a loaded model).
        """
        if self.pipeline.estimator is None:
            raise RuntimeError("this DepthProcessor was released; configure a new one with a "
                               "loaded model")
        self.pipeline.filters.reset()  # no temporal history across an inactive period
        self._active = True

    def deactivate(self, timeout: float = 5.0) -> None:
        """Stop processing: inputs are ignored (counted as inactive) and nothing is
        published; waits up to ``timeout`` s for the frame in progress to finish."""
        self._active = False
        self._worker.wait_idle(timeout)

    def close(self) -> None:
        """Stop the worker thread."""
        self._worker.stop()

    def release(self) -> None:
        """Stop for good and let go of the model and the Range publishers it asked the
        shell for; on CUDA the cached GPU memory is returned (``torch.cuda.empty_cache``).
        The shell must drop its own references to the estimator too."""
        self._active = False
        self.close()
        with self._range_lock:
            if self._outputs.ranges is not None and self._range_pubs:
                self._outputs.ranges(0)
            self._range_pubs = ()
        self._colorizer = None
        estimator, self.pipeline.estimator = self.pipeline.estimator, None
        on_cuda = estimator is not None and getattr(estimator.device, "type", "") == "cuda"
        del estimator
        gc.collect()  # the model's modules hold reference cycles
        if on_cuda:
            import torch

            torch.cuda.empty_cache()
