"""config/nav2_costmap.yaml: Nav2 Jazzy's exact parameter names, and topics the node
publishes with the data types the layers expect."""

from __future__ import annotations

from pathlib import Path

import yaml

from depth_estimation_ros.node import params as cfg

CONFIG = Path(__file__).resolve().parents[1] / "config" / "nav2_costmap.yaml"

# Declared in ros-navigation/navigation2, branch jazzy, nav2_costmap_2d:
# src/costmap_2d_ros.cpp (declare_parameter), plus <layer>.plugin (PluginLoader)
COSTMAP = {
    "map_topic", "always_send_full_costmap", "map_vis_z", "footprint_padding", "footprint",
    "global_frame", "height", "width", "lethal_cost_threshold", "observation_sources",
    "origin_x", "origin_y", "plugins", "filters", "publish_frequency", "resolution",
    "robot_base_frame", "robot_radius", "rolling_window", "track_unknown_space",
    "transform_tolerance", "initial_transform_timeout", "trinary_costmap",
    "unknown_cost_value", "update_frequency", "use_maximum",
}
# plugins/obstacle_layer.cpp: the layer's, and each observation source's
OBSTACLE = {"plugin", "enabled", "footprint_clearing_enabled", "min_obstacle_height",
            "max_obstacle_height", "combination_method", "observation_sources"}
SOURCE = {"topic", "sensor_frame", "observation_persistence", "expected_update_rate",
          "data_type", "min_obstacle_height", "max_obstacle_height", "inf_is_valid",
          "marking", "clearing", "obstacle_max_range", "obstacle_min_range",
          "raytrace_max_range", "raytrace_min_range"}
# plugins/voxel_layer.cpp (ObstacleLayer's observation sources too)
VOXEL = {"plugin", "enabled", "footprint_clearing_enabled", "min_obstacle_height",
         "max_obstacle_height", "z_voxels", "origin_z", "z_resolution", "unknown_threshold",
         "mark_threshold", "combination_method", "publish_voxel_map", "observation_sources"}
# plugins/range_sensor_layer.cpp
RANGE = {"plugin", "enabled", "phi", "inflate_cone", "no_readings_timeout", "clear_threshold",
         "mark_threshold", "clear_on_max_reading", "topics", "input_sensor_type"}
# plugins/inflation_layer.cpp
INFLATION = {"plugin", "enabled", "inflation_radius", "cost_scaling_factor", "inflate_unknown",
             "inflate_around_unknown"}
PLUGINS = {"nav2_costmap_2d::ObstacleLayer": OBSTACLE, "nav2_costmap_2d::VoxelLayer": VOXEL,
           "nav2_costmap_2d::RangeSensorLayer": RANGE,
           "nav2_costmap_2d::InflationLayer": INFLATION}


def _costmap() -> dict:
    return yaml.safe_load(CONFIG.read_text())["local_costmap"]["local_costmap"][
        "ros__parameters"]


def test_every_name_is_nav2_jazzys() -> None:
    params = _costmap()
    layers = params["plugins"]
    assert set(params) - set(layers) <= COSTMAP, set(params) - set(layers) - COSTMAP
    for layer in layers:
        section = params[layer]
        allowed = PLUGINS[section["plugin"]]
        sources = str(section.get("observation_sources", "")).split()
        assert set(section) - set(sources) <= allowed, (layer, set(section) - allowed)
        for source in sources:
            assert set(section[source]) <= SOURCE, (layer, set(section[source]) - SOURCE)


def test_layers_read_what_the_node_publishes() -> None:
    params = _costmap()
    plugins = {params[name]["plugin"]: params[name] for name in params["plugins"]}
    assert set(plugins) == set(PLUGINS)
    published = {
        "/" + cfg.DEPTH_SCAN_TOPIC: "LaserScan",
        "/" + cfg.DEPTH_POINTS_TOPIC: "PointCloud2",
        "/" + cfg.DEPTH_POINTS_VOXEL_TOPIC: "PointCloud2",
    }
    seen = set()
    for layer in ("nav2_costmap_2d::ObstacleLayer", "nav2_costmap_2d::VoxelLayer"):
        section = plugins[layer]
        for source in section["observation_sources"].split():
            obs = section[source]
            assert published[obs["topic"]] == obs["data_type"]
            seen.add(obs["data_type"])
    assert seen == {"LaserScan", "PointCloud2"}
    ranges = plugins["nav2_costmap_2d::RangeSensorLayer"]["topics"]
    assert ranges == ["/" + t for t in cfg.range_topics(len(ranges))]
    assert params["robot_base_frame"] == cfg.SPECS["mount_parent_frame"].default
