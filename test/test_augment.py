"""Tests for depth_training.datasets.augment: image and depth aligned, depth / s, invalid
stays invalid."""

from __future__ import annotations

from dataclasses import replace

import cv2
import numpy as np
import pytest
import torch

from depth_estimation_ros.core.model import PreprocessConfig
from depth_estimation_ros.core.preprocessing import resize_and_crop
from depth_training.datasets.augment import (
    AugmentConfig,
    AugmentParams,
    apply_augment,
    augment_pair,
    resize_and_crop_depth,
    resize_and_crop_image,
    sample_params,
)

H, W = 120, 160
PRE = PreprocessConfig(resize_height=60, resize_width=80, crop_top=3, crop_left=4,
                       input_height=54, input_width=72)
RED_PER_METRE = 40.0


def _colour_encodes_depth() -> tuple[np.ndarray, np.ndarray]:
    """A smooth depth field (1–6 m) with an invalid block, and an image whose red is 40·depth."""
    y, x = np.mgrid[0:H, 0:W].astype(np.float32)
    depth = 1.0 + 3.0 * x / W + 2.0 * y / H  # (H, W) metres, asymmetric in x and y
    depth[10:40, 100:140] = 0.0  # invalid block (red 0 there too)
    rgb = np.zeros((H, W, 3), dtype=np.uint8)
    rgb[..., 0] = np.round(RED_PER_METRE * depth).astype(np.uint8)
    rgb[..., 1] = 128
    return rgb, depth.astype(np.float32)


def _interior(valid: np.ndarray, px: int = 2) -> np.ndarray:
    """Valid pixels at least ``px`` pixels from any invalid one (bilinear blends at edges)."""
    return cv2.erode(valid.astype(np.uint8), np.ones((2 * px + 1, 2 * px + 1), np.uint8)) > 0


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("pre", [PRE, None], ids=["network-input", "same-size"])
def test_image_and_depth_stay_aligned(seed: int, pre: PreprocessConfig | None) -> None:
    rgb, depth = _colour_encodes_depth()
    cfg = AugmentConfig(color=(1.0, 1.0), flip_p=0.5)  # colour gain off: red keeps 40·depth
    params = sample_params(np.random.default_rng(seed), cfg)
    img, dep = apply_augment(rgb, depth, params, pre)
    out_hw = (PRE.input_height, PRE.input_width) if pre else (H, W)
    assert img.shape == (*out_hw, 3) and dep.shape == out_hw
    assert img.dtype == np.float32 and dep.dtype == np.float32
    inner = _interior(dep > 0)
    assert inner.sum() > 0.3 * inner.size
    # the image is enlarged by s and the depth divided by s: red / (40·depth) = s everywhere
    ratio = img[..., 0][inner] / (RED_PER_METRE * dep[inner])
    assert np.median(ratio) == pytest.approx(params.scale, rel=0.01)
    assert np.abs(ratio / params.scale - 1).max() < 0.05
    # the same check on a misaligned pair fails: the test can see a flip or a shift
    wrong = dep[:, ::-1]
    bad = _interior(wrong > 0) & inner
    assert np.abs(img[..., 0][bad] / (RED_PER_METRE * wrong[bad]) / params.scale - 1).max() > 0.1


def _blob_centroids(mask: np.ndarray) -> np.ndarray:
    """(K, 2) centroids (x, y) of the connected blobs of a boolean mask."""
    n, _, stats, cents = cv2.connectedComponentsWithStats(mask.astype(np.uint8), 8)
    return cents[1:][stats[1:, cv2.CC_STAT_AREA] >= 4]


def _blob_offsets(seed: int) -> np.ndarray:
    """(K, 2) offsets (x, y) in pixels from each blob marked in the augmented depth to the
    nearest blob marked in the augmented image, for one random draw."""
    rgb = np.zeros((H, W, 3), dtype=np.uint8)
    depth = np.full((H, W), 5.0, dtype=np.float32)
    for top, left in ((30, 40), (30, 100), (70, 60), (80, 110), (50, 80)):  # asymmetric
        rgb[top:top + 14, left:left + 14, 0] = 255
        depth[top:top + 14, left:left + 14] = 2.0
    params = sample_params(np.random.default_rng(seed), AugmentConfig())
    img, dep = apply_augment(rgb, depth, params, PRE)
    from_depth = _blob_centroids((dep > 0) & (dep < 3.5 / params.scale))
    from_image = _blob_centroids(img[..., 0] > 127 * params.color[0])
    assert len(from_depth) >= 3 and len(from_depth) == len(from_image)
    nearest = [from_image[np.linalg.norm(from_image - c, axis=1).argmin()] for c in from_depth]
    return np.array(nearest) - from_depth


@pytest.mark.parametrize("seed", range(12))
def test_features_land_on_the_same_pixels(seed: int) -> None:
    """Blobs marked in both maps keep their centroids within about half a pixel."""
    offsets = _blob_offsets(seed)
    # nearest-neighbour depth quantises each blob edge by up to half a pixel, and the image's
    # threshold by some more; a systematic shift (a misaligned crop, rotation or flip) moves
    # all blobs the same way
    assert np.abs(offsets).max() < 1.2
    assert np.linalg.norm(offsets.mean(0)) < 0.4


def test_no_systematic_shift_over_many_draws() -> None:
    """Averaged over draws the quantisation cancels: a quarter-pixel misalignment shows."""
    mean = np.mean([_blob_offsets(seed).mean(0) for seed in range(24)], axis=0)
    assert np.abs(mean).max() < 0.1, mean


def test_depth_is_nearest_neighbour_and_invalid_stays_invalid() -> None:
    rng = np.random.default_rng(3)
    depth = rng.choice(np.array([0.0, 1.0, 3.0], dtype=np.float32), size=(H, W))
    depth[50, 50] = np.nan  # NaN counts as invalid
    rgb = rng.integers(0, 256, size=(H, W, 3), dtype=np.uint8)
    for seed in range(5):
        params = sample_params(np.random.default_rng(seed), AugmentConfig())
        assert params.angle_deg != 0.0
        _, dep = apply_augment(rgb, depth, params, PRE)
        values = set(np.unique(dep).tolist())
        allowed = {0.0, float(np.float32(1.0) / np.float32(params.scale)),
                   float(np.float32(3.0) / np.float32(params.scale))}
        assert values <= allowed, "depth was blended or an invalid pixel became valid"
        assert 0.0 in values and len(values) == 3


def test_constant_depth_divided_by_scale_without_rotation() -> None:
    rgb = np.full((H, W, 3), 100, dtype=np.uint8)
    depth = np.full((H, W), 2.0, dtype=np.float32)
    params = AugmentParams(scale=1.25, angle_deg=0.0, color=(0.8, 1.0, 1.2), flip=False,
                           crop_v=0.5, crop_u=1.0)
    img, dep = apply_augment(rgb, depth, params, PRE)
    np.testing.assert_allclose(dep, 2.0 / 1.25, rtol=1e-6)
    np.testing.assert_allclose(img.reshape(-1, 3).mean(0), [80.0, 100.0, 120.0], rtol=1e-4)


def test_flip_mirrors_both_maps() -> None:
    rgb, depth = _colour_encodes_depth()
    base = AugmentParams(1.2, 3.0, (1.0, 1.0, 1.0), False, 0.3, 0.6)
    flipped = AugmentParams(1.2, 3.0, (1.0, 1.0, 1.0), True, 0.3, 0.6)
    img0, dep0 = apply_augment(rgb, depth, base, PRE)
    img1, dep1 = apply_augment(rgb, depth, flipped, PRE)
    np.testing.assert_array_equal(dep1, dep0[:, ::-1])
    np.testing.assert_allclose(img1, img0[:, ::-1])


def test_crop_position_moves_the_window() -> None:
    rgb, depth = _colour_encodes_depth()
    left = AugmentParams(1.5, 0.0, (1.0, 1.0, 1.0), False, 0.0, 0.0)
    right = AugmentParams(1.5, 0.0, (1.0, 1.0, 1.0), False, 0.0, 1.0)
    _, dep_l = apply_augment(rgb, depth, left, PRE)
    _, dep_r = apply_augment(rgb, depth, right, PRE)
    # depth grows to the right: the right-hand window sees farther depth in the bottom row
    assert dep_r[-1].mean() > dep_l[-1].mean()
    # free range at s = 1.5: 120 - 72 = 48 columns; the windows share 24 columns
    np.testing.assert_array_equal(dep_l[:, 48:], dep_r[:, :24])


def test_deterministic_given_rng() -> None:
    rgb, depth = _colour_encodes_depth()
    cfg = AugmentConfig()
    a = augment_pair(rgb, depth, np.random.default_rng(7), cfg, PRE)
    b = augment_pair(rgb, depth, np.random.default_rng(7), cfg, PRE)
    c = augment_pair(rgb, depth, np.random.default_rng(8), cfg, PRE)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    assert not np.array_equal(a[1], c[1])


def test_disabled_matches_the_estimator_preprocessing() -> None:
    rgb, depth = _colour_encodes_depth()
    img, dep = augment_pair(rgb, depth, np.random.default_rng(0), AugmentConfig.disabled(), PRE)
    ref = resize_and_crop(torch.from_numpy(rgb).permute(2, 0, 1)[None], PRE)[0]
    np.testing.assert_allclose(img, ref.permute(1, 2, 0).numpy(), atol=1e-4)
    np.testing.assert_array_equal(dep, resize_and_crop_depth(depth, PRE))
    # nearest, centre aligned: output pixel (r, c) of the 60×80 frame is source (2r+1, 2c+1)
    r, c = 10, 20
    assert dep[r, c] == depth[2 * (r + PRE.crop_top) + 1, 2 * (c + PRE.crop_left) + 1]


def test_unaugmented_draw_gives_the_estimator_pixels() -> None:
    # scale 1, no rotation, gains 1 and the centre crop (the estimator's): the image must be
    # the estimator's input to the level, or training would see sharper pictures than
    # inference (noise is where a different resampling filter shows most)
    rgb = np.random.default_rng(3).integers(0, 256, (480, 640, 3), dtype=np.uint8)
    depth = np.ones((480, 640), dtype=np.float32)
    pre = PreprocessConfig.paper()
    centre = AugmentParams(1.0, 0.0, (1.0, 1.0, 1.0), False, 0.5, 0.5)
    img, _ = apply_augment(rgb, depth, centre, pre)
    np.testing.assert_array_equal(img, resize_and_crop_image(rgb, pre))


def test_full_size_paper_geometry() -> None:
    rgb = np.zeros((480, 640, 3), dtype=np.uint8)
    depth = np.ones((480, 640), dtype=np.float32)
    img, dep = augment_pair(rgb, depth, np.random.default_rng(0), AugmentConfig(),
                            PreprocessConfig.paper())
    assert img.shape == (228, 304, 3) and dep.shape == (228, 304)


def test_bad_config_and_inputs() -> None:
    with pytest.raises(ValueError, match="scale"):
        AugmentConfig(scale=(0.5, 1.0))
    with pytest.raises(ValueError, match="flip_p"):
        AugmentConfig(flip_p=1.5)
    with pytest.raises(ValueError, match="color"):
        AugmentConfig(color=(1.2, 0.8))
    with pytest.raises(ValueError, match="depth must be"):
        augment_pair(np.zeros((4, 4, 3), np.uint8), np.zeros((4, 5), np.float32),
                     np.random.default_rng(0), AugmentConfig())
    assert AugmentConfig.from_dict(AugmentConfig().to_dict()) == AugmentConfig()


def test_sensor_faults_are_off_by_default_and_leave_the_draws_alone() -> None:
    plain = sample_params(np.random.default_rng(3), AugmentConfig())
    assert (plain.gamma, plain.blur_sigma, plain.noise_sigma, plain.jpeg_quality) == (1, 0, 0, 0)
    faulty = sample_params(np.random.default_rng(3), AugmentConfig(sensor_p=1.0))
    # the geometric and colour draws come first, so they are the same with faults on
    assert (faulty.scale, faulty.angle_deg, faulty.color, faulty.flip) == (
        plain.scale, plain.angle_deg, plain.color, plain.flip)
    assert faulty.gamma != 1.0 and faulty.blur_sigma > 0 and faulty.noise_sigma > 0
    assert 30 <= faulty.jpeg_quality <= 90
    with pytest.raises(ValueError, match="sensor_p must be in"):
        AugmentConfig(sensor_p=1.5)


def test_sensor_faults_change_the_image_not_the_depth() -> None:
    rgb, depth = _colour_encodes_depth()
    rgb[::2, ::2, 1] = 250  # fine texture, for the blur to smooth
    base = AugmentParams.identity()
    clean_img, clean_dep = apply_augment(rgb, depth, base, PRE)

    def run(**faults: float) -> tuple[np.ndarray, np.ndarray]:
        return apply_augment(rgb, depth, replace(base, **faults), PRE)

    for faults in ({"gamma": 1.4}, {"blur_sigma": 1.2}, {"noise_sigma": 5.0, "noise_seed": 1},
                   {"jpeg_quality": 30}):
        img, dep = run(**faults)
        np.testing.assert_array_equal(dep, clean_dep)  # geometry untouched
        assert img.dtype == np.float32 and img.shape == clean_img.shape
        assert 0.0 <= img.min() and img.max() <= 255.0
        assert np.abs(img - clean_img).mean() > 0.5, faults
    # what each fault does: gamma > 1 darkens mid-tones, blur removes fine texture, noise has
    # its sigma, and the same noise seed repeats the pattern
    assert run(gamma=1.4)[0].mean() < clean_img.mean()
    detail = np.abs(np.diff(clean_img[..., 1], axis=1)).mean()
    assert np.abs(np.diff(run(blur_sigma=1.2)[0][..., 1], axis=1)).mean() < 0.5 * detail
    noisy = run(noise_sigma=5.0, noise_seed=1)[0]
    mid = (clean_img > 20) & (clean_img < 235)
    assert 4.0 < (noisy - clean_img)[mid].std() < 6.0
    np.testing.assert_array_equal(noisy, run(noise_sigma=5.0, noise_seed=1)[0])
