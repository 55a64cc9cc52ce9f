"""depth_estimation_ros: monocular metric depth for ROS 2 (Eigen & Fergus 2015 multi-scale CNN).

The tree shows the architecture (see docs/architecture.md):

- ``core/``: the ROS-free library (network, checkpoints, estimator, camera geometry, image
  encodings, point clouds, stand-in sensors, colouring, files). Imports no ROS package.
- ``node/``: the node's behaviour without a transport (frame pipeline, parameters,
  diagnostics, message conversion).
- ``ros/``: the rclpy shells (plain and lifecycle node). ``dds/``: the cyclonedds wire layer
  and the DDS-native shell.
- ``sim/``: the procedural indoor-scene renderer.
- The top-level modules are the commands a user runs (``python -m depth_estimation_ros.X``).

The handful of names a user needs are re-exported here and imported on first use, so
``import depth_estimation_ros`` stays cheap (no torch until a name needs it).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_EXPORTS = {
    "DepthEstimator": "depth_estimation_ros.core.estimator",
    "MultiScaleDepthNet": "depth_estimation_ros.core.model",
    "ModelConfig": "depth_estimation_ros.core.model",
    "PreprocessConfig": "depth_estimation_ros.core.model",
    "load_checkpoint": "depth_estimation_ros.core.checkpoint",
    "CameraIntrinsics": "depth_estimation_ros.core.camera",
}

__all__ = ["CameraIntrinsics", "DepthEstimator", "ModelConfig", "MultiScaleDepthNet",
           "PreprocessConfig", "__version__", "load_checkpoint"]

if TYPE_CHECKING:  # pragma: no cover
    from depth_estimation_ros.core.camera import CameraIntrinsics
    from depth_estimation_ros.core.checkpoint import load_checkpoint
    from depth_estimation_ros.core.estimator import DepthEstimator
    from depth_estimation_ros.core.model import ModelConfig, MultiScaleDepthNet, PreprocessConfig


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'depth_estimation_ros' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
