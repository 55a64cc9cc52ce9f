"""The own-camera RGB-D recording kinds, and opening a recording by kind.

- ``rosbag`` (:class:`~depth_training.datasets.rosbag.RosbagRGBD`): a rosbag2 (mcap or
  sqlite3) with a colour topic (``Image`` or ``CompressedImage``), a depth topic aligned to
  it (``16UC1`` millimetres or ``32FC1`` metres, REP 118; 0 / NaN = invalid) and the colour
  ``CameraInfo``; the RealSense driver's names are the defaults. Colour and depth are paired
  by header stamp within a tolerance. A depth image whose size differs from the colour
  image's, or a depth ``CameraInfo`` with other intrinsics, means the depth is not aligned
  to colour: an error, not a silent mismatch.
- ``tum`` (:class:`~depth_training.datasets.tum.TumRGBD`): the TUM RGB-D benchmark layout,
  ``rgb.txt`` and ``depth.txt`` (``timestamp path`` lines, ``#`` comments), 16-bit depth
  PNGs in 1/5000 m, registered to colour; intrinsics are parameters (default: TUM's
  Freiburg 1 colour camera).
- ``folder`` (:class:`~depth_training.datasets.folder.FolderRGBD`): ``rgb/`` and ``depth/``
  with matching file stems, depth as 16-bit PNG or ``.npy`` times ``depth_scale`` metres;
  intrinsics are parameters.
- ``7scenes`` (alias ``3dmatch``; :class:`~depth_training.datasets.seven_scenes.SevenScenesRGBD`):
  Microsoft 7-Scenes / 3DMatch sequences, ``frame-NNNNNN.color.jpg``, ``.depth.png`` (16-bit
  millimetres, 0 and 65535 invalid), ``.pose.txt``, intrinsics from ``camera-intrinsics.txt``;
  ``registration`` (``auto``, ``7scenes``, ``none``) re-renders Microsoft 7-Scenes' depth in
  its colour camera (its module's docstring). The other kinds ignore it.
"""

from __future__ import annotations

import os

from depth_training.datasets.folder import FolderRGBD
from depth_training.datasets.recording import DEFAULT_TOLERANCE_S
from depth_training.datasets.rosbag import (
    DEFAULT_DEPTH_TOPIC,
    DEFAULT_INFO_TOPIC,
    DEFAULT_RGB_TOPIC,
    RosbagRGBD,
)
from depth_training.datasets.seven_scenes import SevenScenesRGBD
from depth_training.datasets.tum import TumRGBD
from depth_training.errors import DatasetError

RGBD_KINDS: tuple[str, ...] = ("rosbag", "tum", "folder", "7scenes", "3dmatch")


def open_rgbd_source(kind: str, path: str | os.PathLike[str], *,
                     rgb_topic: str = DEFAULT_RGB_TOPIC, depth_topic: str = DEFAULT_DEPTH_TOPIC,
                     info_topic: str = DEFAULT_INFO_TOPIC,
                     tolerance: float = DEFAULT_TOLERANCE_S, depth_scale: float = 0.0,
                     fx: float = 0.0, fy: float = 0.0, cx: float = 0.0, cy: float = 0.0,
                     cache_size: int = 64, registration: str = "auto",
                     ) -> RosbagRGBD | TumRGBD | FolderRGBD | SevenScenesRGBD:
    """Open a recording of ``kind`` (``rosbag``, ``tum``, ``folder``, ``7scenes``/``3dmatch``).

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
    if kind in ("7scenes", "3dmatch"):
        return SevenScenesRGBD(path, fx, fy, cx, cy, depth_scale, cache_size, registration)
    raise DatasetError(f"unknown RGB-D data kind {kind!r}; expected one of {RGBD_KINDS}")
