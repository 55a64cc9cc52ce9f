"""What a stage trains and how fast: parameter groups with per-layer rates, the optimiser and
the learning-rate schedule.

Per-layer learning rates: every parameter group uses ``lr.<stage> × lr_mult.<group>``
(groups: scale-1 conv features, scale-1 head, first/last conv of scales 2/3, their inner
convs; see :class:`depth_training.config.LayerLR`). The schedule (``constant``, ``step`` at
``lr_milestones`` or ``cosine``) multiplies all of them.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from depth_estimation_ros.core.model import MultiScaleDepthNet
from depth_training.config import TrainConfig

__all__ = ["build_optimizer", "lr_factor", "param_groups", "set_lr", "set_trainable"]


def _convs(module: nn.Module) -> list[nn.Conv2d]:
    return [m for m in module.modules() if isinstance(m, nn.Conv2d)]


def param_groups(model: MultiScaleDepthNet, stage: str, cfg: TrainConfig) -> list[dict]:
    """Optimiser parameter groups of a stage with the per-layer lr multipliers.

    coarse: ``scale1_features`` (scale-1 conv stack), ``scale1_head`` (the rest of scale 1:
    fully connected layers, or the compact context/head convs), and for scale 2
    ``first_last`` (its first and last conv) and ``inner`` (the convs in between).
    fine: ``first_last`` and ``inner`` of scale 3.
    """
    mult = cfg.lr_mult
    base = getattr(cfg.lr, stage)
    named: list[tuple[str, list[nn.Parameter], float]] = []
    if stage == "coarse":
        s1 = model.scale1
        feats = list(s1.features.parameters())
        ids = {id(p) for p in feats}
        named.append(("scale1_features", feats, mult.scale1_features))
        named.append(("scale1_head", [p for p in s1.parameters() if id(p) not in ids],
                      mult.scale1_head))
        scales = [("scale2", model.scale2)]
    else:
        scales = [("scale3", model.scale3)]
    for name, mod in scales:
        convs = _convs(mod)
        edge = {id(p) for c in (convs[0], convs[-1]) for p in c.parameters()}
        named.append((f"{name}_first_last", [p for p in mod.parameters() if id(p) in edge],
                      mult.first_last))
        named.append((f"{name}_inner", [p for p in mod.parameters() if id(p) not in edge],
                      mult.inner))
    return [{"params": ps, "lr": base * m, "lr_mult": m, "name": n} for n, ps, m in named if ps]


def build_optimizer(groups: list[dict], cfg: TrainConfig) -> torch.optim.Optimizer:
    """SGD with momentum (the paper) or Adam/AdamW over ``groups``."""
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(groups, lr=groups[0]["lr"], momentum=cfg.momentum,
                               weight_decay=cfg.weight_decay)
    cls = torch.optim.Adam if cfg.optimizer == "adam" else torch.optim.AdamW
    return cls(groups, lr=groups[0]["lr"], betas=tuple(cfg.betas),
               weight_decay=cfg.weight_decay)


def lr_factor(cfg: TrainConfig, stage: str, epoch_progress: float,
              time_fraction: float = 0.0) -> float:
    """Schedule multiplier.

    Args:
        cfg: the config (``schedule``, ``lr_milestones``, ``lr_decay``, ``epochs``).
        stage: ``coarse`` or ``fine``.
        epoch_progress: epochs done in the stage (fractional).
        time_fraction: share of the stage's ``time_limit_min`` used so far; the cosine
            schedule follows whichever of epochs and time is further along, so a stage cut
            short by its time limit still ends at a low rate.
    """
    if cfg.schedule == "constant":
        return 1.0
    if cfg.schedule == "step":
        passed = sum(1 for m in getattr(cfg.lr_milestones, stage) if epoch_progress >= m)
        return cfg.lr_decay**passed
    total = max(1, getattr(cfg.epochs, stage))
    t = min(1.0, max(epoch_progress / total, time_fraction))
    return 0.5 * (1.0 + math.cos(math.pi * t))


def set_lr(opt: torch.optim.Optimizer, base: float, factor: float) -> None:
    """Set every group's rate to ``base × lr_mult × factor``."""
    for g in opt.param_groups:
        g["lr"] = base * g["lr_mult"] * factor


def set_trainable(model: MultiScaleDepthNet, stage: str) -> None:
    """coarse: scales 1+2 train, scale 3 frozen; fine: scales 1+2 frozen (eval mode)."""
    model.freeze_coarse(stage == "fine")
    for p in model.fine_parameters():
        p.requires_grad_(stage == "fine")
