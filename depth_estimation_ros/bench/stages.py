"""One batch of frames through the node's stages, each timed on its own, and the whole-frame
paths (plain, fast, ready, the node's pipeline) timed end to end.

``STAGES`` is the one list of the node's stages, in order; ``run_stages`` fills one time per
name (and ``HOST_STAGES``, the plain host alternative, for comparison). A new stage is added
to ``STAGES`` and timed in ``run_stages``; the report's stage table follows ``STAGES``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from depth_estimation_ros.bench.inputs import FRAME_ID, HEIGHT, WIDTH
from depth_estimation_ros.bench.timing import StageClock
from depth_estimation_ros.core.camera import CameraIntrinsics, backproject
from depth_estimation_ros.core.estimator import DepthEstimator
from depth_estimation_ros.core.pointcloud import (
    XYZ_POINT_STEP,
    XYZRGB_POINT_STEP,
    CloudBuffer,
    cloud_from_records,
    pack_cloud,
)
from depth_estimation_ros.dds import messages
from depth_estimation_ros.node import msgconv
from depth_estimation_ros.node.params import DepthNodeParams
from depth_estimation_ros.node.pipeline import Frame, FramePipeline

STAGES: tuple[str, ...] = ("deserialize", "decode", "preprocess", "inference", "postprocess",
                           "backproject", "pack", "download", "serialize")
HOST_STAGES: tuple[str, ...] = ("host_backproject", "host_pack")  # the plain alternative
NETWORK_STAGE = "inference"


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
        n = len(image_enc.encode(msgconv.depth_image_msg(t, depth, stamp, FRAME_ID)))
        n += len(msgconv.camera_info_msg(t, self.intrinsics, stamp, FRAME_ID)
                 .serialize(use_version_2=False))
        return n + len(cloud_enc.encode(msgconv.point_cloud_msg(t, cloud, stamp, FRAME_ID)))

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


def decode_frame(raw: bytes, max_pixels: int) -> tuple[np.ndarray, tuple[int, int]]:
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
    decoded = [decode_frame(r, p.max_input_pixels) for r in job.raw]
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
    rgb, stamp = decode_frame(job.raw[0], p.max_input_pixels)
    depth, cloud = job.estimator.estimate_with_cloud(
        rgb, "rgb8", "input", job.intrinsics, p.pointcloud_decimation, p.min_range,
        p.max_range, p.pointcloud_color)
    if serialize:
        return job.serialize(depth, cloud, stamp)
    info = msgconv.camera_info_msg(job.types, job.intrinsics, stamp, FRAME_ID)
    return depth.nbytes + cloud.data.nbytes + len(info.k)


def run_pipeline(job: FrameJob, pipeline: FramePipeline) -> int:
    """Batch 1 through the node's ``FramePipeline.process`` plus decode and serialise."""
    rgb, stamp = decode_frame(job.raw[0], job.params.max_input_pixels)
    result = pipeline.process(Frame(rgb, stamp, FRAME_ID, job.intrinsics))
    return job.serialize(result.depth, result.cloud, stamp)
