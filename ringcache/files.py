"""Atomic file writes: the one way the node replaces a file on disk
(snapshots, the append-only file's base and manifest, CONFIG REWRITE).

A reader (a restarting node, an operator's editor) must see either the old
file or the new one, never half of each, even after a crash. So the data is
written to a temporary file in the same directory, flushed and fsynced, then
renamed over the target (rename is atomic within a file system), and the
directory is fsynced so that the rename itself survives a power loss. The
temporary file is removed if anything fails before the rename.
"""

from __future__ import annotations

import os
from typing import Iterable


def write_atomically(path: str, chunks: Iterable[bytes], *, temp_path: str | None = None,
                     keep_mode: bool = False) -> int:
    """Replace path with the concatenated chunks; returns the bytes written.
    temp_path: the temporary file (default: beside path, named after this
    process); keep_mode: give the new file the old one's permissions."""
    directory = os.path.dirname(os.path.abspath(path))
    temp = temp_path or f"{path}.tmp-{os.getpid()}"
    size = 0
    try:
        with open(temp, "wb") as f:
            for chunk in chunks:
                f.write(chunk)
                size += len(chunk)
            f.flush()
            os.fsync(f.fileno())
        if keep_mode:
            try:
                os.chmod(temp, os.stat(path).st_mode & 0o7777)
            except FileNotFoundError:
                pass
        os.replace(temp, path)
    except BaseException:
        try:
            os.unlink(temp)
        except OSError:
            pass
        raise
    fsync_dir(directory)
    return size


def fsync_dir(path: str) -> None:
    """fsync a directory, so that a rename or a new file in it is durable."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
