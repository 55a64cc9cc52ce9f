"""The README figure script: composition on a tiny rendered scene, and the full command chain."""

import importlib.util
from pathlib import Path

import numpy as np
from PIL import Image

from depth_estimation_ros.core.camera import backproject
from depth_estimation_ros.sim import render_scene

ROOT = Path(__file__).resolve().parents[1]


def _script():
    spec = importlib.util.spec_from_file_location(
        "make_readme_figure", ROOT / "scripts" / "make_readme_figure.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_compose_writes_a_png_of_the_requested_size(tmp_path: Path) -> None:
    script = _script()
    frame = render_scene(3, 64, 48)
    xyz = backproject(frame.depth, frame.intrinsics).reshape(-1, 3)  # (N, 3) metres
    colours = frame.rgb.reshape(-1, 3)
    out = script.compose(frame.rgb, frame.depth.astype(np.float32), frame.intrinsics, xyz,
                         colours, tmp_path / "figs" / "overview.png",
                         exact=frame.depth, size=(420, 140), dpi=50)
    assert out == tmp_path / "figs" / "overview.png"
    with Image.open(out) as image:
        assert image.format == "PNG" and image.size == (420, 140)
    assert [p.name for p in out.parent.iterdir()] == ["overview.png"]  # no temporary left


def test_script_renders_estimates_and_composes(tmp_path: Path) -> None:
    script = _script()
    out = tmp_path / "overview.png"
    assert script.main(["--seed", "1", "--width", "96", "--height", "72", "--size", "480x150",
                        "--dpi", "50", "-o", str(out), "--workdir", str(tmp_path / "w")]) == 0
    names = {p.name for p in (tmp_path / "w").iterdir()}
    assert {"frame.png", "frame.npy", "frame.ply", "frame_depth.png"} <= names
    with Image.open(out) as image:
        assert image.size == (480, 150)
    assert out.stat().st_size < 250_000
