"""Checkpoints: round trip, weights_only loading, atomic writes, clear errors."""

import pytest
import torch

from depth_estimation_ros.core.checkpoint import (
    CheckpointError,
    load_checkpoint,
    model_from_checkpoint,
    save_checkpoint,
)
from depth_estimation_ros.core.model import ModelConfig, PreprocessConfig, build_model


@pytest.fixture()
def compact():
    torch.manual_seed(1)
    return build_model("compact").eval()


def _save(path, model, **kw):
    return save_checkpoint(path, model, model_config=model.config,
                           preprocess=PreprocessConfig.full_frame(), **kw)


def test_round_trip_rebuilds_identical_model(tmp_path, compact):
    opt = torch.optim.SGD(compact.parameters(), lr=0.1, momentum=0.9)
    compact(torch.randn(1, 3, 228, 304)).mean().backward()
    opt.step()
    path = _save(tmp_path / "m.pt", compact, training={"epoch": 3, "stage": "coarse"},
                 metrics={"delta1": torch.tensor(0.5)}, optimizer_state=opt.state_dict())
    raw = torch.load(path, weights_only=True)  # plain types only
    assert raw["training"] == {"epoch": 3, "stage": "coarse"}
    assert raw["metrics"] == {"delta1": 0.5}
    assert raw["optimizer_state"]["param_groups"][0]["lr"] == 0.1
    model, cfg, pre = model_from_checkpoint(path)
    assert cfg == compact.config and pre == PreprocessConfig.full_frame()
    x = torch.randn(1, 3, 228, 304)
    with torch.inference_mode():
        assert torch.equal(model(x), compact(x))
    assert not list(tmp_path.glob(".*tmp"))  # no temporary left behind


def test_half_storage_halves_file_and_loads_as_float32(tmp_path, compact):
    full = _save(tmp_path / "f.pt", compact)
    half = _save(tmp_path / "h.pt", compact, half=True)
    assert half.stat().st_size < 0.6 * full.stat().st_size
    model, _, _ = model_from_checkpoint(half)
    assert all(p.dtype == torch.float32 for p in model.parameters())
    x = torch.randn(1, 3, 228, 304)
    with torch.inference_mode():
        torch.testing.assert_close(model(x), compact(x), atol=2e-2, rtol=2e-2)


def test_missing_file_says_how_to_get_weights(tmp_path):
    with pytest.raises(CheckpointError, match="does not exist.*train"):
        load_checkpoint(tmp_path / "nope.pt")


def test_corrupt_file(tmp_path, compact):
    good = _save(tmp_path / "m.pt", compact)
    bad = tmp_path / "bad.pt"
    bad.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(CheckpointError, match="not a readable PyTorch file"):
        load_checkpoint(bad)
    (tmp_path / "text.pt").write_text("hello")
    with pytest.raises(CheckpointError, match="not a readable"):
        load_checkpoint(tmp_path / "text.pt")


def test_foreign_and_incompatible_files(tmp_path, compact):
    torch.save({"state_dict": compact.state_dict()}, tmp_path / "foreign.pt")
    with pytest.raises(CheckpointError, match="not a depth_estimation_ros checkpoint"):
        load_checkpoint(tmp_path / "foreign.pt")
    ckpt = torch.load(_save(tmp_path / "m.pt", compact), weights_only=True)
    ckpt["format_version"] = 99
    torch.save(ckpt, tmp_path / "future.pt")
    with pytest.raises(CheckpointError, match="format version 99"):
        load_checkpoint(tmp_path / "future.pt")
    ckpt["format_version"] = 1
    ckpt["model_config"] = ModelConfig.preset("compact").to_dict() | {"compact_width": 16}
    torch.save(ckpt, tmp_path / "mismatch.pt")
    with pytest.raises(CheckpointError, match="does not match a compact model"):
        model_from_checkpoint(tmp_path / "mismatch.pt")
    ckpt["model_config"] = {"variant": "transformer"}
    torch.save(ckpt, tmp_path / "variant.pt")
    with pytest.raises(CheckpointError, match="incompatible model or preprocess config"):
        model_from_checkpoint(tmp_path / "variant.pt")


def test_unwritable_destination_leaves_nothing(tmp_path, compact):
    with pytest.raises(CheckpointError, match="does not exist"):
        _save(tmp_path / "missing_dir" / "m.pt", compact)
    with pytest.raises(TypeError, match="plain types"):
        _save(tmp_path / "m.pt", compact, training={"obj": object()})
    assert list(tmp_path.iterdir()) == []


def test_optimizer_state_survives_with_integer_keys(tmp_path, compact):
    opt = torch.optim.Adam(compact.parameters(), lr=1e-3)
    compact(torch.randn(1, 3, 228, 304)).mean().backward()
    opt.step()
    path = _save(tmp_path / "m.pt", compact, optimizer_state=opt.state_dict())
    saved = torch.load(path, weights_only=True)["optimizer_state"]
    restored = torch.optim.Adam(compact.parameters(), lr=1e-3)
    restored.load_state_dict(saved)
    assert len(restored.state) == len(opt.state) > 0
    first = next(iter(opt.state))
    torch.testing.assert_close(restored.state[first]["exp_avg"], opt.state[first]["exp_avg"])


def test_state_values_must_be_tensors(tmp_path, compact):
    ckpt = torch.load(_save(tmp_path / "m.pt", compact), weights_only=True)
    first = next(iter(ckpt["model_state"]))
    ckpt["model_state"] = {k: 1 for k in ckpt["model_state"]}
    torch.save(ckpt, tmp_path / "ints.pt")
    match = f"model_state entry '{first}' of type int; expected a dict of parameter name"
    with pytest.raises(CheckpointError, match=match):
        load_checkpoint(tmp_path / "ints.pt")
    ckpt["path"] = "in-memory"
    with pytest.raises(CheckpointError, match=match):
        model_from_checkpoint(ckpt)  # an already loaded dict is checked too


def test_non_finite_weights_are_rejected(tmp_path, compact):
    ckpt = torch.load(_save(tmp_path / "m.pt", compact), weights_only=True)
    key = next(k for k, v in ckpt["model_state"].items() if v.is_floating_point())
    ckpt["model_state"][key] = ckpt["model_state"][key] * float("nan")
    torch.save(ckpt, tmp_path / "nan.pt")
    with pytest.raises(CheckpointError, match=f"NaN or infinite values in model_state entry "
                                              f"'{key}'"):
        model_from_checkpoint(tmp_path / "nan.pt")


@pytest.mark.parametrize("section,field,value,match", [
    ("preprocess", "input_height", 0, "preprocess input_height is 0; expected 1..4096"),
    ("preprocess", "mean", float("nan"), "preprocess mean is nan; expected a finite number"),
    ("preprocess", "resize_height", "big",
     "preprocess resize_height is 'big'; expected an integer"),
    ("preprocess", "resize_height", 100000,
     "preprocess resize_height is 100000; expected 1..4096"),
    ("preprocess", "std", 0.0, "std must be positive"),
    ("preprocess", "focal_length", -259.4,
     "preprocess focal_length is -259.4; expected a focal length > 0 pixels"),
    ("preprocess", "focal_length", float("inf"),
     "preprocess focal_length is inf; expected a finite number"),
    ("preprocess", "focal_length", "kinect",
     "preprocess focal_length is 'kinect'; expected a finite number"),
    ("model_config", "compact_width", 0, "model compact_width is 0; expected a positive integer"),
    ("model_config", "fc_hidden", "wide",
     "model fc_hidden is 'wide'; expected a positive integer"),
    ("model_config", "coarse_grid", [14],
     r"model coarse_grid is \(14,\); expected two positive integers"),
    ("model_config", "init_log_depth", float("nan"),
     "model init_log_depth is nan; expected a finite number"),
])
def test_bad_config_is_a_checkpoint_error(tmp_path, compact, section, field, value, match):
    ckpt = torch.load(_save(tmp_path / "m.pt", compact), weights_only=True)
    ckpt[section][field] = value
    torch.save(ckpt, tmp_path / "bad.pt")
    with pytest.raises(CheckpointError, match="incompatible model or preprocess config: "
                                              + match):
        model_from_checkpoint(tmp_path / "bad.pt")


def test_config_is_checked_against_the_weights_before_building(tmp_path, compact, monkeypatch):
    """A config describing another (possibly huge) network is rejected from the shapes alone,
    with the model built only on the meta device (nothing allocated)."""
    import depth_estimation_ros.core.checkpoint as checkpoint

    ckpt = torch.load(_save(tmp_path / "m.pt", compact), weights_only=True)
    ckpt["path"] = "wide.pt"
    ckpt["model_config"]["compact_width"] = 16  # the weights are for 32

    def meta_only(cfg):
        assert torch.empty(0).device.type == "meta", "a real model was built"
        return build_model(cfg)

    monkeypatch.setattr(checkpoint, "build_model", meta_only)
    with pytest.raises(CheckpointError, match=r"wide.pt does not match a compact model built "
                       r"from its own config \('scale1.features.0.weight' has shape "
                       r"\(32, 3, 3, 3\); the config needs \(16, 3, 3, 3\)\)"):
        model_from_checkpoint(ckpt)
