"""Export the depth network to ONNX, torch.export and TorchScript; check them against PyTorch.

``python -m depth_estimation_ros.export --checkpoint C --out DIR`` writes
``DIR/<checkpoint stem>.onnx``, ``DIR/<checkpoint stem>.pt2`` (a ``torch.export`` program)
and ``DIR/<checkpoint stem>.torchscript.pt``:

- input ``input``: (B, 3, 228, 304) float32, the frame resized/cropped as the checkpoint's
  preprocessing says and normalised as ``(rgb_0_255 - mean) / std``;
- output ``depth``: (B, 1, 109, 147) float32 **metres** along the optical axis (``--output
  log`` exports the network's natural-log depth instead). The valid range
  ``[min_depth, max_depth]`` is not applied; consumers mask it themselves.

The preprocessing metadata (resize, crop, mean, std, valid range), the model config and the
output's units travel with the files: as ONNX ``metadata_props`` and as ``metadata.json``
extra files of the ``.pt2`` and TorchScript archives. After writing, the ONNX file is run with
ONNX Runtime and the ``.pt2`` and TorchScript files are reloaded, all on the same inputs as
the PyTorch model; the largest absolute difference is printed and the command exits non-zero
if one disagrees beyond the tolerance.

Which to use where: ONNX for ONNX Runtime and for TensorRT (Jetson, GPU servers: build an
engine with ``trtexec``; see docs/performance.md); ``.pt2`` for PyTorch 2.x runtimes
(``torch.export.load(path).module()``, or AOTInductor to compile it ahead of time);
TorchScript only for older C++/LibTorch deployments (``torch.jit`` is deprecated in torch
2.13).
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from depth_estimation_ros.core.checkpoint import CheckpointError
from depth_estimation_ros.core.export import (
    DEFAULT_OPSET,
    FORMATS,
    OUTPUT_UNITS,
    ExportError,
    export,
)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m depth_estimation_ros.export",
                                description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--checkpoint", default=None,
                   help="checkpoint to export (default: the one shipped with the package)")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--formats", default=",".join(FORMATS),
                   help=f"comma-separated formats from {', '.join(FORMATS)}")
    p.add_argument("--opset", type=int, default=DEFAULT_OPSET, help="ONNX opset version")
    p.add_argument("--dynamic-batch", action="store_true",
                   help="dynamic batch axis in the ONNX and .pt2 files (default: batch 1)")
    p.add_argument("--output", choices=OUTPUT_UNITS, default="metres",
                   help="what the exported network returns")
    p.add_argument("--rtol", type=float, default=1e-3, help="relative tolerance of the check")
    p.add_argument("--atol", type=float, default=1e-4,
                   help="absolute tolerance of the check (output units)")
    p.add_argument("-v", "--verbose", action="store_true", help="log progress")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    formats = [f.strip() for f in args.formats.split(",") if f.strip()]
    try:
        checks = export(args.checkpoint, args.out, formats, opset=args.opset,
                        dynamic_batch=args.dynamic_batch, output=args.output,
                        rtol=args.rtol, atol=args.atol)
    except (CheckpointError, ValueError, ExportError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for c in checks:
        verdict = "matches PyTorch" if c.ok else "DOES NOT match PyTorch"
        print(f"{c.format}: {c.path} ({c.path.stat().st_size / 1e6:.1f} MB) {verdict}, "
              f"max abs diff {c.max_abs_diff:.3g} {args.output} "
              f"(rtol {args.rtol:g}, atol {args.atol:g})")
    return 0 if all(c.ok for c in checks) else 1


if __name__ == "__main__":
    sys.exit(main())
