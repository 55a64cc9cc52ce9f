"""The multi-scale network: shapes, finiteness, parameter count, staging."""

import pytest
import torch

from depth_estimation_ros.core.model import (
    VARIANTS,
    ModelConfig,
    PreprocessConfig,
    build_model,
    count_parameters,
)

torch.set_num_threads(2)


@pytest.fixture(scope="module")
def models():
    torch.manual_seed(0)
    return {v: build_model(v).eval() for v in VARIANTS}


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("size,coarse,fine", [
    ((228, 304), (55, 74), (109, 147)),  # the paper's input
    ((117, 161), None, None),  # odd sizes
    ((240, 320), None, None),
])
def test_output_shapes_and_finite(models, variant, size, coarse, fine):
    model = models[variant]
    x = torch.randn(2, 3, *size)
    with torch.inference_mode():
        c = model(x, stage="coarse")
        f = model(x, stage="fine")
    assert c.shape[:2] == (2, 1) and f.shape[:2] == (2, 1)
    if coarse is not None:
        assert tuple(c.shape[-2:]) == coarse
        assert tuple(f.shape[-2:]) == fine
    # fine is about twice the coarse resolution, whatever the input
    assert abs(f.shape[-1] - 2 * c.shape[-1]) <= 2 and abs(f.shape[-2] - 2 * c.shape[-2]) <= 2
    assert torch.isfinite(c).all() and torch.isfinite(f).all()


def _conv(k, cin, cout):
    return k * k * cin * cout + cout


def test_eigen_vgg16_parameter_count_matches_layer_table(models):
    vgg = [(3, 64), (64, 64), (64, 128), (128, 128), (128, 256), (256, 256), (256, 256),
           (256, 512), (512, 512), (512, 512), (512, 512), (512, 512), (512, 512)]
    scale1 = sum(_conv(3, a, b) for a, b in vgg)
    scale1 += 512 * 7 * 9 * 4096 + 4096  # full1: VGG map at 304×228 is 512×7×9
    scale1 += 4096 * 17024 + 17024  # full2: 64×14×19
    scale2 = _conv(9, 3, 96) + _conv(5, 160, 64) + 2 * _conv(5, 64, 64) + _conv(5, 64, 1)
    scale3 = _conv(9, 3, 64) + _conv(5, 65, 64) + _conv(5, 64, 64) + _conv(5, 64, 1)
    model = models["eigen_vgg16"]
    assert count_parameters(model.scale1) == scale1
    assert count_parameters(model.scale2) == scale2
    assert count_parameters(model.scale3) == scale3
    assert 216e6 < count_parameters(model) < 218e6  # "about 217 M"


def test_compact_is_small(models):
    assert count_parameters(models["compact"]) < 5e6


def test_scales_run_on_their_own_and_freeze(models):
    model = build_model("compact")
    x = torch.randn(1, 3, 228, 304)
    coarse = model.forward_coarse(x)
    fine = model.scale3(x, coarse.detach())
    assert fine.shape[-2:] == (109, 147)
    model.freeze_coarse()
    model.train()
    assert not model.scale1.training and not model.scale2.training and model.scale3.training
    assert all(not p.requires_grad for p in model.coarse_parameters())
    loss = model(x).mean()
    loss.backward()
    assert all(p.grad is None for p in model.coarse_parameters())
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in model.fine_parameters())


def test_unknown_stage_and_variant_are_rejected():
    with pytest.raises(ValueError, match="variant"):
        ModelConfig(variant="resnet")
    with pytest.raises(ValueError, match="stage"):
        build_model("compact")(torch.randn(1, 3, 228, 304), stage="medium")


def test_config_round_trip():
    cfg = ModelConfig.preset("compact")
    assert ModelConfig.from_dict(cfg.to_dict()) == cfg
    pre = PreprocessConfig.full_frame()
    assert PreprocessConfig.from_dict(pre.to_dict()) == pre
    with pytest.raises(ValueError, match="unknown"):
        ModelConfig.from_dict({**cfg.to_dict(), "extra": 1})
    with pytest.raises(ValueError, match="does not fit"):
        PreprocessConfig(resize_height=200)


def test_imagenet_vgg16_weights_load_into_scale1(models):
    from depth_estimation_ros.core.model import load_vgg16_features

    model = build_model("eigen_vgg16")
    # a torchvision-layout VGG16 state dict: features.{0,2,5,...,28}.{weight,bias} + classifier
    vgg = {f"features.{k}": v.clone() + 1.0 for k, v in model.scale1.features.state_dict().items()}
    vgg["classifier.0.weight"] = torch.zeros(4096, 25088)
    assert load_vgg16_features(model, vgg) == 26
    assert torch.equal(model.scale1.features[0].weight, vgg["features.0.weight"])
    assert torch.equal(model.scale1.features[28].bias, vgg["features.28.bias"])
    with pytest.raises(ValueError, match="not a torchvision VGG16"):
        load_vgg16_features(model, {"features.0.weight": vgg["features.0.weight"]})
    with pytest.raises(ValueError, match="only eigen_vgg16"):
        load_vgg16_features(build_model("compact"), vgg)


@pytest.mark.parametrize("fields,match", [
    ({"input_height": 0}, "input_height is 0; expected 1..4096"),
    ({"input_width": -5}, "input_width is -5; expected 1..4096"),
    ({"input_height": 100000, "resize_height": 100000}, "resize_height is 100000"),
    ({"resize_width": 304.0}, "resize_width is 304.0; expected an integer"),
    ({"crop_top": True}, "crop_top is True; expected an integer"),
    ({"mean": float("nan")}, "mean is nan; expected a finite number"),
    ({"std": float("inf")}, "std is inf; expected a finite number"),
    ({"std": 0}, "std must be positive"),
    ({"min_depth": float("nan")}, "min_depth is nan"),
    ({"max_depth": float("inf")}, "max_depth is inf"),
    ({"min_depth": 0.0}, "need 0 < min_depth < max_depth"),
    ({"mean": "109"}, "mean is '109'; expected a finite number"),
])
def test_preprocess_config_rejects_unusable_values(fields, match):
    with pytest.raises(ValueError, match=match):
        PreprocessConfig.from_dict({**PreprocessConfig.full_frame().to_dict(), **fields})


def test_preprocess_config_accepts_its_presets_and_small_frames():
    assert PreprocessConfig.paper().input_width == 304
    assert PreprocessConfig.full_frame().crop_top == 0
    small = PreprocessConfig(resize_height=12, resize_width=16, crop_top=1, crop_left=2,
                             input_height=10, input_width=12, mean=100, std=50)
    assert PreprocessConfig.from_dict(small.to_dict()) == small
    big = PreprocessConfig(resize_height=4096, resize_width=4096, crop_top=0, crop_left=0,
                           input_height=4096, input_width=4096)
    assert big.input_height == 4096
