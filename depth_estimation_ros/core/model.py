"""The multi-scale depth network of Eigen & Fergus (2015), depth only.

Three scales, each a separate submodule so training can stage and freeze them:

* ``scale1`` sees the whole image and predicts a coarse 64-channel feature map
  (``eigen_vgg16``: a VGG16 conv stack and two fully connected layers, as in the paper's
  layer table; ``compact``: a small fully convolutional stack with the same output;
  ``mobilenet_v2`` / ``efficientnet_lite0``: an ImageNet mobile backbone
  (:mod:`~depth_estimation_ros.core.backbones`, initialised with ``pretrained=``) and a light
  convolutional head over its stride-16 and stride-32 maps).
* ``scale2`` refines at 55×74 (for a 228×304 input) and predicts the coarse depth.
* ``scale3`` refines at 109×147 and predicts the final depth.

The mobile variants keep that structure and its output sizes, with cheap scales 2 and 3:
a stride-4 image path of small convs and depthwise-separable 5×5 refinement stacks, where the
paper's (and ``compact``'s) full 5×5 convs dominate the CPU time.

The network predicts natural-log depth in metres.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterator
from dataclasses import asdict, dataclass, fields
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from depth_estimation_ros.core.backbones import BACKBONES, DEEP_CHANNELS, build_backbone

VARIANTS: tuple[str, ...] = ("eigen_vgg16", "compact", *BACKBONES)
MOBILE_VARIANTS: tuple[str, ...] = BACKBONES  # variants whose scale 1 is an ImageNet backbone
STAGES: tuple[str, ...] = ("coarse", "fine")
MAX_PREPROCESS_SIDE = 4096  # pixels: the largest resize / network input side accepted

# VGG16 configuration "D": channels per conv, "M" = 2×2 max-pool.
_VGG16_LAYOUT: tuple[int | str, ...] = (
    64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M",
)


@dataclass(frozen=True)
class ModelConfig:
    """Everything needed to rebuild a :class:`MultiScaleDepthNet`."""

    variant: str = "eigen_vgg16"  # "eigen_vgg16" (paper), "compact" (CPU-friendly scale 1),
    # "mobilenet_v2" / "efficientnet_lite0" (ImageNet mobile backbone, cheap scales 2/3)
    coarse_channels: int = 64  # channels of the scale-1 output map (paper: 64)
    coarse_grid: tuple[int, int] = (14, 19)  # (H, W) of the scale-1 map before ×4 upsampling
    fc_hidden: int = 4096  # eigen_vgg16: width of full1
    fc_pool: tuple[int, int] = (7, 9)  # eigen_vgg16: conv features pooled to this before full1
    dropout: float = 0.5  # eigen_vgg16: dropout after full1
    compact_width: int = 32  # compact: channels of the first scale-1 conv (doubles per stage)
    scale2_channels: int = 64  # width of the scale-2 conv stack (paper: 64)
    scale3_channels: int = 64  # width of the scale-3 conv stack (paper: 64)
    init_log_depth: float = math.log(2.5)  # bias of the depth outputs (indoor mean ≈ 2.5 m)
    head_channels: int = 128  # mobile variants: width of the scale-1 head over the backbone

    def __post_init__(self) -> None:
        if self.variant not in VARIANTS:
            raise ValueError(f"unknown model variant {self.variant!r}; expected one of {VARIANTS}")
        for name in ("coarse_channels", "fc_hidden", "compact_width", "scale2_channels",
                     "scale3_channels", "head_channels"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
                raise ValueError(f"model {name} is {value!r}; expected a positive integer")
        for name in ("coarse_grid", "fc_pool"):
            value = getattr(self, name)
            if not (isinstance(value, (tuple, list)) and len(value) == 2 and all(
                    isinstance(v, numbers.Integral) and not isinstance(v, bool) and v >= 1
                    for v in value)):
                raise ValueError(f"model {name} is {value!r}; expected two positive integers "
                                 "(height, width)")
        for name in ("dropout", "init_log_depth"):
            value = getattr(self, name)
            if (isinstance(value, bool) or not isinstance(value, numbers.Real)
                    or not math.isfinite(value)):
                raise ValueError(f"model {name} is {value!r}; expected a finite number")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")

    @classmethod
    def preset(cls, variant: str) -> ModelConfig:
        """The default configuration of a variant (see :data:`VARIANTS`).

        ``compact`` narrows the scale-2/3 stacks to 32 channels: those full-resolution 5×5
        convs dominate its CPU time (about 11 GFLOP at 64 channels). The mobile variants use
        depthwise-separable stacks of 48 (scale 2) and 24 (scale 3) channels.
        """
        if variant == "compact":
            return cls(variant="compact", scale2_channels=32, scale3_channels=32)
        if variant in MOBILE_VARIANTS:
            return cls(variant=variant, scale2_channels=48, scale3_channels=24)
        return cls(variant=variant)

    def to_dict(self) -> dict[str, Any]:
        """Plain-type dict (lists for tuples) for checkpoints and YAML."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelConfig:
        """Rebuild from :meth:`to_dict` output; unknown keys are an error."""
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown model config keys {sorted(unknown)}")
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in data.items()})


@dataclass(frozen=True)
class PreprocessConfig:
    """How a camera frame becomes the network input, and the valid depth range.

    The frame is resized to ``(resize_height, resize_width)``, then cropped at
    ``(crop_top, crop_left)`` to ``(input_height, input_width)``. The prediction covers
    exactly that crop of the frame. Pixel values are normalised as ``(v - mean) / std`` on the
    0–255 scale.

    ``focal_length`` is the camera the model was trained for: fx in pixels at the network input
    (the resize scales it, the crop keeps it). A frame from a camera whose fx at the input is
    f₁ shows an object at distance z at the size it would have at z·f₀/f₁ through that camera,
    so the estimator multiplies the prediction by f₁/f₀ (:meth:`focal_scale`) when it knows
    the frame's intrinsics. 0 means unknown (checkpoints written before it was recorded): no
    rescale.
    """

    resize_height: int = 240
    resize_width: int = 320
    crop_top: int = 6
    crop_left: int = 8
    input_height: int = 228
    input_width: int = 304
    mean: float = 109.31  # the paper code's image mean (0–255 scale)
    std: float = 76.18  # the paper code's image std (0–255 scale)
    min_depth: float = 0.1  # metres; predictions below are reported invalid (NaN)
    max_depth: float = 10.0  # metres; predictions above are reported invalid (NaN)
    focal_length: float = 0.0  # training fx (pixels) at the network input; 0 = unknown

    def __post_init__(self) -> None:
        for name in ("resize_height", "resize_width", "crop_top", "crop_left", "input_height",
                     "input_width"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, numbers.Integral):
                raise ValueError(f"preprocess {name} is {value!r}; expected an integer")
        for name in ("mean", "std", "min_depth", "max_depth", "focal_length"):
            value = getattr(self, name)
            if (isinstance(value, bool) or not isinstance(value, numbers.Real)
                    or not math.isfinite(value)):
                raise ValueError(f"preprocess {name} is {value!r}; expected a finite number")
        for name in ("resize_height", "resize_width", "input_height", "input_width"):
            value = getattr(self, name)
            if not 1 <= value <= MAX_PREPROCESS_SIDE:
                raise ValueError(f"preprocess {name} is {value}; expected 1..{MAX_PREPROCESS_SIDE}"
                                 " pixels")
        if self.crop_top < 0 or self.crop_left < 0:
            raise ValueError("crop offsets must be non-negative")
        if (self.crop_top + self.input_height > self.resize_height
                or self.crop_left + self.input_width > self.resize_width):
            raise ValueError(
                f"crop {self.input_height}x{self.input_width} at ({self.crop_top}, "
                f"{self.crop_left}) does not fit the resized {self.resize_height}x"
                f"{self.resize_width} frame")
        if not 0.0 < self.min_depth < self.max_depth:
            raise ValueError(f"need 0 < min_depth < max_depth, got {self.min_depth}, "
                             f"{self.max_depth}")
        if self.std <= 0:
            raise ValueError(f"std must be positive, got {self.std}")
        if self.focal_length < 0:
            raise ValueError(f"preprocess focal_length is {self.focal_length}; expected a focal "
                             "length > 0 pixels at the network input, or 0 (unknown)")

    @classmethod
    def paper(cls) -> PreprocessConfig:
        """The paper's setting: 320×240, centre crop 304×228 (rows 6:234, cols 8:312)."""
        return cls()

    @classmethod
    def full_frame(cls) -> PreprocessConfig:
        """Resize the whole frame to 304×228 (no crop): depth for the full field of view."""
        return cls(resize_height=228, resize_width=304, crop_top=0, crop_left=0)

    def crop_fraction(self) -> tuple[float, float, float, float]:
        """The covered region as fractions of the frame: (left, top, width, height)."""
        return (self.crop_left / self.resize_width, self.crop_top / self.resize_height,
                self.input_width / self.resize_width, self.input_height / self.resize_height)

    def input_focal_length(self, fx: float, width: int) -> float:
        """fx (pixels) at the network input of a frame ``width`` pixels wide whose fx is ``fx``
        (its resize to ``resize_width`` scales it; the crop does not change it)."""
        return float(fx) * self.resize_width / width

    def focal_scale(self, fx: float, width: int) -> float:
        """f₁/f₀: the factor that makes the prediction metric for a camera with focal length
        ``fx`` at a frame ``width`` pixels wide (1.0 when :attr:`focal_length` is unknown)."""
        if self.focal_length <= 0.0:
            return 1.0
        return self.input_focal_length(fx, width) / self.focal_length

    def describe_focal_length(self) -> str:
        """Which camera the model assumes, in words (for logs)."""
        if self.focal_length <= 0.0:
            return ("assumes no focal length (not recorded in the checkpoint): depth is not "
                    "rescaled for the camera")
        # the same camera at a 640-pixel-wide frame of the resize's aspect (NYU's 640x480)
        height = round(640 * self.resize_height / self.resize_width)
        at_640 = self.focal_length * 640 / self.resize_width
        return (f"assumes fx = {self.focal_length:.1f} px at its {self.input_width}x"
                f"{self.input_height} input, i.e. {at_640:.1f} px at 640x{height}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PreprocessConfig:
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown preprocess config keys {sorted(unknown)}")
        return cls(**data)


def _fit(x: Tensor, size: tuple[int, int]) -> Tensor:
    """Crop (top-left anchored, as the paper's code) or, if too small, resize ``x`` to size."""
    h, w = size
    if x.shape[-2] >= h and x.shape[-1] >= w:
        return x[..., :h, :w]
    return F.interpolate(x, size=size, mode="bilinear", align_corners=False)


def _conv_relu(cin: int, cout: int, k: int, stride: int = 1) -> list[nn.Module]:
    pad = k // 2 if stride == 1 else 0
    return [nn.Conv2d(cin, cout, k, stride=stride, padding=pad), nn.ReLU(inplace=True)]


class VGG16Scale1(nn.Module):
    """Scale 1 of the paper: VGG16 convs, full1 4096, full2 64×14×19, ×4 upsampling."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        cin = 3
        for item in _VGG16_LAYOUT:
            if item == "M":
                layers.append(nn.MaxPool2d(2, 2))
            else:
                layers += _conv_relu(cin, int(item), 3)
                cin = int(item)
        self.features = nn.Sequential(*layers)
        # Adaptive pooling makes the head accept any input size; at 304×228 the VGG map is
        # already 7×9, so this is the identity there.
        self.pool = nn.AdaptiveAvgPool2d(cfg.fc_pool)
        gh, gw = cfg.coarse_grid
        self.grid = (gh, gw)
        self.channels = cfg.coarse_channels
        self.head = nn.Sequential(
            nn.Flatten(),
            nn.Linear(512 * cfg.fc_pool[0] * cfg.fc_pool[1], cfg.fc_hidden),  # full1
            nn.ReLU(inplace=True),
            nn.Dropout(cfg.dropout),
            nn.Linear(cfg.fc_hidden, cfg.coarse_channels * gh * gw),  # full2
            nn.ReLU(inplace=True),
        )

    def forward(self, x: Tensor) -> Tensor:
        """(B, 3, H, W) normalised image -> (B, C, 4·14, 4·19) coarse features."""
        f = self.head(self.pool(self.features(x)))
        f = f.view(x.shape[0], self.channels, *self.grid)
        return F.interpolate(f, scale_factor=4, mode="bilinear", align_corners=False)


class CompactScale1(nn.Module):
    """A small fully convolutional scale 1 (a few million parameters) with the same output."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        w = cfg.compact_width
        chans = (w, 2 * w, 4 * w, 8 * w, 8 * w)

        def block(cin: int, cout: int) -> list[nn.Module]:
            # stride-2 3×3 conv, then a 3×3 conv, each with BN + ReLU
            return [nn.Conv2d(cin, cout, 3, stride=2, padding=1, bias=False),
                    nn.BatchNorm2d(cout), nn.ReLU(inplace=True),
                    nn.Conv2d(cout, cout, 3, padding=1, bias=False),
                    nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]

        layers: list[nn.Module] = []
        cin = 3
        for c in chans:  # five halvings: 228×304 -> 8×10
            layers += block(cin, c)
            cin = c
        self.features = nn.Sequential(*layers)
        # Global context, standing in for the fully connected layers' whole-image view.
        self.context = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Conv2d(cin, cin, 1),
                                     nn.ReLU(inplace=True))
        self.grid = cfg.coarse_grid
        self.head = nn.Sequential(nn.Conv2d(2 * cin, cfg.coarse_channels, 3, padding=1),
                                  nn.ReLU(inplace=True))

    def forward(self, x: Tensor) -> Tensor:
        """(B, 3, H, W) normalised image -> (B, C, 4·14, 4·19) coarse features."""
        f = self.features(x)
        g = self.context(f).expand_as(f)
        f = F.interpolate(torch.cat([f, g], 1), size=self.grid, mode="bilinear",
                          align_corners=False)
        return F.interpolate(self.head(f), scale_factor=4, mode="bilinear", align_corners=False)


class Scale2(nn.Module):
    """Scale 2: 9×9/2 conv + 3×3/2 pool on the image, concat scale 1, convs -> coarse depth."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        c = cfg.scale2_channels
        self.image = nn.Sequential(nn.Conv2d(3, 96, 9, stride=2), nn.ReLU(inplace=True),
                                   nn.MaxPool2d(3, stride=2, padding=1))
        self.refine = nn.Sequential(
            *_conv_relu(96 + cfg.coarse_channels, c, 5), *_conv_relu(c, c, 5),
            *_conv_relu(c, c, 5), nn.Conv2d(c, 1, 5, padding=2))
        nn.init.constant_(self.refine[-1].bias, cfg.init_log_depth)

    def forward(self, x: Tensor, coarse_features: Tensor) -> Tensor:
        """Image (B, 3, H, W) + scale-1 features -> (B, 1, 55, 74) log depth at 228×304."""
        f = self.image(x)
        s1 = _fit(coarse_features, f.shape[-2:])
        return self.refine(torch.cat([f, s1], 1))


class Scale3(nn.Module):
    """Scale 3: 9×9/2 conv + 3×3/1 pool on the image, concat ×2 coarse depth -> fine depth."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        c = cfg.scale3_channels
        self.image = nn.Sequential(nn.Conv2d(3, 64, 9, stride=2), nn.ReLU(inplace=True),
                                   nn.MaxPool2d(3, stride=1, padding=1))
        self.refine = nn.Sequential(*_conv_relu(64 + 1, c, 5), *_conv_relu(c, c, 5),
                                    nn.Conv2d(c, 1, 5, padding=2))
        nn.init.zeros_(self.refine[-1].weight)
        nn.init.zeros_(self.refine[-1].bias)

    def forward(self, x: Tensor, coarse_depth: Tensor) -> Tensor:
        """Image + (B, 1, 55, 74) coarse log depth -> (B, 1, 109, 147) log depth at 228×304."""
        f = self.image(x)
        size = (f.shape[-2] - 1, f.shape[-1] - 1)  # 110×148 -> 109×147, as the paper crops
        f = f[..., : size[0], : size[1]]
        up = _fit(F.interpolate(coarse_depth, scale_factor=2, mode="bilinear",
                                align_corners=False), size)
        # Residual on the upsampled coarse depth: scale 3 starts as the identity of 1+2.
        return up + self.refine(torch.cat([f, up], 1))


def _bn_relu_conv(cin: int, cout: int, k: int, stride: int = 1, groups: int = 1,
                  relu: bool = True) -> list[nn.Module]:
    layers: list[nn.Module] = [nn.Conv2d(cin, cout, k, stride, k // 2, groups=groups,
                                         bias=False), nn.BatchNorm2d(cout)]
    return layers + [nn.ReLU(inplace=True)] if relu else layers


def _separable(cin: int, cout: int, k: int) -> list[nn.Module]:
    """Depthwise k×k → BN → pointwise 1×1 → BN → ReLU (about k² / cout of a full conv)."""
    return [*_bn_relu_conv(cin, cin, k, groups=cin, relu=False), *_bn_relu_conv(cin, cout, 1)]


def _scale2_size(h: int, w: int) -> tuple[int, int]:
    """The paper's scale-2 grid for an h×w input: 9×9/2 conv, 3×3/2 pool (55×74 at 228×304)."""
    return ((h - 9) // 2) // 2 + 1, ((w - 9) // 2) // 2 + 1


def _scale3_size(h: int, w: int) -> tuple[int, int]:
    """The paper's scale-3 grid: 9×9/2 conv, cropped by one (109×147 at 228×304)."""
    return (h - 9) // 2, (w - 9) // 2


class MobileScale1(nn.Module):
    """ImageNet mobile backbone + light head: stride-16 and stride-32 maps → coarse features.

    ``features`` is the backbone (MobileNetV2 or EfficientNet-Lite0, the part ``pretrained=``
    initialises); the head reduces the stride-32 map, adds a global-context vector (the
    whole-image view the paper's fully connected layers give), joins the stride-16 map and
    maps to ``coarse_channels`` at the paper's 4·14 × 4·19 grid.
    """

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.features = build_backbone(cfg.variant)
        c = cfg.head_channels
        self.reduce = nn.Sequential(*_bn_relu_conv(DEEP_CHANNELS, c, 1))
        self.context = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Conv2d(DEEP_CHANNELS, c, 1),
                                     nn.ReLU(inplace=True))
        self.lateral = nn.Sequential(*_bn_relu_conv(self.features.mid_channels, c, 1))
        self.head = nn.Sequential(*_separable(3 * c, c, 3),
                                  nn.Conv2d(c, cfg.coarse_channels, 1), nn.ReLU(inplace=True))
        self.size = (4 * cfg.coarse_grid[0], 4 * cfg.coarse_grid[1])

    def forward(self, x: Tensor) -> Tensor:
        """(B, 3, H, W) normalised image -> (B, C, 4·14, 4·19) coarse features."""
        mid, deep = self.features(x)  # (B, 96|112, H/16, W/16), (B, 1280, H/32, W/32)
        h, w = mid.shape[-2], mid.shape[-1]
        d = F.interpolate(self.reduce(deep), size=(h, w), mode="bilinear", align_corners=False)
        g = self.context(deep).expand(-1, -1, h, w)
        f = self.head(torch.cat([self.lateral(mid), d, g], 1))
        return F.interpolate(f, size=self.size, mode="bilinear", align_corners=False)


class MobileScale2(nn.Module):
    """Cheap scale 2: a stride-4 image path, concat scale 1, separable 5×5 convs → depth."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        c = cfg.scale2_channels
        self.image = nn.Sequential(*_bn_relu_conv(3, 24, 3, stride=2),
                                   *_bn_relu_conv(24, 24, 3, stride=2, groups=24, relu=False),
                                   *_bn_relu_conv(24, 32, 1))
        self.refine = nn.Sequential(
            *_separable(32 + cfg.coarse_channels, c, 5), *_separable(c, c, 5),
            *_separable(c, c, 5), nn.Conv2d(c, 1, 3, padding=1))
        nn.init.constant_(self.refine[-1].bias, cfg.init_log_depth)

    def forward(self, x: Tensor, coarse_features: Tensor) -> Tensor:
        """Image (B, 3, H, W) + scale-1 features -> (B, 1, 55, 74) log depth at 228×304."""
        size = _scale2_size(x.shape[-2], x.shape[-1])
        f = _fit(self.image(x), size)
        return self.refine(torch.cat([f, _fit(coarse_features, size)], 1))


class MobileScale3(nn.Module):
    """Cheap scale 3: a stride-2 image path, concat ×2 coarse depth, separable convs, residual."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        c = cfg.scale3_channels
        self.image = nn.Sequential(*_bn_relu_conv(3, 16, 3, stride=2))
        self.refine = nn.Sequential(*_separable(16 + 1, c, 5), *_separable(c, c, 5),
                                    nn.Conv2d(c, 1, 3, padding=1))
        nn.init.zeros_(self.refine[-1].weight)
        nn.init.zeros_(self.refine[-1].bias)

    def forward(self, x: Tensor, coarse_depth: Tensor) -> Tensor:
        """Image + (B, 1, 55, 74) coarse log depth -> (B, 1, 109, 147) log depth at 228×304."""
        size = _scale3_size(x.shape[-2], x.shape[-1])
        f = _fit(self.image(x), size)
        up = _fit(F.interpolate(coarse_depth, scale_factor=2, mode="bilinear",
                                align_corners=False), size)
        # Residual on the upsampled coarse depth: scale 3 starts as the identity of 1+2.
        return up + self.refine(torch.cat([f, up], 1))


class MultiScaleDepthNet(nn.Module):
    """Eigen & Fergus (2015) depth network; see the module docstring.

    Args:
        cfg: the model configuration; the model is built from it alone.
    """

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.config = cfg
        self.scale1: nn.Module
        if cfg.variant in MOBILE_VARIANTS:
            self.scale1 = MobileScale1(cfg)
            self.scale2: nn.Module = MobileScale2(cfg)
            self.scale3: nn.Module = MobileScale3(cfg)
            return
        self.scale1 = VGG16Scale1(cfg) if cfg.variant == "eigen_vgg16" else CompactScale1(cfg)
        self.scale2 = Scale2(cfg)
        self.scale3 = Scale3(cfg)

    def forward_coarse(self, x: Tensor) -> Tensor:
        """Scales 1+2: (B, 3, H, W) -> (B, 1, 55, 74) natural-log metres (at 228×304)."""
        return self.scale2(x, self.scale1(x))

    def forward(self, x: Tensor, stage: str = "fine") -> Tensor:
        """Predict natural-log depth in metres.

        Args:
            x: (B, 3, H, W) normalised image (native 228×304).
            stage: ``"fine"`` (scales 1+2+3, (B, 1, 109, 147)) or ``"coarse"`` (scales 1+2,
                (B, 1, 55, 74)).
        """
        coarse = self.forward_coarse(x)
        if stage == "coarse":
            return coarse
        if stage != "fine":
            raise ValueError(f"unknown stage {stage!r}; expected one of {STAGES}")
        return self.scale3(x, coarse)

    def coarse_parameters(self) -> Iterator[nn.Parameter]:
        """Parameters of scales 1 and 2 (the first training stage)."""
        yield from self.scale1.parameters()
        yield from self.scale2.parameters()

    def fine_parameters(self) -> Iterator[nn.Parameter]:
        """Parameters of scale 3 (the second training stage)."""
        yield from self.scale3.parameters()

    def freeze_coarse(self, frozen: bool = True) -> None:
        """Freeze (or unfreeze) scales 1+2; frozen scales also stay in eval mode."""
        for p in self.coarse_parameters():
            p.requires_grad_(not frozen)
        self._coarse_frozen = frozen
        if frozen:
            self.scale1.eval()
            self.scale2.eval()

    def train(self, mode: bool = True) -> MultiScaleDepthNet:
        super().train(mode)
        if mode and getattr(self, "_coarse_frozen", False):
            self.scale1.eval()
            self.scale2.eval()
        return self


def build_model(cfg: ModelConfig | str) -> MultiScaleDepthNet:
    """Build a network from a config (or a variant name with default settings)."""
    if isinstance(cfg, str):
        cfg = ModelConfig.preset(cfg)
    return MultiScaleDepthNet(cfg)


def load_vgg16_features(model: MultiScaleDepthNet, state: dict[str, Tensor]) -> int:
    """Initialise ``eigen_vgg16``'s scale-1 convolutions from ImageNet VGG16 weights.

    The paper starts scale 1 from an ImageNet-trained VGG16. ``state`` is a torchvision
    ``vgg16`` state dict (``features.0.weight`` ... ``features.28.bias``; e.g. the file
    ``vgg16-397923af.pth``, loaded with ``torch.load(path, weights_only=True)``): our
    ``scale1.features`` has torchvision's layer order, so the indices match.

    Returns:
        The number of tensors copied (26 for VGG16).

    Raises:
        ValueError: the model is not ``eigen_vgg16`` or ``state`` is not a VGG16 state dict.
    """
    if not isinstance(model.scale1, VGG16Scale1):
        raise ValueError(f"ImageNet VGG16 weights fit only eigen_vgg16, not "
                         f"{model.config.variant}")
    prefix = "features."
    features = {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}
    own = model.scale1.features.state_dict()
    if set(features) != set(own):
        raise ValueError(f"not a torchvision VGG16 state dict: expected the {len(own)} "
                         f"tensors {prefix}0.weight ... {prefix}28.bias, got {len(features)}")
    for name, tensor in features.items():
        if tensor.shape != own[name].shape:
            raise ValueError(f"VGG16 tensor {prefix}{name} has shape {tuple(tensor.shape)}; "
                             f"expected {tuple(own[name].shape)}")
    model.scale1.features.load_state_dict(features)
    return len(features)


def count_parameters(model: nn.Module) -> int:
    """Number of parameters (trainable or not)."""
    return sum(p.numel() for p in model.parameters())
