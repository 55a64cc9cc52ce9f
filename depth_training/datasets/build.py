"""Training and validation datasets from a config: each data section's source, split and
augmentation.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from torch.utils.data import Dataset

from depth_estimation_ros.core.model import PreprocessConfig
from depth_estimation_ros.sim import PhotoTextures
from depth_training.config import TrainConfig, extra_source_config
from depth_training.datasets.augment import AugmentConfig
from depth_training.datasets.dataset import DepthDataset, MixedDepthDataset
from depth_training.datasets.frame_cache import FrameCache, cache_size_for
from depth_training.datasets.nyu import NYUv2Labeled
from depth_training.datasets.rgbd import RGBD_KINDS, open_rgbd_source
from depth_training.datasets.splits import make_split
from depth_training.datasets.synthetic import SyntheticDepthSource
from depth_training.errors import ConfigError, TrainingError

__all__ = ["build_datasets", "warm_synthetic"]


def build_datasets(cfg: TrainConfig, pre: PreprocessConfig,
                   cache_dir: Path | None = None) -> tuple[Dataset, Dataset]:
    """Training and validation datasets for ``cfg.data`` (and its ``extra_sources``).

    A recording section with ``frame_cache`` on serves its frames from a
    :class:`~depth_training.datasets.frame_cache.FrameCache` at network resolution: a
    memory-mapped file in ``cache_dir`` (the trainer passes ``<run>/frame_cache``), or
    memory when None.

    Raises:
        DatasetError: missing or malformed data file or recording.
        TrainingError: an empty split.
    """
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
        if d.kind in RGBD_KINDS and d.frame_cache:
            resize_hw = (pre.resize_height, pre.resize_width)
            input_hw = (pre.input_height, pre.input_width)
            zoom = augment.scale[1] if augment.enabled else 1.0
            if len(train_idx):
                train_src = FrameCache(train_src, train_idx,
                                       cache_size_for(resize_hw, input_hw, zoom),
                                       cache_dir, show=cfg.progress)
            if len(val_idx):  # at the resize size: exactly the uncached items
                val_src = FrameCache(val_src, val_idx, cache_size_for(resize_hw, input_hw, 1.0),
                                     cache_dir, show=cfg.progress)
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
    if d.kind == "synthetic":
        photos = None
        if d.synthetic_photo_textures:
            try:
                photos = PhotoTextures(d.synthetic_photo_textures, p=d.synthetic_photo_p)
            except ValueError as exc:
                raise ConfigError(f"{where}.synthetic_photo_textures: {exc}.") from None
        train_src = SyntheticDepthSource(d.synthetic_train, seed=d.synthetic_train_seed,
                                         width=d.width, height=d.height,
                                         cache_size=d.synthetic_train,
                                         close_fraction=d.synthetic_close_fraction,
                                         table_fraction=d.synthetic_table_fraction,
                                         photos=photos, shadows=d.synthetic_shadows,
                                         detail=d.synthetic_detail)
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
                               registration=d.registration,
                               cache_size=1 if d.frame_cache else d.cache_frames)
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


def warm_synthetic(ds: Dataset, show: bool, processes: int = 1) -> None:
    """Render every synthetic scene of ``ds`` (or of its parts, for a mixed dataset) once
    into this process's cache (with ``processes`` rendering processes), so forked workers
    share them."""
    for part in getattr(ds, "datasets", ()):
        warm_synthetic(part, show, processes)
    src = getattr(ds, "source", None)
    if not isinstance(src, SyntheticDepthSource):
        return
    src.warm(np.unique(ds.indices), processes, show)
