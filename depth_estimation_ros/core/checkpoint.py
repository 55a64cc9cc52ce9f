"""Self-describing checkpoints: weights + everything needed to rebuild and use the model.

A checkpoint is a dict of plain types and tensors, loadable with
``torch.load(weights_only=True)``::

    {"format": FORMAT, "format_version": 1, "model_state": {...}, "model_config": {...},
     "preprocess": {...}, "training": {...}, "metrics": {...}, "code_version": "x.y.z",
     "optimizer_state": {...} (optional)}

Files are written to a temporary name in the target folder and renamed, so a crash never
leaves a half-written checkpoint under the real name.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from depth_estimation_ros import __version__
from depth_estimation_ros.core.atomic import atomic_path
from depth_estimation_ros.core.model import (
    ModelConfig,
    MultiScaleDepthNet,
    PreprocessConfig,
    build_model,
)
from depth_estimation_ros.core.reporting import first_line

FORMAT = "depth_estimation_ros.checkpoint"  # the file format's name (kept when the module moved)
FORMAT_VERSION = 1
# the default: mobilenet_v2 (ImageNet) trained on rendered rooms, finished with
# feature-statistics noise; of the three, the best zero-shot metric depth on the real 7-Scenes
# kitchen (docs/weights.md)
DEFAULT_WEIGHTS_NAME = "mobile_dsu_synthetic.pt"
# the package's other weights (docs/weights.md): the same variant without the noise (better
# structure, worse scale), and the compact variant trained from scratch
MOBILE_WEIGHTS_NAME = "mobile_synthetic.pt"
COMPACT_WEIGHTS_NAME = "compact_synthetic.pt"
SHIPPED_WEIGHTS = (DEFAULT_WEIGHTS_NAME, MOBILE_WEIGHTS_NAME, COMPACT_WEIGHTS_NAME)
WEIGHTS_ENV = "DEPTH_ESTIMATION_CHECKPOINT"

HOW_TO_GET_WEIGHTS = (
    "train weights with `python -m depth_training.train --config "
    "depth_training/configs/synthetic_compact.yaml` (or on NYUv2, see README 'Training') and "
    "pass the resulting best.pt with --checkpoint (or the node's `checkpoint` parameter)"
)


class CheckpointError(RuntimeError):
    """A checkpoint is missing, unreadable, or does not describe a compatible model."""


def default_checkpoint_path() -> Path:
    """The checkpoint shipped inside the package (may not exist in a bare source tree).

    ``$DEPTH_ESTIMATION_CHECKPOINT`` overrides it.
    """
    env = os.environ.get(WEIGHTS_ENV)
    if env:
        return Path(env)
    return shipped_weights_path(DEFAULT_WEIGHTS_NAME)


def shipped_weights_path(name: str) -> Path:
    """A weights file shipped inside the package (``weights/<name>``)."""
    return Path(__file__).resolve().parents[1] / "weights" / name


def resolve_checkpoint_path(path: str | os.PathLike[str] | None) -> Path:
    """``path`` or the default; raise :class:`CheckpointError` if the file does not exist."""
    p = Path(path) if path not in (None, "") else default_checkpoint_path()
    if not p.is_file():
        what = "checkpoint" if path not in (None, "") else "default checkpoint"
        raise CheckpointError(f"{what} {p} does not exist; {HOW_TO_GET_WEIGHTS}")
    return p


def _plain(value: Any) -> Any:
    """Convert to plain Python types so ``weights_only=True`` can load it."""
    if isinstance(value, Mapping):
        # int keys stay ints: optimizer state is keyed by parameter index
        return {k if isinstance(k, (int, str)) else str(k): _plain(v)
                for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, torch.Tensor):
        return value.detach().cpu()
    if hasattr(value, "item") and callable(value.item):  # numpy / torch scalars
        return value.item()
    if isinstance(value, Path):
        return str(value)
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise TypeError(f"cannot store {type(value).__name__} in a checkpoint: use plain types")


def atomic_torch_save(obj: Any, path: str | os.PathLike[str]) -> Path:
    """``torch.save`` to a temporary file in the same folder, fsync, then rename."""
    try:
        with atomic_path(path) as tmp:
            torch.save(obj, tmp)
    except FileNotFoundError as exc:
        raise CheckpointError(f"cannot write checkpoint: {exc}") from exc
    except OSError as exc:
        raise CheckpointError(f"cannot write checkpoint {path}: {exc.strerror or exc}") from exc
    return Path(path)


def save_checkpoint(
    path: str | os.PathLike[str],
    model: nn.Module,
    *,
    model_config: ModelConfig,
    preprocess: PreprocessConfig,
    training: Mapping[str, Any] | None = None,
    metrics: Mapping[str, Any] | None = None,
    optimizer_state: Mapping[str, Any] | None = None,
    half: bool = False,
) -> Path:
    """Write a self-describing checkpoint atomically.

    Args:
        path: destination file.
        model: the network (a DDP/compiled wrapper is unwrapped).
        model_config: config the model was built from.
        preprocess: preprocessing metadata the model expects.
        training: training state (epoch, step, stage, config, ...), plain types.
        metrics: validation/evaluation metrics, plain types.
        optimizer_state: ``optimizer.state_dict()`` (and similar) for resuming.
        half: store floating-point weights as float16 (halves the file; loading restores
            float32).

    Returns:
        The written path.
    """
    module = getattr(model, "module", model)  # DDP
    module = getattr(module, "_orig_mod", module)  # torch.compile
    state = {k: v.detach().cpu() for k, v in module.state_dict().items()}
    if half:
        state = {k: v.half() if v.is_floating_point() else v for k, v in state.items()}
    ckpt: dict[str, Any] = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "model_state": state,
        "model_config": model_config.to_dict(),
        "preprocess": preprocess.to_dict(),
        "training": _plain(dict(training or {})),
        "metrics": _plain(dict(metrics or {})),
        "code_version": __version__,
    }
    if optimizer_state is not None:
        ckpt["optimizer_state"] = _plain(dict(optimizer_state))
    return atomic_torch_save(ckpt, path)


def load_checkpoint(path: str | os.PathLike[str] | None = None,
                    map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load and validate a checkpoint (``None`` = the default shipped one).

    Raises:
        CheckpointError: missing file, not a checkpoint, corrupt, or an unknown format.
    """
    p = resolve_checkpoint_path(path)
    try:
        ckpt = torch.load(p, map_location=map_location, weights_only=True)
    except Exception as exc:  # torch raises many types for a corrupt file
        raise CheckpointError(
            f"checkpoint {p} is not a readable PyTorch file ({type(exc).__name__}: "
            f"{str(exc).splitlines()[0] if str(exc) else 'no detail'}); expected a file "
            "written by depth_estimation_ros.core.checkpoint.save_checkpoint") from exc
    if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT:
        raise CheckpointError(f"{p} is not a depth_estimation_ros checkpoint (no "
                              f"'format': '{FORMAT}' entry); expected a file written by "
                              "save_checkpoint")
    version = ckpt.get("format_version")
    if version != FORMAT_VERSION:
        raise CheckpointError(f"checkpoint {p} has format version {version}; this code reads "
                              f"version {FORMAT_VERSION}")
    for key in ("model_state", "model_config", "preprocess"):
        if not isinstance(ckpt.get(key), dict):
            raise CheckpointError(f"checkpoint {p} lacks its '{key}' entry")
    _check_state(ckpt["model_state"], str(p))
    ckpt["path"] = str(p)
    return ckpt


def _check_state(state: Any, where: str) -> None:
    """Raise :class:`CheckpointError` unless ``state`` maps parameter names to tensors."""
    if not isinstance(state, Mapping):
        raise CheckpointError(f"{where} has a 'model_state' of type {type(state).__name__}; "
                              "expected a dict of parameter name -> tensor")
    for key, value in state.items():
        if not isinstance(key, str) or not isinstance(value, torch.Tensor):
            raise CheckpointError(
                f"{where} has model_state entry {str(key)[:80]!r} of type "
                f"{type(value).__name__}; expected a dict of parameter name -> tensor")


def checkpoint_configs(ckpt: Mapping[str, Any], where: str) -> tuple[ModelConfig,
                                                                     PreprocessConfig]:
    """The model and preprocessing configs of a loaded checkpoint.

    Raises:
        CheckpointError: either config is missing or invalid (``where`` names the file).
    """
    try:
        return (ModelConfig.from_dict(dict(ckpt["model_config"])),
                PreprocessConfig.from_dict(dict(ckpt["preprocess"])))
    except (TypeError, ValueError) as exc:
        raise CheckpointError(f"{where} has an incompatible model or preprocess config: "
                              f"{first_line(exc)}") from exc


def model_from_checkpoint(
    ckpt_or_path: Mapping[str, Any] | str | os.PathLike[str] | None,
    device: str | torch.device = "cpu",
) -> tuple[MultiScaleDepthNet, ModelConfig, PreprocessConfig]:
    """Rebuild the model from a checkpoint alone (in eval mode, float32, on ``device``).

    Raises:
        CheckpointError: the checkpoint is unusable or does not match its own config.
    """
    ckpt = ckpt_or_path if isinstance(ckpt_or_path, Mapping) else load_checkpoint(ckpt_or_path)
    where = ckpt.get("path", "checkpoint")
    cfg, pre = checkpoint_configs(ckpt, where)
    _check_state(ckpt.get("model_state"), where)
    state = ckpt["model_state"]
    try:
        # Shapes first, on the meta device (no memory): a config that describes a far
        # bigger network than the weights is rejected before anything is allocated.
        with torch.device("meta"):
            skeleton = build_model(cfg)
    except (TypeError, ValueError, RuntimeError) as exc:
        raise CheckpointError(f"{where} has a model config no {cfg.variant} model can be "
                              f"built from: {first_line(exc)}") from exc
    mismatch = _state_mismatch(skeleton.state_dict(), state)
    if mismatch:
        raise CheckpointError(f"{where} does not match a {cfg.variant} model built from its "
                              f"own config ({mismatch})")
    for key, value in state.items():
        if value.is_floating_point() and not bool(torch.isfinite(value).all()):
            raise CheckpointError(f"{where} has NaN or infinite values in model_state entry "
                                  f"{key!r}; expected finite weights")
    model = build_model(cfg)
    try:
        model.load_state_dict({k: v.float() if v.is_floating_point() else v
                               for k, v in state.items()}, strict=True)
    except RuntimeError as exc:
        raise CheckpointError(f"{where} does not match a {cfg.variant} model built from its "
                              f"own config ({first_line(exc)})") from exc
    return model.to(device).eval(), cfg, pre


def _state_mismatch(expected: Mapping[str, torch.Tensor],
                    state: Mapping[str, torch.Tensor]) -> str:
    """How ``state`` differs from ``expected`` in keys or shapes ("" if it does not)."""
    missing = [k for k in expected if k not in state]
    if missing:
        return f"{len(missing)} missing weight(s), first {missing[0]!r}"
    unexpected = [k for k in state if k not in expected]
    if unexpected:
        return f"{len(unexpected)} unexpected weight(s), first {unexpected[0]!r}"
    for key, value in expected.items():
        if tuple(state[key].shape) != tuple(value.shape):
            return (f"{key!r} has shape {tuple(state[key].shape)}; the config needs "
                    f"{tuple(value.shape)}")
    return ""
