"""Evaluation during training: the validation loss and depth metrics of a model on a loader.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader

from depth_training.config import TrainConfig
from depth_training.losses import scale_invariant_loss
from depth_training.metrics import MetricAccumulator
from depth_training.precision import autocast

__all__ = ["validate"]


@torch.no_grad()
def validate(model: nn.Module, loader: DataLoader, stage: str, cfg: TrainConfig,
             device: torch.device,
             amp_dtype: torch.dtype | None = None,
             memory_format: torch.memory_format = torch.contiguous_format) -> dict[str, float]:
    """Validation loss (per-image mean) and depth metrics (all pixels pooled).

    The prediction is upsampled to the network input size; the metrics clamp it to
    [``MIN_DEPTH``, ``MAX_DEPTH``] as evaluation does, so validation and the reported numbers
    follow one protocol. The loss is on the canonical camera's depth (what the model learns);
    the metrics compare prediction and target both taken back to each item's own camera
    (× ``focal_scale``), as inference with that camera's intrinsics reports them.
    """
    was_training = model.training
    model.eval()
    acc = MetricAccumulator("pixel")
    loss_sum, n_img = 0.0, 0
    for batch in loader:
        x = batch["image"].to(device, non_blocking=True)  # (B, 3, h, w) normalised
        x = x.contiguous(memory_format=memory_format)
        target = batch["depth"].to(device, non_blocking=True)  # (B, 1, h, w) metres
        with autocast(device, amp_dtype):
            pred_log = model(x, stage=stage)  # (B, 1, h', w') log metres
        pred_log = pred_log.float()
        loss = scale_invariant_loss(pred_log, target, lam=cfg.loss_lambda,
                                    gradient_weight=cfg.gradient_weight)
        loss_sum += loss.item() * x.shape[0]
        n_img += x.shape[0]
        depth = F.interpolate(pred_log.exp(), size=target.shape[-2:], mode="bilinear",
                              align_corners=False)
        if "focal_scale" in batch:  # (B,) f / f0: metres in each item's camera
            scale = batch["focal_scale"].to(device).view(-1, 1, 1, 1)
            depth, target = depth * scale, target * scale
        acc.update(depth[:, 0].cpu(), target[:, 0].cpu())
    model.train(was_training)
    out = {"val_loss": loss_sum / max(1, n_img)}
    out.update(acc.compute())
    return out
