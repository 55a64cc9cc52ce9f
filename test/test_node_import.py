"""The ROS-only files are valid without ROS: node.py, the launch file and the RViz config.

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
from pathlib import Path

import pytest
import yaml

import depth_estimation_ros
from depth_estimation_ros import params as cfg
from depth_estimation_ros.synthetic_camera import DEFAULT_FRAME_ID

ROOT = Path(__file__).resolve().parents[1]
NODE = ROOT / "depth_estimation_ros" / "node.py"
LAUNCH = ROOT / "launch" / "depth.launch.py"
RVIZ = ROOT / "config" / "depth.rviz"
ROS_PACKAGES = {"rclpy", "sensor_msgs", "std_msgs", "builtin_interfaces", "diagnostic_msgs",
                "rcl_interfaces", "launch", "launch_ros", "launch_testing", "cv_bridge",
                "ament_index_python", "rosidl_runtime_py"}


def _imports(tree: ast.AST) -> set[str]:
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


# -- node.py --------------------------------------------------------------------------------


def test_node_is_short_wiring_with_a_clean_main() -> None:
    source = NODE.read_text()
    tree = ast.parse(compile(source, str(NODE), "exec", ast.PyCF_ONLY_AST))
    assert len(source.splitlines()) < 200
    tops = {node.name: node for node in tree.body
            if isinstance(node, (ast.FunctionDef, ast.ClassDef))}
    node_class = tops["DepthEstimationNode"]
    assert [ast.unparse(base) for base in node_class.bases] == ["Node"]
    main = tops["main"]
    assert [a.arg for a in main.args.args] == ["args"] and ast.unparse(main.args.defaults[0]) \
        == "None"
    handled = {ast.unparse(h.type) for n in ast.walk(main) if isinstance(n, ast.Try)
               for h in n.handlers if h.type is not None}
    assert "(KeyboardInterrupt, ExternalShutdownException)" in handled
    assert "rclpy.try_shutdown()" in ast.unparse(main)
    # Parameters are declared from the one declaration table, with descriptors.
    loops = [ast.unparse(n) for n in ast.walk(node_class) if isinstance(n, ast.For)]
    assert "for spec in cfg.PARAMETERS:\n    self.declare_parameter(spec.name, spec.default, " \
        "descriptor(spec))" in loops
    assert "add_on_set_parameters_callback" in source


def test_node_imports_only_rclpy_messages_and_the_core() -> None:
    imports = _imports(ast.parse(NODE.read_text()))
    ros = {name for name in imports if name.split(".")[0] in ROS_PACKAGES}
    ours = {name for name in imports if name.startswith("depth_estimation_ros")}
    assert imports == ros | ours | {"__future__"}
    assert not any(name.startswith(("depth_estimation_ros.dds", "depth_estimation_ros.standalone",
                                    "depth_training")) for name in imports)
    for name in ours:  # every core module the node uses exists
        assert importlib.util.find_spec(name) is not None, name


@pytest.mark.skipif(importlib.util.find_spec("rclpy") is not None, reason="rclpy installed")
def test_node_needs_ros_and_says_so() -> None:
    with pytest.raises(ModuleNotFoundError) as info:
        importlib.import_module("depth_estimation_ros.node")
    assert info.value.name.split(".")[0] in ROS_PACKAGES


def test_core_modules_import_no_ros_package() -> None:
    modules = sorted(
        info.name for info in pkgutil.walk_packages(depth_estimation_ros.__path__,
                                                    "depth_estimation_ros.")
        if info.name != "depth_estimation_ros.node")
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
            "namespace", "params_file", "rviz", "synthetic_camera"} <= set(arguments)
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
    for executable, module in (("depth_estimation_node", "node"),
                               ("synthetic_camera", "synthetic_camera")):
        assert re.search(rf"{executable} = {{PACKAGE}}\.{module}:main", setup), executable
        assert f"'{executable}'" in source
    for name in ("depth.yaml", "depth.rviz", "cyclonedds_loopback.xml"):
        assert f"'{name}'" in source and (ROOT / "config" / name).is_file()


# -- RViz config ----------------------------------------------------------------------------


def test_rviz_shows_depth_image_and_cloud_in_the_camera_frame(launch_tree) -> None:
    config = yaml.safe_load(RVIZ.read_text())
    manager = config["Visualization Manager"]
    displays = {(d["Class"], d.get("Topic", {}).get("Value")) for d in manager["Displays"]}
    assert ("rviz_default_plugins/Image", "/depth/image") in displays
    assert ("rviz_default_plugins/PointCloud2", "/depth/points") in displays
    cloud = next(d for d in manager["Displays"]
                 if d["Class"] == "rviz_default_plugins/PointCloud2")
    assert cloud["Color Transformer"] == "RGB8" and cloud["Topic"]["Reliability Policy"] \
        == "Reliable"
    fixed = manager["Global Options"]["Fixed Frame"]
    assert fixed == DEFAULT_FRAME_ID == _launch_arguments(launch_tree)["rviz_fixed_frame"]
