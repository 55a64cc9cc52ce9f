"""Decode a recording's frames once, at network resolution, and serve them from there.

Fine-tuning on an own-camera recording reads the same few hundred frames every epoch; a
640×480 JPEG + 16-bit PNG pair costs ~10 ms to decode and the dataset throws most of those
pixels away when it resizes to the network's frame (304×228). :class:`FrameCache` wraps any
depth source (the recordings of :mod:`.rgbd`, but also NYUv2 or a folder) and holds the
frames a dataset uses already resized:

- the image with the estimator's own kernel
  (:func:`~depth_estimation_ros.core.preprocessing.resize`, whose CPU uint8 path rounds to
  whole levels, so it is stored as uint8 without loss);
- the depth cleaned (NaN, inf, negatives → 0 = invalid) and resized nearest-neighbour
  (``INTER_NEAREST_EXACT``), as :mod:`.augment` does.

At the network's resize size both steps are what :class:`~.dataset.DepthDataset` would do
itself, and resizing again to the same size is the identity, so items are bit-identical to
the uncached ones (validation always; training when the zoom augmentation is off, as in
``finetune_rgbd.yaml``). With zoom (``augment.scale`` up to s > 1) frames are cached at s ×
the resize size and zoomed from there: within the resize kernel's tolerance of zooming from
the original.

The frames live in one ``.npy`` (rows of raw bytes: depth float32, then RGB uint8) in a
folder, written under a temporary name and renamed, memory-mapped read-only, so DataLoader
workers share the page cache and a resumed run reuses it; its name carries a fingerprint of
the source, the frames and the size. A file that cannot be read or does not hold the
expected frames is rebuilt (one log line). Without a folder the frames are kept in memory.
Indices are the source's own (``len`` is the source's), so splits, augmentation seeds and
``index`` in items do not change; frames outside the cached set are decoded on demand.
"""

from __future__ import annotations

import hashlib
import logging
import math
import os
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch
from tqdm import tqdm

from depth_estimation_ros.core.atomic import atomic_path
from depth_estimation_ros.core.preprocessing import resize
from depth_estimation_ros.core.reporting import first_line
from depth_training.datasets.source import DepthSource, source_intrinsics
from depth_training.errors import DatasetError

__all__ = ["FrameCache", "cache_size_for"]

log = logging.getLogger(__name__)

FORMAT_VERSION = 1  # bump when the stored transform changes: old files then miss the name


def cache_size_for(resize_hw: tuple[int, int], input_hw: tuple[int, int],
                   max_zoom: float) -> tuple[int, int]:
    """(height, width) to cache frames at for a dataset zooming up to ``max_zoom``.

    The augmentation enlarges the network's resize size (``resize_hw``) by s and keeps at
    least the input size; caching at the largest enlargement keeps every zoom a downscale.
    For ``max_zoom`` 1 this is the resize size itself (exact items).
    """
    s = max(1.0, float(max_zoom))
    return (max(input_hw[0], math.ceil(resize_hw[0] * s - 1e-9)),
            max(input_hw[1], math.ceil(resize_hw[1] * s - 1e-9)))


def _network_frame(rgb: np.ndarray, depth: np.ndarray, size: tuple[int, int],
                   where: str) -> tuple[np.ndarray, np.ndarray]:
    """One (image, depth) pair at ``size`` = (h, w): uint8 (h, w, 3) and float32 (h, w)."""
    if not isinstance(rgb, np.ndarray) or rgb.dtype != np.uint8 or rgb.ndim != 3 or (
            rgb.shape[2] != 3):
        raise DatasetError(f"{where}: the frame cache needs (H, W, 3) uint8 colour images, got "
                           f"{getattr(rgb, 'shape', None)} {getattr(rgb, 'dtype', None)}")
    d = np.asarray(depth, dtype=np.float32)
    if d.shape != rgb.shape[:2]:
        raise DatasetError(f"{where}: depth {d.shape} does not match the colour image "
                           f"{rgb.shape[:2]}; expected the same size")
    h, w = size
    x = torch.from_numpy(np.ascontiguousarray(rgb)).permute(2, 0, 1)[None]
    # uint8 on the CPU: torch's uint8 kernel, whose float() result holds whole levels
    img = resize(x, (h, w))[0].permute(1, 2, 0).round_().clamp_(0, 255).to(torch.uint8)
    d = np.where(np.isfinite(d) & (d > 0), d, np.float32(0.0))
    dep = cv2.resize(d, (w, h), interpolation=cv2.INTER_NEAREST_EXACT)
    return np.ascontiguousarray(img.numpy()), np.ascontiguousarray(dep, dtype=np.float32)


class FrameCache:
    """A depth source whose frames ``indices`` are decoded once and kept at ``size``.

    Args:
        source: any depth source (``len``, ``image(i)`` uint8 RGB, ``depth(i)`` metres;
            ``intrinsics(i)`` is passed through: the same camera at the source's resolution).
        indices: the frames to cache (the others are decoded and resized on demand).
        size: (height, width) to keep them at (see :func:`cache_size_for`).
        folder: where the memory-mapped ``.npy`` lives (created); None keeps frames in memory.
        show: a progress bar while decoding.

    Raises:
        DatasetError: a frame the source cannot give, or one that is not uint8 RGB + depth.
    """

    def __init__(self, source: DepthSource, indices: np.ndarray | list[int],
                 size: tuple[int, int], folder: str | os.PathLike[str] | None = None,
                 show: bool = False) -> None:
        self.source = source
        self.size = (int(size[0]), int(size[1]))
        self.indices = np.unique(np.asarray(indices, dtype=np.int64).reshape(-1))
        n = len(source)
        if self.indices.size and (self.indices[0] < 0 or self.indices[-1] >= n):
            raise DatasetError(f"frame cache indices must lie in [0, {n}) for {source!r}")
        self._row = {int(i): r for r, i in enumerate(self.indices)}
        h, w = self.size
        self._depth_bytes = h * w * 4
        self._row_bytes = self._depth_bytes + h * w * 3
        self.path = (Path(folder) / f"{self._name()}.npy") if folder is not None else None
        self.decoded = 0  # frames this process decoded from the source (build + misses)
        self._rows: np.ndarray | None = None
        self._rows = self._open_or_build(show)

    # ------------------------------------------------------------------ source protocol
    def __len__(self) -> int:
        return len(self.source)

    def image(self, i: int) -> np.ndarray:
        """Frame ``i``'s colour image at the cache size: (h, w, 3) uint8 RGB."""
        return self._frame(i)[1]

    def depth(self, i: int) -> np.ndarray:
        """Frame ``i``'s depth at the cache size: (h, w) float32 metres, 0 = invalid."""
        return self._frame(i)[0]

    def intrinsics(self, i: int) -> Any:
        """The source's camera of frame ``i`` (at the source's resolution), or None."""
        return source_intrinsics(self.source, i)

    def __getattr__(self, name: str) -> Any:
        # stamps, pose(), width, kind ... of the wrapped source
        if name.startswith("__") or name in ("source", "_rows"):
            raise AttributeError(name)
        return getattr(self.source, name)

    def __repr__(self) -> str:
        return (f"FrameCache({self.source!r}, {self.indices.size} frames at "
                f"{self.size[1]}x{self.size[0]})")

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        if self.path is not None:
            state["_rows"] = None  # a worker maps the file itself
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)

    # ------------------------------------------------------------------ internals
    def _frame(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        n = len(self.source)
        if not -n <= int(i) < n:
            raise IndexError(f"index {i} out of range for {n} frames of {self.source!r}")
        r = self._row.get(int(i) % n)
        if r is None:
            self.decoded += 1
            return self._decode(int(i) % n)[::-1]
        if self._rows is None:
            self._rows = self._map(self.path)
        row = self._rows[r]
        h, w = self.size
        depth = np.array(row[:self._depth_bytes]).view(np.float32).reshape(h, w)
        return depth, np.array(row[self._depth_bytes:]).reshape(h, w, 3)

    def _decode(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        """(rgb, depth) of source frame ``i`` at the cache size."""
        return _network_frame(self.source.image(i), self.source.depth(i), self.size,
                              f"{self.source!r} frame {i}")

    def _name(self) -> str:
        """The cache file's name: kind, size, frame count and a fingerprint of all three."""
        src = self.source
        h = hashlib.sha256()
        for part in (FORMAT_VERSION, type(src).__qualname__, str(getattr(src, "path", "")),
                     repr(src), len(src), self.size, getattr(src, "depth_scale", None)):
            h.update(repr(part).encode())
            h.update(b"\0")
        h.update(self.indices.tobytes())
        stamps = getattr(src, "stamps", None)
        if stamps is not None:
            h.update(np.asarray(stamps, dtype=np.float64).tobytes())
        kind = str(getattr(src, "kind", type(src).__name__.lower()))
        return (f"frames-{kind}-{self.size[1]}x{self.size[0]}-n{self.indices.size}-"
                f"{h.hexdigest()[:16]}")

    def _map(self, path: Path) -> np.ndarray:
        """The file's rows, memory-mapped read-only; ValueError/OSError when unusable."""
        rows = np.load(path, mmap_mode="r", allow_pickle=False)
        want = (self.indices.size, self._row_bytes)
        if rows.dtype != np.uint8 or rows.shape != want:
            raise ValueError(f"it holds {rows.dtype} {rows.shape}, expected uint8 {want}")
        return rows

    def _open_or_build(self, show: bool) -> np.ndarray:
        if self.path is not None and self.path.is_file():
            try:
                return self._map(self.path)
            except (OSError, ValueError) as exc:
                log.warning(f"frame cache {self.path} is unusable ({first_line(exc)}); "
                            "rebuilding it")
        where = "memory" if self.path is None else str(self.path)
        log.info(f"frame cache: decoding {self.indices.size} frames of {self.source!r} once, "
                 f"at {self.size[1]}x{self.size[0]}, into {where}")
        if self.path is None:
            rows = np.empty((self.indices.size, self._row_bytes), dtype=np.uint8)
            self._fill(rows, show)
            return rows
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(self.path) as tmp:
            out = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.uint8,
                                            shape=(self.indices.size, self._row_bytes))
            self._fill(out, show)
            out.flush()
            del out
        return self._map(self.path)

    def _fill(self, rows: np.ndarray, show: bool) -> None:
        for r, i in enumerate(tqdm(self.indices, desc="caching frames", disable=not show,
                                   leave=False, dynamic_ncols=True)):
            rgb, depth = self._decode(int(i))
            self.decoded += 1
            rows[r, :self._depth_bytes] = depth.reshape(-1).view(np.uint8)
            rows[r, self._depth_bytes:] = rgb.reshape(-1)
