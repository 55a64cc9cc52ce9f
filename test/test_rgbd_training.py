"""Fine-tuning and evaluation on RGB-D recordings: real bags from make_rgbd_bag, the shipped
checkpoint, real (short) training runs on the CPU, the CLIs' exits on bad input."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from test_evaluate import CONSTANT_DEPTH, _checkpoint
from test_rgbd import _stamps, _write_tum, write_bag
from torch.utils.data import DataLoader

from depth_estimation_ros.core.checkpoint import default_checkpoint_path, model_from_checkpoint
from depth_estimation_ros.core.estimator import DepthEstimator
from depth_estimation_ros.core.model import PreprocessConfig
from depth_training import evaluate as evaluate_cli
from depth_training.config import ConfigError, load_config
from depth_training.datasets.build import build_datasets, warm_synthetic
from depth_training.datasets.rosbag import RosbagRGBD
from depth_training.make_rgbd_bag import write_rgbd_bag
from depth_training.metrics import MetricAccumulator
from depth_training.train import main
from depth_training.validation import validate

FINETUNE = Path(__file__).resolve().parents[1] / "depth_training" / "configs" / (
    "finetune_rgbd.yaml")
FAST = ["progress=false", "tensorboard=false", "num_workers=0", "threads=2", "amp=off",
        "device=cpu"]


@pytest.fixture(scope="module")
def bag(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """24 frames of one room at 64×48 along a continuous path, 16UC1 depth, mcap, through a
    narrow lens (fx 900 px at 640×480 against the training camera's 519): the shipped model,
    which knows nothing of the lens, sees everything 1.7 times too close."""
    return write_rgbd_bag(tmp_path_factory.mktemp("bags") / "room", 24, width=64, height=48,
                          rooms=1, rate=5.0, seed=3, fx=900.0)


def _data(bag: Path) -> list[str]:
    return [f"data.path={bag}", "data.val_fraction=0.25", "data.split_gap=2",
            "batch_size=8", "eval_batch_size=8"]


def test_short_finetune_lowers_the_held_out_loss_and_loads(bag: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    assert main(["--config", str(FINETUNE), "--out", str(run), *_data(bag), *FAST,
                 "epochs.coarse=1", "epochs.fine=1"]) == 0
    assert {"best.pt", "coarse_best.pt", "fine_best.pt", "last.pt", "config.yaml"} <= {
        p.name for p in run.iterdir()}
    cfg = load_config(run / "config.yaml")
    assert cfg.model["variant"] == "mobilenet_v2" and cfg.data.resolved_split() == "contiguous"
    # the held-out loss of the shipped model and of the fine-tuned one, on the same frames
    before, _, pre = model_from_checkpoint(default_checkpoint_path())
    after, _, pre_after = model_from_checkpoint(run / "best.pt")
    assert pre_after == pre  # the preprocessing (and its focal length) travels along
    _, val = build_datasets(cfg, pre)
    assert val.indices.tolist() == list(range(18, 24))  # the recording's end
    loader = DataLoader(val, batch_size=8)
    loss = {name: validate(m, loader, "fine", cfg, torch.device("cpu"))["val_loss"]
            for name, m in (("before", before), ("after", after))}
    assert loss["after"] < 0.7 * loss["before"], loss  # (with compact then: 0.024 -> 0.009)
    # the node's and the CLI's loader take it
    import cv2

    from depth_estimation_ros import estimate
    from depth_estimation_ros.node.params import DepthNodeParams
    from depth_estimation_ros.node.pipeline import build_estimator

    est = build_estimator(DepthNodeParams.from_values({"checkpoint": str(run / "best.pt"),
                                                       "device": "cpu"}))
    assert isinstance(est, DepthEstimator) and est.checkpoint_path == str(run / "best.pt")
    src = RosbagRGBD(bag)
    depth = est.estimate(src.image(20), "rgb8", intrinsics=src.intrinsics(20))
    assert depth.shape == (48, 64) and np.isfinite(depth).mean() > 0.9
    # evaluation defaults to the run's own held-out part of the same recording
    evaluate_cli.main(["--checkpoint", str(run / "best.pt"), "--data", str(bag), "--kind",
                       "rosbag", "--out", str(tmp_path / "eval"), "--no-progress", "--device",
                       "cpu", "--samples", "1"])
    doc = json.loads((tmp_path / "eval" / "metrics.json").read_text())
    assert [p["index"] for p in doc["per_image"]] == list(range(18, 24))
    png = tmp_path / "frame.png"
    cv2.imwrite(str(png), src.image(20)[..., ::-1])
    assert estimate.main([str(png), "-o", str(tmp_path / "est"), "--checkpoint",
                          str(run / "best.pt"), "--device", "cpu", "-q"]) == 0
    np.testing.assert_allclose(np.load(tmp_path / "est" / "frame.npy"),
                               est.estimate(src.image(20), "rgb8"), rtol=1e-4, equal_nan=True)


def test_init_from_a_missing_file_writes_nothing(bag: Path, tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    run = tmp_path / "run"
    assert main(["--config", str(FINETUNE), "--out", str(run), *_data(bag), *FAST,
                 f"init_from={tmp_path / 'nope.pt'}"]) == 2
    assert "init_from" in capsys.readouterr().err and not run.exists()


@pytest.mark.parametrize(("case", "match"), [
    ("missing_topic", "has no colour topic /camera/rgb/image_raw; topics in the bag: "),
    ("encoding", "depth encoding '8UC1', which is not supported"),
    ("no_pairs", "no colour/depth pair within 20 ms"),
    ("unreadable", "cannot be read as rosbag2"),
    ("size", "is 16x12 but the colour image"),
])
def test_training_on_a_bad_bag_is_one_line_exit_2_and_no_checkpoint(
        tmp_path: Path, case: str, match: str, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "bag"
    stamps = _stamps(6, period_ms=100.0)
    extra: list[str] = []
    if case == "missing_topic":
        write_bag(path, stamps, stamps)
        extra = ["data.rgb_topic=/camera/rgb/image_raw"]
    elif case == "encoding":
        write_bag(path, stamps, stamps, depth_encoding="8UC1")
    elif case == "no_pairs":
        write_bag(path, stamps, [ns + 40_000_000 for ns in stamps])
    elif case == "unreadable":
        path.mkdir()
        (path / "metadata.yaml").write_bytes(b"\x00\xff garbage")
    else:
        write_bag(path, stamps, stamps, depth_size=(16, 12))
    run = tmp_path / "run"
    assert main(["--config", str(FINETUNE), "--out", str(run), f"data.path={path}", *FAST,
                 *extra]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and match in err[0], err
    assert not run.exists()
    with pytest.raises(SystemExit, match=match):
        evaluate_cli.main(["--checkpoint", str(default_checkpoint_path()), "--data", str(path),
                           "--kind", "rosbag", "--out", str(tmp_path / "eval"),
                           "--no-progress", "--device", "cpu",
                           *(["--rgb-topic", "/camera/rgb/image_raw"] if extra else [])])
    assert not (tmp_path / "eval").exists()


def test_config_checks_of_the_recording_keys() -> None:
    with pytest.raises(ConfigError, match="data.path must name the recording"):
        load_config(FINETUNE)
    with pytest.raises(ConfigError, match="split=official is NYUv2's"):
        load_config(FINETUNE, ["data.path=x", "data.split=official"])
    with pytest.raises(ConfigError, match=r"data.extra_sources\[0\].kind must be one of"):
        load_config(FINETUNE, ["data.path=x", "data.extra_sources=[{kind: nyuv2, path: y}]"])
    with pytest.raises(ConfigError, match=r"unknown config key data.extra_sources\[0\].topic"):
        load_config(FINETUNE, ["data.path=x", "data.extra_sources=[{kind: tum, topic: y}]"])


def test_two_recordings_mixed_in_one_training_set(bag: Path, tmp_path: Path) -> None:
    rgb_t = [100.0 + 0.1 * i for i in range(8)]
    tum = _write_tum(tmp_path / "tum", rgb_t, [t + 0.005 for t in rgb_t])
    cfg = load_config(FINETUNE, [*_data(bag), f"data.extra_sources=[{{kind: tum, path: {tum}, "
                                              "val_fraction: 0.25, split_gap: 0}]"])
    train, val = build_datasets(cfg, PreprocessConfig.full_frame())
    assert len(train) == 16 + 6 and len(val) == 6 + 2
    cameras = {type(ds.source.source).__name__: ds.source.intrinsics(0)  # under the cache
               for ds in train.datasets}
    assert cameras["RosbagRGBD"].fx == pytest.approx(90.0)  # 900 px at 640 → 64 px wide
    assert cameras["TumRGBD"].fx == pytest.approx(517.3 * 32 / 640)
    train.set_epoch(1)
    item = train[len(train) - 1]  # the last item comes from the TUM part
    assert item["image"].shape == (3, 228, 304) and torch.isfinite(item["depth"]).all()


def test_rendered_rooms_replayed_beside_a_recording(bag: Path, tmp_path: Path) -> None:
    replay = ("data.extra_sources=[{kind: synthetic, synthetic_train: 5, synthetic_val: 2, "
              "synthetic_train_seed: 11, width: 64, height: 48}]")
    cfg = load_config(FINETUNE, [*_data(bag), replay])
    train, val = build_datasets(cfg, PreprocessConfig.full_frame())
    assert len(train) == 16 + 5 and len(val) == 6 + 2  # the rooms' own validation joins
    rooms = train.datasets[1].source
    assert type(rooms).__name__ == "SyntheticDepthSource" and rooms.seed == 11
    assert rooms.intrinsics(0).fx == pytest.approx(518.8579 * 64 / 640, rel=1e-4)
    item = train[len(train) - 1]  # a rendered room, at the network input like the bag's
    assert item["image"].shape == (3, 228, 304) and torch.isfinite(item["depth"]).all()
    assert item["focal_scale"] == pytest.approx(1.0, rel=1e-3)  # the model's own camera
    warm_synthetic(train, show=False)  # what training does before its loader forks workers
    assert sorted(rooms._cache) == list(range(5))
    # a short fine-tune runs with the rooms rendered once before the loader starts
    run = tmp_path / "run"
    assert main(["--config", str(FINETUNE), "--out", str(run), *_data(bag), replay, *FAST,
                 "epochs.coarse=1", "epochs.fine=0"]) == 0
    assert (run / "coarse_best.pt").is_file()
    with pytest.raises(ConfigError, match=r"extra_sources\[0\].synthetic_train_seed and "
                                          r"data.extra_sources\[0\].synthetic_val_seed are equal"):
        load_config(FINETUNE, [*_data(bag), "data.extra_sources=[{kind: synthetic, "
                                            "synthetic_train_seed: 5, synthetic_val_seed: 5}]"])
    with pytest.raises(ConfigError, match="is synthetic and so is data"):
        load_config(FINETUNE, ["data.kind=synthetic", "data.split=random",
                               "data.extra_sources=[{kind: synthetic}]"])


def test_the_readme_replay_override_is_a_valid_config() -> None:
    readme = (FINETUNE.parents[2] / "README.md").read_text(encoding="utf-8")
    found = re.findall(r"'(data\.extra_sources=\[\{kind: synthetic[^']*)'", readme)
    assert found, "README's own-camera section gives the replay override"
    for override in found:
        cfg = load_config(FINETUNE, ["data.path=x", override])
        (extra,) = cfg.data.extra_sources
        assert extra["kind"] == "synthetic" and extra["synthetic_train"] >= 1


def test_evaluate_kind_rosbag_table_figures_and_rescale(bag: Path, tmp_path: Path) -> None:
    f0 = 30.0  # the checkpoint's camera: fx 30 px at its 304-wide input
    ckpt = _checkpoint(tmp_path / "const.pt", constant=True,
                       pre=PreprocessConfig(**{**PreprocessConfig.full_frame().to_dict(),
                                               "focal_length": f0}))
    out = tmp_path / "eval"
    evaluate_cli.main(["--checkpoint", str(ckpt), "--data", str(bag), "--kind", "rosbag",
                       "--out", str(out), "--no-progress", "--device", "cpu", "--samples", "2",
                       "--val-fraction", "0.5"])
    assert {p.name for p in out.iterdir()} == {"metrics.json", "results.md", "samples.png",
                                               "error_hist.png"}
    doc = json.loads((out / "metrics.json").read_text())
    # the contiguous split's held-out part: the last 12 of 24 frames
    assert doc["split"] == "contiguous" and doc["n_images"] == 12 and doc["eval_crop"] is None
    src = RosbagRGBD(bag)
    k = src.intrinsics(0)
    scale = (k.fx * 304 / 64) / f0  # f1 / f0 at the network input
    acc = MetricAccumulator("pixel")
    for i in range(12, 24):
        gt = src.depth(i)
        acc.update(np.full_like(gt, CONSTANT_DEPTH * scale), gt, (gt >= 1e-3) & (gt <= 10))
    expected = acc.compute()
    for key in ("delta1", "abs_rel", "rmse"):
        assert doc["metrics"][key] == pytest.approx(expected[key], rel=1e-3), key
        # a flat prediction median-scaled is the per-image gt median: the oracle
        assert doc["median_scaled"][key] == pytest.approx(doc["oracle"][key], rel=1e-4), key
    assert doc["metrics"]["rmse"] != pytest.approx(doc["oracle"]["rmse"], rel=1e-2)
    md = (out / "results.md").read_text()
    assert "ours, median-scaled" in md and "oracle constant (per-image gt median)" in md
    assert "Eigen 2015 VGG" not in md and f"×{scale:.3f}" in md
    assert math.isfinite(doc["per_image"][0]["median_ratio"])


def test_evaluate_kind_tum_and_folder(tmp_path: Path) -> None:
    import cv2
    from test_rgbd import depth_frame, rgb_frame

    ckpt = _checkpoint(tmp_path / "const.pt", constant=True, pre=PreprocessConfig.full_frame())
    rgb_t = [10.0 + 0.1 * i for i in range(4)]
    tum = _write_tum(tmp_path / "tum", rgb_t, rgb_t)
    root = tmp_path / "frames"
    (root / "rgb").mkdir(parents=True)
    (root / "depth").mkdir()
    for i in range(4):
        cv2.imwrite(str(root / "rgb" / f"{i:03d}.png"), rgb_frame(i))
        cv2.imwrite(str(root / "depth" / f"{i:03d}.png"),
                    np.round(depth_frame(i) * 1000).astype(np.uint16))
    for kind, data in (("tum", tum), ("folder", root)):
        out = tmp_path / f"eval_{kind}"
        evaluate_cli.main(["--checkpoint", str(ckpt), "--data", str(data), "--kind", kind,
                           "--split", "all", "--out", str(out), "--no-progress",
                           "--device", "cpu"])
        doc = json.loads((out / "metrics.json").read_text())
        assert doc["n_images"] == 4 and doc["kind"] == kind
        # constant 2.5 m against depths 0.5–4.4 m: the numbers are a real comparison
        assert 0.1 < doc["metrics"]["delta1"] < 0.9
    with pytest.raises(SystemExit, match="split official is NYUv2's"):
        evaluate_cli.main(["--checkpoint", str(ckpt), "--data", str(tum), "--kind", "tum",
                           "--split", "official", "--out", str(tmp_path / "x")])
