"""Time one model variant on one device: every stage, the whole-frame paths side by side,
throughput and the non-network share.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import torch

from depth_estimation_ros.bench.inputs import HEIGHT, WIDTH, image_cdr, sample_frame
from depth_estimation_ros.bench.machine import cpu_model_name
from depth_estimation_ros.bench.models import checkpoint_for, network_cost
from depth_estimation_ros.bench.stages import (
    HOST_STAGES,
    NETWORK_STAGE,
    STAGES,
    FrameJob,
    run_end_to_end,
    run_fast_path,
    run_pipeline,
    run_stages,
)
from depth_estimation_ros.bench.timing import StageClock, interleaved, summarize
from depth_estimation_ros.core.camera import CameraIntrinsics
from depth_estimation_ros.core.estimator import DepthEstimator
from depth_estimation_ros.dds.types import dds_message_types
from depth_estimation_ros.node.params import DepthNodeParams
from depth_estimation_ros.node.pipeline import FramePipeline

_LOG = logging.getLogger(__name__)


def benchmark_config(variant: str, device: torch.device, *, iterations: int, warmup: int,
                     batch: int = 1, checkpoint: str | None = None,
                     cuda_graphs: bool = True, compile_mode: str | None = None,
                     bfloat16: bool = False,
                     params: DepthNodeParams | None = None) -> dict[str, Any]:
    """Time one variant on one device: per stage, end to end, fast path and pipeline."""
    params = params or DepthNodeParams()
    cuda = device.type == "cuda"
    est = DepthEstimator(checkpoint_for(variant, checkpoint), device,
                         cuda_graphs=cuda_graphs and cuda, compile_mode=compile_mode,
                         bfloat16=bfloat16)
    _LOG.info(f"benchmarking {est.describe()}, batch {batch}, {iterations} iterations")
    frames = [sample_frame(seed=i) for i in range(batch)]
    job = FrameJob(est, params, CameraIntrinsics.nyu_kinect(WIDTH, HEIGHT),
                   [image_cdr(f, (1, i)) for i, f in enumerate(frames)],
                   dds_message_types())
    clock = StageClock(device)
    for _ in range(warmup):
        run_stages(job, clock)
    per_stage: dict[str, list[float]] = {s: [] for s in STAGES + HOST_STAGES}
    for _ in range(iterations):
        for name, seconds in run_stages(job, clock).items():
            per_stage[name].append(seconds)
    stages = {s: summarize(v) for s, v in per_stage.items() if v}
    total_p50 = sum(stages[s]["p50_ms"] for s in STAGES if s in stages)
    result: dict[str, Any] = {
        "variant": variant, "device": str(device),
        "device_name": torch.cuda.get_device_name(device) if cuda else cpu_model_name(),
        "estimator": est.describe(), "precision": est.precision,
        "channels_last": est.channels_last, "cuda_graphs": est.cuda_graphs,
        "compile_mode": compile_mode, "batch": batch, "threads": torch.get_num_threads(),
        "cloud": {"colour": params.pointcloud_color,
                  "decimation": params.pointcloud_decimation},
        **network_cost(variant),
        "stages": stages,
        "stages_p50_sum_ms": total_p50,
        # everything but the network, as a share of the node's stages (p50s, summed)
        "non_network_share": 1.0 - stages[NETWORK_STAGE]["p50_ms"] / total_p50,
    }
    # The whole-frame figures are taken round-robin, one frame of each in turn, so a slow
    # patch of this (shared) machine hits all of them alike and their ratios hold.
    runs: dict[str, Callable[[], Any]] = {"end_to_end": lambda: run_end_to_end(job)}
    if batch == 1:
        pipeline = FramePipeline(est, params)
        x = est.prepare_input(frames[0][None])
        runs.update({"fast_path": lambda: run_fast_path(job),
                     "ready": lambda: run_fast_path(job, serialize=False),
                     "pipeline": lambda: run_pipeline(job, pipeline),
                     "network": lambda: est.predict_depth(x)})
    for name, times in interleaved(runs, iterations, warmup, clock.sync).items():
        result[name] = {**summarize(times), "frames_per_s": batch * len(times) / sum(times)}
    if batch == 1:
        # everything but the network as a share of the node's frame, timed side by side
        result["pipeline_non_network_share"] = (
            1.0 - result["network"]["p50_ms"] / result["pipeline"]["p50_ms"])
    return result
