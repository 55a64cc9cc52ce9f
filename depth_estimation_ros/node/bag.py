"""Convert a rosbag2 offline: camera images in, depth, camera info and clouds out.

Reads a rosbag2 (mcap or sqlite3, through ``rosbags``) with ``sensor_msgs/Image`` or
``CompressedImage`` camera images and, if present, the sibling ``camera_info``; each image
goes through a frame-processing callable and the result is written to a new bag as
``/depth/image`` (32FC1 metres), ``/depth/camera_info`` and ``/depth/points`` with the
input's header stamp, frame_id and log time.

The processing callable is ``process(rgb, stamp, frame_id, intrinsics_or_none)``: ``rgb``
``(H, W, 3)`` uint8, ``stamp`` ``(sec, nanosec)``, ``intrinsics_or_none`` a
``CameraIntrinsics`` from the bag's CameraInfo (or None). It returns an object with
``depth`` (``(H', W')`` float32 metres, NaN invalid), ``intrinsics`` (``CameraIntrinsics`` of
the depth image) and ``cloud`` (``pointcloud.CloudBuffer`` or None) attributes;
``pipeline.FrameResult`` is one. ``python -m depth_estimation_ros.bag`` uses
``pipeline.FramePipeline`` with the estimator; ``convert_bag`` accepts any callable.
"""

import logging
import shutil
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from depth_estimation_ros.core.camera import CameraInfoError, CameraIntrinsics
from depth_estimation_ros.core.encodings import (
    EncodingError,
    encode_depth_32fc1,
    rgb8_from_compressed_msg,
    rgb8_from_msg,
)
from depth_estimation_ros.core.pointcloud import CloudBuffer
from depth_estimation_ros.core.reporting import first_line, worth_logging

__all__ = [
    "BagError",
    "BagFrameOutputs",
    "ConversionReport",
    "DEPTH_CAMERA_INFO_TOPIC",
    "DEPTH_IMAGE_TOPIC",
    "DEPTH_POINTS_TOPIC",
    "ProcessFn",
    "convert_bag",
    "find_camera_topics",
]

logger = logging.getLogger(__name__)

IMAGE_TYPE = "sensor_msgs/msg/Image"
COMPRESSED_TYPE = "sensor_msgs/msg/CompressedImage"
CAMERA_INFO_TYPE = "sensor_msgs/msg/CameraInfo"
POINTCLOUD_TYPE = "sensor_msgs/msg/PointCloud2"
DEPTH_IMAGE_TOPIC = "/depth/image"
DEPTH_CAMERA_INFO_TOPIC = "/depth/camera_info"
DEPTH_POINTS_TOPIC = "/depth/points"
STORAGES = ("mcap", "sqlite3")
_MAX_REPORTED_ERRORS = 5  # reasons kept in ConversionReport.errors


class BagError(ValueError):
    """A bag, topic or option that cannot be used for the conversion."""


@dataclass(frozen=True)
class BagFrameOutputs:
    """What a processing callable returns (``pipeline.FrameResult`` has the same fields).

    Attributes:
        depth: ``(H, W)`` float32 metres along the optical axis, NaN invalid.
        intrinsics: intrinsics of the depth image, or None to skip its CameraInfo.
        cloud: packed organised point cloud, or None to skip ``/depth/points``.
    """

    depth: np.ndarray
    intrinsics: CameraIntrinsics | None = None
    cloud: CloudBuffer | None = None


ProcessFn = Callable[[np.ndarray, tuple[int, int], str, CameraIntrinsics | None], Any]


@dataclass
class ConversionReport:
    """Counts of one conversion."""

    image_topic: str
    info_topic: str | None
    images: int = 0  # camera images read
    processed: int = 0  # depth images written
    clouds: int = 0
    skipped: int = 0  # images that could not be decoded or processed
    errors: list[str] = field(default_factory=list)  # first few reasons
    bad_infos: int = 0  # CameraInfo messages that could not be decoded

    def skip(self, reason: str) -> None:
        """Count the current image as skipped; warn at the 1st, 10th, 100th, every 1000th."""
        self.skipped += 1
        if len(self.errors) < _MAX_REPORTED_ERRORS:
            self.errors.append(f"image {self.images}: {reason}")
        if worth_logging(self.skipped):
            logger.warning(f"skipping image {self.images} of {self.image_topic} "
                           f"({self.skipped} skipped so far): {reason}")


def _typestore() -> Any:
    from rosbags.typesys import Stores, get_typestore

    # Jazzy's sensor_msgs / std_msgs definitions are the same as Humble's (same RIHS01).
    return get_typestore(Stores.ROS2_JAZZY)


def _image_base(topic: str, msgtype: str) -> str:
    """``/cam/image_raw/compressed`` -> ``/cam/image_raw`` (image_transport naming)."""
    if msgtype == COMPRESSED_TYPE and topic.endswith("/compressed"):
        return topic[: -len("/compressed")]
    return topic


def _sibling_info(image_topic: str, msgtype: str) -> str:
    base = _image_base(image_topic, msgtype)
    head = base.rsplit("/", 1)[0]
    return f"{head}/camera_info"


def find_camera_topics(topics: dict[str, str], image_topic: str | None = None,
                       info_topic: str | None = None) -> tuple[str, str | None]:
    """Pick the camera image topic and its CameraInfo topic from ``{topic: msgtype}``.

    Without ``image_topic``: the only Image/CompressedImage topic; among several, raw
    ``Image`` is preferred over its own ``/compressed`` and topics with "depth" in the name
    are ignored; anything still ambiguous raises. The info topic defaults to the image
    topic's sibling ``camera_info`` when the bag has it.

    Raises:
        BagError: no camera topic, an ambiguous choice, or a named topic of the wrong type.
    """
    images = {t: ty for t, ty in topics.items() if ty in (IMAGE_TYPE, COMPRESSED_TYPE)}
    if image_topic is not None:
        if image_topic not in images:
            raise BagError(
                f"image topic {image_topic} is not in the bag as Image or CompressedImage; "
                f"camera topics there: {sorted(images) or 'none'}"
            )
    else:
        candidates = {t: ty for t, ty in images.items() if "depth" not in t.lower()}
        raw_bases = {t for t, ty in candidates.items() if ty == IMAGE_TYPE}
        candidates = {t: ty for t, ty in candidates.items()
                      if not (ty == COMPRESSED_TYPE and _image_base(t, ty) in raw_bases)}
        if len(candidates) != 1:
            raise BagError(
                f"cannot pick the camera image topic automatically among "
                f"{sorted(candidates) or 'no Image/CompressedImage topics'}; pass --image-topic"
            )
        image_topic = next(iter(candidates))
    if info_topic is not None:
        if topics.get(info_topic) != CAMERA_INFO_TYPE:
            raise BagError(f"camera info topic {info_topic} is not in the bag as CameraInfo")
        return image_topic, info_topic
    sibling = _sibling_info(image_topic, images[image_topic])
    return image_topic, sibling if topics.get(sibling) == CAMERA_INFO_TYPE else None


def _intrinsics(msg: Any) -> CameraIntrinsics | None:
    try:
        return CameraIntrinsics.from_matrix(np.asarray(msg.k, np.float64), int(msg.width),
                                            int(msg.height))
    except CameraInfoError as exc:
        logger.warning(f"ignoring CameraInfo: {exc}")
        return None


class _OutputWriter:
    """Builds rosbags messages from numpy outputs and writes them."""

    def __init__(self, writer: Any, typestore: Any, with_points: bool) -> None:
        self.writer, self.ts = writer, typestore
        t = typestore.types
        self.Image, self.CameraInfo, self.PointCloud2 = (
            t[IMAGE_TYPE], t[CAMERA_INFO_TYPE], t[POINTCLOUD_TYPE])
        self.Header, self.Time = t["std_msgs/msg/Header"], t["builtin_interfaces/msg/Time"]
        self.PointField = t["sensor_msgs/msg/PointField"]
        self.ROI = t["sensor_msgs/msg/RegionOfInterest"]
        self.conn_depth = writer.add_connection(DEPTH_IMAGE_TOPIC, IMAGE_TYPE,
                                                typestore=typestore)
        self.conn_info = writer.add_connection(DEPTH_CAMERA_INFO_TOPIC, CAMERA_INFO_TYPE,
                                               typestore=typestore)
        self.conn_points = (writer.add_connection(DEPTH_POINTS_TOPIC, POINTCLOUD_TYPE,
                                                  typestore=typestore)
                            if with_points else None)

    def _header(self, stamp: tuple[int, int], frame_id: str) -> Any:
        return self.Header(stamp=self.Time(sec=stamp[0], nanosec=stamp[1]), frame_id=frame_id)

    def _write(self, conn: Any, msgtype: str, msg: Any, log_time: int) -> None:
        self.writer.write(conn, log_time, self.ts.serialize_cdr(msg, msgtype))

    def write(self, out: Any, stamp: tuple[int, int], frame_id: str, log_time: int) -> bool:
        """Write depth, camera info and (if any) cloud; True when a cloud was written."""
        data, step = encode_depth_32fc1(np.asarray(out.depth))
        height, width = np.asarray(out.depth).shape[:2]
        self._write(self.conn_depth, IMAGE_TYPE, self.Image(
            header=self._header(stamp, frame_id), height=height, width=width, encoding="32FC1",
            is_bigendian=0, step=step, data=data), log_time)
        intr = getattr(out, "intrinsics", None)
        if intr is not None:
            f = intr.to_camera_info_fields()
            self._write(self.conn_info, CAMERA_INFO_TYPE, self.CameraInfo(
                header=self._header(stamp, frame_id), height=int(f["height"]),
                width=int(f["width"]), distortion_model=str(f["distortion_model"]),
                d=np.asarray(f["d"], np.float64), k=np.asarray(f["k"], np.float64),
                r=np.asarray(f["r"], np.float64), p=np.asarray(f["p"], np.float64),
                binning_x=int(f["binning_x"]), binning_y=int(f["binning_y"]),
                roi=self.ROI(x_offset=0, y_offset=0, height=0, width=0, do_rectify=False),
            ), log_time)
        cloud = getattr(out, "cloud", None)
        if cloud is None or self.conn_points is None:
            return False
        self._write(self.conn_points, POINTCLOUD_TYPE, self.PointCloud2(
            header=self._header(stamp, frame_id), height=cloud.height, width=cloud.width,
            fields=[self.PointField(name=s.name, offset=s.offset, datatype=s.datatype,
                                    count=s.count) for s in cloud.fields],
            is_bigendian=bool(cloud.is_bigendian), point_step=cloud.point_step,
            row_step=cloud.row_step, data=np.ascontiguousarray(cloud.data).reshape(-1),
            is_dense=bool(cloud.is_dense),
        ), log_time)
        return True


def _convert_messages(reader: Any, writer: Any, typestore: Any, process: ProcessFn,
                      report: ConversionReport, wanted: list, image_type: str,
                      with_points: bool, copy_input: bool, max_frames: int, total: int,
                      progress: bool) -> None:
    """The conversion loop of ``convert_bag`` (bag reader and writer already open)."""
    from tqdm import tqdm

    image_topic, info_topic = report.image_topic, report.info_topic
    outputs = _OutputWriter(writer, typestore, with_points)
    copies = {}
    if copy_input:
        for conn in wanted:
            if conn.topic not in copies:
                copies[conn.topic] = writer.add_connection(
                    conn.topic, conn.msgtype, msgdef=conn.msgdef.data,
                    rihs01=conn.digest)
    camera: CameraIntrinsics | None = None
    bar = tqdm(total=total, unit="frame", desc="depth", disable=not progress)
    for conn, log_time, raw in reader.messages(connections=wanted):
        if conn.topic == image_topic and max_frames and report.images >= max_frames:
            break
        if conn.topic in copies:
            writer.write(copies[conn.topic], log_time, raw)
        if conn.topic == info_topic:
            try:
                camera = _intrinsics(typestore.deserialize_cdr(raw, conn.msgtype))
            except Exception as exc:  # rosbags raises assorted errors on corrupt CDR
                report.bad_infos += 1
                if worth_logging(report.bad_infos):
                    logger.warning(f"ignoring unreadable CameraInfo on {info_topic} "
                                   f"({report.bad_infos} so far): {exc}")
            continue
        report.images += 1
        bar.update(1)
        try:
            msg = typestore.deserialize_cdr(raw, conn.msgtype)
        except Exception as exc:  # SerdeError (truncated CDR, non-UTF-8 string), ...
            report.skip(f"not a readable {conn.msgtype} message ({exc})")
            continue
        try:
            rgb = (rgb8_from_compressed_msg(msg) if image_type == COMPRESSED_TYPE
                   else rgb8_from_msg(msg))
            stamp = (int(msg.header.stamp.sec), int(msg.header.stamp.nanosec))
            frame_id = str(msg.header.frame_id)
            out = process(rgb, stamp, frame_id, camera)
            report.clouds += outputs.write(out, stamp, frame_id, log_time)
            report.processed += 1
        except (EncodingError, CameraInfoError, ValueError) as exc:
            report.skip(str(exc))
    bar.close()


def _missing_paths(path: Path) -> list[Path]:
    """``path`` and its parent folders that do not exist yet, deepest first."""
    missing: list[Path] = []
    while not (path.exists() or path.is_symlink()) and path != path.parent:
        missing.append(path)
        path = path.parent
    return missing


def _remove_created(created: list[Path]) -> None:
    """Remove a partial output bag and the (now empty) parent folders this run made."""
    if not created:
        return
    shutil.rmtree(created[0], ignore_errors=True)
    for folder in created[1:]:
        try:
            folder.rmdir()
        except OSError:  # not empty (someone else's files) or already gone
            break


def convert_bag(in_path: str | Path, out_path: str | Path, process: ProcessFn, *,
                storage: str = "mcap", image_topic: str | None = None,
                info_topic: str | None = None, with_points: bool = True,
                copy_input: bool = False, max_frames: int = 0,
                progress: bool = True) -> ConversionReport:
    """Process every camera image of a rosbag2 and write the depth outputs to a new bag.

    Args:
        in_path: input rosbag2 directory (mcap or sqlite3).
        out_path: output bag directory; must not exist.
        process: the frame-processing callable (see the module docstring).
        storage: output storage, ``"mcap"`` or ``"sqlite3"``.
        image_topic: camera image topic; found automatically when None.
        info_topic: CameraInfo topic; the image topic's sibling when None.
        with_points: write ``/depth/points`` when ``process`` returns a cloud.
        copy_input: also copy the camera image and info messages unchanged.
        max_frames: stop after this many images (0: all).
        progress: show a tqdm progress bar.

    Returns:
        The counts; images that fail to decode or process are skipped and counted.

    Raises:
        BagError: unreadable input bag, bad storage, no/ambiguous camera topic, or an
            output path that exists or cannot be written. When the conversion fails, the
            partial output bag (and any parent folders this call created) is removed.
    """
    from rosbags.rosbag2 import Reader, StoragePlugin, Writer
    from rosbags.rosbag2.errors import ReaderError, WriterError

    if storage not in STORAGES:
        raise BagError(f"output storage {storage!r} is not supported; expected mcap or sqlite3")
    in_path, out_path = Path(in_path), Path(out_path)
    if out_path.exists() or out_path.is_symlink():
        raise BagError(f"output bag {out_path} exists already; choose a new path")
    typestore = _typestore()
    try:
        reader = Reader(in_path)
        reader.open()
    except (ReaderError, OSError) as exc:
        raise BagError(f"input bag {in_path} cannot be read as rosbag2: "
                       f"{first_line(exc)}") from None
    try:
        topics = {c.topic: c.msgtype for c in reader.connections}
        image_topic, info_topic = find_camera_topics(topics, image_topic, info_topic)
        if info_topic is None:
            logger.warning(f"no CameraInfo for {image_topic} in the bag; the processing "
                           "falls back to its default intrinsics")
        report = ConversionReport(image_topic=image_topic, info_topic=info_topic)
        wanted = [c for c in reader.connections if c.topic in (image_topic, info_topic)]
        image_type = topics[image_topic]
        total = sum(c.msgcount for c in wanted if c.topic == image_topic)
        if max_frames:
            total = min(total, max_frames)
        plugin = StoragePlugin.MCAP if storage == "mcap" else StoragePlugin.SQLITE3
        created = _missing_paths(out_path)  # what Writer.open makes: ours to clean up
        try:
            writer = Writer(out_path, version=9, storage_plugin=plugin)
            writer.open()
        except WriterError as exc:  # the path appeared since the check: not ours to remove
            raise BagError(f"output bag {out_path} cannot be written: {exc}") from None
        except BaseException as exc:
            _remove_created(created)
            if isinstance(exc, OSError):  # not a folder, read-only, no such parent, ...
                raise BagError(f"output bag {out_path} cannot be written: "
                               f"{exc.strerror or exc}") from None
            raise
        try:
            _convert_messages(reader, writer, typestore, process, report, wanted, image_type,
                              with_points, copy_input, max_frames, total, progress)
            writer.close()
        except BaseException as exc:
            with suppress(Exception):  # the partial output is removed just below anyway
                writer.abort()
            _remove_created(created)  # no half-written bag that blocks a rerun
            if isinstance(exc, ReaderError):
                raise BagError(f"input bag {in_path} cannot be read to the end: "
                               f"{first_line(exc)}; no output written") from None
            if isinstance(exc, OSError):  # disk full, input or output file I/O error
                raise BagError(f"conversion to {out_path} failed: {exc.strerror or exc}; "
                               "partial output removed") from None
            raise
    finally:
        reader.close()
    return report
