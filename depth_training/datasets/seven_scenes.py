"""7-Scenes / 3DMatch RGB-D sequences as a depth source (``frame-NNNNNN.color.jpg|png``,
``.depth.png``, ``.pose.txt`` and ``camera-intrinsics.txt``).

The layout of Microsoft's 7-Scenes and of 3DMatch's RGB-D scenes: a sequence folder holds,
per frame ``NNNNNN``,

- ``frame-NNNNNN.color.jpg`` (or ``.color.png``): the colour image;
- ``frame-NNNNNN.depth.png``: 16-bit depth in millimetres; 0 and 65535 mean no return;
- ``frame-NNNNNN.pose.txt``: the 4×4 camera-to-world matrix (metres), four rows of four;

and ``camera-intrinsics.txt`` (a 3×3 matrix ``fx 0 cx / 0 fy cy / 0 0 1``) lies in the
sequence folder or the scene folder above it (3DMatch). The path may also be a scene folder
whose ``seq-*`` subfolders are read one after the other. 7-Scenes itself ships no
intrinsics file; its Kinect is fx = fy = 585, cx = 320, cy = 240 at 640×480, which is used
(with a log line) when no file and no ``fx`` is given. 7-Scenes' depth is not registered to
its colour camera; the two are taken as aligned, as is usual for this data.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np

from depth_estimation_ros.core.camera import CameraInfoError, CameraIntrinsics
from depth_estimation_ros.core.reporting import first_line
from depth_training.datasets.recording import (
    RecordingSource,
    given_intrinsics,
    read_colour,
    read_depth_file,
)
from depth_training.errors import DatasetError

__all__ = ["INTRINSICS_FILE", "SEVEN_SCENES_INTRINSICS", "SevenScenesRGBD",
           "read_intrinsics_file"]

log = logging.getLogger(__name__)

INTRINSICS_FILE = "camera-intrinsics.txt"
# 7-Scenes' Kinect at 640×480 (fx, fy, cx, cy), from the dataset's description
SEVEN_SCENES_INTRINSICS: tuple[float, float, float, float] = (585.0, 585.0, 320.0, 240.0)
SEVEN_SCENES_DEPTH_SCALE = 1e-3  # depth PNG value × this = metres (millimetres)
INVALID_DEPTH = 65535  # besides 0: no return
_COLOUR_SUFFIXES = (".color.jpg", ".color.png", ".color.jpeg")


def read_intrinsics_file(path: Path, width: int, height: int) -> CameraIntrinsics:
    """The camera of a ``camera-intrinsics.txt``: a 3×3 matrix, whitespace-separated rows.

    Raises:
        DatasetError: the file cannot be read or is not a 3×3 pinhole matrix.
    """
    expected = "expected three rows 'fx 0 cx', '0 fy cy', '0 0 1'"
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise DatasetError(f"{path} cannot be read ({first_line(exc)}); {expected}") from None
    rows = [line.split() for line in text.splitlines() if line.strip()]
    if [len(r) for r in rows] != [3, 3, 3]:
        raise DatasetError(f"{path} holds rows of {[len(r) for r in rows]} numbers, not a 3x3 "
                           f"intrinsics matrix; {expected}")
    try:
        k = np.array([[float(v) for v in row] for row in rows], dtype=np.float64)
    except ValueError as exc:
        raise DatasetError(f"{path} holds a value that is not a number ({first_line(exc)}); "
                           f"{expected}") from None
    if not np.isfinite(k).all() or not np.allclose(k[2], (0.0, 0.0, 1.0)) or k[1, 0] != 0:
        raise DatasetError(f"{path} holds {k.tolist()}, not a pinhole intrinsics matrix; "
                           f"{expected}")
    try:
        return CameraIntrinsics(fx=float(k[0, 0]), fy=float(k[1, 1]), cx=float(k[0, 2]),
                                cy=float(k[1, 2]), width=width, height=height)
    except CameraInfoError as exc:
        raise DatasetError(f"{path}: bad intrinsics: {exc}") from None


def _frames(folder: Path) -> list[tuple[str, Path]]:
    """(frame name, colour file) of the frames in ``folder``, sorted by name."""
    found: dict[str, Path] = {}
    for p in folder.iterdir():
        name = p.name.lower()
        for suffix in _COLOUR_SUFFIXES:
            if name.startswith("frame-") and name.endswith(suffix):
                found.setdefault(p.name[:-len(suffix)], p)
    return sorted(found.items())


class SevenScenesRGBD(RecordingSource):
    """A 7-Scenes / 3DMatch sequence (or a scene's ``seq-*`` sequences, in name order).

    Args:
        path: the sequence folder (``frame-*.color.jpg`` …) or a scene folder of ``seq-*``.
        fx, fy, cx, cy: colour intrinsics at the image resolution overriding the file (fx 0
            = ``camera-intrinsics.txt``, else 7-Scenes' 585/585/320/240 at 640×480).
        depth_scale: metres per depth unit (0 = millimetres).
        cache_size: decoded pairs kept per process.

    Raises:
        DatasetError: no frame, a frame without its depth, an unreadable intrinsics file.
    """

    kind = "7scenes"

    def __init__(self, path: str | os.PathLike[str], fx: float = 0.0, fy: float = 0.0,
                 cx: float = 0.0, cy: float = 0.0, depth_scale: float = 0.0,
                 cache_size: int = 64) -> None:
        super().__init__(Path(path), cache_size)
        if not self.path.is_dir():
            raise DatasetError(f"7-Scenes/3DMatch folder {self.path} does not exist")
        folders = [self.path]
        if not _frames(self.path):
            folders = sorted(p for p in self.path.glob("seq-*") if p.is_dir())
        files: list[tuple[Path, Path]] = []
        for folder in folders:
            for name, colour in _frames(folder):
                depth = folder / f"{name}.depth.png"
                if not depth.is_file():
                    raise DatasetError(f"{colour} has no depth image {depth.name} beside it; "
                                       "expected the 7-Scenes layout frame-NNNNNN.color.jpg, "
                                       ".depth.png, .pose.txt")
                files.append((colour, depth))
        if not files:
            raise DatasetError(f"{self.path} holds no frame-NNNNNN.color.jpg/.png (nor seq-* "
                               "folders with them); expected the 7-Scenes / 3DMatch layout")
        self._files = files
        self.stamps = np.arange(len(files), dtype=np.float64)  # frame order
        self.depth_scale = depth_scale if depth_scale > 0 else SEVEN_SCENES_DEPTH_SCALE
        first_rgb, _ = self._pair(0)
        self.height, self.width = first_rgb.shape[:2]
        self._intrinsics = self._camera(fx, fy, cx, cy, folders[0])
        log.info(f"{self.path}: {len(self)} 7-Scenes frames in {len(folders)} sequence(s), "
                 f"{self.width}x{self.height}, fx {self._intrinsics.fx:.1f}")

    def _camera(self, fx: float, fy: float, cx: float, cy: float,
                first: Path) -> CameraIntrinsics:
        if fx > 0:
            return given_intrinsics(fx, fy, cx, cy, self.width, self.height, str(self.path))
        for folder in dict.fromkeys((first, self.path, self.path.parent)):
            candidate = folder / INTRINSICS_FILE
            if candidate.is_file():
                return read_intrinsics_file(candidate, self.width, self.height)
        fx, fy, cx, cy = SEVEN_SCENES_INTRINSICS
        sx, sy = self.width / 640.0, self.height / 480.0
        log.info(f"{self.path}: no {INTRINSICS_FILE}; using 7-Scenes' Kinect (fx {fx:g} at "
                 "640x480)")
        return given_intrinsics(fx * sx, fy * sy, cx * sx, cy * sy, self.width, self.height,
                                str(self.path))

    def _load(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        colour, depth_path = self._files[i]
        raw = read_depth_file(depth_path)  # (H, W) uint16 millimetres
        depth = raw.astype(np.float32) * np.float32(self.depth_scale)
        depth[raw == INVALID_DEPTH] = 0.0
        return read_colour(colour), depth

    def intrinsics(self, i: int) -> CameraIntrinsics:
        """The colour camera at the image resolution."""
        self._check_index(i)
        return self._intrinsics

    def pose(self, i: int) -> np.ndarray:
        """(4, 4) float64 camera-to-world of frame ``i`` (metres), from its ``.pose.txt``.

        Raises:
            DatasetError: the pose file is missing or not 4 rows of 4 numbers.
        """
        colour, _ = self._files[self._check_index(i)]
        path = colour.parent / f"{colour.name.split('.')[0]}.pose.txt"
        try:
            m = np.loadtxt(path, dtype=np.float64, ndmin=2)
        except (OSError, ValueError) as exc:
            raise DatasetError(f"pose file {path} cannot be read ({first_line(exc)}); "
                               "expected a 4x4 camera-to-world matrix") from None
        if m.shape != (4, 4):
            raise DatasetError(f"pose file {path} holds a {m.shape[0]}x{m.shape[1]} matrix; "
                               "expected 4x4 camera-to-world")
        return m

    def __repr__(self) -> str:
        return (f"SevenScenesRGBD({str(self.path)!r}, n={len(self)}, "
                f"{self.width}x{self.height})")
