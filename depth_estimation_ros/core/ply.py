"""PLY point clouds: binary little-endian writer (atomic) and a reader for what it writes.

Only finite points are written; colours, when given, become ``red green blue`` uchar
properties (what MeshLab, CloudCompare and Open3D read).
"""

import os
from pathlib import Path

import numpy as np

from depth_estimation_ros.core.atomic import atomic_write_bytes

__all__ = ["PlyError", "read_ply", "write_ply"]

_XYZ = [("x", "<f4"), ("y", "<f4"), ("z", "<f4")]
_RGB = [("red", "u1"), ("green", "u1"), ("blue", "u1")]
_PLY_TYPES = {"char": "i1", "int8": "i1", "uchar": "u1", "uint8": "u1", "short": "<i2",
              "int16": "<i2", "ushort": "<u2", "uint16": "<u2", "int": "<i4", "int32": "<i4",
              "uint": "<u4", "uint32": "<u4", "float": "<f4", "float32": "<f4",
              "double": "<f8", "float64": "<f8"}


class PlyError(ValueError):
    """Points/colours of the wrong shape, or a PLY file this module cannot read."""


def write_ply(path: str | os.PathLike, xyz: np.ndarray, rgb: np.ndarray | None = None) -> int:
    """Write the finite points of ``xyz`` (and their colours) as a binary PLY.

    Args:
        path: output file; written to a temporary name in the same directory, then renamed.
        xyz: ``(..., 3)`` points in metres, e.g. an organised ``(H, W, 3)`` grid with NaNs.
        rgb: optional ``(..., 3)`` uint8 colours with the same leading shape.

    Returns:
        Number of points written.

    Raises:
        PlyError: wrong shapes or dtypes.
        OSError: the file cannot be written.
    """
    xyz = np.asarray(xyz)
    if xyz.ndim < 1 or xyz.shape[-1] != 3 or xyz.dtype.kind not in "fiu":
        raise PlyError(f"points array is {xyz.shape} {xyz.dtype}; expected (..., 3) numbers")
    points = xyz.reshape(-1, 3)
    keep = np.isfinite(points).all(axis=1)
    colours = None
    if rgb is not None:
        rgb = np.asarray(rgb)
        if rgb.shape != xyz.shape or rgb.dtype != np.uint8:
            raise PlyError(
                f"colours array is {rgb.shape} {rgb.dtype}; expected {xyz.shape} uint8 to match "
                "the points"
            )
        colours = rgb.reshape(-1, 3)[keep]
    points = points[keep]
    vertex = np.empty(len(points), dtype=_XYZ + (_RGB if colours is not None else []))
    vertex["x"], vertex["y"], vertex["z"] = points[:, 0], points[:, 1], points[:, 2]
    props = ["property float x", "property float y", "property float z"]
    if colours is not None:
        vertex["red"], vertex["green"], vertex["blue"] = colours.T
        props += ["property uchar red", "property uchar green", "property uchar blue"]
    header = "\n".join([
        "ply", "format binary_little_endian 1.0", "comment written by depth_estimation_ros",
        f"element vertex {len(points)}", *props, "end_header",
    ]) + "\n"
    atomic_write_bytes(path, header.encode("ascii") + vertex.tobytes())
    return len(points)


def read_ply(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray | None]:
    """Read the vertices of a binary little-endian PLY (scalar vertex properties only).

    Returns:
        ``(xyz, rgb)``: ``(N, 3)`` float32 and ``(N, 3)`` uint8 or None without colours.

    Raises:
        PlyError: not a PLY, another format, list properties, or a truncated file.
    """
    raw = Path(path).read_bytes()
    end = raw.find(b"end_header\n")
    if not raw.startswith(b"ply\n") or end < 0:
        raise PlyError(f"{path} is not a PLY file (no 'ply' magic or 'end_header')")
    lines = raw[:end].decode("ascii", "replace").splitlines()
    if "format binary_little_endian 1.0" not in lines:
        raise PlyError(f"{path} is not binary_little_endian 1.0; only that format is read")
    count, fields, element = 0, [], None
    for line in lines:
        words = line.split()
        if words[:1] == ["element"]:
            if element == "vertex":
                break  # vertices come first in the files we read
            element = words[1]
            count = int(words[2]) if element == "vertex" else count
        elif words[:1] == ["property"] and element == "vertex":
            if words[1] == "list" or words[1] not in _PLY_TYPES:
                raise PlyError(f"{path}: vertex property {' '.join(words[1:])!r} unsupported")
            fields.append((words[2], _PLY_TYPES[words[1]]))
    dtype = np.dtype(fields)
    body = raw[end + len(b"end_header\n"):]
    if len(body) < count * dtype.itemsize:
        raise PlyError(f"{path} is truncated: {count} vertices need {count * dtype.itemsize} B")
    vertex = np.frombuffer(body, dtype=dtype, count=count)
    xyz = np.stack([vertex["x"], vertex["y"], vertex["z"]], axis=1).astype(np.float32)
    names = dtype.names or ()
    rgb = None
    if {"red", "green", "blue"} <= set(names):
        rgb = np.stack([vertex["red"], vertex["green"], vertex["blue"]], axis=1).astype(np.uint8)
    return xyz, rgb
