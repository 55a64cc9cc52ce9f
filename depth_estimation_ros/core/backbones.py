"""ImageNet-style mobile backbones (MobileNetV2, EfficientNet-Lite0) as plain torch modules.

Scale 1 of the ``mobilenet_v2`` and ``efficientnet_lite0`` model variants runs one of these
feature stacks on the whole image. They are written here (no torchvision: the node must not
depend on it) with module names chosen so ImageNet weights load by a key map
(:mod:`depth_estimation_ros.core.pretrained`):

* :class:`MobileNetV2Features` has exactly torchvision's ``mobilenet_v2().features`` names
  (``0.0.weight``, ``1.conv.0.0.weight``, ..., ``18.1.running_var``).
* :class:`EfficientNetLite0Features` groups each conv with its BatchNorm (``stem``,
  ``blocks.N.expand`` / ``depthwise`` / ``project``, ``head``: index 0 the conv, 1 the
  BatchNorm) so inference can fold them; the reference EfficientNet-Lite names
  (``_conv_stem``, ``_bn0``, ``_blocks.N._expand_conv``, ``_blocks.N._bn0``, ...) map onto
  these one to one.

Both return two maps: stride 16 (``forward`` → ``(mid, deep)``) and stride 32 after the final
1×1 conv to 1280 channels. Convolutions pad symmetrically (``k // 2``); the TensorFlow-trained
EfficientNet-Lite weights were trained with "same" padding, which differs by one pixel row and
column at stride-2 layers, a negligible change for initialisation.
"""

from __future__ import annotations

from torch import Tensor, nn

BACKBONES: tuple[str, ...] = ("mobilenet_v2", "efficientnet_lite0")
DEEP_CHANNELS = 1280  # channels of the stride-32 output of both backbones
_LITE_EPS = 1e-3  # BatchNorm epsilon of the TensorFlow-trained EfficientNet-Lite weights

# MobileNetV2 (Sandler et al. 2018, Table 2): expansion t, channels c, repeats n, stride s.
_MOBILENET_V2_SETTINGS: tuple[tuple[int, int, int, int], ...] = (
    (1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1),
    (6, 160, 3, 2), (6, 320, 1, 1),
)
# EfficientNet-Lite0 (= B0 stages, no squeeze-excitation, ReLU6): kernel, stride,
# expansion, output channels, repeats.
_EFFICIENTNET_LITE0_SETTINGS: tuple[tuple[int, int, int, int, int], ...] = (
    (3, 1, 1, 16, 1), (3, 2, 6, 24, 2), (5, 2, 6, 40, 2), (3, 2, 6, 80, 3),
    (5, 1, 6, 112, 3), (5, 2, 6, 192, 4), (3, 1, 6, 320, 1),
)


class ConvBNReLU6(nn.Sequential):
    """conv (no bias) → BatchNorm → ReLU6; torchvision's ``Conv2dNormActivation`` names."""

    def __init__(self, cin: int, cout: int, k: int = 3, stride: int = 1, groups: int = 1,
                 eps: float = 1e-5) -> None:
        super().__init__(nn.Conv2d(cin, cout, k, stride, k // 2, groups=groups, bias=False),
                         nn.BatchNorm2d(cout, eps=eps), nn.ReLU6(inplace=True))


class InvertedResidual(nn.Module):
    """MobileNetV2 block: [1×1 expand] → 3×3 depthwise → 1×1 linear projection (+ skip)."""

    def __init__(self, cin: int, cout: int, stride: int, expand: int) -> None:
        super().__init__()
        hidden = cin * expand
        layers: list[nn.Module] = []
        if expand != 1:
            layers.append(ConvBNReLU6(cin, hidden, 1))
        layers += [ConvBNReLU6(hidden, hidden, 3, stride, groups=hidden),
                   nn.Conv2d(hidden, cout, 1, bias=False), nn.BatchNorm2d(cout)]
        self.conv = nn.Sequential(*layers)
        self.use_skip = stride == 1 and cin == cout

    def forward(self, x: Tensor) -> Tensor:
        return x + self.conv(x) if self.use_skip else self.conv(x)


class MobileNetV2Features(nn.Sequential):
    """MobileNetV2 (width 1.0) ``features``: 19 modules, output 1280 channels at stride 32."""

    split = 14  # modules [0, 14) end at stride 16 (96 channels)
    mid_channels = 96

    def __init__(self) -> None:
        layers: list[nn.Module] = [ConvBNReLU6(3, 32, 3, 2)]
        cin = 32
        for t, c, n, s in _MOBILENET_V2_SETTINGS:
            for i in range(n):
                layers.append(InvertedResidual(cin, c, s if i == 0 else 1, t))
                cin = c
        layers.append(ConvBNReLU6(cin, DEEP_CHANNELS, 1))
        super().__init__(*layers)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:  # type: ignore[override]
        """(B, 3, H, W) → (B, 96, H/16, W/16), (B, 1280, H/32, W/32) (sizes rounded up)."""
        for layer in list(self)[: self.split]:
            x = layer(x)
        mid = x
        for layer in list(self)[self.split:]:
            x = layer(x)
        return mid, x


class MBConvLite(nn.Module):
    """EfficientNet-Lite block: [1×1 expand] → k×k depthwise → 1×1 projection (+ skip).

    Each conv and its BatchNorm sit in one ``Sequential`` (``expand``, ``depthwise``,
    ``project``) so inference can fold the BatchNorm into the conv.
    """

    def __init__(self, cin: int, cout: int, k: int, stride: int, expand: int) -> None:
        super().__init__()
        hidden = cin * expand
        self.expand = ConvBNReLU6(cin, hidden, 1, eps=_LITE_EPS) if expand != 1 else None
        self.depthwise = ConvBNReLU6(hidden, hidden, k, stride, groups=hidden, eps=_LITE_EPS)
        self.project = nn.Sequential(nn.Conv2d(hidden, cout, 1, bias=False),
                                     nn.BatchNorm2d(cout, eps=_LITE_EPS))
        self.use_skip = stride == 1 and cin == cout

    def forward(self, x: Tensor) -> Tensor:
        h = self.expand(x) if self.expand is not None else x
        h = self.project(self.depthwise(h))
        return x + h if self.use_skip else h


class EfficientNetLite0Features(nn.Module):
    """EfficientNet-Lite0 without its classifier: 1280 channels at stride 32."""

    split = 11  # blocks [0, 11) end at stride 16 (112 channels)
    mid_channels = 112

    def __init__(self) -> None:
        super().__init__()
        self.stem = ConvBNReLU6(3, 32, 3, 2, eps=_LITE_EPS)
        blocks: list[nn.Module] = []
        cin = 32
        for k, s, e, c, n in _EFFICIENTNET_LITE0_SETTINGS:
            for i in range(n):
                blocks.append(MBConvLite(cin, c, k, s if i == 0 else 1, e))
                cin = c
        self.blocks = nn.ModuleList(blocks)
        self.head = ConvBNReLU6(cin, DEEP_CHANNELS, 1, eps=_LITE_EPS)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """(B, 3, H, W) → (B, 112, H/16, W/16), (B, 1280, H/32, W/32) (sizes rounded up)."""
        x = self.stem(x)
        for block in self.blocks[: self.split]:
            x = block(x)
        mid = x
        for block in self.blocks[self.split:]:
            x = block(x)
        return mid, self.head(x)


def build_backbone(name: str) -> MobileNetV2Features | EfficientNetLite0Features:
    """A randomly initialised backbone by name (see :data:`BACKBONES`)."""
    if name == "mobilenet_v2":
        return MobileNetV2Features()
    if name == "efficientnet_lite0":
        return EfficientNetLite0Features()
    raise ValueError(f"unknown backbone {name!r}; expected one of {BACKBONES}")
