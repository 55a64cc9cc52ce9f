"""rosbag2 RGB-D recordings (mcap or sqlite3) as a depth source: colour, aligned depth, CameraInfo.

Reading a bag: opening it reads every message of the three topics once to build an index
(log time and header stamp of each colour and depth message, their sizes and encodings, the
intrinsics); nothing but that index stays in memory. An item is read back on demand with a
time-bounded query on the bag (mcap: only the chunk holding it; sqlite3: an indexed range) and
the last ``cache_size`` decoded pairs are kept per process. Each DataLoader worker reopens
the bag, as the NYU loader reopens its HDF5 file.
"""

from __future__ import annotations

import logging
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from depth_estimation_ros.core.camera import CameraInfoError, CameraIntrinsics
from depth_estimation_ros.core.encodings import (
    EncodingError,
    compressed_image_size,
    decode_image_msg,
    rgb8_from_compressed_msg,
    rgb8_from_msg,
)
from depth_estimation_ros.core.reporting import first_line
from depth_training.datasets.recording import (
    DEFAULT_TOLERANCE_S,
    RecordingSource,
    depth_to_metres,
    given_intrinsics,
    nearest_gap_ms,
    pair_stamps,
)
from depth_training.errors import DatasetError

log = logging.getLogger(__name__)

# RealSense ROS 2 wrapper topics with align_depth enabled (colour-aligned depth).
DEFAULT_RGB_TOPIC = "/camera/color/image_raw"
DEFAULT_DEPTH_TOPIC = "/camera/aligned_depth_to_color/image_raw"
DEFAULT_INFO_TOPIC = "/camera/color/camera_info"
IMAGE_TYPE = "sensor_msgs/msg/Image"
COMPRESSED_TYPE = "sensor_msgs/msg/CompressedImage"
CAMERA_INFO_TYPE = "sensor_msgs/msg/CameraInfo"
DEPTH_SCALES: dict[str, float] = {"16UC1": 1e-3, "mono16": 1e-3, "32FC1": 1.0}
_K_RTOL = 1e-3  # colour vs depth CameraInfo: relative difference still counted as the same


def _default_scale(encoding: str, where: str) -> float:
    scale = DEPTH_SCALES.get(encoding)
    if scale is None:
        raise DatasetError(f"{where} has depth encoding {encoding!r}, which is not supported; "
                           "expected 16UC1 (millimetres, 0 = invalid) or 32FC1 (metres, "
                           "NaN or 0 = invalid)")
    return scale


@dataclass(frozen=True)
class _BagMessage:
    """Where one message lies in the bag and what its header says."""

    topic: str
    log_ns: int  # bag log time (ns): the time-bounded query key
    stamp_ns: int  # header stamp (ns)
    width: int
    height: int
    encoding: str  # Image encoding or CompressedImage format


def _stamp_ns(msg: Any) -> int:
    return int(msg.header.stamp.sec) * 1_000_000_000 + int(msg.header.stamp.nanosec)


def _typestore() -> Any:
    from rosbags.typesys import Stores, get_typestore

    return get_typestore(Stores.ROS2_JAZZY)


def _depth_info_topic(depth_topic: str) -> str:
    """image_transport's sibling ``camera_info`` of the depth topic."""
    return f"{depth_topic.rsplit('/', 1)[0]}/camera_info"


class RosbagRGBD(RecordingSource):
    """Paired colour and aligned depth frames from a rosbag2 (mcap or sqlite3).

    Args:
        path: the bag folder (with ``metadata.yaml``).
        rgb_topic: colour topic, ``sensor_msgs/Image`` or ``CompressedImage``.
        depth_topic: depth topic aligned to colour, ``sensor_msgs/Image`` 16UC1 or 32FC1.
        info_topic: colour ``CameraInfo`` topic; its intrinsics are used unless ``fx`` > 0.
        tolerance: largest colour/depth stamp difference of a pair, seconds.
        depth_scale: metres per depth unit; 0 = by encoding (16UC1: 0.001, 32FC1: 1).
        fx, fy, cx, cy: intrinsics at the colour resolution overriding the CameraInfo (fx 0 =
            use the CameraInfo).
        cache_size: decoded pairs kept per process.

    Raises:
        DatasetError: unreadable bag, a missing topic (the message names the bag's topics),
            an unsupported depth encoding, no pair within the tolerance, depth not aligned to
            colour (another size, or a depth CameraInfo with other intrinsics), no intrinsics.
    """

    kind = "rosbag"

    def __init__(self, path: str | os.PathLike[str], rgb_topic: str = DEFAULT_RGB_TOPIC,
                 depth_topic: str = DEFAULT_DEPTH_TOPIC, info_topic: str = DEFAULT_INFO_TOPIC,
                 tolerance: float = DEFAULT_TOLERANCE_S, depth_scale: float = 0.0,
                 fx: float = 0.0, fy: float = 0.0, cx: float = 0.0, cy: float = 0.0,
                 cache_size: int = 64) -> None:
        super().__init__(Path(path), cache_size)
        if not tolerance > 0 or not math.isfinite(tolerance):
            raise DatasetError(f"the pairing tolerance must be positive seconds, got "
                               f"{tolerance}")
        self.rgb_topic, self.depth_topic, self.info_topic = rgb_topic, depth_topic, info_topic
        self.tolerance = float(tolerance)
        self._reader_obj: Any = None
        self._pid: int | None = None
        self._ts: Any = None
        reader = self._reader()
        topics = {c.topic: c.msgtype for c in reader.connections}
        self._check_topics(topics)
        self.rgb_type = topics[rgb_topic]
        rgb_msgs, depth_msgs, info = self._index(reader, topics)
        if fx > 0:
            first = rgb_msgs[0] if rgb_msgs else None
            w, h = (first.width, first.height) if first else (1, 1)
            self._intrinsics = given_intrinsics(fx, fy, cx, cy, w, h, f"{self.path}")
        elif info is None:
            raise DatasetError(f"bag {self.path} has no CameraInfo message on {info_topic}; "
                               "expected the colour camera's intrinsics there (or pass fx, "
                               "fy, cx, cy)")
        else:
            self._intrinsics = info
        self._pairs = self._make_pairs(rgb_msgs, depth_msgs)
        self._rgb = [rgb_msgs[i] for i, _ in self._pairs]
        self._depth = [depth_msgs[j] for _, j in self._pairs]
        encodings = {m.encoding for m in self._depth}
        self._scale = {e: depth_scale if depth_scale > 0 else
                       _default_scale(e, f"depth topic {depth_topic} of {self.path}")
                       for e in encodings}
        self.stamps = np.array([m.stamp_ns for m in self._rgb], dtype=np.float64) / 1e9
        self.width, self.height = self._rgb[0].width, self._rgb[0].height
        log.info(f"{self.path}: {len(self)} colour/depth pairs within {1e3 * tolerance:g} ms "
                 f"({len(rgb_msgs)} colour, {len(depth_msgs)} depth frames), "
                 f"{self.width}x{self.height}, fx {self._intrinsics.fx:.1f}")

    # ------------------------------------------------------------ opening and indexing
    def _reader(self) -> Any:
        """This process's open reader (reopened after fork, e.g. in DataLoader workers)."""
        if self._reader_obj is not None and self._pid == os.getpid():
            return self._reader_obj
        from rosbags.rosbag2 import Reader
        from rosbags.rosbag2.errors import ReaderError

        if not self.path.exists():
            raise DatasetError(f"bag {self.path} does not exist; expected a rosbag2 folder "
                               "(with metadata.yaml)")
        try:
            reader = Reader(self.path)
            reader.open()
        except (ReaderError, OSError, ValueError, KeyError) as exc:
            raise DatasetError(f"bag {self.path} cannot be read as rosbag2 (mcap or sqlite3): "
                               f"{first_line(exc)}") from None
        self._reader_obj, self._pid = reader, os.getpid()
        if self._ts is None:
            self._ts = _typestore()
        return reader

    def _check_topics(self, topics: dict[str, str]) -> None:
        have = ", ".join(f"{t} ({ty.rsplit('/', 1)[-1]})" for t, ty in sorted(topics.items()))
        wanted = ((self.rgb_topic, "colour", (IMAGE_TYPE, COMPRESSED_TYPE)),
                  (self.depth_topic, "depth", (IMAGE_TYPE,)))
        for topic, what, types in wanted:
            if topic not in topics:
                raise DatasetError(f"bag {self.path} has no {what} topic {topic}; topics in "
                                   f"the bag: {have or 'none'}")
            if topics[topic] not in types:
                raise DatasetError(f"{what} topic {topic} of bag {self.path} carries "
                                   f"{topics[topic]}; expected "
                                   f"{' or '.join(types)}")
        if self.info_topic in topics and topics[self.info_topic] != CAMERA_INFO_TYPE:
            raise DatasetError(f"camera info topic {self.info_topic} of bag {self.path} carries "
                               f"{topics[self.info_topic]}; expected {CAMERA_INFO_TYPE}")

    def _index(self, reader: Any, topics: dict[str, str]
               ) -> tuple[list[_BagMessage], list[_BagMessage], CameraIntrinsics | None]:
        """One pass over the bag: where each colour and depth message is, and the camera."""
        from rosbags.rosbag2.errors import ReaderError

        depth_info_topic = _depth_info_topic(self.depth_topic)
        if topics.get(depth_info_topic) != CAMERA_INFO_TYPE or depth_info_topic == (
                self.info_topic):
            depth_info_topic = ""
        names = {self.rgb_topic, self.depth_topic, self.info_topic, depth_info_topic}
        wanted = [c for c in reader.connections if c.topic in names]
        rgb: list[_BagMessage] = []
        depth: list[_BagMessage] = []
        infos: dict[str, CameraIntrinsics] = {}
        try:
            for conn, log_ns, raw in reader.messages(connections=wanted):
                msg = self._deserialize(raw, conn.msgtype, conn.topic, log_ns)
                if conn.msgtype == CAMERA_INFO_TYPE:
                    self._note_info(infos, conn.topic, msg)
                elif conn.topic == self.rgb_topic:
                    rgb.append(self._describe(conn.topic, log_ns, msg, conn.msgtype))
                elif conn.topic == self.depth_topic:
                    m = self._describe(conn.topic, log_ns, msg, conn.msgtype)
                    _default_scale(m.encoding, f"depth topic {self.depth_topic} of "
                                               f"bag {self.path}")
                    depth.append(m)
        except ReaderError as exc:
            raise DatasetError(f"bag {self.path} cannot be read to the end: "
                               f"{first_line(exc)}") from None
        for topic, count in ((self.rgb_topic, len(rgb)), (self.depth_topic, len(depth))):
            if count == 0:
                raise DatasetError(f"topic {topic} of bag {self.path} holds no message; "
                                   "expected a recording with colour and depth frames")
        colour = infos.get(self.info_topic)
        if colour is not None:
            if (colour.width, colour.height) != (rgb[0].width, rgb[0].height):
                raise DatasetError(
                    f"CameraInfo on {self.info_topic} of bag {self.path} is for "
                    f"{colour.width}x{colour.height} but the colour images on {self.rgb_topic} "
                    f"are {rgb[0].width}x{rgb[0].height}; expected the colour camera's info")
            dinfo = infos.get(depth_info_topic)
            if dinfo is not None and not _same_camera(colour, dinfo):
                raise DatasetError(
                    f"depth CameraInfo on {depth_info_topic} of bag {self.path} (fx "
                    f"{dinfo.fx:.1f}, fy {dinfo.fy:.1f}, cx {dinfo.cx:.1f}, cy {dinfo.cy:.1f}, "
                    f"{dinfo.width}x{dinfo.height}) differs from the colour camera's (fx "
                    f"{colour.fx:.1f}, fy {colour.fy:.1f}, cx {colour.cx:.1f}, cy "
                    f"{colour.cy:.1f}, {colour.width}x{colour.height}): the depth is not "
                    "aligned to colour; record the aligned depth topic (RealSense: "
                    "align_depth.enable:=true, /camera/aligned_depth_to_color/image_raw)")
        return rgb, depth, colour

    def _deserialize(self, raw: bytes, msgtype: str, topic: str, log_ns: int) -> Any:
        try:
            return self._ts.deserialize_cdr(raw, msgtype)
        except Exception as exc:  # rosbags raises assorted errors on corrupt CDR
            raise DatasetError(f"message at log time {log_ns} ns on {topic} of bag {self.path} "
                               f"is not a readable {msgtype} ({first_line(exc)})") from None

    def _describe(self, topic: str, log_ns: int, msg: Any, msgtype: str) -> _BagMessage:
        if msgtype == COMPRESSED_TYPE:
            try:
                w, h = compressed_image_size(msg.data, msg.format)
            except EncodingError as exc:
                raise DatasetError(f"compressed image at log time {log_ns} ns on {topic} of "
                                   f"bag {self.path}: {exc}") from None
            return _BagMessage(topic, log_ns, _stamp_ns(msg), int(w), int(h), str(msg.format))
        return _BagMessage(topic, log_ns, _stamp_ns(msg), int(msg.width), int(msg.height),
                           str(msg.encoding))

    def _note_info(self, infos: dict[str, CameraIntrinsics], topic: str, msg: Any) -> None:
        try:
            k = CameraIntrinsics.from_matrix(np.asarray(msg.k, np.float64), int(msg.width),
                                             int(msg.height))
        except CameraInfoError as exc:
            raise DatasetError(f"CameraInfo on {topic} of bag {self.path} is unusable: "
                               f"{exc}") from None
        first = infos.setdefault(topic, k)
        if not _same_camera(first, k):
            raise DatasetError(f"CameraInfo on {topic} of bag {self.path} changes during the "
                               f"recording ({first} then {k}); expected one camera setting "
                               "per bag")

    def _make_pairs(self, rgb: list[_BagMessage], depth: list[_BagMessage]
                    ) -> list[tuple[int, int]]:
        rgb_ns = np.array([m.stamp_ns for m in rgb], dtype=np.int64)
        depth_ns = np.array([m.stamp_ns for m in depth], dtype=np.int64)
        pairs = pair_stamps(rgb_ns, depth_ns, round(self.tolerance * 1e9))
        if not pairs:
            raise DatasetError(
                f"bag {self.path}: no colour/depth pair within {1e3 * self.tolerance:g} ms "
                f"({len(rgb)} frames on {self.rgb_topic}, {len(depth)} on {self.depth_topic}, "
                f"nearest stamps {nearest_gap_ms(rgb_ns, depth_ns):.1f} ms apart); expected "
                "depth stamped like its colour frame (raise the tolerance if they drift)")
        for i, j in pairs:
            r, d = rgb[i], depth[j]
            if (r.width, r.height) != (d.width, d.height):
                raise DatasetError(
                    f"bag {self.path}: the depth image on {self.depth_topic} is "
                    f"{d.width}x{d.height} but the colour image on {self.rgb_topic} is "
                    f"{r.width}x{r.height} (stamp {r.stamp_ns / 1e9:.3f} s); expected depth "
                    "aligned to colour (RealSense: align_depth.enable:=true, "
                    "/camera/aligned_depth_to_color/image_raw)")
        sizes = {(rgb[i].width, rgb[i].height) for i, _ in pairs}
        if len(sizes) > 1:
            raise DatasetError(f"bag {self.path}: colour images on {self.rgb_topic} change size "
                               f"({sorted(sizes)}); expected one resolution per bag")
        dropped_rgb, dropped_depth = len(rgb) - len(pairs), len(depth) - len(pairs)
        if dropped_rgb or dropped_depth:
            log.info(f"{self.path}: {dropped_rgb} colour and {dropped_depth} depth frames have "
                     f"no partner within {1e3 * self.tolerance:g} ms and are left out")
        return pairs

    # ------------------------------------------------------------ reading items
    def _read(self, m: _BagMessage) -> Any:
        from rosbags.rosbag2.errors import ReaderError

        reader = self._reader()
        conns = [c for c in reader.connections if c.topic == m.topic]
        try:
            for conn, log_ns, raw in reader.messages(connections=conns, start=m.log_ns,
                                                     stop=m.log_ns + 1):
                msg = self._deserialize(raw, conn.msgtype, conn.topic, log_ns)
                if _stamp_ns(msg) == m.stamp_ns:
                    return msg
        except ReaderError as exc:
            raise DatasetError(f"bag {self.path} cannot be read at {m.log_ns} ns: "
                               f"{first_line(exc)}") from None
        raise DatasetError(f"bag {self.path} changed since it was indexed: no message on "
                           f"{m.topic} at log time {m.log_ns} ns")

    def _load(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        r, d = self._rgb[i], self._depth[i]
        where = f"bag {self.path}, stamp {r.stamp_ns / 1e9:.3f} s"
        try:
            msg = self._read(r)
            rgb = (rgb8_from_compressed_msg(msg) if self.rgb_type == COMPRESSED_TYPE
                   else rgb8_from_msg(msg))
            dmsg = self._read(d)
            raw = decode_image_msg(dmsg)
        except EncodingError as exc:
            raise DatasetError(f"{where}: {exc}") from None
        return rgb, depth_to_metres(raw, self._scale[d.encoding], where)

    def intrinsics(self, i: int) -> CameraIntrinsics:
        """The colour camera at the colour resolution (one per bag)."""
        self._check_index(i)
        return self._intrinsics

    def close(self) -> None:
        """Close this process's reader (it reopens on the next read)."""
        if self._reader_obj is not None and self._pid == os.getpid():
            self._reader_obj.close()
        self._reader_obj = None

    def __getstate__(self) -> dict[str, Any]:
        state = super().__getstate__()
        state["_reader_obj"] = state["_ts"] = None  # neither pickles; workers reopen
        return state

    def __repr__(self) -> str:
        return (f"RosbagRGBD({str(self.path)!r}, n={len(self)}, {self.width}x{self.height}, "
                f"{self.rgb_topic} + {self.depth_topic})")


def _same_camera(a: CameraIntrinsics, b: CameraIntrinsics) -> bool:
    if (a.width, a.height) != (b.width, b.height):
        return False
    return all(math.isclose(getattr(a, k), getattr(b, k), rel_tol=_K_RTOL, abs_tol=0.05)
               for k in ("fx", "fy", "cx", "cy"))
