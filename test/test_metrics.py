"""Tests for depth_training.metrics: hand-computed values, masks, clamping, averaging modes."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from depth_training.metrics import (
    EIGEN_CROP,
    MAX_DEPTH,
    METRIC_KEYS,
    MIN_DEPTH,
    PUBLISHED_RESULTS,
    MetricAccumulator,
    depth_metrics,
    eigen_crop_for,
    eigen_mask,
)

PRED = np.array([[1.2, 1.0], [3.0, 1.0]])
TARGET = np.array([[1.0, 1.0], [2.0, 2.0]])


def test_hand_computed_values() -> None:
    m = depth_metrics(PRED, TARGET)
    assert set(m) == set(METRIC_KEYS)
    # ratios max(p/t, t/p): 1.2, 1.0, 1.5, 2.0
    assert m["delta1"] == pytest.approx(0.5)
    assert m["delta2"] == pytest.approx(0.75)  # 1.5 < 1.5625
    assert m["delta3"] == pytest.approx(0.75)  # 2.0 > 1.953125
    assert m["abs_rel"] == pytest.approx((0.2 + 0 + 0.5 + 0.5) / 4)
    assert m["sq_rel"] == pytest.approx((0.04 + 0 + 0.5 + 0.5) / 4)
    assert m["rmse"] == pytest.approx(math.sqrt((0.04 + 0 + 1 + 1) / 4))
    d = [math.log(1.2), 0.0, math.log(1.5), math.log(0.5)]
    assert m["rmse_log"] == pytest.approx(math.sqrt(sum(x * x for x in d) / 4))
    assert m["log10"] == pytest.approx(sum(abs(x) for x in d) / 4 / math.log(10))
    mean = sum(d) / 4
    assert m["si_log"] == pytest.approx(math.sqrt(sum(x * x for x in d) / 4 - mean**2))


def test_torch_and_numpy_agree_and_batch_shapes() -> None:
    m_np = depth_metrics(PRED, TARGET)
    m_t = depth_metrics(torch.tensor(PRED, dtype=torch.float32)[None, None],
                        torch.tensor(TARGET, dtype=torch.float32)[None, None])
    for k in METRIC_KEYS:
        assert m_t[k] == pytest.approx(m_np[k], rel=1e-6)


def test_invalid_targets_and_mask_are_excluded() -> None:
    pred = np.array([[1.2, 5.0, 5.0, 5.0, 5.0], [1.0, 3.0, 1.0, 9.0, 9.0]])
    target = np.array([[1.0, 0.0, np.nan, 11.0, 5e-4], [1.0, 2.0, 2.0, 1.0, 1.0]])
    mask = np.array([[True] * 5, [True, True, True, False, False]])
    # valid: (0,0), (1,0), (1,1), (1,2) -> the same four pixels as PRED/TARGET
    m = depth_metrics(pred, target, mask)
    ref = depth_metrics(PRED, TARGET)
    for k in METRIC_KEYS:
        assert m[k] == pytest.approx(ref[k])


def test_predictions_clamped_to_range() -> None:
    m = depth_metrics(np.array([[25.0, 1e-6]]), np.array([[MAX_DEPTH, MIN_DEPTH]]))
    assert m["rmse"] == pytest.approx(0.0, abs=1e-12)
    assert m["delta1"] == 1.0


def test_nan_prediction_is_left_out_and_counted_in_coverage() -> None:
    acc = MetricAccumulator()
    acc.update(np.array([[2.0, np.nan]]), np.array([[2.0, 3.0]]))
    assert acc.n_pixels == 1
    assert acc.coverage == pytest.approx(0.5)
    assert acc.compute()["rmse"] == 0.0


def test_scale_invariant_error_ignores_global_scale() -> None:
    rng = np.random.default_rng(0)
    t = rng.uniform(1, 4, size=(2, 5, 6))
    m = depth_metrics(2.0 * t, t)
    assert m["si_log"] == pytest.approx(0.0, abs=1e-9)
    assert m["rmse_log"] == pytest.approx(math.log(2.0))
    assert m["delta1"] == 0.0


def test_pixel_and_image_averaging() -> None:
    # image A: 1 valid pixel, error 1 m; image B: 3 valid pixels, error 0
    pred_a, t_a = np.array([[3.0, 0.0], [0.0, 0.0]]), np.array([[2.0, 0.0], [0.0, 0.0]])
    pred_b, t_b = np.array([[2.0, 2.0], [2.0, 0.0]]), np.array([[2.0, 2.0], [2.0, 0.0]])
    pix, img = MetricAccumulator("pixel"), MetricAccumulator("image")
    for acc in (pix, img):
        acc.update(pred_a, t_a)
        acc.update(pred_b, t_b)
    assert pix.n_images == 2 and pix.n_pixels == 4
    assert pix.compute()["rmse"] == pytest.approx(math.sqrt(1 / 4))
    assert img.compute()["rmse"] == pytest.approx((1.0 + 0.0) / 2)
    assert pix.compute()["abs_rel"] == pytest.approx(0.5 / 4)
    assert img.compute()["abs_rel"] == pytest.approx(0.5 / 2)
    # a batch through depth_metrics pools pixels like the pixel accumulator
    m = depth_metrics(np.stack([pred_a, pred_b]), np.stack([t_a, t_b]))
    assert m["rmse"] == pytest.approx(pix.compute()["rmse"])


def test_si_log_is_per_image_in_pixel_mode() -> None:
    # each image off by its own global scale: per-image scale invariance gives 0
    t = np.full((4, 4), 2.0)
    acc = MetricAccumulator("pixel")
    acc.update(np.stack([t * 2.0, t * 0.5]), np.stack([t, t]))
    assert acc.compute()["si_log"] == pytest.approx(0.0, abs=1e-9)


def test_no_valid_pixel_gives_nan() -> None:
    m = depth_metrics(np.ones((2, 2)), np.zeros((2, 2)))
    assert all(math.isnan(v) for v in m.values())


def test_bad_inputs() -> None:
    with pytest.raises(ValueError, match="does not match"):
        depth_metrics(np.ones((2, 3)), np.ones((3, 2)))
    with pytest.raises(TypeError, match="numpy array or a torch tensor"):
        depth_metrics([[1.0]], np.ones((1, 1)))
    with pytest.raises(ValueError, match="averaging mode"):
        MetricAccumulator("median")


def test_eigen_mask_on_nyu_frame() -> None:
    t = np.full((480, 640), 3.0, dtype=np.float32)
    t[100, 100] = 0.0  # invalid inside the crop
    t[200, 200] = 12.0  # beyond MAX_DEPTH
    m = eigen_mask(t)
    top, bottom, left, right = EIGEN_CROP
    assert m.sum() == (bottom - top) * (right - left) - 2
    assert m[top, left] and m[bottom - 1, right - 1]
    assert not m[top - 1, left] and not m[top, left - 1]
    assert not m[bottom, right - 1] and not m[bottom - 1, right]
    assert eigen_mask(torch.from_numpy(t)[None, None]).shape == (1, 1, 480, 640)


def test_eigen_crop_scales_with_frame_size() -> None:
    assert eigen_crop_for(480, 640) == EIGEN_CROP
    assert eigen_crop_for(240, 320) == (22, 236, 20, 300)  # 45/2, 471/2, 41/2, 601/2 rounded


def test_published_rows() -> None:
    assert PUBLISHED_RESULTS["Eigen 2015 VGG"]["delta1"] == 0.769
    assert PUBLISHED_RESULTS["Eigen 2015 AlexNet"]["rmse"] == 0.753
    assert PUBLISHED_RESULTS["Eigen 2014 (coarse+fine)"]["si_log"] == 0.219
    assert PUBLISHED_RESULTS["seed (labelled subset, 5 % val)"]["abs_rel"] is None
    for row in PUBLISHED_RESULTS.values():
        assert set(row) == set(METRIC_KEYS)
