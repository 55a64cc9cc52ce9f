"""The frame cache of recordings (depth_training.datasets.frame_cache): real 7-Scenes-layout
files written here, decoded by the real reader, served by the real torch Dataset."""

from __future__ import annotations

import logging
import pickle
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from depth_estimation_ros.core.model import PreprocessConfig
from depth_training.config import load_config
from depth_training.datasets.augment import AugmentConfig
from depth_training.datasets.build import build_datasets
from depth_training.datasets.dataset import DepthDataset
from depth_training.datasets.frame_cache import FrameCache, cache_size_for
from depth_training.datasets.seven_scenes import SevenScenesRGBD

FINETUNE = Path(__file__).resolve().parents[1] / "depth_training" / "configs" / (
    "finetune_rgbd.yaml")
W, H, N = 96, 72, 10
PRE = PreprocessConfig.full_frame()  # 304×228, the network's frame
AUG = AugmentConfig(scale=(1.0, 1.0), rotation_deg=5.0, color=(0.8, 1.2), flip_p=0.5)


class CountingSevenScenes(SevenScenesRGBD):
    """The real reader, counting the frames it decodes from disk."""

    loads = 0

    def _load(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        type(self).loads += 1
        return super()._load(i)


@pytest.fixture(scope="module")
def seq(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("seven") / "seq-01"
    folder.mkdir()
    rng = np.random.default_rng(4)
    yy, xx = np.mgrid[0:H, 0:W]
    for n in range(N):
        rgb = np.stack([(xx * 2 + 7 * n) % 256, (yy * 3) % 256,
                        rng.integers(0, 256, (H, W))], -1).astype(np.uint8)
        mm = (800 + 20 * xx + 10 * yy + 50 * n).astype(np.uint16)
        mm[5:9, 10:20] = 0  # no return
        mm[30:33, 40:60] = 65535  # saturated: also no return
        stem = folder / f"frame-{n:06d}"
        assert cv2.imwrite(f"{stem}.color.jpg", rgb[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, 90])
        assert cv2.imwrite(f"{stem}.depth.png", mm)
        np.savetxt(f"{stem}.pose.txt", np.eye(4))
    (folder / "camera-intrinsics.txt").write_text("87.75 0 48\n0 87.75 36\n0 0 1\n")
    return folder


def _items(ds: DepthDataset, epoch: int) -> list[dict]:
    ds.set_epoch(epoch)
    return [ds[k] for k in range(len(ds))]


def _assert_same(a: list[dict], b: list[dict]) -> None:
    for x, y in zip(a, b, strict=True):
        assert x["index"] == y["index"]
        for key in ("image", "depth", "focal_scale"):
            assert torch.equal(x[key], y[key]), (key, x["index"])


def test_cached_items_are_the_decoded_items_bit_for_bit(seq: Path, tmp_path: Path) -> None:
    src = SevenScenesRGBD(seq)
    idx = np.arange(2, 9)
    size = cache_size_for((PRE.resize_height, PRE.resize_width),
                          (PRE.input_height, PRE.input_width), AUG.scale[1])
    assert size == (228, 304)  # no zoom: the resize size itself
    cached = FrameCache(src, idx, size, tmp_path / "cache")
    assert cached.image(3).shape == (228, 304, 3) and cached.image(3).dtype == np.uint8
    assert cached.intrinsics(3) == src.intrinsics(3) and len(cached) == len(src)
    for augment in (AUG, None):  # training (rotation, colour, flip) and validation
        plain = DepthDataset(src, idx, PRE, augment, seed=3)
        fast = DepthDataset(cached, idx, PRE, augment, seed=3)
        for epoch in (0, 1):
            _assert_same(_items(plain, epoch), _items(fast, epoch))
    d = cached.depth(4)
    assert (d == 0).any() and np.isfinite(d).all()  # 0 and 65535 stay invalid
    # a frame outside the cached set is decoded and resized on demand, the same way
    assert np.array_equal(cached.depth(0), FrameCache(src, [0], size).depth(0))


def test_zoomed_items_within_the_resize_tolerance(seq: Path) -> None:
    src = SevenScenesRGBD(seq)
    zoom = AugmentConfig(scale=(1.0, 1.5), rotation_deg=0.0, flip_p=0.0)
    size = cache_size_for((PRE.resize_height, PRE.resize_width),
                          (PRE.input_height, PRE.input_width), zoom.scale[1])
    assert size == (342, 456)
    idx = np.arange(N)
    plain = _items(DepthDataset(src, idx, PRE, zoom, seed=1), 0)
    fast = _items(DepthDataset(FrameCache(src, idx, size), idx, PRE, zoom, seed=1), 0)
    for x, y in zip(plain, fast, strict=True):
        levels = (x["image"] - y["image"]).abs() * PRE.std  # 0–255 levels
        assert float(levels.mean()) < 1.5 and float(levels.max()) < 40
        valid = (x["depth"] > 0) & (y["depth"] > 0)
        assert float(((x["depth"] > 0) != (y["depth"] > 0)).float().mean()) < 0.02
        rel = ((x["depth"] - y["depth"]).abs() / x["depth"].clamp(min=1e-6))[valid]
        assert float(rel.mean()) < 0.01


def test_each_frame_is_decoded_once_and_the_file_is_reused(seq: Path, tmp_path: Path) -> None:
    CountingSevenScenes.loads = 0
    src = CountingSevenScenes(seq, cache_size=1)  # reads frame 0 (for the size), kept
    idx = np.arange(N)
    cache = FrameCache(src, idx, (228, 304), tmp_path / "c")
    assert CountingSevenScenes.loads == N and cache.decoded == N
    ds = DepthDataset(cache, idx, PRE, AUG)
    for epoch in range(3):
        _items(ds, epoch)
    assert CountingSevenScenes.loads == N  # epochs read the cache, not the files
    again = FrameCache(src, idx, (228, 304), tmp_path / "c")  # a resumed run
    assert CountingSevenScenes.loads == N and again.decoded == 0
    assert again.path == cache.path and again.path.name.startswith("frames-7scenes-304x228-n10-")
    other = FrameCache(src, idx[:4], (228, 304), tmp_path / "c")  # other frames: other file
    assert other.path != cache.path and CountingSevenScenes.loads == N + 4


def test_the_cache_survives_a_dataloader_worker_and_pickling(seq: Path, tmp_path: Path) -> None:
    src = SevenScenesRGBD(seq)
    idx = np.arange(1, 9)
    cache = FrameCache(src, idx, (228, 304), tmp_path / "w")
    ds = DepthDataset(cache, idx, PRE, AUG, seed=2)
    ds.set_epoch(1)
    here = next(iter(DataLoader(ds, batch_size=8, num_workers=0)))
    there = next(iter(DataLoader(ds, batch_size=8, num_workers=1)))
    assert torch.equal(here["image"], there["image"]) and torch.equal(here["depth"],
                                                                      there["depth"])
    copy = pickle.loads(pickle.dumps(cache))  # what a spawned worker gets: the file's name
    assert copy.__dict__["_rows"] is None
    assert np.array_equal(copy.depth(5), cache.depth(5)) and copy.decoded == cache.decoded
    in_memory = FrameCache(src, idx, (228, 304))
    assert np.array_equal(pickle.loads(pickle.dumps(in_memory)).image(2), cache.image(2))


@pytest.mark.parametrize("damage", ["garbage", "truncated", "other_shape"])
def test_a_bad_cache_file_is_rebuilt_with_one_log_line(
        seq: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture, damage: str) -> None:
    src = CountingSevenScenes(seq, cache_size=1)
    idx = np.arange(N)
    good = FrameCache(src, idx, (228, 304), tmp_path)
    expected = good.depth(7), good.image(7)
    data = good.path.read_bytes()
    if damage == "garbage":
        good.path.write_bytes(b"not a numpy file at all")
    elif damage == "truncated":
        good.path.write_bytes(data[: len(data) // 2])
    else:
        np.save(good.path, np.zeros((3, 5), dtype=np.uint8))
    CountingSevenScenes.loads = 0
    with caplog.at_level(logging.INFO, logger="depth_training.datasets.frame_cache"):
        rebuilt = FrameCache(src, idx, (228, 304), tmp_path)
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1, [r.getMessage() for r in warnings]
    assert "is unusable" in warnings[0].getMessage() and "rebuilding" in warnings[0].getMessage()
    assert str(good.path) in warnings[0].getMessage()
    assert CountingSevenScenes.loads == N
    assert np.array_equal(rebuilt.depth(7), expected[0])
    assert np.array_equal(rebuilt.image(7), expected[1])
    assert sorted(p.name for p in tmp_path.iterdir()) == [good.path.name]  # no temp left


def test_config_switch_wraps_recordings_only_when_on(seq: Path, tmp_path: Path) -> None:
    base = [f"data.path={seq}", "data.kind=7scenes", "data.val_fraction=0.2",
            "data.split_gap=1", "progress=false"]
    cfg = load_config(FINETUNE, base)
    assert cfg.data.frame_cache is True
    train, val = build_datasets(cfg, PRE, tmp_path / "fc")
    assert isinstance(train.source, FrameCache) and isinstance(val.source, FrameCache)
    assert len(list((tmp_path / "fc").glob("frames-*.npy"))) == 2
    off = load_config(FINETUNE, [*base, "data.frame_cache=false"])
    train_off, val_off = build_datasets(off, PRE)
    assert isinstance(train_off.source, SevenScenesRGBD)
    assert train.indices.tolist() == train_off.indices.tolist()  # the same split
    assert val.indices.tolist() == val_off.indices.tolist()
    _assert_same(_items(train, 2), _items(train_off, 2))
    _assert_same(_items(val, 0), _items(val_off, 0))
