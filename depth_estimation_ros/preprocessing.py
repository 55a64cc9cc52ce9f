"""Frame → network input, on whatever device the tensors live (CPU or GPU).

The same functions run at inference (the estimator) and in training, so the two cannot drift.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor

from depth_estimation_ros.model import PreprocessConfig


def resize_and_crop(rgb: Tensor, pre: PreprocessConfig) -> Tensor:
    """Resize a batch to the configured frame size and take the network's crop.

    Args:
        rgb: (B, 3, H, W) image, any float or uint8 dtype, 0–255.
        pre: preprocessing metadata of the checkpoint.

    Returns:
        (B, 3, input_height, input_width) float tensor, 0–255, dtype float32 unless ``rgb``
        is already floating point.
    """
    x = rgb if rgb.is_floating_point() else rgb.float()
    size = (pre.resize_height, pre.resize_width)
    if tuple(x.shape[-2:]) != size:
        # antialias avoids aliasing when a 640×480 frame shrinks ~2×; it is supported on
        # CPU and CUDA for bilinear.
        x = F.interpolate(x, size=size, mode="bilinear", align_corners=False, antialias=True)
    t, left = pre.crop_top, pre.crop_left
    return x[..., t: t + pre.input_height, left: left + pre.input_width]


def normalize(rgb: Tensor, pre: PreprocessConfig) -> Tensor:
    """(B, 3, H, W) float 0–255 → ``(v - mean) / std``."""
    return (rgb - pre.mean) / pre.std

