"""TUM RGB-D benchmark sequences as a depth source (rgb.txt, depth.txt, 16-bit PNG in 1/5000 m).
"""

from __future__ import annotations

import logging
import math
import os
from pathlib import Path

import numpy as np

from depth_estimation_ros.core.camera import CameraIntrinsics
from depth_estimation_ros.core.reporting import first_line
from depth_training.datasets.recording import (
    DEFAULT_TOLERANCE_S,
    RecordingSource,
    depth_to_metres,
    given_intrinsics,
    nearest_gap_ms,
    pair_stamps,
    read_colour,
    read_depth_file,
)
from depth_training.errors import DatasetError

log = logging.getLogger(__name__)

TUM_DEPTH_SCALE = 1.0 / 5000.0  # TUM depth PNG value × this = metres (5000 = 1 m)
# TUM RGB-D "Freiburg 1" colour camera at 640×480 (fx, fy, cx, cy), from the dataset's
# file-format page; Freiburg 2 is (520.9, 521.0, 325.1, 249.7), Freiburg 3 (535.4, 539.2,
# 320.1, 247.6). fr1/fr2 colour images are not undistorted (fr1 d0 = 0.26): expect a few %.
TUM_FR1_INTRINSICS: tuple[float, float, float, float] = (517.3, 516.5, 318.6, 255.3)


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


class TumRGBD(RecordingSource):
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
                               f"(nearest {nearest_gap_ms(rgb_ns, depth_ns):.1f} ms apart)")
        self._files = [(self.path / rgb[i][1], self.path / depth[j][1]) for i, j in pairs]
        self.stamps = np.array([rgb[i][0] for i, _ in pairs], dtype=np.float64)
        self.depth_scale = depth_scale if depth_scale > 0 else TUM_DEPTH_SCALE
        first_rgb, _ = self._pair(0)
        self.height, self.width = first_rgb.shape[:2]
        if fx <= 0:  # TUM Freiburg 1 at 640×480, scaled if the images are another size
            fx, fy, cx, cy = TUM_FR1_INTRINSICS
            sx, sy = self.width / 640.0, self.height / 480.0
            fx, fy, cx, cy = fx * sx, fy * sy, cx * sx, cy * sy
        self._intrinsics = given_intrinsics(fx, fy, cx, cy, self.width, self.height,
                                             str(self.path))
        log.info(f"{self.path}: {len(self)} TUM rgb/depth pairs ({len(rgb)} rgb, {len(depth)} "
                 f"depth), {self.width}x{self.height}, fx {self._intrinsics.fx:.1f}")

    def _load(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        rgb_path, depth_path = self._files[i]
        raw = read_depth_file(depth_path)
        return read_colour(rgb_path), depth_to_metres(raw, self.depth_scale, str(depth_path))

    def intrinsics(self, i: int) -> CameraIntrinsics:
        """The colour camera at the image resolution."""
        self._check_index(i)
        return self._intrinsics

    def __repr__(self) -> str:
        return f"TumRGBD({str(self.path)!r}, n={len(self)}, {self.width}x{self.height})"
