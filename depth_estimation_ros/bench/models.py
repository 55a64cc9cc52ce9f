"""The models the benchmark times: the given or shipped checkpoint of a variant, else
untrained weights built in memory, and each variant's parameters and FLOPs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from depth_estimation_ros import __version__
from depth_estimation_ros.core.checkpoint import (
    FORMAT,
    FORMAT_VERSION,
    SHIPPED_WEIGHTS,
    default_checkpoint_path,
    load_checkpoint,
    shipped_weights_path,
)
from depth_estimation_ros.core.model import (
    ModelConfig,
    PreprocessConfig,
    build_model,
    count_parameters,
)


def untrained_checkpoint(variant: str, seed: int = 0) -> dict[str, Any]:
    """An in-memory checkpoint of an untrained ``variant`` (full-frame preprocessing).

    Built from ``ModelConfig.preset(variant)``; no file is written (eigen_vgg16 would be
    ~870 MB).
    """
    torch.manual_seed(seed)
    cfg = ModelConfig.preset(variant)
    model = build_model(cfg)
    return {"format": FORMAT, "format_version": FORMAT_VERSION,
            "model_state": model.state_dict(), "model_config": cfg.to_dict(),
            "preprocess": PreprocessConfig.full_frame().to_dict(),
            "training": {"note": "untrained, for timing only"}, "metrics": {},
            "code_version": __version__, "path": f"<untrained {variant}>"}


def checkpoint_for(variant: str, explicit: str | None) -> dict[str, Any]:
    """``explicit`` if it holds ``variant``, else the first shipped file (the default first)
    that does, else untrained."""
    shipped = [shipped_weights_path(n) for n in SHIPPED_WEIGHTS] if explicit is None else []
    candidates = [explicit] if explicit is not None else [default_checkpoint_path(), *shipped]
    for path in dict.fromkeys(candidates):  # the default is also the first shipped file
        if path is None or not Path(path).is_file():
            continue
        ckpt = load_checkpoint(path)
        if ckpt["model_config"].get("variant") == variant:
            return ckpt
    return untrained_checkpoint(variant)


def network_cost(variant: str) -> dict[str, float]:
    """Parameters and FLOPs (2 per multiply-add, convs and linears) at 228×304, batch 1.

    Counted on the meta device with ``torch.utils.flop_counter.FlopCounterMode``: no memory
    is allocated and nothing is computed.
    """
    from torch.utils.flop_counter import FlopCounterMode

    with torch.device("meta"):
        model = build_model(ModelConfig.preset(variant)).eval()
        x = torch.empty(1, 3, 228, 304)
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model(x)
    per_scale = counter.get_flop_counts()
    return {"parameters": count_parameters(model),
            "gflop": counter.get_total_flops() / 1e9,
            **{f"gflop_{s}": sum(per_scale.get(f"MultiScaleDepthNet.{s}", {}).values()) / 1e9
               for s in ("scale1", "scale2", "scale3")}}
