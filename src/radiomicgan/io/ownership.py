"""What `--overwrite` may replace: only what radiomicgan wrote.

Every folder an atomic writer creates (`atomic.atomic_dir`) gets a small hidden marker file listing
the paths written into it (a simulation's series, a report's figures). Files that identify
themselves need no marker: a DICOM file carrying our ImplementationVersionName (every series we
write, older outputs included), a NRRD carrying our key/value fields, a NIfTI whose description
field we filled. A folder whose entries are all ours by either rule, its subfolders likewise, may be
replaced; one holding anything else (a note, an empty folder the user made, someone else's DICOM)
is refused, naming that entry. A marker whose only entry is `*` owns its whole folder (a training
run, which grows epoch by epoch). Hidden temporary folders of a killed writer count as ours.
"""

from __future__ import annotations

import gzip
import re
from pathlib import Path

from pydicom.errors import InvalidDicomError
from pydicom.filereader import read_file_meta_info

from radiomicgan.errors import OutputError

MARKER = ".radiomicgan"
IMPLEMENTATION_VERSION = "RADIOMICGAN_01"  # DICOM file meta of every file we write (SH, <= 16 chars)
NRRD_KEY_PREFIX = "radiomicgan_"  # NRRD key/value fields we write
NIFTI_DESCRIPTION = "radiomicgan"  # NIfTI descrip (80 bytes at offset 148) starts with it
_EVERYTHING = "*"
_HEADER = "# written by radiomicgan; --overwrite replaces only the paths listed here (* = all)"
_LEGACY_MARKERS = (".radiomicgan-demo",)  # the demo's own marker before this module: owns the folder
_LEFTOVER = re.compile(r"\..+\.[0-9a-f]{12}\.(partial|old)")  # atomic writers' temporaries
_NIFTI_DESCRIP = slice(148, 228)


def write_marker(folder: Path, *, everything: bool = False) -> None:
    """List every path under `folder` in its marker (or `*`: the folder is radiomicgan's as a whole)."""
    if everything:
        paths = [_EVERYTHING]
    else:
        paths = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.name != MARKER)
    (folder / MARKER).write_text("\n".join([_HEADER, *paths]) + "\n", encoding="utf-8")


def check_replaceable(out: Path) -> None:
    """Refuse to replace `out` unless radiomicgan wrote all of it.

    Raises:
        OutputError: `out` holds (or is) something radiomicgan did not write; the message names it.
    """
    foreign = foreign_entry(out)
    if foreign is None:
        return
    what = "is" if foreign == out else f"holds {foreign.relative_to(out)}, which is"
    raise OutputError(
        out,
        f"{what} not radiomicgan's output; --overwrite replaces only what radiomicgan wrote "
        "(move it away or choose another output)",
    )


def foreign_entry(out: Path) -> Path | None:
    """The first file or folder at or under `out` that radiomicgan did not write; None when all is ours.

    An empty `out` folder is ours to fill (a folder made ready for the output); an empty subfolder is
    not, unless a marker lists it.
    """
    if out.is_symlink():
        return out
    if out.is_file():
        return None if is_own_file(out) else out
    if not out.is_dir():
        return None
    return _foreign_in(out, [])


def is_own_file(path: Path) -> bool:
    """Whether a file says it was written by radiomicgan (DICOM, NRRD or NIfTI), from its header."""
    name = path.name.lower()
    try:
        if name.endswith((".nrrd", ".nhdr")):
            return _is_own_nrrd(path)
        if name.endswith((".nii", ".nii.gz")):
            return _is_own_nifti(path)
        meta = read_file_meta_info(path)
    except (OSError, EOFError, InvalidDicomError, ValueError):
        return False
    return str(meta.get("ImplementationVersionName", "")).startswith("RADIOMICGAN")


def _foreign_in(folder: Path, listings: list[tuple[Path, frozenset[str]]]) -> Path | None:
    listed = _read_marker(folder)
    if listed is not None and _EVERYTHING in listed:
        return None
    if listed is not None:
        listings = [*listings, (folder, listed)]
    for entry in sorted(folder.iterdir()):
        if entry.name == MARKER or _LEFTOVER.fullmatch(entry.name):
            continue
        if entry.is_dir() and not entry.is_symlink():
            if not _is_listed(entry, listings) and not any(entry.iterdir()):
                return entry  # an empty folder we never made: someone else's
            found = _foreign_in(entry, listings)
            if found is not None:
                return found
        elif not (_is_listed(entry, listings) and not entry.is_symlink()) and not is_own_file(entry):
            return entry
    return None


def _is_listed(entry: Path, listings: list[tuple[Path, frozenset[str]]]) -> bool:
    return any(entry.relative_to(folder).as_posix() in listed for folder, listed in listings)


def _read_marker(folder: Path) -> frozenset[str] | None:
    if any((folder / legacy).is_file() for legacy in _LEGACY_MARKERS):
        return frozenset({_EVERYTHING})
    marker = folder / MARKER
    if not marker.is_file():
        return None
    lines = marker.read_text(encoding="utf-8", errors="replace").splitlines()
    return frozenset(line for line in lines if line and not line.startswith("#"))


def _is_own_nrrd(path: Path) -> bool:
    with path.open("rb") as f:
        header = f.read(65536).split(b"\n\n", 1)[0]  # the text header ends at the first blank line
    return header.startswith(b"NRRD") and f"\n{NRRD_KEY_PREFIX}".encode() in header


def _is_own_nifti(path: Path) -> bool:
    opener = gzip.open if path.name.lower().endswith(".gz") else open
    with opener(path, "rb") as f:
        header = f.read(_NIFTI_DESCRIP.stop)
    return header[_NIFTI_DESCRIP].startswith(NIFTI_DESCRIPTION.encode())
