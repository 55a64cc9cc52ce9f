"""Write a small HDF5 file in the NYUv2 labelled layout from synthetic scenes.

For tests and for trying the training and evaluation commands without the real 2.8 GB
``nyu_depth_v2_labeled.mat``. The file follows MATLAB v7.3: HDF5 with a 512-byte userblock
holding the MAT header, MATLAB's axis order (h5py shows ``images`` as (N, 3, W, H)), the
``MATLAB_class`` attributes, and cell arrays as object references into ``#refs#``.

Usage::

    python -m depth_training.make_nyu_like OUT.mat --n 16 [--seed 0] [--width 640 --height 480]
"""

from __future__ import annotations

import argparse
import logging
import os
import time
from pathlib import Path

import h5py
import numpy as np
from tqdm import tqdm

from depth_estimation_ros.core.atomic import atomic_path
from depth_training.datasets.nyu import NYU_HEIGHT, NYU_WIDTH
from depth_training.datasets.synthetic import SyntheticDepthSource

log = logging.getLogger(__name__)

USERBLOCK_SIZE = 512
# A few NYUv2 class names, for the 'names' cell array (labels are 0 = unlabelled here).
CLASS_NAMES: tuple[str, ...] = ("wall", "floor", "ceiling", "table", "chair", "cabinet")


def mat73_header(created: str | None = None) -> bytes:
    """The 128-byte MATLAB v7.3 MAT-file header, padded to the 512-byte userblock."""
    created = created or time.strftime("%a %b %d %H:%M:%S %Y", time.gmtime())
    text = f"MATLAB 7.3 MAT-file, Platform: GLNXA64, Created on: {created} HDF5 schema 1.00 ."
    head = text.encode("ascii")[:116].ljust(116, b" ")
    head += b" " * 8  # subsystem data offset: none
    head += b"\x00\x02" + b"IM"  # version 0x0200 (7.3), little-endian indicator
    return head.ljust(USERBLOCK_SIZE, b"\x00")


def _matlab_class(obj: h5py.Dataset | h5py.Group, cls: str) -> None:
    obj.attrs["MATLAB_class"] = np.bytes_(cls)


def _write_cellstr(f: h5py.File, refs: h5py.Group, name: str, strings: list[str]) -> None:
    """A MATLAB K×1 cell array of char rows: (1, K) references to uint16 (len, 1) datasets."""
    ds = f.create_dataset(name, shape=(1, len(strings)), dtype=h5py.ref_dtype)
    _matlab_class(ds, "cell")
    for k, s in enumerate(strings):
        chars = np.array([ord(c) for c in s], dtype=np.uint16).reshape(-1, 1)  # (len, 1)
        item = refs.create_dataset(f"{name}_{k}", data=chars)
        _matlab_class(item, "char")
        item.attrs["MATLAB_int_decode"] = np.int32(2)
        ds[0, k] = item.ref


def write_nyu_layout_file(path: str | os.PathLike[str], n: int, seed: int = 0,
                          width: int = NYU_WIDTH, height: int = NYU_HEIGHT,
                          progress: bool = False) -> Path:
    """Write ``n`` synthetic frames as a NYUv2-labelled-layout HDF5 file (atomically).

    Item ``i`` is item ``i`` of ``SyntheticDepthSource(n, seed, width, height)``: ``depths``
    is its exact depth, ``rawDepths`` the same with simulated sensor holes (0).

    Args:
        path: output file (written to a temporary name in the same folder, then renamed).
        n: number of frames (>= 1).
        seed: synthetic source seed.
        width: frame width in pixels.
        height: frame height in pixels.
        progress: show a tqdm bar.

    Returns:
        The written path.
    """
    if n < 1:
        raise ValueError(f"n must be at least 1, got {n}")
    path = Path(path)
    if not path.parent.is_dir():
        raise OSError(f"output folder {path.parent} does not exist")
    source = SyntheticDepthSource(n, seed=seed, width=width, height=height, cache_size=0)
    with atomic_path(path) as tmp:
        with h5py.File(tmp, "w", userblock_size=USERBLOCK_SIZE, libver="earliest") as f:
            refs = f.create_group("#refs#")
            # MATLAB H×W×3×N etc., stored with reversed axes; one chunk per frame.
            images = f.create_dataset("images", (n, 3, width, height), np.uint8,
                                      chunks=(1, 3, width, height))
            depths = f.create_dataset("depths", (n, width, height), np.float32,
                                      chunks=(1, width, height))
            raw = f.create_dataset("rawDepths", (n, width, height), np.float32,
                                   chunks=(1, width, height))
            labels = f.create_dataset("labels", (n, width, height), np.uint16,
                                      chunks=(1, width, height), fillvalue=0)
            instances = f.create_dataset("instances", (n, width, height), np.uint8,
                                         chunks=(1, width, height), fillvalue=0)
            for ds, cls in ((images, "uint8"), (depths, "single"), (raw, "single"),
                            (labels, "uint16"), (instances, "uint8")):
                _matlab_class(ds, cls)
            for i in tqdm(range(n), desc="rendering", unit="frame", disable=not progress):
                images[i] = source.image(i).transpose(2, 1, 0)  # (H, W, 3) -> (3, W, H)
                depths[i] = source.depth(i).T  # (H, W) -> (W, H)
                raw[i] = source.raw_depth(i).T
            _write_cellstr(f, refs, "names", list(CLASS_NAMES))
            _write_cellstr(f, refs, "scenes", [f"synthetic_{seed}_{i:04d}" for i in range(n)])
            _write_cellstr(f, refs, "sceneTypes", ["synthetic"] * n)
        with open(tmp, "r+b") as fh:
            fh.write(mat73_header())
    return path


def main(argv: list[str] | None = None) -> None:
    """CLI entry point."""
    ap = argparse.ArgumentParser(
        prog="python -m depth_training.make_nyu_like",
        description="Write a NYUv2-labelled-layout HDF5 (.mat v7.3) file of synthetic scenes.")
    ap.add_argument("out", type=Path, help="output .mat file")
    ap.add_argument("--n", type=int, required=True, help="number of frames")
    ap.add_argument("--seed", type=int, default=0, help="synthetic source seed (default 0)")
    ap.add_argument("--width", type=int, default=NYU_WIDTH, help="frame width (default 640)")
    ap.add_argument("--height", type=int, default=NYU_HEIGHT,
                    help="frame height (default 480)")
    args = ap.parse_args(argv)
    if args.n < 1:
        raise SystemExit(f"error: --n must be at least 1, got {args.n}")
    if args.width < 8 or args.height < 8:
        raise SystemExit(f"error: frames must be at least 8×8, got {args.width}x{args.height}")
    try:
        out = write_nyu_layout_file(args.out, args.n, seed=args.seed, width=args.width,
                                    height=args.height, progress=True)
    except OSError as exc:
        raise SystemExit(f"error: cannot write {args.out}: {exc}") from None
    print(f"wrote {out} ({args.n} frames, {args.width}x{args.height}, "
          f"{out.stat().st_size / 1e6:.1f} MB)")


if __name__ == "__main__":
    main()
