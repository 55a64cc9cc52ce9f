"""DepthEstimator fast path: device back-projection, CUDA graphs, torch.compile.

The CPU tests run everywhere; the CUDA ones skip without a GPU (run them on one with
``python -m pytest test/test_estimator_gpu_path.py -q``).
"""

import math

import numpy as np
import pytest
import torch

from depth_estimation_ros.core.camera import CameraIntrinsics, backproject
from depth_estimation_ros.core.checkpoint import save_checkpoint
from depth_estimation_ros.core.estimator import DepthEstimator
from depth_estimation_ros.core.model import PreprocessConfig, build_model
from depth_estimation_ros.core.pointcloud import (
    XYZ_FIELDS,
    XYZRGB_FIELDS,
    pack_cloud,
    unpack_cloud,
)

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


@pytest.mark.parametrize("output,decimation,limits", [
    ("input", 1, "split"), ("input", 3, "split"), ("native", 2, "split"),
    ("input", 1, (0.0, math.inf)), ("input", 2, (0.1, 10.0)), ("native", 1, (0.0, 3.0)),
    ("input", 1, (0.5, math.inf))])
def test_points_equal_camera_backproject_on_cpu(cpu, picture, output, decimation, limits):
    k = CameraIntrinsics.nyu_kinect(640, 480)
    reference = cpu.estimate(picture, "rgb8", output)
    lo, hi = _split_range(reference) if limits == "split" else limits
    depth, xyz = cpu.estimate_with_points(picture, "rgb8", output, k, decimation, lo, hi)
    np.testing.assert_array_equal(depth, reference)
    expected = backproject(depth, cpu.depth_intrinsics(k, output), decimation, lo, hi)
    assert xyz.shape == expected.shape and xyz.dtype == np.float32
    np.testing.assert_array_equal(xyz, expected)  # bit for bit, NaN where invalid
    if limits == "split":
        assert 0.0 < np.isnan(xyz[..., 2]).mean() < 1.0  # the range limits did cut points


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


def _as_encoding(rgb: np.ndarray, encoding: str) -> np.ndarray:
    if encoding == "bgr8":
        return np.ascontiguousarray(rgb[..., ::-1])
    if encoding == "rgba8":
        return np.concatenate([rgb, np.full(rgb.shape[:2] + (1,), 77, np.uint8)], axis=2)
    if encoding == "mono8":
        return np.ascontiguousarray(rgb[..., 1])
    return rgb


@pytest.mark.parametrize("encoding,output,decimation,colour", [
    ("rgb8", "input", 1, True), ("bgr8", "input", 3, True), ("rgba8", "native", 2, True),
    ("mono8", "input", 2, True), ("rgb8", "native", 1, False), ("bgr8", "input", 1, False),
])
def test_cloud_built_on_device_equals_host_pack(cpu, picture, encoding, output, decimation,
                                                colour):
    frame = _as_encoding(picture, encoding)
    k = CameraIntrinsics.nyu_kinect(640, 480)
    lo, hi = _split_range(cpu.estimate(frame, encoding, output))
    depth, cloud = cpu.estimate_with_cloud(frame, encoding, output, k, decimation, lo, hi,
                                           colour)
    ref_depth, xyz = cpu.estimate_with_points(frame, encoding, output, k, decimation, lo, hi)
    np.testing.assert_array_equal(depth, ref_depth)
    rgb = picture if encoding != "mono8" else np.repeat(frame[..., None], 3, axis=2)
    colours = cpu.colour_for_depth(rgb, output)[::decimation, ::decimation] if colour else None
    expected = pack_cloud(xyz, colours)
    assert (cloud.width, cloud.height) == (expected.width, expected.height)
    assert cloud.fields == (XYZRGB_FIELDS if colour else XYZ_FIELDS)
    assert (cloud.point_step, cloud.row_step) == (expected.point_step, expected.row_step)
    assert not cloud.is_dense and not cloud.is_bigendian
    assert cloud.data.tobytes() == expected.data.tobytes()  # NaN points and padding too
    points = unpack_cloud(cloud.data, cloud.fields, cloud.point_step, cloud.width,
                          cloud.height)
    assert 0.0 < np.isnan(points["z"]).mean() < 1.0  # the range limits did cut some points


def test_cloud_bad_arguments_are_checked_as_for_points(cpu, picture):
    with pytest.raises(ValueError, match="decimation"):
        cpu.estimate_with_cloud(picture, "rgb8", "input", CameraIntrinsics.nyu_kinect(640, 480),
                                decimation=0)


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


@pytest.mark.skipif(torch.cuda.device_count() < 2, reason="needs two CUDA devices")
def test_cuda_graphs_on_a_second_gpu(checkpoint, picture):
    # torch.cuda.graph's default capture stream is made once per process, on the GPU that
    # captured first: a graph for a second GPU must not be captured on it (it would be
    # empty, and every frame would get the probe's depth)
    other = np.ascontiguousarray(picture[::-1])
    for device in ("cuda:0", "cuda:1"):
        graphed = DepthEstimator(checkpoint, device, cuda_graphs=True)
        eager = DepthEstimator(checkpoint, device)
        for frame in (picture, other):
            np.testing.assert_allclose(graphed.estimate(frame), eager.estimate(frame),
                                       rtol=1e-3, atol=1e-3)


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
@pytest.mark.parametrize("graphs", [False, True])
def test_cuda_cloud_matches_cpu_pack(checkpoint, picture, graphs):
    gpu = DepthEstimator(checkpoint, "cuda", cuda_graphs=graphs)
    k = CameraIntrinsics.nyu_kinect(640, 480)
    depth, cloud = gpu.estimate_with_cloud(picture, "bgr8", "input", k, 2, 0.5, 8.0)
    expected = pack_cloud(backproject(depth, k, 2, 0.5, 8.0), picture[::2, ::2, ::-1])
    got = unpack_cloud(cloud.data, cloud.fields, 32, cloud.width, cloud.height)
    want = unpack_cloud(expected.data, expected.fields, 32, cloud.width, cloud.height)
    for name in ("x", "y", "z"):
        np.testing.assert_allclose(got[name], want[name], rtol=1e-6, atol=1e-6)
    # colour and padding bytes exactly
    a = cloud.data.reshape(-1, 32)[:, 12:]
    np.testing.assert_array_equal(a, expected.data.reshape(-1, 32)[:, 12:])


@needs_cuda
def test_compiled_network_matches_eager(checkpoint, picture):
    eager = DepthEstimator(checkpoint, "cuda")
    compiled = DepthEstimator(checkpoint, "cuda", compile_mode="default")
    np.testing.assert_allclose(compiled.estimate(picture), eager.estimate(picture),
                               rtol=2e-3, atol=2e-3)


@needs_cuda
def test_cuda_graphs_rescale_frame_by_frame(tmp_path, picture):
    # the focal scale is applied after the captured network, so it may change every frame
    torch.manual_seed(0)
    model = build_model("compact")
    pre = PreprocessConfig(**{**PreprocessConfig.paper().to_dict(), "focal_length": 259.43})
    path = save_checkpoint(tmp_path / "f0.pt", model, model_config=model.config,
                           preprocess=pre)
    eager = DepthEstimator(path, "cuda")
    graphed = DepthEstimator(path, "cuda", cuda_graphs=True)
    k = CameraIntrinsics.nyu_kinect(640, 480)
    plain = eager.estimate(picture)
    for s in (0.5, 1.5, 0.5):
        cam = CameraIntrinsics(k.fx * s, k.fy * s, k.cx, k.cy, 640, 480)
        np.testing.assert_allclose(graphed.estimate(picture, intrinsics=cam), plain * s,
                                   rtol=2e-3, atol=2e-3)
        depth, _ = graphed.estimate_with_cloud(picture, "rgb8", "input", cam, rescale=True)
        np.testing.assert_allclose(depth, plain * s, rtol=2e-3, atol=2e-3)
