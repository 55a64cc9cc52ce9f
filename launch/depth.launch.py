"""Launch the depth estimation node, optionally with RViz and the synthetic camera.

    ros2 launch depth_estimation_ros depth.launch.py
    ros2 launch depth_estimation_ros depth.launch.py image_topic:=/my_cam/image_raw rviz:=true
    ros2 launch depth_estimation_ros depth.launch.py synthetic_camera:=true rviz:=true

Parameters come from ``params_file`` (default: the installed ``config/depth.yaml``); the
``checkpoint``, ``device`` and ``publish_pointcloud`` arguments override it when given.
Camera info is read from the sibling of ``image_topic`` (image_transport's rule:
``/my_cam/image_raw`` -> ``/my_cam/camera_info``) unless ``camera_info_topic`` names another.

The synthetic camera is a DDS-native process (Cyclone DDS, no rclpy): the node sees it when
it runs on rmw_cyclonedds_cpp with the same Cyclone configuration. When ``CYCLONEDDS_URI``
is unset, ``synthetic_camera:=true`` sets it to the shipped loopback configuration for every
process of this launch (one machine, no multicast needed).
"""

import os

from ament_index_python.packages import get_package_share_directory
from launch.actions import (
    DeclareLaunchArgument,
    ExecuteProcess,
    LogInfo,
    OpaqueFunction,
    SetEnvironmentVariable,
)
from launch.conditions import IfCondition
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node
from launch_ros.parameter_descriptions import ParameterValue
from launch_ros.substitutions import ExecutableInPackage

from launch import LaunchDescription

PACKAGE = 'depth_estimation_ros'

# (name, default, description) of every launch argument.
ARGUMENTS = (
    ('image_topic', '/camera/image_raw', 'Camera image topic (sensor_msgs/Image).'),
    ('camera_info_topic', '',
     'Camera info topic; empty: the sibling of image_topic (<ns>/camera_info).'),
    ('checkpoint', '', 'Model checkpoint (.pt); empty keeps the params file value.'),
    ('device', '', 'auto, cpu, cuda or cuda:N; empty keeps the params file value.'),
    ('publish_pointcloud', '', 'true or false; empty keeps the params file value.'),
    ('namespace', '', 'Namespace of the node (and of its depth/* outputs).'),
    ('params_file', '', 'ROS 2 parameters file; empty uses the installed config/depth.yaml.'),
    ('rviz', 'false', 'Start RViz with config/depth.rviz.'),
    ('synthetic_camera', 'false', 'Start the synthetic camera publisher as the image source.'),
    ('rviz_fixed_frame', 'camera_optical_frame',
     "RViz fixed frame: the camera's optical frame_id (the synthetic camera's by default)."),
)


def _overrides(context) -> dict:
    """Parameters given as launch arguments; empty ones leave the params file in charge."""
    values = {}
    for name in ('checkpoint', 'device'):
        value = LaunchConfiguration(name).perform(context)
        if value:
            # a string as given: launch_ros would otherwise read it as YAML ('#' starts a
            # comment, '1.0' becomes a float and fails the string parameter's declaration)
            values[name] = ParameterValue(value, value_type=str)
    cloud = LaunchConfiguration('publish_pointcloud').perform(context).strip().lower()
    if cloud:
        if cloud not in ('true', 'false'):
            raise ValueError(f"publish_pointcloud must be true or false, got '{cloud}'")
        values['publish_pointcloud'] = cloud == 'true'
    return values


def _environment(context, share: str):
    """Point Cyclone DDS at the loopback config for the synthetic camera demo, if unset."""
    enabled = LaunchConfiguration('synthetic_camera').perform(context).strip().lower()
    if enabled not in ('true', '1') or os.environ.get('CYCLONEDDS_URI'):
        return []
    uri = 'file://' + os.path.join(share, 'config', 'cyclonedds_loopback.xml')
    return [
        SetEnvironmentVariable('CYCLONEDDS_URI', uri),
        LogInfo(msg=f'CYCLONEDDS_URI not set: using {uri} for the synthetic camera demo'),
    ]


def _launch_node(context, share: str):
    """The depth node and, when asked for, the synthetic camera on the same topics."""
    params_file = LaunchConfiguration('params_file').perform(context)
    if not params_file:
        params_file = os.path.join(share, 'config', 'depth.yaml')
    image_topic = LaunchConfiguration('image_topic').perform(context)
    # Empty: no camera_info rule, so the node (and the camera) take image_topic's sibling.
    info_topic = LaunchConfiguration('camera_info_topic').perform(context)
    remappings = [('image', image_topic)]
    camera_cmd = [ExecutableInPackage(executable='synthetic_camera', package=PACKAGE),
                  '--topic', image_topic]
    if info_topic:
        remappings.append(('camera_info', info_topic))
        camera_cmd += ['--info-topic', info_topic]
    return [
        Node(
            package=PACKAGE,
            executable='depth_estimation_node',
            name='depth_estimation_node',
            namespace=LaunchConfiguration('namespace'),
            parameters=[params_file, _overrides(context)],
            remappings=remappings,
            output='screen',
            emulate_tty=True,
        ),
        # Not a launch_ros Node: the synthetic camera takes plain arguments, not --ros-args.
        ExecuteProcess(
            cmd=camera_cmd,
            name='synthetic_camera',
            output='screen',
            condition=IfCondition(LaunchConfiguration('synthetic_camera')),
        ),
    ]


def generate_launch_description() -> LaunchDescription:
    """The node, plus RViz and the synthetic camera when asked for."""
    share = get_package_share_directory(PACKAGE)
    declared = [
        DeclareLaunchArgument(name, default_value=default, description=description)
        for name, default, description in ARGUMENTS
    ]
    return LaunchDescription(declared + [
        OpaqueFunction(function=_environment, kwargs={'share': share}),
        OpaqueFunction(function=_launch_node, kwargs={'share': share}),
        Node(
            package='rviz2',
            executable='rviz2',
            name='rviz2',
            arguments=['-d', os.path.join(share, 'config', 'depth.rviz'),
                       '-f', LaunchConfiguration('rviz_fixed_frame')],
            output='screen',
            condition=IfCondition(LaunchConfiguration('rviz')),
        ),
    ])
