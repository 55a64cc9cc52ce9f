"""7-Scenes / 3DMatch RGB-D sequences as a depth source (``frame-NNNNNN.color.jpg|png``,
``.depth.png``, ``.pose.txt`` and ``camera-intrinsics.txt``).

The layout of Microsoft's 7-Scenes and of 3DMatch's RGB-D scenes: a sequence folder holds,
per frame ``NNNNNN``,

- ``frame-NNNNNN.color.jpg`` (or ``.color.png``): the colour image;
- ``frame-NNNNNN.depth.png``: 16-bit depth in millimetres; 0 and 65535 mean no return;
- ``frame-NNNNNN.pose.txt``: the 4×4 camera-to-world matrix (metres), four rows of four;

and ``camera-intrinsics.txt`` (a 3×3 matrix ``fx 0 cx / 0 fy cy / 0 0 1``) lies in the
sequence folder or the scene folder above it (3DMatch). The path may also be a scene folder
whose ``seq-*`` subfolders are read one after the other. 7-Scenes itself ships no
intrinsics file; its Kinect's depth camera is fx = fy = 585, cx = 320, cy = 240 at 640×480,
which is used (with a log line) when no file and no ``fx`` is given.

**Registration.** Microsoft's 7-Scenes recorded colour and depth with the Kinect's two
cameras and did not register them: its depth images are in the *depth* camera (fx = fy = 585,
cx = 320, cy = 240 at 640×480 — the intrinsics it publishes, and what copies of it put in a
``camera-intrinsics.txt``), its colour images in the *colour* camera (fx = fy = 525, the
value the camera-relocalisation literature uses for 7-Scenes' RGB), about 2.6 cm to its side.
Taking the two as aligned gives the network the wrong focal length (585 instead of 525: an
11 % scale error through the focal-length rescale) and pairs each colour pixel with the depth
of a neighbouring ray (up to ~33 px apart at the image border). ``registration`` says what to
do:

- ``"7scenes"``: re-render each depth image in the colour camera
  (:func:`~depth_estimation_ros.core.camera.register_depth`, a z-buffer) with the Kinect
  calibration the 7-Scenes RGB-D literature uses (DSAC*, ACE: colour fx 525, and the
  depth-to-colour transform :data:`SEVEN_SCENES_DEPTH_TO_COLOUR`, from LIRIS's Kinect
  calibration); the depth camera is ``camera-intrinsics.txt`` or 7-Scenes' 585, the colour
  camera 525/525/320/240 (scaled to the image size) unless ``fx`` … are given. Colour pixels
  outside the depth camera's narrower view have no depth.
- ``"none"``: colour and depth are taken as registered, with the intrinsics of
  ``camera-intrinsics.txt`` (else 7-Scenes' 585) or ``fx`` … — 3DMatch's convention, and
  that of a recording whose depth is already aligned to colour.
- ``"auto"`` (the default): ``"7scenes"`` when the frames are 640×480, no ``fx`` is given
  and the depth camera is exactly 7-Scenes' (585, 585, 320, 240); otherwise ``"none"``. It
  logs which.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np

from depth_estimation_ros.core.camera import CameraInfoError, CameraIntrinsics, register_depth
from depth_estimation_ros.core.reporting import first_line
from depth_training.datasets.recording import (
    RecordingSource,
    given_intrinsics,
    read_colour,
    read_depth_file,
)
from depth_training.errors import DatasetError

__all__ = ["INTRINSICS_FILE", "REGISTRATIONS", "SEVEN_SCENES_COLOUR_INTRINSICS",
           "SEVEN_SCENES_DEPTH_TO_COLOUR", "SEVEN_SCENES_INTRINSICS", "SevenScenesRGBD",
           "read_intrinsics_file"]

log = logging.getLogger(__name__)

INTRINSICS_FILE = "camera-intrinsics.txt"
# 7-Scenes' Kinect depth camera at 640×480 (fx, fy, cx, cy), from the dataset's description
SEVEN_SCENES_INTRINSICS: tuple[float, float, float, float] = (585.0, 585.0, 320.0, 240.0)
# its colour camera at 640×480, as the 7-Scenes RGB-D literature takes it (DSAC*, ACE)
SEVEN_SCENES_COLOUR_INTRINSICS: tuple[float, float, float, float] = (525.0, 525.0, 320.0, 240.0)
# depth camera's optical frame -> colour camera's (metres): the Kinect calibration of LIRIS
# (projet.liris.cnrs.fr/voir/activities-dataset/kinect-calibration.html), which DSAC* and
# ACE use to register 7-Scenes' depth to its colour images
SEVEN_SCENES_DEPTH_TO_COLOUR = np.array([
    [9.9996518012567637e-01, 2.6765126468950343e-03, -7.9041012313000904e-03,
     -2.5558943178152542e-02],
    [-2.7409311281316700e-03, 9.9996302803027592e-01, -8.1504520778013286e-03,
     1.0109636268061706e-04],
    [7.8819942130445332e-03, 8.1718328771890631e-03, 9.9993554558014031e-01,
     2.0318321729487039e-03],
    [0.0, 0.0, 0.0, 1.0]])
SEVEN_SCENES_DEPTH_TO_COLOUR.flags.writeable = False
REGISTRATIONS: tuple[str, ...] = ("auto", "7scenes", "none")
SEVEN_SCENES_DEPTH_SCALE = 1e-3  # depth PNG value × this = metres (millimetres)
INVALID_DEPTH = 65535  # besides 0: no return
_COLOUR_SUFFIXES = (".color.jpg", ".color.png", ".color.jpeg")


def read_intrinsics_file(path: Path, width: int, height: int) -> CameraIntrinsics:
    """The camera of a ``camera-intrinsics.txt``: a 3×3 matrix, whitespace-separated rows.

    Raises:
        DatasetError: the file cannot be read or is not a 3×3 pinhole matrix.
    """
    expected = "expected three rows 'fx 0 cx', '0 fy cy', '0 0 1'"
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise DatasetError(f"{path} cannot be read ({first_line(exc)}); {expected}") from None
    rows = [line.split() for line in text.splitlines() if line.strip()]
    if [len(r) for r in rows] != [3, 3, 3]:
        raise DatasetError(f"{path} holds rows of {[len(r) for r in rows]} numbers, not a 3x3 "
                           f"intrinsics matrix; {expected}")
    try:
        k = np.array([[float(v) for v in row] for row in rows], dtype=np.float64)
    except ValueError as exc:
        raise DatasetError(f"{path} holds a value that is not a number ({first_line(exc)}); "
                           f"{expected}") from None
    if not np.isfinite(k).all() or not np.allclose(k[2], (0.0, 0.0, 1.0)) or k[1, 0] != 0:
        raise DatasetError(f"{path} holds {k.tolist()}, not a pinhole intrinsics matrix; "
                           f"{expected}")
    try:
        return CameraIntrinsics(fx=float(k[0, 0]), fy=float(k[1, 1]), cx=float(k[0, 2]),
                                cy=float(k[1, 2]), width=width, height=height)
    except CameraInfoError as exc:
        raise DatasetError(f"{path}: bad intrinsics: {exc}") from None


def _frames(folder: Path) -> list[tuple[str, Path]]:
    """(frame name, colour file) of the frames in ``folder``, sorted by name."""
    found: dict[str, Path] = {}
    for p in folder.iterdir():
        name = p.name.lower()
        for suffix in _COLOUR_SUFFIXES:
            if name.startswith("frame-") and name.endswith(suffix):
                found.setdefault(p.name[:-len(suffix)], p)
    return sorted(found.items())


class SevenScenesRGBD(RecordingSource):
    """A 7-Scenes / 3DMatch sequence (or a scene's ``seq-*`` sequences, in name order).

    Args:
        path: the sequence folder (``frame-*.color.jpg`` …) or a scene folder of ``seq-*``.
        fx, fy, cx, cy: colour intrinsics at the image resolution (fx 0 = registration
            "none": ``camera-intrinsics.txt``, else 7-Scenes' 585/585/320/240 at 640×480;
            "7scenes": 7-Scenes' colour camera, 525/525/320/240 at 640×480).
        depth_scale: metres per depth unit (0 = millimetres).
        cache_size: decoded pairs kept per process.
        registration: ``"auto"``, ``"7scenes"`` or ``"none"`` (the module's docstring).

    Raises:
        DatasetError: no frame, a frame without its depth, an unreadable intrinsics file, an
            unknown registration, a depth image whose size is not the colour image's.
    """

    kind = "7scenes"

    def __init__(self, path: str | os.PathLike[str], fx: float = 0.0, fy: float = 0.0,
                 cx: float = 0.0, cy: float = 0.0, depth_scale: float = 0.0,
                 cache_size: int = 64, registration: str = "auto") -> None:
        super().__init__(Path(path), cache_size)
        if registration not in REGISTRATIONS:
            raise DatasetError(f"unknown 7-Scenes registration {registration!r}; expected one "
                               f"of {', '.join(REGISTRATIONS)}")
        if not self.path.is_dir():
            raise DatasetError(f"7-Scenes/3DMatch folder {self.path} does not exist")
        folders = [self.path]
        if not _frames(self.path):
            folders = sorted(p for p in self.path.glob("seq-*") if p.is_dir())
        files: list[tuple[Path, Path]] = []
        for folder in folders:
            for name, colour in _frames(folder):
                depth = folder / f"{name}.depth.png"
                if not depth.is_file():
                    raise DatasetError(f"{colour} has no depth image {depth.name} beside it; "
                                       "expected the 7-Scenes layout frame-NNNNNN.color.jpg, "
                                       ".depth.png, .pose.txt")
                files.append((colour, depth))
        if not files:
            raise DatasetError(f"{self.path} holds no frame-NNNNNN.color.jpg/.png (nor seq-* "
                               "folders with them); expected the 7-Scenes / 3DMatch layout")
        self._files = files
        self.stamps = np.arange(len(files), dtype=np.float64)  # frame order
        self.depth_scale = depth_scale if depth_scale > 0 else SEVEN_SCENES_DEPTH_SCALE
        first = read_colour(files[0][0])
        self.height, self.width = first.shape[:2]
        colour = (given_intrinsics(fx, fy, cx, cy, self.width, self.height, str(self.path))
                  if fx > 0 else None)
        if registration == "auto" and colour is not None:
            registration = "none"  # a camera given for the colour images: taken as aligned
        depth_camera = (colour if colour is not None and registration == "none"
                        else self._camera(folders[0]))
        if registration == "auto":
            kinect = (depth_camera.fx, depth_camera.fy, depth_camera.cx,
                      depth_camera.cy) == SEVEN_SCENES_INTRINSICS
            registration = ("7scenes" if kinect and (self.width, self.height) == (640, 480)
                            else "none")
        self.registration = registration
        self._depth_camera = depth_camera
        if colour is None:
            colour = (self._scaled(SEVEN_SCENES_COLOUR_INTRINSICS) if registration == "7scenes"
                      else depth_camera)
        self._intrinsics = colour
        self._pair(0)  # the first frame decodes (and its depth fits), or this fails now
        how = ("depth registered to the colour camera (7-Scenes' Kinect calibration; depth "
               f"camera fx {self._depth_camera.fx:.1f})" if registration == "7scenes"
               else "colour and depth taken as registered")
        log.info(f"{self.path}: {len(self)} 7-Scenes frames in {len(folders)} sequence(s), "
                 f"{self.width}x{self.height}, colour fx {self._intrinsics.fx:.1f}; {how}")

    def _camera(self, first: Path) -> CameraIntrinsics:
        """The file's camera (``camera-intrinsics.txt``), else 7-Scenes' depth camera."""
        for folder in dict.fromkeys((first, self.path, self.path.parent)):
            candidate = folder / INTRINSICS_FILE
            if candidate.is_file():
                return read_intrinsics_file(candidate, self.width, self.height)
        log.info(f"{self.path}: no {INTRINSICS_FILE}; using 7-Scenes' Kinect (fx "
                 f"{SEVEN_SCENES_INTRINSICS[0]:g} at 640x480)")
        return self._scaled(SEVEN_SCENES_INTRINSICS)

    def _scaled(self, k640: tuple[float, float, float, float]) -> CameraIntrinsics:
        """``(fx, fy, cx, cy)`` at 640×480 scaled to the image size."""
        fx, fy, cx, cy = k640
        sx, sy = self.width / 640.0, self.height / 480.0
        return given_intrinsics(fx * sx, fy * sy, cx * sx, cy * sy, self.width, self.height,
                                str(self.path))

    def _load(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        colour, depth_path = self._files[i]
        raw = read_depth_file(depth_path)  # (H, W) uint16 millimetres
        depth = raw.astype(np.float32) * np.float32(self.depth_scale)
        depth[raw == INVALID_DEPTH] = 0.0
        rgb = read_colour(colour)
        if self.registration == "7scenes":
            if depth.shape != (self.height, self.width):
                raise DatasetError(f"{depth_path} is {depth.shape[1]}x{depth.shape[0]}, its "
                                   f"colour image {self.width}x{self.height}; registration "
                                   "expects both at one size")
            depth = register_depth(depth, self._depth_camera, self._intrinsics,
                                   SEVEN_SCENES_DEPTH_TO_COLOUR, fill=0.0)
        return rgb, depth

    def intrinsics(self, i: int) -> CameraIntrinsics:
        """The colour camera at the image resolution."""
        self._check_index(i)
        return self._intrinsics

    def pose(self, i: int) -> np.ndarray:
        """(4, 4) float64 camera-to-world of frame ``i`` (metres), from its ``.pose.txt``.

        Raises:
            DatasetError: the pose file is missing or not 4 rows of 4 numbers.
        """
        colour, _ = self._files[self._check_index(i)]
        path = colour.parent / f"{colour.name.split('.')[0]}.pose.txt"
        try:
            m = np.loadtxt(path, dtype=np.float64, ndmin=2)
        except (OSError, ValueError) as exc:
            raise DatasetError(f"pose file {path} cannot be read ({first_line(exc)}); "
                               "expected a 4x4 camera-to-world matrix") from None
        if m.shape != (4, 4):
            raise DatasetError(f"pose file {path} holds a {m.shape[0]}x{m.shape[1]} matrix; "
                               "expected 4x4 camera-to-world")
        return m

    def __repr__(self) -> str:
        return (f"SevenScenesRGBD({str(self.path)!r}, n={len(self)}, "
                f"{self.width}x{self.height}, registration={self.registration!r})")
