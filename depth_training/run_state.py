"""A run's progress and how it resumes: stage and run state, RNG states, the ``training``
entry of a checkpoint, ``last.pt`` loading and the mid-epoch skip of batches already seen.
"""

from __future__ import annotations

import dataclasses
import logging
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DistributedSampler, Sampler

from depth_estimation_ros.core.checkpoint import load_checkpoint
from depth_estimation_ros.core.model import ModelConfig
from depth_training.config import TrainConfig, config_to_dict
from depth_training.errors import TrainingError

__all__ = ["RunState", "SkipSampler", "StageState", "check_fresh_start", "load_resume",
           "restore_optimizer", "rng_state", "seed_all", "set_rng_state", "training_dict"]

log = logging.getLogger(__name__)


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


def rng_state(device: torch.device) -> dict[str, Any]:
    """This process's torch, numpy, Python (and CUDA) RNG states, as plain types."""
    np_state = np.random.get_state()
    state: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "numpy": [np_state[0], np_state[1].tolist(), *np_state[2:]],
        "python": [random.getstate()[0], list(random.getstate()[1]), random.getstate()[2]],
    }
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device)
    return state


def set_rng_state(state: dict[str, Any], device: torch.device) -> None:
    """Restore what :func:`rng_state` saved."""
    torch.set_rng_state(state["torch"])
    n = state["numpy"]
    np.random.set_state((n[0], np.asarray(n[1], dtype=np.uint32), *n[2:]))
    p = state["python"]
    random.setstate((p[0], tuple(p[1]), p[2]))
    if device.type == "cuda" and "cuda" in state:
        torch.cuda.set_rng_state(state["cuda"], device)


def seed_all(seed: int) -> None:
    """Seed Python's, numpy's and torch's global RNGs."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def training_dict(state: RunState, stage: str, world_size: int, cfg: TrainConfig,
                  rng_device: torch.device | None = None,
                  pretrained: dict[str, Any] | None = None) -> dict[str, Any]:
    """A checkpoint's ``training`` entry; with ``rng_device``, the RNG states too (resume);
    with ``pretrained``, the record of the ImageNet file scale 1 started from."""
    d: dict[str, Any] = {
        "stage": stage, "run_state": state.to_dict(),
        "epoch": state.stage_state(stage).epoch, "step": state.global_step,
        "world_size": world_size, "config": config_to_dict(cfg),
    }
    if rng_device is not None:
        d["rng"] = rng_state(rng_device)
    if pretrained:
        d["pretrained"] = pretrained
    return d


def check_fresh_start(run_dir: Path) -> None:
    """A new run must not overwrite one already in ``run_dir``."""
    if (run_dir / "last.pt").exists():
        raise TrainingError(f"{run_dir} already holds a run (last.pt); pass --resume "
                            "to continue it or --out to start a new one.")


def load_resume(run_dir: Path, model_config: ModelConfig,
                verbose: bool = True) -> tuple[RunState, dict[str, Any]]:
    """The run state and checkpoint of ``<run_dir>/last.pt``, checked against this run."""
    path = run_dir / "last.pt"
    if not path.is_file():
        raise TrainingError(f"cannot resume: {path} does not exist; start the run without "
                            "--resume or point --out at an existing run folder.")
    ckpt = load_checkpoint(path, map_location="cpu")
    training = ckpt.get("training", {})
    if "run_state" not in training:
        raise TrainingError(f"cannot resume from {path}: it holds no training state.")
    saved = ModelConfig.from_dict(dict(ckpt["model_config"]))
    if saved != model_config:
        raise TrainingError(f"cannot resume from {path}: it holds a {saved.variant} model "
                            f"whose config differs from this run's ({model_config}).")
    state = RunState.from_dict(training["run_state"])
    if verbose:
        log.info(f"resuming {path} at stage {state.stage}, global step {state.global_step}")
    return state, ckpt


def restore_optimizer(ckpt: dict[str, Any], optimizer: torch.optim.Optimizer,
                      scaler: torch.amp.GradScaler) -> None:
    """Load the optimiser and AMP scaler state a resume checkpoint holds."""
    opt = ckpt.get("optimizer_state") or {}
    if "optimizer" in opt:
        saved = dict(opt["optimizer"])
        # checkpoints store mapping keys as strings; the optimiser keys state by int
        saved["state"] = {int(k): v for k, v in saved["state"].items()}
        optimizer.load_state_dict(saved)
    if "scaler" in opt and scaler.is_enabled():
        scaler.load_state_dict(opt["scaler"])


class SkipSampler(Sampler[int]):
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
