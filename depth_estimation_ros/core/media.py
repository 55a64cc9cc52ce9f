"""Read image files and videos as RGB frames: decode, EXIF-orient, expand folders.

Every frame comes out as (H, W, 3) uint8 RGB; a file that cannot be read raises
:class:`InputError` naming it and what was expected.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".ppm", ".pgm"}
VIDEO_SUFFIXES = {".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg"}


class InputError(ValueError):
    """An input file cannot be read as an image or a video."""


def read_image(path: Path) -> np.ndarray:
    """Read an image file as (H, W, 3) uint8 RGB (EXIF orientation applied).

    Raises:
        InputError: not an image, a corrupt or truncated one, or one whose header claims
            more pixels than PIL's decompression-bomb limit.
    """
    from PIL import Image, ImageOps, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            return np.asarray(ImageOps.exif_transpose(im).convert("RGB"))
    except Image.DecompressionBombError as exc:
        raise InputError(f"{path} is too large to decode: {exc}") from exc
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, EOFError) as exc:
        # PIL's decoders report malformed data with any of these
        raise InputError(f"{path} is not a readable image ({exc}); expected PNG, JPEG, BMP, "
                         "TIFF or WebP") from exc


def video_frames(path: Path, every: int = 1) -> Iterator[tuple[int, np.ndarray]]:
    """Yield (frame index, (H, W, 3) uint8 RGB) for every ``every``-th frame of a video."""
    import cv2

    cap = cv2.VideoCapture(str(path))
    if not cap.isOpened():
        raise InputError(f"{path} is not a readable video; expected a file OpenCV can decode "
                         "(mp4, avi, mkv, ...)")
    try:
        index = 0
        while True:
            ok, bgr = cap.read()
            if not ok:
                break
            if index % every == 0:
                yield index, cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
            index += 1
        if index == 0:
            raise InputError(f"{path} contains no decodable video frames")
    finally:
        cap.release()


def video_frame_count(path: Path) -> int | None:
    """The frame count a video's container declares, or None when it declares none."""
    import cv2

    cap = cv2.VideoCapture(str(path))
    try:
        n = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
    finally:
        cap.release()
    return n if n > 0 else None


def frames_of(path: Path, every: int = 1) -> Iterator[tuple[str, np.ndarray]]:
    """Yield (output name, (H, W, 3) uint8 RGB) for an image file or each used video frame."""
    if path.suffix.lower() in VIDEO_SUFFIXES:
        for index, rgb in video_frames(path, every):
            yield f"{path.stem}_{index:06d}", rgb
    else:
        yield path.stem, read_image(path)


def expand_inputs(inputs: list[str]) -> list[Path]:
    """Files as given; folders expand to the images and videos inside them (sorted)."""
    paths: list[Path] = []
    for item in inputs:
        p = Path(item)
        if p.is_dir():
            paths += sorted(q for q in p.iterdir()
                            if q.suffix.lower() in IMAGE_SUFFIXES | VIDEO_SUFFIXES)
        elif p.is_file():
            paths.append(p)
        else:
            raise InputError(f"input {p} does not exist")
    if not paths:
        raise InputError("no input images or videos found")
    return paths
