"""Scale-invariant depth loss of Eigen et al. 2014 with the gradient term of Eigen & Fergus 2015.

With ``d = pred_log - log(target)`` over the ``n`` valid pixels of one image::

    L = (1/n) Σ d²  -  (λ/n²) (Σ d)²  +  (1/n) Σ [(∇x d)² + (∇y d)²]

- The first two terms are the scale-invariant error; at ``λ = 1`` they are exactly invariant
  to a global scale of the prediction (a constant shift of ``pred_log``). ``λ = 0.5`` (the
  papers' choice) averages that and the plain squared log error.
- ``∇x d`` / ``∇y d`` are forward differences between horizontal / vertical neighbours; a
  difference is used only where both neighbours are valid. Its sum is divided by the same
  ``n`` (the number of valid pixels), as in the formula.

Reduction: the loss is computed **per image**, then averaged over the images of the batch
that have at least one valid pixel. An image with no valid pixel contributes nothing; a batch
with none at all gives a loss of exactly 0 that is still attached to the graph (no NaN).

Targets are metres with ``0`` (or NaN, inf, negative) meaning invalid. When the target is
larger than the prediction it is reduced with :func:`downsample_depth` (masked nearest
neighbour: every output pixel takes the value of one input pixel, so invalid stays invalid and
no depth is blended across edges).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = [
    "LossInputError",
    "downsample_depth",
    "gradient_term",
    "log_difference",
    "scale_invariant_loss",
    "scale_invariant_term",
    "scale_only_loss",
]


class LossInputError(ValueError):
    """Raised when the loss is given tensors of the wrong shape."""


def downsample_depth(target: Tensor, size: tuple[int, int]) -> Tensor:
    """Resize a metric depth map by masked nearest-neighbour sampling.

    Args:
        target: ``(B, 1, H, W)`` metres; ``0``, NaN, inf or negative = invalid.
        size: output ``(h, w)``.

    Returns:
        ``(B, 1, h, w)`` metres with every invalid pixel set to ``0``.
    """
    _check_4d(target, "target")
    valid = torch.isfinite(target) & (target > 0)
    clean = torch.where(valid, target, torch.zeros_like(target))
    if tuple(clean.shape[-2:]) == tuple(size):
        return clean
    # "nearest-exact" samples the input pixel whose centre is closest to each output pixel
    # centre (half-pixel alignment), matching the bilinear upsampling used at inference.
    return F.interpolate(clean, size=tuple(size), mode="nearest-exact")


def log_difference(
    pred_log: Tensor, target: Tensor, mask: Tensor | None = None
) -> tuple[Tensor, Tensor]:
    """Return the log-depth difference and the validity mask at the prediction's size.

    Args:
        pred_log: ``(B, 1, h, w)`` natural-log depth (log metres).
        target: ``(B, 1, H, W)`` metres, ``0``/NaN = invalid; resized to ``(h, w)`` if needed.
        mask: optional bool ``(B, 1, H, W)`` or ``(B, 1, h, w)``; ``False`` excludes a pixel.

    Returns:
        ``d`` ``(B, 1, h, w)`` float32, zero where invalid, and ``valid`` bool ``(B, 1, h, w)``.
    """
    _check_4d(pred_log, "pred_log")
    _check_4d(target, "target")
    if pred_log.shape[:2] != target.shape[:2] or pred_log.shape[1] != 1:
        raise LossInputError(
            f"pred_log {tuple(pred_log.shape)} and target {tuple(target.shape)} must both be "
            "(B, 1, H, W) with the same batch size."
        )
    size = (pred_log.shape[-2], pred_log.shape[-1])
    tgt = downsample_depth(target.float(), size)  # (B, 1, h, w) metres, 0 = invalid
    valid = tgt > 0
    if mask is not None:
        _check_4d(mask, "mask")
        if mask.shape[0] != pred_log.shape[0]:
            raise LossInputError(
                f"mask has batch size {mask.shape[0]}, expected {pred_log.shape[0]}."
            )
        m = mask.to(torch.float32)
        if tuple(m.shape[-2:]) != size:
            m = F.interpolate(m, size=size, mode="nearest-exact")
        valid = valid & (m > 0.5)
    log_t = torch.log(torch.where(valid, tgt, torch.ones_like(tgt)))
    pred = pred_log.float()
    # where() rather than multiplication so a non-finite prediction on an invalid pixel
    # cannot leak NaN into the sums.
    d = torch.where(valid, pred - log_t, torch.zeros_like(pred))
    return d, valid


def _per_image(d: Tensor, valid: Tensor, lam: float, gradient_weight: float) -> dict[str, Tensor]:
    """Per-image loss terms, each ``(B,)``, plus the valid-pixel count ``n`` ``(B,)``."""
    vf = valid.float()
    n = vf.sum(dim=(1, 2, 3))  # (B,)
    n_safe = n.clamp(min=1.0)
    sum_d = d.sum(dim=(1, 2, 3))
    sum_d2 = (d * d).sum(dim=(1, 2, 3))
    si = sum_d2 / n_safe - lam * sum_d * sum_d / (n_safe * n_safe)
    # forward differences, only where both neighbours are valid
    dx = d[..., :, 1:] - d[..., :, :-1]  # (B, 1, h, w-1)
    vx = vf[..., :, 1:] * vf[..., :, :-1]
    dy = d[..., 1:, :] - d[..., :-1, :]  # (B, 1, h-1, w)
    vy = vf[..., 1:, :] * vf[..., :-1, :]
    grad = ((dx * dx * vx).sum(dim=(1, 2, 3)) + (dy * dy * vy).sum(dim=(1, 2, 3))) / n_safe
    scale = (sum_d / n_safe) ** 2  # the squared mean log error: the image's scale alone
    return {"si": si, "grad": grad, "total": si + gradient_weight * grad, "scale": scale,
            "n": n}


def _batch_mean(values: Tensor, n: Tensor) -> Tensor:
    """Mean over images with ``n > 0``; exactly 0 (still in the graph) if there are none."""
    has = (n > 0).float()
    count = has.sum()
    return (values * has).sum() / count.clamp(min=1.0)


def scale_invariant_term(
    pred_log: Tensor, target: Tensor, mask: Tensor | None = None, lam: float = 0.5
) -> Tensor:
    """Batch mean of ``(1/n)Σd² − (λ/n²)(Σd)²`` (Eigen et al. 2014), a scalar."""
    d, valid = log_difference(pred_log, target, mask)
    t = _per_image(d, valid, lam, 0.0)
    return _batch_mean(t["si"], t["n"])


def gradient_term(pred_log: Tensor, target: Tensor, mask: Tensor | None = None) -> Tensor:
    """Batch mean of ``(1/n)Σ[(∇x d)² + (∇y d)²]`` (Eigen & Fergus 2015), a scalar."""
    d, valid = log_difference(pred_log, target, mask)
    t = _per_image(d, valid, 0.0, 1.0)
    return _batch_mean(t["grad"], t["n"])


def scale_invariant_loss(
    pred_log: Tensor,
    target: Tensor,
    mask: Tensor | None = None,
    lam: float = 0.5,
    gradient_weight: float = 1.0,
) -> Tensor:
    """The full training loss (see the module docstring), a float32 scalar.

    Args:
        pred_log: ``(B, 1, h, w)`` predicted natural-log depth (log metres).
        target: ``(B, 1, H, W)`` ground truth metres, ``0``/NaN = invalid.
        mask: optional bool mask at the target's or the prediction's size.
        lam: weight of the scale-invariance term ``λ`` (0 = plain squared log error,
            1 = fully scale invariant).
        gradient_weight: weight of the gradient-matching term (0 turns it off).

    Returns:
        Scalar: mean over images with valid pixels of the per-image loss.
    """
    d, valid = log_difference(pred_log, target, mask)
    t = _per_image(d, valid, lam, gradient_weight)
    return _batch_mean(t["total"], t["n"])


def scale_only_loss(
    pred_log: Tensor,
    target: Tensor,
    scale_only: Tensor,
    mask: Tensor | None = None,
    lam: float = 0.5,
    gradient_weight: float = 1.0,
    scale_weight: float = 1.0,
) -> Tensor:
    """:func:`scale_invariant_loss`, except that the images where ``scale_only`` (``(B,)``
    bool) is true contribute only ``scale_weight`` times their squared mean log error
    ``((1/n)Σd)²``: their scale, not their shape. Used for images trained under
    feature-statistics noise (``feature_style_target: scale``, :mod:`depth_training.style`)."""
    d, valid = log_difference(pred_log, target, mask)
    if scale_only.shape != (d.shape[0],):
        raise LossInputError(f"scale_only must have shape ({d.shape[0]},), got "
                             f"{tuple(scale_only.shape)}.")
    t = _per_image(d, valid, lam, gradient_weight)
    per_image = torch.where(scale_only.to(d.device), scale_weight * t["scale"], t["total"])
    return _batch_mean(per_image, t["n"])


def _check_4d(x: Tensor, name: str) -> None:
    if not isinstance(x, Tensor) or x.dim() != 4:
        shape = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
        raise LossInputError(f"{name} must be a 4-D tensor (B, 1, H, W), got {shape}.")
