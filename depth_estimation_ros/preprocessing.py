"""Frame → network input, on whatever device the tensors live (CPU or GPU).

The same functions run at inference (the estimator) and in training, so the two cannot drift.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from depth_estimation_ros.model import PreprocessConfig


def resize_and_crop(rgb: Tensor, pre: PreprocessConfig) -> Tensor:
    """Resize a batch to the configured frame size and take the network's crop.

    Antialiased bilinear resize (a 640×480 frame shrinks ~2×). A uint8 batch on the CPU is
    resized in uint8 by torch's vectorised kernel (the one torchvision uses; 5–7× faster
    than converting to float first, ~0.25 vs ~1.5 ms for a 640×480 RGB frame on the
    development VM), which rounds to whole levels: at most 1 level, ~0.3 on average, from
    the float result. Training goes through this function too, so inference and training
    agree either way.

    Args:
        rgb: (B, C, H, W) image, any float or uint8 dtype, 0–255 (any channel count and
            strides; channels-last uint8 with 3 or 4 channels is the fastest on the CPU).
        pre: preprocessing metadata of the checkpoint.

    Returns:
        (B, C, input_height, input_width) float tensor, 0–255, dtype float32 unless ``rgb``
        is already floating point.
    """
    size = (pre.resize_height, pre.resize_width)
    x = rgb
    resize = tuple(x.shape[-2:]) != size
    if resize and x.dtype == torch.uint8 and x.device.type == "cpu":
        x = F.interpolate(x, size=size, mode="bilinear", align_corners=False, antialias=True)
        resize = False
    if not x.is_floating_point():
        x = x.float()
    if resize:
        # antialias is supported for floating point on CPU and CUDA
        x = F.interpolate(x, size=size, mode="bilinear", align_corners=False, antialias=True)
    t, left = pre.crop_top, pre.crop_left
    return x[..., t: t + pre.input_height, left: left + pre.input_width]


def normalize(rgb: Tensor, pre: PreprocessConfig) -> Tensor:
    """(B, 3, H, W) float 0–255 → ``(v - mean) / std``."""
    return (rgb - pre.mean) / pre.std

