"""The depth node's endpoints on Cyclone DDS: a ``DepthProcessor`` wired to a ``DdsNode``.

:class:`StandaloneDepthNode` creates the publishers, subscriptions and timers the rclpy node
has, under the same topic names, QoS and message types, so ROS 2 peers see a ROS 2 node;
``python -m depth_estimation_ros.standalone`` parses the arguments and runs it.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING

from depth_estimation_ros.dds import messages as m
from depth_estimation_ros.dds.qos import DEFAULT, TRANSIENT_LOCAL, QosProfile
from depth_estimation_ros.dds.runtime import DdsNode, Publisher
from depth_estimation_ros.dds.types import dds_message_types
from depth_estimation_ros.node import params as cfg
from depth_estimation_ros.node.params import DepthNodeParams, ParameterError
from depth_estimation_ros.node.pipeline import DepthProcessor, Outputs, ready_line

if TYPE_CHECKING:
    from depth_estimation_ros.core.estimator import DepthEstimator

__all__ = ["StandaloneDepthNode"]


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
        types = dds_message_types()
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
        logger.info(f"Ready on DDS domain {node.domain_id}: "
                    f"{ready_line(image_sub.topic_name, outputs)} ({estimator.describe()})")

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
