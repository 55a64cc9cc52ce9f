"""Stage-by-stage timing of the depth frame pipeline, per model variant and device.

``python -m depth_estimation_ros.benchmark`` feeds 640×480 ``rgb8`` frames, as CDR bytes the
way they arrive from DDS, through every stage the node runs and reports p50/p99 per stage
and end to end, and throughput. At batch 1 the stages are the node's own path
(``DepthEstimator.fast_frame``, what ``estimate_with_cloud`` and ``FramePipeline`` run):

========================  ======================================================================
``deserialize``           CDR bytes → ``sensor_msgs/Image`` (DDS message class)
``decode``                ``Image`` → (H, W, 3) uint8 RGB (``msgconv.image_to_rgb``)
``preprocess``            upload, channel order, resize, crop, normalise (on the device)
``inference``             the network and ``exp``: (B, 1, 109, 147) metres (model only)
``postprocess``           upsample to the frame, NaN outside the valid range
``backproject``           depth → x, y, z written into the PointCloud2 records (zeroed first),
                          on the device
``pack``                  the packed colour written into the records (nothing without colour)
``download``              depth and cloud records to the host, one copy
``serialize``             depth ``Image``, ``CameraInfo``, ``PointCloud2`` → CDR bytes, as the
                          DDS publishers encode them (``PayloadEncoder``)
========================  ======================================================================

For comparison it also times the plain host alternative: ``host_backproject``
(``camera.backproject`` into an (H, W, 3) grid) and ``host_pack`` (``pointcloud.pack_cloud``).
With ``--batch`` > 1 the stages are the batch API's (``prepare_input``, ``predict_depth``,
``postprocess`` with the download, then host back-projection and packing).

Device stages are timed with CUDA events on a GPU (after warm-up), host stages with
``time.perf_counter``. End to end is timed separately, without the per-stage
synchronisation, four ways: ``end_to_end`` (the plain path: ``estimate_batch``, host
back-projection and packing, serialisation), ``fast_path`` (``estimate_with_cloud`` and
serialisation), ``ready`` (the fast path up to depth, camera info and cloud ready on the
host, before serialisation) and ``pipeline`` (the node's ``pipeline.FramePipeline.process``
with decode and serialisation, batch 1). It also times ``pointcloud.pack_cloud`` against a
per-point ``struct.pack`` loop over the same cloud, the DDS encoding of the cloud against
cyclonedds' stock ``serialize``, and with ``--ablation`` each optimisation against the plain
fp32 eager path in the same run.

The stand-in sensors are timed on the host on a rendered 640×480 room (exact depth, 5 % NaN
holes), cached geometry warm, each stage the core call plus its message (DDS classes):
``scan`` (``standin.depth_to_scan``, one ray per column), ``ranges`` (three sectors,
``standin.depth_to_ranges``), ``color`` (``visualize.DepthColorizer``, rgb8) and
``standins`` (all three in a row, what the node adds per frame with all of them
subscribed); ``--standins-only`` runs just these. The node's depth filters (edge,
temporal, scale stabiliser, all together, and the voxel cloud) are timed on a 640×480 depth
map the same way (``node.filter_cost``), one row each.

Untrained weights are fine for timing: each variant is built from ``ModelConfig.preset`` in
memory, unless ``--checkpoint`` (or, for ``compact``, the shipped checkpoint) is given.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from depth_estimation_ros.bench.ablation import ablate
from depth_estimation_ros.bench.dds_write import measure_dds_write
from depth_estimation_ros.bench.inputs import HEIGHT, WIDTH
from depth_estimation_ros.bench.machine import machine_info
from depth_estimation_ros.bench.measure import benchmark_config
from depth_estimation_ros.bench.packing import compare_encoding, compare_packing
from depth_estimation_ros.bench.report import markdown
from depth_estimation_ros.bench.standins import measure_standins
from depth_estimation_ros.core.estimator import resolve_device
from depth_estimation_ros.core.model import VARIANTS
from depth_estimation_ros.node.filter_cost import measure_filter_cost
from depth_estimation_ros.node.params import DepthNodeParams


def _csv(text: str) -> list[str]:
    return [t.strip() for t in text.split(",") if t.strip()]


def build_parser() -> argparse.ArgumentParser:
    default_devices = "cpu,cuda" if torch.cuda.is_available() else "cpu"
    p = argparse.ArgumentParser(prog="python -m depth_estimation_ros.benchmark",
                                description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--variants", default="compact,mobilenet_v2,eigen_vgg16",
                   help=f"comma-separated model variants from {', '.join(VARIANTS)}")
    p.add_argument("--devices", default=default_devices,
                   help="comma-separated devices: cpu, cuda, cuda:N")
    p.add_argument("--iterations", type=int, default=30, help="timed iterations per figure")
    p.add_argument("--warmup", type=int, default=5, help="untimed iterations before timing")
    p.add_argument("--batch", type=int, default=1, help="frames per network pass")
    p.add_argument("--threads", type=int, default=0,
                   help="torch CPU threads (0: torch's default, one per core)")
    p.add_argument("--checkpoint", default=None,
                   help="checkpoint to time for its variant (others: untrained weights; the "
                        "shipped compact checkpoint is used when present)")
    p.add_argument("--no-cuda-graphs", action="store_true",
                   help="run the network eagerly on CUDA (default: CUDA graphs)")
    p.add_argument("--compile", dest="compile_mode", default=None, metavar="MODE",
                   help="torch.compile mode for the network (e.g. max-autotune); implies no "
                        "CUDA graphs in the main figures, adds an ablation row")
    p.add_argument("--bf16", action="store_true",
                   help="run the network in bfloat16 (on CUDA instead of fp16); fast on CPUs "
                        "with AVX512-BF16/AMX")
    p.add_argument("--no-color", action="store_true",
                   help="xyz-only clouds (default: xyz + rgb, the node's default)")
    p.add_argument("--decimation", type=int, default=1, help="point-cloud decimation")
    p.add_argument("--ablation", action="store_true",
                   help="also time each CUDA optimisation against plain fp32 eager")
    p.add_argument("--ablation-only", action="store_true",
                   help="only the ablation (and the packing comparison)")
    p.add_argument("--no-packing", action="store_true",
                   help="skip the pack_cloud vs struct.pack and the DDS encoding comparisons")
    p.add_argument("--dds-write", action="store_true",
                   help="also time the DDS write of a cloud to a subscriber process (loopback)")
    p.add_argument("--standins-only", action="store_true",
                   help="time only the scan, range sectors and colour image (host)")
    p.add_argument("--json", default=None, metavar="OUT", help="write the full report here")
    p.add_argument("--markdown", default=None, metavar="OUT", help="write the tables here")
    p.add_argument("-v", "--verbose", action="store_true", help="log progress")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    variants, devices = _csv(args.variants), _csv(args.devices)
    bad = [v for v in variants if v not in VARIANTS]
    if bad or not variants:
        print(f"error: variants {bad or variants} not understood; expected from {VARIANTS}",
              file=sys.stderr)
        return 2
    if min(args.iterations, args.batch, args.decimation) < 1 or args.warmup < 0:
        print("error: --iterations, --batch and --decimation must be >= 1 and --warmup >= 0",
              file=sys.stderr)
        return 2
    try:
        resolved = [resolve_device(d) for d in devices]
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    params = DepthNodeParams(pointcloud_color=not args.no_color,
                             pointcloud_decimation=args.decimation)
    report: dict[str, Any] = {"machine": machine_info(), "settings": {
        "width": WIDTH, "height": HEIGHT, "encoding": "rgb8", "iterations": args.iterations,
        "warmup": args.warmup, "batch": args.batch, "variants": variants,
        "devices": [str(d) for d in resolved], "cloud_colour": params.pointcloud_color,
        "decimation": params.pointcloud_decimation, "min_range": params.min_range,
        "max_range": params.max_range, "argv": list(sys.argv[1:] if argv is None else argv)}}
    started = time.time()
    report["standins"] = measure_standins(max(args.iterations, 100), args.warmup, params)
    report["filters"] = measure_filter_cost(max(args.iterations, 100), args.warmup, params,
                                            threads=max(args.threads, 1) if args.threads > 0
                                            else 2)
    if not args.ablation_only and not args.standins_only:
        report["results"] = [
            benchmark_config(v, d, iterations=args.iterations, warmup=args.warmup,
                             batch=args.batch, checkpoint=args.checkpoint,
                             cuda_graphs=not args.no_cuda_graphs and args.compile_mode is None,
                             compile_mode=args.compile_mode, bfloat16=args.bf16,
                             params=params)
            for v in variants for d in resolved]
    if not args.no_packing and not args.standins_only:
        report["packing"] = compare_packing(colour=params.pointcloud_color)
        report["encoding"] = compare_encoding(colour=params.pointcloud_color)
    if args.dds_write:
        report["dds_write"] = measure_dds_write(max(args.iterations, 10),
                                                colour=params.pointcloud_color)
    if args.ablation or args.ablation_only:
        report["ablation"] = [row for v in variants for d in resolved
                              for row in ablate(v, d, iterations=args.iterations,
                                                warmup=args.warmup, checkpoint=args.checkpoint,
                                                compile_mode=args.compile_mode,
                                                params=params)]
    report["machine"]["load_average_after"] = (
        [round(v, 2) for v in os.getloadavg()] if hasattr(os, "getloadavg") else None)
    report["elapsed_s"] = round(time.time() - started, 1)
    table = markdown(report)
    print(table, end="")
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2, allow_nan=True) + "\n")
    if args.markdown:
        Path(args.markdown).write_text(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
