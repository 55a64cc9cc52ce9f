"""Tests for depth_training.train and .config: real (tiny) training runs on the CPU.

The model is the ``compact`` variant narrowed to 8 channels (through ``model.*`` overrides,
which the checkpoint records) so that a few steps at the native 228×304 input stay fast.
"""

from __future__ import annotations

import csv
import dataclasses
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch
import yaml

from depth_training.config import ConfigError, TrainConfig, load_config
from depth_training.train import main

TINY_MODEL = [
    "model.variant=compact", "model.compact_width=8", "model.scale2_channels=8",
    "model.scale3_channels=8",
]
FAST = ["progress=false", "tensorboard=false", "num_workers=0", "threads=1", "amp=off",
        "device=cpu"]
CONFIG = Path(__file__).resolve().parents[1] / "depth_training" / "configs" / (
    "synthetic_compact.yaml")


def _synthetic(n_train: int = 4, n_val: int = 2) -> list[str]:
    return [f"data.synthetic_train={n_train}", f"data.synthetic_val={n_val}", "data.width=80",
            "data.height=60", "batch_size=2", "eval_batch_size=2"]


def _rows(run: Path) -> list[dict[str, str]]:
    with (run / "metrics.csv").open(newline="") as f:
        return list(csv.DictReader(f))


def write_nyu_file(path: Path, n: int, nan_item: int | None = None) -> Path:
    """A real HDF5 file in the NYUv2 labelled layout (h5py axis order), 64×48 frames."""
    rng = np.random.default_rng(0)
    w, h = 64, 48
    v = np.linspace(0, 1, h, dtype=np.float32)[None, :]  # (1, H) along the last axis
    depths = np.stack([np.broadcast_to(1.0 + 3.0 * v + 0.5 * k, (w, h)) for k in range(n)])
    depths = depths.astype(np.float32)  # (N, W, H) metres
    images = rng.integers(0, 255, size=(n, 3, w, h), dtype=np.uint8)
    if nan_item is not None:
        depths[nan_item, 3, 4] = np.nan
    with h5py.File(path, "w") as f:
        f.create_dataset("images", data=images)
        f.create_dataset("depths", data=depths)
        f.create_dataset("rawDepths", data=depths)
    return path


def test_short_run_lowers_loss_and_ships_a_loadable_checkpoint(tmp_path: Path) -> None:
    from depth_estimation_ros.core.estimator import DepthEstimator

    run = tmp_path / "run"
    argv = ["--config", str(CONFIG), "--out", str(run), "stage=all", "epochs.coarse=3",
            "epochs.fine=1", "augment.enabled=false", "lr.coarse=2e-3", "schedule=constant",
            *_synthetic(), *TINY_MODEL, *FAST]
    assert main(argv) == 0
    for name in ("config.yaml", "metrics.csv", "last.pt", "best.pt", "coarse_best.pt",
                 "fine_best.pt"):
        assert (run / name).is_file(), name
    assert not list(run.glob("*.tmp")), "a temporary checkpoint file was left behind"
    rows = _rows(run)
    assert [(r["stage"], r["epoch"], r["step"]) for r in rows] == [
        ("coarse", "1", "2"), ("coarse", "2", "4"), ("coarse", "3", "6"), ("fine", "1", "8")]
    coarse = [float(r["train_loss"]) for r in rows if r["stage"] == "coarse"]
    assert coarse[-1] < coarse[0], f"training did not lower the loss: {coarse}"
    for key in ("val_loss", "delta1", "rmse", "abs_rel", "lr"):
        assert np.isfinite(float(rows[-1][key])), key

    # the resolved config round-trips
    saved = load_config(run / "config.yaml")
    assert saved.epochs.coarse == 3 and saved.model["compact_width"] == 8

    # plain types only: loadable with weights_only=True, and the estimator runs it
    ckpt = torch.load(run / "best.pt", weights_only=True)
    assert ckpt["training"]["stage"] == "fine"
    assert ckpt["preprocess"]["resize_height"] == 228  # full_frame
    # the canonical camera (NYU Kinect, as the renderer) at the 304-wide input
    assert ckpt["preprocess"]["focal_length"] == pytest.approx(518.8579 * 304 / 640)
    est = DepthEstimator(run / "best.pt", device="cpu")
    rgb = np.random.default_rng(0).integers(0, 255, size=(60, 80, 3), dtype=np.uint8)
    depth = est.estimate(rgb)
    assert depth.shape == (60, 80) and depth.dtype == np.float32
    assert np.isfinite(depth).mean() > 0.9


def test_resume_continues_from_the_saved_step(tmp_path: Path) -> None:
    run = tmp_path / "run"
    common = ["stage=coarse", "optimizer=adam", *_synthetic(), *TINY_MODEL, *FAST]
    assert main(["--config", str(CONFIG), "--out", str(run), "epochs.coarse=1", *common]) == 0
    first = torch.load(run / "last.pt", weights_only=True)
    assert first["training"]["step"] == 2 and first["training"]["epoch"] == 1
    # without --config the run's own config.yaml is the base; the override adds an epoch
    assert main(["--out", str(run), "--resume", "epochs.coarse=2"]) == 0
    rows = _rows(run)
    assert [(r["epoch"], r["step"]) for r in rows] == [("1", "2"), ("2", "4")]
    last = torch.load(run / "last.pt", weights_only=True)
    assert last["training"]["step"] == 4 and last["training"]["epoch"] == 2
    # Adam's per-parameter step count continued from the restored optimiser state
    state = last["optimizer_state"]["optimizer"]["state"]
    assert {float(v["step"]) for v in state.values()} == {4.0}
    # a finished run resumes as a no-op
    assert main(["--out", str(run), "--resume"]) == 0
    assert len(_rows(run)) == 2
    # starting over in the same folder without --resume is refused
    assert main(["--config", str(CONFIG), "--out", str(run), *common]) == 2


def test_trains_on_a_nyu_layout_file_and_fine_stage_from_init(tmp_path: Path) -> None:
    mat = write_nyu_file(tmp_path / "nyu.mat", n=5)
    coarse = tmp_path / "coarse"
    data = ["data.kind=nyuv2", f"data.path={mat}", "data.split=random", "data.val_fraction=0.2",
            "batch_size=2", "eval_batch_size=2", "max_steps_per_epoch=1"]
    assert main(["--config", str(CONFIG), "--out", str(coarse), "stage=coarse",
                 "epochs.coarse=1", *data, *TINY_MODEL, *FAST]) == 0
    fine = tmp_path / "fine"
    # options and overrides may be mixed in any order
    assert main(["stage=fine", "--config", str(CONFIG), "epochs.fine=1", "--out", str(fine),
                 f"init_from={coarse / 'coarse_best.pt'}", "validate_start=false", *data,
                 *TINY_MODEL, *FAST]) == 0
    rows = _rows(fine)
    assert [(r["stage"], r["step"]) for r in rows] == [("fine", "1")]
    best = torch.load(fine / "best.pt", weights_only=True)
    before = torch.load(coarse / "coarse_best.pt", weights_only=True)["model_state"]
    # scales 1+2 stayed frozen (BN statistics included); scale 3 moved
    for k, v in best["model_state"].items():
        if k.startswith(("scale1.", "scale2.")):
            assert torch.equal(v, before[k]), k
    assert any(not torch.equal(v, before[k]) for k, v in best["model_state"].items()
               if k.startswith("scale3."))


def test_a_fine_tune_never_returns_a_best_worse_than_its_start(tmp_path: Path) -> None:
    mat = write_nyu_file(tmp_path / "nyu.mat", n=5)
    data = ["data.kind=nyuv2", f"data.path={mat}", "data.split=random", "data.val_fraction=0.2",
            "batch_size=2", "eval_batch_size=2", "max_steps_per_epoch=1"]
    start = tmp_path / "start"
    assert main(["--config", str(CONFIG), "--out", str(start), "stage=all", "epochs.coarse=1",
                 "epochs.fine=1", *data, *TINY_MODEL, *FAST]) == 0
    start_state = torch.load(start / "best.pt", weights_only=True)["model_state"]
    # steps that can only hurt: plain SGD at an absurd rate
    hurt = ["stage=all", "epochs.coarse=2", "epochs.fine=1", "optimizer=sgd", "lr.coarse=10",
            "lr.fine=10", "schedule=constant", f"init_from={start / 'best.pt'}", *data,
            *TINY_MODEL, *FAST]
    kept = tmp_path / "kept"
    assert main(["--config", str(CONFIG), "--out", str(kept), *hurt]) == 0
    rows = _rows(kept)
    assert [(r["stage"], r["epoch"]) for r in rows][:1] == [("coarse", "0")]
    assert ("fine", "0") in [(r["stage"], r["epoch"]) for r in rows]
    best = torch.load(kept / "best.pt", weights_only=True)
    assert best["metrics"]["epoch"] == 0  # no epoch beat the start
    for k, v in best["model_state"].items():
        assert torch.equal(v, start_state[k]), k
    # without the start's score the run hands back what the bad steps made
    lost = tmp_path / "lost"
    assert main(["--config", str(CONFIG), "--out", str(lost), "validate_start=false",
                 *hurt]) == 0
    assert "0" not in [r["epoch"] for r in _rows(lost)]
    got = torch.load(lost / "best.pt", weights_only=True)["model_state"]
    assert any(not torch.equal(v, start_state[k]) for k, v in got.items())


@pytest.mark.parametrize(
    "case",
    ["missing_file", "corrupt_file", "nan_depth", "empty_val", "official_on_small_file",
     "unwritable_out", "bad_key", "fine_without_coarse", "pretrained_missing",
     "pretrained_on_compact"],
)
def test_bad_input_is_one_clear_error(case: str, tmp_path: Path,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    mat = tmp_path / "nyu.mat"
    run = tmp_path / "run"
    extra = ["data.kind=nyuv2", f"data.path={mat}", "data.split=random",
             "data.val_fraction=0.25", "stage=coarse", "epochs.coarse=1"]
    expect = ""
    if case == "missing_file":
        expect = "does not exist"
    elif case == "corrupt_file":
        mat.write_bytes(b"\x89HDF\r\n" + bytes(range(256)) * 4)
        expect = "HDF5"
    elif case == "nan_depth":
        write_nyu_file(mat, n=4, nan_item=1)
        expect = "NaN"
    elif case == "empty_val":
        write_nyu_file(mat, n=4)
        extra.append("data.val_fraction=0")
        expect = "validation split is empty"
    elif case == "official_on_small_file":
        write_nyu_file(mat, n=4)
        extra.append("data.split=official")
        expect = "1449"
    elif case == "unwritable_out":
        write_nyu_file(mat, n=4)
        blocker = tmp_path / "a_file"
        blocker.write_text("not a folder")
        run = blocker / "run"
        expect = "cannot write to run folder"
    elif case == "bad_key":
        extra.append("epochz.coarse=1")
        expect = "unknown config key epochz"
    elif case == "fine_without_coarse":
        write_nyu_file(mat, n=4)
        extra.append("stage=fine")
        expect = "needs coarse weights"
    elif case == "pretrained_missing":
        write_nyu_file(mat, n=4)
        extra.append(f"pretrained={tmp_path / 'vgg16.pth'}")
        expect = "do not exist"
    elif case == "pretrained_on_compact":
        write_nyu_file(mat, n=4)
        torch.save({"features.0.weight": torch.zeros(64, 3, 3, 3)}, tmp_path / "vgg16.pth")
        extra.append(f"pretrained={tmp_path / 'vgg16.pth'}")
        expect = "no ImageNet backbone"
    code = main(["--config", str(CONFIG), "--out", str(run), *extra, "batch_size=4",
                 *TINY_MODEL, *FAST])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert len(err) == 1 and err[0].startswith("error: ") and expect in err[0], err
    assert "Traceback" not in err[0]
    if run.exists():
        assert not list(run.glob("*.pt")), "no checkpoint may be written after bad input"


def test_config_overrides_are_typed_and_checked() -> None:
    cfg = load_config(CONFIG, ["epochs.fine=7", "lr.fine=1e-4", "lr_milestones.coarse=[3, 5]",
                               "augment.enabled=false", "data.synthetic_val_seed=99"])
    in_file = yaml.safe_load(CONFIG.read_text())["epochs"]["coarse"]
    assert cfg.epochs.fine == 7 and cfg.epochs.coarse == in_file  # the file's value is kept
    assert cfg.lr.fine == pytest.approx(1e-4) and cfg.lr_milestones.coarse == [3, 5]
    assert cfg.augment["enabled"] is False and cfg.data.synthetic_val_seed == 99
    with pytest.raises(ConfigError, match="stage must be one of"):
        load_config(CONFIG, ["stage=medium"])
    with pytest.raises(ConfigError, match="must be an integer"):
        load_config(CONFIG, ["epochs.coarse=two"])
    with pytest.raises(ConfigError, match="overlap|repeat"):
        load_config(CONFIG, ["data.synthetic_val_seed=0"])
    with pytest.raises(ConfigError, match="key=value"):
        load_config(CONFIG, ["epochs.coarse"])
    assert load_config(CONFIG, ["data.synthetic_close_fraction=0.5"]
                       ).data.synthetic_close_fraction == 0.5
    with pytest.raises(ConfigError, match="synthetic_close_fraction must be in"):
        load_config(CONFIG, ["data.synthetic_close_fraction=2"])
    assert load_config(CONFIG, ["data.synthetic_close_fraction=0.5",
                                "data.synthetic_table_fraction=0.3"]
                       ).data.synthetic_table_fraction == 0.3
    with pytest.raises(ConfigError, match="synthetic_table_fraction must be in"):
        load_config(CONFIG, ["data.synthetic_close_fraction=0.5",
                             "data.synthetic_table_fraction=0.6"])


def test_param_groups_cover_each_stage_once_with_paper_rates() -> None:
    from depth_estimation_ros.core.model import build_model
    from depth_training.optim import lr_factor, param_groups

    cfg = load_config(CONFIG, ["lr.coarse=0.01", "lr_mult.scale1_features=0.1",
                               "lr_mult.scale1_head=10", "lr_mult.first_last=0.1"])
    for variant in ("compact", "eigen_vgg16"):
        model = build_model(variant) if variant == "compact" else None
        if model is None:  # the VGG model is large: build it small through its config
            from depth_estimation_ros.core.model import ModelConfig

            model = build_model(ModelConfig(fc_hidden=8, coarse_channels=4))
        groups = {g["name"]: g for g in param_groups(model, "coarse", cfg)}
        assert groups["scale1_features"]["lr"] == pytest.approx(0.001)
        assert groups["scale1_head"]["lr"] == pytest.approx(0.1)
        assert groups["scale2_first_last"]["lr"] == pytest.approx(0.001)
        assert groups["scale2_inner"]["lr"] == pytest.approx(0.01)
        ids = [id(p) for g in groups.values() for p in g["params"]]
        assert len(ids) == len(set(ids)) == len(list(model.coarse_parameters()))
        # first/last of scale 2: the 9×9 image conv and the conv that outputs depth
        assert {p.shape for p in groups["scale2_first_last"]["params"]} == {
            model.scale2.image[0].weight.shape, model.scale2.image[0].bias.shape,
            model.scale2.refine[-1].weight.shape, model.scale2.refine[-1].bias.shape}
        fine = param_groups(model, "fine", cfg)
        fine_ids = {id(p) for g in fine for p in g["params"]}
        assert fine_ids == {id(p) for p in model.fine_parameters()}

    step = load_config(CONFIG, ["schedule=step", "lr_milestones.coarse=[2, 4]", "lr_decay=0.5"])
    assert [lr_factor(step, "coarse", e) for e in (0, 1.9, 2, 4.5)] == [1, 1, 0.5, 0.25]
    cos = load_config(CONFIG, ["schedule=cosine", "epochs.coarse=4"])
    assert lr_factor(cos, "coarse", 0) == 1.0 and lr_factor(cos, "coarse", 4) == pytest.approx(0)
    assert lr_factor(cos, "coarse", 2) == pytest.approx(0.5)


def test_mid_epoch_resume_skips_the_batches_already_trained(tmp_path: Path) -> None:
    from torch.utils.data import DistributedSampler

    from depth_training.datasets.splits import make_split

    # 5 images: 1 validation, 4 training; batch 1 -> 4 steps per epoch
    train_idx = make_split("random", 5, seed=0, val_fraction=0.2).train
    sampler = DistributedSampler(range(4), num_replicas=1, rank=0, shuffle=True, seed=0)
    sampler.set_epoch(0)
    third = int(train_idx[list(sampler)[2]])  # the file item of the epoch's third step
    mat = write_nyu_file(tmp_path / "nyu.mat", n=5, nan_item=third)
    run = tmp_path / "run"
    argv = ["--config", str(CONFIG), "--out", str(run), "stage=coarse", "epochs.coarse=1",
            "data.kind=nyuv2", f"data.path={mat}", "data.split=random",
            "data.val_fraction=0.2", "batch_size=1", "save_every_steps=1", "augment.enabled=false",
            *TINY_MODEL, *FAST]
    assert main(argv) == 2  # the bad item stops the run in the middle of the epoch
    mid = torch.load(run / "last.pt", weights_only=True)
    assert mid["training"]["step"] == 2
    assert mid["training"]["run_state"]["stages"]["coarse"]["step_in_epoch"] == 2
    write_nyu_file(mat, n=5)  # the data is fixed; resume finishes the epoch
    assert main(["--out", str(run), "--resume"]) == 0
    last = torch.load(run / "last.pt", weights_only=True)
    assert last["training"]["step"] == 4 and last["training"]["epoch"] == 1
    assert [(r["epoch"], r["step"]) for r in _rows(run)] == [("1", "4")]


def test_time_limit_ends_the_stage_mid_epoch_and_anneals(tmp_path: Path) -> None:
    from depth_training.optim import lr_factor

    cos = load_config(CONFIG, ["schedule=cosine", "epochs.coarse=4"])
    assert lr_factor(cos, "coarse", 0.4, time_fraction=0.5) == pytest.approx(0.5)
    assert lr_factor(cos, "coarse", 0.4, time_fraction=1.0) == pytest.approx(0.0)
    run = tmp_path / "run"
    # 1e-5 min = 0.6 ms: the limit is hit within the first epoch (of 3 × 2 steps); that
    # partial epoch is validated although val_every would skip it, so best.pt exists
    assert main(["--config", str(CONFIG), "--out", str(run), "stage=coarse", "epochs.coarse=3",
                 "val_every=2", "time_limit_min.coarse=1e-5", *_synthetic(), *TINY_MODEL,
                 *FAST]) == 0
    rows = _rows(run)
    assert len(rows) == 1 and rows[0]["epoch"] == "1" and int(rows[0]["step"]) < 2
    assert np.isfinite(float(rows[0]["val_loss"])) and (run / "best.pt").is_file()
    st = torch.load(run / "last.pt", weights_only=True)["training"]["run_state"]
    assert st["stages"]["coarse"]["stopped_early"] is True


def test_pretrained_vgg16_initialises_scale1(tmp_path: Path) -> None:
    from depth_estimation_ros.core.model import ModelConfig, build_model

    # a torchvision-layout VGG16 state dict ("features.N.weight"), here of constant values
    own = build_model(ModelConfig(fc_hidden=8, coarse_channels=4)).scale1.features
    state = {f"features.{k}": torch.full_like(v, 0.01) for k, v in own.state_dict().items()}
    torch.save(state, tmp_path / "vgg16.pth")
    mat = write_nyu_file(tmp_path / "nyu.mat", n=2)
    run = tmp_path / "run"
    assert main(["--config", str(CONFIG), "--out", str(run), "stage=coarse", "epochs.coarse=1",
                 "model.variant=eigen_vgg16", "model.fc_hidden=8", "model.coarse_channels=4",
                 "model.scale2_channels=8", "model.scale3_channels=8",
                 f"pretrained={tmp_path / 'vgg16.pth'}", "optimizer=sgd", "lr.coarse=1e-9",
                 "data.kind=nyuv2", f"data.path={mat}", "data.split=random",
                 "data.val_fraction=0.5", "batch_size=1", "eval_batch_size=1", *FAST]) == 0
    got = torch.load(run / "last.pt", weights_only=True)["model_state"]
    for k in state:
        assert torch.allclose(got[f"scale1.{k}"], state[k], atol=1e-6), k


def test_shipped_compact_weights_are_a_full_frame_compact_checkpoint() -> None:
    from depth_estimation_ros.core.estimator import DepthEstimator
    from depth_estimation_ros.core.model import PreprocessConfig
    from depth_training.init_weights import init_path

    path = Path(__file__).resolve().parents[1] / "depth_estimation_ros" / "weights" / (
        "compact_synthetic.pt")
    assert init_path(TrainConfig(init_from="shipped_compact")) == path
    assert path.stat().st_size <= 20 * 1024 * 1024
    ckpt = torch.load(path, weights_only=True)
    assert ckpt["model_config"]["variant"] == "compact"
    # the renderer's NYU Kinect camera at 320x240, resized to the 304x228 input
    assert ckpt["preprocess"] == dataclasses.replace(
        PreprocessConfig.full_frame(), focal_length=518.8579 * 304 / 640).to_dict()
    assert ckpt["training"]["stage"] == "fine" and "optimizer_state" not in ckpt
    assert ckpt["training"]["config"]["data"]["kind"] == "synthetic"
    est = DepthEstimator(path, device="cpu")
    rgb = np.random.default_rng(3).integers(0, 255, size=(48, 64, 3), dtype=np.uint8)
    depth = est.estimate(rgb)
    assert depth.shape == (48, 64) and np.isfinite(depth).all()  # full frame: no NaN border
