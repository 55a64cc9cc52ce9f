"""The tree shows the architecture: what each subpackage may import, and what the package
re-exports.

The core is imported in a fresh interpreter in which rclpy, cyclonedds and every ROS message
package are made unimportable (a meta-path finder refuses them), so adding such an import to a
core module fails here even on a machine that has ROS 2 or cyclonedds installed.
"""

from __future__ import annotations

import ast
import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

import depth_estimation_ros

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "depth_estimation_ros"
ROS = ("rclpy", "rcl_interfaces", "sensor_msgs", "std_msgs", "builtin_interfaces",
       "diagnostic_msgs", "geometry_msgs", "tf2_msgs", "tf2_ros", "lifecycle_msgs", "launch",
       "launch_ros", "cv_bridge", "ament_index_python", "rosidl_runtime_py")
COMMANDS = {"demo", "estimate", "standalone", "synthetic_camera", "record", "bag", "benchmark",
            "export"}

# a fresh interpreter that refuses ROS, cyclonedds and the sibling subpackages, then imports
# every module of the subpackage under test
_BLOCKED_IMPORT = """
import importlib, pkgutil, sys
from importlib.abc import MetaPathFinder

BLOCKED = {blocked!r}

class Refuse(MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED or any(
                name == b or name.startswith(b + ".") for b in BLOCKED):
            raise ModuleNotFoundError(f"blocked for this test: {{name}}", name=name)
        return None

sys.meta_path.insert(0, Refuse())
package = importlib.import_module({package!r})
for info in pkgutil.walk_packages(package.__path__, {package!r} + "."):
    importlib.import_module(info.name)
print("ok")
"""


def _import_with_blocked(package: str, blocked: set[str]) -> subprocess.CompletedProcess:
    code = _BLOCKED_IMPORT.format(blocked=sorted(blocked), package=package)
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)


SIBLINGS = {"depth_estimation_ros.node", "depth_estimation_ros.ros", "depth_estimation_ros.dds",
            "depth_estimation_ros.sim", "depth_training"}


@pytest.mark.parametrize(("package", "blocked"), [
    ("depth_estimation_ros.core", {*ROS, "cyclonedds", *SIBLINGS}),
    ("depth_estimation_ros.node", {*ROS, "cyclonedds", "depth_estimation_ros.ros",
                                   "depth_estimation_ros.dds", "depth_training"}),
    ("depth_estimation_ros.sim", {*ROS, "cyclonedds", "depth_estimation_ros.node",
                                  "depth_estimation_ros.ros", "depth_estimation_ros.dds",
                                  "depth_training"}),
    # the benchmark's machinery times core, node, dds and sim; never the rclpy shells
    ("depth_estimation_ros.bench", {*ROS, "depth_estimation_ros.ros", "depth_training"}),
])
def test_subpackage_imports_without_what_it_must_not_use(package: str, blocked: set[str]) -> None:
    result = _import_with_blocked(package, blocked)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == "ok"


def test_the_blocking_catches_a_forbidden_import(tmp_path: Path) -> None:
    """The harness itself: a module that imports rclpy fails to import under it."""
    pkg = tmp_path / "probe_pkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "uses_ros.py").write_text("import rclpy  # noqa: F401\n")
    code = _BLOCKED_IMPORT.format(blocked=sorted(ROS), package="probe_pkg")
    result = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True,
                            text=True, timeout=60)
    assert result.returncode != 0 and "blocked for this test: rclpy" in result.stderr


def test_rclpy_only_under_ros() -> None:
    for path in PACKAGE.rglob("*.py"):
        rel = path.relative_to(PACKAGE)
        ros = {n for n in _all_imports(path) if n.split(".")[0] in ROS}
        if rel.parts[0] != "ros":
            assert not ros, f"{rel} imports {sorted(ros)}; ROS imports belong under ros/"


def test_cyclonedds_only_under_dds_and_the_commands() -> None:
    for path in PACKAGE.rglob("*.py"):
        rel = path.relative_to(PACKAGE)
        if rel.parts[0] == "dds" or (len(rel.parts) == 1 and rel.stem in COMMANDS):
            continue
        assert not {n for n in _all_imports(path) if n.split(".")[0] == "cyclonedds"}, rel


def test_top_level_holds_only_commands() -> None:
    modules = {p.stem for p in PACKAGE.glob("*.py")} - {"__init__"}
    assert modules == COMMANDS, modules ^ COMMANDS
    for name in COMMANDS:
        tree = ast.parse((PACKAGE / f"{name}.py").read_text())
        assert any(isinstance(n, ast.FunctionDef) and n.name == "main" for n in tree.body), name


def test_every_module_opens_with_a_docstring() -> None:
    for info in pkgutil.walk_packages(depth_estimation_ros.__path__, "depth_estimation_ros."):
        path = Path(info.module_finder.path) / (
            info.name.rsplit(".", 1)[1] + ("/__init__.py" if info.ispkg else ".py"))
        doc = ast.get_docstring(ast.parse(path.read_text()))
        assert doc and len(doc.split()) >= 5, f"{info.name} has no opening docstring"


def test_package_reexports_the_user_api_lazily() -> None:
    code = ("import sys, depth_estimation_ros as d\n"
            "assert 'torch' not in sys.modules, 'importing the package imported torch'\n"
            "from depth_estimation_ros import DepthEstimator, MultiScaleDepthNet, "
            "load_checkpoint\n"
            "from depth_estimation_ros.core.estimator import DepthEstimator as E\n"
            "assert DepthEstimator is E and 'torch' in sys.modules\n"
            "print(sorted(d.__all__))\n")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        depth_estimation_ros.nope  # noqa: B018


TRAINING = ROOT / "depth_training"
# the training loop's parts and the commands: a data source must not need any of them
TRAINING_LOOP = {"train", "evaluate", "recipe", "optim", "init_weights", "run_state", "run_log",
                 "validation", "distributed", "precision", "evaluation", "report"}


def _all_imports(path: Path) -> set[str]:
    """Imported module names, also those imported inside functions, ``from x import y`` as
    both ``x`` and ``x.y``."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def test_training_uses_the_core_and_the_renderer_package_only() -> None:
    """depth_training reads depth_estimation_ros.core and the renderer's package-level names
    (sim/'s modules may be split), never the node, ROS or DDS layers."""
    for path in TRAINING.rglob("*.py"):
        rel = path.relative_to(ROOT)
        for name in _all_imports(path):
            if not name.startswith("depth_estimation_ros."):
                continue
            parts = name.split(".")
            assert parts[1] in ("core", "sim"), f"{rel} imports {name}"
            if parts[1] == "sim":
                assert len(parts) == 2 or parts[2] in ("PhotoTextures", "SyntheticFrame",
                                                       "SyntheticScene", "render_scene"), (
                    f"{rel} imports {name}; use `from depth_estimation_ros.sim import ...`")


def test_data_sources_do_not_need_the_training_loop() -> None:
    for path in (TRAINING / "datasets").glob("*.py"):
        loop = {n for n in _all_imports(path) if n.startswith("depth_training.")
                and n.split(".")[1] in TRAINING_LOOP}
        assert not loop, f"datasets/{path.name} imports {sorted(loop)}"


def test_every_training_module_says_its_job() -> None:
    for path in TRAINING.rglob("*.py"):
        assert ast.get_docstring(ast.parse(path.read_text())), path.relative_to(ROOT)
