"""A run's log: the run folder's ``config.yaml`` and ``metrics.csv``, and TensorBoard events.

Only rank 0 writes; on other ranks every method is a no-op.
"""

from __future__ import annotations

import csv
import logging
from pathlib import Path
from typing import Any

from depth_training.config import TrainConfig, save_config
from depth_training.errors import TrainingError
from depth_training.metrics import METRIC_KEYS

__all__ = ["CSV_COLUMNS", "RunLog"]

log = logging.getLogger(__name__)

CSV_COLUMNS: tuple[str, ...] = (
    "epoch", "stage", "step", "train_loss", "val_loss", "lr", *METRIC_KEYS,
)


def _fmt(v: Any) -> Any:
    if isinstance(v, float):
        return f"{v:.6g}"
    return v


class RunLog:
    """``metrics.csv`` rows and TensorBoard scalars of one run.

    Args:
        run_dir: the run folder.
        enabled: whether this process writes (rank 0).
    """

    def __init__(self, run_dir: Path, enabled: bool) -> None:
        self.run_dir = run_dir
        self.enabled = enabled
        self.writer: Any = None

    def start(self, cfg: TrainConfig, resumed_step: int | None) -> None:
        """Create the run folder, write ``config.yaml`` and start ``metrics.csv``.

        Args:
            cfg: the resolved config.
            resumed_step: the global step a resumed run continues from (the CSV keeps the
                rows up to it), or None for a new run.
        """
        if not self.enabled:
            return
        try:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            save_config(cfg, self.run_dir / "config.yaml")
        except OSError as exc:
            raise TrainingError(f"cannot write to run folder {self.run_dir}: "
                                f"{exc.strerror or exc}; pass a writable --out.") from exc
        path = self.run_dir / "metrics.csv"
        rows: list[dict[str, str]] = []
        if path.exists() and resumed_step is not None:
            with path.open(newline="") as f:
                rows = [r for r in csv.DictReader(f) if int(r["step"]) <= resumed_step]
        with path.open("w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=CSV_COLUMNS)
            w.writeheader()
            w.writerows(rows)

    def open_tensorboard(self, enabled: bool, purge_step: int | None) -> None:
        """Start writing TensorBoard events to ``<run>/tb`` (if installed and ``enabled``)."""
        if not (self.enabled and enabled):
            return
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            log.info("tensorboard is not installed; logging to metrics.csv only")
            return
        self.writer = SummaryWriter(log_dir=str(self.run_dir / "tb"), purge_step=purge_step)

    def scalar(self, tag: str, value: float, step: int) -> None:
        """One TensorBoard scalar (nothing without TensorBoard)."""
        if self.writer is not None:
            self.writer.add_scalar(tag, value, step)

    def row(self, row: dict[str, Any]) -> None:
        """Append a ``metrics.csv`` row; its float values go to TensorBoard too."""
        if not self.enabled:
            return
        with (self.run_dir / "metrics.csv").open("a", newline="") as f:
            csv.DictWriter(f, fieldnames=CSV_COLUMNS).writerow(
                {k: _fmt(row.get(k, "")) for k in CSV_COLUMNS})
        if self.writer is not None:
            for k, v in row.items():
                if k not in ("epoch", "stage", "step") and isinstance(v, float):
                    self.writer.add_scalar(f"{row['stage']}/{k}", v, row["step"])
            self.writer.flush()

    def close(self) -> None:
        """Close the TensorBoard writer."""
        if self.writer is not None:
            self.writer.close()
