"""The torch Dataset of training and validation: augmented, network-ready items of a source.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch.utils.data import ConcatDataset, Dataset

from depth_estimation_ros.core.model import PreprocessConfig
from depth_estimation_ros.core.preprocessing import normalize
from depth_training.datasets.augment import AugmentConfig, augment_pair
from depth_training.datasets.source import DepthSource, source_intrinsics
from depth_training.errors import DatasetError


class DepthDataset(Dataset):
    """Network-ready samples: normalised image and metric depth at the input size.

    The depth is that of the model's canonical camera (``preprocess.focal_length``, f₀): an
    item whose source gives its intrinsics (:func:`source_intrinsics`), with fx f at the
    network input after the resize, trains on depth · f₀/f, the distance at which the canonical
    camera would see it at the same size (the zoom augmentation divides by its factor s on
    top, for the focal length s·f it simulates). Items of unknown camera, or any item when f₀
    is 0, keep their depth. ``focal_scale`` (f/f₀) takes a prediction back to the item's
    camera for metrics.

    Augmentation draws come from ``default_rng([seed, epoch, index])``: deterministic, and
    different each epoch once :meth:`set_epoch` is called (call it before each epoch; with
    ``persistent_workers=True`` the workers keep the epoch they were started with).

    Args:
        source: :class:`NYUv2Labeled`, :class:`SyntheticDepthSource` or anything with
            ``len``, ``image(i)`` and ``depth(i)``.
        indices: the items of ``source`` to serve.
        preprocess: network-input geometry and normalisation.
        augment: augmentation, or None (validation: only the estimator's resize/crop).
        seed: augmentation seed.
    """

    def __init__(self, source: DepthSource, indices: np.ndarray | list[int],
                 preprocess: PreprocessConfig, augment: AugmentConfig | None,
                 seed: int = 0) -> None:
        self.source = source
        self.indices = np.asarray(indices, dtype=np.int64).reshape(-1)
        n = len(source)
        if self.indices.size and (self.indices.min() < 0 or self.indices.max() >= n):
            raise DatasetError(f"indices must lie in [0, {n}) for {source!r}, got "
                               f"[{self.indices.min()}, {self.indices.max()}]")
        self.preprocess = preprocess
        self.augment = augment if augment is not None else AugmentConfig.disabled()
        self.seed = int(seed)
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Make the next augmentation draws those of ``epoch``."""
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return int(self.indices.size)

    def __getitem__(self, k: int) -> dict[str, Any]:
        i = int(self.indices[k])
        rgb, depth = self.source.image(i), self.source.depth(i)
        camera = source_intrinsics(self.source, i)
        # f / f0 of this item at the network input, before the zoom (which has its own /s)
        focal = 1.0 if camera is None else self.preprocess.focal_scale(camera.fx, camera.width)
        rng = np.random.default_rng([self.seed, self.epoch, i])
        img, dep = augment_pair(rgb, depth, rng, self.augment, self.preprocess)
        if focal != 1.0:
            dep = dep / np.float32(focal)  # the canonical camera's metres; 0 stays invalid
        image = torch.from_numpy(img).permute(2, 0, 1)  # (3, h, w) float32 0–255
        return {
            "image": normalize(image, self.preprocess).contiguous(),  # (3, h, w) normalised
            "depth": torch.from_numpy(dep)[None],  # (1, h, w) canonical metres, 0 = invalid
            "focal_scale": torch.tensor(focal, dtype=torch.float32),  # () f / f0
            "index": i,
        }


class MixedDepthDataset(ConcatDataset):
    """Several :class:`DepthDataset` (one per recording or camera) served as one."""

    def __init__(self, datasets: Sequence[DepthDataset]) -> None:
        super().__init__(list(datasets))

    def set_epoch(self, epoch: int) -> None:
        """Make the next augmentation draws of every part those of ``epoch``."""
        for ds in self.datasets:
            ds.set_epoch(epoch)
