"""Staged training of the Eigen & Fergus (2015) depth network.

Usage::

    python -m depth_training.train --config depth_training/configs/nyuv2_eigen_vgg16.yaml \\
        data.path=/data/nyu_depth_v2_labeled.mat [key=value ...] [--out RUN_DIR] [--resume]
    torchrun --nproc_per_node 4 -m depth_training.train --config ...   # several GPUs (DDP)

Stages (``stage=``), as in the paper and the seed:

- ``coarse``: scales 1+2 on the 55×74 output; scale 3 is not used and stays frozen.
- ``fine``: scale 3 on the 109×147 output with scales 1+2 frozen (and in eval mode, so no
  dropout); it starts from a coarse checkpoint: ``init_from=PATH`` or this run's
  ``coarse_best.pt``.
- ``all``: ``coarse`` then ``fine``; the fine stage starts from the best coarse weights.

Per-layer learning rates: every parameter group uses ``lr.<stage> × lr_mult.<group>``
(groups: scale-1 conv features, scale-1 head, first/last conv of scales 2/3, their inner
convs; see :class:`depth_training.config.LayerLR`). The schedule (``constant``, ``step`` at
``lr_milestones`` or ``cosine``) multiplies all of them. The ``lr`` column of ``metrics.csv``
is the base lr × schedule factor (the rate of the ``inner`` group).

Run folder (``--out``, default ``runs/<name>``): ``config.yaml`` (the resolved config),
``metrics.csv`` (``epoch, stage, step, train_loss, val_loss, lr`` then the
:data:`~depth_training.metrics.METRIC_KEYS`), ``last.pt`` (everything needed to resume:
optimiser, AMP scaler, RNG states, early-stopping state, epoch and step), ``coarse_best.pt`` /
``fine_best.pt`` (best validation result of each stage, by ``best_metric``: validation loss by
default, since the loss of the two stages is what each optimises; ``delta1`` is the
alternative) and ``best.pt`` (the best checkpoint of the run's last stage: what you deploy),
plus TensorBoard events in ``tb/``. All checkpoints are written atomically
(:func:`depth_estimation_ros.core.checkpoint.save_checkpoint`).

Validation runs on rank 0 over the whole validation set (pixels pooled, the metrics module's
default) with the prediction upsampled bilinearly to the network input (228×304) and compared
with the target there; the result is broadcast so all ranks take the same early-stopping
decision.

Bad depth: pixels that are 0, NaN, inf or negative are invalid and masked out of the loss and
the metrics (the NYUv2 loader itself refuses NaN in the file with a ``DatasetError``). A
non-finite loss (divergence) stops the run with a :class:`TrainingError`.

``time_limit_min.<stage>`` ends a stage at the first step past that wall-clock budget (the
partial epoch is validated and logged); under a limit the cosine schedule follows the clock as
well as the epochs, so a stage cut short still ends at a low rate. ``pretrained=`` initialises
scale 1 from a local ImageNet file, as the paper does (``eigen_vgg16``: torchvision VGG16;
``mobilenet_v2`` / ``efficientnet_lite0``: their backbones; :mod:`depth_training.pretrained_init`).

``--resume`` continues from ``<run>/last.pt``: same stage, epoch and global step (mid-epoch
checkpoints from ``save_every_steps`` skip the batches already seen: the shuffle order of an
epoch is a function of ``seed`` and the epoch), with the optimiser, scaler, RNG and
early-stopping state restored. Without ``--config`` the run's own ``config.yaml`` is used;
overrides apply on top (e.g. more epochs).
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import logging
import math
import os
import random
import sys
import time
from collections.abc import Iterator
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, Dataset, DistributedSampler, Sampler
from tqdm import tqdm

from depth_estimation_ros.core.camera import NYU_KINECT_FX, NYU_KINECT_WIDTH
from depth_estimation_ros.core.checkpoint import (
    CheckpointError,
    checkpoint_configs,
    load_checkpoint,
    save_checkpoint,
)
from depth_estimation_ros.core.model import (
    ModelConfig,
    MultiScaleDepthNet,
    PreprocessConfig,
    build_model,
)
from depth_training.config import (
    ConfigError,
    TrainConfig,
    config_from_dict,
    config_to_dict,
    load_config,
    save_config,
)
from depth_training.losses import scale_invariant_loss
from depth_training.metrics import METRIC_KEYS, MetricAccumulator
from depth_training.pretrained_init import PRETRAINED_RECORD_KEY, carried_record, init_pretrained

log = logging.getLogger(__name__)

CSV_COLUMNS: tuple[str, ...] = (
    "epoch", "stage", "step", "train_loss", "val_loss", "lr", *METRIC_KEYS,
)
STAGE_ORDER: dict[str, tuple[str, ...]] = {
    "coarse": ("coarse",),
    "fine": ("fine",),
    "all": ("coarse", "fine"),
}


class TrainingError(RuntimeError):
    """Training cannot start or continue (bad output folder, empty split, divergence...)."""


# -------------------------------------------------------------------------- distributed
@dataclass(frozen=True)
class DistInfo:
    """This process's place in a (possibly single-process) run."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def setup_distributed(device_spec: str) -> tuple[DistInfo, torch.device]:
    """Join the process group when launched by torchrun (``WORLD_SIZE`` > 1).

    gloo on CPU, nccl on CUDA; each rank uses ``cuda:LOCAL_RANK``.
    """
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local = int(os.environ.get("LOCAL_RANK", "0"))
    device = _resolve_device(device_spec, local if world > 1 else None)
    info = DistInfo(rank=rank, world_size=world, local_rank=local)
    if world > 1 and not dist.is_initialized():
        if device.type == "cuda":
            torch.cuda.set_device(device)
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    return info, device


def _resolve_device(spec: str, local_rank: int | None) -> torch.device:
    spec = spec.strip().lower()
    if spec == "auto":
        spec = "cuda" if torch.cuda.is_available() else "cpu"
    if spec == "cpu":
        return torch.device("cpu")
    if spec == "cuda" or (spec.startswith("cuda:") and spec[5:].isdigit()):
        if not torch.cuda.is_available():
            raise ConfigError(f"device {spec!r} requested but CUDA is not available; use cpu.")
        if spec == "cuda":
            return torch.device("cuda", local_rank or 0)
        return torch.device(spec)
    raise ConfigError(f"device {spec!r} not understood; expected auto, cpu, cuda or cuda:N.")


def _barrier(info: DistInfo) -> None:
    if info.enabled:
        dist.barrier()


def _broadcast(obj: Any, info: DistInfo) -> Any:
    """Rank 0's ``obj`` on every rank."""
    if not info.enabled:
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def _all_sum(values: list[float], info: DistInfo, device: torch.device) -> list[float]:
    """Element-wise sum over ranks (on the device: nccl reduces CUDA tensors only)."""
    if not info.enabled:
        return values
    t = torch.tensor(values, dtype=torch.float64, device=device)
    dist.all_reduce(t)
    return t.tolist()


# -------------------------------------------------------------------------- model and optim
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
    trained on at that focal length (:class:`~depth_training.data.DepthDataset`), and the
    checkpoint records it so inference can rescale for the camera it runs on.
    """
    pre = PreprocessConfig.full_frame() if cfg.preprocess == "full_frame" else (
        PreprocessConfig.paper())
    return dataclasses.replace(
        pre, focal_length=pre.input_focal_length(NYU_KINECT_FX, NYU_KINECT_WIDTH))


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


def _set_lr(opt: torch.optim.Optimizer, base: float, factor: float) -> None:
    for g in opt.param_groups:
        g["lr"] = base * g["lr_mult"] * factor


def _set_trainable(model: MultiScaleDepthNet, stage: str) -> None:
    """coarse: scales 1+2 train, scale 3 frozen; fine: scales 1+2 frozen (eval mode)."""
    model.freeze_coarse(stage == "fine")
    for p in model.fine_parameters():
        p.requires_grad_(stage == "fine")


# -------------------------------------------------------------------------- data
def build_datasets(cfg: TrainConfig, pre: PreprocessConfig) -> tuple[Dataset, Dataset]:
    """Training and validation datasets for ``cfg.data`` (and its ``extra_sources``).

    Raises:
        DatasetError: missing or malformed data file or recording.
        TrainingError: an empty split.
    """
    from depth_training.augment import AugmentConfig
    from depth_training.config import extra_source_config
    from depth_training.data import DepthDataset, MixedDepthDataset

    aug_opts = {k: tuple(v) if isinstance(v, list) else v for k, v in cfg.augment.items()}
    try:
        augment = AugmentConfig(**aug_opts)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"bad augment configuration {cfg.augment}: {exc}.") from exc
    sections = [("data", cfg.data)] + [
        (f"data.extra_sources[{i}]", extra_source_config(e, i))
        for i, e in enumerate(cfg.data.extra_sources)]
    trains: list[DepthDataset] = []
    vals: list[DepthDataset] = []
    for where, d in sections:
        train_src, train_idx, val_src, val_idx = _source_split(d, cfg.seed, where)
        if len(train_idx) == 0:
            raise TrainingError(f"the training split of {where} ({d.kind}) is empty; check "
                                f"{where}.split and {where}.val_fraction.")
        if len(val_idx) == 0:
            raise TrainingError(f"the validation split of {where} ({d.kind}) is empty; raise "
                                f"{where}.val_fraction (or data.synthetic_val).")
        trains.append(DepthDataset(train_src, train_idx, pre, augment, seed=cfg.seed))
        vals.append(DepthDataset(val_src, val_idx, pre, None, seed=cfg.seed))
    if len(sections) == 1:
        return trains[0], vals[0]
    return MixedDepthDataset(trains), MixedDepthDataset(vals)


def _source_split(d: Any, seed: int, where: str) -> tuple[Any, np.ndarray, Any, np.ndarray]:
    """(train source, train indices, validation source, validation indices) of one section."""
    from depth_training.data import NYUv2Labeled, SyntheticDepthSource, make_split
    from depth_training.rgbd import RGBD_KINDS, open_rgbd_source

    if d.kind == "synthetic":
        train_src = SyntheticDepthSource(d.synthetic_train, seed=d.synthetic_train_seed,
                                         width=d.width, height=d.height,
                                         cache_size=d.synthetic_train)
        val_src = SyntheticDepthSource(d.synthetic_val, seed=d.synthetic_val_seed,
                                       width=d.width, height=d.height, cache_size=d.synthetic_val)
        return train_src, np.arange(len(train_src)), val_src, np.arange(len(val_src))
    split = d.resolved_split()
    if split in ("random", "contiguous") and d.val_fraction <= 0:
        raise TrainingError(f"the validation split is empty: {where}.split={split} needs "
                            f"{where}.val_fraction > 0.")
    if d.kind in RGBD_KINDS:
        src = open_rgbd_source(d.kind, d.path, rgb_topic=d.rgb_topic, depth_topic=d.depth_topic,
                               info_topic=d.info_topic, tolerance=d.tolerance,
                               depth_scale=d.depth_scale, fx=d.fx, fy=d.fy, cx=d.cx, cy=d.cy,
                               cache_size=d.cache_frames)
    else:
        src = NYUv2Labeled(d.path, preload=d.preload)
    if split == "official":
        # validation comes out of the 795 training images; the test set stays unseen
        train_all = make_split("official", len(src)).train
        n_val = round(d.val_fraction * len(train_all)) if d.val_fraction > 0 else 0
        perm = np.random.default_rng(seed).permutation(train_all)
        return src, np.sort(perm[n_val:]), src, np.sort(perm[:n_val])
    s = make_split(split, len(src), seed=seed, val_fraction=d.val_fraction, gap=d.split_gap)
    return src, s.train, src, s.test


def _warm_synthetic(ds: Dataset, show: bool) -> None:
    """Render every synthetic scene once in this process, so forked workers share them."""
    src = getattr(ds, "source", None)
    if src is None or not hasattr(src, "seed") or not hasattr(src, "cache_size"):
        return
    for i in tqdm(np.unique(ds.indices), desc="rendering scenes", disable=not show,
                  leave=False, dynamic_ncols=True):
        src.depth(int(i))


class _SkipSampler(Sampler[int]):
    """Wraps a sampler and drops its first ``skip`` indices once (mid-epoch resume)."""

    def __init__(self, inner: DistributedSampler) -> None:
        self.inner = inner
        self.skip = 0

    def set_epoch(self, epoch: int) -> None:
        self.inner.set_epoch(epoch)

    def __iter__(self) -> Iterator[int]:
        skip, self.skip = self.skip, 0
        it = iter(self.inner)
        for _ in range(skip):
            next(it, None)
        yield from it

    def __len__(self) -> int:
        return max(0, len(self.inner) - self.skip)


# -------------------------------------------------------------------------- evaluation
def _amp(cfg: TrainConfig, device: torch.device) -> tuple[torch.dtype | None, bool]:
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


def _autocast(device: torch.device, dtype: torch.dtype | None) -> Any:
    if dtype is None:
        return nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)


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
        with _autocast(device, amp_dtype):
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


# -------------------------------------------------------------------------- state
@dataclass
class StageState:
    """Progress of one stage (stored in ``last.pt``)."""

    epoch: int = 0  # epochs completed
    step_in_epoch: int = 0  # batches done in the running epoch (mid-epoch checkpoints)
    best: float | None = None  # best validation value of best_metric
    best_epoch: int = -1
    bad_validations: int = 0  # validations since the last improvement
    stopped_early: bool = False  # by patience or by the time limit
    elapsed_s: float = 0.0  # wall-clock seconds spent in this stage (training + validation)


@dataclass
class RunState:
    """Progress of the whole run (stored in ``last.pt``)."""

    global_step: int = 0
    stage: str = ""  # stage of the optimiser state in last.pt
    stages: dict[str, StageState] = field(default_factory=dict)
    elapsed_s: float = 0.0  # wall-clock training time so far

    def stage_state(self, stage: str) -> StageState:
        return self.stages.setdefault(stage, StageState())

    def to_dict(self) -> dict[str, Any]:
        return {"global_step": self.global_step, "stage": self.stage,
                "elapsed_s": self.elapsed_s,
                "stages": {k: dataclasses.asdict(v) for k, v in self.stages.items()}}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> RunState:
        return cls(global_step=int(d["global_step"]), stage=str(d["stage"]),
                   elapsed_s=float(d.get("elapsed_s", 0.0)),
                   stages={k: StageState(**v) for k, v in d["stages"].items()})


def _rng_state(device: torch.device) -> dict[str, Any]:
    np_state = np.random.get_state()
    state: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "numpy": [np_state[0], np_state[1].tolist(), *np_state[2:]],
        "python": [random.getstate()[0], list(random.getstate()[1]), random.getstate()[2]],
    }
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device)
    return state


def _set_rng_state(state: dict[str, Any], device: torch.device) -> None:
    torch.set_rng_state(state["torch"])
    n = state["numpy"]
    np.random.set_state((n[0], np.asarray(n[1], dtype=np.uint32), *n[2:]))
    p = state["python"]
    random.setstate((p[0], tuple(p[1]), p[2]))
    if device.type == "cuda" and "cuda" in state:
        torch.cuda.set_rng_state(state["cuda"], device)


def _seed_all(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


# -------------------------------------------------------------------------- trainer
class Trainer:
    """One training run (all stages), on one process of a possibly distributed job.

    Args:
        cfg: the resolved configuration.
        resume: continue from ``<run>/last.pt``.
    """

    def __init__(self, cfg: TrainConfig, resume: bool = False) -> None:
        self.cfg = cfg
        self.dist, self.device = setup_distributed(cfg.device)
        if cfg.threads > 0:
            torch.set_num_threads(cfg.threads)
        self.run_dir = cfg.run_dir()
        self.main = self.dist.is_main
        self.amp_dtype, use_scaler = _amp(cfg, self.device)
        self.scaler = torch.amp.GradScaler("cuda", enabled=use_scaler)
        self.model_config = make_model_config(cfg)
        self.pre = make_preprocess(cfg)
        self._init_state = self._load_init_from()  # fine-tuning: weights, model, preprocess
        self.plan = STAGE_ORDER[cfg.stage]
        self.state = RunState()
        self._resume_ckpt: dict[str, Any] | None = None
        if resume:
            self._load_resume()
        else:
            self._check_fresh_start()
        self.train_ds, self.val_ds = build_datasets(cfg, self.pre)
        torch.manual_seed(cfg.seed)  # the same initial weights on every rank
        self.model = build_model(self.model_config)
        if self._init_state is not None and not resume:
            self.model.load_state_dict(self._init_state)
        self.pretrained = carried_record(self._resume_ckpt)  # which ImageNet file, if any
        if cfg.pretrained and not resume and "coarse" in self.plan:
            self.pretrained = init_pretrained(self.model, cfg.pretrained, self.main)
        self._prepare_run_dir()
        self.model.to(self.device)
        self.memory_format = torch.channels_last if cfg.channels_last else (
            torch.contiguous_format)
        self.model.to(memory_format=self.memory_format)
        # Explicit per-rank seed offset: ranks draw different dropout masks. The data order
        # is shared through DistributedSampler(seed) and augmentation is seeded per sample;
        # a resumed run re-seeds from its step (rank 0 then restores its saved RNG state).
        _seed_all(cfg.seed + self.dist.rank + 7919 * self.state.global_step)
        if self._resume_ckpt is not None:
            self.model.load_state_dict(self._resume_ckpt["model_state"])
            if self.main and "rng" in self._resume_ckpt["training"]:
                _set_rng_state(self._resume_ckpt["training"]["rng"], self.device)
        self.writer = self._tensorboard()
        self._clock = time.monotonic()  # wall-clock time is added to state.elapsed_s

    # ---------------------------------------------------------------- setup
    def _load_init_from(self) -> dict[str, torch.Tensor] | None:
        """``init_from``: take the checkpoint's model config and preprocessing; its weights.

        The run's ``model`` entry is replaced by the checkpoint's config (so ``config.yaml``
        and a resume rebuild the same network); the optimiser starts fresh.
        """
        if not self.cfg.init_from:
            return None
        src = self._init_path()
        if not src.is_file():
            raise TrainingError(f"init_from {src} does not exist; expected a checkpoint "
                                "(e.g. depth_estimation_ros/weights/compact_synthetic.pt or a "
                                "run's best.pt).")
        ckpt = load_checkpoint(src, map_location="cpu")
        mc, pre = checkpoint_configs(ckpt, f"init_from {src}")
        self.model_config, self.pre = mc, pre
        self.cfg.model = {k: list(v) if isinstance(v, tuple) else v
                          for k, v in mc.to_dict().items()}
        if self.main:
            log.info(f"starting from {src}: its {mc.variant} model and {pre.input_width}x"
                     f"{pre.input_height} preprocessing (model/preprocess keys are ignored)")
        return {k: v.float() if v.is_floating_point() else v
                for k, v in ckpt["model_state"].items()}

    def _init_path(self) -> Path:
        """``init_from`` as a path (``shipped`` = the checkpoint shipped with the package)."""
        from depth_estimation_ros.core.checkpoint import default_checkpoint_path

        if self.cfg.init_from == "shipped":
            return default_checkpoint_path()
        return Path(self.cfg.init_from)

    def _check_fresh_start(self) -> None:
        if (self.run_dir / "last.pt").exists():
            raise TrainingError(f"{self.run_dir} already holds a run (last.pt); pass --resume "
                                "to continue it or --out to start a new one.")
        if self.plan == ("fine",):
            src = self._init_path() if self.cfg.init_from else (
                self.run_dir / "coarse_best.pt")
            if not src.is_file():
                raise TrainingError(f"the fine stage needs coarse weights, but {src} does not "
                                    "exist; set init_from= to a coarse checkpoint.")

    def _load_resume(self) -> None:
        path = self.run_dir / "last.pt"
        if not path.is_file():
            raise TrainingError(f"cannot resume: {path} does not exist; start the run without "
                                "--resume or point --out at an existing run folder.")
        ckpt = load_checkpoint(path, map_location="cpu")
        training = ckpt.get("training", {})
        if "run_state" not in training:
            raise TrainingError(f"cannot resume from {path}: it holds no training state.")
        saved = ModelConfig.from_dict(dict(ckpt["model_config"]))
        if saved != self.model_config:
            raise TrainingError(f"cannot resume from {path}: it holds a {saved.variant} model "
                                f"whose config differs from this run's ({self.model_config}).")
        self.state = RunState.from_dict(training["run_state"])
        self._resume_ckpt = ckpt
        if self.main:
            log.info(f"resuming {path} at stage {self.state.stage}, global step "
                     f"{self.state.global_step}")

    def _prepare_run_dir(self) -> None:
        if self.main:
            try:
                self.run_dir.mkdir(parents=True, exist_ok=True)
                save_config(self.cfg, self.run_dir / "config.yaml")
            except OSError as exc:
                raise TrainingError(f"cannot write to run folder {self.run_dir}: "
                                    f"{exc.strerror or exc}; pass a writable --out.") from exc
            self._init_csv()
        _barrier(self.dist)

    def _init_csv(self) -> None:
        path = self.run_dir / "metrics.csv"
        rows: list[dict[str, str]] = []
        if path.exists() and self._resume_ckpt is not None:
            with path.open(newline="") as f:
                rows = [r for r in csv.DictReader(f)
                        if int(r["step"]) <= self.state.global_step]
        with path.open("w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=CSV_COLUMNS)
            w.writeheader()
            w.writerows(rows)

    def _tensorboard(self) -> Any:
        if not (self.main and self.cfg.tensorboard):
            return None
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            log.info("tensorboard is not installed; logging to metrics.csv only")
            return None
        return SummaryWriter(log_dir=str(self.run_dir / "tb"), purge_step=(
            self.state.global_step + 1 if self._resume_ckpt is not None else None))

    # ---------------------------------------------------------------- checkpoints
    def _training_dict(self, stage: str, with_rng: bool) -> dict[str, Any]:
        d: dict[str, Any] = {
            "stage": stage, "run_state": self.state.to_dict(),
            "epoch": self.state.stage_state(stage).epoch, "step": self.state.global_step,
            "world_size": self.dist.world_size, "config": config_to_dict(self.cfg),
        }
        if with_rng:
            d["rng"] = _rng_state(self.device)
        if self.pretrained:
            d[PRETRAINED_RECORD_KEY] = self.pretrained
        return d

    def _save(self, name: str, stage: str, metrics: dict[str, float] | None = None,
              optimizer: torch.optim.Optimizer | None = None) -> None:
        """Write ``<run>/<name>`` on rank 0, with barriers so no rank runs ahead."""
        now = time.monotonic()
        self.state.elapsed_s += now - self._clock
        self._clock = now
        _barrier(self.dist)
        if self.main:
            opt_state = None
            if optimizer is not None:
                opt_state = {"optimizer": optimizer.state_dict(),
                             "scaler": self.scaler.state_dict()}
            save_checkpoint(self.run_dir / name, self.model, model_config=self.model_config,
                            preprocess=self.pre,
                            training=self._training_dict(stage, optimizer is not None),
                            metrics=metrics or {}, optimizer_state=opt_state)
        _barrier(self.dist)

    def _log_row(self, row: dict[str, Any]) -> None:
        if not self.main:
            return
        with (self.run_dir / "metrics.csv").open("a", newline="") as f:
            csv.DictWriter(f, fieldnames=CSV_COLUMNS).writerow(
                {k: _fmt(row.get(k, "")) for k in CSV_COLUMNS})
        if self.writer is not None:
            for k, v in row.items():
                if k not in ("epoch", "stage", "step") and isinstance(v, float):
                    self.writer.add_scalar(f"{row['stage']}/{k}", v, row["step"])
            self.writer.flush()

    # ---------------------------------------------------------------- stages
    def _init_fine(self) -> None:
        """Load the coarse weights the fine stage starts from."""
        # a run that trained its coarse stage continues from that, never from init_from
        src = self._init_path() if self.cfg.init_from and "coarse" not in self.plan else None
        if src is None:
            best = self.run_dir / "coarse_best.pt"
            if best.is_file():
                src = best
            elif "coarse" in self.plan:
                return  # no validation ever improved: keep the weights in memory
            else:
                raise TrainingError("the fine stage needs coarse weights: set init_from= to a "
                                    f"coarse checkpoint (no {best} in this run).")
        ckpt = load_checkpoint(src, map_location="cpu")
        saved = ModelConfig.from_dict(dict(ckpt["model_config"]))
        if saved != self.model_config:
            raise TrainingError(f"init_from {src} holds a model whose config ({saved}) differs "
                                f"from this run's ({self.model_config}).")
        state = {k: v.float() if v.is_floating_point() else v
                 for k, v in ckpt["model_state"].items()}
        self.model.load_state_dict(state)
        if self.main:
            log.info(f"fine stage starts from {src}")

    def _loaders(self, stage_state: StageState) -> tuple[DataLoader, DataLoader, _SkipSampler]:
        cfg = self.cfg
        sampler = _SkipSampler(DistributedSampler(
            self.train_ds, num_replicas=self.dist.world_size, rank=self.dist.rank,
            shuffle=True, seed=cfg.seed, drop_last=False))
        pin = self.device.type == "cuda"
        train = DataLoader(self.train_ds, batch_size=cfg.batch_size, sampler=sampler,
                           num_workers=cfg.num_workers, pin_memory=pin, drop_last=False)
        val = DataLoader(self.val_ds, batch_size=cfg.eval_batch_size, shuffle=False,
                         num_workers=cfg.num_workers, pin_memory=pin)
        return train, val, sampler

    def run(self) -> Path:
        """Train every stage of the plan; return the run folder."""
        if self.cfg.data.kind == "synthetic":
            _warm_synthetic(self.train_ds, self.main and self.cfg.progress)
            if self.main:
                _warm_synthetic(self.val_ds, self.cfg.progress)
        for i, stage in enumerate(self.plan):
            later = self.plan[i + 1:]
            if any(self.state.stage_state(s).epoch > 0 for s in later):
                continue  # a later stage already started (resume)
            self._run_stage(stage, is_last=(i == len(self.plan) - 1))
        if self.writer is not None:
            self.writer.close()
        if self.main:
            log.info(f"done: {self.run_dir} ({self.state.elapsed_s:.0f} s of training)")
        return self.run_dir

    def _run_stage(self, stage: str, is_last: bool) -> None:
        cfg, st = self.cfg, self.state.stage_state(stage)
        epochs = getattr(cfg.epochs, stage)
        if st.stopped_early or st.epoch >= epochs:
            return
        resuming_here = self._resume_ckpt is not None and self.state.stage == stage
        if stage == "fine" and st.epoch == 0 and st.step_in_epoch == 0 and not resuming_here:
            self._init_fine()
        _set_trainable(self.model, stage)
        groups = param_groups(self.model, stage, cfg)
        optimizer = build_optimizer(groups, cfg)
        if resuming_here:
            opt = self._resume_ckpt.get("optimizer_state") or {}
            if "optimizer" in opt:
                saved = dict(opt["optimizer"])
                # checkpoints store mapping keys as strings; the optimiser keys state by int
                saved["state"] = {int(k): v for k, v in saved["state"].items()}
                optimizer.load_state_dict(saved)
            if "scaler" in opt and self.scaler.is_enabled():
                self.scaler.load_state_dict(opt["scaler"])
        self.state.stage = stage
        net: nn.Module = self.model
        if self.dist.enabled:
            net = nn.parallel.DistributedDataParallel(
                self.model, device_ids=[self.device.index] if self.device.type == "cuda"
                else None)
        train_loader, val_loader, sampler = self._loaders(st)
        base_lr = getattr(cfg.lr, stage)
        if self.main:
            n_train = sum(p.numel() for g in groups for p in g["params"])
            log.info(f"stage {stage}: {epochs} epochs, {n_train} trainable parameters, "
                     f"{len(self.train_ds)} train / {len(self.val_ds)} val images, "
                     f"{self.dist.world_size} process(es), device {self.device}")
        self._tick = time.monotonic()
        self._last_lr = base_lr
        while st.epoch < epochs and not st.stopped_early:
            if self._time_fraction(stage) >= 1.0:
                st.stopped_early = True
                break
            epoch = st.epoch
            self.train_ds.set_epoch(epoch)
            sampler.set_epoch(epoch)
            sampler.skip = st.step_in_epoch * cfg.batch_size
            train_loss = self._train_epoch(net, stage, epoch, epochs, optimizer, train_loader,
                                           base_lr)
            st.epoch += 1
            st.step_in_epoch = 0
            row: dict[str, Any] = {
                "epoch": st.epoch, "stage": stage, "step": self.state.global_step,
                "train_loss": train_loss,
                "lr": self._last_lr,
            }
            # a stage cut short by its time limit validates its partial epoch too, so its
            # last weights can still become the best checkpoint
            if st.epoch % cfg.val_every == 0 or st.epoch == epochs or st.stopped_early:
                result = None
                if self.main:
                    result = validate(self.model, val_loader, stage, cfg,
                                      self.device, self.amp_dtype, self.memory_format)
                result = _broadcast(result, self.dist)
                row.update(result)
                improved = self._early_stopping(st, result)
                if improved:
                    metrics = {**result, "stage": stage, "epoch": st.epoch}
                    self._save(f"{stage}_best.pt", stage, metrics)
                    if is_last:
                        self._save("best.pt", stage, metrics)
                if self.main:
                    log.info(f"{stage} epoch {st.epoch}/{epochs}: train {train_loss:.4f}, "
                             f"val {result['val_loss']:.4f}, delta1 {result['delta1']:.3f}, "
                             f"rmse {result['rmse']:.3f}{' (best)' if improved else ''}")
            self._time_fraction(stage)  # count the validation time too
            self._log_row(row)
            self._save("last.pt", stage, optimizer=optimizer)

    def _time_fraction(self, stage: str) -> float:
        """Add the time since the last call to the stage; return the share of its limit used.

        With a limit under DDP the ranks agree on the largest elapsed time, so they change
        the learning rate and stop at the same step.
        """
        st = self.state.stage_state(stage)
        now = time.monotonic()
        st.elapsed_s += now - self._tick
        self._tick = now
        limit = getattr(self.cfg.time_limit_min, stage)
        if not limit:
            return 0.0
        if self.dist.enabled:
            t = torch.tensor([st.elapsed_s], dtype=torch.float64, device=self.device)
            dist.all_reduce(t, op=dist.ReduceOp.MAX)
            st.elapsed_s = float(t.item())
        return st.elapsed_s / (60.0 * limit)

    def _early_stopping(self, st: StageState, result: dict[str, float]) -> bool:
        """Update the stage's early-stopping state; True if this validation is the best."""
        cfg = self.cfg
        value = result[cfg.best_metric]
        sign = 1.0 if cfg.best_metric == "val_loss" else -1.0  # lower is better after sign
        improved = math.isfinite(value) and (
            st.best is None or sign * value < sign * st.best - cfg.min_delta)
        if improved:
            st.best, st.best_epoch, st.bad_validations = float(value), st.epoch, 0
        else:
            st.bad_validations += 1
            patience = getattr(cfg.patience, self.state.stage)
            if patience and st.bad_validations >= patience:
                st.stopped_early = True
                if self.main:
                    log.info(f"early stop of stage {self.state.stage} after epoch {st.epoch} "
                             f"(best {cfg.best_metric} {st.best:.4f} at epoch {st.best_epoch})")
        return improved

    def _train_epoch(self, net: nn.Module, stage: str, epoch: int, epochs: int,
                     optimizer: torch.optim.Optimizer, loader: DataLoader,
                     base_lr: float) -> float:
        cfg, st = self.cfg, self.state.stage_state(stage)
        steps = len(loader) + st.step_in_epoch
        if cfg.max_steps_per_epoch:
            steps = min(steps, cfg.max_steps_per_epoch)
        net.train()
        if cfg.freeze_bn:  # fine-tuning: keep the checkpoint's BatchNorm statistics
            for m in net.modules():
                if isinstance(m, nn.modules.batchnorm._BatchNorm):
                    m.eval()
        params = [p for g in optimizer.param_groups for p in g["params"]]
        loss_sum, n = 0.0, 0
        bar = tqdm(total=steps, initial=st.step_in_epoch, desc=f"{stage} {epoch + 1}/{epochs}",
                   disable=not (self.main and cfg.progress), leave=False, dynamic_ncols=True)
        for batch in loader:
            time_fraction = self._time_fraction(stage)
            if time_fraction >= 1.0:
                st.stopped_early = True
                if self.main:
                    log.info(f"stage {stage} reached its time limit of "
                             f"{getattr(cfg.time_limit_min, stage):g} min in epoch {epoch + 1}")
                break
            factor = lr_factor(cfg, stage, epoch + st.step_in_epoch / max(1, steps),
                               time_fraction)
            _set_lr(optimizer, base_lr, factor)
            self._last_lr = base_lr * factor
            x = batch["image"].to(self.device, non_blocking=True)  # (B, 3, h, w) normalised
            x = x.contiguous(memory_format=self.memory_format)
            target = batch["depth"].to(self.device, non_blocking=True)  # (B, 1, h, w) metres
            with _autocast(self.device, self.amp_dtype):
                pred_log = net(x, stage=stage)  # (B, 1, h', w') log metres
            loss = scale_invariant_loss(pred_log.float(), target, lam=cfg.loss_lambda,
                                        gradient_weight=cfg.gradient_weight)
            if not torch.isfinite(loss):
                raise TrainingError(
                    f"the loss became non-finite ({float(loss)}) at stage {stage}, epoch "
                    f"{epoch + 1}, step {self.state.global_step}; lower lr.{stage} or set "
                    "grad_clip.")
            optimizer.zero_grad(set_to_none=True)
            self.scaler.scale(loss).backward()
            if cfg.grad_clip > 0:
                self.scaler.unscale_(optimizer)
                torch.nn.utils.clip_grad_norm_(params, cfg.grad_clip)
            self.scaler.step(optimizer)
            self.scaler.update()
            value = loss.item()
            loss_sum += value * x.shape[0]
            n += x.shape[0]
            st.step_in_epoch += 1
            self.state.global_step += 1
            bar.update(1)
            if self.state.global_step % cfg.log_every == 0:
                bar.set_postfix(loss=f"{value:.4f}", lr=f"{base_lr * factor:.2e}")
                if self.writer is not None:
                    self.writer.add_scalar(f"{stage}/train_loss_step", value,
                                           self.state.global_step)
            if cfg.save_every_steps and self.state.global_step % cfg.save_every_steps == 0:
                self._save("last.pt", stage, optimizer=optimizer)
            if st.step_in_epoch >= steps:
                break
        bar.close()
        total, count = _all_sum([loss_sum, float(n)], self.dist, self.device)
        return total / count if count else math.nan


def _fmt(v: Any) -> Any:
    if isinstance(v, float):
        return f"{v:.6g}"
    return v


# -------------------------------------------------------------------------- CLI
def train(cfg: TrainConfig, resume: bool = False) -> Path:
    """Run training as configured; return the run folder (the library entry point)."""
    return Trainer(cfg, resume=resume).run()


def _one_line(exc: BaseException) -> str:
    """The meaningful last line of an error (DataLoader workers wrap the original)."""
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
    if not lines:
        return type(exc).__name__
    last = lines[-1]
    if len(lines) > 1 and ": " in last and last.split(": ", 1)[0].endswith("Error"):
        last = last.split(": ", 1)[1]
    return last


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m depth_training.train",
        description="Staged training of the Eigen & Fergus (2015) multi-scale depth network.",
        epilog="Overrides: dotted config keys, e.g. stage=coarse epochs.coarse=2 "
               "data.path=nyu_depth_v2_labeled.mat model.variant=compact.")
    p.add_argument("--config", type=Path, default=None,
                   help="YAML training config (default with --resume: the run's config.yaml)")
    p.add_argument("--out", type=Path, default=None,
                   help="run folder (default: out_dir from the config, else runs/<name>)")
    p.add_argument("--resume", action="store_true",
                   help="continue the run in --out from its last.pt")
    p.add_argument("overrides", nargs="*", metavar="key=value",
                   help="config overrides (dotted keys)")
    return p


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


def main(argv: list[str] | None = None) -> int:
    """CLI entry point; returns the process exit status."""
    args = _parser().parse_intermixed_args(argv)
    rank = int(os.environ.get("RANK", "0"))
    logging.basicConfig(level=logging.INFO if rank == 0 else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from depth_training.data import DatasetError

    try:
        cfg = resolve_config(args.config, args.overrides, args.out, args.resume)
        run_dir = train(cfg, resume=args.resume)
    except (ConfigError, DatasetError, CheckpointError, TrainingError) as exc:
        print(f"error: {_one_line(exc)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted; resume with --resume", file=sys.stderr)
        return 130
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()
    if rank == 0:
        print(f"run folder: {run_dir}")
        best = run_dir / "best.pt"
        if best.is_file():
            print(f"best checkpoint: {best}")
    return 0


def config_from_checkpoint(path: str | Path) -> TrainConfig:
    """The training config stored in a checkpoint written by this module."""
    ckpt = load_checkpoint(path)
    data = ckpt.get("training", {}).get("config")
    if not isinstance(data, dict):
        raise CheckpointError(f"{path} holds no training config.")
    return config_from_dict(data)


if __name__ == "__main__":
    sys.exit(main())
