"""Stage-by-stage timing of the depth frame pipeline, per model variant and device.

``python -m depth_estimation_ros.benchmark`` feeds 640×480 ``rgb8`` frames, as CDR bytes the
way they arrive from DDS, through every stage the node runs and reports p50/p99 per stage
and end to end, and throughput. At batch 1 the stages are the node's own path
(``DepthEstimator.fast_frame``, what ``estimate_with_cloud`` and ``FramePipeline`` run):

========================  ======================================================================
``deserialize``           CDR bytes → ``sensor_msgs/Image`` (DDS message class)
``decode``                ``Image`` → (H, W, 3) uint8 RGB (``msgconv.image_to_rgb``)
``preprocess``            upload, channel order, resize, crop, normalise (on the device)
``inference``             the network and ``exp``: (B, 1, 109, 147) metres (model only)
``postprocess``           upsample to the frame, NaN outside the valid range
``backproject``           depth → x, y, z written into the PointCloud2 records (zeroed first),
                          on the device
``pack``                  the packed colour written into the records (nothing without colour)
``download``              depth and cloud records to the host, one copy
``serialize``             depth ``Image``, ``CameraInfo``, ``PointCloud2`` → CDR bytes, as the
                          DDS publishers encode them (``PayloadEncoder``)
========================  ======================================================================

For comparison it also times the plain host alternative: ``host_backproject``
(``camera.backproject`` into an (H, W, 3) grid) and ``host_pack`` (``pointcloud.pack_cloud``).
With ``--batch`` > 1 the stages are the batch API's (``prepare_input``, ``predict_depth``,
``postprocess`` with the download, then host back-projection and packing).

Device stages are timed with CUDA events on a GPU (after warm-up), host stages with
``time.perf_counter``. End to end is timed separately, without the per-stage
synchronisation, four ways: ``end_to_end`` (the plain path: ``estimate_batch``, host
back-projection and packing, serialisation), ``fast_path`` (``estimate_with_cloud`` and
serialisation), ``ready`` (the fast path up to depth, camera info and cloud ready on the
host, before serialisation) and ``pipeline`` (the node's ``pipeline.FramePipeline.process``
with decode and serialisation, batch 1). It also times ``pointcloud.pack_cloud`` against a
per-point ``struct.pack`` loop over the same cloud, the DDS encoding of the cloud against
cyclonedds' stock ``serialize``, and with ``--ablation`` each optimisation against the plain
fp32 eager path in the same run.

The stand-in sensors are timed on the host on a rendered 640×480 room (exact depth, 5 % NaN
holes), cached geometry warm, each stage the core call plus its message (DDS classes):
``scan`` (``standin.depth_to_scan``, one ray per column), ``ranges`` (three sectors,
``standin.depth_to_ranges``), ``color`` (``visualize.DepthColorizer``, rgb8) and
``standins`` (all three in a row, what the node adds per frame with all of them
subscribed); ``--standins-only`` runs just these.

Untrained weights are fine for timing: each variant is built from ``ModelConfig.preset`` in
memory, unless ``--checkpoint`` (or, for ``compact``, the shipped checkpoint) is given.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import struct
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from depth_estimation_ros import __version__
from depth_estimation_ros.core.camera import CameraIntrinsics, backproject
from depth_estimation_ros.core.checkpoint import (
    FORMAT,
    FORMAT_VERSION,
    default_checkpoint_path,
    load_checkpoint,
)
from depth_estimation_ros.core.estimator import DepthEstimator, resolve_device
from depth_estimation_ros.core.model import (
    VARIANTS,
    ModelConfig,
    PreprocessConfig,
    build_model,
    count_parameters,
)
from depth_estimation_ros.core.pointcloud import (
    XYZ_POINT_STEP,
    XYZRGB_POINT_STEP,
    CloudBuffer,
    cloud_from_records,
    pack_cloud,
)
from depth_estimation_ros.core.preprocessing import normalize, resize_and_crop
from depth_estimation_ros.core.standin import (
    RADIATION_TYPES,
    RangeConfig,
    ScanConfig,
    depth_to_ranges,
    depth_to_scan,
)
from depth_estimation_ros.core.visualize import DepthColorizer
from depth_estimation_ros.dds import messages
from depth_estimation_ros.node import msgconv
from depth_estimation_ros.node.params import DepthNodeParams
from depth_estimation_ros.node.pipeline import Frame, FramePipeline
from depth_estimation_ros.sim.render import render_scene

_LOG = logging.getLogger(__name__)

WIDTH, HEIGHT = 640, 480  # camera frame (pixels)
STAGES: tuple[str, ...] = ("deserialize", "decode", "preprocess", "inference", "postprocess",
                           "backproject", "pack", "download", "serialize")
HOST_STAGES: tuple[str, ...] = ("host_backproject", "host_pack")  # the plain alternative
NETWORK_STAGE = "inference"
_FRAME_ID = "camera_color_optical_frame"


# ------------------------------------------------------------------------------ statistics
def summarize(seconds: Sequence[float]) -> dict[str, float]:
    """p50/p99/mean/min of a list of durations, in milliseconds."""
    ms = np.asarray(seconds, dtype=np.float64) * 1e3
    return {"p50_ms": float(np.percentile(ms, 50)), "p99_ms": float(np.percentile(ms, 99)),
            "mean_ms": float(ms.mean()), "min_ms": float(ms.min()), "n": int(ms.size)}


class StageClock:
    """Times callables on the host (``perf_counter``) or on a CUDA stream (events)."""

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self.cuda = device.type == "cuda"

    def sync(self) -> None:
        """Wait for all queued device work."""
        if self.cuda:
            torch.cuda.synchronize(self.device)

    def time(self, fn: Callable[[], Any], on_device: bool) -> tuple[Any, float]:
        """Run ``fn``; return its result and seconds taken (device time if ``on_device``)."""
        if self.cuda and on_device:
            self.sync()
            start = torch.cuda.Event(enable_timing=True)
            end = torch.cuda.Event(enable_timing=True)
            stream = torch.cuda.current_stream(self.device)
            start.record(stream)
            result = fn()
            end.record(stream)
            end.synchronize()
            return result, start.elapsed_time(end) / 1e3
        t0 = time.perf_counter()
        result = fn()
        return result, time.perf_counter() - t0


# ------------------------------------------------------------------------------ inputs
def sample_frame(width: int = WIDTH, height: int = HEIGHT, seed: int = 0) -> np.ndarray:
    """A deterministic picture-like (H, W, 3) uint8 RGB frame (smooth blocks plus noise)."""
    rng = np.random.default_rng(seed)
    coarse = rng.integers(0, 256, (height // 16 + 1, width // 16 + 1, 3), dtype=np.uint8)
    img = np.kron(coarse, np.ones((16, 16, 1), dtype=np.uint8))[:height, :width]
    noise = rng.integers(0, 8, img.shape, dtype=np.uint8)
    return np.ascontiguousarray(img // 2 + noise)


def sample_points() -> np.ndarray:
    """(480, 640, 3) points over a depth ramp, with NaN (invalid) points as real clouds have."""
    depth = np.linspace(0.5, 6.0, WIDTH * HEIGHT, dtype=np.float32).reshape(HEIGHT, WIDTH)
    depth[::7, ::5] = np.nan
    return backproject(depth, CameraIntrinsics.nyu_kinect(WIDTH, HEIGHT))


def sample_cloud(colour: bool = True) -> CloudBuffer:
    """``sample_points`` packed, coloured with ``sample_frame``."""
    return pack_cloud(sample_points(), sample_frame() if colour else None)


def image_cdr(rgb: np.ndarray, stamp: tuple[int, int] = (1, 0)) -> bytes:
    """The CDR bytes of a ``sensor_msgs/Image`` rgb8 message carrying ``rgb``."""
    height, width = rgb.shape[:2]
    msg = messages.Image(
        header=messages.Header(stamp=messages.Time(sec=stamp[0], nanosec=stamp[1]),
                               frame_id=_FRAME_ID),
        height=height, width=width, encoding="rgb8", is_bigendian=0, step=width * 3,
        data=rgb)
    return msg.serialize(use_version_2=False)  # XCDR1, as ROS 2 publishers send it


def untrained_checkpoint(variant: str, seed: int = 0) -> dict[str, Any]:
    """An in-memory checkpoint of an untrained ``variant`` (full-frame preprocessing).

    Built from ``ModelConfig.preset(variant)``; no file is written (eigen_vgg16 would be
    ~870 MB).
    """
    torch.manual_seed(seed)
    cfg = ModelConfig.preset(variant)
    model = build_model(cfg)
    return {"format": FORMAT, "format_version": FORMAT_VERSION,
            "model_state": model.state_dict(), "model_config": cfg.to_dict(),
            "preprocess": PreprocessConfig.full_frame().to_dict(),
            "training": {"note": "untrained, for timing only"}, "metrics": {},
            "code_version": __version__, "path": f"<untrained {variant}>"}


def checkpoint_for(variant: str, explicit: str | None) -> dict[str, Any]:
    """``explicit`` if it holds ``variant``, else the shipped one if it does, else untrained."""
    for path in (explicit, default_checkpoint_path() if explicit is None else None):
        if path is None or not Path(path).is_file():
            continue
        ckpt = load_checkpoint(path)
        if ckpt["model_config"].get("variant") == variant:
            return ckpt
    return untrained_checkpoint(variant)


def network_cost(variant: str) -> dict[str, float]:
    """Parameters and FLOPs (2 per multiply-add, convs and linears) at 228×304, batch 1.

    Counted on the meta device with ``torch.utils.flop_counter.FlopCounterMode``: no memory
    is allocated and nothing is computed.
    """
    from torch.utils.flop_counter import FlopCounterMode

    with torch.device("meta"):
        model = build_model(ModelConfig.preset(variant)).eval()
        x = torch.empty(1, 3, 228, 304)
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model(x)
    per_scale = counter.get_flop_counts()
    return {"parameters": count_parameters(model),
            "gflop": counter.get_total_flops() / 1e9,
            **{f"gflop_{s}": sum(per_scale.get(f"MultiScaleDepthNet.{s}", {}).values()) / 1e9
               for s in ("scale1", "scale2", "scale3")}}


# ------------------------------------------------------------------------------ one frame
@dataclass
class FrameJob:
    """Everything one benchmark configuration needs to run frames through the stages."""

    estimator: DepthEstimator
    params: DepthNodeParams
    intrinsics: CameraIntrinsics
    raw: list[bytes]  # one CDR Image per frame of the batch
    types: msgconv.MessageTypes
    # one reused encoder per publisher, as dds.runtime.Publisher keeps them
    encoders: tuple[messages.PayloadEncoder, messages.PayloadEncoder] = field(
        default_factory=lambda: (messages.PayloadEncoder(), messages.PayloadEncoder()))

    def serialize(self, depth: np.ndarray, cloud: CloudBuffer, stamp: tuple[int, int]) -> int:
        """Build the three output messages and encode them as the DDS publishers do (XCDR1,
        images and clouds through a reused ``PayloadEncoder``); returns the bytes written."""
        t = self.types
        image_enc, cloud_enc = self.encoders
        n = len(image_enc.encode(msgconv.depth_image_msg(t, depth, stamp, _FRAME_ID)))
        n += len(msgconv.camera_info_msg(t, self.intrinsics, stamp, _FRAME_ID)
                 .serialize(use_version_2=False))
        return n + len(cloud_enc.encode(msgconv.point_cloud_msg(t, cloud, stamp, _FRAME_ID)))

    @property
    def per_point(self) -> int:
        """float32 values per cloud record (8 with colour, 4 without)."""
        return (XYZRGB_POINT_STEP if self.params.pointcloud_color else XYZ_POINT_STEP) // 4

    def cloud(self, xyz: np.ndarray, rgb: np.ndarray) -> Any:
        """Pack points (and, as the node's default, colours) into a PointCloud2 buffer."""
        if not self.params.pointcloud_color:
            return pack_cloud(xyz)
        step = self.params.pointcloud_decimation
        return pack_cloud(xyz, rgb[::step, ::step])

    def backproject(self, depth: np.ndarray) -> np.ndarray:
        p = self.params
        return backproject(depth, self.intrinsics, p.pointcloud_decimation, p.min_range,
                           p.max_range)


def _decode(raw: bytes, max_pixels: int) -> tuple[np.ndarray, tuple[int, int]]:
    msg = messages.Image.deserialize(raw)
    return msgconv.image_to_rgb(msg, max_pixels), msgconv.stamp_and_frame(msg)[0]


def run_stages(job: FrameJob, clock: StageClock) -> dict[str, float]:
    """One batch through every stage, each timed on its own; seconds per stage."""
    est, p = job.estimator, job.params
    colour = p.pointcloud_color
    times: dict[str, float] = {}
    msgs, times["deserialize"] = clock.time(
        lambda: [messages.Image.deserialize(r) for r in job.raw], on_device=False)
    rgbs, times["decode"] = clock.time(
        lambda: [msgconv.image_to_rgb(m, p.max_input_pixels) for m in msgs], on_device=False)
    if len(rgbs) == 1:  # the node's path
        frame, upload = clock.time(lambda: est.fast_frame(
            rgbs[0], "rgb8", "input", job.intrinsics, p.pointcloud_decimation, p.min_range,
            p.max_range), on_device=True)
        x, prepare = clock.time(frame.prepare, on_device=True)
        times["preprocess"] = upload + prepare
        native, times["inference"] = clock.time(lambda: frame.infer(x), on_device=True)
        _, times["postprocess"] = clock.time(lambda: frame.finish(native, job.per_point), True)
        _, times["backproject"] = clock.time(frame.write_points, on_device=True)
        _, times["pack"] = clock.time(
            frame.write_colour if colour else (lambda: None), on_device=True)
        (depth, records), times["download"] = clock.time(frame.download, on_device=False)
        depths, clouds = [depth], [cloud_from_records(records, colour)]
    else:  # the batch API, then back-projection and packing on the host
        x, times["preprocess"] = clock.time(lambda: est.prepare_input(np.stack(rgbs)), True)
        native, times["inference"] = clock.time(lambda: est.predict_depth(x), True)
        depths, times["postprocess"] = clock.time(
            lambda: list(est.to_host(est.postprocess(native, WIDTH, HEIGHT, "input"))), True)
        xyzs, times["backproject"] = clock.time(
            lambda: [job.backproject(d) for d in depths], on_device=False)
        clouds, times["pack"] = clock.time(
            lambda: [job.cloud(xyz, rgb) for xyz, rgb in zip(xyzs, rgbs, strict=True)], False)
    stamp = msgconv.stamp_and_frame(msgs[0])[0]
    _, times["serialize"] = clock.time(
        lambda: [job.serialize(d, c, stamp) for d, c in zip(depths, clouds, strict=True)],
        on_device=False)
    # the plain host alternative to backproject + pack, for comparison (not in the frame)
    xyzs, times["host_backproject"] = clock.time(
        lambda: [job.backproject(d) for d in depths], on_device=False)
    _, times["host_pack"] = clock.time(
        lambda: [job.cloud(xyz, rgb) for xyz, rgb in zip(xyzs, rgbs, strict=True)], False)
    return times


def run_end_to_end(job: FrameJob) -> int:
    """The plain path on a batch: ``estimate_batch``, back-projection and packing on the
    host, serialisation; returns bytes out."""
    est, p = job.estimator, job.params
    decoded = [_decode(r, p.max_input_pixels) for r in job.raw]
    rgbs = [rgb for rgb, _ in decoded]
    depths = est.estimate_batch(rgbs, "rgb8", "input")
    return sum(job.serialize(d, job.cloud(job.backproject(d), rgb), stamp)
               for d, (rgb, stamp) in zip(depths, decoded, strict=True))


def run_fast_path(job: FrameJob, serialize: bool = True) -> int:
    """Batch 1, depth and finished cloud from the device in one download
    (``estimate_with_cloud``).

    Without ``serialize`` it stops when depth, camera info and the cloud are ready on the
    host (the ``ready`` figure); with it, the three messages are also encoded.
    """
    p = job.params
    rgb, stamp = _decode(job.raw[0], p.max_input_pixels)
    depth, cloud = job.estimator.estimate_with_cloud(
        rgb, "rgb8", "input", job.intrinsics, p.pointcloud_decimation, p.min_range,
        p.max_range, p.pointcloud_color)
    if serialize:
        return job.serialize(depth, cloud, stamp)
    info = msgconv.camera_info_msg(job.types, job.intrinsics, stamp, _FRAME_ID)
    return depth.nbytes + cloud.data.nbytes + len(info.k)


def run_pipeline(job: FrameJob, pipeline: FramePipeline) -> int:
    """Batch 1 through the node's ``FramePipeline.process`` plus decode and serialise."""
    rgb, stamp = _decode(job.raw[0], job.params.max_input_pixels)
    result = pipeline.process(Frame(rgb, stamp, _FRAME_ID, job.intrinsics))
    return job.serialize(result.depth, result.cloud, stamp)


def _repeat(fn: Callable[[], Any], iterations: int, warmup: int,
            sync: Callable[[], None]) -> tuple[list[float], float]:
    """Per-call seconds of ``fn`` after ``warmup`` calls, and the total wall time."""
    for _ in range(warmup):
        fn()
    sync()
    times = []
    start = time.perf_counter()
    for _ in range(iterations):
        t0 = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - t0)
    return times, time.perf_counter() - start


def _interleaved(fns: dict[str, Callable[[], Any]], iterations: int, warmup: int,
                 sync: Callable[[], None]) -> dict[str, list[float]]:
    """Per-call seconds of each of ``fns``, called in turn ``iterations`` times after
    ``warmup`` rounds."""
    for _ in range(warmup):
        for fn in fns.values():
            fn()
    sync()
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(iterations):
        for name, fn in fns.items():
            t0 = time.perf_counter()
            fn()
            sync()
            times[name].append(time.perf_counter() - t0)
    return times


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
                   msgconv.MessageTypes.dds())
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
    for name, times in _interleaved(runs, iterations, warmup, clock.sync).items():
        result[name] = {**summarize(times), "frames_per_s": batch * len(times) / sum(times)}
    if batch == 1:
        # everything but the network as a share of the node's frame, timed side by side
        result["pipeline_non_network_share"] = (
            1.0 - result["network"]["p50_ms"] / result["pipeline"]["p50_ms"])
    return result


# ------------------------------------------------------------------------------ packing
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
    fast, _ = _repeat(lambda: pack_cloud(xyz, colours), repeats, 2, lambda: None)
    slow, _ = _repeat(lambda: packed.append(struct_pack_cloud(xyz, colours)), loop_repeats, 0,
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
    msg = msgconv.point_cloud_msg(msgconv.MessageTypes.dds(), cloud, (1, 0), _FRAME_ID)

    def stock() -> bytes:
        raw = msg.serialize(use_version_2=False)
        return raw.ljust((len(raw) + 3) & ~3, b"\0")

    encoder = messages.PayloadEncoder()
    slow, _ = _repeat(stock, repeats, 2, lambda: None)
    fast, _ = _repeat(lambda: encoder.encode(msg), repeats, 2, lambda: None)
    slow_s, fast_s = summarize(slow), summarize(fast)
    return {"bytes": len(stock()), "stock_serialize": slow_s, "payload_encoder": fast_s,
            "ratio_p50": slow_s["p50_ms"] / fast_s["p50_ms"],
            "identical_bytes": bytes(encoder.encode(msg)) == stock()}


# the subscriber of measure_dds_write: takes every cloud until its stdin is closed
_SINK_CHILD = """
import sys, threading
from depth_estimation_ros.dds import messages as m
from depth_estimation_ros.dds.qos import QosProfile
from depth_estimation_ros.dds.runtime import DdsNode
done = threading.Event()
threading.Thread(target=lambda: (sys.stdin.read(), done.set()), daemon=True).start()
with DdsNode("benchmark_sink", domain_id=int(sys.argv[1])) as node:
    node.create_subscription(m.PointCloud2, "/benchmark/points", lambda msg: None,
                             QosProfile(reliability="best_effort", depth=1))
    print("ready", flush=True)
    node.spin(until=done.is_set, timeout=120.0)
"""


def measure_dds_write(repeats: int = 30, colour: bool = True) -> dict[str, Any]:
    """The DDS write of one 640×480 cloud (``Publisher.publish``: encode in place, then
    cyclonedds copies the sample and sends it) to a subscriber in another process over
    loopback, best effort; what the node pays per cloud after the stages above."""
    import subprocess

    from depth_estimation_ros.core import headroom
    from depth_estimation_ros.dds.qos import QosProfile
    from depth_estimation_ros.dds.runtime import DdsNode, ensure_cyclonedds_uri

    ensure_cyclonedds_uri()
    domain = 100 + os.getpid() % 100  # a domain of its own: no other node sees the topic
    step = XYZRGB_POINT_STEP if colour else XYZ_POINT_STEP
    storage = headroom.allocate([WIDTH * HEIGHT * step]).payloads[0]
    storage[:] = np.frombuffer(sample_cloud(colour).data, np.uint8)  # as the estimator's
    cloud = cloud_from_records(storage.view("<f4").reshape(HEIGHT, WIDTH, step // 4), colour)
    msg = msgconv.point_cloud_msg(msgconv.MessageTypes.dds(), cloud, (1, 0), _FRAME_ID)
    child = subprocess.Popen([sys.executable, "-c", _SINK_CHILD, str(domain)],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        if child.stdout.readline().strip() != "ready":
            raise RuntimeError("the benchmark's DDS subscriber process did not start")
        with DdsNode("benchmark_source", domain_id=domain) as node:
            pub = node.create_publisher(messages.PointCloud2, "/benchmark/points",
                                        QosProfile(reliability="best_effort", depth=1))
            if not pub.wait_for_subscriptions(1, timeout=30):
                raise RuntimeError("the benchmark's DDS subscriber did not match")
            times = []
            for _ in range(repeats + 3):
                t0 = time.perf_counter()
                pub.publish(msg)
                times.append(time.perf_counter() - t0)
                time.sleep(0.05)  # a camera's pace; the reader keeps up
            in_place = pub.in_place_writes
    finally:
        child.stdin.close()
        try:
            child.wait(timeout=10)
        except subprocess.TimeoutExpired:
            child.kill()
    return {"bytes": int(cloud.data.nbytes), "publish": summarize(times[3:]),
            "in_place_writes": in_place, "qos": "best_effort", "subscribers": 1}


# ------------------------------------------------------------------------------ ablation
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
        frame_times, _ = _repeat(frame, iterations, warmup, clock.sync)
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


# ------------------------------------------------------------------------------ report
def measure_standins(iterations: int = 200, warmup: int = 10,
                     params: DepthNodeParams | None = None, sectors: int = 3
                     ) -> dict[str, Any]:
    """p50/p99 of the stand-in sensors and the colour view on a 640×480 depth image."""
    params = params or DepthNodeParams()
    frame = render_scene(7, WIDTH, HEIGHT)
    depth = frame.depth.copy()  # (H, W) float32 metres
    depth[np.random.default_rng(0).random(depth.shape) < 0.05] = np.nan
    camera = frame.intrinsics
    types = msgconv.MessageTypes.dds()
    stamp = (1, 0)
    scan_cfg = ScanConfig(params.scan_height, params.scan_offset, params.scan_decimation,
                          params.scan_range_min, params.scan_range_max)
    range_cfg = RangeConfig(sectors, min(params.range_field_of_view, 0.3),
                            RADIATION_TYPES[params.range_radiation_type], params.range_min,
                            params.range_max, params.range_percentile)
    colorize = DepthColorizer(params.color_min, params.color_max, params.color_map)

    def scan() -> Any:
        return msgconv.laser_scan_msg(types, depth_to_scan(depth, camera, scan_cfg, 0.033),
                                      stamp, _FRAME_ID + "_scan")

    def ranges() -> Any:
        return [msgconv.range_msg(types, r, stamp, _FRAME_ID)
                for r in depth_to_ranges(depth, camera, range_cfg)]

    def color() -> Any:
        return msgconv.rgb_image_msg(types, colorize(depth), stamp, _FRAME_ID)

    def standins() -> Any:
        return scan(), ranges(), color()

    fns = {"scan": scan, "ranges": ranges, "color": color, "standins": standins}
    return {"width": WIDTH, "height": HEIGHT, "sectors": sectors,
            "field_of_view": range_cfg.field_of_view, "scan_height": scan_cfg.height,
            **{name: summarize(seconds) for name, seconds in
               _interleaved(fns, iterations, warmup, lambda: None).items()}}


def cpu_model_name() -> str:
    """The CPU's model name as ``lscpu`` shows it (from /proc/cpuinfo), or the platform's."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_info() -> dict[str, Any]:
    """What the numbers were measured on."""
    info: dict[str, Any] = {
        "cpu": cpu_model_name(), "cpu_count": os.cpu_count(), "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(), "python": platform.python_version(),
        "platform": platform.platform(), "numpy": np.__version__,
        "cuda": torch.version.cuda if torch.cuda.is_available() else None,
        "gpus": [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())],
    }
    if hasattr(os, "getloadavg"):
        info["load_average_1_5_15"] = [round(v, 2) for v in os.getloadavg()]
    return info


def _fmt(stats: dict[str, float] | None) -> str:
    return "—" if stats is None else f"{stats['p50_ms']:.2f} / {stats['p99_ms']:.2f}"


def _ratio_table(title: str, fast: tuple[str, dict], slow: tuple[str, dict],
                 result: dict[str, Any]) -> list[str]:
    """Lines of a side-by-side comparison: fast and slow p50 / p99, ratio, same bytes."""
    return ["", f"{title}, p50 / p99 ms:", "",
            f"| {fast[0]} | {slow[0]} | ratio (p50) | identical bytes |", "|---|---|---|---|",
            f"| {_fmt(fast[1])} | {_fmt(slow[1])} | {result['ratio_p50']:.0f}× | "
            f"{result['identical_bytes']} |"]


def markdown(report: dict[str, Any]) -> str:
    """Markdown tables of a report (stages, summary, packing, ablation)."""
    results = report.get("results", [])
    lines: list[str] = []
    if results:
        heads = [f"{r['variant']} {r['device']} b{r['batch']}" for r in results]
        lines += ["Per stage, p50 / p99 ms (per batch):", "",
                  "| stage | " + " | ".join(heads) + " |",
                  "|---" * (len(heads) + 1) + "|"]
        for stage in STAGES + HOST_STAGES:
            lines.append(f"| {stage} | " + " | ".join(_fmt(r["stages"].get(stage))
                                                      for r in results) + " |")
        for key in ("end_to_end", "fast_path", "ready", "pipeline", "network"):
            lines.append(f"| **{key}** | " + " | ".join(_fmt(r.get(key)) for r in results)
                         + " |")
        lines += ["", "| variant | device | precision | batch | GFLOP | params (M) | model p50 "
                  "ms | end-to-end p50 ms | frames/s | fast path frames/s | non-network share "
                  "(stages / pipeline) |",
                  "|---|---|---|---|---|---|---|---|---|---|---|"]
        for r in results:
            fast = r.get("fast_path", {}).get("frames_per_s")
            share = r.get("pipeline_non_network_share")
            lines.append(
                f"| {r['variant']} | {r['device']} ({r['device_name']}) | {r['precision']}"
                f"{' + graphs' if r['cuda_graphs'] else ''} | {r['batch']} | {r['gflop']:.1f} | "
                f"{r['parameters'] / 1e6:.1f} | {r['stages'][NETWORK_STAGE]['p50_ms']:.2f} | "
                f"{r['end_to_end']['p50_ms']:.2f} | {r['end_to_end']['frames_per_s']:.1f} | "
                f"{'—' if fast is None else f'{fast:.1f}'} | "
                f"{100 * r['non_network_share']:.1f} % / "
                f"{'—' if share is None else f'{100 * share:.1f} %'} |")
    pack = report.get("packing")
    if pack:
        lines += _ratio_table(
            f"Cloud packing, {pack['points']} points{' with colour' if pack['colour'] else ''}"
            f" ({pack['point_step']} B each)", ("pack_cloud", pack["pack_cloud"]),
            ("per-point struct.pack loop", pack["struct_pack_loop"]), pack)
    enc = report.get("encoding")
    if enc:
        lines += _ratio_table(
            f"DDS encoding of that cloud's PointCloud2 ({enc['bytes']} B)",
            ("PayloadEncoder", enc["payload_encoder"]),
            ("cyclonedds serialize + pad", enc["stock_serialize"]), enc)
    write = report.get("dds_write")
    if write:
        lines += ["", f"DDS write of a 640×480 cloud ({write['bytes']} B payload) to one "
                  f"subscriber process over loopback, {write['qos']}, p50 / p99 ms: "
                  f"{_fmt(write['publish'])} ({write['in_place_writes']} of "
                  f"{write['publish']['n'] + 3} encoded in place)"]
    stand = report.get("standins")
    if stand:
        lines += ["", f"Stand-in sensors on a {stand['width']}×{stand['height']} depth image "
                  f"(host, {stand['sectors']} range sectors of {stand['field_of_view']} rad, "
                  f"scan band {stand['scan_height']} row(s)), p50 / p99 ms:", "",
                  "| scan | ranges | color | all three |", "|---|---|---|---|",
                  "| " + " | ".join(_fmt(stand[k]) for k in ("scan", "ranges", "color",
                                                             "standins")) + " |"]
    rows = report.get("ablation")
    if rows:
        lines += ["", "Ablation (cumulative), p50 / p99 ms:", "",
                  "| variant | device | step | model | speed-up | frame → depth + cloud | "
                  "speed-up |", "|---|---|---|---|---|---|---|"]
        for row in rows:
            lines.append(f"| {row['variant']} | {row['device']} | {row['step']} | "
                         f"{_fmt(row['model'])} | {row['model_speedup']:.2f}× | "
                         f"{_fmt(row['frame'])} | {row['frame_speedup']:.2f}× |")
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------------------ CLI
def _csv(text: str) -> list[str]:
    return [t.strip() for t in text.split(",") if t.strip()]


def build_parser() -> argparse.ArgumentParser:
    default_devices = "cpu,cuda" if torch.cuda.is_available() else "cpu"
    p = argparse.ArgumentParser(prog="python -m depth_estimation_ros.benchmark",
                                description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--variants", default="compact,mobilenet_v2,eigen_vgg16",
                   help=f"comma-separated model variants from {', '.join(VARIANTS)}")
    p.add_argument("--devices", default=default_devices,
                   help="comma-separated devices: cpu, cuda, cuda:N")
    p.add_argument("--iterations", type=int, default=30, help="timed iterations per figure")
    p.add_argument("--warmup", type=int, default=5, help="untimed iterations before timing")
    p.add_argument("--batch", type=int, default=1, help="frames per network pass")
    p.add_argument("--threads", type=int, default=0,
                   help="torch CPU threads (0: torch's default, one per core)")
    p.add_argument("--checkpoint", default=None,
                   help="checkpoint to time for its variant (others: untrained weights; the "
                        "shipped compact checkpoint is used when present)")
    p.add_argument("--no-cuda-graphs", action="store_true",
                   help="run the network eagerly on CUDA (default: CUDA graphs)")
    p.add_argument("--compile", dest="compile_mode", default=None, metavar="MODE",
                   help="torch.compile mode for the network (e.g. max-autotune); implies no "
                        "CUDA graphs in the main figures, adds an ablation row")
    p.add_argument("--bf16", action="store_true",
                   help="run the network in bfloat16 (on CUDA instead of fp16); fast on CPUs "
                        "with AVX512-BF16/AMX")
    p.add_argument("--no-color", action="store_true",
                   help="xyz-only clouds (default: xyz + rgb, the node's default)")
    p.add_argument("--decimation", type=int, default=1, help="point-cloud decimation")
    p.add_argument("--ablation", action="store_true",
                   help="also time each CUDA optimisation against plain fp32 eager")
    p.add_argument("--ablation-only", action="store_true",
                   help="only the ablation (and the packing comparison)")
    p.add_argument("--no-packing", action="store_true",
                   help="skip the pack_cloud vs struct.pack and the DDS encoding comparisons")
    p.add_argument("--dds-write", action="store_true",
                   help="also time the DDS write of a cloud to a subscriber process (loopback)")
    p.add_argument("--standins-only", action="store_true",
                   help="time only the scan, range sectors and colour image (host)")
    p.add_argument("--json", default=None, metavar="OUT", help="write the full report here")
    p.add_argument("--markdown", default=None, metavar="OUT", help="write the tables here")
    p.add_argument("-v", "--verbose", action="store_true", help="log progress")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    variants, devices = _csv(args.variants), _csv(args.devices)
    bad = [v for v in variants if v not in VARIANTS]
    if bad or not variants:
        print(f"error: variants {bad or variants} not understood; expected from {VARIANTS}",
              file=sys.stderr)
        return 2
    if min(args.iterations, args.batch, args.decimation) < 1 or args.warmup < 0:
        print("error: --iterations, --batch and --decimation must be >= 1 and --warmup >= 0",
              file=sys.stderr)
        return 2
    try:
        resolved = [resolve_device(d) for d in devices]
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    params = DepthNodeParams(pointcloud_color=not args.no_color,
                             pointcloud_decimation=args.decimation)
    report: dict[str, Any] = {"machine": machine_info(), "settings": {
        "width": WIDTH, "height": HEIGHT, "encoding": "rgb8", "iterations": args.iterations,
        "warmup": args.warmup, "batch": args.batch, "variants": variants,
        "devices": [str(d) for d in resolved], "cloud_colour": params.pointcloud_color,
        "decimation": params.pointcloud_decimation, "min_range": params.min_range,
        "max_range": params.max_range, "argv": list(sys.argv[1:] if argv is None else argv)}}
    started = time.time()
    report["standins"] = measure_standins(max(args.iterations, 100), args.warmup, params)
    if not args.ablation_only and not args.standins_only:
        report["results"] = [
            benchmark_config(v, d, iterations=args.iterations, warmup=args.warmup,
                             batch=args.batch, checkpoint=args.checkpoint,
                             cuda_graphs=not args.no_cuda_graphs and args.compile_mode is None,
                             compile_mode=args.compile_mode, bfloat16=args.bf16,
                             params=params)
            for v in variants for d in resolved]
    if not args.no_packing and not args.standins_only:
        report["packing"] = compare_packing(colour=params.pointcloud_color)
        report["encoding"] = compare_encoding(colour=params.pointcloud_color)
    if args.dds_write:
        report["dds_write"] = measure_dds_write(max(args.iterations, 10),
                                                colour=params.pointcloud_color)
    if args.ablation or args.ablation_only:
        report["ablation"] = [row for v in variants for d in resolved
                              for row in ablate(v, d, iterations=args.iterations,
                                                warmup=args.warmup, checkpoint=args.checkpoint,
                                                compile_mode=args.compile_mode,
                                                params=params)]
    report["machine"]["load_average_after"] = (
        [round(v, 2) for v in os.getloadavg()] if hasattr(os, "getloadavg") else None)
    report["elapsed_s"] = round(time.time() - started, 1)
    table = markdown(report)
    print(table, end="")
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2, allow_nan=True) + "\n")
    if args.markdown:
        Path(args.markdown).write_text(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
