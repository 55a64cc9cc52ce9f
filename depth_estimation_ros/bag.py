"""Run depth estimation over a rosbag2 offline: camera bag in, depth bag out (no ROS needed).

    python -m depth_estimation_ros.bag IN_BAG OUT_BAG [--storage mcap|sqlite3]
        [--image-topic /camera/image_raw] [--info-topic /camera/camera_info]
        [--checkpoint model.pt] [--device auto] [--params-file config/depth.yaml]
        [--no-points] [--copy-input] [--max-frames N]

Reads a rosbag2 (mcap or sqlite3, through ``rosbags``) with ``sensor_msgs/Image`` or
``CompressedImage`` camera images (the topic is found automatically when it is the only camera
topic) and, if present, the sibling ``camera_info``. Each image goes through a frame-processing
callable; the result is written to a new bag as ``/depth/image`` (32FC1 metres),
``/depth/camera_info`` and ``/depth/points`` with the input's header stamp and frame_id and
the input's log time. ``--copy-input`` also copies the camera topics, so one bag replays
both in RViz.
"""

import argparse
import logging
import sys
from typing import Any

import numpy as np

from depth_estimation_ros.core.camera import CameraIntrinsics
from depth_estimation_ros.node.bag import STORAGES, BagError, ProcessFn, convert_bag

__all__ = ["build_parser", "main"]

logger = logging.getLogger(__name__)


def _pipeline_process(args: argparse.Namespace) -> ProcessFn:
    """The real per-frame processing: estimator + FramePipeline from the node parameters."""
    from depth_estimation_ros.node.params import DepthNodeParams, load_params_file
    from depth_estimation_ros.node.pipeline import Frame, FramePipeline, build_estimator

    values: dict[str, Any] = {}
    for params_file in args.params_file or []:
        values.update(load_params_file(params_file))
    if args.checkpoint:
        values["checkpoint"] = args.checkpoint
    if args.device:
        values["device"] = args.device
    if args.no_points:
        values["publish_pointcloud"] = False
    params = DepthNodeParams.from_values(values)
    estimator = build_estimator(params)
    logger.info(f"estimator: {estimator.describe()}")
    pipeline = FramePipeline(estimator, params)

    def process(rgb: np.ndarray, stamp: tuple[int, int], frame_id: str,
                camera: CameraIntrinsics | None) -> Any:
        return pipeline.process(Frame(rgb=rgb, stamp=stamp, frame_id=frame_id,
                                      intrinsics=camera))

    return process


def build_parser() -> argparse.ArgumentParser:
    """The command-line interface."""
    p = argparse.ArgumentParser(prog="python -m depth_estimation_ros.bag",
                                description=__doc__.split("\n\n")[0])
    p.add_argument("input", help="input rosbag2 directory (mcap or sqlite3)")
    p.add_argument("output", help="output rosbag2 directory (must not exist)")
    p.add_argument("--storage", default="mcap", choices=STORAGES, help="output storage")
    p.add_argument("--image-topic", default=None,
                   help="camera Image/CompressedImage topic (default: the only one)")
    p.add_argument("--info-topic", default=None,
                   help="CameraInfo topic (default: sibling camera_info of the image topic)")
    p.add_argument("--checkpoint", default=None, help="model checkpoint (default: shipped)")
    p.add_argument("--device", default=None, help="auto, cpu, cuda or cuda:N")
    p.add_argument("--params-file", action="append", default=None,
                   help="ROS 2 parameters YAML for the depth node (repeatable)")
    p.add_argument("--no-points", action="store_true", help="do not write /depth/points")
    p.add_argument("--copy-input", action="store_true",
                   help="also copy the camera image and camera_info topics")
    p.add_argument("--max-frames", type=int, default=0, help="stop after N images (0: all)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    return p


def main(argv: list[str] | None = None) -> int:
    """Convert a bag; exit 0 on success, 1 when no frame was processed, 2 on bad input."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="[%(levelname)s] [%(name)s]: %(message)s")
    if args.max_frames < 0:
        print("error: --max-frames must be >= 0", file=sys.stderr)
        return 2
    from depth_estimation_ros.core.checkpoint import CheckpointError

    try:
        process = _pipeline_process(args)
    except (CheckpointError, ValueError, OSError) as exc:  # ValueError: ParameterError
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        report = convert_bag(args.input, args.output, process, storage=args.storage,
                             image_topic=args.image_topic, info_topic=args.info_topic,
                             with_points=not args.no_points, copy_input=args.copy_input,
                             max_frames=args.max_frames, progress=not args.no_progress)
    except BagError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"bag: interrupted; {args.output} not written (partial output removed)",
              file=sys.stderr)
        return 130
    print(f"bag: {report.processed} of {report.images} images from {report.image_topic} "
          f"-> {args.output} ({args.storage}): {report.processed} depth images, "
          f"{report.clouds} clouds, {report.skipped} skipped")
    return 0 if report.processed else 1


if __name__ == "__main__":
    sys.exit(main())
