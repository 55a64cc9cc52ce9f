"""Write a synthetic RGB-D rosbag2 that looks like a RealSense recording, to try the
record → fine-tune → evaluate → deploy path with no camera.

The renderer's picture and exact depth along a continuous camera trajectory (consecutive
frames are near duplicates, as in a real recording) through ``--rooms`` rooms, one after the
other, as the RealSense ROS 2 wrapper's topics with ``align_depth`` on:

- ``/camera/color/image_raw``: ``sensor_msgs/Image`` rgb8;
- ``/camera/aligned_depth_to_color/image_raw``: ``sensor_msgs/Image`` 16UC1 millimetres
  (0 = invalid, as the driver writes) or 32FC1 metres;
- ``/camera/color/camera_info`` and ``/camera/aligned_depth_to_color/camera_info``: the
  colour camera (aligned depth shares its intrinsics).

The camera differs from the one the shipped model was trained with (the NYU Kinect, fx 518.9
at 640×480, about 1.45 m above the floor): by default fx = fy = 610 px at 640×480 (a
RealSense D435-like colour camera, scaled to ``--width``×``--height``), mounted 0.45 m lower
(a robot's camera). Depth stamps carry up to ±``--jitter-ms`` of seeded jitter against their
colour frame, as two sensor streams do. The bag is written to a temporary folder beside
``OUT`` and renamed when complete.

Usage::

    python -m depth_training.make_rgbd_bag OUT --frames 300 [--storage mcap|sqlite3]
        [--depth-encoding 16UC1|32FC1] [--width 640 --height 480] [--fx 610] [--rate 15]
        [--rooms 3] [--height-offset -0.45] [--seed 0]
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import os
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np
from tqdm import tqdm

from depth_estimation_ros.core.camera import CameraIntrinsics
from depth_estimation_ros.core.encodings import encode_depth_32fc1, encode_image
from depth_training.datasets.rosbag import (
    DEFAULT_DEPTH_TOPIC,
    DEFAULT_INFO_TOPIC,
    DEFAULT_RGB_TOPIC,
)

log = logging.getLogger(__name__)

STORAGES = ("mcap", "sqlite3")
DEPTH_ENCODINGS = ("16UC1", "32FC1")
DEFAULT_FX = 610.0  # px at 640×480: a RealSense D435-like colour camera (NYU Kinect: 518.9)
FRAME_ID = "camera_color_optical_frame"  # the RealSense wrapper's colour optical frame
MAX_16UC1_M = 65.535  # largest depth 16UC1 millimetres can hold


def depth_16uc1(depth: np.ndarray) -> np.ndarray:
    """(H, W) metres → (H, W) uint16 millimetres, 0 where invalid or out of range."""
    mm = np.zeros(depth.shape, dtype=np.uint16)
    with np.errstate(invalid="ignore"):
        ok = np.isfinite(depth) & (depth > 0) & (depth < MAX_16UC1_M)
    mm[ok] = np.round(depth[ok] * 1000.0).astype(np.uint16)
    return mm


def write_rgbd_bag(out: str | os.PathLike[str], frames: int, *, storage: str = "mcap",
                   depth_encoding: str = "16UC1", width: int = 640, height: int = 480,
                   fx: float = DEFAULT_FX, rate: float = 15.0, rooms: int = 3,
                   height_offset: float = -0.45, jitter_ms: float = 3.0, seed: int = 0,
                   progress: bool = False) -> Path:
    """Render ``frames`` RGB-D frames into a new rosbag2 at ``out`` (atomically).

    Args:
        out: the bag folder to create; must not exist.
        frames: number of colour/depth pairs (>= 1).
        storage: ``mcap`` or ``sqlite3``.
        depth_encoding: ``16UC1`` (millimetres) or ``32FC1`` (metres).
        width: image width, pixels.
        height: image height, pixels.
        fx: focal length (fx = fy) at 640×480 pixels, scaled to the image size.
        rate: frames per second (stamps and trajectory time).
        rooms: rooms visited in turn, each for an equal share of the frames.
        height_offset: camera height change against the renderer's trajectory, metres.
        jitter_ms: depth stamps differ from their colour frame by up to this, milliseconds.
        seed: scene and jitter seed.
        progress: show a tqdm bar.

    Returns:
        The bag folder.

    Raises:
        ValueError: a bad argument; FileExistsError: ``out`` exists; OSError: not writable.
    """
    from rosbags.rosbag2 import StoragePlugin, Writer
    from rosbags.typesys import Stores, get_typestore

    from depth_estimation_ros.sim import SyntheticScene

    if frames < 1 or rooms < 1:
        raise ValueError(f"--frames and --rooms must be at least 1, got {frames} and {rooms}")
    if storage not in STORAGES:
        raise ValueError(f"storage {storage!r} is not supported; expected mcap or sqlite3")
    if depth_encoding not in DEPTH_ENCODINGS:
        raise ValueError(f"depth encoding {depth_encoding!r} is not supported; expected 16UC1 "
                         "or 32FC1")
    if width < 16 or height < 16 or not fx > 0 or not rate > 0 or jitter_ms < 0:
        raise ValueError("need width, height >= 16 and positive fx and rate, jitter >= 0")
    out = Path(out)
    if out.exists() or out.is_symlink():
        raise FileExistsError(f"{out} exists already; choose a new bag folder")
    if not out.parent.is_dir():
        raise OSError(f"folder {out.parent} does not exist")
    sx, sy = width / 640.0, height / 480.0
    camera = CameraIntrinsics(fx=fx * sx, fy=fx * sy, cx=(width - 1) / 2.0,
                              cy=(height - 1) / 2.0, width=width, height=height)
    ts = get_typestore(Stores.ROS2_JAZZY)
    t = ts.types
    image_t, info_t = t["sensor_msgs/msg/Image"], t["sensor_msgs/msg/CameraInfo"]
    header_t, time_t = t["std_msgs/msg/Header"], t["builtin_interfaces/msg/Time"]
    roi = t["sensor_msgs/msg/RegionOfInterest"](x_offset=0, y_offset=0, height=0, width=0,
                                                do_rectify=False)
    f = camera.to_camera_info_fields()
    rng = np.random.default_rng([seed, 7])
    scenes = [SyntheticScene.random(int(np.random.SeedSequence([seed, r]).generate_state(1)[0]
                                        % 2**31)) for r in range(rooms)]
    per_room = -(-frames // rooms)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        bag_dir = tmp / out.name
        plugin = StoragePlugin.MCAP if storage == "mcap" else StoragePlugin.SQLITE3
        with Writer(bag_dir, version=9, storage_plugin=plugin) as writer:
            conn_rgb = writer.add_connection(DEFAULT_RGB_TOPIC, "sensor_msgs/msg/Image",
                                             typestore=ts)
            conn_depth = writer.add_connection(DEFAULT_DEPTH_TOPIC, "sensor_msgs/msg/Image",
                                               typestore=ts)
            conn_info = writer.add_connection(DEFAULT_INFO_TOPIC, "sensor_msgs/msg/CameraInfo",
                                              typestore=ts)
            conn_dinfo = writer.add_connection(
                DEFAULT_DEPTH_TOPIC.rsplit("/", 1)[0] + "/camera_info",
                "sensor_msgs/msg/CameraInfo", typestore=ts)
            t0 = 1_700_000_000 * 10**9  # a plausible wall-clock epoch, ns
            for i in tqdm(range(frames), desc="rendering", unit="frame", disable=not progress):
                scene = scenes[i // per_room]
                pose = scene.trajectory_pose((i % per_room) / rate)
                x, y, z = pose.position
                pose = dataclasses.replace(pose, position=(x, y, max(0.2, z + height_offset)))
                frame = scene.render(pose, intrinsics=camera)
                stamp = t0 + round(i * 1e9 / rate)
                dstamp = stamp + round(rng.uniform(-jitter_ms, jitter_ms) * 1e6)

                def header(ns: int) -> object:
                    return header_t(stamp=time_t(sec=ns // 10**9, nanosec=ns % 10**9),
                                    frame_id=FRAME_ID)

                data, step = encode_image(frame.rgb, "rgb8")
                writer.write(conn_rgb, stamp, ts.serialize_cdr(image_t(
                    header=header(stamp), height=height, width=width, encoding="rgb8",
                    is_bigendian=0, step=step, data=data.reshape(-1)), "sensor_msgs/msg/Image"))
                if depth_encoding == "16UC1":
                    mm = depth_16uc1(frame.depth)
                    ddata, dstep = mm.view(np.uint8).reshape(-1), 2 * width
                else:
                    ddata, dstep = encode_depth_32fc1(frame.depth)
                writer.write(conn_depth, dstamp, ts.serialize_cdr(image_t(
                    header=header(dstamp), height=height, width=width, encoding=depth_encoding,
                    is_bigendian=0, step=dstep, data=np.asarray(ddata).reshape(-1)),
                    "sensor_msgs/msg/Image"))
                for conn, ns in ((conn_info, stamp), (conn_dinfo, dstamp)):
                    writer.write(conn, ns, ts.serialize_cdr(info_t(
                        header=header(ns), height=height, width=width,
                        distortion_model=str(f["distortion_model"]),
                        d=np.zeros(5), k=np.asarray(f["k"], np.float64),
                        r=np.asarray(f["r"], np.float64), p=np.asarray(f["p"], np.float64),
                        binning_x=0, binning_y=0, roi=roi), "sensor_msgs/msg/CameraInfo"))
        os.rename(bag_dir, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out


def main(argv: list[str] | None = None) -> int:
    """CLI entry point: 0 on success, 2 on bad arguments or an unwritable output."""
    ap = argparse.ArgumentParser(prog="python -m depth_training.make_rgbd_bag",
                                 description=__doc__.split("\n\n")[0])
    ap.add_argument("out", type=Path, help="bag folder to create (must not exist)")
    ap.add_argument("--frames", type=int, default=300, help="colour/depth pairs (default 300)")
    ap.add_argument("--storage", choices=STORAGES, default="mcap", help="rosbag2 storage")
    ap.add_argument("--depth-encoding", choices=DEPTH_ENCODINGS, default="16UC1",
                    help="16UC1 millimetres (RealSense) or 32FC1 metres")
    ap.add_argument("--width", type=int, default=640, help="image width (default 640)")
    ap.add_argument("--height", type=int, default=480, help="image height (default 480)")
    ap.add_argument("--fx", type=float, default=DEFAULT_FX,
                    help=f"focal length at 640x480, pixels (default {DEFAULT_FX:g})")
    ap.add_argument("--rate", type=float, default=15.0, help="frames per second (default 15)")
    ap.add_argument("--rooms", type=int, default=3, help="rooms visited in turn (default 3)")
    ap.add_argument("--height-offset", type=float, default=-0.45,
                    help="camera height against the renderer's path, metres (default -0.45)")
    ap.add_argument("--jitter-ms", type=float, default=3.0,
                    help="depth stamp jitter against colour, ms (default 3)")
    ap.add_argument("--seed", type=int, default=0, help="scene and jitter seed")
    ap.add_argument("--no-progress", action="store_true", help="no progress bar")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        out = write_rgbd_bag(args.out, args.frames, storage=args.storage,
                             depth_encoding=args.depth_encoding, width=args.width,
                             height=args.height, fx=args.fx, rate=args.rate, rooms=args.rooms,
                             height_offset=args.height_offset, jitter_ms=args.jitter_ms,
                             seed=args.seed, progress=not args.no_progress)
    except (ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    size = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    print(f"wrote {out} ({args.frames} frames, {args.width}x{args.height}, {args.storage}, "
          f"depth {args.depth_encoding}, {size / 1e6:.1f} MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
