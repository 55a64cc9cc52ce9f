"""The evaluation report: ``metrics.json``, ``results.md`` (our rows beside the published ones)
and the figures, written into the output folder all or nothing.
"""

from __future__ import annotations

import json
import logging
import math
import os
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from depth_training.errors import EvaluationError
from depth_training.evaluation import EvaluationResult
from depth_training.figures import error_histogram_figure, sample_grid, training_curves
from depth_training.metrics import MAX_DEPTH, MIN_DEPTH, PUBLISHED_RESULTS

__all__ = ["TABLE_COLUMNS", "find_metrics_csv", "prepare_out_dir", "results_markdown",
           "results_table", "write_outputs"]

log = logging.getLogger(__name__)

# Columns of the results table: (metric key, header, higher is better).
TABLE_COLUMNS: tuple[tuple[str, str, bool], ...] = (
    ("delta1", "δ<1.25", True), ("delta2", "δ<1.25²", True), ("delta3", "δ<1.25³", True),
    ("abs_rel", "abs rel", False), ("sq_rel", "sq rel", False), ("rmse", "RMSE", False),
    ("rmse_log", "RMSE log", False), ("si_log", "sc-inv", False), ("log10", "log10", False),
)


def _fmt(value: float | None, best: bool = False) -> str:
    if value is None or not math.isfinite(value):
        return "—"
    return f"**{value:.3f}**" if best else f"{value:.3f}"


def results_table(ours: dict[str, float], our_name: str,
                  extra: Sequence[tuple[str, dict[str, float]]] = (),
                  published: bool = True) -> str:
    """Markdown table: the published NYUv2 rows (if ``published``), ours, then the ``extra``
    rows (best value per column in bold)."""
    rows = [(name, vals) for name, vals in PUBLISHED_RESULTS.items()] if published else []
    rows += [(our_name, ours), *extra]
    head = "| | " + " | ".join(h for _, h, _ in TABLE_COLUMNS) + " |"
    sep = "|---|" + "---|" * len(TABLE_COLUMNS)
    best: dict[str, float] = {}
    for key, _, higher in TABLE_COLUMNS:
        vals = [v[key] for _, v in rows if v.get(key) is not None and math.isfinite(v[key])]
        if len(vals) > 1:  # nothing to compare with a lone value
            best[key] = max(vals) if higher else min(vals)
    lines = [head, sep]
    for name, vals in rows:
        cells = [_fmt(vals.get(k), vals.get(k) is not None and vals.get(k) == best.get(k))
                 for k, _, _ in TABLE_COLUMNS]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def results_markdown(result: EvaluationResult, info: dict[str, Any],
                     figures: list[str]) -> str:
    """The ``results.md`` text."""
    our_name = f"ours ({info['variant']}, {info['split']}, {result.n_images} images)"
    nyu = info.get("kind", "nyuv2") == "nyuv2"
    frame = f"{info['frame'][1]}×{info['frame'][0]}"
    if info.get("eval_crop"):
        top, bottom, left, right = info["eval_crop"]
        region = f"Eigen crop rows {top}:{bottom}, cols {left}:{right} of {frame}"
    else:
        region = f"the whole {frame} frame (no Eigen crop: that removes NYUv2's border)"
    focal = info.get("focal_rescale") or "none (the model's focal length or the camera's " \
        "is unknown)"
    extra = [("ours, median-scaled", result.median_scaled),
             ("oracle constant (per-image gt median)", result.oracle)]
    lines = [
        "# Depth evaluation",
        "",
        f"- checkpoint: `{info['checkpoint']}`",
        f"- data: `{info['data']}` ({info.get('kind', 'nyuv2')}) — split `{info['split']}`, "
        f"{result.n_images} images, {result.n_pixels:,} evaluated pixels",
        f"- protocol: {region}, depth in [{MIN_DEPTH:g}, {MAX_DEPTH:g}] m, "
        f"predictions clamped to that range; metrics over all pixels of the split "
        f"({info['averaging']} averaging)",
        f"- prediction at {frame} via DepthEstimator on "
        f"{info['device']}; {100 * result.extended_fraction:.1f} % of evaluated pixels lie "
        "outside the network's crop (edge-extended); focal-length rescale: " + focal,
        "",
        results_table(result.metrics, our_name, extra, published=nyu),
        "",
        "Median-scaled: each image's prediction × median(gt) / median(pred), the usual way to "
        "compare structure across cameras. Oracle constant: each image's ground-truth median "
        "as a flat prediction (it knows the true scale), the floor a model has to beat. "
        "sc-inv = sqrt(mean d² − (mean d)²), d = ln p − ln t.",
        "",
    ]
    if nyu:
        lines += ["Published rows: NYUv2 official test set (654 images). The seed's row is its "
                  "own 5 % random validation split of the labelled set, not the official test "
                  "set. '—' = not reported.", ""]
    if nyu and (result.n_images < 654 or info["split"] != "official"):
        lines += ["Note: this is not the official 654-image test split, so the comparison "
                  "with the published rows is indicative only.", ""]
    for name in figures:
        lines.append(f"![{Path(name).stem}]({name})")
    return "\n".join(lines) + "\n"


def find_metrics_csv(run_dir: str | None, ckpt: dict[str, Any],
                      ckpt_path: Path) -> Path | None:
    """The run's ``metrics.csv``: ``--run-dir``, the run recorded in the checkpoint, or the
    checkpoint's folder."""
    if run_dir:
        p = Path(run_dir) / "metrics.csv"
        if not p.is_file():
            raise EvaluationError(f"run folder {run_dir} has no metrics.csv; expected the "
                                  "training log written by depth_training.train")
        return p
    training = ckpt.get("training") or {}
    config = training.get("config") if isinstance(training.get("config"), dict) else {}
    candidates = [training.get("run_dir"), training.get("out_dir"), config.get("out_dir"),
                  str(ckpt_path.parent)]
    for c in candidates:
        if isinstance(c, str) and c and (Path(c) / "metrics.csv").is_file():
            return Path(c) / "metrics.csv"
    return None


def prepare_out_dir(out: Path) -> tuple[Path, Path | None]:
    """Create ``out`` if needed and check it is writable.

    Returns:
        ``out`` and the topmost folder this call created (None if ``out`` existed), which
        is removed again if the evaluation fails.
    """
    created = None
    for folder in (out, *out.parents):
        if folder.exists():
            break
        created = folder
    try:
        out.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=out):
            pass
    except OSError as exc:
        raise EvaluationError(f"output folder {out} is not writable ({exc.strerror or exc}); "
                              "expected a folder we can create files in") from exc
    return out, created


def write_outputs(out: Path, result: EvaluationResult, info: dict[str, Any],
                  metrics_csv: Path | None) -> list[Path]:
    """Write metrics.json, results.md and the figures into ``out`` (all or nothing)."""
    tmp = Path(tempfile.mkdtemp(prefix=".eval-", dir=out))
    try:
        figures: list[str] = []
        title = f"{info['variant']} on {Path(str(info['data'])).name} ({info['split']})"
        if result.samples:
            sample_grid(result.samples, tmp / "samples.png", title=title)
            figures.append("samples.png")
        error_histogram_figure(result.histograms, tmp / "error_hist.png",
                               title=f"per-pixel error, {title}")
        figures.append("error_hist.png")
        if metrics_csv is not None:
            if training_curves(metrics_csv, tmp / "training_curves.png"):
                figures.append("training_curves.png")
            else:
                log.warning("%s has no plottable columns; no training curves", metrics_csv)
        doc = {
            "metrics": result.metrics,
            "median_scaled": result.median_scaled,
            "oracle": result.oracle,
            "n_images": result.n_images,
            "n_pixels": result.n_pixels,
            "coverage": result.coverage,
            "extended_fraction": result.extended_fraction,
            "seconds": result.seconds,
            **info,
            "metrics_csv": str(metrics_csv) if metrics_csv else None,
            "figures": figures,
            "per_image": result.per_image,
        }
        (tmp / "metrics.json").write_text(json.dumps(doc, indent=2, allow_nan=True) + "\n",
                                          encoding="utf-8")
        (tmp / "results.md").write_text(results_markdown(result, info, figures),
                                        encoding="utf-8")
        names = ["metrics.json", "results.md", *figures]
        for name in names:
            os.replace(tmp / name, out / name)
        return [out / n for n in names]
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
