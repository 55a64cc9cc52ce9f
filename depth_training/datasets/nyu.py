"""The NYU Depth v2 labelled subset as a depth source, and its official test indices.

``nyu_depth_v2_labeled.mat`` is MATLAB v7.3, i.e. HDF5; h5py shows MATLAB arrays with their
axes reversed: ``images`` is (N, 3, W, H) uint8 and ``depths`` (N, W, H) float32 metres, so
one image is ``images[i].transpose(2, 1, 0)`` -> (H, W, 3) and one depth ``depths[i].T``.

:class:`NYUv2Labeled` reads lazily by default and opens the file once per process: h5py
handles must not cross ``fork``, so each DataLoader worker reopens the file on first use.
"""

from __future__ import annotations

import logging
import os
from importlib import resources
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from depth_training.errors import DatasetError

log = logging.getLogger(__name__)

NYU_NUM_IMAGES = 1449  # images in the labelled subset
NYU_NUM_TEST = 654  # official test split size (train: 795)
NYU_HEIGHT, NYU_WIDTH = 480, 640
_OFFICIAL_TEST_RESOURCE = "nyuv2_official_test_indices.txt"


class NYUv2Labeled:
    """The NYUv2 labelled set from its MATLAB v7.3 (HDF5) file.

    Args:
        path: ``nyu_depth_v2_labeled.mat`` or a file in the same layout.
        preload: read all images and depths into memory at once (about 3.1 GB for the real
            file) instead of reading per item; raw depth is always read per item.

    Raises:
        DatasetError: the file is missing, not HDF5, or its datasets have the wrong names,
            shapes or dtypes.
    """

    def __init__(self, path: str | os.PathLike[str], preload: bool = False) -> None:
        self.path = Path(path)
        self._h5: h5py.File | None = None
        self._pid: int | None = None
        self._images: np.ndarray | None = None  # (N, 3, W, H) uint8 when preloaded
        self._depths: np.ndarray | None = None  # (N, W, H) float metres when preloaded
        with self._open() as f:
            self._validate(f)
            if preload:
                try:
                    self._images = f["images"][...]
                    self._depths = f["depths"][...]
                except OSError as exc:
                    raise DatasetError(f"cannot read {self.path}: {exc}; the file looks "
                                       "truncated or corrupt") from exc

    def _open(self) -> h5py.File:
        if not self.path.is_file():
            raise DatasetError(f"NYUv2 file {self.path} does not exist; expected "
                               "nyu_depth_v2_labeled.mat or a file in its layout")
        try:
            if not h5py.is_hdf5(self.path):
                raise DatasetError(f"{self.path} is not an HDF5 file; expected the MATLAB "
                                   "v7.3 nyu_depth_v2_labeled.mat (HDF5) layout")
            return h5py.File(self.path, "r")
        except OSError as exc:
            raise DatasetError(f"cannot open {self.path} as HDF5 ({exc}); the file looks "
                               "truncated or corrupt") from exc

    def _validate(self, f: h5py.File) -> None:
        for name in ("images", "depths"):
            if not isinstance(f.get(name), h5py.Dataset):
                have = sorted(f.keys())
                raise DatasetError(f"{self.path} has no '{name}' dataset (found {have}); "
                                   "expected the NYUv2 labelled layout with 'images' and "
                                   "'depths'")
        images, depths = f["images"], f["depths"]
        if images.ndim != 4 or images.shape[1] != 3:
            raise DatasetError(f"{self.path}: 'images' has shape {images.shape}; expected "
                               "(N, 3, width, height) as h5py shows MATLAB's H×W×3×N")
        n, _, w, h = images.shape
        if n < 1:
            raise DatasetError(f"{self.path}: 'images' holds no image; expected N >= 1")
        if images.dtype != np.uint8:
            raise DatasetError(f"{self.path}: 'images' has dtype {images.dtype}; "
                               "expected uint8")
        if depths.shape != (n, w, h):
            raise DatasetError(f"{self.path}: 'depths' has shape {depths.shape}; expected "
                               f"{(n, w, h)} to match 'images' {images.shape}")
        if depths.dtype.kind != "f":
            raise DatasetError(f"{self.path}: 'depths' has dtype {depths.dtype}; expected "
                               "float32 metres")
        raw = f.get("rawDepths")
        self.has_raw_depth = isinstance(raw, h5py.Dataset)
        if self.has_raw_depth and (raw.shape != depths.shape or raw.dtype.kind != "f"):
            raise DatasetError(f"{self.path}: 'rawDepths' has shape {raw.shape} and dtype "
                               f"{raw.dtype}; expected {depths.shape} float32 like 'depths'")
        if (w, h) == (NYU_HEIGHT, NYU_WIDTH):
            raise DatasetError(f"{self.path}: 'images' {images.shape} holds {w}×{h} portrait "
                               f"frames: NYUv2's are {NYU_WIDTH}×{NYU_HEIGHT}, stored "
                               f"(N, 3, {NYU_WIDTH}, {NYU_HEIGHT}) as h5py reads MATLAB's "
                               "file; this file is transposed")
        if w < h:
            log.warning("%s: frames are %dx%d (W×H), portrait; NYUv2 frames are landscape "
                        "640×480 — is the file transposed?", self.path, w, h)
        self._n, self.height, self.width = int(n), int(h), int(w)

    def _file(self) -> h5py.File:
        """The process's own handle (reopened after fork, e.g. in DataLoader workers)."""
        if self._h5 is None or self._pid != os.getpid():
            self._h5 = self._open()
            self._pid = os.getpid()
        return self._h5

    def _read(self, name: str, i: int) -> np.ndarray:
        if not -self._n <= i < self._n:
            raise IndexError(f"index {i} out of range for {self._n} images in {self.path}")
        i %= self._n
        try:
            return self._file()[name][i]
        except OSError as exc:
            raise DatasetError(f"cannot read {name}[{i}] from {self.path}: {exc}; the file "
                               "looks truncated or corrupt") from exc

    def _check_depth(self, d: np.ndarray, name: str, i: int) -> np.ndarray:
        if not np.isfinite(d).all():
            raise DatasetError(f"{self.path}: {name}[{i}] contains NaN or infinite values; "
                               "expected finite metres (0 = missing)")
        return d

    def __len__(self) -> int:
        return self._n

    def image(self, i: int) -> np.ndarray:
        """Image ``i`` upright: (H, W, 3) uint8 RGB."""
        a = self._images[i] if self._images is not None else self._read("images", i)
        return np.ascontiguousarray(a.transpose(2, 1, 0))  # (3, W, H) -> (H, W, 3)

    def depth(self, i: int) -> np.ndarray:
        """In-painted depth ``i`` upright: (H, W) float32 metres."""
        a = self._depths[i] if self._depths is not None else self._read("depths", i)
        return self._check_depth(np.ascontiguousarray(a.T, dtype=np.float32), "depths", i)

    def raw_depth(self, i: int) -> np.ndarray:
        """Raw sensor depth ``i`` upright: (H, W) float32 metres, 0 = missing."""
        if not self.has_raw_depth:
            raise DatasetError(f"{self.path} has no 'rawDepths' dataset")
        a = self._read("rawDepths", i)
        return self._check_depth(np.ascontiguousarray(a.T, dtype=np.float32), "rawDepths", i)

    def close(self) -> None:
        """Close this process's file handle (it reopens on the next read)."""
        if self._h5 is not None and self._pid == os.getpid():
            self._h5.close()
        self._h5 = None

    def __enter__(self) -> NYUv2Labeled:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_h5"] = None  # handles do not pickle; workers reopen
        return state

    def __repr__(self) -> str:
        return (f"NYUv2Labeled({str(self.path)!r}, n={self._n}, {self.width}x{self.height}, "
                f"preloaded={self._images is not None})")


def official_test_indices() -> np.ndarray:
    """The 654 official NYUv2 test indices (0-based, sorted) shipped with the package."""
    text = (resources.files("depth_training") / "resources" / _OFFICIAL_TEST_RESOURCE
            ).read_text(encoding="utf-8")
    idx = np.array([int(tok) for tok in text.split()], dtype=np.int64)
    if (idx.size != NYU_NUM_TEST or np.unique(idx).size != idx.size or idx.min() < 0
            or idx.max() >= NYU_NUM_IMAGES):
        raise DatasetError(f"the packaged {_OFFICIAL_TEST_RESOURCE} is damaged: expected "
                           f"{NYU_NUM_TEST} distinct indices in [0, {NYU_NUM_IMAGES})")
    return np.sort(idx)
