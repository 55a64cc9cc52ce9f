"""DSU feature-statistics noise (depth_training.style): what it changes, and when it acts."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from depth_estimation_ros.core.backbones import EfficientNetLite0Features, MobileNetV2Features
from depth_estimation_ros.core.model import build_model
from depth_training.config import load_config
from depth_training.errors import ConfigError
from depth_training.style import STYLE_POINTS, FeatureStyleNoise, perturb_statistics

ROOT = Path(__file__).resolve().parents[1]
MOBILE_CONFIG = ROOT / "depth_training" / "configs" / "synthetic_mobile.yaml"


def _normalised(x: torch.Tensor) -> torch.Tensor:
    mu = x.mean(dim=(2, 3), keepdim=True)
    return (x - mu) / (x.var(dim=(2, 3), keepdim=True) + 1e-6).sqrt()


def test_perturb_statistics_moves_the_channel_statistics_and_keeps_the_pattern():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(6, 5, 9, 11, generator=g) * torch.rand(6, 5, 1, 1, generator=g) * 3 + 2
    y = perturb_statistics(x, generator=torch.Generator().manual_seed(1))
    assert y.shape == x.shape and torch.isfinite(y).all()
    mx, my = x.mean(dim=(2, 3)), y.mean(dim=(2, 3))
    sx, sy = x.std(dim=(2, 3)), y.std(dim=(2, 3))
    assert (mx - my).abs().max() > 1e-2 and (sx - sy).abs().max() > 1e-2  # style moved
    # by about the batch's spread of each statistic, not more (|eps| < 6 sigma)
    assert ((mx - my).abs() <= 6 * mx.std(dim=0) + 1e-4).all()
    # the spatial pattern within each channel is the same up to a sign (sigma' may cross 0)
    a, b = _normalised(x), _normalised(y)
    same = torch.minimum((a - b).abs().amax(dim=(2, 3)), (a + b).abs().amax(dim=(2, 3)))
    assert same.max() < 1e-3
    # identical statistics across the batch leave nothing to draw from: unchanged
    flat = x[:1].repeat(4, 1, 1, 1)
    moved = perturb_statistics(flat, generator=torch.Generator().manual_seed(2))
    assert torch.allclose(moved, flat, atol=5e-2)
    # a batch of one has no spread: returned as is
    one = x[:1]
    assert perturb_statistics(one) is one


def _backbone_and_reference() -> tuple[MobileNetV2Features, torch.Tensor, torch.Tensor,
                                       torch.Tensor]:
    """A seeded backbone in eval mode, a batch of 4, and its clean (mid, deep) features."""
    torch.manual_seed(0)
    backbone = MobileNetV2Features()
    x = torch.randn(4, 3, 64, 64)
    backbone.eval()
    with torch.no_grad():
        ref_mid, ref_deep = backbone(x)
    return backbone, x, ref_mid, ref_deep


def _train_with_frozen_bn(backbone: torch.nn.Module) -> None:
    """freeze_backbone_bn: BatchNorm in eval, the rest training (so the hooks act)."""
    backbone.train()
    for m in backbone.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.eval()


def test_hooks_act_only_in_training_mode_and_come_off():
    backbone, x, ref_mid, ref_deep = _backbone_and_reference()
    noise = FeatureStyleNoise(backbone, p=1.0)
    with torch.no_grad():
        mid, deep = backbone(x)  # eval mode: no change
    assert torch.equal(mid, ref_mid) and torch.equal(deep, ref_deep) and noise.applied == 0
    _train_with_frozen_bn(backbone)
    with torch.no_grad():
        mid, _ = backbone(x)
    assert noise.applied == len(STYLE_POINTS["MobileNetV2Features"])
    assert not torch.allclose(mid, ref_mid, atol=1e-3)
    noise.remove()
    with torch.no_grad():
        mid, _ = backbone(x)
    assert torch.allclose(mid, ref_mid, atol=1e-5)  # BN in eval: the same function again
    off = FeatureStyleNoise(backbone, p=0.0)
    with torch.no_grad():
        backbone(x)
    assert off.applied == 0


def test_an_image_selection_perturbs_only_those_images_at_every_point():
    backbone, x, ref_mid, ref_deep = _backbone_and_reference()
    noise = FeatureStyleNoise(backbone, p=0.0)  # p is ignored while a selection is set
    _train_with_frozen_bn(backbone)
    noise.select(torch.tensor([True, False, True, False]))
    with torch.no_grad():
        mid, deep = backbone(x)
    assert noise.applied == len(STYLE_POINTS["MobileNetV2Features"])

    def moved(a: torch.Tensor, b: torch.Tensor) -> bool:  # relative: deep values are tiny
        return bool((a - b).abs().max() > 1e-3 * b.abs().max())

    for i, chosen in enumerate((True, False, True, False)):
        assert moved(deep[i], ref_deep[i]) == chosen and moved(mid[i], ref_mid[i]) == chosen
    noise.select(torch.zeros(4, dtype=torch.bool))  # none chosen: nothing happens
    with torch.no_grad():
        mid, _ = backbone(x)
    assert noise.applied == len(STYLE_POINTS["MobileNetV2Features"])
    assert torch.allclose(mid, ref_mid, atol=1e-5)
    noise.select(torch.ones(3, dtype=torch.bool))
    with pytest.raises(ValueError, match="3 entries for a batch of 4"):
        backbone(x)
    noise.select(None)  # back to p per point: 0 here
    with torch.no_grad():
        mid, _ = backbone(x)
    assert torch.allclose(mid, ref_mid, atol=1e-5)


def test_bad_probability_and_unsupported_backbone_are_refused():
    with pytest.raises(ValueError, match=r"feature_style_p must be in \[0, 1\]"):
        FeatureStyleNoise(MobileNetV2Features(), p=1.5)
    with pytest.raises(ValueError, match="no style points for EfficientNetLite0Features"):
        FeatureStyleNoise(EfficientNetLite0Features(), p=0.5)
    with pytest.raises(ConfigError, match=r"feature_style_p must be in \[0, 1\]"):
        load_config(MOBILE_CONFIG, ["feature_style_p=-0.1"])
    assert load_config(MOBILE_CONFIG, ["feature_style_p=0.5"]).feature_style_p == 0.5
    with pytest.raises(ConfigError, match="feature_style_target must be 'full' or 'scale', "
                                          "got 'shape'"):
        load_config(MOBILE_CONFIG, ["feature_style_target=shape"])
    with pytest.raises(ConfigError, match="feature_style_scale_weight must be > 0, got 0"):
        load_config(MOBILE_CONFIG, ["feature_style_scale_weight=0"])


TINY_RUN = ["stage=coarse", "epochs.coarse=1", "data.synthetic_train=4", "data.synthetic_val=2",
            "data.width=80", "data.height=60", "batch_size=2", "eval_batch_size=2",
            "augment.enabled=false", "progress=false", "tensorboard=false", "num_workers=0",
            "threads=1", "amp=off", "device=cpu"]


def test_training_with_feature_noise_runs_and_a_model_without_a_backbone_is_refused(tmp_path):
    from depth_training.train import Trainer, main

    run = tmp_path / "run"
    assert main(["--config", str(MOBILE_CONFIG), "--out", str(run), *TINY_RUN,
                 "feature_style_p=1.0"]) == 0
    ckpt = torch.load(run / "last.pt", weights_only=True)
    assert ckpt["training"]["config"]["feature_style_p"] == 1.0
    net = build_model("mobilenet_v2")
    net.load_state_dict(ckpt["model_state"])  # the checkpoint format is unchanged
    cfg = load_config(MOBILE_CONFIG, [*TINY_RUN, "model.variant=compact",
                                      "feature_style_p=0.5", f"out_dir={tmp_path / 'c'}"])
    with pytest.raises(ConfigError, match="feature_style_p needs an ImageNet backbone"):
        Trainer(cfg)


def test_scale_target_training_noises_images_and_trains(tmp_path):
    from depth_training.train import Trainer

    cfg = load_config(MOBILE_CONFIG, [*TINY_RUN, "data.synthetic_train=8", "batch_size=4",
                                      "feature_style_p=0.5", "feature_style_target=scale",
                                      f"out_dir={tmp_path / 'run'}"])
    torch.manual_seed(0)
    trainer = Trainer(cfg)
    trainer.run()
    assert trainer.style.applied > 0  # some batches had noised images
    # per image, about half of them (p = 0.5), not whole batches
    assert trainer.style.images_offered == 8
    assert 0 < trainer.style.images_selected < 8
    ckpt = torch.load(tmp_path / "run" / "last.pt", weights_only=True)
    assert ckpt["training"]["config"]["feature_style_target"] == "scale"
    assert all(torch.isfinite(v).all() for v in ckpt["model_state"].values()
               if v.is_floating_point())
