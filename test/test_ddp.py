"""Two-process DDP training on the CPU (gloo), launched with torchrun as a real subprocess."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "depth_training" / "configs" / "synthetic_compact.yaml"


def _write_nyu_file(path: Path, n: int) -> Path:
    """A real HDF5 file in the NYUv2 labelled layout (h5py axis order), 64×48 frames."""
    rng = np.random.default_rng(1)
    w, h = 64, 48
    v = np.linspace(0, 1, h, dtype=np.float32)[None, :]
    depths = np.stack([np.broadcast_to(1.0 + 2.0 * v + 0.3 * k, (w, h)) for k in range(n)])
    with h5py.File(path, "w") as f:
        f.create_dataset("images", data=rng.integers(0, 255, size=(n, 3, w, h), dtype=np.uint8))
        f.create_dataset("depths", data=depths.astype(np.float32))
    return path


def test_two_process_ddp_trains_and_only_rank0_writes(tmp_path: Path) -> None:
    mat = _write_nyu_file(tmp_path / "nyu.mat", n=5)
    run = tmp_path / "run"
    cmd = [
        sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
        "-m", "depth_training.train", "--config", str(CONFIG), "--out", str(run),
        "stage=coarse", "epochs.coarse=2", "data.kind=nyuv2", f"data.path={mat}",
        "data.split=random", "data.val_fraction=0.2", "batch_size=1", "eval_batch_size=2",
        "model.variant=compact", "model.compact_width=8", "model.scale2_channels=8",
        "model.scale3_channels=8", "progress=false", "tensorboard=false", "num_workers=0",
        "threads=1", "device=cpu", "amp=off",
        "time_limit_min.coarse=30",  # not reached; exercises the ranks' shared clock
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=180)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    # rank 0 alone prints the result and logs at INFO
    assert proc.stdout.count("run folder:") == 1, proc.stdout
    assert "process(es)" in proc.stderr and "2 process(es)" in proc.stderr

    # 4 training images sharded over 2 ranks, batch 1: 2 steps per epoch on each rank
    last = torch.load(run / "last.pt", weights_only=True)
    assert last["training"]["world_size"] == 2
    assert last["training"]["step"] == 4 and last["training"]["epoch"] == 2
    # one writer: one header and one row per epoch, no temporary files left behind
    with (run / "metrics.csv").open(newline="") as f:
        rows = list(csv.DictReader(f))
    assert [(r["epoch"], r["step"]) for r in rows] == [("1", "2"), ("2", "4")]
    assert (run / "metrics.csv").read_text().count("epoch,stage,step") == 1
    names = sorted(p.name for p in run.iterdir())
    assert names == ["best.pt", "coarse_best.pt", "config.yaml", "last.pt", "metrics.csv"]
    # the training moved the weights away from their initialisation
    torch.manual_seed(0)
    from depth_estimation_ros.core.model import ModelConfig, build_model

    init = build_model(ModelConfig.from_dict(last["model_config"])).state_dict()
    moved = [k for k, v in last["model_state"].items()
             if k.startswith("scale2.") and v.is_floating_point() and not torch.equal(v, init[k])]
    assert moved
