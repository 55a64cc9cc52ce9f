"""Feature-statistics noise in the ImageNet backbone: a domain-generalisation aid for
training on rendered frames.

A network trained on rendered rooms meets, on a real camera, early features whose
per-channel means and spreads ("style": exposure, contrast, colour, texture energy) it never
saw. DSU (Li et al., "Uncertainty Modeling for Out-of-Distribution Generalization", ICLR
2022) perturbs those statistics during training so the rest of the network learns not to
depend on them: at a few points in the backbone, with probability ``p`` per point and batch,
each image's channel means μ and standard deviations σ are redrawn as
μ + ε·s(μ) and σ + ε'·s(σ), with ε, ε' ~ N(0, 1) per image and channel and s(·) the
standard deviation of that statistic across the batch, and the features renormalised to
them. Nothing changes at inference (the hooks act only in training mode) and the checkpoint
format is unchanged.

``feature_style_p`` in the training config turns it on (0 = off, the default).
``feature_style_target`` says what the noised images teach. ``full`` (the default's recipe):
the whole batch is noised at each point with probability ``p`` and trained on the full loss.
``scale``: each image is noised with probability ``p`` at every point and contributes only
its scale term (the square of its mean log error) to the loss, while the clean images carry
the full loss — the noise then teaches a scale that does not depend on the pictures' style,
without teaching the network to flatten a room whose style it does not recognise (what the
``full`` noise does on real rooms: docs/weights.md).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

__all__ = ["STYLE_POINTS", "FeatureStyleNoise", "perturb_statistics"]

# Backbone modules after which the statistics are perturbed, by backbone class: the ends of
# the stride-2, -4, -8 and -16 stages (as DSU after the stem and each ResNet stage).
STYLE_POINTS: dict[str, tuple[int, ...]] = {
    "MobileNetV2Features": (0, 3, 6, 13),
}


def perturb_statistics(x: Tensor, generator: torch.Generator | None = None,
                       eps: float = 1e-6) -> Tensor:
    """``x`` (B, C, H, W) with each image's channel means and standard deviations redrawn
    around themselves by the batch's spread of them (DSU); a batch of one is returned as is."""
    if x.shape[0] < 2:
        return x
    dims = (2, 3)
    mu = x.mean(dim=dims, keepdim=True)
    sig = (x.var(dim=dims, keepdim=True) + eps).sqrt()
    s_mu = (mu.var(dim=0, keepdim=True) + eps).sqrt()
    s_sig = (sig.var(dim=0, keepdim=True) + eps).sqrt()
    noise = torch.randn((2, *mu.shape), generator=generator, device=x.device, dtype=x.dtype)
    beta = mu + noise[0] * s_mu
    gamma = sig + noise[1] * s_sig
    return (x - mu) / sig * gamma + beta


class FeatureStyleNoise:
    """Forward hooks on a backbone's :data:`STYLE_POINTS` applying
    :func:`perturb_statistics` with probability ``p`` while the backbone is training.

    Args:
        backbone: scale 1's ImageNet backbone (``model.scale1.features``).
        p: probability per point and forward pass, in [0, 1]; ignored while an image
            selection is set (:meth:`select`).

    Raises:
        ValueError: ``p`` outside [0, 1], or a backbone without style points.
    """

    def __init__(self, backbone: nn.Module, p: float) -> None:
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"feature_style_p must be in [0, 1], got {p}")
        points = STYLE_POINTS.get(type(backbone).__name__)
        if points is None:
            raise ValueError(
                f"feature-statistics noise has no style points for "
                f"{type(backbone).__name__}; it supports {', '.join(STYLE_POINTS)}")
        self.p = p
        self.applied = 0  # perturbations made (for tests and logs)
        self._images: Tensor | None = None  # (B,) bool: per-image mode, see select()
        self._selected = 0  # how many of them are true
        self.images_selected = 0  # images chosen for noise in per-image mode (for logs)
        self.images_offered = 0  # images of the batches passed to select()
        layers = list(backbone.children())
        self._handles = [layers[i].register_forward_hook(self._hook) for i in points]

    def select(self, images: Tensor | None) -> None:
        """Per-image mode: perturb only the images where ``images`` (a ``(B,)`` bool tensor)
        is true, at every point, in the next forward passes; ``None`` returns to ``p`` per
        point and batch. The batch's spread of the statistics is taken over all its images."""
        self._images = None if images is None else images.to(torch.bool).reshape(-1)
        self._selected = 0 if images is None else int(self._images.sum())
        if self._images is not None:
            self.images_selected += self._selected
            self.images_offered += self._images.numel()

    def _hook(self, module: nn.Module, args: tuple, out: Tensor) -> Tensor | None:
        if not module.training:
            return None
        if self._images is not None:
            if self._images.shape[0] != out.shape[0]:
                raise ValueError(f"the image selection has {self._images.shape[0]} entries "
                                 f"for a batch of {out.shape[0]}")
            if self._selected == 0:  # counted once in select(), not at every point
                return None
            self.applied += 1
            if self._images.device != out.device:  # moved once, then reused at each point
                self._images = self._images.to(out.device)
            keep = self._images.reshape(-1, 1, 1, 1)
            return torch.where(keep, perturb_statistics(out), out)
        if self.p <= 0.0 or torch.rand(()).item() >= self.p:
            return None
        self.applied += 1
        return perturb_statistics(out)

    def remove(self) -> None:
        """Detach the hooks."""
        for h in self._handles:
            h.remove()
        self._handles = []
