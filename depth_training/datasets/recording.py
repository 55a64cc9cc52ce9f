"""What the own-camera RGB-D recordings share: the source base, stamp pairing, depth units, files.

Each source has :class:`~depth_training.datasets.nyu.NYUv2Labeled`'s API (``len``, ``image(i)``
(H, W, 3) uint8 RGB, ``depth(i)`` (H, W) float32 metres with 0 = invalid) plus
``intrinsics(i)`` (the colour camera at that image's resolution, or None when unknown) and
``stamps`` (seconds, one per item). Items are in recording order, which the ``contiguous``
split relies on (:func:`depth_training.datasets.splits.make_split`).

The readers (one module each, opened by kind through :mod:`.rgbd`): :mod:`.rosbag`,
:mod:`.tum`, :mod:`.folder` and :mod:`.seven_scenes`. Each keeps the last ``cache_size``
decoded pairs per process and checks every pair as it reads it (colour (H, W, 3) uint8,
depth the same size).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from depth_estimation_ros.core.camera import CameraInfoError, CameraIntrinsics
from depth_estimation_ros.core.reporting import first_line
from depth_training.errors import DatasetError

DEFAULT_TOLERANCE_S = 0.02  # colour/depth stamps further apart than this are not a pair


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


def nearest_gap_ms(rgb_ns: np.ndarray, depth_ns: np.ndarray) -> float:
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


class PairCache:
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


class RecordingSource:
    """What the three kinds share: items in stamp order, the LRU, checks on each pair."""

    kind = "rgbd"

    def __init__(self, path: Path, cache_size: int) -> None:
        self.path = path
        self.cache_size = int(cache_size)
        self._cache = PairCache(cache_size)
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
        state["_cache"] = PairCache(self.cache_size)  # workers fill their own
        return state


def given_intrinsics(fx: float, fy: float, cx: float, cy: float, width: int, height: int,
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
def read_colour(path: Path) -> np.ndarray:
    import cv2

    if not path.is_file():
        raise DatasetError(f"colour image {path} does not exist")
    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if bgr is None:
        raise DatasetError(f"colour image {path} cannot be read; expected a PNG or JPEG file")
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def read_depth_file(path: Path) -> np.ndarray:
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
