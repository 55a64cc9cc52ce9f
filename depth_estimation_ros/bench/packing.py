"""Cloud packing and DDS encoding against the naive ways: ``pack_cloud`` vs a per-point
``struct.pack`` loop, ``PayloadEncoder`` vs cyclonedds' stock ``serialize``, same run.
"""

from __future__ import annotations

import struct
from typing import Any

import numpy as np

from depth_estimation_ros.bench.inputs import (
    FRAME_ID,
    HEIGHT,
    WIDTH,
    sample_cloud,
    sample_frame,
    sample_points,
)
from depth_estimation_ros.bench.timing import repeat, summarize
from depth_estimation_ros.core.pointcloud import XYZRGB_POINT_STEP, pack_cloud
from depth_estimation_ros.dds import messages
from depth_estimation_ros.dds.types import dds_message_types
from depth_estimation_ros.node import msgconv


def struct_pack_cloud(xyz: np.ndarray, rgb: np.ndarray | None) -> bytes:
    """The naive way: one ``struct.pack`` per point (same layout as ``pack_cloud``)."""
    points = xyz.reshape(-1, 3).tolist()
    if rgb is None:
        pack = struct.Struct("<fff4x").pack
        return b"".join([pack(x, y, z) for x, y, z in points])
    pack = struct.Struct("<fff4xI12x").pack
    colours = rgb.reshape(-1, 3).tolist()
    return b"".join([pack(x, y, z, (r << 16) | (g << 8) | b)
                     for (x, y, z), (r, g, b) in zip(points, colours, strict=True)])


def compare_packing(colour: bool = True, repeats: int = 20,
                    loop_repeats: int = 3) -> dict[str, Any]:
    """``pack_cloud`` vs a per-point ``struct.pack`` loop over one 640×480 cloud, same run."""
    xyz = sample_points()
    colours = sample_frame() if colour else None
    packed: list[bytes] = []
    fast, _ = repeat(lambda: pack_cloud(xyz, colours), repeats, 2, lambda: None)
    slow, _ = repeat(lambda: packed.append(struct_pack_cloud(xyz, colours)), loop_repeats, 0,
                      lambda: None)
    same = bytes(pack_cloud(xyz, colours).data) == packed[-1]
    fast_s, slow_s = summarize(fast), summarize(slow)
    return {"points": WIDTH * HEIGHT, "colour": colour,
            "point_step": XYZRGB_POINT_STEP if colour else 16,
            "pack_cloud": fast_s, "struct_pack_loop": slow_s,
            "ratio_p50": slow_s["p50_ms"] / fast_s["p50_ms"], "identical_bytes": same}


def compare_encoding(colour: bool = True, repeats: int = 20) -> dict[str, Any]:
    """DDS encoding of one 640×480 cloud message: what ``DataWriter.write`` does with
    cyclonedds' serializer (``serialize`` then pad to 4 bytes) vs ``PayloadEncoder``, same
    run, same message; and whether the bytes are identical."""
    cloud = sample_cloud(colour)
    msg = msgconv.point_cloud_msg(dds_message_types(), cloud, (1, 0), FRAME_ID)

    def stock() -> bytes:
        raw = msg.serialize(use_version_2=False)
        return raw.ljust((len(raw) + 3) & ~3, b"\0")

    encoder = messages.PayloadEncoder()
    slow, _ = repeat(stock, repeats, 2, lambda: None)
    fast, _ = repeat(lambda: encoder.encode(msg), repeats, 2, lambda: None)
    slow_s, fast_s = summarize(slow), summarize(fast)
    return {"bytes": len(stock()), "stock_serialize": slow_s, "payload_encoder": fast_s,
            "ratio_p50": slow_s["p50_ms"] / fast_s["p50_ms"],
            "identical_bytes": bytes(encoder.encode(msg)) == stock()}
