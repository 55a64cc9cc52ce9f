"""Atomic file writes: write to a temporary name in the target folder, then rename.

A crash, a full disk or an exception mid-write never leaves a half-written file under the
real name (checkpoints, PLY clouds, PNGs, NYU-layout files, summaries all go through here).
"""

from __future__ import annotations

import errno
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def atomic_path(path: str | os.PathLike[str], fsync: bool = True) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` if the block succeeds.

    Args:
        path: the final file name.
        fsync: flush the temporary file to disk before the rename (durable across a crash).

    Raises:
        FileNotFoundError: the destination folder does not exist.
    """
    path = Path(path)
    if not path.parent.is_dir():
        raise FileNotFoundError(f"cannot write {path}: folder {path.parent} does not exist")
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(name)
    os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; give what open() would
    try:
        yield tmp
        if fsync:
            with open(tmp, "rb+") as f:
                os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _umask() -> int:
    mask = os.umask(0o022)  # read it by setting it, then restore it
    os.umask(mask)
    return mask


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes | memoryview) -> Path:
    """Write ``data`` to ``path`` atomically; return the path."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def atomic_write_text(path: str | os.PathLike[str], text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically; return the path."""
    return atomic_write_bytes(path, text.encode("utf-8"))


def ensure_writable_folder(folder: str | os.PathLike[str], create: bool = True) -> Path:
    """Make sure files can be written in ``folder`` (created first when ``create``): a tool
    checks this before its work, not after it.

    Raises:
        OSError: it is a file, cannot be created, or is not writable (``strerror`` says why).
    """
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise NotADirectoryError(errno.ENOTDIR, "it is a file, not a folder")
    if create:
        folder.mkdir(parents=True, exist_ok=True)
    elif not folder.is_dir():
        raise FileNotFoundError(errno.ENOENT, f"folder {folder} does not exist")
    fd, probe = tempfile.mkstemp(prefix=".write_test.", suffix=".tmp", dir=folder)
    os.close(fd)
    os.unlink(probe)
    return folder
