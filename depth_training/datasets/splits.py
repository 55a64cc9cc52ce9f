"""Train/test splits of a source: NYUv2's official one, seeded random, and contiguous with a gap.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from depth_training.datasets.nyu import NYU_NUM_IMAGES, official_test_indices
from depth_training.errors import DatasetError

SPLITS: tuple[str, ...] = ("official", "random", "contiguous", "synthetic", "all")


@dataclass(frozen=True, eq=False)
class Split:
    """Train and test indices (sorted, disjoint, 0-based) into a source."""

    train: np.ndarray
    test: np.ndarray


def make_split(name: str, n: int, seed: int = 0, val_fraction: float = 0.05,
               gap: int = 0) -> Split:
    """Split ``n`` items into train and test indices.

    Args:
        name: ``official`` (the 795/654 NYUv2 split; needs n = 1449), ``random`` (a seeded
            random ``val_fraction`` held out, as the seed's 95 %/5 %), ``contiguous`` (the
            last ``val_fraction`` of a recording held out, ``gap`` items before it left out:
            neighbouring frames of a video are near duplicates, so a random split leaks),
            ``synthetic`` (same as ``random``, for synthetic sources) or ``all``
            (everything is test).
        n: number of items in the source (in recording order for ``contiguous``).
        seed: seed of the random split.
        val_fraction: share held out by ``random``/``contiguous``/``synthetic`` (at least
            one item).
        gap: ``contiguous``: items between the two parts used by neither (fewer when the
            training part would otherwise be empty).

    Raises:
        ValueError: unknown name or bad arguments.
        DatasetError: the official split was asked for on a source that is not the
            1449-image labelled set.
    """
    if name not in SPLITS:
        raise ValueError(f"unknown split {name!r}; expected one of {SPLITS}")
    if n < 1:
        raise DatasetError(f"cannot split {n} items; the source is empty")
    if name == "official":
        if n != NYU_NUM_IMAGES:
            raise DatasetError(f"the official split needs the {NYU_NUM_IMAGES}-image NYUv2 "
                               f"labelled set, but the source has {n} images; use another "
                               "split (evaluate: --split random or all; train: "
                               "data.split=random)")
        test = official_test_indices()
        return Split(train=np.setdiff1d(np.arange(n), test), test=test)
    if name == "all":
        return Split(train=np.zeros(0, dtype=np.int64), test=np.arange(n, dtype=np.int64))
    if not 0.0 < val_fraction < 1.0:
        raise ValueError(f"val_fraction must be in (0, 1), got {val_fraction}")
    if n < 2:
        raise DatasetError(f"a random split needs at least 2 items, got {n}")
    n_test = min(n - 1, max(1, round(val_fraction * n)))
    if name == "contiguous":
        gap = max(0, min(int(gap), n - n_test - 1))
        return Split(train=np.arange(n - n_test - gap, dtype=np.int64),
                     test=np.arange(n - n_test, n, dtype=np.int64))
    perm = np.random.default_rng(seed).permutation(n)
    return Split(train=np.sort(perm[n_test:]), test=np.sort(perm[:n_test]))
