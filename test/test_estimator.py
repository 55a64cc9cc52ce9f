"""DepthEstimator: encodings, sizes, batches, valid range, devices."""

import math

import numpy as np
import pytest
import torch

from depth_estimation_ros.core.camera import CameraIntrinsics
from depth_estimation_ros.core.checkpoint import CheckpointError, save_checkpoint
from depth_estimation_ros.core.estimator import DepthEstimator, resolve_device
from depth_estimation_ros.core.model import PreprocessConfig, build_model

torch.set_num_threads(2)


def _checkpoint(path, pre, bias=None):
    torch.manual_seed(0)
    model = build_model("compact")
    if bias is not None:  # force a constant log-depth output
        with torch.no_grad():
            model.scale2.refine[-1].weight.zero_()
            model.scale2.refine[-1].bias.fill_(bias)
    return save_checkpoint(path, model, model_config=model.config, preprocess=pre)


@pytest.fixture(scope="module")
def full_frame(tmp_path_factory):
    return DepthEstimator(_checkpoint(tmp_path_factory.mktemp("c") / "f.pt",
                                      PreprocessConfig.full_frame()), "cpu")


@pytest.fixture(scope="module")
def paper(tmp_path_factory):
    return DepthEstimator(_checkpoint(tmp_path_factory.mktemp("c") / "p.pt",
                                      PreprocessConfig.paper()), "cpu")


@pytest.fixture(scope="module")
def picture():
    rng = np.random.default_rng(0)
    img = rng.integers(0, 255, (48, 64, 3), dtype=np.uint8)
    # smooth it a little so it is picture-like at any resize
    return np.kron(img, np.ones((10, 10, 1), dtype=np.uint8))  # 480×640


def test_rgb_and_bgr_of_the_same_picture_agree(full_frame, picture):
    rgb = full_frame.estimate(picture, "rgb8")
    bgr = full_frame.estimate(np.ascontiguousarray(picture[:, :, ::-1]), "bgr8")
    rgba = full_frame.estimate(np.dstack([picture, np.full(picture.shape[:2], 7, np.uint8)]),
                               "rgba8")
    bgra = full_frame.estimate(np.dstack([picture[:, :, ::-1],
                                          np.zeros(picture.shape[:2], np.uint8)]), "bgra8")
    assert rgb.shape == (480, 640) and rgb.dtype == np.float32
    np.testing.assert_array_equal(rgb, bgr)
    np.testing.assert_array_equal(rgb, rgba)
    np.testing.assert_array_equal(rgb, bgra)


def test_mono8_equals_grey_rgb(full_frame, picture):
    grey = picture[:, :, 1]
    mono = full_frame.estimate(grey, "mono8")
    np.testing.assert_array_equal(mono, full_frame.estimate(np.dstack([grey] * 3), "rgb8"))
    assert not np.array_equal(mono, full_frame.estimate(picture))


def test_batch_equals_single(full_frame, picture):
    other = np.ascontiguousarray(picture[::-1])
    small = np.ascontiguousarray(picture[:101, :77])
    batch = full_frame.estimate_batch([picture, other, small])
    for frame, depth in zip([picture, other, small], batch, strict=True):
        np.testing.assert_allclose(depth, full_frame.estimate(frame), rtol=1e-5, atol=1e-5)
    assert batch[2].shape == (101, 77)


def test_native_and_input_resolution(full_frame, picture):
    native = full_frame.estimate(picture, output="native")
    assert native.shape == (109, 147) and full_frame.native_size == (147, 109)
    big = full_frame.estimate(picture, output="input")
    # the full-resolution depth is the native one upsampled: same overall level
    assert math.isclose(np.nanmean(big), np.nanmean(native), rel_tol=0.02)
    odd = full_frame.estimate(picture[:333, :517])
    assert odd.shape == (333, 517) and np.isfinite(odd).all()


def test_paper_crop_leaves_uncovered_border_nan(paper, picture):
    depth = paper.estimate(picture)
    r = paper.output_region(640, 480)
    assert (r.left, r.top, r.width, r.height) == (16, 12, 608, 456)
    inside = depth[r.top: r.top + r.height, r.left: r.left + r.width]
    assert np.isfinite(inside).all()
    assert np.isnan(depth[: r.top]).all() and np.isnan(depth[:, r.left + r.width:]).all()


def test_depth_outside_valid_range_is_nan(tmp_path, picture):
    far = DepthEstimator(_checkpoint(tmp_path / "far.pt", PreprocessConfig.full_frame(),
                                     bias=math.log(50.0)), "cpu")
    assert np.isnan(far.estimate(picture)).all()
    mid = DepthEstimator(_checkpoint(tmp_path / "mid.pt", PreprocessConfig.full_frame(),
                                     bias=math.log(3.0)), "cpu")
    d = mid.estimate(picture)
    assert np.isfinite(d).all()
    np.testing.assert_allclose(d, 3.0, rtol=1e-4)  # a constant prediction, exactly in metres


def test_depth_intrinsics_follow_the_output(paper):
    k = CameraIntrinsics.nyu_kinect(640, 480)
    assert paper.depth_intrinsics(k, "input") == k
    n = paper.depth_intrinsics(k, "native")
    assert (n.width, n.height) == (147, 109)
    # the principal point moves with the crop, then scales with the resize
    assert math.isclose(n.cx, (k.cx - 16) * 147 / 608, rel_tol=1e-9)
    assert math.isclose(n.fy, k.fy * 109 / 456, rel_tol=1e-9)
    rgb = np.zeros((480, 640, 3), np.uint8)
    assert paper.colour_for_depth(rgb, "native").shape == (109, 147, 3)


@pytest.mark.parametrize("image,encoding,match", [
    (np.zeros((10, 10, 3), np.uint8), "yuv422", "not supported"),
    (np.zeros((10, 10, 4), np.uint8), "rgb8", "does not match encoding"),
    (np.zeros((10, 10, 3), np.float32), "rgb8", "dtype"),
    (np.zeros((1, 10, 3), np.uint8), "rgb8", "too small"),
])
def test_bad_images_rejected(full_frame, image, encoding, match):
    with pytest.raises(ValueError, match=match):
        full_frame.estimate(image, encoding)


def test_device_resolution():
    assert resolve_device("cpu").type == "cpu"
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    with pytest.raises(ValueError, match="not understood"):
        resolve_device("gpu0")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA is not available"):
            resolve_device("cuda:0")


def test_missing_checkpoint_is_a_clear_error(tmp_path):
    with pytest.raises(CheckpointError, match="does not exist"):
        DepthEstimator(tmp_path / "none.pt", "cpu")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_fp16_agrees_with_cpu(tmp_path, picture):
    path = _checkpoint(tmp_path / "c.pt", PreprocessConfig.paper())
    cpu = DepthEstimator(path, "cpu").estimate(picture)
    gpu = DepthEstimator(path, "cuda")
    assert gpu.half and gpu.channels_last
    out = gpu.estimate(picture)
    assert np.array_equal(np.isnan(cpu), np.isnan(out))
    np.testing.assert_allclose(out, cpu, rtol=1e-2, atol=1e-2)
    fp32 = DepthEstimator(path, "cuda", half=False, channels_last=False).estimate(picture)
    np.testing.assert_allclose(fp32, cpu, rtol=1e-4, atol=1e-4)


def test_unmasked_output_extends_the_edge_for_evaluation(paper, picture):
    masked = paper.estimate(picture)
    raw = paper.estimate_batch([picture], mask_invalid=False)[0]
    assert np.isfinite(raw).all()
    r = paper.output_region(640, 480)
    inside = (slice(r.top, r.top + r.height), slice(r.left, r.left + r.width))
    np.testing.assert_array_equal(raw[inside], masked[inside])
    np.testing.assert_array_equal(raw[0, r.left: r.left + r.width], raw[r.top, r.left:
                                                                        r.left + r.width])


def _masked_reference(est, native, width, height):
    """postprocess spelled out: upsample the covered region, NaN border, NaN out of range."""
    r = est.output_region(width, height)
    inner = torch.nn.functional.interpolate(native, size=(r.height, r.width), mode="bilinear",
                                            align_corners=False)[0, 0].numpy()
    out = np.full((height, width), np.nan, np.float32)
    out[r.top: r.top + r.height, r.left: r.left + r.width] = inner
    pre = est.preprocess
    with np.errstate(invalid="ignore"):
        out[~((out >= pre.min_depth) & (out <= pre.max_depth))] = np.nan
    return out


@pytest.mark.parametrize("case", ["inside", "straddling", "at_the_limits", "with_nan"])
def test_postprocess_masks_exactly_as_spelled_out(full_frame, paper, case):
    # inside the range the mask is skipped (upsampling cannot leave it); it must not matter
    rng = np.random.default_rng(3)
    native = rng.uniform(0.5, 8.0, (1, 1, 109, 147)).astype(np.float32)
    if case == "straddling":
        native[0, 0, ::3, ::4] = 12.0
        native[0, 0, 5:9, 5:9] = 0.05
    elif case == "at_the_limits":
        native[0, 0, :40] = 10.0  # exactly max_depth: rounding in the upsampling could step over
        native[0, 0, 60:] = 0.1
    elif case == "with_nan":
        native[0, 0, 50, 70] = np.nan
    x = torch.from_numpy(native)
    for est in (full_frame, paper):
        for w, h in ((640, 480), (333, 251)):
            got = est.postprocess(x, w, h)[0].numpy()
            np.testing.assert_array_equal(got, _masked_reference(est, x, w, h))
            out = torch.zeros(1, h, w)
            est.postprocess(x, w, h, out=out)
            np.testing.assert_array_equal(out[0].numpy(), got)


def test_network_that_cannot_run_at_its_input_size_is_a_checkpoint_error(tmp_path):
    tiny = PreprocessConfig(resize_height=8, resize_width=8, crop_top=0, crop_left=0,
                            input_height=8, input_width=8)  # a valid config, too small a net
    with pytest.raises(CheckpointError,
                       match="the network cannot run on its checkpoint's 8x8 input: ") as info:
        DepthEstimator(_checkpoint(tmp_path / "tiny.pt", tiny), "cpu")
    assert "\n" not in str(info.value)


def test_nan_mean_checkpoint_is_rejected_not_silently_nan(tmp_path):
    path = _checkpoint(tmp_path / "m.pt", PreprocessConfig.full_frame())
    ckpt = torch.load(path, weights_only=True)
    ckpt["preprocess"]["mean"] = float("nan")
    torch.save(ckpt, path)
    with pytest.raises(CheckpointError, match="preprocess mean is nan; expected a finite"):
        DepthEstimator(path, "cpu")
