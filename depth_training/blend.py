"""Blend two checkpoints of one architecture: weight interpolation and module swaps.

``θ = (1 − α)·θ_A + α·θ_B`` for every floating-point tensor (weights and BatchNorm running
statistics; integer counters are A's), optionally only in some modules (the rest stay A's).
Two uses:

- **Keep a fine-tune general** (WiSE-FT: Wortsman et al., "Robust fine-tuning of zero-shot
  models", CVPR 2022). A = the model you started from (the shipped default), B = your
  fine-tune on one recording; α < 1 trades some of B's accuracy on that camera and building
  for A's on everything else. Both must come from the same start (``init_from``), so the
  straight line between them stays in one basin; docs/own_camera.md has what it measured.
- **Ask which part of a network carries a behaviour**: α = 1 on one module swaps it in from B
  (``--modules scale1.features`` = B's backbone in A's network); docs/weights.md uses it to
  show where the shipped models' real-room scale and structure live.

The result is an ordinary checkpoint (A's model and preprocessing configs, its
``training.blend`` naming both files by sha256, α and the modules; no metrics, as none were
measured on it), written to a temporary name and renamed.

Usage::

    python -m depth_training.blend --a shipped --b runs/kitchen/best.pt --alpha 0.5 \\
        --out runs/kitchen/blend_0.5.pt
    python -m depth_training.blend --a shipped_mobile --b shipped --alpha 1 \\
        --modules scale1.features --out runs/backbone_swap.pt
"""

from __future__ import annotations

import argparse
import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import torch

from depth_estimation_ros.core.checkpoint import (
    CheckpointError,
    atomic_torch_save,
    load_checkpoint,
    model_from_checkpoint,
)
from depth_estimation_ros.core.pretrained import sha256_of
from depth_training.init_weights import (
    PRETRAINED_RECORD_KEY,
    checkpoint_name_path,
    pretrained_record,
)

__all__ = ["BlendError", "blend_checkpoints", "blend_states", "main"]

# names the CLI takes for the package's own files (as training's init_from does)
SHIPPED_NAMES = ("shipped", "shipped_mobile", "shipped_compact")


class BlendError(ValueError):
    """The two checkpoints cannot be blended, or the arguments are out of range."""


def _in_module(key: str, module: str) -> bool:
    """Whether state key ``key`` belongs to the dotted module ``module`` (whole names only)."""
    return key == module or key.startswith(module + ".")


def blend_states(a: Mapping[str, torch.Tensor], b: Mapping[str, torch.Tensor], alpha: float,
                 modules: Sequence[str] = ()) -> dict[str, torch.Tensor]:
    """``(1 − alpha)·a + alpha·b`` for the floating-point tensors of ``modules`` (dotted
    prefixes such as ``scale1`` or ``scale2.refine``; none = all); everything else is ``a``'s.

    Raises:
        BlendError: alpha outside [0, 1], different keys or shapes, or a module that names
            no tensor.
    """
    if not (isinstance(alpha, (int, float)) and math.isfinite(alpha) and 0.0 <= alpha <= 1.0):
        raise BlendError(f"alpha must be a number in [0, 1] (the weight of B), got {alpha!r}")
    if set(a) != set(b):
        only_a, only_b = sorted(set(a) - set(b)), sorted(set(b) - set(a))
        raise BlendError(f"the checkpoints hold different tensors (only in A: {only_a[:3]}, "
                         f"only in B: {only_b[:3]}); expected two files of one architecture")
    for key, value in a.items():
        if value.shape != b[key].shape:
            raise BlendError(f"tensor {key!r} is {tuple(value.shape)} in A and "
                             f"{tuple(b[key].shape)} in B; expected equal shapes")
    prefixes = [m.rstrip(".") for m in modules]
    for m in prefixes:
        if not any(_in_module(k, m) for k in a):
            tops = sorted({".".join(k.split(".")[:2]) for k in a})
            raise BlendError(f"module {m!r} names no tensor of the model; expected a dotted "
                             f"prefix such as {', '.join(tops)}")

    out: dict[str, torch.Tensor] = {}
    for key, va in a.items():
        vb = b[key]
        if va.is_floating_point() and (not prefixes or any(_in_module(key, m)
                                                           for m in prefixes)):
            mixed = va.double() * (1.0 - alpha) + vb.double() * alpha
            out[key] = mixed.to(va.dtype)
        else:
            out[key] = va.clone()
    return out


def blend_checkpoints(a: str | os.PathLike[str], b: str | os.PathLike[str], alpha: float,
                      out: str | os.PathLike[str], modules: Sequence[str] = ()) -> Path:
    """Blend checkpoint files ``a`` and ``b`` (paths or ``shipped``, ``shipped_mobile``,
    ``shipped_compact``) into ``out``; see the module docstring.

    Raises:
        BlendError: the two differ in architecture or preprocessing, or bad arguments.
        CheckpointError: a file is missing, not a checkpoint, or cannot be written.
    """
    pa, pb = checkpoint_name_path(str(a)), checkpoint_name_path(str(b))
    target = Path(out)
    if target.resolve() in (pa.resolve(), pb.resolve()):
        raise BlendError(f"--out {target} is one of the inputs; expected a new file")
    ca, cb = load_checkpoint(pa), load_checkpoint(pb)
    for key in ("model_config", "preprocess"):
        diff = sorted((k for k in set(ca[key]) | set(cb[key])
                       if ca[key].get(k) != cb[key].get(k)),
                      key=lambda k: (k != "variant", k))  # the variant says most
        if diff:
            k = diff[0]
            raise BlendError(f"{pa} and {pb} differ in {key} {k!r} ({ca[key].get(k)!r} against "
                             f"{cb[key].get(k)!r}); expected two files of one architecture "
                             "and preprocessing (the same init_from lineage)")
    model_from_checkpoint(ca)  # each file is a complete, finite model of its config
    model_from_checkpoint(cb)
    state = blend_states(ca["model_state"], cb["model_state"], alpha, modules)
    blended = {key: value for key, value in ca.items() if key != "path"}
    blended["model_state"] = state
    blended["metrics"] = {}
    blended["training"] = {
        "blend": {
            "a": str(pa), "a_sha256": sha256_of(pa),
            "b": str(pb), "b_sha256": sha256_of(pb),
            "alpha": float(alpha), "modules": list(modules) or "all",
        },
        "a_training": ca.get("training") or {},
    }
    # the ImageNet file both grew from, where they agree (init_from carries it on)
    record = pretrained_record(ca)
    if record is not None and record == pretrained_record(cb):
        blended["training"][PRETRAINED_RECORD_KEY] = record
    return atomic_torch_save(blended, target)


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python -m depth_training.blend",
                                 description=__doc__.split("\n\n")[0])
    ap.add_argument("--a", required=True, help="first checkpoint (α = 0), a path or "
                    f"{', '.join(SHIPPED_NAMES)}; its configs and counters are kept")
    ap.add_argument("--b", required=True, help="second checkpoint (α = 1), same architecture")
    ap.add_argument("--alpha", type=float, required=True, help="weight of B, in [0, 1]")
    ap.add_argument("--modules", nargs="+", default=[], metavar="PREFIX",
                    help="blend only these modules (e.g. scale1 scale2.refine); default all")
    ap.add_argument("--out", required=True, type=Path, help="checkpoint to write")
    return ap


def main(argv: list[str] | None = None) -> None:
    """CLI entry point: one ``error:`` line and exit 1 on bad input."""
    args = build_parser().parse_args(argv)
    try:
        path = blend_checkpoints(args.a, args.b, args.alpha, args.out, args.modules)
    except (BlendError, CheckpointError) as exc:
        raise SystemExit(f"error: {exc}") from None
    print(f"wrote {path} (alpha {args.alpha:g} of {args.b} into {args.a}"
          f"{', modules ' + ' '.join(args.modules) if args.modules else ''})")


if __name__ == "__main__":
    main()

