"""The ablation: each optimisation (channels_last, BatchNorm folding, reduced precision,
CUDA graphs, device pre/post-processing, ...) added in turn to plain fp32 eager, timed in
the same run.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import torch

from depth_estimation_ros.bench.inputs import HEIGHT, WIDTH, sample_frame
from depth_estimation_ros.bench.models import checkpoint_for
from depth_estimation_ros.bench.timing import StageClock, repeat, summarize
from depth_estimation_ros.core.camera import CameraIntrinsics, backproject
from depth_estimation_ros.core.estimator import DepthEstimator
from depth_estimation_ros.core.pointcloud import pack_cloud
from depth_estimation_ros.core.preprocessing import normalize, resize_and_crop
from depth_estimation_ros.node.params import DepthNodeParams

_LOG = logging.getLogger(__name__)


@dataclass(frozen=True)
class AblationStep:
    """One row of the ablation: estimator options and where pre/post-processing runs."""

    name: str
    half: bool = False
    channels_last: bool = False
    fold_bn: bool = False
    bfloat16: bool = False  # CPU rows only (CUDA rows use fp16)
    cudnn_benchmark: bool = False
    cuda_graphs: bool = False
    compile_mode: str | None = None
    gpu_preprocess: bool = False
    device_backproject: bool = False
    device_cloud: bool = False
    cuda_only: bool = False
    cpu_only: bool = False


def ablation_steps(compile_mode: str | None = None) -> list[AblationStep]:
    """Cumulative rows from plain fp32 eager to the full fast path (and compile, if asked).

    Rows marked ``cuda_only`` are skipped on the CPU, ``cpu_only`` ones on CUDA.
    """
    plain = AblationStep("fp32 eager (host pre/post-processing)")
    changes: list[tuple[str, dict[str, Any]]] = [
        ("+ channels_last", {"channels_last": True}),
        ("+ BatchNorm folding", {"fold_bn": True}),
        ("+ bfloat16 (CPU)", {"bfloat16": True, "cpu_only": True}),
        ("+ fp16", {"half": True, "cuda_only": True, "cpu_only": False}),
        ("+ cudnn.benchmark", {"cudnn_benchmark": True, "cuda_only": True}),
        ("+ CUDA graphs", {"cuda_graphs": True, "cuda_only": True}),
        ("+ GPU preprocessing (uint8 upload, pinned)", {"gpu_preprocess": True,
                                                        "cuda_only": True}),
        ("+ device back-projection (one download)", {"device_backproject": True,
                                                     "cuda_only": False}),
        ("+ cloud records on the device (nothing packed on the host)", {"device_cloud": True}),
    ]
    steps = [plain]
    for name, change in changes:
        steps.append(replace(steps[-1], name=name, **change))
    if compile_mode is not None:
        steps.append(replace(steps[-1], name=f"torch.compile({compile_mode}) instead of graphs",
                             cuda_graphs=False, compile_mode=compile_mode))
    return steps


def _host_preprocess(est: DepthEstimator, rgb: np.ndarray) -> torch.Tensor:
    """The plain way: resize and normalise on the CPU, then upload the float input."""
    x = torch.from_numpy(rgb).permute(2, 0, 1)[None].float()  # (1, 3, H, W) 0–255
    x = normalize(resize_and_crop(x, est.preprocess), est.preprocess)
    fmt = torch.channels_last if est.channels_last else torch.contiguous_format
    return x.to(est.device, est.dtype).contiguous(memory_format=fmt)


def ablate(variant: str, device: torch.device, *, iterations: int, warmup: int,
           checkpoint: str | None = None, compile_mode: str | None = None,
           params: DepthNodeParams | None = None) -> list[dict[str, Any]]:
    """Time each ablation step (model only and frame → host depth + points), same run."""
    params = params or DepthNodeParams()
    cuda = device.type == "cuda"
    ckpt = checkpoint_for(variant, checkpoint)
    rgb = sample_frame()
    camera = CameraIntrinsics.nyu_kinect(WIDTH, HEIGHT)
    clock = StageClock(device)
    rows: list[dict[str, Any]] = []
    for step in ablation_steps(compile_mode):
        if (step.cuda_only and not cuda) or (step.cpu_only and cuda):
            continue
        est = DepthEstimator(ckpt, device, half=step.half if cuda else False,
                             bfloat16=step.bfloat16 and not cuda,
                             channels_last=step.channels_last, fold_bn=step.fold_bn,
                             cudnn_benchmark=step.cudnn_benchmark, cuda_graphs=step.cuda_graphs,
                             compile_mode=step.compile_mode)
        x = est.prepare_input(rgb[None])

        def model_only(est: DepthEstimator = est, x: torch.Tensor = x) -> float:
            return clock.time(lambda: est.predict_depth(x), on_device=True)[1]

        def frame(est: DepthEstimator = est, step: AblationStep = step) -> Any:
            args = (params.pointcloud_decimation, params.min_range, params.max_range)
            d = params.pointcloud_decimation
            colours = rgb[::d, ::d] if params.pointcloud_color else None
            if step.device_cloud:
                return est.estimate_with_cloud(rgb, "rgb8", "input", camera, *args,
                                               params.pointcloud_color)
            if step.device_backproject:
                depth, xyz = est.estimate_with_points(rgb, "rgb8", "input", camera, *args)
                return depth, pack_cloud(xyz, colours)
            if step.gpu_preprocess:
                depth = est.estimate(rgb, "rgb8", "input")
            else:
                native = est.predict_depth(_host_preprocess(est, rgb))
                depth = est.to_host(est.postprocess(native, WIDTH, HEIGHT, "input")[0])
            return depth, pack_cloud(backproject(depth, camera, *args), colours)

        for _ in range(warmup):
            model_only()
        model_times = [model_only() for _ in range(iterations)]
        frame_times, _ = repeat(frame, iterations, warmup, clock.sync)
        rows.append({"variant": variant, "device": str(device), "step": step.name,
                     "estimator": est.describe(), "model": summarize(model_times),
                     "frame": summarize(frame_times)})
        _LOG.info(f"ablation {variant} {device} {step.name}: model p50 "
                  f"{rows[-1]['model']['p50_ms']:.2f} ms, frame p50 "
                  f"{rows[-1]['frame']['p50_ms']:.2f} ms")
        del est, x
    base_model, base_frame = rows[0]["model"]["p50_ms"], rows[0]["frame"]["p50_ms"]
    for row in rows:
        row["model_speedup"] = base_model / row["model"]["p50_ms"]
        row["frame_speedup"] = base_frame / row["frame"]["p50_ms"]
    return rows
