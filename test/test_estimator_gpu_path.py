"""DepthEstimator fast path: device back-projection, CUDA graphs, torch.compile.

The CPU tests run everywhere; the CUDA ones skip without a GPU (run them on one with
``python -m pytest test/test_estimator_gpu_path.py -q``).
"""

import math

import numpy as np
import pytest
import torch

from depth_estimation_ros.camera import CameraIntrinsics, backproject
from depth_estimation_ros.checkpoint import save_checkpoint
from depth_estimation_ros.estimator import DepthEstimator
from depth_estimation_ros.model import PreprocessConfig, build_model

torch.set_num_threads(2)
needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(),
                                reason="needs a CUDA device (none on this machine)")


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    torch.manual_seed(0)
    model = build_model("compact")
    with torch.no_grad():  # a depth that varies over the frame, so range limits bite
        model.scale3.refine[-1].weight.normal_(0.0, 0.05)
    path = tmp_path_factory.mktemp("ckpt") / "compact.pt"
    return save_checkpoint(path, model, model_config=model.config,
                           preprocess=PreprocessConfig.paper())


@pytest.fixture(scope="module")
def cpu(checkpoint):
    return DepthEstimator(checkpoint, "cpu")


@pytest.fixture(scope="module")
def picture():
    rng = np.random.default_rng(1)
    return np.kron(rng.integers(0, 255, (24, 32, 3), dtype=np.uint8),
                   np.ones((20, 20, 1), dtype=np.uint8))  # 480×640 blocks


def _split_range(depth):
    """A [min, max] range that cuts through the predicted depths."""
    lo, hi = np.nanpercentile(depth, [30, 80])
    return float(lo), float(hi)


@pytest.mark.parametrize("output,decimation", [("input", 1), ("input", 3), ("native", 2)])
def test_points_equal_camera_backproject_on_cpu(cpu, picture, output, decimation):
    k = CameraIntrinsics.nyu_kinect(640, 480)
    lo, hi = _split_range(cpu.estimate(picture, "rgb8", output))
    depth, xyz = cpu.estimate_with_points(picture, "rgb8", output, k, decimation, lo, hi)
    np.testing.assert_array_equal(depth, cpu.estimate(picture, "rgb8", output))
    expected = backproject(depth, cpu.depth_intrinsics(k, output), decimation, lo, hi)
    assert xyz.shape == expected.shape and xyz.dtype == np.float32
    np.testing.assert_array_equal(xyz, expected)  # bit for bit, NaN where invalid
    invalid = np.isnan(xyz[..., 2])
    assert 0.0 < invalid.mean() < 1.0  # the range limits did cut some points


def test_points_accept_depth_image_intrinsics(cpu, picture):
    k = CameraIntrinsics.nyu_kinect(640, 480)
    native = cpu.depth_intrinsics(k, "native")
    a = cpu.estimate_with_points(picture, "bgr8", "native", k)
    b = cpu.estimate_with_points(picture, "bgr8", "native", native)
    np.testing.assert_array_equal(a[1], b[1])
    assert a[1].shape == (109, 147, 3)


@pytest.mark.parametrize("kwargs,match", [
    ({"intrinsics": CameraIntrinsics.nyu_kinect(320, 240)}, "match neither"),
    ({"decimation": 0}, "decimation"),
    ({"min_range": 5.0, "max_range": 1.0}, "range"),
    ({"output": "half"}, "output"),
])
def test_points_bad_arguments(cpu, picture, kwargs, match):
    args = {"encoding": "rgb8", "output": "input",
            "intrinsics": CameraIntrinsics.nyu_kinect(640, 480), **kwargs}
    with pytest.raises(ValueError, match=match):
        cpu.estimate_with_points(picture, **args)


def test_cuda_graphs_fall_back_to_eager_on_cpu(checkpoint, cpu, picture):
    est = DepthEstimator(checkpoint, "cpu", cuda_graphs=True)
    assert not est.cuda_graphs and "CUDA graphs" not in est.describe()
    np.testing.assert_array_equal(est.estimate(picture), cpu.estimate(picture))


def test_bfloat16_on_cpu_agrees_with_fp32(checkpoint, cpu, picture):
    est = DepthEstimator(checkpoint, "cpu", bfloat16=True)
    assert est.precision == "bf16" and not est.half and "bf16" in est.describe()
    fp32 = cpu.estimate(picture)
    bf16 = est.estimate(picture)
    assert np.array_equal(np.isnan(fp32), np.isnan(bf16))
    np.testing.assert_allclose(bf16, fp32, rtol=3e-2)  # 8-bit mantissa: ~1 % in metres
    with pytest.raises(ValueError, match="alternatives"):
        DepthEstimator(checkpoint, "cpu", half=True, bfloat16=True)


def test_graphs_and_compile_are_exclusive(checkpoint):
    with pytest.raises(ValueError, match="alternatives"):
        DepthEstimator(checkpoint, "cpu", cuda_graphs=True, compile_mode="default")


@needs_cuda
def test_cuda_graphs_match_eager(checkpoint, picture):
    eager = DepthEstimator(checkpoint, "cuda")
    graphed = DepthEstimator(checkpoint, "cuda", cuda_graphs=True)
    assert graphed.cuda_graphs and "CUDA graphs" in graphed.describe()
    other = np.ascontiguousarray(picture[::-1])
    for frame in (picture, other, picture):  # replays overwrite the static buffers
        np.testing.assert_allclose(graphed.estimate(frame), eager.estimate(frame),
                                   rtol=1e-3, atol=1e-3)
    batch = graphed.estimate_batch([picture, other])  # a second graph, batch 2
    np.testing.assert_allclose(batch[1], eager.estimate(other), rtol=1e-3, atol=1e-3)


@needs_cuda
@pytest.mark.parametrize("graphs", [False, True])
def test_cuda_points_match_cpu_backproject(checkpoint, picture, graphs):
    gpu = DepthEstimator(checkpoint, "cuda", cuda_graphs=graphs)
    k = CameraIntrinsics.nyu_kinect(640, 480)
    depth, xyz = gpu.estimate_with_points(picture, "rgb8", "input", k, 2, 0.0, math.inf)
    expected = backproject(depth, k, 2)
    assert np.array_equal(np.isnan(xyz), np.isnan(expected))
    np.testing.assert_allclose(xyz, expected, rtol=1e-6, atol=1e-6)


@needs_cuda
def test_compiled_network_matches_eager(checkpoint, picture):
    eager = DepthEstimator(checkpoint, "cuda")
    compiled = DepthEstimator(checkpoint, "cuda", compile_mode="default")
    np.testing.assert_allclose(compiled.estimate(picture), eager.estimate(picture),
                               rtol=2e-3, atol=2e-3)
