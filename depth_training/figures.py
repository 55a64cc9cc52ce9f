"""Evaluation and training figures (matplotlib, Agg canvas; no pyplot global state).

* :func:`sample_grid`: input | prediction | ground truth | error, one row per sample (the
  seed's comparison figure).
* :class:`ErrorHistograms` and :func:`error_histogram_figure`: distributions of per-pixel
  error (signed metres, absolute relative, log ratio), accumulated with fixed bins so the
  whole test set fits in constant memory.
* :func:`training_curves`: losses, metrics and learning rate from a run's ``metrics.csv``.
"""

from __future__ import annotations

import csv
import logging
import math
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

log = logging.getLogger(__name__)

DEPTH_CMAP = "turbo"
ERROR_CMAP = "coolwarm"
LOSS_COLUMNS: tuple[str, ...] = ("train_loss", "val_loss")
ERROR_COLUMNS: tuple[str, ...] = ("rmse", "abs_rel", "sq_rel", "rmse_log", "log10", "si_log")
ACCURACY_COLUMNS: tuple[str, ...] = ("delta1", "delta2", "delta3")


def _save(fig: Figure, path: str | os.PathLike[str], dpi: int = 110) -> Path:
    FigureCanvasAgg(fig)
    fig.savefig(path, dpi=dpi)
    return Path(path)


@dataclass
class Sample:
    """One row of the sample grid."""

    index: int  # item index in the source
    rgb: np.ndarray  # (H, W, 3) uint8
    pred: np.ndarray  # (H, W) metres
    target: np.ndarray  # (H, W) metres, 0/NaN invalid
    mask: np.ndarray  # (H, W) bool, evaluated pixels


def sample_grid(samples: list[Sample], path: str | os.PathLike[str],
                title: str | None = None) -> Path:
    """Write the input | prediction | ground truth | error grid.

    Prediction and ground truth of a row share one colour scale (the ground truth's range in
    the mask); the error is ``pred - target`` in metres on the evaluated pixels.
    """
    if not samples:
        raise ValueError("sample_grid needs at least one sample")
    rows = len(samples)
    h, w = samples[0].target.shape
    fig = Figure(figsize=(4 * 3.2, rows * 3.2 * h / w + 0.8), layout="constrained")
    axes = fig.subplots(rows, 4, squeeze=False)
    for r, s in enumerate(samples):
        valid = s.mask & np.isfinite(s.target)
        vals = s.target[valid]
        vmin, vmax = (float(vals.min()), float(vals.max())) if vals.size else (0.0, 10.0)
        err = np.where(valid, s.pred - s.target, np.nan)
        lim = float(np.nanpercentile(np.abs(err), 99)) if valid.any() else 1.0
        lim = lim if lim > 0 else 1.0
        target = np.where(s.target > 0, s.target, np.nan)
        panels = [
            (s.rgb, {}, f"input #{s.index}"),
            (s.pred, {"cmap": DEPTH_CMAP, "vmin": vmin, "vmax": vmax}, "prediction (m)"),
            (target, {"cmap": DEPTH_CMAP, "vmin": vmin, "vmax": vmax}, "ground truth (m)"),
            (err, {"cmap": ERROR_CMAP, "vmin": -lim, "vmax": lim}, "error pred − gt (m)"),
        ]
        for c, (img, kw, name) in enumerate(panels):
            ax = axes[r, c]
            im = ax.imshow(img, interpolation="nearest", **kw)
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0 or c == 0:
                ax.set_title(name, fontsize=9)
            if c >= 2:
                fig.colorbar(im, ax=ax, fraction=0.046, pad=0.02)
    if title:
        fig.suptitle(title, fontsize=10)
    return _save(fig, path)


@dataclass
class ErrorHistograms:
    """Fixed-bin histograms of per-pixel errors (values beyond the range go to the end bins).

    Args:
        signed_range: metres, range of ``pred - target``.
        rel_max: upper end of ``|pred - target| / target``.
        log_range: range of ``ln(pred / target)``.
        bins: bins per histogram.
    """

    signed_range: float = 3.0
    rel_max: float = 1.5
    log_range: float = 1.5
    bins: int = 120
    counts: dict[str, np.ndarray] = field(default_factory=dict)

    def edges(self, name: str) -> np.ndarray:
        """Bin edges of histogram ``name`` (``signed``, ``abs_rel`` or ``log_ratio``)."""
        if name == "signed":
            return np.linspace(-self.signed_range, self.signed_range, self.bins + 1)
        if name == "abs_rel":
            return np.linspace(0.0, self.rel_max, self.bins + 1)
        if name == "log_ratio":
            return np.linspace(-self.log_range, self.log_range, self.bins + 1)
        raise KeyError(f"unknown histogram {name!r}")

    def update(self, pred: np.ndarray, target: np.ndarray, mask: np.ndarray) -> None:
        """Add the masked pixels of one (H, W) pair in metres (pred already clamped)."""
        valid = mask & np.isfinite(pred) & np.isfinite(target) & (target > 0) & (pred > 0)
        p, t = pred[valid].astype(np.float64), target[valid].astype(np.float64)
        values = {"signed": p - t, "abs_rel": np.abs(p - t) / t, "log_ratio": np.log(p / t)}
        for name, v in values.items():
            e = self.edges(name)
            c, _ = np.histogram(np.clip(v, e[0], e[-1]), bins=e)
            self.counts[name] = self.counts.get(name, 0) + c

    @property
    def n(self) -> int:
        """Pixels added so far."""
        c = self.counts.get("signed")
        return int(c.sum()) if c is not None else 0


def error_histogram_figure(hist: ErrorHistograms, path: str | os.PathLike[str],
                           title: str | None = None) -> Path:
    """Write the per-pixel error histograms (share of pixels per bin)."""
    fig = Figure(figsize=(13, 3.6), layout="constrained")
    axes = fig.subplots(1, 3)
    labels = {"signed": "signed error pred − gt (m)", "abs_rel": "abs. relative error |p−t|/t",
              "log_ratio": "log ratio ln(p/t)"}
    total = max(hist.n, 1)
    for ax, (name, label) in zip(axes, labels.items(), strict=True):
        e = hist.edges(name)
        c = hist.counts.get(name, np.zeros(hist.bins))
        ax.stairs(c / total, e, fill=True, alpha=0.7)
        ax.set_xlabel(label)
        ax.set_ylabel("share of pixels")
        if name != "abs_rel":
            ax.axvline(0.0, color="k", lw=0.8)
        ax.grid(alpha=0.3)
    fig.suptitle(f"{title or 'per-pixel error'} ({hist.n:,} pixels; values beyond an axis "
                 "are counted in its end bin)", fontsize=10)
    return _save(fig, path)


def _float(value: str | None) -> float:
    try:
        return float(value) if value not in (None, "") else math.nan
    except ValueError:
        return math.nan


def read_metrics_csv(path: str | os.PathLike[str]) -> dict[str, np.ndarray]:
    """Read a run's ``metrics.csv`` into columns (missing cells NaN; ``stage`` as strings).

    Adds ``x``: the epoch made monotonic across stages (an epoch counter that restarts in a
    new stage continues after the previous stage), or the row number without ``epoch``.
    """
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    cols: dict[str, np.ndarray] = {}
    if not rows:
        return cols
    names = [k for k in rows[0] if k is not None]
    for name in names:
        if name == "stage":
            cols[name] = np.array([r.get(name) or "" for r in rows])
        else:
            cols[name] = np.array([_float(r.get(name)) for r in rows])
    if "epoch" in cols and np.isfinite(cols["epoch"]).any():
        x = cols["epoch"].copy()
        stages = cols.get("stage", np.array([""] * len(rows)))
        offset, prev = 0.0, -math.inf
        for i, e in enumerate(cols["epoch"]):
            if not math.isfinite(e):
                x[i] = prev + offset if math.isfinite(prev) else 0.0
                continue
            new_stage = i > 0 and stages[i] != stages[i - 1]
            if e < prev or (new_stage and e <= prev):
                offset += prev - e + 1
            x[i], prev = e + offset, e
        cols["x"] = x
    else:
        cols["x"] = np.arange(len(rows), dtype=float)
    return cols


def training_curves(csv_path: str | os.PathLike[str], path: str | os.PathLike[str],
                    title: str | None = None) -> bool:
    """Write the training curves of a run; False (nothing written) if nothing is plottable.

    Panels, each only when its columns are present: losses (``train_loss``, ``val_loss``),
    error metrics, δ accuracies, learning rate. Stage changes are marked.
    """
    cols = read_metrics_csv(csv_path)
    if not cols:
        return False
    x = cols["x"]

    def present(names: tuple[str, ...]) -> list[str]:
        return [n for n in names if n in cols and np.isfinite(cols[n]).any()]

    groups = [(g, lab) for g, lab in ((present(LOSS_COLUMNS), "loss"),
                                      (present(ERROR_COLUMNS), "error"),
                                      (present(ACCURACY_COLUMNS), "accuracy"),
                                      (present(("lr",)), "learning rate")) if g]
    if not groups:
        return False
    fig = Figure(figsize=(4.2 * len(groups), 3.6), layout="constrained")
    axes = fig.subplots(1, len(groups), squeeze=False)[0]
    boundaries: list[tuple[float, str]] = []
    if "stage" in cols:
        st = cols["stage"]
        boundaries = [(float(x[i]), str(st[i])) for i in range(len(st))
                      if st[i] and (i == 0 or st[i] != st[i - 1])]
    # one line segment per stage: the stages optimise different outputs, so their losses
    # are not one curve
    stage_ids = np.zeros(len(x), dtype=int)
    if "stage" in cols:
        st = cols["stage"]
        stage_ids = np.cumsum([0] + [int(st[i] != st[i - 1]) for i in range(1, len(st))])
    for ax, (names, label) in zip(axes, groups, strict=True):
        for k, name in enumerate(names):
            ok = np.isfinite(cols[name])
            for seg in np.unique(stage_ids):
                sel = ok & (stage_ids == seg)
                ax.plot(x[sel], cols[name][sel], color=f"C{k}", label=name if seg == 0 else None,
                        marker="." if ok.sum() < 30 else None,
                        drawstyle="steps-post" if name == "lr" else "default")
        values = np.concatenate([cols[n][np.isfinite(cols[n])] for n in names])
        if label in ("loss", "learning rate") and values.size and (values > 0).all():
            ax.set_yscale("log")
        for i, (bx, stage) in enumerate(boundaries):
            if i > 0:
                ax.axvline(bx, color="grey", ls="--", lw=0.8)
            last = bx >= np.nanmax(x)
            ax.annotate(stage, (bx, 1.0), xycoords=("data", "axes fraction"), fontsize=7,
                        va="top", ha="right" if last and i > 0 else "left", color="grey")
        ax.set_xlabel("epoch" if "epoch" in cols else "log row")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(title or f"training curves ({Path(csv_path).parent.name})", fontsize=10)
    _save(fig, path)
    return True
