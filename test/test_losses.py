"""Tests for depth_training.losses: hand-computed values, invariance, masks, empty images."""

from __future__ import annotations

import math

import pytest
import torch

from depth_training.losses import (
    LossInputError,
    downsample_depth,
    gradient_term,
    scale_invariant_loss,
    scale_invariant_term,
    scale_only_loss,
)


def _img(rows: list[list[float]]) -> torch.Tensor:
    return torch.tensor(rows, dtype=torch.float32).view(1, 1, len(rows), len(rows[0]))


def test_hand_computed_value_2x2() -> None:
    # target 1 m everywhere -> log target 0, so d = pred_log
    pred = _img([[0.1, 0.3], [-0.2, 0.4]])
    target = torch.ones_like(pred)
    d = [0.1, 0.3, -0.2, 0.4]
    n = 4
    si = sum(x * x for x in d) / n - 0.5 * sum(d) ** 2 / n**2
    # x diffs: (0.3-0.1), (0.4-(-0.2)); y diffs: (-0.2-0.1), (0.4-0.3)
    grad = (0.2**2 + 0.6**2 + 0.3**2 + 0.1**2) / n
    assert scale_invariant_term(pred, target).item() == pytest.approx(si, rel=1e-5)
    assert gradient_term(pred, target).item() == pytest.approx(grad, rel=1e-5)
    assert scale_invariant_loss(pred, target).item() == pytest.approx(si + grad, rel=1e-5)
    assert scale_invariant_loss(pred, target, gradient_weight=0.0).item() == pytest.approx(
        si, rel=1e-5
    )


def test_log_of_metric_target() -> None:
    pred = torch.zeros(1, 1, 1, 2)
    target = _img([[math.e, 1.0]])  # d = [-1, 0]
    expected = (1.0 + 0.0) / 2 - 0.5 * (-1.0) ** 2 / 4 + (1.0**2) / 2
    assert scale_invariant_loss(pred, target).item() == pytest.approx(expected, rel=1e-5)


def test_invariant_to_global_log_shift_at_lambda_one() -> None:
    g = torch.Generator().manual_seed(0)
    pred = torch.randn(3, 1, 6, 8, generator=g)
    target = torch.rand(3, 1, 6, 8, generator=g) * 5 + 0.5
    base = scale_invariant_loss(pred, target, lam=1.0)
    shifted = scale_invariant_loss(pred + 0.7, target, lam=1.0)
    assert shifted.item() == pytest.approx(base.item(), rel=1e-4, abs=1e-6)
    # also for a per-image (global per image) scale, with missing pixels
    target[0, 0, :2] = 0
    shift = torch.tensor([0.3, -1.2, 2.0]).view(3, 1, 1, 1)
    a = scale_invariant_loss(pred, target, lam=1.0)
    b = scale_invariant_loss(pred + shift, target, lam=1.0)
    assert b.item() == pytest.approx(a.item(), rel=1e-4, abs=1e-6)
    # at the default lambda = 0.5 a shift away from the truth is penalised
    exact = torch.log(target.clamp(min=1e-3))
    assert scale_invariant_loss(exact, target).item() == pytest.approx(0.0, abs=1e-6)
    assert scale_invariant_loss(exact + 0.7, target).item() == pytest.approx(
        0.49 - 0.5 * 0.49, rel=1e-4
    )


def test_invalid_pixels_are_ignored() -> None:
    g = torch.Generator().manual_seed(1)
    pred = torch.randn(1, 1, 4, 5, generator=g)
    target = torch.rand(1, 1, 4, 5, generator=g) + 0.5
    target[0, 0, 1, 2] = 0.0
    target[0, 0, 3, 4] = float("nan")
    base = scale_invariant_loss(pred, target)
    assert torch.isfinite(base)
    changed = pred.clone()
    changed[0, 0, 1, 2] = 100.0  # prediction on invalid pixels must not matter
    changed[0, 0, 3, 4] = float("nan")
    assert scale_invariant_loss(changed, target).item() == pytest.approx(base.item(), rel=1e-6)


def test_explicit_mask_equals_zeroed_target() -> None:
    g = torch.Generator().manual_seed(2)
    pred = torch.randn(2, 1, 4, 4, generator=g)
    target = torch.rand(2, 1, 4, 4, generator=g) + 0.5
    mask = torch.ones_like(target, dtype=torch.bool)
    mask[:, :, :, :2] = False
    zeroed = target.clone()
    zeroed[:, :, :, :2] = 0
    a = scale_invariant_loss(pred, target, mask=mask)
    b = scale_invariant_loss(pred, zeroed)
    assert a.item() == pytest.approx(b.item(), rel=1e-6)


def test_gradient_needs_both_neighbours_valid() -> None:
    pred = _img([[0.0, 5.0, 0.0]])
    target = _img([[1.0, 0.0, 1.0]])  # the middle pixel is invalid
    # no horizontal pair has two valid pixels, so the gradient term is 0
    assert gradient_term(pred, target).item() == 0.0


def test_no_valid_pixels_gives_zero_not_nan() -> None:
    pred = torch.randn(2, 1, 3, 3, requires_grad=True)
    target = torch.zeros(2, 1, 3, 3)
    loss = scale_invariant_loss(pred, target)
    assert loss.item() == 0.0
    loss.backward()
    assert torch.all(pred.grad == 0)
    # an empty image does not dilute the mean of the others (per-image then batch mean)
    target[1] = 2.0
    one = scale_invariant_loss(pred[1:], target[1:])
    both = scale_invariant_loss(pred, target)
    assert both.item() == pytest.approx(one.item(), rel=1e-6)


def test_target_is_downsampled_to_prediction() -> None:
    target = torch.full((1, 1, 8, 8), 2.0)
    target[..., :4, :] = 0.0  # top half invalid
    small = downsample_depth(target, (4, 4))
    assert small.shape == (1, 1, 4, 4)
    assert torch.all(small[..., :2, :] == 0) and torch.all(small[..., 2:, :] == 2.0)
    pred = torch.full((1, 1, 4, 4), math.log(2.0))
    assert scale_invariant_loss(pred, target).item() == pytest.approx(0.0, abs=1e-7)


def test_gradient_flows_and_bf16_prediction() -> None:
    pred = torch.zeros(1, 1, 4, 4, dtype=torch.bfloat16, requires_grad=True)
    target = torch.rand(1, 1, 4, 4) + 1.0
    loss = scale_invariant_loss(pred, target)
    assert loss.dtype == torch.float32
    loss.backward()
    assert pred.grad is not None and torch.any(pred.grad != 0)


def test_bad_shapes_raise() -> None:
    with pytest.raises(LossInputError, match="4-D"):
        scale_invariant_loss(torch.zeros(4, 4), torch.ones(4, 4))
    with pytest.raises(LossInputError, match="batch"):
        scale_invariant_loss(torch.zeros(2, 1, 4, 4), torch.ones(3, 1, 4, 4))


def test_scale_only_images_give_their_squared_mean_error_and_ignore_their_shape() -> None:
    g = torch.Generator().manual_seed(0)
    pred = torch.randn(3, 1, 4, 5, generator=g)
    target = torch.rand(3, 1, 4, 5, generator=g) + 0.5
    target[2, 0, 0, :] = 0.0  # invalid pixels stay out of the mean
    which = torch.tensor([False, True, True])
    loss = scale_only_loss(pred, target, which)
    per = []
    for i in range(3):
        if which[i]:
            valid = target[i] > 0
            d = pred[i][valid] - torch.log(target[i][valid])
            per.append(float(d.mean()) ** 2)
        else:
            per.append(scale_invariant_loss(pred[i:i + 1], target[i:i + 1]).item())
    assert loss.item() == pytest.approx(sum(per) / 3, rel=1e-5)
    # a zero-mean change of a scale-only image's shape changes nothing; of the others, a lot
    bump = torch.zeros_like(pred)
    bump[..., :2, :] = 0.3
    bump[..., 2:, :] = -0.3
    for i, moves in ((1, False), (0, True)):
        shaped = pred.clone()
        shaped[i] += bump[i]
        changed = scale_only_loss(shaped, target, which).item() - loss.item()
        assert (abs(changed) > 1e-2) == moves
    # a global shift of a scale-only image does change it
    shifted = pred.clone()
    shifted[1] += 0.5
    assert abs(scale_only_loss(shifted, target, which).item() - loss.item()) > 1e-2
    # the weight multiplies the scale-only images' terms, not the others'
    weighted = scale_only_loss(pred, target, which, scale_weight=4.0)
    assert weighted.item() == pytest.approx((per[0] + 4 * per[1] + 4 * per[2]) / 3, rel=1e-5)
    # nothing selected: the full loss
    none = torch.zeros(3, dtype=torch.bool)
    assert scale_only_loss(pred, target, none).item() == pytest.approx(
        scale_invariant_loss(pred, target).item(), rel=1e-6)
    with pytest.raises(LossInputError, match=r"scale_only must have shape \(3,\)"):
        scale_only_loss(pred, target, torch.ones(2, dtype=torch.bool))
