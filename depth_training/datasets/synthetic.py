"""Rendered indoor scenes (exact metric depth) as a depth source, with simulated sensor holes.

Scenes come from the procedural renderer of :mod:`depth_estimation_ros.sim`; item ``i`` of a
source with seed ``s`` is the scene of ``SeedSequence([s, i])``.
"""

from __future__ import annotations

import multiprocessing
from collections import OrderedDict
from collections.abc import Iterable

import numpy as np
from tqdm import tqdm

from depth_estimation_ros.core.camera import CameraIntrinsics
from depth_estimation_ros.sim import PhotoTextures
from depth_training.datasets.nyu import NYU_HEIGHT, NYU_WIDTH

_WARMING: SyntheticDepthSource | None = None  # the source a forked pre-render pool serves


def _render_warming(i: int) -> tuple[np.ndarray, np.ndarray]:
    assert _WARMING is not None
    return _WARMING._render(i)


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
        close_fraction: share of items seen from the scene's close-up pose (0.5–1.4 m from
            furniture or a wall, pitched down) instead of across the room; which items is
            fixed by ``seed`` (see :meth:`view`).
        table_fraction: share of items seen down across a cluttered table, desk or counter
            (``render_scene(view="table")``); ``close_fraction + table_fraction`` <= 1.
        photos: photographs of real surfaces that replace some procedural textures
            (:class:`~depth_estimation_ros.sim.materials.PhotoTextures`); None = none.
        shadows: the point light's shadows and ambient occlusion in every room
            (``render_scene(shadows=True)``); the depth is the same either way.
        detail: mip-mapped textures with fine surface grain in every room
            (``render_scene(detail=True)``); the depth is the same either way.
    """

    def __init__(self, n: int, seed: int = 0, width: int = NYU_WIDTH, height: int = NYU_HEIGHT,
                 cache_size: int = 128, camera: CameraIntrinsics | None = None,
                 close_fraction: float = 0.0, table_fraction: float = 0.0,
                 photos: PhotoTextures | None = None, shadows: bool = False,
                 detail: bool = False) -> None:
        if n < 1:
            raise ValueError(f"a synthetic source needs n >= 1 frames, got {n}")
        if not 0.0 <= close_fraction <= 1.0:
            raise ValueError(f"close_fraction must be in [0, 1], got {close_fraction}")
        if not 0.0 <= table_fraction <= 1.0 - close_fraction:
            raise ValueError(f"table_fraction must be in [0, 1 - close_fraction = "
                             f"{1.0 - close_fraction:g}], got {table_fraction}")
        self.close_fraction = float(close_fraction)
        self.table_fraction = float(table_fraction)
        if width < 8 or height < 8:
            raise ValueError(f"synthetic frames must be at least 8×8, got {width}x{height}")
        self.n, self.seed, self.width, self.height = int(n), int(seed), int(width), int(height)
        if camera is None:
            camera = CameraIntrinsics.nyu_kinect(self.width, self.height)
        if (camera.width, camera.height) != (self.width, self.height):
            raise ValueError(f"camera of a {camera.width}x{camera.height} image does not match "
                             f"the {self.width}x{self.height} synthetic frames")
        self.camera = camera
        self.photos = photos
        self.shadows = bool(shadows)
        self.detail = bool(detail)
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
        item = self._render(i)
        self._store(i, item)
        return item

    def _render(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        from depth_estimation_ros.sim import render_scene

        frame = render_scene(_scene_seed(self.seed, i), intrinsics=self.camera,
                             view=self.view(i), photos=self.photos, shadows=self.shadows,
                             detail=self.detail)
        return (np.ascontiguousarray(frame.rgb, dtype=np.uint8),
                np.ascontiguousarray(frame.depth, dtype=np.float32))

    def _store(self, i: int, item: tuple[np.ndarray, np.ndarray]) -> None:
        if self.cache_size > 0:
            self._cache[i] = item
            while len(self._cache) > self.cache_size:
                self._cache.popitem(last=False)

    def warm(self, indices: Iterable[int], processes: int = 1, show: bool = False) -> None:
        """Render items ``indices`` into the cache ahead of use (as many as it holds), in
        ``processes`` forked processes where the platform forks; the frames are the ones
        :meth:`image` would render (each is a function of its seed alone)."""
        global _WARMING
        wanted: dict[int, None] = {}  # ordered, without repeats
        for i in indices:
            if not -self.n <= int(i) < self.n:
                raise IndexError(f"index {i} out of range for a synthetic source of {self.n}")
            if int(i) % self.n not in self._cache:
                wanted[int(i) % self.n] = None
        todo = list(wanted)[: self.cache_size]
        bar = tqdm(total=len(todo), desc="rendering scenes", disable=not show, leave=False,
                   dynamic_ncols=True)
        with bar:
            forks = "fork" in multiprocessing.get_all_start_methods()
            if processes > 1 and len(todo) > 1 and forks:
                _WARMING = self
                try:
                    context = multiprocessing.get_context("fork")
                    with context.Pool(min(processes, len(todo))) as pool:
                        items = pool.imap(_render_warming, todo, chunksize=4)
                        for i, item in zip(todo, items, strict=True):
                            self._store(i, item)
                            bar.update()
                finally:
                    _WARMING = None
            else:
                for i in todo:
                    self._frame(i)
                    bar.update()

    def __len__(self) -> int:
        return self.n

    def view(self, i: int) -> str:
        """``"close"``, ``"table"`` or ``"room"``: the renderer view of item ``i`` (fixed by
        the seed; the draws of close-ups do not depend on ``table_fraction``)."""
        if self.close_fraction <= 0.0 and self.table_fraction <= 0.0:
            return "room"
        draw = np.random.default_rng([self.seed, i % self.n, 2]).random()
        if draw < self.close_fraction:
            return "close"
        return "table" if draw < self.close_fraction + self.table_fraction else "room"

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
        close = f", close_fraction={self.close_fraction:g}" if self.close_fraction else ""
        close += f", table_fraction={self.table_fraction:g}" if self.table_fraction else ""
        close += f", photos={self.photos!r}" if self.photos is not None else ""
        close += ", shadows=True" if self.shadows else ""
        close += ", detail=True" if self.detail else ""
        return (f"SyntheticDepthSource(n={self.n}, seed={self.seed}, "
                f"{self.width}x{self.height}, fx={self.camera.fx:g}{close})")
