"""What the node's depth filters and voxel cloud cost per frame (the benchmark's stages).

`measure_filter_cost` times each filter stage as the node runs it (`pipeline.apply_filters`,
`pipeline.voxel_cloud`) on a 640x480 depth map of known geometry (a floor, a wall at 3 m and
a box at 1.5 m, smeared the way a 147x109 network output upsampled to 640x480 is), frame after
frame with a small per-frame scale wobble so the temporal filter and the stabiliser do real
work. No ROS imports.
"""

from __future__ import annotations

import time
from collections.abc import Mapping

import cv2
import numpy as np

from depth_estimation_ros.core.camera import CameraIntrinsics
from depth_estimation_ros.core.filters import DepthFilters
from depth_estimation_ros.core.pointcloud import pack_cloud
from depth_estimation_ros.node.params import DepthNodeParams
from depth_estimation_ros.node.pipeline import (
    FrameResult,
    apply_filters,
    filter_config,
    voxel_cloud,
)

WIDTH, HEIGHT = 640, 480
CAMERA = CameraIntrinsics(525.0, 525.0, 319.5, 239.5, WIDTH, HEIGHT)

# stage name -> parameter changes from the node's defaults (edge filter on, others off)
FILTER_STAGES: dict[str, dict[str, object]] = {
    "edge filter": {"edge_filter": True},
    "temporal filter": {"edge_filter": False, "temporal_filter": True},
    "scale stabiliser": {"edge_filter": False, "scale_stabilizer": True},
    "all filters": {"edge_filter": True, "temporal_filter": True, "scale_stabilizer": True},
    "all filters + cloud": {"edge_filter": True, "temporal_filter": True,
                            "scale_stabilizer": True, "publish_pointcloud": True},
    "voxel cloud 5 cm": {"edge_filter": False, "cloud_voxel_size": 0.05},
}


def room_depth(width: int = WIDTH, height: int = HEIGHT) -> np.ndarray:
    """(H, W) float32 metres: floor 0.5 m below the camera, a wall at 3 m, a box at 1.5 m,
    at the network's 147x109 and bilinearly upsampled (its edge smear)."""
    v, u = np.mgrid[0:height, 0:width].astype(np.float32)
    y = (v - (height - 1) / 2) / CAMERA.fy
    floor = np.where(y > 1e-3, 0.5 / np.maximum(y, 1e-3), np.inf)
    depth = np.minimum(3.0, floor)
    box = (u > width * 0.35) & (u < width * 0.6) & (v > height * 0.3) & (v < height * 0.75)
    depth = np.where(box, 1.5, depth).astype(np.float32)
    low = cv2.resize(depth, (147, 109), interpolation=cv2.INTER_AREA)
    return cv2.resize(low, (width, height), interpolation=cv2.INTER_LINEAR)


def measure_filter_cost(iterations: int = 200, warmup: int = 20,
                        params: DepthNodeParams | None = None, threads: int = 2,
                        stages: Mapping[str, Mapping[str, object]] | None = None,
                        ) -> dict[str, dict[str, float]]:
    """Milliseconds per 640x480 frame of each filter stage.

    Args:
        iterations: Timed frames per stage.
        warmup: Untimed frames first.
        params: Node parameters the stages' changes are applied to (defaults: the node's).
        threads: OpenCV threads (the filters' only parallel part); restored afterwards.
        stages: Stage name -> parameter changes; default `FILTER_STAGES`.

    Returns:
        ``{stage: {"p50_ms", "p90_ms", "mean_ms"}}``.
    """
    base = params or DepthNodeParams()
    depth = room_depth()
    wobble = [depth * np.float32(1.0 + 0.02 * np.sin(i)) for i in range(8)]
    old_threads = cv2.getNumThreads()
    cv2.setNumThreads(threads)
    out: dict[str, dict[str, float]] = {}
    try:
        for name, changes in (stages or FILTER_STAGES).items():
            p = base.with_changes(dict(changes))
            filters = DepthFilters(filter_config(p))
            times = []
            for i in range(warmup + iterations):
                frame = wobble[i % len(wobble)]
                d = p.pointcloud_decimation  # the cloud the node would have packed
                cloud = pack_cloud(np.zeros((-(-HEIGHT // d), -(-WIDTH // d), 3),
                                            np.float32)) if (
                    changes.get("publish_pointcloud")) else None
                t0 = time.perf_counter()
                filtered = frame
                if filters.config.enabled:
                    filtered, _, _ = apply_filters(filters, frame, CAMERA, cloud, p, "camera",
                                                   (i // 30, (i % 30) * 33_333_333))
                if p.cloud_voxel_size > 0.0:
                    voxel_cloud(FrameResult(filtered, CAMERA, None, (0, 0), "camera", {}, 0.0),
                                p)
                if i >= warmup:
                    times.append(time.perf_counter() - t0)
            ms = 1e3 * np.asarray(times)
            out[name] = {"p50_ms": float(np.percentile(ms, 50)),
                         "p90_ms": float(np.percentile(ms, 90)),
                         "mean_ms": float(ms.mean())}
    finally:
        cv2.setNumThreads(old_threads)
    return out


def main() -> None:
    """Print the table (``python -m depth_estimation_ros.node.filter_cost``)."""
    print("| stage | p50 (ms) | p90 (ms) | mean (ms) |")
    print("|---|---|---|---|")
    for name, row in measure_filter_cost().items():
        print(f"| {name} | {row['p50_ms']:.2f} | {row['p90_ms']:.2f} | {row['mean_ms']:.2f} |")


if __name__ == "__main__":
    main()
