"""Tests for depth_training.datasets (NYUv2, synthetic, splits, dataset) and make_nyu_like:
real HDF5 files in the NYUv2 layout."""

from __future__ import annotations

import pickle
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from depth_estimation_ros.core.model import PreprocessConfig
from depth_estimation_ros.core.preprocessing import normalize, resize_and_crop
from depth_estimation_ros.sim import render_scene
from depth_training.datasets.augment import AugmentConfig
from depth_training.datasets.dataset import DepthDataset
from depth_training.datasets.nyu import NYUv2Labeled, official_test_indices
from depth_training.datasets.splits import make_split
from depth_training.datasets.synthetic import SyntheticDepthSource, _scene_seed
from depth_training.errors import DatasetError
from depth_training.make_nyu_like import main as make_nyu_like_main
from depth_training.make_nyu_like import write_nyu_layout_file

N, H, W = 3, 24, 32  # tiny frames: 24 rows, 32 columns
SHARED_INDICES = Path("/work/shared/data/nyuv2_official_test_indices.txt")
SMALL_PRE = PreprocessConfig(resize_height=12, resize_width=16, crop_top=1, crop_left=2,
                             input_height=10, input_width=12)


def _matlab_order_file(path: Path, depth_fill: float | None = None, **overrides) -> Path:
    """A file in MATLAB order, built from index semantics (not by transposing an upright
    array): ``images[n, c, x, y]`` is channel ``c`` at column ``x``, row ``y``.

    Red increases down the rows (= y), green along the columns (= x), blue marks the top-left
    pixel of each image with 200 + n; depth is 1 + 0.1·y m with 9 m at the top-left.
    """
    x = np.arange(W)[:, None]  # (W, 1) column index
    y = np.arange(H)[None, :]  # (1, H) row index
    images = np.zeros((N, 3, W, H), dtype=np.uint8)
    depths = np.zeros((N, W, H), dtype=np.float32)
    for n in range(N):
        images[n, 0] = np.broadcast_to(y * 10, (W, H))
        images[n, 1] = np.broadcast_to(x * 5 + n, (W, H))
        images[n, 2, 0, 0] = 200 + n
        depths[n] = np.broadcast_to(1.0 + 0.1 * y, (W, H))
        depths[n, 0, 0] = 9.0
    if depth_fill is not None:
        depths[1, 3, 4] = depth_fill
    data = {"images": images, "depths": depths, "rawDepths": depths.copy(), **overrides}
    with h5py.File(path, "w") as f:
        for name, arr in data.items():
            if arr is not None:
                f.create_dataset(name, data=arr)
    return path


@pytest.fixture
def layout_file(tmp_path: Path) -> Path:
    return _matlab_order_file(tmp_path / "nyu_like.mat")


@pytest.mark.parametrize("preload", [False, True])
def test_loader_reads_upright_not_transposed(layout_file: Path, preload: bool) -> None:
    ds = NYUv2Labeled(layout_file, preload=preload)
    assert len(ds) == N and (ds.height, ds.width) == (H, W)
    for n in range(N):
        img, dep = ds.image(n), ds.depth(n)
        assert img.shape == (H, W, 3) and img.dtype == np.uint8
        assert dep.shape == (H, W) and dep.dtype == np.float32
        np.testing.assert_array_equal(img[:, 5, 0], np.arange(H) * 10)  # red grows down rows
        np.testing.assert_array_equal(img[7, :, 1], np.arange(W) * 5 + n)  # green along cols
        assert img[0, 0, 2] == 200 + n and img[..., 2].sum() == 200 + n  # top-left marker
        assert dep[0, 0] == pytest.approx(9.0)
        np.testing.assert_allclose(dep[1:, 3], 1.0 + 0.1 * np.arange(1, H), rtol=1e-6)
        np.testing.assert_array_equal(ds.raw_depth(n), dep)
    with pytest.raises(IndexError):
        ds.image(N)


def test_dataloader_workers_reopen_the_file(layout_file: Path) -> None:
    src = NYUv2Labeled(layout_file)
    src.image(0)  # the parent holds an open handle before the workers fork
    ds = DepthDataset(src, np.arange(N), SMALL_PRE, None)
    loader = DataLoader(ds, batch_size=1, num_workers=2, shuffle=False)
    got = {int(b["index"]): b for b in loader}
    assert sorted(got) == list(range(N))
    for i in range(N):
        np.testing.assert_array_equal(got[i]["depth"][0], ds[i]["depth"])
        np.testing.assert_array_equal(got[i]["image"][0], ds[i]["image"])
    clone = pickle.loads(pickle.dumps(src))  # spawn-style workers pickle the source
    np.testing.assert_array_equal(clone.image(2), src.image(2))


def test_dataset_items(layout_file: Path) -> None:
    src = NYUv2Labeled(layout_file)
    plain = DepthDataset(src, [2, 0], SMALL_PRE, None)
    item = plain[0]
    assert item["index"] == 2
    assert item["image"].shape == (3, 10, 12) and item["image"].dtype == torch.float32
    assert item["depth"].shape == (1, 10, 12) and item["depth"].dtype == torch.float32
    rgb = torch.from_numpy(src.image(2)).permute(2, 0, 1)[None]
    expected = normalize(resize_and_crop(rgb, SMALL_PRE), SMALL_PRE)[0]
    torch.testing.assert_close(item["image"], expected)  # exactly the estimator's input
    # depth rows 2r+1 of the source (nearest, centre aligned), after the crop offset
    rows = 2 * (np.arange(10) + SMALL_PRE.crop_top) + 1
    np.testing.assert_allclose(item["depth"][0, :, 0].numpy(), 1.0 + 0.1 * rows, rtol=1e-6)

    aug = DepthDataset(src, [0, 1, 2], SMALL_PRE, AugmentConfig(), seed=5)
    a, b = aug[1], aug[1]
    torch.testing.assert_close(a["image"], b["image"])  # deterministic per (seed, epoch)
    aug.set_epoch(1)
    assert not torch.equal(aug[1]["image"], a["image"])  # a new draw each epoch
    assert (aug[1]["depth"] >= 0).all()


def test_bad_files_raise_dataset_errors(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="does not exist"):
        NYUv2Labeled(tmp_path / "missing.mat")
    junk = tmp_path / "junk.mat"
    junk.write_bytes(b"MATLAB 5.0 MAT-file" + bytes(600))
    with pytest.raises(DatasetError, match="not an HDF5 file"):
        NYUv2Labeled(junk)
    no_depth = _matlab_order_file(tmp_path / "no_depth.mat", depths=None, rawDepths=None)
    with pytest.raises(DatasetError, match="no 'depths' dataset"):
        NYUv2Labeled(no_depth)
    flat = _matlab_order_file(tmp_path / "flat.mat",
                              images=np.zeros((N, W, H), dtype=np.uint8))
    with pytest.raises(DatasetError, match=r"'images' has shape \(3, 32, 24\)"):
        NYUv2Labeled(flat)
    floaty = _matlab_order_file(tmp_path / "float.mat",
                                images=np.zeros((N, 3, W, H), dtype=np.float32))
    with pytest.raises(DatasetError, match="expected uint8"):
        NYUv2Labeled(floaty)
    mismatch = _matlab_order_file(tmp_path / "mismatch.mat", rawDepths=None,
                                  depths=np.ones((N, H, W), dtype=np.float32))
    with pytest.raises(DatasetError, match="'depths' has shape"):
        NYUv2Labeled(mismatch)
    empty = _matlab_order_file(tmp_path / "empty.mat", rawDepths=None,
                               images=np.zeros((0, 3, W, H), np.uint8),
                               depths=np.zeros((0, W, H), np.float32))
    with pytest.raises(DatasetError, match="no image"):
        NYUv2Labeled(empty)
    # NYUv2's own size, transposed: an error (read on, the crop and split would be wrong)
    transposed = _matlab_order_file(tmp_path / "transposed.mat", rawDepths=None,
                                    images=np.zeros((1, 3, 480, 640), np.uint8),
                                    depths=np.ones((1, 480, 640), np.float32))
    with pytest.raises(DatasetError, match="480×640 portrait .* this file is transposed"):
        NYUv2Labeled(transposed)
    nan = NYUv2Labeled(_matlab_order_file(tmp_path / "nan.mat", depth_fill=np.nan))
    nan.depth(0)
    with pytest.raises(DatasetError, match=r"depths\[1\] contains NaN"):
        nan.depth(1)


def test_truncated_file(tmp_path: Path) -> None:
    good = _matlab_order_file(tmp_path / "good.mat")
    cut = tmp_path / "cut.mat"
    cut.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(DatasetError, match="truncated or corrupt"):
        src = NYUv2Labeled(cut)
        for i in range(len(src)):
            src.depth(i)


def test_official_split() -> None:
    test = official_test_indices()
    shared = np.loadtxt(SHARED_INDICES, dtype=np.int64)
    np.testing.assert_array_equal(test, np.sort(shared))
    split = make_split("official", 1449)
    assert split.train.size == 795 and split.test.size == 654
    assert np.intersect1d(split.train, split.test).size == 0
    np.testing.assert_array_equal(np.union1d(split.train, split.test), np.arange(1449))
    with pytest.raises(DatasetError, match="1449-image"):
        make_split("official", 10)


def test_random_and_all_splits() -> None:
    a = make_split("random", 1449, seed=3)
    assert a.test.size == 72 and a.train.size == 1377  # the seed's 95 % / 5 %
    assert np.intersect1d(a.train, a.test).size == 0
    b = make_split("random", 1449, seed=3)
    np.testing.assert_array_equal(a.test, b.test)
    assert not np.array_equal(a.test, make_split("random", 1449, seed=4).test)
    assert make_split("random", 10, val_fraction=0.01).test.size == 1  # at least one
    everything = make_split("all", 5)
    assert everything.train.size == 0 and everything.test.tolist() == [0, 1, 2, 3, 4]
    with pytest.raises(ValueError, match="unknown split"):
        make_split("eigen", 10)
    with pytest.raises(DatasetError, match="empty"):
        make_split("all", 0)


# ----------------------------------------------------------------- synthetic + writer
def test_synthetic_source_is_deterministic() -> None:
    a = SyntheticDepthSource(3, seed=2, width=64, height=48)
    b = SyntheticDepthSource(3, seed=2, width=64, height=48, cache_size=0)
    assert len(a) == 3
    assert a.image(1).shape == (48, 64, 3) and a.image(1).dtype == np.uint8
    assert a.depth(1).shape == (48, 64) and a.depth(1).dtype == np.float32
    np.testing.assert_array_equal(a.image(1), b.image(1))
    np.testing.assert_array_equal(a.depth(2), b.depth(2))
    assert not np.array_equal(a.depth(0), a.depth(1))
    assert not np.array_equal(a.depth(0), SyntheticDepthSource(3, seed=3, width=64,
                                                               height=48).depth(0))
    raw = a.raw_depth(1)
    assert (raw == 0).any() and np.array_equal(raw[raw > 0], a.depth(1)[raw > 0])


def test_synthetic_source_warms_its_cache_in_forked_processes() -> None:
    one_by_one = SyntheticDepthSource(6, seed=2, width=64, height=48, close_fraction=0.5,
                                      cache_size=0)
    warmed = SyntheticDepthSource(6, seed=2, width=64, height=48, close_fraction=0.5,
                                  shadows=False, cache_size=5)
    warmed.warm([5, 0, 1, 1, -6, 2, 3, 4], processes=2)  # repeats and a negative index
    assert list(warmed._cache) == [5, 0, 1, 2, 3]  # as many as the cache holds, in order
    for i in range(6):
        np.testing.assert_array_equal(warmed.image(i), one_by_one.image(i))
        np.testing.assert_array_equal(warmed.depth(i), one_by_one.depth(i))
    with pytest.raises(IndexError, match="out of range"):
        warmed.warm([6])


def test_synthetic_source_close_fraction_picks_close_views_by_seed() -> None:
    src = SyntheticDepthSource(200, seed=4, width=48, height=36, close_fraction=0.5)
    views = [src.view(i) for i in range(200)]
    assert views == [SyntheticDepthSource(200, seed=4, close_fraction=0.5).view(i)
                     for i in range(200)]  # fixed by the seed, not by the call order
    assert 0.4 < views.count("close") / 200 < 0.6
    assert set(SyntheticDepthSource(50, seed=4).view(i) for i in range(50)) == {"room"}
    assert set(SyntheticDepthSource(50, seed=4, close_fraction=1.0).view(i)
               for i in range(50)) == {"close"}
    i = views.index("close")
    room = SyntheticDepthSource(200, seed=4, width=48, height=36)
    assert np.median(src.depth(i)) != np.median(room.depth(i))  # same room, other pose
    assert "close_fraction=0.5" in repr(src)
    with pytest.raises(ValueError, match="close_fraction must be in"):
        SyntheticDepthSource(3, close_fraction=-0.1)


def test_synthetic_source_table_fraction_adds_table_views_and_keeps_the_close_ups() -> None:
    close = SyntheticDepthSource(200, seed=4, close_fraction=0.3)
    mixed = SyntheticDepthSource(200, seed=4, width=48, height=36, close_fraction=0.3,
                                 table_fraction=0.4)
    views = [mixed.view(i) for i in range(200)]
    # the close-ups stay where they were; the table views come out of the room views
    assert [v == "close" for v in views] == [close.view(i) == "close" for i in range(200)]
    assert 0.3 < views.count("table") / 200 < 0.5
    assert set(SyntheticDepthSource(20, seed=4, table_fraction=1.0).view(i)
               for i in range(20)) == {"table"}
    i = views.index("table")
    np.testing.assert_array_equal(mixed.depth(i), render_scene(
        _scene_seed(4, i), intrinsics=mixed.camera, view="table").depth)
    assert "table_fraction=0.4" in repr(mixed)
    with pytest.raises(ValueError, match=r"table_fraction must be in \[0, 1 - close_fraction"):
        SyntheticDepthSource(3, close_fraction=0.7, table_fraction=0.4)


def test_nyu_layout_writer_round_trip(tmp_path: Path) -> None:
    path = write_nyu_layout_file(tmp_path / "tiny.mat", 2, seed=1, width=64, height=48)
    assert path.read_bytes()[:19] == b"MATLAB 7.3 MAT-file"
    with h5py.File(path, "r") as f:
        assert f["images"].shape == (2, 3, 64, 48) and f["images"].dtype == np.uint8
        assert f["depths"].shape == (2, 64, 48) and f["depths"].dtype == np.float32
        for name in ("rawDepths", "labels", "instances", "names", "scenes", "sceneTypes",
                     "#refs#"):
            assert name in f
        assert f["depths"].attrs["MATLAB_class"] == b"single"
        scene = f[f["scenes"][0, 1]][:, 0]
        assert "".join(chr(c) for c in scene) == "synthetic_1_0001"
    src = SyntheticDepthSource(2, seed=1, width=64, height=48)
    ds = NYUv2Labeled(path)
    for i in range(2):
        np.testing.assert_array_equal(ds.image(i), src.image(i))  # upright, same pixels
        np.testing.assert_array_equal(ds.depth(i), src.depth(i))
        np.testing.assert_array_equal(ds.raw_depth(i), src.raw_depth(i))


def test_nyu_layout_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    make_nyu_like_main([str(tmp_path / "cli.mat"), "--n", "1", "--width", "32",
                        "--height", "24"])
    assert "wrote" in capsys.readouterr().out
    assert len(NYUv2Labeled(tmp_path / "cli.mat")) == 1
    with pytest.raises(SystemExit, match="cannot write"):
        make_nyu_like_main([str(tmp_path / "nowhere" / "x.mat"), "--n", "1"])
    assert not list(tmp_path.glob(".cli.mat.*"))  # no temporary left behind
