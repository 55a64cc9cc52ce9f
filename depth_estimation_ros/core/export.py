"""Export the depth network to ONNX, torch.export (.pt2) and TorchScript; check each file
against PyTorch.

The exported network takes ``input``: (B, 3, 228, 304) float32, the frame resized/cropped as
the checkpoint's preprocessing says and normalised as ``(rgb_0_255 - mean) / std``, and
returns ``depth``: (B, 1, 109, 147) float32 metres along the optical axis (or the network's
natural-log depth). The preprocessing metadata, the model config and the output's units
travel with the files (ONNX ``metadata_props``, ``metadata.json`` extra files of the ``.pt2``
and TorchScript archives).
``python -m depth_estimation_ros.export`` is the command over :func:`export`.
"""

from __future__ import annotations

import json
import logging
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from depth_estimation_ros import __version__
from depth_estimation_ros.core.checkpoint import (
    load_checkpoint,
    model_from_checkpoint,
)
from depth_estimation_ros.core.model import MultiScaleDepthNet, PreprocessConfig
from depth_estimation_ros.core.preprocessing import normalize, resize_and_crop

_LOG = logging.getLogger(__name__)

FORMATS: tuple[str, ...] = ("torchscript", "onnx", "pt2")
MAX_DYNAMIC_BATCH = 64  # upper bound of the .pt2 program's dynamic batch axis
OUTPUT_UNITS: tuple[str, ...] = ("metres", "log")
INPUT_NAME = "input"
OUTPUT_NAME = "depth"
DEFAULT_OPSET = 17


class ExportError(RuntimeError):
    """An export could not be written, or does not reproduce the PyTorch model's output."""


class ExportedDepthNet(nn.Module):
    """The network as exported: normalised (B, 3, h, w) → (B, 1, h', w') depth.

    Args:
        net: the multi-scale network (eval mode).
        output: ``metres`` (``exp`` of the prediction) or ``log`` (natural-log metres).
    """

    def __init__(self, net: MultiScaleDepthNet, output: str = "metres") -> None:
        super().__init__()
        if output not in OUTPUT_UNITS:
            raise ValueError(f"output {output!r} not understood; expected one of {OUTPUT_UNITS}")
        self.net = net
        self.metres = output == "metres"

    def forward(self, x: Tensor) -> Tensor:
        """(B, 3, h, w) normalised image → (B, 1, h', w') metres (or log metres)."""
        log_depth = self.net(x)
        return torch.exp(log_depth) if self.metres else log_depth


@dataclass(frozen=True)
class Check:
    """How one exported file compared with PyTorch."""

    format: str
    path: Path
    max_abs_diff: float
    ok: bool


def metadata(ckpt: dict[str, Any], output: str, dynamic_batch: bool) -> dict[str, str]:
    """String key/values describing the exported model (ONNX ``metadata_props``)."""
    pre = PreprocessConfig.from_dict(dict(ckpt["preprocess"]))
    props: dict[str, Any] = {
        "producer": "depth_estimation_ros.export",
        "code_version": __version__,
        "checkpoint": Path(str(ckpt.get("path", "<in memory>"))).name,
        "variant": ckpt["model_config"].get("variant", ""),
        "input_name": INPUT_NAME,
        "input_shape": f"[{'B' if dynamic_batch else 1}, 3, {pre.input_height}, "
                       f"{pre.input_width}]",
        "input_format": "RGB, NCHW float32, (value_0_255 - mean) / std",
        "output_name": OUTPUT_NAME,
        "output_units": "metres" if output == "metres" else "natural log of metres",
        "resize_height": pre.resize_height, "resize_width": pre.resize_width,
        "crop_top": pre.crop_top, "crop_left": pre.crop_left,
        "input_height": pre.input_height, "input_width": pre.input_width,
        "mean": pre.mean, "std": pre.std,
        "min_depth": pre.min_depth, "max_depth": pre.max_depth,
        # training fx at the input (0 = unknown): depth x (camera fx at the input) / this
        "focal_length": pre.focal_length,
        "preprocess": json.dumps(pre.to_dict(), sort_keys=True),
        "model_config": json.dumps(dict(ckpt["model_config"]), sort_keys=True),
        "metrics": json.dumps(dict(ckpt.get("metrics", {})), sort_keys=True, default=str),
    }
    return {k: str(v) for k, v in props.items()}


def sample_inputs(pre: PreprocessConfig, batch: int, seed: int = 0) -> Tensor:
    """Picture-like normalised inputs (B, 3, h, w): random 640×480 frames, preprocessed."""
    rng = np.random.default_rng(seed)
    coarse = rng.integers(0, 256, (batch, 3, 30, 40), dtype=np.uint8)
    frames = torch.from_numpy(np.kron(coarse, np.ones((1, 1, 16, 16), dtype=np.uint8)))
    return normalize(resize_and_crop(frames.float(), pre), pre).contiguous()


def export_torchscript(module: ExportedDepthNet, example: Tensor, path: Path,
                       props: dict[str, str]) -> Path:
    """Trace ``module`` on ``example`` and save it with ``metadata.json`` as an extra file."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # shape-dependent Python branches are fixed at h×w
        traced = torch.jit.trace(module, (example,), check_trace=False)
    torch.jit.save(traced, str(path), _extra_files={"metadata.json": json.dumps(props)})
    return path


def export_onnx(module: ExportedDepthNet, example: Tensor, path: Path, props: dict[str, str],
                opset: int = DEFAULT_OPSET, dynamic_batch: bool = False) -> Path:
    """Write an ONNX file (TorchScript-based exporter) with ``props`` as metadata_props."""
    import onnx

    dynamic_axes = {INPUT_NAME: {0: "batch"}, OUTPUT_NAME: {0: "batch"}} if dynamic_batch \
        else None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the legacy exporter's deprecation notice
        torch.onnx.export(module, (example,), str(path), dynamo=False, opset_version=opset,
                          input_names=[INPUT_NAME], output_names=[OUTPUT_NAME],
                          dynamic_axes=dynamic_axes, do_constant_folding=True)
    model = onnx.load(str(path))
    for key, value in props.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    model.doc_string = ("Eigen & Fergus 2015 multi-scale depth network; "
                        f"output '{OUTPUT_NAME}' in {props['output_units']}.")
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


def _compare(name: str, path: Path, got: np.ndarray, want: np.ndarray, rtol: float,
             atol: float) -> Check:
    if got.shape != want.shape:
        raise ExportError(f"{name} export {path} gives shape {got.shape}; expected "
                          f"{want.shape}")
    diff = float(np.max(np.abs(got.astype(np.float64) - want)))
    ok = bool(np.allclose(got, want, rtol=rtol, atol=atol))
    return Check(name, path, diff, ok)


def check_onnx(path: Path, inputs: Tensor, reference: np.ndarray, rtol: float,
               atol: float) -> Check:
    """Run ``path`` with ONNX Runtime (CPU) and compare with ``reference``."""
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got = session.run([OUTPUT_NAME], {INPUT_NAME: inputs.numpy()})[0]
    return _compare("onnx", path, got, reference, rtol, atol)


def export_program(module: ExportedDepthNet, example: Tensor, path: Path,
                   props: dict[str, str], dynamic_batch: bool = False) -> Path:
    """Write a ``torch.export`` program (``.pt2``) with ``metadata.json`` as an extra file.

    With ``dynamic_batch`` the batch axis is symbolic (1..:data:`MAX_DYNAMIC_BATCH`); the
    example should then have a batch of at least 2 (torch.export specialises sizes 0 and 1).
    """
    dynamic_shapes = None
    if dynamic_batch:
        batch = torch.export.Dim("batch", min=1, max=MAX_DYNAMIC_BATCH)
        dynamic_shapes = ({0: batch},)
    program = torch.export.export(module, (example,), dynamic_shapes=dynamic_shapes)
    tmp = path.with_name(f"{path.stem}.tmp{path.suffix}")  # torch.export wants .pt2
    torch.export.save(program, str(tmp), extra_files={"metadata.json": json.dumps(props)})
    tmp.replace(path)
    return path


def check_program(path: Path, inputs: Tensor, reference: np.ndarray, rtol: float,
                  atol: float) -> Check:
    """Reload ``path`` with ``torch.export.load`` and compare with ``reference``."""
    program = torch.export.load(str(path))
    with torch.inference_mode():
        got = program.module()(inputs).numpy()
    return _compare("pt2", path, got, reference, rtol, atol)


def check_torchscript(path: Path, inputs: Tensor, reference: np.ndarray, rtol: float,
                      atol: float) -> Check:
    """Reload ``path`` with ``torch.jit.load`` and compare with ``reference``."""
    loaded = torch.jit.load(str(path), map_location="cpu")
    with torch.inference_mode():
        got = loaded(inputs).numpy()
    return _compare("torchscript", path, got, reference, rtol, atol)


def export(checkpoint: str | Path | None, out_dir: str | Path,
           formats: Sequence[str] = FORMATS, *, opset: int = DEFAULT_OPSET,
           dynamic_batch: bool = False, output: str = "metres", rtol: float = 1e-3,
           atol: float = 1e-4) -> list[Check]:
    """Export a checkpoint's network and check each file against PyTorch.

    Args:
        checkpoint: checkpoint path (``None``: the shipped one).
        out_dir: folder for the files (created if missing).
        formats: any of ``torchscript``, ``onnx``, ``pt2``.
        opset: ONNX opset version.
        dynamic_batch: make the batch axis dynamic (checked with batch 2); else batch 1.
        output: ``metres`` or ``log`` (natural-log metres).
        rtol: relative tolerance of the comparison.
        atol: absolute tolerance of the comparison (in the output's units).

    Returns:
        One :class:`Check` per format, in the order given.

    Raises:
        CheckpointError: the checkpoint cannot be loaded.
        ValueError: unknown format or output.
        ExportError: a file could not be written or has the wrong output shape.
    """
    unknown = [f for f in formats if f not in FORMATS]
    if unknown or not formats:
        raise ValueError(f"formats {list(formats)} not understood; expected some of {FORMATS}")
    ckpt = load_checkpoint(checkpoint)
    net, _, pre = model_from_checkpoint(ckpt, "cpu")
    module = ExportedDepthNet(net, output).eval()
    props = metadata(ckpt, output, dynamic_batch)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    stem = Path(str(ckpt["path"])).stem
    example = sample_inputs(pre, 1)
    inputs = sample_inputs(pre, 2 if dynamic_batch else 1, seed=1)
    with torch.inference_mode():
        reference = module(inputs).numpy().astype(np.float64)
    checks: list[Check] = []
    for fmt in formats:
        try:
            if fmt == "pt2":
                path = export_program(module, sample_inputs(pre, 2) if dynamic_batch
                                      else example, out / f"{stem}.pt2", props, dynamic_batch)
                checks.append(check_program(path, inputs, reference, rtol, atol))
            elif fmt == "onnx":
                path = export_onnx(module, example, out / f"{stem}.onnx", props, opset,
                                   dynamic_batch)
                checks.append(check_onnx(path, inputs, reference, rtol, atol))
            else:
                path = export_torchscript(module, example, out / f"{stem}.torchscript.pt",
                                          props)
                checks.append(check_torchscript(path, inputs, reference, rtol, atol))
        except (OSError, RuntimeError) as exc:
            if isinstance(exc, ExportError):
                raise
            raise ExportError(f"{fmt} export of {ckpt['path']} to {out} failed: "
                              f"{type(exc).__name__}: {str(exc).splitlines()[0]}") from exc
        _LOG.info(f"{fmt}: {checks[-1].path} max abs diff {checks[-1].max_abs_diff:.3g}")
    return checks
