"""Plain ``rgb/`` + ``depth/`` folders of matching file names as a depth source.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np

from depth_estimation_ros.core.camera import CameraIntrinsics
from depth_training.datasets.recording import (
    RecordingSource,
    depth_to_metres,
    given_intrinsics,
    read_colour,
    read_depth_file,
)
from depth_training.errors import DatasetError

log = logging.getLogger(__name__)

FOLDER_DEPTH_SCALE = 1e-3  # folder PNG default: millimetres
_RGB_SUFFIXES = (".png", ".jpg", ".jpeg")
_DEPTH_SUFFIXES = (".png", ".npy", ".tif", ".tiff")


class FolderRGBD(RecordingSource):
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
        self._intrinsics = (None if fx <= 0 else given_intrinsics(
            fx, fy, cx, cy, self.width, self.height, str(self.path)))
        if self._intrinsics is None:
            log.warning(f"{self.path}: no intrinsics given (fx = 0); the focal-length "
                        "rescale is off for this source")

    def _load(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        rgb_path, depth_path = self._files[i]
        raw = read_depth_file(depth_path)
        return read_colour(rgb_path), depth_to_metres(raw, self.depth_scale, str(depth_path))

    def intrinsics(self, i: int) -> CameraIntrinsics | None:
        """The colour camera at the image resolution, or None when not given."""
        self._check_index(i)
        return self._intrinsics

    def __repr__(self) -> str:
        return f"FolderRGBD({str(self.path)!r}, n={len(self)}, {self.width}x{self.height})"
