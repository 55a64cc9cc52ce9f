"""What a run is: the config a CLI call describes, the stages it plans, the model and input
geometry its config names, and the config a checkpoint was trained with.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from depth_estimation_ros.core.camera import NYU_KINECT_FX, NYU_KINECT_WIDTH
from depth_estimation_ros.core.checkpoint import CheckpointError, load_checkpoint
from depth_estimation_ros.core.model import ModelConfig, PreprocessConfig
from depth_training.config import TrainConfig, config_from_dict, load_config
from depth_training.errors import ConfigError

__all__ = ["STAGE_ORDER", "config_from_checkpoint", "make_model_config", "make_preprocess",
           "resolve_config"]

STAGE_ORDER: dict[str, tuple[str, ...]] = {
    "coarse": ("coarse",),
    "fine": ("fine",),
    "all": ("coarse", "fine"),
}


def make_model_config(cfg: TrainConfig) -> ModelConfig:
    """``ModelConfig.preset(model.variant)`` with the other ``model.*`` keys applied."""
    opts = dict(cfg.model)
    variant = str(opts.pop("variant"))
    try:
        base = ModelConfig.preset(variant)
        known = {f.name for f in dataclasses.fields(ModelConfig)}
        unknown = sorted(set(opts) - known)
        if unknown:
            raise ConfigError(f"unknown model option model.{unknown[0]}; known: {sorted(known)}.")
        opts = {k: tuple(v) if isinstance(v, list) else v for k, v in opts.items()}
        return dataclasses.replace(base, **opts)
    except (TypeError, ValueError) as exc:
        if isinstance(exc, ConfigError):
            raise
        raise ConfigError(f"bad model configuration {cfg.model}: {exc}.") from exc


def make_preprocess(cfg: TrainConfig) -> PreprocessConfig:
    """The input geometry named by ``cfg.preprocess``, with the canonical camera's focal length.

    The canonical camera is NYUv2's Kinect (fx 518.8579 px at 640x480), which the synthetic
    renderer also uses: at the network input its fx is ``518.8579 * resize_width / 640``
    (259.4 px for ``paper``, 246.5 px for ``full_frame``). Every item of another camera is
    trained on at that focal length
    (:class:`~depth_training.datasets.dataset.DepthDataset`), and the checkpoint records it so
    inference can rescale for the camera it runs on.
    """
    pre = PreprocessConfig.full_frame() if cfg.preprocess == "full_frame" else (
        PreprocessConfig.paper())
    return dataclasses.replace(
        pre, focal_length=pre.input_focal_length(NYU_KINECT_FX, NYU_KINECT_WIDTH))


def resolve_config(config: Path | None, overrides: list[str], out: Path | None,
                   resume: bool) -> TrainConfig:
    """The config a CLI call describes (``--resume`` without ``--config`` reuses the run's)."""
    extra = list(overrides)
    if out is not None:
        extra.append(f"out_dir={out}")
    if config is None and resume:
        if out is None:
            raise ConfigError("--resume without --config needs --out RUN_DIR.")
        saved = out / "config.yaml"
        if not saved.is_file():
            raise ConfigError(f"cannot resume: {saved} does not exist.")
        return load_config(saved, extra)
    if config is None:
        raise ConfigError("--config is required (e.g. depth_training/configs/"
                          "synthetic_compact.yaml).")
    return load_config(config, extra)


def config_from_checkpoint(path: str | Path) -> TrainConfig:
    """The training config stored in a checkpoint written by ``depth_training.train``."""
    ckpt = load_checkpoint(path)
    data = ckpt.get("training", {}).get("config")
    if not isinstance(data, dict):
        raise CheckpointError(f"{path} holds no training config.")
    return config_from_dict(data)
