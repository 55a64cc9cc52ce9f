"""The user's own RGB-D recordings as depth sources: rosbag2, TUM RGB-D and plain folders.

Each source has :class:`~depth_training.data.NYUv2Labeled`'s API (``len``, ``image(i)``
(H, W, 3) uint8 RGB, ``depth(i)`` (H, W) float32 metres with 0 = invalid) plus
``intrinsics(i)`` (the colour camera at that image's resolution, or None when unknown) and
``stamps`` (seconds, one per item). Items are in recording order, which the ``contiguous``
split relies on (:func:`depth_training.data.make_split`).

- ``rosbag`` (:class:`RosbagRGBD`): a rosbag2 (mcap or sqlite3) with a colour topic
  (``Image`` or ``CompressedImage``), a depth topic aligned to it (``16UC1`` millimetres or
  ``32FC1`` metres, REP 118; 0 / NaN = invalid) and the colour ``CameraInfo``; the RealSense
  driver's names are the defaults. Colour and depth are paired by header stamp within a
  tolerance (:func:`pair_stamps`). A depth image whose size differs from the colour image's,
  or a depth ``CameraInfo`` with other intrinsics, means the depth is not aligned to colour:
  an error, not a silent mismatch.
- ``tum`` (:class:`TumRGBD`): the TUM RGB-D benchmark layout, ``rgb.txt`` and ``depth.txt``
  (``timestamp path`` lines, ``#`` comments), 16-bit depth PNGs in 1/5000 m, registered to
  colour; intrinsics are parameters (default: TUM's Freiburg 1 colour camera).
- ``folder`` (:class:`FolderRGBD`): ``rgb/`` and ``depth/`` with matching file stems, depth as
  16-bit PNG or ``.npy`` times ``depth_scale`` metres; intrinsics are parameters.

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
from collections import OrderedDict
from collections.abc import Sequence
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
from depth_training.data import DatasetError

log = logging.getLogger(__name__)

__all__ = [
    "DEFAULT_DEPTH_TOPIC",
    "DEFAULT_INFO_TOPIC",
    "DEFAULT_RGB_TOPIC",
    "DEFAULT_TOLERANCE_S",
    "FolderRGBD",
    "RGBD_KINDS",
    "RosbagRGBD",
    "TUM_DEPTH_SCALE",
    "TUM_FR1_INTRINSICS",
    "TumRGBD",
    "depth_to_metres",
    "open_rgbd_source",
    "pair_stamps",
]

RGBD_KINDS: tuple[str, ...] = ("rosbag", "tum", "folder")
# RealSense ROS 2 wrapper topics with align_depth enabled (colour-aligned depth).
DEFAULT_RGB_TOPIC = "/camera/color/image_raw"
DEFAULT_DEPTH_TOPIC = "/camera/aligned_depth_to_color/image_raw"
DEFAULT_INFO_TOPIC = "/camera/color/camera_info"
DEFAULT_TOLERANCE_S = 0.02  # colour/depth stamps further apart than this are not a pair
TUM_DEPTH_SCALE = 1.0 / 5000.0  # TUM depth PNG value × this = metres (5000 = 1 m)
# TUM RGB-D "Freiburg 1" colour camera at 640×480 (fx, fy, cx, cy), from the dataset's
# file-format page; Freiburg 2 is (520.9, 521.0, 325.1, 249.7), Freiburg 3 (535.4, 539.2,
# 320.1, 247.6). fr1/fr2 colour images are not undistorted (fr1 d0 = 0.26): expect a few %.
TUM_FR1_INTRINSICS: tuple[float, float, float, float] = (517.3, 516.5, 318.6, 255.3)
FOLDER_DEPTH_SCALE = 1e-3  # folder PNG default: millimetres
IMAGE_TYPE = "sensor_msgs/msg/Image"
COMPRESSED_TYPE = "sensor_msgs/msg/CompressedImage"
CAMERA_INFO_TYPE = "sensor_msgs/msg/CameraInfo"
DEPTH_SCALES: dict[str, float] = {"16UC1": 1e-3, "mono16": 1e-3, "32FC1": 1.0}
_RGB_SUFFIXES = (".png", ".jpg", ".jpeg")
_DEPTH_SUFFIXES = (".png", ".npy", ".tif", ".tiff")
_K_RTOL = 1e-3  # colour vs depth CameraInfo: relative difference still counted as the same


# --------------------------------------------------------------------------- helpers
def pair_stamps(rgb_ns: Sequence[int] | np.ndarray, depth_ns: Sequence[int] | np.ndarray,
                tolerance_ns: int) -> list[tuple[int, int]]:
    """Pair colour and depth frames by stamp, nearest first, each frame used at most once.

    All candidate pairs within ``tolerance_ns`` are taken in order of increasing stamp
    difference (TUM's ``associate.py`` does the same), so jitter does not shift pairs and a
    frame without a partner is dropped instead of stealing its neighbour's.

    Args:
        rgb_ns: colour stamps (ns), any order.
        depth_ns: depth stamps (ns), any order.
        tolerance_ns: largest accepted |difference| (ns).

    Returns:
        ``(rgb index, depth index)`` pairs sorted by colour stamp.
    """
    rgb = np.asarray(rgb_ns, dtype=np.int64).reshape(-1)
    depth = np.asarray(depth_ns, dtype=np.int64).reshape(-1)
    if rgb.size == 0 or depth.size == 0:
        return []
    order = np.argsort(depth, kind="stable")
    sorted_depth = depth[order]
    lo = np.searchsorted(sorted_depth, rgb - tolerance_ns, side="left")
    hi = np.searchsorted(sorted_depth, rgb + tolerance_ns, side="right")
    candidates: list[tuple[int, int, int]] = []
    for i in range(rgb.size):
        for k in range(int(lo[i]), int(hi[i])):
            candidates.append((abs(int(rgb[i]) - int(sorted_depth[k])), i, int(order[k])))
    candidates.sort()
    used_rgb: set[int] = set()
    used_depth: set[int] = set()
    pairs: list[tuple[int, int]] = []
    for _, i, j in candidates:
        if i in used_rgb or j in used_depth:
            continue
        used_rgb.add(i)
        used_depth.add(j)
        pairs.append((i, j))
    pairs.sort(key=lambda p: (int(rgb[p[0]]), p[0]))
    return pairs


def _nearest_gap_ms(rgb_ns: np.ndarray, depth_ns: np.ndarray) -> float:
    """The smallest |colour − depth| stamp difference in milliseconds."""
    d = np.sort(np.asarray(depth_ns, dtype=np.int64))
    r = np.asarray(rgb_ns, dtype=np.int64)
    k = np.clip(np.searchsorted(d, r), 1, d.size - 1) if d.size > 1 else np.zeros_like(r)
    gaps = np.minimum(np.abs(r - d[k]), np.abs(r - d[np.maximum(k - 1, 0)]))
    return float(gaps.min()) / 1e6


def depth_to_metres(array: np.ndarray, scale: float, where: str) -> np.ndarray:
    """Depth in metres, 0 = invalid, from a decoded depth image.

    Args:
        array: (H, W) uint16 (units of ``scale`` metres, 0 = no return) or float (units of
            ``scale`` metres; NaN, ±inf, 0 and negative values = invalid, REP 118).
        scale: metres per unit.
        where: names the image in errors.

    Raises:
        DatasetError: not a single-channel integer or float image.
    """
    a = np.asarray(array)
    if a.ndim != 2:
        raise DatasetError(f"{where}: depth has shape {a.shape}; expected a single-channel "
                           "(H, W) image")
    if a.dtype.kind in "ui":
        return a.astype(np.float32) * np.float32(scale)
    if a.dtype.kind != "f":
        raise DatasetError(f"{where}: depth has dtype {a.dtype}; expected uint16 or float")
    out = a.astype(np.float32) * np.float32(scale)
    with np.errstate(invalid="ignore"):
        out[~np.isfinite(out) | (out < 0)] = 0.0
    return out


def _default_scale(encoding: str, where: str) -> float:
    scale = DEPTH_SCALES.get(encoding)
    if scale is None:
        raise DatasetError(f"{where} has depth encoding {encoding!r}, which is not supported; "
                           "expected 16UC1 (millimetres, 0 = invalid) or 32FC1 (metres, "
                           "NaN or 0 = invalid)")
    return scale


class _PairCache:
    """A small per-process LRU of decoded (rgb, depth) pairs."""

    def __init__(self, size: int) -> None:
        self.size = int(size)
        self._items: OrderedDict[int, tuple[np.ndarray, np.ndarray]] = OrderedDict()

    def get(self, i: int) -> tuple[np.ndarray, np.ndarray] | None:
        hit = self._items.get(i)
        if hit is not None:
            self._items.move_to_end(i)
        return hit

    def put(self, i: int, item: tuple[np.ndarray, np.ndarray]) -> None:
        if self.size <= 0:
            return
        self._items[i] = item
        while len(self._items) > self.size:
            self._items.popitem(last=False)


class _RGBDSource:
    """What the three kinds share: items in stamp order, the LRU, checks on each pair."""

    kind = "rgbd"

    def __init__(self, path: Path, cache_size: int) -> None:
        self.path = path
        self.cache_size = int(cache_size)
        self._cache = _PairCache(cache_size)
        self.stamps: np.ndarray = np.zeros(0)  # (N,) seconds, colour stamp of each item

    def __len__(self) -> int:
        return int(self.stamps.size)

    def _check_index(self, i: int) -> int:
        n = len(self)
        if not -n <= i < n:
            raise IndexError(f"index {i} out of range for {n} frames of {self.path}")
        return int(i) % n

    def _load(self, i: int) -> tuple[np.ndarray, np.ndarray]:  # pragma: no cover - abstract
        raise NotImplementedError

    def _pair(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        i = self._check_index(i)
        hit = self._cache.get(i)
        if hit is not None:
            return hit
        rgb, depth = self._load(i)
        if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
            raise DatasetError(f"{self.path}: colour frame {i} is {rgb.shape} {rgb.dtype}; "
                               "expected (H, W, 3) uint8")
        if depth.shape != rgb.shape[:2]:
            raise DatasetError(
                f"{self.path}: frame {i} has a {depth.shape[1]}x{depth.shape[0]} depth image "
                f"but a {rgb.shape[1]}x{rgb.shape[0]} colour image; expected depth aligned "
                "to colour (same size)")
        item = (np.ascontiguousarray(rgb), np.ascontiguousarray(depth, dtype=np.float32))
        self._cache.put(i, item)
        return item

    def image(self, i: int) -> np.ndarray:
        """Colour frame ``i``: (H, W, 3) uint8 RGB."""
        return self._pair(i)[0].copy()

    def depth(self, i: int) -> np.ndarray:
        """Depth of frame ``i``: (H, W) float32 metres, 0 = invalid."""
        return self._pair(i)[1].copy()

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_cache"] = _PairCache(self.cache_size)  # workers fill their own
        return state


# --------------------------------------------------------------------------- rosbag2
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


class RosbagRGBD(_RGBDSource):
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
            self._intrinsics = _given_intrinsics(fx, fy, cx, cy, w, h, f"{self.path}")
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
                f"nearest stamps {_nearest_gap_ms(rgb_ns, depth_ns):.1f} ms apart); expected "
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


def _given_intrinsics(fx: float, fy: float, cx: float, cy: float, width: int, height: int,
                      where: str) -> CameraIntrinsics:
    """Intrinsics from parameters: fy 0 = fx; cx, cy 0 = the image centre."""
    try:
        return CameraIntrinsics(fx=fx, fy=fy if fy > 0 else fx,
                                cx=cx if cx > 0 else (width - 1) / 2.0,
                                cy=cy if cy > 0 else (height - 1) / 2.0,
                                width=width, height=height)
    except CameraInfoError as exc:
        raise DatasetError(f"{where}: bad intrinsics: {exc}") from None


# --------------------------------------------------------------------------- files
def _read_colour(path: Path) -> np.ndarray:
    import cv2

    if not path.is_file():
        raise DatasetError(f"colour image {path} does not exist")
    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if bgr is None:
        raise DatasetError(f"colour image {path} cannot be read; expected a PNG or JPEG file")
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def _read_depth_file(path: Path) -> np.ndarray:
    """A depth file as stored: (H, W) uint16 from a 16-bit PNG/TIFF, or an .npy array."""
    import cv2

    if not path.is_file():
        raise DatasetError(f"depth image {path} does not exist")
    if path.suffix.lower() == ".npy":
        try:
            a = np.load(path, allow_pickle=False)
        except (OSError, ValueError) as exc:
            raise DatasetError(f"depth file {path} is not a readable .npy array "
                               f"({first_line(exc)})") from None
        if a.dtype.kind not in "fu":
            raise DatasetError(f"depth file {path} holds {a.dtype}; expected float or uint16")
        return a
    a = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if a is None:
        raise DatasetError(f"depth image {path} cannot be read; expected a 16-bit PNG")
    if a.dtype != np.uint16 or a.ndim != 2:
        raise DatasetError(f"depth image {path} is {a.dtype} with shape {a.shape}; expected a "
                           "single-channel 16-bit PNG")
    return a


def _parse_list(path: Path) -> list[tuple[float, str]]:
    """TUM ``timestamp path`` lines (``#`` starts a comment)."""
    if not path.is_file():
        raise DatasetError(f"{path} does not exist; expected the TUM RGB-D layout (rgb.txt, "
                           "depth.txt, rgb/, depth/)")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise DatasetError(f"cannot read {path}: {first_line(exc)}") from None
    out: list[tuple[float, str]] = []
    for n, line in enumerate(text.splitlines(), start=1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        parts = line.split()
        try:
            t = float(parts[0])
        except ValueError:
            t = math.nan
        if len(parts) < 2 or not math.isfinite(t):
            raise DatasetError(f"{path}:{n}: {line[:60]!r} is not a 'timestamp path' line")
        out.append((t, parts[1]))
    return out


class TumRGBD(_RGBDSource):
    """A TUM RGB-D benchmark sequence (``rgb.txt``, ``depth.txt``, ``rgb/``, ``depth/``).

    Args:
        path: the sequence folder.
        fx, fy, cx, cy: colour intrinsics at the image resolution (0 = TUM Freiburg 1).
        tolerance: largest colour/depth timestamp difference of a pair, seconds (TUM: 0.02).
        depth_scale: metres per depth unit (0 = TUM's 1/5000).
        cache_size: decoded pairs kept per process.

    The first pair is read when the source opens, to check sizes; every later pair is
    checked when it is read.
    """

    kind = "tum"

    def __init__(self, path: str | os.PathLike[str], fx: float = 0.0, fy: float = 0.0,
                 cx: float = 0.0, cy: float = 0.0, tolerance: float = DEFAULT_TOLERANCE_S,
                 depth_scale: float = 0.0, cache_size: int = 64) -> None:
        super().__init__(Path(path), cache_size)
        if not self.path.is_dir():
            raise DatasetError(f"TUM sequence folder {self.path} does not exist")
        rgb = _parse_list(self.path / "rgb.txt")
        depth = _parse_list(self.path / "depth.txt")
        if not rgb or not depth:
            empty = "rgb.txt" if not rgb else "depth.txt"
            raise DatasetError(f"{self.path / empty} lists no frame; expected 'timestamp "
                               "path' lines")
        rgb_ns = np.array([round(t * 1e9) for t, _ in rgb], dtype=np.int64)
        depth_ns = np.array([round(t * 1e9) for t, _ in depth], dtype=np.int64)
        pairs = pair_stamps(rgb_ns, depth_ns, round(tolerance * 1e9))
        if not pairs:
            raise DatasetError(f"{self.path}: no rgb/depth pair within {1e3 * tolerance:g} ms "
                               f"(nearest {_nearest_gap_ms(rgb_ns, depth_ns):.1f} ms apart)")
        self._files = [(self.path / rgb[i][1], self.path / depth[j][1]) for i, j in pairs]
        self.stamps = np.array([rgb[i][0] for i, _ in pairs], dtype=np.float64)
        self.depth_scale = depth_scale if depth_scale > 0 else TUM_DEPTH_SCALE
        first_rgb, _ = self._pair(0)
        self.height, self.width = first_rgb.shape[:2]
        if fx <= 0:  # TUM Freiburg 1 at 640×480, scaled if the images are another size
            fx, fy, cx, cy = TUM_FR1_INTRINSICS
            sx, sy = self.width / 640.0, self.height / 480.0
            fx, fy, cx, cy = fx * sx, fy * sy, cx * sx, cy * sy
        self._intrinsics = _given_intrinsics(fx, fy, cx, cy, self.width, self.height,
                                             str(self.path))
        log.info(f"{self.path}: {len(self)} TUM rgb/depth pairs ({len(rgb)} rgb, {len(depth)} "
                 f"depth), {self.width}x{self.height}, fx {self._intrinsics.fx:.1f}")

    def _load(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        rgb_path, depth_path = self._files[i]
        raw = _read_depth_file(depth_path)
        return _read_colour(rgb_path), depth_to_metres(raw, self.depth_scale, str(depth_path))

    def intrinsics(self, i: int) -> CameraIntrinsics:
        """The colour camera at the image resolution."""
        self._check_index(i)
        return self._intrinsics

    def __repr__(self) -> str:
        return f"TumRGBD({str(self.path)!r}, n={len(self)}, {self.width}x{self.height})"


class FolderRGBD(_RGBDSource):
    """``rgb/`` and ``depth/`` folders with matching file stems, in sorted-name order.

    Args:
        path: the folder holding ``rgb/`` and ``depth/``.
        depth_scale: metres per depth unit (0 = 0.001: millimetre PNGs); ``.npy`` floats in
            metres need ``depth_scale=1``.
        fx, fy, cx, cy: colour intrinsics at the image resolution; fx 0 = unknown (no
            focal-length rescale), fy 0 = fx, cx/cy 0 = the image centre.
        cache_size: decoded pairs kept per process.

    Name the files so that sorting them gives the recording order (zero-padded frame
    numbers or timestamps): the contiguous split holds out the last ones.
    """

    kind = "folder"

    def __init__(self, path: str | os.PathLike[str], depth_scale: float = 0.0,
                 fx: float = 0.0, fy: float = 0.0, cx: float = 0.0, cy: float = 0.0,
                 cache_size: int = 64) -> None:
        super().__init__(Path(path), cache_size)
        folders = [self.path / "rgb", self.path / "depth"]
        for folder in folders:
            if not folder.is_dir():
                raise DatasetError(f"{folder} does not exist; expected a folder with rgb/ and "
                                   "depth/ holding files of matching names")
        rgb = {p.stem: p for p in folders[0].iterdir() if p.suffix.lower() in _RGB_SUFFIXES}
        depth = {p.stem: p for p in folders[1].iterdir()
                 if p.suffix.lower() in _DEPTH_SUFFIXES}
        stems = sorted(set(rgb) & set(depth))
        if not stems:
            raise DatasetError(f"{self.path}: no file name is in both rgb/ ({len(rgb)} images) "
                               f"and depth/ ({len(depth)}); expected matching stems such as "
                               "rgb/000001.png and depth/000001.png")
        unmatched = len(rgb) + len(depth) - 2 * len(stems)
        if unmatched:
            log.warning(f"{self.path}: {unmatched} files in rgb/ or depth/ have no partner and "
                        "are left out")
        self._files = [(rgb[s], depth[s]) for s in stems]
        self.stamps = np.arange(len(stems), dtype=np.float64)  # sorted-name order
        self.depth_scale = depth_scale if depth_scale > 0 else FOLDER_DEPTH_SCALE
        first_rgb, _ = self._pair(0)
        self.height, self.width = first_rgb.shape[:2]
        self._intrinsics = (None if fx <= 0 else _given_intrinsics(
            fx, fy, cx, cy, self.width, self.height, str(self.path)))
        if self._intrinsics is None:
            log.warning(f"{self.path}: no intrinsics given (fx = 0); the focal-length "
                        "rescale is off for this source")

    def _load(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        rgb_path, depth_path = self._files[i]
        raw = _read_depth_file(depth_path)
        return _read_colour(rgb_path), depth_to_metres(raw, self.depth_scale, str(depth_path))

    def intrinsics(self, i: int) -> CameraIntrinsics | None:
        """The colour camera at the image resolution, or None when not given."""
        self._check_index(i)
        return self._intrinsics

    def __repr__(self) -> str:
        return f"FolderRGBD({str(self.path)!r}, n={len(self)}, {self.width}x{self.height})"


def open_rgbd_source(kind: str, path: str | os.PathLike[str], *,
                     rgb_topic: str = DEFAULT_RGB_TOPIC, depth_topic: str = DEFAULT_DEPTH_TOPIC,
                     info_topic: str = DEFAULT_INFO_TOPIC,
                     tolerance: float = DEFAULT_TOLERANCE_S, depth_scale: float = 0.0,
                     fx: float = 0.0, fy: float = 0.0, cx: float = 0.0, cy: float = 0.0,
                     cache_size: int = 64) -> RosbagRGBD | TumRGBD | FolderRGBD:
    """Open a recording of ``kind`` (``rosbag``, ``tum`` or ``folder``).

    Raises:
        DatasetError: an unknown kind or an unusable recording.
    """
    if not str(path):
        raise DatasetError(f"data of kind {kind} needs a path (data.path= / --data)")
    if kind == "rosbag":
        return RosbagRGBD(path, rgb_topic, depth_topic, info_topic, tolerance, depth_scale,
                          fx, fy, cx, cy, cache_size)
    if kind == "tum":
        return TumRGBD(path, fx, fy, cx, cy, tolerance, depth_scale, cache_size)
    if kind == "folder":
        return FolderRGBD(path, depth_scale, fx, fy, cx, cy, cache_size)
    raise DatasetError(f"unknown RGB-D data kind {kind!r}; expected one of {RGBD_KINDS}")
