"""Mixed precision of a run: the autocast dtype and whether a GradScaler is needed (``amp=``)."""

from __future__ import annotations

from contextlib import nullcontext
from typing import Any

import torch

from depth_training.config import TrainConfig
from depth_training.errors import ConfigError

__all__ = ["amp_settings", "autocast"]


def amp_settings(cfg: TrainConfig, device: torch.device) -> tuple[torch.dtype | None, bool]:
    """(autocast dtype or None, whether to use a GradScaler)."""
    mode = cfg.amp
    if device.type != "cuda":
        if mode == "fp16":
            raise ConfigError("amp=fp16 needs a CUDA device; use amp=off (or bf16) on CPU.")
        return (torch.bfloat16, False) if mode == "bf16" else (None, False)
    if mode == "off":
        return None, False
    if mode == "auto":
        mode = "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    return (torch.bfloat16, False) if mode == "bf16" else (torch.float16, True)


def autocast(device: torch.device, dtype: torch.dtype | None) -> Any:
    """``torch.autocast`` at ``dtype``, or a no-op context for full precision."""
    if dtype is None:
        return nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)
