"""Output checks and all-or-nothing writes.

Writers fill a hidden temporary sibling of the output and rename it into place only when every file
is written, so a crash or a full disk never leaves a half series where a reader would pick it up
(discovery skips hidden names). Renames within one folder stay on one file system, hence atomic.

Replacing is for radiomicgan's own outputs only (`ownership`): a folder written here gets a marker
listing what it holds, and an existing output holding anything else is refused, not deleted.
"""

from __future__ import annotations

import glob
import os
import shutil
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

from radiomicgan.errors import OutputError
from radiomicgan.io.ownership import check_replaceable, write_marker


def check_output(out: Path, *, overwrite: bool, inputs: Iterable[Path], is_dir: bool) -> None:
    """Refuse an output that exists (unless `overwrite`) or that would clobber the input.

    An empty folder is no output yet: a series or a tree may be written into a folder made ready for it.
    `overwrite` replaces only what radiomicgan wrote (`ownership.check_replaceable`).

    Args:
        out: the output folder (`is_dir`) or file.
        overwrite: whether an existing output may be replaced.
        inputs: the files or folders the data was read from.
        is_dir: the output is a folder (a DICOM series) rather than a file.

    Raises:
        OutputError: the output exists without `overwrite`, exists with the other kind (file or
            folder), holds what radiomicgan did not write, lies in or contains an input folder, or
            is an input file.
    """
    check_outside_inputs(out, inputs, is_dir=is_dir)
    if not (out.exists() or out.is_symlink()) or (is_dir and _is_empty_folder(out)):
        return
    if not overwrite:
        raise OutputError(out, "already exists (use --overwrite, or overwrite=True in Python, to replace it)")
    if is_dir != out.is_dir():
        raise OutputError(out, f"exists and is {'not ' if is_dir else ''}a folder")
    check_replaceable(out)


def check_outside_inputs(
    out: Path, inputs: Iterable[Path], *, is_dir: bool = True, may_contain: bool = False
) -> None:
    """Refuse an output that would be read back as input, or would clobber it: the one such guard.

    Args:
        out: the output folder (`is_dir`) or file.
        inputs: the files or folders the data is read from (a file stands for its folder).
        is_dir: the output is a folder; a file output is refused only where it is an input file.
        may_contain: an output folder may hold an input folder. A tree's outputs or a run folder's
            files never land in the input then; a series written into such a folder would replace it.

    Raises:
        OutputError: the output is an input file, or a folder that is or lies in an input folder, or
            (without `may_contain`) holds one.
    """
    target = out.resolve()
    for source in inputs:
        source = source.resolve()
        if not is_dir:
            if target == source:
                raise OutputError(out, "is the input file; write elsewhere")
            continue
        folder = source if source.is_dir() else source.parent
        if target == folder or folder in target.parents:
            raise OutputError(out, f"output folder is inside the input folder {folder}")
        if target in folder.parents and not may_contain:
            raise OutputError(out, f"output folder contains the input folder {folder}")


@contextmanager
def atomic_file(path: Path) -> Iterator[Path]:
    """A hidden temporary sibling of `path` to write; renamed onto `path` when the block ends without error.

    The one temp-file-and-rename write: a reader (another process, a resumed run) sees the old file or
    the new one whole, never a half-written file. The temporary is removed if the block fails.

    Raises:
        OSError: the folder cannot be written (the caller names what it was writing).
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        yield temporary
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


def write_text_atomic(path: Path, text: str) -> Path:
    """Write a UTF-8 text file whole or not at all (`atomic_file`)."""
    with atomic_file(path) as temporary:
        temporary.write_text(text, encoding="utf-8")
    return path


@contextmanager
def atomic_dir(out: Path, *, mark: bool = True) -> Iterator[Path]:
    """Yield an empty temporary folder that replaces `out` when the block ends without error.

    Args:
        out: the folder to create or replace; an existing one must be radiomicgan's own (checked
            again here, at the moment of replacing, whatever the caller checked before).
        mark: leave the ownership marker listing what the block wrote (not needed where every file
            names its writer, as a DICOM series' files do).

    Raises:
        OutputError: the temporary folder cannot be made or renamed, an existing `out` holds what
            radiomicgan did not write, or an OSError occurs inside the block; the temporary folder
            is removed and an existing `out` is kept.
    """
    temporary = _make_temporary(out)
    try:
        yield temporary
        if mark:
            write_marker(temporary)
        _swap_into_place(temporary, out)
    except OSError as exc:
        shutil.rmtree(temporary, ignore_errors=True)
        raise OutputError(out, f"cannot write ({exc.strerror or exc})") from exc
    except BaseException:
        shutil.rmtree(temporary, ignore_errors=True)
        raise


@contextmanager
def atomic_files(out: Path) -> Iterator[Path]:
    """Yield a temporary folder; every file written there moves next to `out` when the block ends.

    The block writes `temporary / out.name` (and any companion file, e.g. a detached NRRD's data).

    Raises:
        OutputError: as for `atomic_dir`.
    """
    temporary = _make_temporary(out)
    try:
        yield temporary
        for produced in sorted(temporary.iterdir()):
            os.replace(produced, out.parent / produced.name)
    except OSError as exc:
        raise OutputError(out, f"cannot write ({exc.strerror or exc})") from exc
    finally:
        shutil.rmtree(temporary, ignore_errors=True)


def remove_partials(out: Path) -> list[Path]:
    """Remove the temporary folders a killed writer of `out` left beside it; returns those removed.

    Only for a caller that is the one writer of `out` (a temporary folder of a writer still running
    would go too); a writer that ends normally, with or without an error, removes its own.
    """
    if not out.parent.is_dir():
        return []
    leftovers = sorted(p for p in out.parent.glob(f".{glob.escape(out.name)}.*.partial") if p.is_dir())
    for leftover in leftovers:
        shutil.rmtree(leftover, ignore_errors=True)
    return leftovers


def _make_temporary(out: Path) -> Path:
    # os.mkdir (not tempfile.mkdtemp, which makes mode 0700) so the result gets the user's umask.
    temporary = out.parent / f".{out.name}.{uuid.uuid4().hex[:12]}.partial"
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        temporary.mkdir()
    except OSError as exc:
        raise OutputError(out, f"cannot create output ({exc.strerror or exc})") from exc
    return temporary


def _is_empty_folder(path: Path) -> bool:
    return path.is_dir() and not path.is_symlink() and not any(path.iterdir())


def _swap_into_place(temporary: Path, out: Path) -> None:
    if not out.exists():
        temporary.rename(out)
        return
    check_replaceable(out)
    backup = out.parent / f".{out.name}.{uuid.uuid4().hex[:12]}.old"
    out.rename(backup)
    try:
        temporary.rename(out)
    except OSError:
        backup.rename(out)  # put the previous output back: replacing is all or nothing
        raise
    if backup.is_dir() and not backup.is_symlink():
        shutil.rmtree(backup)
    else:
        backup.unlink()
