"""Parameters: declarations, config/depth.yaml, validation, files and overrides."""

from pathlib import Path

import pytest
import yaml

from depth_estimation_ros.node.params import (
    LIVE_PARAMETERS,
    PARAMETERS,
    SPECS,
    DepthNodeParams,
    ParameterError,
    camera_info_topic_for,
    compressed_topic_for,
    input_topics,
    load_params_file,
    parse_override,
)

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "config" / "depth.yaml"


def test_yaml_holds_every_declared_default_with_its_type() -> None:
    document = yaml.safe_load(CONFIG.read_text())
    values = document["/**"]["ros__parameters"]
    assert set(values) == set(SPECS)
    for spec in PARAMETERS:
        # ROS 2 parameters are statically typed: 0 is not 0.0, so the types must agree too.
        assert type(values[spec.name]) is spec.type, spec.name
        assert values[spec.name] == spec.default, spec.name


def test_dataclass_fields_match_declarations() -> None:
    params = DepthNodeParams()
    assert params.as_dict() == {spec.name: spec.default for spec in PARAMETERS}
    assert load_params_file(CONFIG) == params.as_dict()


def test_declarations_are_complete() -> None:
    for spec in PARAMETERS:
        assert spec.description.endswith("."), spec.name
        assert isinstance(spec.default, spec.type)
        if spec.type in (int, float):
            assert spec.min_value is not None and spec.max_value is not None, spec.name
            assert spec.min_value <= spec.default <= spec.max_value
    # The model and device cannot change live; the point-cloud settings can.
    assert {"checkpoint", "device"}.isdisjoint(LIVE_PARAMETERS)
    assert {"publish_pointcloud", "pointcloud_color", "pointcloud_decimation", "min_range",
            "max_range"} <= LIVE_PARAMETERS


@pytest.mark.parametrize(
    ("values", "fragment"),
    [
        ({"pointcloud_decimation": 0}, "'pointcloud_decimation' must be an integer in [1, 16]"),
        ({"pointcloud_decimation": 2.0}, "'pointcloud_decimation' must be an integer"),
        ({"output_resolution": "half"}, "one of 'input', 'native'"),
        ({"publish_pointcloud": "yes"}, "'publish_pointcloud' must be true or false"),
        ({"device": "gpu"}, "auto, cpu, cuda or cuda:N"),
        ({"min_range": 5.0, "max_range": 2.0}, "must be less than 'max_range'"),
        ({"max_range": float("nan")}, "'max_range' must be a number"),
        ({"input_qos_reliability": "sometimes"}, "'best_effort', 'reliable'"),
        ({"no_such_param": 1}, "Unknown parameter(s) no_such_param"),
        ({"scan_height": 0}, "'scan_height' must be an integer in [1, 4096]"),
        ({"scan_offset": 1.5}, "'scan_offset' must be a number in [0.0, 1.0]"),
        ({"scan_range_min": 12.0}, "'scan_range_min' (12.0 m) must be less than "
                                   "'scan_range_max'"),
        ({"range_min": 6.0}, "'range_min' (6.0 m) must be less than 'range_max'"),
        ({"color_min": 10.0}, "'color_min' (10.0 m) must be less than 'color_max'"),
        ({"range_sectors": 7}, "x 'range_field_of_view' (7 x 0.5 rad = 3.500 rad) must be "
                               "less than pi"),
        ({"range_sectors": 17}, "'range_sectors' must be an integer in [1, 16]"),
        ({"range_radiation_type": "sonar"}, "one of 'ultrasound', 'infrared'"),
        ({"color_map": "jet"}, "one of 'turbo', 'viridis'"),
        ({"scan_frame": "base scan"}, "'scan_frame' 'base scan' must be empty or a tf2 frame"),
    ],
)
def test_invalid_values_are_rejected_with_a_clear_message(values: dict, fragment: str) -> None:
    with pytest.raises(ParameterError) as info:
        DepthNodeParams.from_values(values)
    assert fragment in str(info.value)


def test_ints_are_accepted_for_floats() -> None:
    params = DepthNodeParams.from_values({"max_range": 8, "fx": 500, "fy": 501})
    assert params.max_range == 8.0 and type(params.max_range) is float
    assert params.device == "auto"
    assert DepthNodeParams.from_values({"device": "cuda:1"}).device == "cuda:1"


def test_live_changes_apply_and_read_only_changes_are_rejected() -> None:
    params = DepthNodeParams()
    updated = params.with_changes({"pointcloud_decimation": 4, "max_range": 6.5,
                                   "publish_pointcloud": False})
    assert (updated.pointcloud_decimation, updated.max_range) == (4, 6.5)
    assert not updated.publish_pointcloud and params.publish_pointcloud  # frozen original
    for name, value in (("checkpoint", "/tmp/other.pt"), ("device", "cpu")):
        with pytest.raises(ParameterError, match=f"'{name}' is read-only.*restart"):
            params.with_changes({name: value})
    # Setting a read-only parameter to its current value is harmless.
    assert params.with_changes({"device": "auto"}) == params
    with pytest.raises(ParameterError, match="less than 'max_range'"):
        params.with_changes({"min_range": 20.0})


def test_stand_in_sensor_parameters_are_all_live() -> None:
    names = {s.name for s in PARAMETERS
             if s.name.startswith(("publish_", "scan_", "range_", "color_"))}
    assert len(names) == 20 and names <= LIVE_PARAMETERS  # 18 + publish_pointcloud, _mount
    params = DepthNodeParams().with_changes({"range_sectors": 3, "range_field_of_view": 0.3,
                                             "publish_scan": True, "scan_frame": "base_scan"})
    assert (params.range_sectors, params.scan_frame) == (3, "base_scan")


def test_params_file_sections_match_node_names(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text(
        "/**:\n  ros__parameters:\n    max_range: 5.0\n    pointcloud_decimation: 2\n"
        "depth_estimation_node:\n  ros__parameters:\n    max_range: 7.0\n"
        "/robot1/depth_estimation_node:\n  ros__parameters:\n"
        "    pointcloud:\n      nested: 1\n"
        "other_node:\n  ros__parameters:\n    max_range: 1.0\n"
    )
    assert load_params_file(path) == {"max_range": 7.0, "pointcloud_decimation": 2}
    assert load_params_file(path, namespace="/robot1") == {
        "max_range": 7.0, "pointcloud_decimation": 2, "pointcloud.nested": 1}


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("- 1\n- 2\n", "must map node names"),
        ("/**:\n  max_range: 2.0\n", "must contain a 'ros__parameters' mapping"),
        ("/**: [\n", "not valid YAML"),
        (b"/**:\n  ros__parameters:\n    checkpoint: \xff\xfe\n", "is not UTF-8 text"),
    ],
)
def test_bad_params_files_raise(tmp_path: Path, text: str | bytes, fragment: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    with pytest.raises(ParameterError, match=fragment):
        load_params_file(path)
    with pytest.raises(ParameterError, match="Cannot read parameters file"):
        load_params_file(tmp_path / "missing.yaml")


def test_overrides_parse_values_as_yaml() -> None:
    assert parse_override("max_range:=4") == ("max_range", 4)
    assert parse_override("max_range:=4.5") == ("max_range", 4.5)
    assert parse_override("publish_pointcloud:=false") == ("publish_pointcloud", False)
    assert parse_override("checkpoint:=") == ("checkpoint", "")
    assert parse_override("checkpoint:=/w/a b.pt") == ("checkpoint", "/w/a b.pt")
    with pytest.raises(ParameterError, match="name:=value"):
        parse_override("max_range=4")


def test_topic_helpers_follow_image_transport_names() -> None:
    assert camera_info_topic_for("/camera/image_raw") == "/camera/camera_info"
    assert camera_info_topic_for("camera/image_raw") == "camera/camera_info"
    assert camera_info_topic_for("image") == "camera_info"
    assert camera_info_topic_for("/image") == "/camera_info"
    assert compressed_topic_for("/camera/image_raw") == "/camera/image_raw/compressed"


def test_input_topics_default_remapped_and_compressed() -> None:
    assert input_topics(None, None) == ("camera/image_raw", "camera/camera_info")
    assert input_topics("/cam1/color/image", None) == ("/cam1/color/image",
                                                       "/cam1/color/camera_info")
    assert input_topics("/cam1/image", "/cam1/info", "compressed") == (
        "/cam1/image/compressed", "/cam1/info")
