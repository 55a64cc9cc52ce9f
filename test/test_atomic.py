"""Atomic writes: the real name only ever holds a complete file."""

import os
from pathlib import Path

import pytest

from depth_estimation_ros.core.atomic import atomic_path, atomic_write_text, ensure_writable_folder


def test_success_renames_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "out.txt"
    atomic_write_text(target, "v1")
    atomic_write_text(target, "v2")
    assert target.read_text() == "v2"
    assert [p.name for p in tmp_path.iterdir()] == ["out.txt"]


def test_failure_keeps_the_old_file_and_removes_the_temporary(tmp_path):
    target = tmp_path / "out.txt"
    target.write_text("complete")
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("crash mid-write")
    assert target.read_text() == "complete"
    assert [p.name for p in tmp_path.iterdir()] == ["out.txt"]


def test_missing_folder_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        atomic_write_text(tmp_path / "nope" / "x.txt", "x")


def test_permissions_follow_the_umask_not_mkstemp(tmp_path):
    import os

    old = os.umask(0o022)
    try:
        target = atomic_write_text(tmp_path / "shared.txt", "x")
    finally:
        os.umask(old)
    assert target.stat().st_mode & 0o777 == 0o644


def test_ensure_writable_folder(tmp_path: Path) -> None:
    made = ensure_writable_folder(tmp_path / "a" / "b")
    assert made.is_dir() and list(made.iterdir()) == []  # the probe file is gone
    (tmp_path / "file").write_text("x")
    with pytest.raises(NotADirectoryError):
        ensure_writable_folder(tmp_path / "file")
    with pytest.raises(FileNotFoundError):
        ensure_writable_folder(tmp_path / "missing", create=False)
    assert not (tmp_path / "missing").exists()
    if os.geteuid() != 0:  # root writes anywhere
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o500)
        with pytest.raises(PermissionError):
            ensure_writable_folder(locked)
