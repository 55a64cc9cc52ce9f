"""Launch the depth estimation node, optionally with RViz and the synthetic camera.

    ros2 launch depth_estimation_ros depth.launch.py
    ros2 launch depth_estimation_ros depth.launch.py image_topic:=/my_cam/image_raw rviz:=true
    ros2 launch depth_estimation_ros depth.launch.py synthetic_camera:=true rviz:=true
    ros2 launch depth_estimation_ros depth.launch.py publish_scan:=true publish_range:=true \
        lifecycle:=true autostart:=true
    ros2 launch depth_estimation_ros depth.launch.py synthetic_camera:=true \
        publish_scan:=true mount_x:=0.2 mount_z:=0.3 cloud_voxel_size:=0.05

Parameters come from ``params_file`` (default: the installed ``config/depth.yaml``); the
``checkpoint``, ``device``, ``publish_pointcloud``, ``publish_scan`` and ``publish_range``
arguments override it when given, and so do ``cloud_voxel_size`` and the mount: any of
``mount_parent_frame`` (``base_link`` unless given), ``mount_x``/``y``/``z`` (metres) and
``mount_roll``/``pitch``/``yaw`` (radians, REP 103 body convention: the camera's x forward,
z up) turns ``publish_mount`` on, so the node publishes the parent -> optical frame transform
on /tf_static (the optical rotation added for you). ``lifecycle:=true`` starts the managed node
(``depth_estimation_lifecycle_node``, same name, parameters and topics) unconfigured;
``autostart:=true`` configures and activates it at once (launch_ros ``ChangeState`` events),
else ``ros2 lifecycle set /depth_estimation_node configure`` (then ``activate``) does.
RViz's fixed frame is ``rviz_fixed_frame`` (rviz2 ``-f``): the camera's optical frame, which
exists with no robot description.
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
    EmitEvent,
    ExecuteProcess,
    LogInfo,
    OpaqueFunction,
    RegisterEventHandler,
    SetEnvironmentVariable,
)
from launch.conditions import IfCondition
from launch.events import matches_action
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import LifecycleNode, Node
from launch_ros.event_handlers import OnStateTransition
from launch_ros.events.lifecycle import ChangeState
from launch_ros.parameter_descriptions import ParameterValue
from launch_ros.substitutions import ExecutableInPackage
from lifecycle_msgs.msg import Transition

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
    ('publish_scan', '',
     'true or false: depth/scan (sensor_msgs/LaserScan); empty keeps the params file value.'),
    ('publish_range', '',
     'true or false: depth/range (sensor_msgs/Range); empty keeps the params file value.'),
    ('cloud_voxel_size', '',
     'Edge (metres) of depth/points_voxel, one point per occupied voxel (0: off); empty keeps '
     'the params file value.'),
    ('mount_parent_frame', '',
     "Parent frame of the camera's mount (base_link when another mount_* is given); any "
     "mount_* argument publishes the mount on /tf_static."),
    ('mount_x', '', 'Camera position x in the parent frame (metres).'),
    ('mount_y', '', 'Camera position y in the parent frame (metres).'),
    ('mount_z', '', 'Camera position z in the parent frame (metres).'),
    ('mount_roll', '', 'Camera body roll (radians, REP 103).'),
    ('mount_pitch', '', 'Camera body pitch (radians, REP 103; positive looks down).'),
    ('mount_yaw', '', 'Camera body yaw (radians, REP 103; positive looks left).'),
    ('lifecycle', 'false',
     'Start the lifecycle (managed) node depth_estimation_lifecycle_node instead.'),
    ('autostart', 'false', 'With lifecycle:=true, configure and activate it at once.'),
    ('namespace', '', 'Namespace of the node (and of its depth/* outputs).'),
    ('params_file', '', 'ROS 2 parameters file; empty uses the installed config/depth.yaml.'),
    ('rviz', 'false', 'Start RViz with config/depth.rviz.'),
    ('synthetic_camera', 'false', 'Start the synthetic camera publisher as the image source.'),
    ('rviz_fixed_frame', 'camera_optical_frame',
     "RViz fixed frame (rviz2 -f): the camera's optical frame_id (the synthetic camera's by "
     "default); the scan and range frames hang off it on /tf_static."),
)


MOUNT_NUMBERS = ('mount_x', 'mount_y', 'mount_z', 'mount_roll', 'mount_pitch', 'mount_yaw')


def _overrides(context) -> dict:
    """Parameters given as launch arguments; empty ones leave the params file in charge."""
    values = {}
    for name in ('checkpoint', 'device'):
        value = LaunchConfiguration(name).perform(context)
        if value:
            # a string as given: launch_ros would otherwise read it as YAML ('#' starts a
            # comment, '1.0' becomes a float and fails the string parameter's declaration)
            values[name] = ParameterValue(value, value_type=str)
    for name in ('publish_pointcloud', 'publish_scan', 'publish_range'):
        flag = LaunchConfiguration(name).perform(context).strip().lower()
        if flag:
            if flag not in ('true', 'false'):
                raise ValueError(f"{name} must be true or false, got '{flag}'")
            values[name] = flag == 'true'
    for name in MOUNT_NUMBERS + ('cloud_voxel_size',):
        text = LaunchConfiguration(name).perform(context).strip()
        if text:
            try:
                values[name] = float(text)
            except ValueError:
                raise ValueError(f"{name} must be a number, got '{text}'") from None
    parent = LaunchConfiguration('mount_parent_frame').perform(context).strip()
    if parent:
        values['mount_parent_frame'] = ParameterValue(parent, value_type=str)
    if parent or any(name in values for name in MOUNT_NUMBERS):
        values['publish_mount'] = True
    return values


def _flag(context, name: str) -> bool:
    return LaunchConfiguration(name).perform(context).strip().lower() in ('true', '1')


def _environment(context, share: str):
    """Point Cyclone DDS at the loopback config for the synthetic camera demo, if unset."""
    if not _flag(context, 'synthetic_camera') or os.environ.get('CYCLONEDDS_URI'):
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
    node_args = dict(
        package=PACKAGE,
        name='depth_estimation_node',
        namespace=LaunchConfiguration('namespace'),
        parameters=[params_file, _overrides(context)],
        remappings=remappings,
        output='screen',
        emulate_tty=True,
    )
    if _flag(context, 'lifecycle'):
        node = LifecycleNode(executable='depth_estimation_lifecycle_node', **node_args)
        actions = [node]
        if _flag(context, 'autostart'):
            actions = _autostart(node)
    else:
        actions = [Node(executable='depth_estimation_node', **node_args)]
    return actions + [
        # Not a launch_ros Node: the synthetic camera takes plain arguments, not --ros-args.
        ExecuteProcess(
            cmd=camera_cmd,
            name='synthetic_camera',
            output='screen',
            condition=IfCondition(LaunchConfiguration('synthetic_camera')),
        ),
    ]


def _autostart(node: LifecycleNode) -> list:
    """``node``, then configure it and, once configured (not after a later deactivate),
    activate it."""
    def change(transition: int) -> EmitEvent:
        return EmitEvent(event=ChangeState(lifecycle_node_matcher=matches_action(node),
                                           transition_id=transition))

    return [
        RegisterEventHandler(OnStateTransition(
            target_lifecycle_node=node, start_state='configuring', goal_state='inactive',
            entities=[change(Transition.TRANSITION_ACTIVATE)])),
        node,
        change(Transition.TRANSITION_CONFIGURE),
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
