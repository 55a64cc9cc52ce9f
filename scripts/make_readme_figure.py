"""Make the README's overview figure (docs/images/overview.png) with the project's own commands.

    PYTHONPATH=. python scripts/make_readme_figure.py          # seed 20, 640x480

It is this command sequence, with the files kept in ``--workdir`` (a temporary folder unless
given):

1. render a synthetic room frame: ``SyntheticScene.random(SEED).render(width=640,
   height=480)``, written as ``WORK/frame.png`` and its exact depth ``WORK/frame_exact.npy``
   (no command renders one frame to a file; the synthetic camera publishes on DDS);
2. ``python -m depth_estimation_ros.estimate WORK/frame.png -o WORK --ply --fx FX --fy FY
   --cx CX --cy CY -q`` with the shipped weights, which writes ``WORK/frame.npy`` (metres),
   ``WORK/frame_depth.png`` and ``WORK/frame.ply``;
3. compose (this module's :func:`compose`, matplotlib Agg): the camera frame with the scan
   row marked, the predicted depth with a colour bar in metres (``--truth`` adds the exact
   rendered depth beside it, on the same scale), and the PLY cloud seen from above with
   range rings, the field of view and the laser scan ``core.standin.depth_to_scan`` makes
   from the predicted depth as a red line. The PNG (1400x420 at dpi 100 by default) is
   palette-quantised (256 colours, dithered) to stay small, about 125 kB, and written
   atomically.
"""

from __future__ import annotations

import argparse
import io
import logging
import subprocess
import sys
import tempfile
from pathlib import Path

import cv2
import matplotlib
import numpy as np

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (after the backend is chosen)
from PIL import Image  # noqa: E402

from depth_estimation_ros.core.atomic import atomic_path  # noqa: E402
from depth_estimation_ros.core.camera import CameraIntrinsics  # noqa: E402
from depth_estimation_ros.core.ply import read_ply  # noqa: E402
from depth_estimation_ros.core.standin import ScanConfig, depth_to_scan  # noqa: E402
from depth_estimation_ros.core.visualize import DEFAULT_CMAP  # noqa: E402

_LOG = logging.getLogger("make_readme_figure")

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = ROOT / "docs" / "images" / "overview.png"
DEFAULT_SEED = 20  # an office: two desks, chairs, a monitor and a plant in view
CLOUD_POINTS = 60_000  # points drawn in the cloud panel (a random subset of the PLY's)
POINT_SIZE = 2.0  # marker area, points^2
PALETTE = 256  # colours kept by the PNG quantisation
DITHER = Image.Dither.FLOYDSTEINBERG  # hides the palette's banding in the depth gradient


def render_frame(seed: int, width: int, height: int,
                 workdir: Path) -> tuple[Path, np.ndarray, CameraIntrinsics]:
    """Render scene ``seed``; write ``frame.png`` and ``frame_exact.npy`` into ``workdir``.

    Returns:
        The PNG's path, the exact (H, W) float32 depth in metres, and the camera.
    """
    from depth_estimation_ros.sim import render_scene

    frame = render_scene(seed, width, height)
    image = workdir / "frame.png"
    if not cv2.imwrite(str(image), frame.rgb[..., ::-1]):
        raise OSError(f"could not write {image}")
    exact = frame.depth.astype(np.float32)
    np.save(workdir / "frame_exact.npy", exact)
    return image, exact, frame.intrinsics


def run_estimate(image: Path, workdir: Path, camera: CameraIntrinsics,
                 checkpoint: str | None = None, device: str = "cpu") -> None:
    """Run ``python -m depth_estimation_ros.estimate`` on ``image`` (depth, PNG and PLY)."""
    command = [sys.executable, "-m", "depth_estimation_ros.estimate", str(image),
               "-o", str(workdir), "--ply", "--device", device, "-q",
               "--fx", repr(camera.fx), "--fy", repr(camera.fy),
               "--cx", repr(camera.cx), "--cy", repr(camera.cy)]
    if checkpoint:
        command += ["--checkpoint", checkpoint]
    _LOG.info("running %s", " ".join(command[1:]))
    subprocess.run(command, check=True, cwd=ROOT)


def _scan_points(depth: np.ndarray, camera: CameraIntrinsics) -> np.ndarray:
    """(N, 2) finite scan returns as (right, forward) metres in the camera's frame."""
    scan = depth_to_scan(depth, camera, ScanConfig())
    theta = scan.angle_min + scan.angle_increment * np.arange(len(scan.ranges))
    ok = np.isfinite(scan.ranges)
    r = scan.ranges[ok].astype(np.float64)
    # scan frame: x forward, y left (angles counter-clockwise); optical x is right
    return np.stack([-r * np.sin(theta[ok]), r * np.cos(theta[ok])], axis=1)


def _panel_off(ax: plt.Axes) -> None:
    ax.set_xticks([])
    ax.set_yticks([])
    for spine in ax.spines.values():
        spine.set_visible(False)


def compose(rgb: np.ndarray, depth: np.ndarray, camera: CameraIntrinsics, xyz: np.ndarray,
            colours: np.ndarray, out: Path, exact: np.ndarray | None = None,
            size: tuple[int, int] = (1400, 420), dpi: int = 100, seed: int = 0) -> Path:
    """Draw the overview figure and write it to ``out`` (atomically) as a quantised PNG.

    Args:
        rgb: (H, W, 3) uint8 camera frame.
        depth: (H, W) float32 predicted depth, metres (NaN invalid).
        camera: intrinsics of ``rgb`` and ``depth``.
        xyz: (N, 3) float32 cloud in the optical frame (x right, y down, z forward), metres.
        colours: (N, 3) uint8 colours of the cloud.
        out: PNG path; its folder is created.
        exact: (H, W) exact depth to show beside the prediction; None leaves that panel out.
        size: figure (width, height) in pixels.
        dpi: dots per inch (fonts scale with it).
        seed: for the random subset of cloud points drawn.
    """
    height, width = depth.shape
    if rgb.shape != (height, width, 3) or rgb.dtype != np.uint8:
        raise ValueError(f"camera frame is {rgb.shape} {rgb.dtype}; expected ({height}, "
                         f"{width}, 3) uint8 to match the depth")
    if xyz.ndim != 2 or xyz.shape[1] != 3 or colours.shape != xyz.shape:
        raise ValueError(f"cloud is {xyz.shape} with colours {colours.shape}; expected (N, 3) "
                         "points and (N, 3) colours")
    depths = [depth] if exact is None else [depth, exact]
    valid = np.concatenate([d[np.isfinite(d)] for d in depths])
    vmin, vmax = (float(v) for v in np.percentile(valid, [1, 99]))
    scan_row = (height - 1) * ScanConfig().offset

    fig = plt.figure(figsize=(size[0] / dpi, size[1] / dpi), dpi=dpi)
    aspect = width / height
    # image panels keep the frame's aspect; the cloud panel is wider
    ratios = [aspect] * len(depths) + [aspect, 0.06 * aspect, 1.3 * aspect]
    grid = fig.add_gridspec(1, len(ratios), width_ratios=ratios, left=0.005, right=0.995,
                            bottom=0.02, top=0.88, wspace=0.04)
    ax = fig.add_subplot(grid[0, 0])
    ax.imshow(rgb, interpolation="antialiased")
    ax.axhline(scan_row, color="red", lw=1.0, ls=(0, (4, 3)))
    ax.set_title("camera frame (rendered room)\n- - - laser-scan row", fontsize=10)
    _panel_off(ax)
    titles = ["predicted depth (shipped model)", "exact depth (renderer)"]
    image = None
    for i, d in enumerate(depths):
        ax = fig.add_subplot(grid[0, 1 + i])
        image = ax.imshow(np.ma.masked_invalid(d), cmap=DEFAULT_CMAP, vmin=vmin, vmax=vmax,
                          interpolation="antialiased")
        ax.set_title(titles[i], fontsize=10)
        _panel_off(ax)
    bar_ax = fig.add_subplot(grid[0, 1 + len(depths)])
    bar = fig.colorbar(image, cax=bar_ax)
    bar.set_label("depth (m)", fontsize=9)
    bar.ax.tick_params(labelsize=8)
    # two-character tick labels, so the label stays clear of the cloud panel beside it
    step = 0.5 if vmax - vmin > 1.0 else 0.2
    bar.ax.yaxis.set_major_locator(matplotlib.ticker.MultipleLocator(step))
    bar.ax.yaxis.set_major_formatter(matplotlib.ticker.FormatStrFormatter("%.1f"))
    pos = bar_ax.get_position()  # a slimmer, shorter bar, centred on the depth panels
    bar_ax.set_position([pos.x0, pos.y0 + 0.08 * pos.height, pos.width * 0.45,
                         pos.height * 0.84])

    ax = fig.add_subplot(grid[0, -1])
    _draw_top_down(ax, depth, camera, xyz, colours, seed)

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    plt.close(fig)
    picture = Image.open(buffer).convert("RGB")
    small = picture.quantize(colors=PALETTE, method=Image.Quantize.MEDIANCUT,
                             dither=DITHER)
    out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(out) as tmp:
        small.save(tmp, format="PNG", optimize=True)
    return out


def _draw_top_down(ax: plt.Axes, depth: np.ndarray, camera: CameraIntrinsics, xyz: np.ndarray,
                   colours: np.ndarray, seed: int) -> None:
    """The cloud from above (right, forward), the camera's field of view and the scan."""
    rng = np.random.default_rng(seed)
    keep = rng.choice(len(xyz), size=min(CLOUD_POINTS, len(xyz)), replace=False)
    pts, cols = xyz[keep], colours[keep]
    order = np.argsort(-pts[:, 1])  # floor (largest optical y) first, higher points on top
    ax.scatter(pts[order, 0], pts[order, 2], c=cols[order] / 255.0, s=POINT_SIZE,
               marker=".", linewidths=0, rasterized=True)
    scan = _scan_points(depth, camera)
    far = float(np.percentile(pts[:, 2], 99.5)) if len(pts) else 1.0
    for ring in range(1, int(far) + 1):  # range rings every metre, as on a LIDAR display
        angle = np.linspace(0.0, np.pi, 181)
        ax.plot(ring * np.cos(angle), ring * np.sin(angle), color="0.82", lw=0.6, zorder=0)
        if ring * 0.77 < 0.62 * far:  # labels that fit inside the panel
            ax.text(ring * 0.77 + 0.04, ring * 0.64, f"{ring} m", color="0.55", fontsize=7)
    for u in (0.0, camera.width - 1.0):  # field of view edges
        x = (u - camera.cx) / camera.fx
        ax.plot([0.0, x * far], [0.0, far], color="0.45", lw=0.8, ls=(0, (3, 3)))
    if len(scan):
        ax.plot(scan[:, 0], scan[:, 1], color="red", lw=2.0, label="laser scan")
    ax.plot([0.0], [0.0], marker="^", ms=9, color="black", ls="none", label="camera")
    ax.set_aspect("equal")
    span = max(far, 1e-3)
    ax.set_xlim(-0.75 * span, 0.75 * span)
    ax.set_ylim(-0.08 * span, 1.05 * span)
    ax.set_title("point cloud from above + laser scan", fontsize=10)
    ax.legend(loc="lower right", fontsize=8, frameon=False, handlelength=1.5)
    _panel_off(ax)


def make_figure(seed: int, width: int, height: int, out: Path, workdir: Path,
                checkpoint: str | None = None, device: str = "cpu", truth: bool = False,
                size: tuple[int, int] = (1400, 420), dpi: int = 100) -> Path:
    """Render, estimate with the command, compose; return the written PNG's path."""
    image, exact, camera = render_frame(seed, width, height, workdir)
    run_estimate(image, workdir, camera, checkpoint, device)
    depth = np.load(workdir / "frame.npy")
    xyz, colours = read_ply(workdir / "frame.ply")
    if colours is None:
        raise ValueError(f"{workdir / 'frame.ply'} has no colours; expected the estimate "
                         "command's coloured cloud")
    rgb = cv2.imread(str(image))[..., ::-1].copy()
    return compose(rgb, depth, camera, xyz, colours, out, exact if truth else None, size, dpi,
                   seed)


def _size(text: str) -> tuple[int, int]:
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"size {text!r} is not WIDTHxHEIGHT, e.g. 1400x420") from None
    if w < 64 or h < 32:
        raise argparse.ArgumentTypeError(f"size {text!r} is too small; at least 64x32 pixels")
    return w, h


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seed", type=int, default=DEFAULT_SEED, help="scene seed")
    p.add_argument("--width", type=int, default=640, help="camera frame width, pixels")
    p.add_argument("--height", type=int, default=480, help="camera frame height, pixels")
    p.add_argument("-o", "--out", type=Path, default=DEFAULT_OUT, help="output PNG")
    p.add_argument("--size", type=_size, default=(1400, 420),
                   help="figure size in pixels, WIDTHxHEIGHT (default 1400x420)")
    p.add_argument("--dpi", type=int, default=100, help="figure dots per inch")
    p.add_argument("--truth", action="store_true",
                   help="add the exact rendered depth beside the prediction (widen --size)")
    p.add_argument("--checkpoint", default=None, help="checkpoint (default: shipped weights)")
    p.add_argument("--device", default="cpu", help="auto, cpu, cuda or cuda:N (default cpu)")
    p.add_argument("--workdir", type=Path, default=None,
                   help="keep the intermediate files here (default: a temporary folder)")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if args.seed < 0 or args.width < 16 or args.height < 16:
        p.error("--seed must be >= 0 and --width/--height at least 16 pixels")
    with tempfile.TemporaryDirectory() as tmp:
        workdir = args.workdir or Path(tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        out = make_figure(args.seed, args.width, args.height, args.out, workdir,
                          args.checkpoint, args.device, args.truth, args.size,
                          args.dpi)
    _LOG.info("wrote %s (%d bytes)", out, out.stat().st_size)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
