"""Checkpoint → device → metric depth for camera frames of any size.

``DepthEstimator`` is the one inference entry point used by the CLI, the node, the DDS runtime,
the bag converter, evaluation and the benchmark. On CUDA it runs the network in half
precision and channels-last with cuDNN autotuning; frames travel to the GPU as raw uint8
through a pinned host buffer (non-blocking), are converted, resized and normalised there, and
only the finished depth comes back: one host↔device round trip per call.

On every device BatchNorm layers are folded into the preceding convolutions at load time and
the network runs channels-last (faster with oneDNN on the CPU as with cuDNN on the GPU).

For a fixed frame size the network can also be captured as CUDA graphs (``cuda_graphs=True``:
one graph per batch size, replayed with a single launch) or compiled with ``torch.compile``
(``compile_mode``). :meth:`DepthEstimator.estimate_with_points` back-projects the depth to
an organised point grid on the device, so depth and points come back in one download;
:meth:`DepthEstimator.estimate_with_cloud` goes one step further and writes the
``sensor_msgs/PointCloud2`` records themselves (xyz, packed colour, padding) on the device, so
the host only wraps the downloaded bytes (what the node does).

Every entry point takes the frame's camera: given intrinsics (the camera's own, not a guess),
the depth is multiplied by :meth:`DepthEstimator.focal_scale`, f₁/f₀, the frame's focal length
at the network input over the one the model was trained at, before the valid-range mask; a
model trained at f₀ reads a camera of longer focal length as closer (see docs/cameras.md).
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from depth_estimation_ros.core import headroom
from depth_estimation_ros.core.camera import CameraIntrinsics
from depth_estimation_ros.core.checkpoint import (
    CheckpointError,
    load_checkpoint,
    model_from_checkpoint,
)
from depth_estimation_ros.core.model import ModelConfig, PreprocessConfig
from depth_estimation_ros.core.pointcloud import (
    XYZ_POINT_STEP,
    XYZRGB_POINT_STEP,
    CloudBuffer,
    cloud_from_records,
)
from depth_estimation_ros.core.preprocessing import normalize, resize_and_crop
from depth_estimation_ros.core.reporting import first_line

_LOG = logging.getLogger(__name__)

# encoding -> (channels in the array, indices of R, G, B among them)
_CHANNEL_ORDER: dict[str, tuple[int, tuple[int, int, int]]] = {
    "rgb8": (3, (0, 1, 2)),
    "bgr8": (3, (2, 1, 0)),
    "rgba8": (4, (0, 1, 2)),
    "bgra8": (4, (2, 1, 0)),
    "mono8": (1, (0, 0, 0)),
}
ESTIMATOR_ENCODINGS: tuple[str, ...] = tuple(_CHANNEL_ORDER)
OUTPUT_MODES: tuple[str, ...] = ("input", "native")


def resolve_device(spec: str | torch.device) -> torch.device:
    """Turn ``auto``, ``cpu``, ``cuda`` or ``cuda:N`` into a usable device.

    Raises:
        ValueError: the spec is malformed, or names a CUDA device that is not available.
    """
    if isinstance(spec, torch.device):
        spec = str(spec)
    spec = spec.strip().lower()
    if spec == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if spec == "cpu":
        return torch.device("cpu")
    if spec == "cuda" or (spec.startswith("cuda:") and spec[5:].isdigit()):
        if not torch.cuda.is_available():
            raise ValueError(f"device {spec!r} requested but CUDA is not available on this "
                             "machine; use 'cpu' or 'auto'")
        dev = torch.device(spec)
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise ValueError(f"device {spec!r} requested but only "
                             f"{torch.cuda.device_count()} CUDA device(s) exist")
        return dev
    raise ValueError(f"device {spec!r} not understood; expected 'auto', 'cpu', 'cuda' or "
                     "'cuda:N'")


@dataclass(frozen=True)
class OutputRegion:
    """Where the prediction lies in an input frame, in input pixels."""

    left: int
    top: int
    width: int
    height: int


class DepthEstimator:
    """Metric depth from RGB frames with a multi-scale depth network.

    Args:
        checkpoint: path to a checkpoint, an already loaded checkpoint dict, or ``None`` for
            the checkpoint shipped with the package.
        device: ``auto``, ``cpu``, ``cuda`` or ``cuda:N``.
        half: run the network in float16 (default: on CUDA only, unless ``bfloat16``).
        bfloat16: run the network in bfloat16 instead: on CPUs with AVX512-BF16 or AMX
            (e.g. AMD Zen 4, Intel Sapphire Rapids) about 1.6× faster than float32 for
            ~0.5 % depth difference; on CUDA an alternative to float16.
        channels_last: channels-last memory format (default: on; on the CPU too, where
            oneDNN runs this network about 1.3–1.5× faster in it).
        cudnn_benchmark: let cuDNN autotune convolutions for the fixed input shape (a
            process-wide torch setting: the last CUDA estimator built sets it).
        cuda_graphs: capture the network as CUDA graphs (one per batch size) and replay them;
            ignored, with a log line, on the CPU.
        compile_mode: ``torch.compile`` the network with this mode (``"default"``,
            ``"reduce-overhead"``, ``"max-autotune"``, ...); ``None`` runs it eagerly.
            Compiling takes tens of seconds at start-up.
        fold_bn: fold BatchNorm layers into the preceding convolutions (same function, one
            layer less; off only to measure what it gains).

    Raises:
        CheckpointError: missing, corrupt or incompatible checkpoint.
        ValueError: bad device specification, ``half`` off CUDA, or options that exclude
            each other (``half`` with ``bfloat16``, ``cuda_graphs`` with ``compile_mode``).
    """

    def __init__(self, checkpoint: str | os.PathLike[str] | dict | None = None,
                 device: str | torch.device = "auto", *, half: bool | None = None,
                 channels_last: bool | None = None, cudnn_benchmark: bool = True,
                 cuda_graphs: bool = False, compile_mode: str | None = None,
                 fold_bn: bool = True, bfloat16: bool = False) -> None:
        self.device = resolve_device(device)
        ckpt = checkpoint if isinstance(checkpoint, dict) else load_checkpoint(checkpoint)
        self.checkpoint_path: str = str(ckpt.get("path", "<in memory>"))
        self.checkpoint_metrics: dict = dict(ckpt.get("metrics", {}))
        model, self.model_config, self.preprocess = model_from_checkpoint(ckpt, self.device)
        cuda = self.device.type == "cuda"
        self.half = (cuda and not bfloat16) if half is None else bool(half)
        if self.half and bfloat16:
            raise ValueError("half and bfloat16 are alternatives; ask for one")
        if self.half and not cuda:
            raise ValueError(f"half precision (fp16) needs a CUDA device, not {self.device}; "
                             "use fp32 or bf16 there")
        self.channels_last = True if channels_last is None else bool(channels_last)
        self.dtype = (torch.float16 if self.half else
                      torch.bfloat16 if bfloat16 else torch.float32)
        if cuda:
            torch.backends.cudnn.benchmark = cudnn_benchmark
        folded = fold_batchnorm(model) if fold_bn else 0  # inference only
        if folded:
            _LOG.debug(f"folded {folded} BatchNorm layers into their convolutions")
        if self.dtype != torch.float32:
            model = model.to(self.dtype)
        if self.channels_last:
            model = model.to(memory_format=torch.channels_last)
        self.model = model
        self._pinned: dict[tuple, tuple[Tensor, torch.cuda.Event]] = {}
        self._rays: dict[tuple, tuple[Tensor, Tensor]] = {}
        self._nans: dict[tuple, Tensor] = {}
        if cuda_graphs and compile_mode is not None:
            raise ValueError("cuda_graphs and compile_mode are alternatives; use one (the "
                             "'reduce-overhead' compile mode already uses CUDA graphs)")
        if cuda_graphs and not cuda:
            _LOG.info(f"CUDA graphs requested on {self.device}; running the network eagerly")
        self.cuda_graphs = bool(cuda_graphs) and cuda
        self.compile_mode = compile_mode
        pre = self.preprocess
        input_shape = (3, pre.input_height, pre.input_width)
        self._net: _Network
        if self.cuda_graphs:
            self._net = _CudaGraphNetwork(model, input_shape, self.dtype, self.channels_last)
        elif compile_mode is not None:
            self._net = torch.compile(model, mode=compile_mode, dynamic=False)
        else:
            self._net = model
        with torch.inference_mode():
            probe = torch.zeros(1, *input_shape, device=self.device, dtype=self.dtype)
            if self.channels_last:
                probe = probe.contiguous(memory_format=torch.channels_last)
            try:
                out = self._net(probe)  # also compiles / captures batch size 1
            except RuntimeError as exc:  # e.g. an input too small for the network's pooling
                raise CheckpointError(
                    f"{self.checkpoint_path}: the network cannot run on its checkpoint's "
                    f"{pre.input_width}x{pre.input_height} input: {first_line(exc)}") from exc
        self._native_hw: tuple[int, int] = (int(out.shape[-2]), int(out.shape[-1]))

    # ---------------------------------------------------------------- properties
    @property
    def native_size(self) -> tuple[int, int]:
        """(width, height) of the network's output (147×109 at the paper's input)."""
        return self._native_hw[1], self._native_hw[0]

    @property
    def precision(self) -> str:
        """``fp32``, ``fp16`` or ``bf16``: the network's arithmetic."""
        return {torch.float16: "fp16", torch.bfloat16: "bf16"}.get(self.dtype, "fp32")

    @property
    def variant(self) -> str:
        return self.model_config.variant

    def output_region(self, width: int, height: int) -> OutputRegion:
        """The part of a ``width``×``height`` frame the prediction covers."""
        fl, ft, fw, fh = self.preprocess.crop_fraction()
        return OutputRegion(round(fl * width), round(ft * height), round(fw * width),
                            round(fh * height))

    def output_shape(self, width: int, height: int, output: str = "input") -> tuple[int, int]:
        """(height, width) of the depth image for a ``width``×``height`` frame."""
        if output == "native":
            return self._native_hw
        return height, width

    def depth_intrinsics(self, intrinsics: CameraIntrinsics,
                         output: str = "input") -> CameraIntrinsics:
        """Intrinsics of the depth image, given the input frame's intrinsics.

        At ``input`` resolution they are the frame's; at ``native`` resolution the frame's
        cropped to :meth:`output_region` and scaled to :attr:`native_size`.
        """
        if output != "native":
            return intrinsics
        r = self.output_region(intrinsics.width, intrinsics.height)
        return intrinsics.cropped(r.left, r.top, r.width, r.height).scaled(*self.native_size)

    def colour_for_depth(self, rgb: np.ndarray, output: str = "input") -> np.ndarray:
        """The (H, W, 3) RGB frame cut and resized to match the depth image (for clouds)."""
        if output != "native":
            return rgb
        x = torch.from_numpy(np.ascontiguousarray(rgb)).permute(2, 0, 1)[None]
        return self._native_colour(x)[0].permute(1, 2, 0).numpy()

    def _native_colour(self, rgb: Tensor) -> Tensor:
        """(1, 3, H, W) uint8 RGB frame → (1, 3, h, w) uint8, the region the native depth
        covers, antialiased to the native size (on the frame's device)."""
        r = self.output_region(rgb.shape[-1], rgb.shape[-2])
        x = rgb[..., r.top: r.top + r.height, r.left: r.left + r.width].float()
        x = F.interpolate(x, size=self._native_hw, mode="bilinear", align_corners=False,
                          antialias=True)
        return x.round().clamp(0, 255).to(torch.uint8)

    @property
    def focal_length(self) -> float:
        """fx (pixels) at the network input the model was trained at; 0.0 = unknown."""
        return self.preprocess.focal_length

    def focal_scale(self, intrinsics: CameraIntrinsics | None, width: int, height: int) -> float:
        """f₁/f₀ for a ``width``×``height`` frame from the camera ``intrinsics``.

        f₁ is the camera's fx at the network input (after this estimator's resize of the
        frame; intrinsics of another resolution are scaled to the frame first, as
        :meth:`CameraIntrinsics.scaled` does), f₀ the model's :attr:`focal_length`. The depth
        the network predicts is multiplied by this to stay metric.

        Returns:
            The factor; 1.0 when ``intrinsics`` is None or the model's focal length unknown.

        Raises:
            ValueError: intrinsics that are not a CameraIntrinsics, or a bad frame size.
        """
        if intrinsics is not None and not isinstance(intrinsics, CameraIntrinsics):
            raise ValueError(f"intrinsics of type {type(intrinsics).__name__} not supported; "
                             "expected a CameraIntrinsics or None")
        if intrinsics is None or self.preprocess.focal_length <= 0.0:
            return 1.0
        if (intrinsics.width, intrinsics.height) != (width, height):
            intrinsics = intrinsics.scaled(width, height)
        return self.preprocess.focal_scale(intrinsics.fx, width)

    # ---------------------------------------------------------------- public API
    def estimate(self, image: np.ndarray, encoding: str = "rgb8", output: str = "input",
                 intrinsics: CameraIntrinsics | None = None) -> np.ndarray:
        """Depth of one frame.

        Args:
            image: (H, W, C) or (H, W) uint8 array in ``encoding``.
            encoding: rgb8, bgr8, rgba8, bgra8 or mono8.
            output: ``input`` (the frame's resolution) or ``native`` (the network's).
            intrinsics: the frame's camera (any resolution), when known: the depth is scaled
                by :meth:`focal_scale`; None (an unknown camera) leaves it as predicted.

        Returns:
            (H, W) float32 metres (or the native size), NaN where invalid or not covered.
        """
        return self.estimate_batch([image], encoding, output, intrinsics=intrinsics)[0]

    def estimate_batch(self, images: Sequence[np.ndarray] | np.ndarray, encoding: str = "rgb8",
                       output: str = "input", mask_invalid: bool = True,
                       intrinsics: CameraIntrinsics | Sequence[CameraIntrinsics | None] | None
                       = None) -> list[np.ndarray]:
        """Depth of several frames in one network pass (frames may differ in size).

        Args:
            images: frames as for :meth:`estimate`.
            encoding: their encoding.
            output: ``input`` or ``native`` resolution.
            mask_invalid: NaN outside the valid range and outside the covered crop (the
                node's output); False keeps every value and extends the prediction from its
                edge over the uncovered border (for evaluation, whose metrics clamp).
            intrinsics: one camera for all frames, one per frame (None where unknown), or
                None: as for :meth:`estimate`.

        Returns:
            One (H, W) float32 array per frame, as :meth:`estimate`.
        """
        if output not in OUTPUT_MODES:
            raise ValueError(f"output {output!r} not understood; expected one of "
                             f"{OUTPUT_MODES}")
        arrays = [self._check_image(im, encoding) for im in images]
        if not arrays:
            return []
        cameras = (list(intrinsics) if isinstance(intrinsics, Sequence)
                   else [intrinsics] * len(arrays))
        if len(cameras) != len(arrays):
            raise ValueError(f"{len(cameras)} intrinsics for {len(arrays)} frames; expected "
                             "one for all or one per frame")
        scales = [self.focal_scale(c, a.shape[1], a.shape[0])
                  for c, a in zip(cameras, arrays, strict=True)]
        if all(a.shape == arrays[0].shape for a in arrays):
            frames = self._upload(np.stack(arrays))  # (B, H, W, C) uint8 on device
            x = self._to_input(frames, encoding)
        else:
            x = torch.cat([self._to_input(self._upload(a[None]), encoding) for a in arrays])
        with torch.inference_mode():
            depth = self.predict_depth(x)  # (B, 1, h, w) metres, float32
            outs = [self.postprocess(depth[i: i + 1], a.shape[1], a.shape[0], output,
                                     mask_invalid, scale=scales[i])
                    for i, a in enumerate(arrays)]
        return self._download(outs)

    def estimate_with_points(self, image: np.ndarray, encoding: str, output: str,
                             intrinsics: CameraIntrinsics, decimation: int = 1,
                             min_range: float = 0.0, max_range: float = math.inf, *,
                             rescale: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """Depth of one frame and its back-projected point grid, computed on the device.

        The back-projection is :func:`depth_estimation_ros.core.camera.backproject`'s, in torch:
        ``x = (u − cx)·z/fx``, ``y = (v − cy)·z/fy``, ``z = depth[v, u]`` at ``u = j·d``,
        ``v = i·d``; a point is NaN where z is NaN, non-positive or outside
        ``[min_range, max_range]``. Depth and points come back in one download.

        Args:
            image: (H, W, C) or (H, W) uint8 array in ``encoding``.
            encoding: rgb8, bgr8, rgba8, bgra8 or mono8.
            output: ``input`` (the frame's resolution) or ``native`` (the network's).
            intrinsics: the camera of the depth image, or of the input frame (then converted
                with :meth:`depth_intrinsics`).
            decimation: keep every ``decimation``-th depth pixel in both axes for the points.
            min_range: smallest valid z (metres).
            max_range: largest valid z (metres).
            rescale: ``intrinsics`` are the camera's own (camera_info or configured), not a
                fallback: scale the depth by :meth:`focal_scale` as :meth:`estimate` does for
                given intrinsics. False (the default) leaves it as predicted.

        Returns:
            ``(depth, xyz)``: (H', W') float32 metres as :meth:`estimate`, and
            (ceil(H'/d), ceil(W'/d), 3) float32 points in metres, NaN where invalid.

        Raises:
            ValueError: bad image, encoding, output, intrinsics size, decimation or range.
        """
        job = self.fast_frame(image, encoding, output, intrinsics, decimation, min_range,
                              max_range, rescale=rescale)
        points = job.run(3)
        with torch.inference_mode():
            job.backproject(points)
        return job.download()

    def estimate_with_cloud(self, image: np.ndarray, encoding: str, output: str,
                            intrinsics: CameraIntrinsics, decimation: int = 1,
                            min_range: float = 0.0, max_range: float = math.inf,
                            colour: bool = True, *, rescale: bool = False,
                            ) -> tuple[np.ndarray, CloudBuffer]:
        """Depth of one frame and its ``sensor_msgs/PointCloud2`` buffer, built on the device.

        The points are :meth:`estimate_with_points`'s; instead of an (H', W', 3) grid the
        device writes the cloud's records themselves (``pointcloud.XYZ_FIELDS`` in 16 bytes,
        or ``XYZRGB_FIELDS`` in 32 with the frame's colour packed as depth_image_proc does), so
        depth and the finished cloud come back in one download and nothing is packed on the
        host. The bytes equal ``pack_cloud(xyz, colour_for_depth(image)[::d, ::d])``'s.

        Args:
            image, encoding, output, intrinsics, decimation, min_range, max_range, rescale:
                as for :meth:`estimate_with_points`.
            colour: include the ``rgb`` field (grey for mono8).

        Returns:
            ``(depth, cloud)``: (H', W') float32 metres and an organised
            (ceil(H'/d) x ceil(W'/d)) little-endian cloud with NaN points where invalid.

        Raises:
            ValueError: bad image, encoding, output, intrinsics size, decimation or range.
        """
        job = self.fast_frame(image, encoding, output, intrinsics, decimation, min_range,
                              max_range, rescale=rescale)
        job.run((XYZRGB_POINT_STEP if colour else XYZ_POINT_STEP) // 4)
        job.build_cloud(colour)
        host_depth, host_records = job.download()
        return host_depth, cloud_from_records(host_records, colour)

    def fast_frame(self, image: np.ndarray, encoding: str, output: str,
                   intrinsics: CameraIntrinsics, decimation: int = 1, min_range: float = 0.0,
                   max_range: float = math.inf, *, rescale: bool = False) -> FastFrame:
        """Check the fast path's arguments (as :meth:`estimate_with_points`), upload the
        frame and return the `FastFrame` that runs the rest step by step (with ``rescale``,
        its depth is scaled by the :meth:`focal_scale` of ``intrinsics``)."""
        if output not in OUTPUT_MODES:
            raise ValueError(f"output {output!r} not understood; expected one of "
                             f"{OUTPUT_MODES}")
        if not isinstance(intrinsics, CameraIntrinsics):
            raise ValueError(f"intrinsics of type {type(intrinsics).__name__} not supported; "
                             "expected a CameraIntrinsics")
        if isinstance(decimation, bool) or not isinstance(decimation, (int, np.integer)) or (
                decimation < 1):
            raise ValueError(f"decimation {decimation!r} not supported; expected a positive "
                             "integer")
        if not (min_range >= 0.0 and max_range > min_range):
            raise ValueError(f"range [{min_range}, {max_range}] not supported; expected "
                             "0 <= min_range < max_range")
        a = self._check_image(image, encoding)
        height, width = a.shape[:2]
        out_h, out_w = self.output_shape(width, height, output)
        if (intrinsics.width, intrinsics.height) == (out_w, out_h):
            camera = intrinsics
        elif (intrinsics.width, intrinsics.height) == (width, height):
            camera = self.depth_intrinsics(intrinsics, output)
        else:
            raise ValueError(f"intrinsics of a {intrinsics.width}x{intrinsics.height} image "
                             f"match neither the {width}x{height} frame nor the "
                             f"{out_w}x{out_h} depth image; scale them first")
        scale = 1.0
        if rescale and self.preprocess.focal_length > 0.0:
            if camera is intrinsics and output == "native":
                # the native depth image's camera: undo depth_intrinsics' crop and scaling
                fx = camera.fx * self.output_region(width, height).width / out_w
                scale = self.preprocess.focal_scale(fx, width)
            else:
                scale = self.focal_scale(intrinsics, width, height)
        return FastFrame(self, self._upload(a[None]), encoding, output, camera, int(decimation),
                         float(min_range), float(max_range), scale)

    def prepare_input(self, frames: np.ndarray, encoding: str = "rgb8") -> Tensor:
        """Same-size frames (B, H, W, C) uint8 on the host → (B, 3, h, w) network input.

        The step :meth:`estimate_batch` runs first: upload (pinned, non-blocking on CUDA),
        channel order, resize, crop, normalise, precision and memory format on the device.
        """
        frames = np.asarray(frames)
        if frames.ndim not in (3, 4) or len(frames) == 0:
            raise ValueError(f"frames of shape {frames.shape} not supported; expected a "
                             "non-empty (B, H, W, C) or (B, H, W) stack")
        stack = np.stack([self._check_image(f, encoding) for f in frames])
        return self._to_input(self._upload(stack), encoding)

    def to_host(self, tensor: Tensor) -> np.ndarray:
        """A device tensor as a float32 numpy array (one synchronising download on CUDA)."""
        return self._download([tensor[None]])[0]

    def predict_depth(self, x: Tensor) -> Tensor:
        """Network input (B, 3, h, w) normalised → (B, 1, 109, 147) float32 metres."""
        with torch.inference_mode():
            return torch.exp(self._net(x).float())

    def postprocess(self, depth: Tensor, width: int, height: int,
                    output: str = "input", mask_invalid: bool = True,
                    out: Tensor | None = None, scale: float = 1.0) -> Tensor:
        """Native depth (B, 1, h, w) → (B, H, W) metres at the output size, NaN invalid.

        With ``mask_invalid=False`` nothing is NaN: the border outside the covered crop repeats
        the prediction's edge and out-of-range values are kept. ``out`` (B, H, W) float32,
        any strides, receives the result instead of a new tensor (the fast path writes the
        depth straight into its download buffer this way). ``scale`` (the frame's
        :meth:`focal_scale`) multiplies the depth before the range mask.
        """
        if scale != 1.0:
            # at the native size (16 k values), a scalar argument: no sync, nothing captured
            depth = depth * scale
        # Bilinear upsampling only forms convex combinations of the native pixels, so when all
        # of those lie in the valid range (the usual case) no output pixel can leave it and
        # the mask is a plain copy. Checked on the CPU only: on CUDA it would be a sync.
        in_range = mask_invalid and depth.device.type == "cpu" and self._in_range(depth)
        if output == "native":
            full = depth[:, 0]
        else:
            r = self.output_region(width, height)
            inner = F.interpolate(depth, size=(r.height, r.width), mode="bilinear",
                                  align_corners=False)
            pad = (r.left, width - r.left - r.width, r.top, height - r.top - r.height)
            if not any(pad):
                full = inner[:, 0]
            elif not mask_invalid:
                full = F.pad(inner, pad, mode="replicate")[:, 0]
            else:
                if out is None:
                    out = torch.empty((depth.shape[0], height, width), device=depth.device,
                                      dtype=depth.dtype)
                out.fill_(float("nan"))
                self._mask(inner[:, 0], out[:, r.top: r.top + r.height,
                                            r.left: r.left + r.width], in_range)
                return out
        if not mask_invalid:
            return full if out is None else out.copy_(full)
        if out is None:
            out = torch.empty_like(full)
        self._mask(full, out, in_range)
        return out

    def _in_range(self, depth: Tensor) -> bool:
        """Whether every value of ``depth`` is within [min_depth, max_depth] (no NaN), with a
        1e-5 relative margin for the rounding of interpolated values (a few float32 ulps)."""
        pre = self.preprocess
        lo, hi = torch.aminmax(depth)
        return bool(lo >= pre.min_depth * (1 + 1e-5)) and bool(hi <= pre.max_depth * (1 - 1e-5))

    def _mask(self, depth: Tensor, out: Tensor, in_range: bool = False) -> None:
        """``out`` = ``depth`` inside the valid range, NaN elsewhere (NaN stays NaN);
        ``in_range`` says the caller knows every value is inside (then it is a copy)."""
        if in_range:
            out.copy_(depth)
            return
        pre = self.preprocess
        valid = (depth >= pre.min_depth) & (depth <= pre.max_depth)
        torch.where(valid, depth, self._nan(depth), out=out)

    def _nan(self, like: Tensor) -> Tensor:
        """A NaN scalar tensor on ``like``'s device and dtype (cached)."""
        key = (like.device, like.dtype)
        nan = self._nans.get(key)
        if nan is None:
            nan = self._nans[key] = torch.tensor(float("nan"), device=like.device,
                                                 dtype=like.dtype)
        return nan

    # ---------------------------------------------------------------- internals
    def _backproject(self, depth: Tensor, camera: CameraIntrinsics, decimation: int,
                     min_range: float, max_range: float, out: Tensor) -> None:
        """(H, W) metres on the device → ``out`` (H', W', 3) points, as camera.backproject."""
        key = (camera, decimation)
        rays = self._rays.get(key)
        if rays is None:
            if len(self._rays) > 16:
                self._rays.clear()
            # float64 then float32, exactly as camera._ray_grid, so CPU results are identical
            u = torch.arange(0, camera.width, decimation, dtype=torch.float64)
            v = torch.arange(0, camera.height, decimation, dtype=torch.float64)
            x_ray = ((u - camera.cx) / camera.fx).float()[None, :].to(self.device)  # (1, W')
            y_ray = ((v - camera.cy) / camera.fy).float()[:, None].to(self.device)  # (H', 1)
            rays = self._rays[key] = (x_ray, y_ray)
        x_ray, y_ray = rays
        z = depth[::decimation, ::decimation]  # (H', W') metres
        pre = self.preprocess
        if pre.min_depth > 0.0 and min_range <= pre.min_depth and max_range >= pre.max_depth:
            # postprocess already made everything outside [min_depth, max_depth] NaN, and
            # this range is wider: nothing left to mask (the node's default settings)
            out[..., 2].copy_(z)
        else:
            # z > 0, >= min_range, <= max_range and finite, in two comparisons
            low = (z >= min_range) if min_range > 0.0 else (z > 0.0)
            high = (z <= max_range) if max_range < math.inf else (z < math.inf)
            torch.where(low & high, z, self._nan(z), out=out[..., 2])
        z = out[..., 2]
        # written in place through out's strides: no temporaries, no extra copies
        torch.mul(x_ray, z, out=out[..., 0])
        torch.mul(y_ray, z, out=out[..., 1])

    @staticmethod
    def _check_image(image: np.ndarray, encoding: str) -> np.ndarray:
        if encoding not in _CHANNEL_ORDER:
            raise ValueError(f"encoding {encoding!r} not supported; expected one of "
                             f"{ESTIMATOR_ENCODINGS}")
        a = np.asarray(image)
        if a.dtype != np.uint8:
            raise ValueError(f"image dtype {a.dtype} not supported; expected uint8")
        channels = _CHANNEL_ORDER[encoding][0]
        if a.ndim == 2 and channels == 1:
            a = a[:, :, None]
        if a.ndim != 3 or a.shape[2] != channels:
            raise ValueError(f"image of shape {a.shape} does not match encoding {encoding!r}; "
                             f"expected (H, W, {channels})")
        if a.shape[0] < 2 or a.shape[1] < 2:
            raise ValueError(f"image of shape {a.shape} is too small; need at least 2×2 pixels")
        return a

    def _upload(self, batch: np.ndarray) -> Tensor:
        """(B, H, W, C) uint8 numpy → device tensor; via a reused pinned buffer on CUDA."""
        batch = np.ascontiguousarray(batch)
        if self.device.type != "cuda":
            # decoded messages are read-only views of the message bytes; torch wants writable
            return torch.from_numpy(batch if batch.flags.writeable else batch.copy())
        key = tuple(batch.shape)
        entry = self._pinned.get(key)
        if entry is None:
            if len(self._pinned) > 8:  # many distinct sizes: don't hoard pinned memory
                self._pinned.clear()
            entry = self._pinned[key] = (torch.empty(key, dtype=torch.uint8).pin_memory(),
                                         torch.cuda.Event())
        buf, copied = entry
        copied.synchronize()  # the previous upload from this buffer has finished reading it
        buf.numpy()[...] = batch  # one host copy into pinned memory (read-only input is fine)
        frames = buf.to(self.device, non_blocking=True)
        copied.record(torch.cuda.current_stream(self.device))
        return frames

    def _to_input(self, frames: Tensor, encoding: str) -> Tensor:
        """(B, H, W, C) uint8 on device → (B, 3, h, w) normalised network input."""
        channels, order = _CHANNEL_ORDER[encoding]
        x = frames.permute(0, 3, 1, 2)  # (B, C, H, W) uint8 view with channels-last strides
        if x.device.type != "cpu":
            # planar float for the device's (float-only) antialiased resize
            x = x.to(torch.float32, memory_format=torch.contiguous_format)
        # Resize every channel of the frame as it came (on the CPU in uint8, straight from
        # the channels-last layout), then pick R, G, B from the small result: the same kernel
        # runs for rgb8 and bgr8, so one picture gives identical depth in either encoding.
        x = resize_and_crop(x, self.preprocess)  # (B, C, h, w) float 0–255
        if (channels, order) != (3, (0, 1, 2)):
            x = x[:, list(order)]
        x = normalize(x, self.preprocess).to(self.dtype)
        if self.channels_last:
            return x.contiguous(memory_format=torch.channels_last)
        return x.contiguous()

    def _download(self, outs: list[Tensor]) -> list[np.ndarray]:
        if self.device.type == "cuda":
            host = [o.to("cpu", non_blocking=True) for o in outs]
            torch.cuda.current_stream(self.device).synchronize()
            outs = host
        return [o[0].numpy().astype(np.float32, copy=False) for o in outs]

    def describe(self) -> str:
        """One line for logs: variant, device, precision, checkpoint, assumed focal length."""
        # torch's default lets cuDNN run float32 convolutions in TF32 (on Ampere and later)
        tf32 = (self.device.type == "cuda" and self.dtype == torch.float32
                and torch.backends.cudnn.allow_tf32)
        extras = "".join([", TF32 convolutions" if tf32 else "",
                          ", channels_last" if self.channels_last else "",
                          ", CUDA graphs" if self.cuda_graphs else "",
                          f", compiled ({self.compile_mode})" if self.compile_mode else ""])
        return (f"{self.variant} on {self.device} ({self.precision}{extras}) "
                f"from {self.checkpoint_path}; {self.preprocess.describe_focal_length()}")


class FastFrame:
    """One frame through the device fast path, step by step.

    :meth:`DepthEstimator.estimate_with_points` and :meth:`~DepthEstimator.estimate_with_cloud`
    run it whole; the benchmark times its steps (each is device work: :meth:`prepare`,
    :meth:`infer`, :meth:`finish`, then :meth:`backproject` or :meth:`write_points` and
    :meth:`write_colour`, then one :meth:`download`). Make one with
    :meth:`DepthEstimator.fast_frame`.
    """

    def __init__(self, est: DepthEstimator, frames: Tensor, encoding: str, output: str,
                 camera: CameraIntrinsics, decimation: int, min_range: float,
                 max_range: float, scale: float = 1.0) -> None:
        self.est, self.frames, self.encoding, self.output = est, frames, encoding, output
        self.camera, self.d, self.min_range, self.max_range = (camera, decimation, min_range,
                                                               max_range)
        self.scale = scale  # f1/f0 the depth is multiplied by (1.0: not rescaled)
        self._flat: Tensor | None = None
        self._depth: Tensor | None = None
        self._grid: Tensor | None = None
        self._host: headroom.FrameStorage | None = None
        self._shape: tuple[int, int, int, int, int] = (0, 0, 0, 0, 0)

    def prepare(self) -> Tensor:
        """The uploaded frame → network input (channel order, resize, crop, normalise)."""
        return self.est._to_input(self.frames, self.encoding)

    def infer(self, x: Tensor) -> Tensor:
        """The network: (1, 1, h, w) metres at the native size."""
        with torch.inference_mode():
            return self.est.predict_depth(x)

    def finish(self, native: Tensor, per_point: int) -> Tensor:
        """Upsample and mask the depth into a buffer that also holds a (rows, cols,
        ``per_point``) float32 grid (uninitialised, returned) for :meth:`download`.

        Both land on the host in :mod:`~depth_estimation_ros.core.headroom` storage, with room for
        a message header before each, so the DDS publishers send them without copying. On
        the CPU the device buffer *is* that storage (nothing to download); on CUDA it mirrors
        the storage's span, which one copy fills.
        """
        est = self.est
        height, width = self.frames.shape[1:3]
        out_h, out_w = est.output_shape(width, height, self.output)
        rows, cols = -(-out_h // self.d), -(-out_w // self.d)
        with torch.inference_mode():
            sizes = (4 * out_h * out_w, 4 * rows * cols * per_point)
            host = headroom.allocate(sizes, _pinned_empty if est.device.type == "cuda"
                                     else None)
            if est.device.type == "cuda":
                flat = torch.empty(host.span.nbytes // 4, device=est.device,
                                   dtype=torch.float32)
            else:
                flat = torch.from_numpy(host.span.view(np.float32))
            grid_at = (host.payloads[1].ctypes.data - host.span.ctypes.data) // 4
            depth = flat[: out_h * out_w].view(out_h, out_w)  # (H', W') metres
            est.postprocess(native, width, height, self.output, out=depth[None],
                            scale=self.scale)
            grid = flat[grid_at: grid_at + rows * cols * per_point].view(rows, cols, per_point)
        self._flat, self._depth, self._grid, self._host = flat, depth, grid, host
        self._shape = (out_h, out_w, rows, cols, per_point)
        return grid

    def run(self, per_point: int) -> Tensor:
        """:meth:`prepare`, :meth:`infer` and :meth:`finish` in one go."""
        return self.finish(self.infer(self.prepare()), per_point)

    def backproject(self, out: Tensor) -> None:
        """Points of the depth into ``out`` (rows, cols, 3), any strides."""
        assert self._depth is not None, "run() first"
        self.est._backproject(self._depth, self.camera, self.d, self.min_range,
                              self.max_range, out)

    def colour_planes(self) -> tuple[Tensor, Tensor, Tensor]:
        """(rows, cols) uint8 R, G and B planes of the frame on the depth's point grid
        (views where possible; as ``colour_for_depth(...)[::d, ::d]``)."""
        channels, order = _CHANNEL_ORDER[self.encoding]
        planes = self.frames[0].permute(2, 0, 1)  # (C, H, W) uint8 view
        if self.output == "native":
            rgb = planes[list(order)][None]  # (1, 3, H, W) RGB
            planes = self.est._native_colour(rgb)[0]
            order = (0, 1, 2)
        d = self.d
        return tuple(planes[c, ::d, ::d] for c in order)  # type: ignore[return-value]

    def build_cloud(self, colour: bool) -> None:
        """Write the PointCloud2 records into the grid :meth:`finish` made with
        ``per_point = point_step / 4`` (8 with colour, 4 without): :meth:`write_points`, then
        :meth:`write_colour` if ``colour``."""
        self.write_points()
        if colour:
            self.write_colour()

    def write_points(self) -> None:
        """Zero the records (padding bytes, and rgb's fourth byte, stay zero) and write x, y,
        z at offsets 0, 4, 8: the back-projection, in place."""
        records = self._grid
        assert records is not None, "finish() first"
        with torch.inference_mode():
            records.zero_()
            self.backproject(records[..., :3])

    def write_colour(self) -> None:
        """Write rgb at offset 16 of 32-byte records: bytes b, g, r, 0, the little-endian
        uint32 ``r << 16 | g << 8 | b`` (depth_image_proc's packing), one channel plane at a
        time (cheap strided byte copies)."""
        records = self._grid
        assert records is not None and records.shape[-1] * 4 == XYZRGB_POINT_STEP, (
            "finish(per_point=8) first")
        with torch.inference_mode():
            rgb_bytes = records.view(torch.uint8)[..., 16:19]
            r, g, b = self.colour_planes()
            rgb_bytes[..., 0].copy_(b)
            rgb_bytes[..., 1].copy_(g)
            rgb_bytes[..., 2].copy_(r)

    def download(self) -> tuple[np.ndarray, np.ndarray]:
        """Host (H', W') depth and (rows, cols, per_point) grid from one copy (none on the
        CPU), views of headroom storage."""
        assert self._flat is not None and self._host is not None, "finish() first"
        out_h, out_w, rows, cols, per_point = self._shape
        host = self._host
        if self._flat.device.type == "cuda":
            # into pinned memory, asynchronously, then wait for it
            torch.from_numpy(host.span.view(np.float32)).copy_(self._flat, non_blocking=True)
            torch.cuda.current_stream(self._flat.device).synchronize()
        depth, grid = (p.view(np.float32) for p in host.payloads)
        return depth.reshape(out_h, out_w), grid.reshape(rows, cols, per_point)


def _pinned_empty(nbytes: int) -> np.ndarray:
    """Page-locked host memory from torch's caching allocator, as a uint8 ndarray (it keeps
    the tensor, and so the block, alive)."""
    return torch.empty(nbytes, dtype=torch.uint8, pin_memory=True).numpy()


def fold_batchnorm(model: torch.nn.Module) -> int:
    """Fold every eval-mode ``BatchNorm2d`` that directly follows a ``Conv2d`` in a
    ``Sequential`` into that convolution (in place); returns how many were folded.

    The result computes the same function (to float rounding) with one layer less per pair;
    it is for inference only (the folded model has no batch statistics to train).
    """
    from torch.nn.utils.fusion import fuse_conv_bn_eval

    count = 0
    sequentials = [m for m in model.modules() if isinstance(m, torch.nn.Sequential)]
    for seq in sequentials:
        for i in range(len(seq) - 1):
            conv, bn = seq[i], seq[i + 1]
            if (isinstance(conv, torch.nn.Conv2d) and isinstance(bn, torch.nn.BatchNorm2d)
                    and not conv.training and not bn.training and bn.track_running_stats):
                seq[i] = fuse_conv_bn_eval(conv, bn)
                seq[i + 1] = torch.nn.Identity()
                count += 1
    return count


class _Network(Protocol):
    def __call__(self, x: Tensor) -> Tensor: ...


class _CudaGraphNetwork:
    """The network captured as CUDA graphs, one per batch size, for a fixed (3, h, w) input.

    Each graph reads a static input buffer and writes a static output buffer; a call copies
    the input in, replays the graph (one launch for the whole network) and returns the output
    buffer, which the next call overwrites. Other shapes, dtypes or devices run eagerly.
    """

    _MAX_GRAPHS = 8

    def __init__(self, model: torch.nn.Module, input_shape: tuple[int, int, int],
                 dtype: torch.dtype, channels_last: bool) -> None:
        self.model = model
        self.input_shape = input_shape
        self.dtype = dtype
        self.channels_last = channels_last
        self.device = next(model.parameters()).device
        self._graphs: dict[int, tuple[torch.cuda.CUDAGraph, Tensor, Tensor]] = {}

    def __call__(self, x: Tensor) -> Tensor:
        if (tuple(x.shape[1:]) != self.input_shape or x.dtype != self.dtype
                or x.device != self.device):
            return self.model(x)
        entry = self._graphs.get(x.shape[0])
        if entry is None:
            if len(self._graphs) >= self._MAX_GRAPHS:
                return self.model(x)
            with torch.cuda.device(self.device):  # capture on the model's GPU
                entry = self._graphs[x.shape[0]] = self._capture(x.shape[0])
        graph, static_in, static_out = entry
        static_in.copy_(x)
        with torch.cuda.device(self.device):
            graph.replay()
        return static_out

    def _capture(self, batch: int) -> tuple[torch.cuda.CUDAGraph, Tensor, Tensor]:
        static_in = torch.zeros(batch, *self.input_shape, device=self.device, dtype=self.dtype)
        if self.channels_last:
            static_in = static_in.contiguous(memory_format=torch.channels_last)
        # Warm up on a side stream first: cuDNN autotuning and lazy allocations must not
        # happen inside the capture.
        side = torch.cuda.Stream(self.device)
        side.wait_stream(torch.cuda.current_stream(self.device))
        with torch.cuda.stream(side), torch.inference_mode():
            for _ in range(3):
                self.model(static_in)
        torch.cuda.current_stream(self.device).wait_stream(side)
        graph = torch.cuda.CUDAGraph()
        # A private memory pool per graph: no graph's replay can overwrite another's output.
        # Captured on the side stream, which lives on the model's GPU: torch.cuda.graph's
        # default capture stream is one per process, made on whichever GPU captured first,
        # so a second estimator on another GPU would capture an empty graph on it.
        with torch.inference_mode(), torch.cuda.graph(graph, stream=side):
            static_out = self.model(static_in)
        _LOG.info(f"captured the network as a CUDA graph for batch {batch}")
        return graph, static_in, static_out


__all__ = ["DepthEstimator", "ESTIMATOR_ENCODINGS", "FastFrame", "OUTPUT_MODES", "OutputRegion",
           "ModelConfig", "PreprocessConfig", "resolve_device"]
