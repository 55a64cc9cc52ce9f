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
``mobilenet_v2`` / ``efficientnet_lite0``: their backbones; :mod:`depth_training.init_weights`).

``--resume`` continues from ``<run>/last.pt``: same stage, epoch and global step (mid-epoch
checkpoints from ``save_every_steps`` skip the batches already seen: the shuffle order of an
epoch is a function of ``seed`` and the epoch), with the optimiser, scaler, RNG and
early-stopping state restored. Without ``--config`` the run's own ``config.yaml`` is used;
overrides apply on top (e.g. more epochs).
"""

from __future__ import annotations

import argparse
import logging
import math
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from torch import nn
from torch.utils.data import DataLoader, DistributedSampler
from tqdm import tqdm

from depth_estimation_ros.core.checkpoint import CheckpointError, save_checkpoint
from depth_estimation_ros.core.model import build_model
from depth_training.config import TrainConfig
from depth_training.datasets.build import build_datasets, warm_synthetic
from depth_training.distributed import all_max, all_sum, barrier, broadcast, setup_distributed
from depth_training.errors import ConfigError, DatasetError, TrainingError
from depth_training.init_weights import (
    check_fine_start,
    init_pretrained,
    load_fine_start,
    load_init_from,
    pretrained_record,
)
from depth_training.losses import scale_invariant_loss, scale_only_loss
from depth_training.optim import build_optimizer, lr_factor, param_groups, set_lr, set_trainable
from depth_training.precision import amp_settings, autocast
from depth_training.recipe import STAGE_ORDER, make_model_config, make_preprocess, resolve_config
from depth_training.run_log import RunLog
from depth_training.run_state import (
    RunState,
    SkipSampler,
    StageState,
    check_fresh_start,
    load_resume,
    restore_optimizer,
    seed_all,
    set_rng_state,
    training_dict,
)
from depth_training.style import FeatureStyleNoise
from depth_training.validation import validate

log = logging.getLogger(__name__)


def imagenet_backbone(net: nn.Module) -> nn.Module | None:
    """Scale 1's ImageNet backbone (None for variants without one)."""
    features = getattr(getattr(getattr(net, "module", net), "scale1", None), "features", None)
    return features if hasattr(features, "mid_channels") else None


def backbone_modules(net: nn.Module) -> Iterator[nn.Module]:
    """The modules of scale 1's ImageNet backbone (none for variants without one)."""
    backbone = imagenet_backbone(net)
    return iter(()) if backbone is None else backbone.modules()


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
        self.amp_dtype, use_scaler = amp_settings(cfg, self.device)
        self.scaler = torch.amp.GradScaler("cuda", enabled=use_scaler)
        self.model_config = make_model_config(cfg)
        self.pre = make_preprocess(cfg)
        # fine-tuning: the checkpoint's weights, model and preprocessing
        init = load_init_from(cfg, verbose=self.main)
        if init is not None:
            _, self.model_config, self.pre, _ = init
        self.plan = STAGE_ORDER[cfg.stage]
        self.state = RunState()
        self._resume_ckpt: dict[str, Any] | None = None
        if resume:
            self.state, self._resume_ckpt = load_resume(self.run_dir, self.model_config,
                                                        verbose=self.main)
        else:
            check_fresh_start(self.run_dir)
            check_fine_start(cfg, self.plan, self.run_dir)
        self.train_ds, self.val_ds = build_datasets(cfg, self.pre, self.run_dir / "frame_cache")
        torch.manual_seed(cfg.seed)  # the same initial weights on every rank
        self.model = build_model(self.model_config)
        # which ImageNet file the weights grew from, if any: the resumed run's, init_from's,
        # or pretrained='s
        self.pretrained = pretrained_record(self._resume_ckpt)
        if init is not None and not resume:
            self.model.load_state_dict(init[0])
            self.pretrained = init[3]
        if cfg.pretrained and not resume and "coarse" in self.plan:
            self.pretrained = init_pretrained(self.model, cfg.pretrained, self.main)
        self.style = None
        if cfg.feature_style_p > 0:
            backbone = imagenet_backbone(self.model)
            if backbone is None:
                raise ConfigError(f"feature_style_p needs an ImageNet backbone; "
                                  f"{self.model_config.variant} has none")
            try:
                self.style = FeatureStyleNoise(backbone, cfg.feature_style_p)
            except ValueError as exc:
                raise ConfigError(str(exc)) from None
        self.log = RunLog(self.run_dir, enabled=self.main)
        self.log.start(cfg, self.state.global_step if self._resume_ckpt is not None else None)
        barrier(self.dist)
        self.model.to(self.device)
        self.memory_format = torch.channels_last if cfg.channels_last else (
            torch.contiguous_format)
        self.model.to(memory_format=self.memory_format)
        # Explicit per-rank seed offset: ranks draw different dropout masks. The data order
        # is shared through DistributedSampler(seed) and augmentation is seeded per sample;
        # a resumed run re-seeds from its step (rank 0 then restores its saved RNG state).
        seed_all(cfg.seed + self.dist.rank + 7919 * self.state.global_step)
        if self._resume_ckpt is not None:
            self.model.load_state_dict(self._resume_ckpt["model_state"])
            if self.main and "rng" in self._resume_ckpt["training"]:
                set_rng_state(self._resume_ckpt["training"]["rng"], self.device)
        self.log.open_tensorboard(cfg.tensorboard, purge_step=(
            self.state.global_step + 1 if self._resume_ckpt is not None else None))
        self._clock = time.monotonic()  # wall-clock time is added to state.elapsed_s

    def _save(self, name: str, stage: str, metrics: dict[str, float] | None = None,
              optimizer: torch.optim.Optimizer | None = None) -> None:
        """Write ``<run>/<name>`` on rank 0, with barriers so no rank runs ahead."""
        now = time.monotonic()
        self.state.elapsed_s += now - self._clock
        self._clock = now
        barrier(self.dist)
        if self.main:
            opt_state = None
            if optimizer is not None:
                opt_state = {"optimizer": optimizer.state_dict(),
                             "scaler": self.scaler.state_dict()}
            training = training_dict(self.state, stage, self.dist.world_size, self.cfg,
                                     self.device if optimizer is not None else None,
                                     pretrained=self.pretrained)
            save_checkpoint(self.run_dir / name, self.model, model_config=self.model_config,
                            preprocess=self.pre, training=training,
                            metrics=metrics or {}, optimizer_state=opt_state)
        barrier(self.dist)

    def _loaders(self, stage_state: StageState) -> tuple[DataLoader, DataLoader, SkipSampler]:
        cfg = self.cfg
        sampler = SkipSampler(DistributedSampler(
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
        # rendered rooms (the data, or replayed beside a recording): once, before workers fork
        # (as many rendering processes as the run's threads: the cores it was given)
        render = self.cfg.threads if self.cfg.threads > 0 else (os.cpu_count() or 1)
        warm_synthetic(self.train_ds, self.main and self.cfg.progress, render)
        if self.main:
            warm_synthetic(self.val_ds, self.cfg.progress, render)
        for i, stage in enumerate(self.plan):
            later = self.plan[i + 1:]
            if any(self.state.stage_state(s).epoch > 0 for s in later):
                continue  # a later stage already started (resume)
            self._run_stage(stage, is_last=(i == len(self.plan) - 1))
        self.log.close()
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
            load_fine_start(self.model, self.model_config, self.cfg, self.plan, self.run_dir,
                            verbose=self.main)
        set_trainable(self.model, stage)
        groups = param_groups(self.model, stage, cfg)
        optimizer = build_optimizer(groups, cfg)
        if resuming_here:
            restore_optimizer(self._resume_ckpt, optimizer, self.scaler)
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
        if (cfg.validate_start and cfg.init_from and st.epoch == 0 and st.step_in_epoch == 0
                and st.best is None and not resuming_here):
            self._validate_start(stage, st, val_loader, is_last)
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
                result = self._score(val_loader, stage)
                row.update(result)
                improved = self._early_stopping(st, result)
                if improved:
                    self._save_best(stage, result, st.epoch, is_last)
                if self.main:
                    log.info(f"{stage} epoch {st.epoch}/{epochs}: train {train_loss:.4f}, "
                             f"val {result['val_loss']:.4f}, delta1 {result['delta1']:.3f}, "
                             f"rmse {result['rmse']:.3f}{' (best)' if improved else ''}")
            self._time_fraction(stage)  # count the validation time too
            self.log.row(row)
            self._save("last.pt", stage, optimizer=optimizer)

    def _score(self, val_loader: DataLoader, stage: str) -> dict[str, float]:
        """Validate on rank 0 and share the result with every rank."""
        result = None
        if self.main:
            result = validate(self.model, val_loader, stage, self.cfg, self.device,
                              self.amp_dtype, self.memory_format)
        return broadcast(result, self.dist)

    def _save_best(self, stage: str, result: dict[str, float], epoch: int,
                   is_last: bool) -> None:
        """Write the stage's best checkpoint (and ``best.pt`` in the plan's last stage)."""
        metrics = {**result, "stage": stage, "epoch": epoch}
        self._save(f"{stage}_best.pt", stage, metrics)
        if is_last:
            self._save("best.pt", stage, metrics)

    def _validate_start(self, stage: str, st: StageState, val_loader: DataLoader,
                        is_last: bool) -> None:
        """Fine-tuning: score the weights the stage starts from and make them the stage's
        best (epoch 0), so an epoch must beat them to replace them and ``best.pt`` is never
        worse on validation than the checkpoint the run started from."""
        result = self._score(val_loader, stage)
        value = result[self.cfg.best_metric]
        if math.isfinite(value):
            st.best, st.best_epoch = float(value), 0
            self._save_best(stage, result, 0, is_last)
        self.log.row({"epoch": 0, "stage": stage, "step": self.state.global_step, **result})
        if self.main:
            log.info(f"{stage} start: val {result['val_loss']:.4f}, delta1 "
                     f"{result['delta1']:.3f}, rmse {result['rmse']:.3f} (the weights it "
                     "starts from: an epoch must beat them)")
        self._time_fraction(stage)  # the validation counts towards the stage's time limit

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
            st.elapsed_s = all_max(st.elapsed_s, self.dist, self.device)
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
        frozen = net.modules() if cfg.freeze_bn else (  # fine-tuning: the checkpoint's
            backbone_modules(net) if cfg.freeze_backbone_bn else ())  # or ImageNet's statistics
        for m in frozen:
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
            set_lr(optimizer, base_lr, factor)
            self._last_lr = base_lr * factor
            x = batch["image"].to(self.device, non_blocking=True)  # (B, 3, h, w) normalised
            x = x.contiguous(memory_format=self.memory_format)
            target = batch["depth"].to(self.device, non_blocking=True)  # (B, 1, h, w) metres
            noised = None
            if self.style is not None and cfg.feature_style_target == "scale":
                noised = torch.rand(x.shape[0]) < cfg.feature_style_p  # (B,) per image
                self.style.select(noised)
            with autocast(self.device, self.amp_dtype):
                pred_log = net(x, stage=stage)  # (B, 1, h', w') log metres
            if noised is None:
                loss = scale_invariant_loss(pred_log.float(), target, lam=cfg.loss_lambda,
                                            gradient_weight=cfg.gradient_weight)
            else:  # the noised images teach the scale only
                loss = scale_only_loss(pred_log.float(), target, noised, lam=cfg.loss_lambda,
                                       gradient_weight=cfg.gradient_weight,
                                       scale_weight=cfg.feature_style_scale_weight)
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
                self.log.scalar(f"{stage}/train_loss_step", value, self.state.global_step)
            if cfg.save_every_steps and self.state.global_step % cfg.save_every_steps == 0:
                self._save("last.pt", stage, optimizer=optimizer)
            if st.step_in_epoch >= steps:
                break
        bar.close()
        total, count = all_sum([loss_sum, float(n)], self.dist, self.device)
        return total / count if count else math.nan


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


def main(argv: list[str] | None = None) -> int:
    """CLI entry point; returns the process exit status."""
    args = _parser().parse_intermixed_args(argv)
    rank = int(os.environ.get("RANK", "0"))
    logging.basicConfig(level=logging.INFO if rank == 0 else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
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


if __name__ == "__main__":
    sys.exit(main())
