"""Export: a compact checkpoint to ONNX and TorchScript, checked against PyTorch."""

import json

import numpy as np
import pytest
import torch

from depth_estimation_ros.core.checkpoint import model_from_checkpoint, save_checkpoint
from depth_estimation_ros.core.export import export, sample_inputs
from depth_estimation_ros.core.model import PreprocessConfig, build_model
from depth_estimation_ros.export import main

# Optional extra: skip with the reason, never fail or skip at import. On a ROS install
# launch_testing's pytest plugin imports every test module while collecting the directory:
# an ImportError there stops all collection, and a module-level pytest.skip /
# pytest.importorskip skips every test in the directory.
try:
    import onnx
    import onnxruntime as ort
except ImportError as exc:
    onnx = ort = None
    _MISSING = exc.name
else:
    _MISSING = None
pytestmark = pytest.mark.skipif(
    _MISSING is not None,
    reason=f"{_MISSING} is not installed (an optional extra: pip install -e '.[export]')")

torch.set_num_threads(2)


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    torch.manual_seed(0)
    model = build_model("compact")
    with torch.no_grad():  # make the output vary over the image, like a trained model's
        model.scale3.refine[-1].weight.normal_(0.0, 0.05)
    return save_checkpoint(tmp_path_factory.mktemp("ckpt") / "compact_test.pt", model,
                           model_config=model.config, preprocess=PreprocessConfig.paper())


@pytest.fixture(scope="module")
def exported(checkpoint, tmp_path_factory):
    out = tmp_path_factory.mktemp("export")
    checks = export(checkpoint, out, ("onnx", "torchscript"), dynamic_batch=True)
    return out, {c.format: c for c in checks}


@pytest.fixture(scope="module")
def reference(checkpoint):
    """PyTorch's metres for 3 frames, and the inputs."""
    net, _, pre = model_from_checkpoint(checkpoint, "cpu")
    x = sample_inputs(pre, 3, seed=5)
    with torch.inference_mode():
        return x, torch.exp(net(x)).numpy()


def test_checks_pass_and_files_exist(exported):
    out, checks = exported
    assert set(checks) == {"onnx", "torchscript"}
    for c in checks.values():
        assert c.ok and c.path.is_file() and c.path.parent == out
        assert c.max_abs_diff < 1e-4
    assert checks["onnx"].path.name == "compact_test.onnx"


def test_onnx_runtime_matches_pytorch_with_a_dynamic_batch(exported, reference):
    x, want = reference
    session = ort.InferenceSession(str(exported[1]["onnx"].path),
                                   providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == ["input"]
    got = session.run(["depth"], {"input": x.numpy()})[0]
    assert got.shape == (3, 1, 109, 147)
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)
    assert np.ptp(want) > 0.05  # the output varies: the comparison means something


def test_onnx_carries_preprocessing_metadata(exported):
    model = onnx.load(str(exported[1]["onnx"].path), load_external_data=False)
    props = {p.key: p.value for p in model.metadata_props}
    pre = PreprocessConfig.paper()
    assert float(props["mean"]) == pre.mean and float(props["std"]) == pre.std
    assert (int(props["resize_height"]), int(props["crop_left"])) == (240, 8)
    assert props["output_units"] == "metres" and props["variant"] == "compact"
    assert float(props["focal_length"]) == pre.focal_length  # 0: this model's is unknown
    assert PreprocessConfig.from_dict(json.loads(props["preprocess"])) == pre


def test_torchscript_loads_and_matches(exported, reference):
    x, want = reference
    files = {"metadata.json": ""}
    loaded = torch.jit.load(str(exported[1]["torchscript"].path), _extra_files=files)
    with torch.inference_mode():
        got = loaded(x).numpy()
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    assert json.loads(files["metadata.json"])["output_units"] == "metres"


def test_cli_prints_diff_and_exit_status(checkpoint, exported, tmp_path, capsys):
    assert main(["--checkpoint", str(checkpoint), "--out", str(tmp_path / "a"),
                 "--formats", "torchscript"]) == 0
    line = capsys.readouterr().out
    assert "torchscript:" in line and "matches PyTorch" in line and "max abs diff" in line
    if exported[1]["onnx"].max_abs_diff == 0.0:
        pytest.skip("ONNX Runtime reproduced PyTorch bit for bit; no mismatch to provoke")
    # zero tolerance: ONNX Runtime's float rounding differs from PyTorch's -> exit 1
    assert main(["--checkpoint", str(checkpoint), "--out", str(tmp_path / "b"),
                 "--formats", "onnx", "--rtol", "0", "--atol", "0"]) == 1
    assert "DOES NOT match" in capsys.readouterr().out


@pytest.mark.parametrize("args,match", [
    (["--formats", "tflite"], "formats"),
    (["--checkpoint", "/nonexistent/x.pt"], "does not exist"),
])
def test_cli_bad_input(tmp_path, capsys, args, match):
    assert main(["--out", str(tmp_path)] + args) == 2
    assert match in capsys.readouterr().err
