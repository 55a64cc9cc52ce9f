"""Checkpoint blending (depth_training.blend): interpolation, module swaps, refusals, the CLI."""

from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import make_compact_checkpoint

from depth_estimation_ros.core.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from depth_estimation_ros.core.estimator import DepthEstimator
from depth_estimation_ros.core.model import PreprocessConfig, build_model
from depth_estimation_ros.core.pretrained import sha256_of
from depth_training.blend import BlendError, blend_checkpoints, blend_states, main

torch.set_num_threads(2)


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """Two compact checkpoints of one architecture with different weights and BN statistics."""
    root = tmp_path_factory.mktemp("blend")
    a = make_compact_checkpoint(root / "a.pt", seed=1)
    b = root / "b.pt"
    torch.manual_seed(2)
    model = build_model("compact")
    with torch.no_grad():  # running statistics that differ from A's defaults
        for module in model.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.running_mean.uniform_(-1.0, 1.0)
                module.running_var.uniform_(0.5, 2.0)
                module.num_batches_tracked.fill_(7)
    save_checkpoint(b, model, model_config=model.config, preprocess=PreprocessConfig.paper(),
                    training={"pretrained": {"sha256": "x"}}, metrics={"delta1": 0.9})
    return a, b


def _state(path: Path) -> dict[str, torch.Tensor]:
    return load_checkpoint(path)["model_state"]


def test_alpha_zero_one_and_half_are_a_b_and_the_midpoint(pair, tmp_path):
    a, b = pair
    sa, sb = _state(a), _state(b)
    floats = [k for k, v in sa.items() if v.is_floating_point()]
    assert any("running_mean" in k for k in floats)  # BatchNorm statistics are blended too
    for alpha, expect in ((0.0, sa), (1.0, sb)):
        out = _state(blend_checkpoints(a, b, alpha, tmp_path / f"{alpha}.pt"))
        for k in floats:
            torch.testing.assert_close(out[k], expect[k], rtol=0, atol=1e-7)
    mid = _state(blend_checkpoints(a, b, 0.5, tmp_path / "mid.pt"))
    for k in floats:
        torch.testing.assert_close(mid[k], (sa[k] + sb[k]) / 2, rtol=1e-6, atol=1e-7)
    assert not torch.equal(mid[floats[0]], sa[floats[0]])
    counters = [k for k, v in sa.items() if not v.is_floating_point()]
    assert counters and all(torch.equal(mid[k], sa[k]) for k in counters)  # A's, not averaged
    assert any(not torch.equal(sa[k], sb[k]) for k in counters)


def test_modules_blend_only_their_tensors(pair, tmp_path):
    a, b = pair
    sa, sb = _state(a), _state(b)
    out = _state(blend_checkpoints(a, b, 1.0, tmp_path / "swap.pt", modules=["scale2"]))
    for k, v in out.items():
        if not v.is_floating_point():
            continue
        assert torch.equal(v, sb[k] if k.startswith("scale2.") else sa[k]), k
    # a prefix is a whole dotted module: "scale1" does not take "scale1x..."
    state = {"scale1.w": torch.zeros(2), "scale1x.w": torch.zeros(2)}
    other = {k: torch.ones(2) for k in state}
    mixed = blend_states(state, other, 1.0, ["scale1"])
    assert mixed["scale1.w"].eq(1).all() and mixed["scale1x.w"].eq(0).all()


def test_the_blend_is_a_working_checkpoint_that_names_its_sources(pair, tmp_path):
    a, b = pair
    path = blend_checkpoints(a, b, 0.25, tmp_path / "blend.pt")
    ckpt = load_checkpoint(path)
    record = ckpt["training"]["blend"]
    assert record["a_sha256"] == sha256_of(a) and record["b_sha256"] == sha256_of(b)
    assert record["alpha"] == 0.25 and record["modules"] == "all"
    assert ckpt["metrics"] == {}  # B's validation figures are not the blend's
    assert "pretrained" not in ckpt["training"]  # the two disagree on their ImageNet file
    depth = DepthEstimator(path, device="cpu").estimate(
        np.full((120, 160, 3), 128, np.uint8), "rgb8", "input")
    assert depth.shape == (120, 160) and np.isfinite(depth[30:90, 40:120]).all()
    assert [p.name for p in tmp_path.iterdir()] == ["blend.pt"]  # no temporary left behind


def test_different_architectures_or_preprocessing_are_refused(pair, tmp_path):
    a, _ = pair
    mobile = build_model("mobilenet_v2")
    m_path = save_checkpoint(tmp_path / "mobile.pt", mobile, model_config=mobile.config,
                             preprocess=PreprocessConfig.paper())
    with pytest.raises(BlendError, match="model_config 'variant'.*'compact' against "
                                         "'mobilenet_v2'"):
        blend_checkpoints(a, m_path, 0.5, tmp_path / "x.pt")
    other = make_compact_checkpoint(tmp_path / "full.pt",
                                    preprocess=PreprocessConfig.full_frame())
    with pytest.raises(BlendError, match="differ in preprocess"):
        blend_checkpoints(a, other, 0.5, tmp_path / "x.pt")
    assert not (tmp_path / "x.pt").exists()


@pytest.mark.parametrize("alpha", [-0.1, 1.5, float("nan")])
def test_alpha_outside_zero_one_is_refused(pair, tmp_path, alpha):
    a, b = pair
    with pytest.raises(BlendError, match=r"alpha must be a number in \[0, 1\]"):
        blend_checkpoints(a, b, alpha, tmp_path / "x.pt")


def test_bad_modules_outputs_and_files_get_their_sentence(pair, tmp_path):
    a, b = pair
    with pytest.raises(BlendError, match="module 'scale9' names no tensor.*scale1"):
        blend_checkpoints(a, b, 1.0, tmp_path / "x.pt", modules=["scale9"])
    with pytest.raises(BlendError, match="is one of the inputs"):
        blend_checkpoints(a, b, 0.5, a)
    with pytest.raises(CheckpointError, match="does not exist"):
        blend_checkpoints(a, tmp_path / "missing.pt", 0.5, tmp_path / "x.pt")
    with pytest.raises(BlendError, match="different tensors"):
        blend_states({"w": torch.zeros(1)}, {"v": torch.zeros(1)}, 0.5)
    with pytest.raises(BlendError, match=r"'w' is \(1,\) in A and \(2,\) in B"):
        blend_states({"w": torch.zeros(1)}, {"w": torch.zeros(2)}, 0.5)


def test_cli_writes_the_blend_and_prints_one_error_line(pair, tmp_path, capsys):
    a, b = pair
    main(["--a", str(a), "--b", str(b), "--alpha", "0.5", "--modules", "scale3",
          "--out", str(tmp_path / "cli.pt")])
    assert "wrote" in capsys.readouterr().out
    assert load_checkpoint(tmp_path / "cli.pt")["training"]["blend"]["modules"] == ["scale3"]
    with pytest.raises(SystemExit) as exc:
        main(["--a", str(a), "--b", str(b), "--alpha", "2", "--out", str(tmp_path / "y.pt")])
    assert str(exc.value).startswith("error: alpha must be") and "\n" not in str(exc.value)
