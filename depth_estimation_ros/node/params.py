"""Node parameters: declared once, validated, read into one frozen dataclass.

Both transport shells use this module: the rclpy node turns each `ParamSpec` into a
`ParameterDescriptor` (with its range and `read_only` flag), and the DDS-native runtime reads
the same names from a ROS 2 parameters YAML file and ``-p name:=value`` overrides. Live
changes go through `DepthNodeParams.with_changes`, which rejects read-only parameters with a
reason, in both shells. No ROS imports here.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from depth_estimation_ros.core.filters import FilterConfig

_FILTERS = FilterConfig()  # the depth filters' defaults, declared once in core

NODE_NAME = "depth_estimation_node"

# Topic names as the node creates them. Inputs are remappable relative names; when not
# remapped they fall back to the defaults below (relative, so a namespace applies).
IMAGE_INPUT = "image"
CAMERA_INFO_INPUT = "camera_info"
DEFAULT_IMAGE_TOPIC = "camera/image_raw"
DEPTH_IMAGE_TOPIC = "depth/image"
DEPTH_CAMERA_INFO_TOPIC = "depth/camera_info"
DEPTH_POINTS_TOPIC = "depth/points"
DEPTH_POINTS_VOXEL_TOPIC = "depth/points_voxel"  # unorganised, one point per occupied voxel
DEPTH_SCAN_TOPIC = "depth/scan"
# one sector; several: depth/range_<i> (ROS 2 name tokens must not start with a digit, so
# not depth/range/<i>)
DEPTH_RANGE_TOPIC = "depth/range"
DEPTH_COLOR_TOPIC = "depth/image_color"
TF_STATIC_TOPIC = "/tf_static"
DIAGNOSTICS_TOPIC = "/diagnostics"

ParamValue = bool | int | float | str


class ParameterError(ValueError):
    """A parameter value, file or override that the node cannot accept."""


@dataclass(frozen=True)
class ParamSpec:
    """Declaration of one node parameter.

    Attributes:
        name: Parameter name.
        type: Python type of the value: bool, int, float or str.
        default: Default value (also in ``config/depth.yaml``).
        description: One line shown by ``ros2 param describe``.
        min_value: Inclusive lower bound for numbers, or None.
        max_value: Inclusive upper bound for numbers, or None.
        choices: Allowed strings, or empty for any string.
        read_only: True when the value cannot change after start-up.
    """

    name: str
    type: type
    default: ParamValue
    description: str
    min_value: float | int | None = None
    max_value: float | int | None = None
    choices: tuple[str, ...] = ()
    read_only: bool = False

    @property
    def constraints(self) -> str:
        """Plain-English constraints, for error messages and descriptors."""
        if self.choices:
            return "one of " + ", ".join(repr(c) for c in self.choices)
        if self.min_value is not None and self.max_value is not None:
            kind = "an integer" if self.type is int else "a number"
            return f"{kind} in [{self.min_value}, {self.max_value}]"
        return {bool: "true or false", int: "an integer", float: "a number"}.get(
            self.type, "a string"
        )


_RELIABILITY = ("best_effort", "reliable")
_RADIATION = ("ultrasound", "infrared")
_COLOR_MAPS = ("turbo", "viridis")  # visualize.BUILTIN_CMAPS
_DURABILITY = ("volatile", "transient_local")

PARAMETERS: tuple[ParamSpec, ...] = (
    ParamSpec("checkpoint", str, "",
              "Model checkpoint (.pt) path; empty uses the packaged default weights.",
              read_only=True),
    ParamSpec("device", str, "auto",
              "Inference device: auto, cpu, cuda or cuda:N.", read_only=True),
    ParamSpec("precision", str, "auto",
              "Network arithmetic: auto (fp16 on CUDA, fp32 on the CPU), fp32, fp16 (CUDA "
              "only) or bf16 (fast on CPUs with AVX512-BF16/AMX and on GPUs).",
              choices=("auto", "fp32", "fp16", "bf16"), read_only=True),
    ParamSpec("cuda_graphs", bool, False,
              "Capture the fixed-shape network in a CUDA graph (CUDA only; cuts launch "
              "overhead at batch 1).", read_only=True),
    ParamSpec("num_threads", int, 0,
              "CPU threads for torch; 0 keeps torch's default (one per core). Leave cores "
              "free for other nodes on a shared robot CPU.", min_value=0, max_value=256,
              read_only=True),
    ParamSpec("image_transport", str, "raw",
              "Input transport: raw (sensor_msgs/Image on the image topic) or compressed "
              "(sensor_msgs/CompressedImage on <image>/compressed).",
              choices=("raw", "compressed"), read_only=True),
    ParamSpec("use_camera_info", bool, True,
              "Take intrinsics from the camera_info topic beside the image topic.",
              read_only=True),
    ParamSpec("fx", float, 0.0,
              "Fallback focal length x in pixels at the input resolution, used without "
              "camera_info; 0 takes fy (square pixels), and fx = fy = 0 the NYU Kinect "
              "intrinsics scaled to the input size.", min_value=0.0, max_value=1e5),
    ParamSpec("fy", float, 0.0,
              "Fallback focal length y in pixels at the input resolution; 0 takes fx "
              "(square pixels).", min_value=0.0, max_value=1e5),
    ParamSpec("cx", float, 0.0,
              "Fallback principal point x in pixels; 0 uses the image centre.",
              min_value=0.0, max_value=1e5),
    ParamSpec("cy", float, 0.0,
              "Fallback principal point y in pixels; 0 uses the image centre.",
              min_value=0.0, max_value=1e5),
    ParamSpec("output_resolution", str, "input",
              "Depth image size: input (same as the camera image, NaN outside the part the "
              "network sees) or native (the network output, 147x109).",
              choices=("input", "native")),
    ParamSpec("publish_pointcloud", bool, True,
              "Publish depth/points (sensor_msgs/PointCloud2, organised)."),
    ParamSpec("pointcloud_color", bool, True,
              "Add the rgb field (depth_image_proc layout) to the point cloud."),
    ParamSpec("pointcloud_decimation", int, 1,
              "Keep every N-th row and column of the depth image in the point cloud.",
              min_value=1, max_value=16),
    ParamSpec("min_range", float, 0.1,
              "Points nearer than this (metres, along z) are NaN in the cloud.",
              min_value=0.0, max_value=1000.0),
    ParamSpec("max_range", float, 10.0,
              "Points farther than this (metres, along z) are NaN in the cloud.",
              min_value=0.0, max_value=1000.0),
    ParamSpec("cloud_voxel_size", float, 0.0,
              "Publish depth/points_voxel: an unorganised cloud with one point per occupied "
              "voxel of this edge (metres), for Nav2's voxel layer; 0 disables it.",
              min_value=0.0, max_value=10.0),
    # filters (core/filters.py), applied before every output
    ParamSpec("edge_filter", bool, _FILTERS.edge_filter,
              "Remove flying pixels: depth on discontinuities and surfaces seen at more than "
              "edge_max_angle from the viewing ray become NaN."),
    ParamSpec("edge_max_angle", float, _FILTERS.edge_max_angle,
              "Largest angle (degrees) between the viewing ray and the surface normal that "
              "the edge filter keeps.", min_value=45.0, max_value=89.9),
    ParamSpec("edge_dilate", int, _FILTERS.edge_dilate,
              "Pixels the edge filter's removed band is widened by.", min_value=0,
              max_value=10),
    ParamSpec("temporal_filter", bool, _FILTERS.temporal_filter,
              "Exponential smoothing over frames (librealsense's temporal filter): off by "
              "default, it delays depth changes below temporal_delta."),
    ParamSpec("temporal_alpha", float, _FILTERS.temporal_alpha,
              "Temporal filter: weight of the new frame (1 = no smoothing).",
              min_value=0.05, max_value=1.0),
    ParamSpec("temporal_delta", float, _FILTERS.temporal_delta,
              "Temporal filter: largest relative depth change that is smoothed; larger "
              "changes (motion) are taken at once.", min_value=0.001, max_value=1.0),
    ParamSpec("temporal_reset_gap", float, _FILTERS.temporal_reset_gap,
              "Seconds between input stamps after which the temporal filter and the scale "
              "stabiliser start over.", min_value=0.01, max_value=60.0),
    ParamSpec("scale_stabilizer", bool, _FILTERS.scale_stabilizer,
              "Damp frame-to-frame jumps of the depth map's overall scale: off by default, "
              "it changes the metric depth consumers read."),
    ParamSpec("scale_alpha", float, _FILTERS.scale_alpha,
              "Scale stabiliser: share of a scale change passed at once (1 = no damping).",
              min_value=0.01, max_value=1.0),
    ParamSpec("publish_scan", bool, False,
              "Publish depth/scan (sensor_msgs/LaserScan, as depthimage_to_laserscan makes "
              "it) from a band of rows of the depth image."),
    ParamSpec("scan_height", int, 1,
              "Rows in the scan's band; per column the nearest return in the band counts.",
              min_value=1, max_value=4096),
    ParamSpec("scan_offset", float, 0.5,
              "Centre of the scan's band as a fraction of the image height (0 top row, 1 "
              "bottom row).", min_value=0.0, max_value=1.0),
    ParamSpec("scan_decimation", int, 1,
              "Keep every N-th ray of the scan (one ray per image column at 1).",
              min_value=1, max_value=64),
    ParamSpec("scan_range_min", float, 0.45,
              "Scan range_min (metres, in the scan plane); nearer returns read -inf.",
              min_value=0.0, max_value=1000.0),
    ParamSpec("scan_range_max", float, 10.0,
              "Scan range_max (metres); farther returns read +inf.",
              min_value=0.0, max_value=1000.0),
    ParamSpec("scan_frame", str, "",
              "Frame to stamp the scan with (x forward, z up), when the robot description "
              "has one; empty publishes <optical frame>_scan on /tf_static and uses it."),
    ParamSpec("publish_range", bool, False,
              "Publish depth/range (sensor_msgs/Range; depth/range_<i> for several sectors): "
              "an ultrasonic or infrared stand-in."),
    ParamSpec("range_sectors", int, 1,
              "Adjacent range cones across the view, centred on the optical axis; sector 0 "
              "is the rightmost.", min_value=1, max_value=16),
    ParamSpec("range_field_of_view", float, 0.5,
              "Full opening angle of each range cone (radians).",
              min_value=0.01, max_value=3.0),
    ParamSpec("range_radiation_type", str, "ultrasound",
              "Range radiation_type: ultrasound or infrared.", choices=_RADIATION),
    ParamSpec("range_min", float, 0.2,
              "Range min_range (metres); nearer readings are -inf.",
              min_value=0.0, max_value=1000.0),
    ParamSpec("range_max", float, 5.0,
              "Range max_range (metres); farther readings are +inf.",
              min_value=0.0, max_value=1000.0),
    ParamSpec("range_percentile", float, 5.0,
              "Percentile of the cone's distances reported as its range (a low one, not the "
              "minimum: one bad pixel must not stop a robot).", min_value=0.0,
              max_value=100.0),
    ParamSpec("publish_color", bool, True,
              "Publish depth/image_color (rgb8 colourised depth; computed only while "
              "someone subscribes)."),
    ParamSpec("color_min", float, 0.5,
              "Depth (metres) at the near end of the colour map.",
              min_value=0.0, max_value=1000.0),
    ParamSpec("color_max", float, 10.0,
              "Depth (metres) at the far end of the colour map.",
              min_value=0.0, max_value=1000.0),
    ParamSpec("color_map", str, "turbo",
              "Colour map of depth/image_color: turbo or viridis.", choices=_COLOR_MAPS),
    ParamSpec("publish_mount", bool, False,
              "Publish the camera's mount on /tf_static: mount_parent_frame -> the image's "
              "frame_id from mount_x .. mount_yaw (off when a robot description has it)."),
    ParamSpec("mount_parent_frame", str, "base_link",
              "Parent frame of the camera's mount (the robot's base)."),
    ParamSpec("mount_x", float, 0.0, "Camera position in the parent frame, x (metres).",
              min_value=-100.0, max_value=100.0),
    ParamSpec("mount_y", float, 0.0, "Camera position in the parent frame, y (metres).",
              min_value=-100.0, max_value=100.0),
    ParamSpec("mount_z", float, 0.0, "Camera position in the parent frame, z (metres).",
              min_value=-100.0, max_value=100.0),
    ParamSpec("mount_roll", float, 0.0,
              "Camera body roll about the parent's x (radians, REP 103; the optical frame's "
              "own rotation is added by the node).", min_value=-6.3, max_value=6.3),
    ParamSpec("mount_pitch", float, 0.0,
              "Camera body pitch about y (radians; positive looks down).",
              min_value=-6.3, max_value=6.3),
    ParamSpec("mount_yaw", float, 0.0, "Camera body yaw about z (radians; positive looks "
              "left).", min_value=-6.3, max_value=6.3),
    ParamSpec("max_input_pixels", int, 4096 * 4096,
              "Input frames with more pixels than this are rejected.",
              min_value=1, max_value=1 << 28),
    ParamSpec("input_qos_reliability", str, "best_effort",
              "Input QoS reliability (sensor data: best_effort).",
              choices=_RELIABILITY, read_only=True),
    ParamSpec("input_qos_durability", str, "volatile",
              "Input QoS durability.", choices=_DURABILITY, read_only=True),
    ParamSpec("input_qos_depth", int, 5,
              "Input QoS history depth (keep last N).", min_value=1, max_value=1000,
              read_only=True),
    ParamSpec("output_qos_reliability", str, "reliable",
              "Output QoS reliability; reliable also serves best_effort readers.",
              choices=_RELIABILITY, read_only=True),
    ParamSpec("output_qos_durability", str, "volatile",
              "Output QoS durability; transient_local for readers that ask for it.",
              choices=_DURABILITY, read_only=True),
    ParamSpec("output_qos_depth", int, 2,
              "Output QoS history depth (keep last N).", min_value=1, max_value=1000,
              read_only=True),
    ParamSpec("diagnostics_period", float, 1.0,
              "Seconds between /diagnostics messages.", min_value=0.1, max_value=60.0,
              read_only=True),
    ParamSpec("log_period", float, 10.0,
              "Seconds between status log lines; 0 disables them.", min_value=0.0,
              max_value=3600.0, read_only=True),
)

SPECS: dict[str, ParamSpec] = {spec.name: spec for spec in PARAMETERS}
LIVE_PARAMETERS: frozenset[str] = frozenset(s.name for s in PARAMETERS if not s.read_only)

_DEVICE_PATTERN = re.compile(r"auto|cpu|cuda(:\d+)?")
_FRAME_PATTERN = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_/.-]*")


@dataclass(frozen=True)
class DepthNodeParams:
    """All node parameters, validated. Field docs are in `PARAMETERS`."""

    checkpoint: str = ""
    device: str = "auto"
    precision: str = "auto"
    cuda_graphs: bool = False
    num_threads: int = 0
    image_transport: str = "raw"
    use_camera_info: bool = True
    fx: float = 0.0
    fy: float = 0.0
    cx: float = 0.0
    cy: float = 0.0
    output_resolution: str = "input"
    publish_pointcloud: bool = True
    pointcloud_color: bool = True
    pointcloud_decimation: int = 1
    min_range: float = 0.1
    max_range: float = 10.0
    cloud_voxel_size: float = 0.0
    # the depth filters: defaults are core.filters.FilterConfig's (one place)
    edge_filter: bool = _FILTERS.edge_filter
    edge_max_angle: float = _FILTERS.edge_max_angle
    edge_dilate: int = _FILTERS.edge_dilate
    temporal_filter: bool = _FILTERS.temporal_filter
    temporal_alpha: float = _FILTERS.temporal_alpha
    temporal_delta: float = _FILTERS.temporal_delta
    temporal_reset_gap: float = _FILTERS.temporal_reset_gap
    scale_stabilizer: bool = _FILTERS.scale_stabilizer
    scale_alpha: float = _FILTERS.scale_alpha
    publish_scan: bool = False
    scan_height: int = 1
    scan_offset: float = 0.5
    scan_decimation: int = 1
    scan_range_min: float = 0.45
    scan_range_max: float = 10.0
    scan_frame: str = ""
    publish_range: bool = False
    range_sectors: int = 1
    range_field_of_view: float = 0.5
    range_radiation_type: str = "ultrasound"
    range_min: float = 0.2
    range_max: float = 5.0
    range_percentile: float = 5.0
    publish_color: bool = True
    color_min: float = 0.5
    color_max: float = 10.0
    color_map: str = "turbo"
    publish_mount: bool = False
    mount_parent_frame: str = "base_link"
    mount_x: float = 0.0
    mount_y: float = 0.0
    mount_z: float = 0.0
    mount_roll: float = 0.0
    mount_pitch: float = 0.0
    mount_yaw: float = 0.0
    max_input_pixels: int = 4096 * 4096
    input_qos_reliability: str = "best_effort"
    input_qos_durability: str = "volatile"
    input_qos_depth: int = 5
    output_qos_reliability: str = "reliable"
    output_qos_durability: str = "volatile"
    output_qos_depth: int = 2
    diagnostics_period: float = 1.0
    log_period: float = 10.0

    def __post_init__(self) -> None:
        for spec in PARAMETERS:
            # Coerce int -> float where allowed; frozen, so go through object.__setattr__.
            object.__setattr__(self, spec.name, validate_value(spec, getattr(self, spec.name)))
        for low, high in (("min_range", "max_range"), ("scan_range_min", "scan_range_max"),
                          ("range_min", "range_max"), ("color_min", "color_max")):
            if getattr(self, low) >= getattr(self, high):
                raise ParameterError(
                    f"Parameter '{low}' ({getattr(self, low)} m) must be less than '{high}' "
                    f"({getattr(self, high)} m)."
                )
        span = self.range_sectors * self.range_field_of_view
        if span >= math.pi:
            raise ParameterError(
                f"Parameters 'range_sectors' x 'range_field_of_view' ({self.range_sectors} x "
                f"{self.range_field_of_view} rad = {span:.3f} rad) must be less than pi: a "
                f"camera sees less than half a turn (each image is checked against its own "
                f"field of view too)."
            )
        if self.scan_frame and not _FRAME_PATTERN.fullmatch(self.scan_frame):
            raise ParameterError(
                f"Parameter 'scan_frame' {self.scan_frame!r} must be empty or a tf2 frame "
                f"name (letters, digits, '_', '/', no spaces)."
            )
        if not _FRAME_PATTERN.fullmatch(self.mount_parent_frame):
            raise ParameterError(
                f"Parameter 'mount_parent_frame' {self.mount_parent_frame!r} must be a tf2 "
                f"frame name (letters, digits, '_', '/', no spaces)."
            )

    @classmethod
    def from_values(cls, values: Mapping[str, Any]) -> DepthNodeParams:
        """Build from a name -> value mapping; missing names take their defaults.

        Raises:
            ParameterError: on an unknown name or an invalid value.
        """
        unknown = sorted(set(values) - set(SPECS))
        if unknown:
            raise ParameterError(
                f"Unknown parameter(s) {', '.join(unknown)}; expected names from "
                f"{', '.join(SPECS)}."
            )
        return cls(**dict(values))

    def as_dict(self) -> dict[str, ParamValue]:
        """Return name -> value for every parameter."""
        return dataclasses.asdict(self)

    def with_changes(self, changes: Mapping[str, Any]) -> DepthNodeParams:
        """Validate a live parameter update and return the updated parameters.

        Raises:
            ParameterError: if a read-only parameter would change, or a value is invalid.
        """
        for name, value in changes.items():
            spec = SPECS.get(name)
            if spec is None:
                raise ParameterError(f"Unknown parameter '{name}'.")
            if spec.read_only and validate_value(spec, value) != getattr(self, name):
                raise ParameterError(
                    f"Parameter '{name}' is read-only: it is applied at start-up only, so "
                    f"restart the node to change it."
                )
        return dataclasses.replace(self, **dict(changes))


def validate_value(spec: ParamSpec, value: Any) -> ParamValue:
    """Check one value against its declaration and return it with the declared type.

    Raises:
        ParameterError: if the type, range or choice is wrong.
    """
    expected = f"Parameter '{spec.name}' must be {spec.constraints}, got {value!r}."
    if spec.type is bool:
        if not isinstance(value, bool):
            raise ParameterError(expected)
        return value
    if spec.type is str:
        if not isinstance(value, str) or (spec.choices and value not in spec.choices):
            raise ParameterError(expected)
        if spec.name == "device" and not _DEVICE_PATTERN.fullmatch(value):
            raise ParameterError(expected.replace("a string", "auto, cpu, cuda or cuda:N"))
        return value
    # Numbers: bool is an int subclass, so exclude it; ints are accepted for floats.
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ParameterError(expected)
    if spec.type is int:
        if isinstance(value, float):
            raise ParameterError(expected)
    else:
        value = float(value)
        if value != value:  # NaN
            raise ParameterError(expected)
    if spec.min_value is not None and value < spec.min_value:
        raise ParameterError(expected)
    if spec.max_value is not None and value > spec.max_value:
        raise ParameterError(expected)
    return value


def parse_override(text: str) -> tuple[str, Any]:
    """Parse one ``name:=value`` override; the value is read as YAML like ROS 2 does.

    Raises:
        ParameterError: if the text has no ``:=`` or the value is not valid YAML.
    """
    name, sep, raw = text.partition(":=")
    if not sep or not name:
        raise ParameterError(f"Parameter override {text!r} must look like name:=value.")
    try:
        value = yaml.safe_load(raw) if raw else ""
    except yaml.YAMLError as exc:
        raise ParameterError(f"Parameter override {text!r} has an invalid value: {exc}") from exc
    return name, "" if value is None else value


def load_params_file(
    path: str | Path, node_name: str = NODE_NAME, namespace: str = ""
) -> dict[str, Any]:
    """Read the parameters for one node from a ROS 2 parameters YAML file.

    The file holds ``<node>: {ros__parameters: {...}}`` sections, where ``<node>`` is the
    node name, its fully qualified name or a wildcard (``/**``). Sections that match are
    merged in file order; nested dictionaries become dotted names.

    Raises:
        ParameterError: if the file is missing, not YAML, or not laid out as above.
    """
    path = Path(path)
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ParameterError(f"Cannot read parameters file {path}: {exc.strerror}.") from exc
    except UnicodeDecodeError as exc:
        raise ParameterError(
            f"Parameters file {path} is not UTF-8 text (byte {exc.start}: {exc.reason}); "
            f"expected a ROS 2 parameters YAML file."
        ) from exc
    except yaml.YAMLError as exc:
        raise ParameterError(f"Parameters file {path} is not valid YAML: {exc}") from exc
    if not isinstance(document, dict):
        raise ParameterError(
            f"Parameters file {path} must map node names to {{ros__parameters: ...}}."
        )
    full_name = "/".join(p for p in (namespace.strip("/"), node_name) if p)
    values: dict[str, Any] = {}
    for key, section in document.items():
        pattern = str(key).strip("/")
        if not (
            pattern == node_name
            or pattern == full_name
            or fnmatch.fnmatchcase(full_name, pattern.replace("**", "*"))
        ):
            continue
        params = section.get("ros__parameters") if isinstance(section, dict) else None
        if not isinstance(params, dict):
            raise ParameterError(
                f"Parameters file {path}: section {key!r} must contain a 'ros__parameters' "
                f"mapping."
            )
        values.update(_flatten(params))
    return values


def _flatten(tree: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in tree.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(_flatten(value, f"{name}."))
        else:
            flat[name] = value
    return flat


def range_topics(sectors: int) -> list[str]:
    """Range topics: ``depth/range`` for one sector, ``depth/range_<i>`` for several."""
    if sectors == 1:
        return [DEPTH_RANGE_TOPIC]
    return [f"{DEPTH_RANGE_TOPIC}_{i}" for i in range(sectors)]


def camera_info_topic_for(image_topic: str) -> str:
    """Return the camera_info topic beside an image topic (image_transport convention)."""
    parent, _, _ = image_topic.rpartition("/")
    return f"{parent}/camera_info" if parent or image_topic.startswith("/") else "camera_info"


def compressed_topic_for(image_topic: str) -> str:
    """Return the image_transport ``compressed`` topic of an image topic."""
    return f"{image_topic.rstrip('/')}/compressed"


def input_topics(
    image: str | None, camera_info: str | None, image_transport: str = "raw"
) -> tuple[str, str]:
    """The topics to subscribe, given the remappings of ``image`` and ``camera_info``.

    Args:
        image: Where ``image`` is remapped to, or None for `DEFAULT_IMAGE_TOPIC`.
        camera_info: Where ``camera_info`` is remapped to, or None for the sibling of the
            image topic.
        image_transport: ``raw`` or ``compressed`` (subscribe ``<image>/compressed``).

    Returns:
        (image subscription topic, camera_info topic).
    """
    image_topic = image or DEFAULT_IMAGE_TOPIC
    info_topic = camera_info or camera_info_topic_for(image_topic)
    if image_transport == "compressed":
        image_topic = compressed_topic_for(image_topic)
    return image_topic, info_topic
