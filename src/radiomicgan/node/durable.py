"""Writes that survive a crash, power loss included, once they return: the spool's promise to senders.

`io.atomic` makes a write whole or absent; these also make it durable (fsync of the file and of the
folder that names it), which a node needs before it may answer a C-STORE with success.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path


def write_durably(path: Path, data: bytes) -> None:
    """Write `data` to `path` so that it survives a crash once this returns.

    A hidden temporary sibling is written and fsynced, renamed onto `path`, and the folder fsynced, so
    `path` holds the old bytes or the new ones, whole, whatever happens.

    Raises:
        OSError: the file cannot be written (the temporary is removed).
    """
    temporary = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        with open(temporary, "xb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)
    fsync_dir(path.parent)


def fsync_file(path: Path) -> None:
    """Flush a file written earlier (without fsync) to the disk."""
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def fsync_dir(folder: Path) -> None:
    """Make the names in `folder` (created, renamed, removed) durable."""
    descriptor = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
