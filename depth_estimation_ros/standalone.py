"""The depth node on Cyclone DDS, without a ROS 2 install (DDS-native runtime).

Same pipeline, parameters, topics and message types as the rclpy node; ROS 2 peers (RViz,
``ros2 topic echo``, rosbag2) on the same domain see it as a ROS 2 node's endpoints::

    python -m depth_estimation_ros.standalone [--params-file config/depth.yaml] \\
        [-p name:=value ...] [-r image:=/my_camera/image_raw] [--ros-args ...]

``ROS_DOMAIN_ID`` and ``CYCLONEDDS_URI`` are honoured as by rmw_cyclonedds; without
``CYCLONEDDS_URI`` the shipped loopback configuration is used. Send SIGHUP to re-read the
parameters files and apply changed live parameters (read-only ones are rejected with a reason,
as ``ros2 param set`` is on the rclpy node). Exit status: 0 after SIGINT/SIGTERM, 1 when the
model cannot be loaded, 2 for bad arguments or parameters.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

from depth_estimation_ros.dds import messages as m
from depth_estimation_ros.dds.qos import DEFAULT, TRANSIENT_LOCAL, QosProfile
from depth_estimation_ros.dds.runtime import (
    DdsNode,
    Publisher,
    TopicNameError,
    ensure_cyclonedds_uri,
)
from depth_estimation_ros.node import params as cfg
from depth_estimation_ros.node.msgconv import MessageTypes
from depth_estimation_ros.node.params import DepthNodeParams, ParameterError
from depth_estimation_ros.node.pipeline import DepthProcessor, Outputs, build_estimator

if TYPE_CHECKING:
    from depth_estimation_ros.core.estimator import DepthEstimator

_LOG_FORMAT = "[%(levelname)s] [%(created).3f] [%(name)s]: %(message)s"
_LOG_LEVELS = {"debug": "DEBUG", "info": "INFO", "warn": "WARNING", "warning": "WARNING",
               "error": "ERROR", "fatal": "CRITICAL"}
_TOLERATED_ROS_FLAGS = ("--enclave", "-e")  # ROS options that take a value we ignore


@dataclass(frozen=True)
class Options:
    """Command-line options, ROS 2 style.

    Attributes:
        params_files: ROS 2 parameters YAML files, applied in order.
        overrides: ``name:=value`` parameter overrides, applied after the files.
        remaps: Topic remappings ``{from: to}``.
        node_name: Node name (``-r __node:=...``).
        namespace: Node namespace (``-r __ns:=...``).
        log_level: Python logging level name.
    """

    params_files: tuple[Path, ...]
    overrides: tuple[str, ...]
    remaps: Mapping[str, str]
    node_name: str
    namespace: str
    log_level: str


def parse_args(argv: Sequence[str] | None = None) -> Options:
    """Parse ROS 2 style arguments; ``--ros-args`` and ``--`` are accepted and ignored.

    Raises:
        SystemExit: on ``--help`` or malformed arguments (status 2).
    """
    parser = argparse.ArgumentParser(
        prog="python -m depth_estimation_ros.standalone",
        description="Monocular depth node on Cyclone DDS (ROS 2 wire compatible, no ROS "
                    "install needed).",
    )
    parser.add_argument("--params-file", action="append", default=[], type=Path,
                        help="ROS 2 parameters YAML (e.g. config/depth.yaml); repeatable")
    parser.add_argument("-p", "--param", action="append", default=[], metavar="NAME:=VALUE",
                        help="set a parameter; repeatable")
    parser.add_argument("-r", "--remap", action="append", default=[], metavar="FROM:=TO",
                        help="remap a topic (image, camera_info, depth/image, ...), or "
                             "__ns / __node; repeatable")
    parser.add_argument("--log-level", default="info",
                        help="debug, info, warn, error (or name:=level)")
    parser.add_argument("--ros-args", action="store_true", help=argparse.SUPPRESS)
    for flag in _TOLERATED_ROS_FLAGS:
        parser.add_argument(flag, help=argparse.SUPPRESS)
    tokens = [t for t in (sys.argv[1:] if argv is None else argv) if t != "--"]
    args, unknown = parser.parse_known_args(tokens)
    if unknown:
        parser.error(f"unrecognised arguments: {' '.join(unknown)}")
    remaps: dict[str, str] = {}
    node_name, namespace = cfg.NODE_NAME, ""
    for rule in args.remap:
        source, sep, target = rule.partition(":=")
        if not sep or not source or not target:
            parser.error(f"remapping {rule!r} must look like from:=to")
        source = source.removeprefix(f"{cfg.NODE_NAME}:")  # node-targeted rule
        if source == "__ns":
            namespace = target
        elif source in ("__node", "__name"):
            node_name = target
        else:
            remaps[source] = target
    level = _LOG_LEVELS.get(args.log_level.rpartition(":=")[2].lower())
    if level is None:
        parser.error(f"log level {args.log_level!r} must be debug, info, warn, error or fatal")
    return Options(tuple(args.params_file), tuple(args.param), remaps, node_name, namespace,
                   level)


def read_parameters(options: Options, log: logging.Logger) -> DepthNodeParams:
    """Parameters from the files then the overrides; unknown names in files are ignored
    with a warning (as rclpy ignores undeclared ones), unknown overrides are an error.

    Raises:
        ParameterError: bad file, override or value.
    """
    values: dict[str, Any] = {}
    for path in options.params_files:
        values.update(cfg.load_params_file(path, options.node_name, options.namespace))
    for name in sorted(set(values) - set(cfg.SPECS)):
        log.warning(f"Ignoring parameter '{name}' from the parameters file: not a parameter "
                    f"of this node.")
        values.pop(name)
    for text in options.overrides:
        name, value = cfg.parse_override(text)
        values[name] = value
    return DepthNodeParams.from_values(values)


def _qos(reliability: str, durability: str, depth: int) -> QosProfile:
    return QosProfile(reliability=reliability, durability=durability, depth=depth)


class StandaloneDepthNode:
    """The node's endpoints on a `DdsNode`, around a `DepthProcessor`.

    Args:
        estimator: The loaded model.
        params: Validated parameters.
        logger: Where the node logs.
        node_name: Node name.
        namespace: Node namespace; relative topic names resolve against it.
        remaps: Topic remappings ``{from: to}``.
    """

    def __init__(
        self,
        estimator: DepthEstimator,
        params: DepthNodeParams,
        logger: logging.Logger,
        node_name: str = cfg.NODE_NAME,
        namespace: str = "",
        remaps: Mapping[str, str] | None = None,
    ) -> None:
        remaps = dict(remaps or {})
        self.node = DdsNode(node_name, namespace)
        node = self.node
        out_qos = _qos(params.output_qos_reliability, params.output_qos_durability,
                       params.output_qos_depth)
        types = MessageTypes.dds()
        self._remaps = remaps
        self._out_qos = out_qos
        self._range_type = types.Range
        self._range_pubs: list[Publisher] = []

        def publisher(msg_type: type, topic: str, qos: QosProfile = out_qos) -> Publisher:
            return node.create_publisher(msg_type, remaps.get(topic, topic), qos)

        outputs = Outputs(
            depth=publisher(m.Image, cfg.DEPTH_IMAGE_TOPIC),
            camera_info=publisher(m.CameraInfo, cfg.DEPTH_CAMERA_INFO_TOPIC),
            points=publisher(m.PointCloud2, cfg.DEPTH_POINTS_TOPIC),
            points_voxel=publisher(m.PointCloud2, cfg.DEPTH_POINTS_VOXEL_TOPIC),
            scan=publisher(m.LaserScan, cfg.DEPTH_SCAN_TOPIC),
            color=publisher(m.Image, cfg.DEPTH_COLOR_TOPIC),
            tf_static=publisher(m.TFMessage, cfg.TF_STATIC_TOPIC, TRANSIENT_LOCAL),
            ranges=self._range_publishers,
        )
        self.outputs = outputs
        self.processor = DepthProcessor(
            estimator, params, types, outputs, logger, node_name)
        in_qos = _qos(params.input_qos_reliability, params.input_qos_durability,
                      params.input_qos_depth)
        image_topic, info_topic = cfg.input_topics(
            remaps.get(cfg.IMAGE_INPUT), remaps.get(cfg.CAMERA_INFO_INPUT),
            params.image_transport)
        undecodable = self.processor.on_undecodable
        if params.image_transport == "compressed":
            image_sub = node.create_subscription(
                m.CompressedImage, image_topic, self.processor.on_compressed_image, in_qos,
                lambda exc: undecodable("compressed image", exc))
        else:
            image_sub = node.create_subscription(
                m.Image, image_topic, self.processor.on_image, in_qos,
                lambda exc: undecodable("image", exc))
        if params.use_camera_info:
            node.create_subscription(
                m.CameraInfo, info_topic, self.processor.on_camera_info, in_qos,
                lambda exc: undecodable("camera_info", exc))
        self._diagnostics = node.create_publisher(m.DiagnosticArray, cfg.DIAGNOSTICS_TOPIC,
                                                  DEFAULT)
        node.create_timer(params.diagnostics_period, self.publish_diagnostics)
        if params.log_period > 0.0:
            node.create_timer(params.log_period, self.processor.log_status)
        self._log = logger
        logger.info(
            f"Ready on DDS domain {node.domain_id}: {image_sub.topic_name} -> "
            f"{outputs.depth.topic_name}, {outputs.camera_info.topic_name}, "
            f"{outputs.points.topic_name}, {outputs.points_voxel.topic_name}, "
            f"{outputs.scan.topic_name}, "
            f"{outputs.color.topic_name}, range sectors ({estimator.describe()})")

    def _range_publishers(self, sectors: int) -> list[Publisher]:
        """The `pipeline.RangePublisherFactory`: replace the Range publishers."""
        for pub in self._range_pubs:
            pub.destroy()
        self._range_pubs = [
            self.node.create_publisher(self._range_type, self._remaps.get(topic, topic),
                                       self._out_qos)
            for topic in (cfg.range_topics(sectors) if sectors else [])]
        return self._range_pubs

    def publish_diagnostics(self) -> None:
        """Publish one DiagnosticArray on /diagnostics."""
        self._diagnostics.publish(self.processor.diagnostics())

    def apply(self, params: DepthNodeParams) -> bool:
        """Apply re-read parameters: the changed ones go through the live-update validation.

        Returns:
            True if applied, False if rejected (the reason is logged).
        """
        current = self.processor.params.as_dict()
        changes = {k: v for k, v in params.as_dict().items() if current[k] != v}
        if not changes:
            self._log.info("Parameters re-read: nothing changed.")
            return True
        try:
            self.processor.set_parameters(changes)
        except ParameterError as exc:
            self._log.warning(f"Parameter change rejected: {exc}")
            return False
        return True

    def close(self) -> None:
        """Stop the worker, then the DDS entities."""
        self.processor.close()
        self.node.destroy()


def main(argv: Sequence[str] | None = None) -> int:
    """Run until SIGINT/SIGTERM; see the module docstring for arguments and exit status."""
    options = parse_args(argv)
    logging.basicConfig(level=options.log_level, format=_LOG_FORMAT, stream=sys.stderr)
    log = logging.getLogger(options.node_name)
    try:
        params = read_parameters(options, log)
    except ParameterError as exc:
        log.error(str(exc))
        return 2
    # torch is imported only now, so --help and parameter errors answer at once.
    from depth_estimation_ros.core.checkpoint import CheckpointError

    try:
        estimator = build_estimator(params)
    except KeyboardInterrupt:  # Ctrl-C while the model loads
        return 0
    except CheckpointError as exc:
        log.error(f"Cannot load the depth model: {exc}.")
        return 1
    except ValueError as exc:  # unusable device, or a precision it lacks
        log.error(f"Cannot use device {params.device!r} with precision {params.precision!r}: "
                  f"{exc}.")
        return 1

    ensure_cyclonedds_uri()
    try:
        runtime = StandaloneDepthNode(estimator, params, log, options.node_name,
                                      options.namespace, options.remaps)
    except (TopicNameError, ValueError) as exc:
        log.error(f"Cannot create the node: {exc}.")
        return 2

    stop = threading.Event()
    reload = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        (reload if signum == signal.SIGHUP else stop).set()

    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, on_signal)
    try:
        while not stop.wait(0.2):
            if reload.is_set():
                reload.clear()
                try:
                    runtime.apply(read_parameters(options, log))
                except ParameterError as exc:
                    log.warning(f"Parameter change rejected: {exc}")
    finally:
        runtime.close()
    log.info("Shut down.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
