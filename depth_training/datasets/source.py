"""The depth-source protocol every data source follows, and the camera a source reports.

A source is indexed RGB images and metric depth (``len``, ``image(i)``, ``depth(i)``),
optionally with ``intrinsics(i)``: NYUv2 (:mod:`.nyu`), rendered scenes (:mod:`.synthetic`)
and the own-camera recordings (:mod:`.recording` and the readers it serves).
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

from depth_estimation_ros.core.camera import CameraIntrinsics
from depth_training.errors import DatasetError

__all__ = ["DatasetError", "DepthSource", "source_intrinsics"]


class DepthSource(Protocol):
    """What the dataset and the evaluation read: indexed RGB images and metric depth.

    A source may also offer ``intrinsics(i) -> CameraIntrinsics | None``: the camera of item
    ``i`` (at its image's resolution, or any resolution of the same camera). Training then
    scales that item's depth to the model's canonical camera and evaluation rescales the
    prediction to it (see :func:`source_intrinsics`); a source without it (NYUv2) is taken
    to be the canonical camera itself.
    """

    def __len__(self) -> int: ...

    def image(self, i: int) -> np.ndarray: ...  # (H, W, 3) uint8

    def depth(self, i: int) -> np.ndarray: ...  # (H, W) float32 metres


def source_intrinsics(source: DepthSource, i: int) -> CameraIntrinsics | None:
    """The camera of item ``i`` of ``source``, or None where the source does not say.

    Raises:
        DatasetError: the source's ``intrinsics(i)`` returned something other than a
            CameraIntrinsics or None.
    """
    get = getattr(source, "intrinsics", None)
    if get is None:
        return None
    camera = get(i)
    if camera is not None and not isinstance(camera, CameraIntrinsics):
        raise DatasetError(f"{source!r}.intrinsics({i}) returned a {type(camera).__name__}; "
                           "expected a CameraIntrinsics or None")
    return camera
