"""Tests for depth_training.evaluate and figures: a tiny NYU-layout file, real checkpoints."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch
from PIL import Image

from depth_estimation_ros.core.checkpoint import save_checkpoint
from depth_estimation_ros.core.estimator import DepthEstimator
from depth_estimation_ros.core.model import ModelConfig, PreprocessConfig, build_model
from depth_training.datasets.nyu import NYUv2Labeled
from depth_training.errors import EvaluationError
from depth_training.evaluate import main
from depth_training.evaluation import evaluate, predict_frames
from depth_training.figures import read_metrics_csv
from depth_training.make_nyu_like import write_nyu_layout_file
from depth_training.metrics import METRIC_KEYS, MetricAccumulator, eigen_mask

CONSTANT_DEPTH = 2.5  # metres predicted everywhere by the constant checkpoint
N_IMAGES = 2


@pytest.fixture(scope="module")
def nyu_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("data") / "nyu_like.mat"
    return write_nyu_layout_file(path, N_IMAGES, seed=0)  # 640×480, the real frame size


def _checkpoint(path: Path, constant: bool, pre: PreprocessConfig) -> Path:
    torch.manual_seed(0)
    cfg = ModelConfig.preset("compact")
    model = build_model(cfg)
    if constant:
        # scale 2's depth conv outputs its bias only and scale 3 starts as the identity,
        # so the network predicts ln(2.5) at every pixel
        last = model.scale2.refine[-1]
        torch.nn.init.zeros_(last.weight)
        torch.nn.init.constant_(last.bias, math.log(CONSTANT_DEPTH))
    path.parent.mkdir(parents=True, exist_ok=True)
    return save_checkpoint(path, model, model_config=cfg, preprocess=pre,
                           training={"config": {"seed": 0, "data": {"val_fraction": 0.5}}})


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A run folder with a constant-depth checkpoint and a metrics.csv with gaps."""
    run = tmp_path_factory.mktemp("run")
    _checkpoint(run / "best.pt", constant=True, pre=PreprocessConfig.paper())
    (run / "metrics.csv").write_text(
        "epoch,stage,step,train_loss,val_loss,lr,delta1,rmse\n"
        "0,coarse,10,0.90,0.80,0.01,0.30,1.5\n"
        "1,coarse,20,0.70,,0.01,,\n"  # a row without validation
        "2,coarse,30,0.60,0.55,0.001,0.45,1.2\n"
        "0,fine,40,0.50,0.50,0.001,0.50,1.1\n"
        "1,fine,50,0.45,0.48,0.001,0.52,1.0\n", encoding="utf-8")
    return run


def _args(ckpt: Path, data: Path, out: Path, *extra: str) -> list[str]:
    return ["--checkpoint", str(ckpt), "--data", str(data), "--out", str(out),
            "--device", "cpu", "--no-progress", *extra]


def test_evaluate_writes_table_metrics_and_figures(nyu_file: Path, run_dir: Path,
                                                   tmp_path: Path) -> None:
    out = tmp_path / "eval"
    main(_args(run_dir / "best.pt", nyu_file, out, "--split", "all", "--samples", "2"))
    names = {p.name for p in out.iterdir()}
    assert names == {"metrics.json", "results.md", "samples.png", "error_hist.png",
                     "training_curves.png"}
    doc = json.loads((out / "metrics.json").read_text())
    assert doc["n_images"] == N_IMAGES and doc["split"] == "all"
    assert doc["eval_crop"] == [45, 471, 41, 601] and doc["frame"] == [480, 640]
    # the paper crop covers rows 12:468 and cols 16:624 of 480×640: the Eigen crop's rows
    # 468:471 are outside it and edge-extended
    assert 0.0 < doc["extended_fraction"] < 0.02
    # a 2.5 m prediction everywhere: the metrics must equal those computed by hand here
    src = NYUv2Labeled(nyu_file)
    acc = MetricAccumulator("pixel")
    for i in range(N_IMAGES):
        gt = src.depth(i)
        acc.update(np.full_like(gt, CONSTANT_DEPTH), gt, eigen_mask(gt))
    expected = acc.compute()
    for k in METRIC_KEYS:
        assert doc["metrics"][k] == pytest.approx(expected[k], rel=1e-4), k
    assert doc["n_pixels"] == acc.n_pixels
    assert [p["index"] for p in doc["per_image"]] == list(range(N_IMAGES))

    md = (out / "results.md").read_text()
    for row in ("Eigen 2014 (coarse+fine)", "Eigen 2015 AlexNet", "Eigen 2015 VGG",
                "seed (labelled subset", f"ours (compact, all, {N_IMAGES} images)"):
        assert row in md
    rows = {line.split("|")[1].strip(): line for line in md.splitlines()
            if line.startswith("| ")}
    assert "0.769" in rows["Eigen 2015 VGG"] and "0.641" in rows["Eigen 2015 VGG"]
    assert f"{expected['rmse']:.3f}" in rows[f"ours (compact, all, {N_IMAGES} images)"]
    for fig in ("samples.png", "error_hist.png", "training_curves.png"):
        with Image.open(out / fig) as im:
            assert im.size[0] > 300 and im.size[1] > 200
        assert f"({fig})" in md


def test_random_split_follows_the_checkpoint(nyu_file: Path, run_dir: Path,
                                             tmp_path: Path) -> None:
    main(_args(run_dir / "best.pt", nyu_file, tmp_path / "r", "--split", "random",
               "--samples", "0"))
    doc = json.loads((tmp_path / "r" / "metrics.json").read_text())
    assert doc["n_images"] == 1 and doc["val_fraction"] == 0.5 and doc["split_seed"] == 0
    assert "samples.png" not in doc["figures"]


def test_synthetic_scenes_instead_of_a_file(run_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "syn"
    main(["--checkpoint", str(run_dir / "best.pt"), "--synthetic", "1", "--split", "all",
          "--out", str(out), "--device", "cpu", "--no-progress", "--samples", "1"])
    doc = json.loads((out / "metrics.json").read_text())
    assert doc["data"] == "synthetic:1:seed1000000" and doc["n_images"] == 1
    assert 0.0 < doc["metrics"]["delta1"] <= 1.0


def test_predictions_match_the_estimator(nyu_file: Path, tmp_path: Path) -> None:
    ckpt = _checkpoint(tmp_path / "random.pt", constant=False, pre=PreprocessConfig.paper())
    est = DepthEstimator(ckpt, device="cpu")
    src = NYUv2Labeled(nyu_file)
    rgb = src.image(1)
    ours = predict_frames(est, [rgb])
    assert ours.shape == (1, 480, 640) and np.isfinite(ours).all()
    ref = est.estimate(rgb)  # NaN outside the crop (rows 12:468, cols 16:624) and range
    ok = np.isfinite(ref)
    assert ok.sum() > 0.5 * 456 * 608 and not ok[:12].any() and not ok[:, :16].any()
    np.testing.assert_allclose(ours[0][ok], ref[ok], rtol=1e-5)
    # outside the crop: the prediction's edge row and column, extended
    np.testing.assert_array_equal(ours[0, :12], np.broadcast_to(ours[0, 12], (12, 640)))
    np.testing.assert_array_equal(ours[0, :, 623:], np.broadcast_to(ours[0, :, 623:624],
                                                                    (480, 17)))


def test_empty_split_is_an_error(nyu_file: Path, run_dir: Path) -> None:
    est = DepthEstimator(run_dir / "best.pt", device="cpu")
    with pytest.raises(EvaluationError, match="split is empty"):
        evaluate(est, NYUv2Labeled(nyu_file), [], progress=False)


def _bad_files(tmp: Path, good: Path) -> dict[str, Path]:
    corrupt = tmp / "corrupt.mat"
    corrupt.write_bytes(good.read_bytes()[:4096])
    wrong = tmp / "wrong.mat"
    with h5py.File(wrong, "w") as f:
        f.create_dataset("rgb", data=np.zeros((1, 3, 8, 6), np.uint8))
        f.create_dataset("depths", data=np.zeros((1, 8, 6), np.float32))
    nan = tmp / "nan.mat"
    nan.write_bytes(good.read_bytes())
    with h5py.File(nan, "r+") as f:
        f["depths"][1, 300, 200] = np.nan
    return {"missing": tmp / "missing.mat", "corrupt": corrupt, "wrong": wrong, "nan": nan}


@pytest.mark.parametrize("case, message", [
    ("missing", "does not exist"),
    ("corrupt", "truncated or corrupt"),
    ("wrong", "no 'images' dataset"),
    ("nan", r"depths\[1\] contains NaN"),
])
def test_bad_data_exits_with_one_line_and_no_outputs(
        case: str, message: str, nyu_file: Path, run_dir: Path, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    data = _bad_files(tmp_path, nyu_file)[case]
    out = tmp_path / "new" / "eval"
    with pytest.raises(SystemExit) as exc:
        main(_args(run_dir / "best.pt", data, out, "--split", "all"))
    text = str(exc.value.code)
    assert text.startswith("error: ") and "\n" not in text
    assert re.search(message, text), text
    assert not (tmp_path / "new").exists()  # nothing left behind


def test_other_bad_inputs(nyu_file: Path, run_dir: Path, tmp_path: Path) -> None:
    ckpt = run_dir / "best.pt"
    with pytest.raises(SystemExit, match="needs the 1449-image"):
        main(_args(ckpt, nyu_file, tmp_path / "o1", "--split", "official"))
    assert not (tmp_path / "o1").exists()
    with pytest.raises(SystemExit, match="does not exist"):
        main(_args(tmp_path / "nope.pt", nyu_file, tmp_path / "o2"))
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(SystemExit, match="not writable"):
        main(_args(ckpt, nyu_file, blocker / "eval", "--split", "all"))
    with pytest.raises(SystemExit, match="either --data or --synthetic"):
        main(_args(ckpt, nyu_file, tmp_path / "o4", "--synthetic", "2"))
    with pytest.raises(SystemExit, match="no data given"):
        main(["--checkpoint", str(ckpt), "--out", str(tmp_path / "o5")])
    assert not (tmp_path / "o4").exists() and not (tmp_path / "o5").exists()
    with pytest.raises(SystemExit, match="no metrics.csv"):
        main(_args(ckpt, nyu_file, tmp_path / "o3", "--split", "all", "--run-dir",
                   str(tmp_path)))
    # an existing output folder keeps its old results when a run fails
    out = tmp_path / "kept"
    out.mkdir()
    (out / "metrics.json").write_text("{}")
    with pytest.raises(SystemExit):
        main(_args(ckpt, tmp_path / "missing.mat", out, "--split", "all"))
    assert [p.name for p in out.iterdir()] == ["metrics.json"]


def test_metrics_csv_reader_handles_stages_and_gaps(run_dir: Path) -> None:
    cols = read_metrics_csv(run_dir / "metrics.csv")
    assert cols["x"].tolist() == [0, 1, 2, 3, 4]  # the fine stage continues after coarse
    assert math.isnan(cols["val_loss"][1]) and cols["stage"][3] == "fine"
    one_based = run_dir.parent / "one_based.csv"  # as train.py writes: epochs from 1 per stage
    one_based.write_text("epoch,stage,step,train_loss\n1,coarse,2,0.5\n2,coarse,4,0.4\n"
                         "1,fine,6,0.3\n", encoding="utf-8")
    assert read_metrics_csv(one_based)["x"].tolist() == [1, 2, 3]
