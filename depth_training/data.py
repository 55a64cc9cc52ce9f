"""NYU Depth v2 (labelled subset) and synthetic depth sources, splits, and the training dataset.

``nyu_depth_v2_labeled.mat`` is MATLAB v7.3, i.e. HDF5; h5py shows MATLAB arrays with their
axes reversed: ``images`` is (N, 3, W, H) uint8 and ``depths`` (N, W, H) float32 metres, so
one image is ``images[i].transpose(2, 1, 0)`` -> (H, W, 3) and one depth ``depths[i].T``.

:class:`NYUv2Labeled` reads lazily by default and opens the file once per process: h5py
handles must not cross ``fork``, so each DataLoader worker reopens the file on first use.
"""

from __future__ import annotations

import logging
import os
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Protocol

import h5py
import numpy as np
import torch
from torch.utils.data import ConcatDataset, Dataset

from depth_estimation_ros.core.camera import CameraIntrinsics
from depth_estimation_ros.core.model import PreprocessConfig
from depth_estimation_ros.core.preprocessing import normalize
from depth_training.augment import AugmentConfig, augment_pair

log = logging.getLogger(__name__)

NYU_NUM_IMAGES = 1449  # images in the labelled subset
NYU_NUM_TEST = 654  # official test split size (train: 795)
NYU_HEIGHT, NYU_WIDTH = 480, 640
SPLITS: tuple[str, ...] = ("official", "random", "contiguous", "synthetic", "all")
_OFFICIAL_TEST_RESOURCE = "nyuv2_official_test_indices.txt"


class DatasetError(ValueError):
    """A dataset file or split is missing, unreadable, or not laid out as expected."""


class DepthSource(Protocol):
    """What the dataset and the evaluation read: indexed RGB images and metric depth.

    A source may also offer ``intrinsics(i) -> CameraIntrinsics | None``: the camera of item
    ``i`` (at its image's resolution, or any resolution of the same camera). Training then
    scales that item's depth to the model's canonical camera and evaluation rescales the
    prediction to it (see :func:`source_intrinsics`); a source without it (NYUv2) is taken
    to be the canonical camera itself.
    """

    def __len__(self) -> int: ...

    def image(self, i: int) -> np.ndarray: ...  # (H, W, 3) uint8

    def depth(self, i: int) -> np.ndarray: ...  # (H, W) float32 metres


def source_intrinsics(source: DepthSource, i: int) -> CameraIntrinsics | None:
    """The camera of item ``i`` of ``source``, or None where the source does not say.

    Raises:
        DatasetError: the source's ``intrinsics(i)`` returned something other than a
            CameraIntrinsics or None.
    """
    get = getattr(source, "intrinsics", None)
    if get is None:
        return None
    camera = get(i)
    if camera is not None and not isinstance(camera, CameraIntrinsics):
        raise DatasetError(f"{source!r}.intrinsics({i}) returned a {type(camera).__name__}; "
                           "expected a CameraIntrinsics or None")
    return camera


# --------------------------------------------------------------------------- NYUv2 file
class NYUv2Labeled:
    """The NYUv2 labelled set from its MATLAB v7.3 (HDF5) file.

    Args:
        path: ``nyu_depth_v2_labeled.mat`` or a file in the same layout.
        preload: read all images and depths into memory at once (about 3.1 GB for the real
            file) instead of reading per item; raw depth is always read per item.

    Raises:
        DatasetError: the file is missing, not HDF5, or its datasets have the wrong names,
            shapes or dtypes.
    """

    def __init__(self, path: str | os.PathLike[str], preload: bool = False) -> None:
        self.path = Path(path)
        self._h5: h5py.File | None = None
        self._pid: int | None = None
        self._images: np.ndarray | None = None  # (N, 3, W, H) uint8 when preloaded
        self._depths: np.ndarray | None = None  # (N, W, H) float metres when preloaded
        with self._open() as f:
            self._validate(f)
            if preload:
                try:
                    self._images = f["images"][...]
                    self._depths = f["depths"][...]
                except OSError as exc:
                    raise DatasetError(f"cannot read {self.path}: {exc}; the file looks "
                                       "truncated or corrupt") from exc

    def _open(self) -> h5py.File:
        if not self.path.is_file():
            raise DatasetError(f"NYUv2 file {self.path} does not exist; expected "
                               "nyu_depth_v2_labeled.mat or a file in its layout")
        try:
            if not h5py.is_hdf5(self.path):
                raise DatasetError(f"{self.path} is not an HDF5 file; expected the MATLAB "
                                   "v7.3 nyu_depth_v2_labeled.mat (HDF5) layout")
            return h5py.File(self.path, "r")
        except OSError as exc:
            raise DatasetError(f"cannot open {self.path} as HDF5 ({exc}); the file looks "
                               "truncated or corrupt") from exc

    def _validate(self, f: h5py.File) -> None:
        for name in ("images", "depths"):
            if not isinstance(f.get(name), h5py.Dataset):
                have = sorted(f.keys())
                raise DatasetError(f"{self.path} has no '{name}' dataset (found {have}); "
                                   "expected the NYUv2 labelled layout with 'images' and "
                                   "'depths'")
        images, depths = f["images"], f["depths"]
        if images.ndim != 4 or images.shape[1] != 3:
            raise DatasetError(f"{self.path}: 'images' has shape {images.shape}; expected "
                               "(N, 3, width, height) as h5py shows MATLAB's H×W×3×N")
        n, _, w, h = images.shape
        if n < 1:
            raise DatasetError(f"{self.path}: 'images' holds no image; expected N >= 1")
        if images.dtype != np.uint8:
            raise DatasetError(f"{self.path}: 'images' has dtype {images.dtype}; "
                               "expected uint8")
        if depths.shape != (n, w, h):
            raise DatasetError(f"{self.path}: 'depths' has shape {depths.shape}; expected "
                               f"{(n, w, h)} to match 'images' {images.shape}")
        if depths.dtype.kind != "f":
            raise DatasetError(f"{self.path}: 'depths' has dtype {depths.dtype}; expected "
                               "float32 metres")
        raw = f.get("rawDepths")
        self.has_raw_depth = isinstance(raw, h5py.Dataset)
        if self.has_raw_depth and (raw.shape != depths.shape or raw.dtype.kind != "f"):
            raise DatasetError(f"{self.path}: 'rawDepths' has shape {raw.shape} and dtype "
                               f"{raw.dtype}; expected {depths.shape} float32 like 'depths'")
        if (w, h) == (NYU_HEIGHT, NYU_WIDTH):
            raise DatasetError(f"{self.path}: 'images' {images.shape} holds {w}×{h} portrait "
                               f"frames: NYUv2's are {NYU_WIDTH}×{NYU_HEIGHT}, stored "
                               f"(N, 3, {NYU_WIDTH}, {NYU_HEIGHT}) as h5py reads MATLAB's "
                               "file; this file is transposed")
        if w < h:
            log.warning("%s: frames are %dx%d (W×H), portrait; NYUv2 frames are landscape "
                        "640×480 — is the file transposed?", self.path, w, h)
        self._n, self.height, self.width = int(n), int(h), int(w)

    def _file(self) -> h5py.File:
        """The process's own handle (reopened after fork, e.g. in DataLoader workers)."""
        if self._h5 is None or self._pid != os.getpid():
            self._h5 = self._open()
            self._pid = os.getpid()
        return self._h5

    def _read(self, name: str, i: int) -> np.ndarray:
        if not -self._n <= i < self._n:
            raise IndexError(f"index {i} out of range for {self._n} images in {self.path}")
        i %= self._n
        try:
            return self._file()[name][i]
        except OSError as exc:
            raise DatasetError(f"cannot read {name}[{i}] from {self.path}: {exc}; the file "
                               "looks truncated or corrupt") from exc

    def _check_depth(self, d: np.ndarray, name: str, i: int) -> np.ndarray:
        if not np.isfinite(d).all():
            raise DatasetError(f"{self.path}: {name}[{i}] contains NaN or infinite values; "
                               "expected finite metres (0 = missing)")
        return d

    def __len__(self) -> int:
        return self._n

    def image(self, i: int) -> np.ndarray:
        """Image ``i`` upright: (H, W, 3) uint8 RGB."""
        a = self._images[i] if self._images is not None else self._read("images", i)
        return np.ascontiguousarray(a.transpose(2, 1, 0))  # (3, W, H) -> (H, W, 3)

    def depth(self, i: int) -> np.ndarray:
        """In-painted depth ``i`` upright: (H, W) float32 metres."""
        a = self._depths[i] if self._depths is not None else self._read("depths", i)
        return self._check_depth(np.ascontiguousarray(a.T, dtype=np.float32), "depths", i)

    def raw_depth(self, i: int) -> np.ndarray:
        """Raw sensor depth ``i`` upright: (H, W) float32 metres, 0 = missing."""
        if not self.has_raw_depth:
            raise DatasetError(f"{self.path} has no 'rawDepths' dataset")
        a = self._read("rawDepths", i)
        return self._check_depth(np.ascontiguousarray(a.T, dtype=np.float32), "rawDepths", i)

    def close(self) -> None:
        """Close this process's file handle (it reopens on the next read)."""
        if self._h5 is not None and self._pid == os.getpid():
            self._h5.close()
        self._h5 = None

    def __enter__(self) -> NYUv2Labeled:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_h5"] = None  # handles do not pickle; workers reopen
        return state

    def __repr__(self) -> str:
        return (f"NYUv2Labeled({str(self.path)!r}, n={self._n}, {self.width}x{self.height}, "
                f"preloaded={self._images is not None})")


# --------------------------------------------------------------------------- synthetic
def _scene_seed(seed: int, i: int) -> int:
    """Renderer seed of item ``i`` of a synthetic source (decorrelated across sources)."""
    return int(np.random.SeedSequence([int(seed), int(i)]).generate_state(1)[0])


def simulate_raw_depth(depth: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Kinect-like raw depth from exact depth: holes (0) as missing returns.

    Args:
        depth: (H, W) metres.
        rng: the source of the holes.

    Returns:
        (H, W) float32 metres with 0 where the sensor would have no return: beyond 9.5 m and
        in a few random blobs.
    """
    raw = np.asarray(depth, dtype=np.float32).copy()
    raw[~np.isfinite(raw) | (raw > 9.5)] = 0.0
    h, w = raw.shape
    for _ in range(int(rng.integers(2, 6))):
        bh, bw = int(rng.integers(1, max(2, h // 8))), int(rng.integers(1, max(2, w // 8)))
        top, left = int(rng.integers(0, h - bh + 1)), int(rng.integers(0, w - bw + 1))
        raw[top:top + bh, left:left + bw] = 0.0
    return raw


class SyntheticDepthSource:
    """Images and exact depth from the procedural renderer, with :class:`NYUv2Labeled`'s API.

    Frames are rendered on first use and kept in a small LRU cache.

    Args:
        n: number of frames.
        seed: source seed; item ``i`` renders scene ``SeedSequence([seed, i])``.
        width: frame width in pixels.
        height: frame height in pixels.
        cache_size: frames kept in memory (each about 2 MB at 640×480).
        camera: the camera to render with, at ``width`` x ``height``; default the NYU Kinect
            scaled to that size (the renderer's own default, and the training canonical
            camera).
    """

    def __init__(self, n: int, seed: int = 0, width: int = NYU_WIDTH, height: int = NYU_HEIGHT,
                 cache_size: int = 128, camera: CameraIntrinsics | None = None) -> None:
        if n < 1:
            raise ValueError(f"a synthetic source needs n >= 1 frames, got {n}")
        if width < 8 or height < 8:
            raise ValueError(f"synthetic frames must be at least 8×8, got {width}x{height}")
        self.n, self.seed, self.width, self.height = int(n), int(seed), int(width), int(height)
        if camera is None:
            camera = CameraIntrinsics.nyu_kinect(self.width, self.height)
        if (camera.width, camera.height) != (self.width, self.height):
            raise ValueError(f"camera of a {camera.width}x{camera.height} image does not match "
                             f"the {self.width}x{self.height} synthetic frames")
        self.camera = camera
        self.cache_size = int(cache_size)
        self._cache: OrderedDict[int, tuple[np.ndarray, np.ndarray]] = OrderedDict()

    def _frame(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        if not -self.n <= i < self.n:
            raise IndexError(f"index {i} out of range for a synthetic source of {self.n}")
        i %= self.n
        hit = self._cache.get(i)
        if hit is not None:
            self._cache.move_to_end(i)
            return hit
        from depth_estimation_ros.sim import render_scene

        frame = render_scene(_scene_seed(self.seed, i), intrinsics=self.camera)
        item = (np.ascontiguousarray(frame.rgb, dtype=np.uint8),
                np.ascontiguousarray(frame.depth, dtype=np.float32))
        if self.cache_size > 0:
            self._cache[i] = item
            while len(self._cache) > self.cache_size:
                self._cache.popitem(last=False)
        return item

    def __len__(self) -> int:
        return self.n

    def image(self, i: int) -> np.ndarray:
        """(H, W, 3) uint8 RGB."""
        return self._frame(i)[0].copy()

    def depth(self, i: int) -> np.ndarray:
        """(H, W) float32 metres (exact)."""
        return self._frame(i)[1].copy()

    def intrinsics(self, i: int) -> CameraIntrinsics:
        """The camera every frame is rendered with."""
        if not -self.n <= i < self.n:
            raise IndexError(f"index {i} out of range for a synthetic source of {self.n}")
        return self.camera

    def raw_depth(self, i: int) -> np.ndarray:
        """(H, W) float32 metres with simulated sensor holes (0), deterministic per item."""
        rng = np.random.default_rng([self.seed, i % self.n, 1])
        return simulate_raw_depth(self._frame(i)[1], rng)

    def __repr__(self) -> str:
        return (f"SyntheticDepthSource(n={self.n}, seed={self.seed}, "
                f"{self.width}x{self.height}, fx={self.camera.fx:g})")


# --------------------------------------------------------------------------- splits
@dataclass(frozen=True, eq=False)
class Split:
    """Train and test indices (sorted, disjoint, 0-based) into a source."""

    train: np.ndarray
    test: np.ndarray


def official_test_indices() -> np.ndarray:
    """The 654 official NYUv2 test indices (0-based, sorted) shipped with the package."""
    text = (resources.files("depth_training") / "resources" / _OFFICIAL_TEST_RESOURCE
            ).read_text(encoding="utf-8")
    idx = np.array([int(tok) for tok in text.split()], dtype=np.int64)
    if (idx.size != NYU_NUM_TEST or np.unique(idx).size != idx.size or idx.min() < 0
            or idx.max() >= NYU_NUM_IMAGES):
        raise DatasetError(f"the packaged {_OFFICIAL_TEST_RESOURCE} is damaged: expected "
                           f"{NYU_NUM_TEST} distinct indices in [0, {NYU_NUM_IMAGES})")
    return np.sort(idx)


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


# --------------------------------------------------------------------------- dataset
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
