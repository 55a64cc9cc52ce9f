"""Time the stand-in sensors on the host: the laser scan, the range sectors and the colour
view of a rendered 640×480 depth image, each with its message.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from depth_estimation_ros.bench.inputs import FRAME_ID, HEIGHT, WIDTH
from depth_estimation_ros.bench.timing import interleaved, summarize
from depth_estimation_ros.core.standin import (
    RADIATION_TYPES,
    RangeConfig,
    ScanConfig,
    depth_to_ranges,
    depth_to_scan,
)
from depth_estimation_ros.core.visualize import DepthColorizer
from depth_estimation_ros.dds.types import dds_message_types
from depth_estimation_ros.node import msgconv
from depth_estimation_ros.node.params import DepthNodeParams
from depth_estimation_ros.sim import render_scene


def measure_standins(iterations: int = 200, warmup: int = 10,
                     params: DepthNodeParams | None = None, sectors: int = 3
                     ) -> dict[str, Any]:
    """p50/p99 of the stand-in sensors and the colour view on a 640×480 depth image."""
    params = params or DepthNodeParams()
    frame = render_scene(7, WIDTH, HEIGHT)
    depth = frame.depth.copy()  # (H, W) float32 metres
    depth[np.random.default_rng(0).random(depth.shape) < 0.05] = np.nan
    camera = frame.intrinsics
    types = dds_message_types()
    stamp = (1, 0)
    scan_cfg = ScanConfig(params.scan_height, params.scan_offset, params.scan_decimation,
                          params.scan_range_min, params.scan_range_max)
    range_cfg = RangeConfig(sectors, min(params.range_field_of_view, 0.3),
                            RADIATION_TYPES[params.range_radiation_type], params.range_min,
                            params.range_max, params.range_percentile)
    colorize = DepthColorizer(params.color_min, params.color_max, params.color_map)

    def scan() -> Any:
        return msgconv.laser_scan_msg(types, depth_to_scan(depth, camera, scan_cfg, 0.033),
                                      stamp, FRAME_ID + "_scan")

    def ranges() -> Any:
        return [msgconv.range_msg(types, r, stamp, FRAME_ID)
                for r in depth_to_ranges(depth, camera, range_cfg)]

    def color() -> Any:
        return msgconv.rgb_image_msg(types, colorize(depth), stamp, FRAME_ID)

    def standins() -> Any:
        return scan(), ranges(), color()

    fns = {"scan": scan, "ranges": ranges, "color": color, "standins": standins}
    return {"width": WIDTH, "height": HEIGHT, "sectors": sectors,
            "field_of_view": range_cfg.field_of_view, "scan_height": scan_cfg.height,
            **{name: summarize(seconds) for name, seconds in
               interleaved(fns, iterations, warmup, lambda: None).items()}}
