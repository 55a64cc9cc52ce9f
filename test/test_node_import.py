"""The ROS-only files are valid without ROS: the rclpy nodes, the launch file and the RViz
config.

rclpy, launch and RViz are not installable here, so these tests read the files (AST, YAML)
and check what would break on a ROS 2 install: syntax, imports, the entry point shape, the
launch arguments and the topics RViz shows. They also check the other side of the split:
no core module imports a ROS package.
"""

import ast
import importlib.util
import pkgutil
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import yaml

import depth_estimation_ros
from depth_estimation_ros.node import params as cfg
from depth_estimation_ros.synthetic_camera import DEFAULT_FRAME_ID

ROOT = Path(__file__).resolve().parents[1]
NODE = ROOT / "depth_estimation_ros" / "ros" / "node.py"
LIFECYCLE = ROOT / "depth_estimation_ros" / "ros" / "lifecycle_node.py"
SHELL = ROOT / "depth_estimation_ros" / "ros" / "shell.py"
ROS_MODULES = ("depth_estimation_ros.ros.node", "depth_estimation_ros.ros.lifecycle_node",
               "depth_estimation_ros.ros.shell")
LAUNCH = ROOT / "launch" / "depth.launch.py"
RVIZ = ROOT / "config" / "depth.rviz"
ROS_PACKAGES = {"rclpy", "sensor_msgs", "std_msgs", "builtin_interfaces", "diagnostic_msgs",
                "rcl_interfaces", "geometry_msgs", "tf2_msgs", "lifecycle_msgs", "launch",
                "launch_ros", "launch_testing", "cv_bridge", "ament_index_python",
                "rosidl_runtime_py"}
MESSAGE_PACKAGES = {"sensor_msgs", "std_msgs", "builtin_interfaces", "diagnostic_msgs",
                    "rcl_interfaces", "geometry_msgs", "tf2_msgs", "lifecycle_msgs"}


def _imports(tree: ast.AST) -> set[str]:
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


# -- node.py --------------------------------------------------------------------------------


def _tree(path: Path) -> ast.Module:
    return ast.parse(compile(path.read_text(), str(path), "exec", ast.PyCF_ONLY_AST))


def _tops(tree: ast.Module) -> dict[str, ast.AST]:
    return {node.name: node for node in tree.body
            if isinstance(node, (ast.FunctionDef, ast.ClassDef))}


@pytest.mark.parametrize(("path", "class_name", "base"), [
    (NODE, "DepthEstimationNode", "Node"),
    (LIFECYCLE, "DepthEstimationLifecycleNode", "LifecycleNode"),
])
def test_nodes_are_short_wiring_with_a_clean_main(path: Path, class_name: str,
                                                   base: str) -> None:
    assert len(path.read_text().splitlines()) < 200
    tops = _tops(_tree(path))
    assert [ast.unparse(b) for b in tops[class_name].bases] == [base]
    main = tops["main"]
    assert [a.arg for a in main.args.args] == ["args"] and ast.unparse(main.args.defaults[0]) \
        == "None"
    assert ast.unparse(main.body[-1]) == f"return spin({class_name}, args)"
    source = ast.unparse(tops[class_name])
    # one declaration table, one live-parameter bridge, one set of publishers: shared
    assert "declare_parameters(self)" in source and "LiveParameters(self" in source
    assert "make_outputs(" in source and "subscribe_inputs(self" in source


def test_shared_shell_declares_parameters_and_shuts_down_cleanly() -> None:
    tops = _tops(_tree(SHELL))
    spin = tops["spin"]
    handled = {ast.unparse(h.type) for n in ast.walk(spin) if isinstance(n, ast.Try)
               for h in n.handlers if h.type is not None}
    assert "(KeyboardInterrupt, ExternalShutdownException)" in handled
    assert "rclpy.try_shutdown()" in ast.unparse(spin)
    loops = [ast.unparse(n) for n in ast.walk(tops["declare_parameters"])
             if isinstance(n, ast.For)]
    assert any(loop.startswith("for spec in cfg.PARAMETERS:") and
               "node.declare_parameter(spec.name, spec.default, descriptor(spec))" in loop
               for loop in loops)
    assert "add_on_set_parameters_callback" in ast.unparse(tops["LiveParameters"])
    # /tf_static as tf2 listens to it: reliable, transient local, keep last 1
    source = SHELL.read_text()
    assert re.search(r"TF_STATIC_QOS = QoSProfile\(depth=1, history=HistoryPolicy.KEEP_LAST,\s+"
                     r"reliability=ReliabilityPolicy.RELIABLE,\s+"
                     r"durability=DurabilityPolicy.TRANSIENT_LOCAL\)", source)


@pytest.mark.parametrize("path", [NODE, LIFECYCLE, SHELL], ids=lambda p: p.name)
def test_ros_modules_import_only_ros_and_the_core(path: Path) -> None:
    imports = _imports(ast.parse(path.read_text()))
    ros = {name for name in imports if name.split(".")[0] in ROS_PACKAGES}
    ours = {name for name in imports if name.startswith("depth_estimation_ros")}
    assert imports - ros - ours <= {"__future__", "collections.abc", "signal", "typing"}
    assert not any(name.startswith(("depth_estimation_ros.dds", "depth_estimation_ros.standalone",
                                    "depth_training")) for name in imports)
    for name in ours - set(ROS_MODULES):  # every core module the nodes use exists
        assert importlib.util.find_spec(name) is not None, name


def test_package_xml_names_every_ros_package_imported() -> None:
    """rosdep installs what package.xml names: a missing message package fails at import on a
    fresh ROS install (what a real Jazzy showed for tf2_msgs and lifecycle_msgs)."""
    imported = set()
    for path in (NODE, LIFECYCLE, SHELL, LAUNCH):
        imported |= {name.split(".")[0] for name in _imports(ast.parse(path.read_text()))}
    package = ET.parse(ROOT / "package.xml").getroot()
    depends = {e.text for e in package if e.tag in ("exec_depend", "depend")}
    needed = imported & ROS_PACKAGES
    assert {"rclpy", "launch", "launch_ros", "lifecycle_msgs"} <= needed
    assert needed <= depends, needed - depends
    assert MESSAGE_PACKAGES <= depends, MESSAGE_PACKAGES - depends
    tests = {e.text for e in package if e.tag == "test_depend"}
    assert {"launch_testing", "python3-pytest"} <= tests


@pytest.mark.skipif(importlib.util.find_spec("rclpy") is not None, reason="rclpy installed")
def test_node_needs_ros_and_says_so() -> None:
    with pytest.raises(ModuleNotFoundError) as info:
        importlib.import_module("depth_estimation_ros.ros.node")
    assert info.value.name.split(".")[0] in ROS_PACKAGES


def test_core_modules_import_no_ros_package() -> None:
    modules = sorted(
        info.name for info in pkgutil.walk_packages(depth_estimation_ros.__path__,
                                                    "depth_estimation_ros.")
        if info.name not in ROS_MODULES)
    code = (
        "import importlib, sys\n"
        f"for name in {modules!r}:\n"
        "    importlib.import_module(name)\n"
        f"bad = sorted(m for m in sys.modules if m.split('.')[0] in {sorted(ROS_PACKAGES)!r}"
        " or m.startswith('depth_training'))\n"
        "print(bad)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]", result.stdout


# -- launch file ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def launch_tree() -> ast.Module:
    source = LAUNCH.read_text()
    return ast.parse(compile(source, str(LAUNCH), "exec", ast.PyCF_ONLY_AST))


def _launch_arguments(tree: ast.Module) -> dict[str, str]:
    for node in tree.body:
        if isinstance(node, ast.Assign) and ast.unparse(node.targets[0]) == "ARGUMENTS":
            return {name: default for name, default, _ in ast.literal_eval(node.value)}
    raise AssertionError("launch file has no ARGUMENTS table")


def test_launch_declares_the_documented_arguments(launch_tree: ast.Module) -> None:
    arguments = _launch_arguments(launch_tree)
    assert {"image_topic", "camera_info_topic", "checkpoint", "device", "publish_pointcloud",
            "publish_scan", "publish_range", "lifecycle", "autostart", "namespace",
            "params_file", "rviz", "synthetic_camera", "rviz_fixed_frame"} <= set(arguments)
    # empty: the params file decides, as for publish_pointcloud
    assert arguments["publish_scan"] == arguments["publish_range"] == ""
    assert arguments["lifecycle"] == arguments["autostart"] == "false"
    assert arguments["image_topic"] == "/camera/image_raw"
    # empty: no camera_info rule, so the node and the camera use image_topic's sibling
    assert arguments["camera_info_topic"] == ""
    assert cfg.input_topics("/my_cam/image_raw", None, "raw") == (
        "/my_cam/image_raw", "/my_cam/camera_info")
    assert arguments["rviz"] == arguments["synthetic_camera"] == "false"
    source = ast.unparse(launch_tree)
    assert "def generate_launch_description() -> LaunchDescription:" in source
    assert "DeclareLaunchArgument(name, default_value=default, description=description)" \
        in source
    for condition in ("rviz", "synthetic_camera"):
        assert f"condition=IfCondition(LaunchConfiguration('{condition}'))" in source


def test_launch_starts_our_executables_with_remappings(launch_tree: ast.Module) -> None:
    source = ast.unparse(launch_tree)
    assert "executable='depth_estimation_node'" in source
    assert "parameters=[params_file, _overrides(context)]" in source
    assert "remappings = [('image', image_topic)]" in source
    # camera_info is remapped (and given to the synthetic camera) only when named
    assert ("if info_topic:\n        remappings.append(('camera_info', info_topic))\n"
            "        camera_cmd += ['--info-topic', info_topic]") in source
    assert "remappings=remappings" in source
    # string overrides stay strings (launch_ros would read a bare value as YAML)
    assert "values[name] = ParameterValue(value, value_type=str)" in source
    assert "namespace=LaunchConfiguration('namespace')" in source
    setup = (ROOT / "setup.py").read_text()
    for executable, module in (("depth_estimation_node", r"ros\.node"),
                               ("depth_estimation_lifecycle_node", r"ros\.lifecycle_node"),
                               ("synthetic_camera", "synthetic_camera")):
        assert re.search(rf"{executable} = {{PACKAGE}}\.{module}:main", setup), executable
        assert f"'{executable}'" in source
    for name in ("depth.yaml", "depth.rviz", "cyclonedds_loopback.xml"):
        assert f"'{name}'" in source and (ROOT / "config" / name).is_file()
    for flag in ("publish_pointcloud", "publish_scan", "publish_range"):
        assert f"'{flag}'" in source


def test_launch_lifecycle_autostart_and_rviz_frame(launch_tree: ast.Module) -> None:
    source = ast.unparse(launch_tree)
    assert "LifecycleNode(executable='depth_estimation_lifecycle_node', **node_args)" in source
    # configure, then activate once configured only (a later deactivate must stick)
    assert "start_state='configuring', goal_state='inactive'" in source
    assert "change(Transition.TRANSITION_ACTIVATE)" in source
    assert "change(Transition.TRANSITION_CONFIGURE)" in source
    # RViz gets the fixed frame on its command line: rviz2 -d depth.rviz -f FRAME
    assert "'-f', LaunchConfiguration('rviz_fixed_frame')" in source


# -- RViz config ----------------------------------------------------------------------------


def test_rviz_shows_depth_cloud_scan_ranges_in_the_camera_frame(launch_tree) -> None:
    config = yaml.safe_load(RVIZ.read_text())
    manager = config["Visualization Manager"]
    displays = {(d["Class"], d.get("Topic", {}).get("Value")) for d in manager["Displays"]}
    assert ("rviz_default_plugins/Image", "/depth/image") in displays
    assert ("rviz_default_plugins/PointCloud2", "/depth/points") in displays
    assert ("rviz_default_plugins/LaserScan", "/" + cfg.DEPTH_SCAN_TOPIC) in displays
    assert ("rviz_default_plugins/Image", "/" + cfg.DEPTH_COLOR_TOPIC) in displays
    # one sector: depth/range; a three-sector ring: depth/range_0..2
    for topic in ["/" + t for t in cfg.range_topics(1) + cfg.range_topics(3)]:
        assert ("rviz_default_plugins/Range", topic) in displays
    cloud = next(d for d in manager["Displays"]
                 if d["Class"] == "rviz_default_plugins/PointCloud2")
    assert cloud["Color Transformer"] == "RGB8" and cloud["Topic"]["Reliability Policy"] \
        == "Reliable"
    fixed = manager["Global Options"]["Fixed Frame"]
    assert fixed == DEFAULT_FRAME_ID == _launch_arguments(launch_tree)["rviz_fixed_frame"]
