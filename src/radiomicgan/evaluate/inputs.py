"""Read the reference and the candidates into scans whose images share their slices.

The reference and each candidate may be one series (a DICOM folder or file, NRRD or NIfTI) or a
folder tree of DICOM series. Each CT series of the reference is one scan. For it, every candidate
must hold exactly one series of the same study and frame of reference (when both carry UIDs) whose
image grid and slice positions pair with it (`pair_volumes`). A scan keeps the slices present in the
reference and in every candidate, so all images of a scan are compared slice for slice.

All scans are held in memory as float32 HU: about 1 MB per 512² slice and image.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from radiomicgan.errors import InputError, PairingError
from radiomicgan.evaluate.protocol import REFERENCE
from radiomicgan.io.dicom_reader import read_series
from radiomicgan.io.discovery import SeriesRef, find_series
from radiomicgan.io.itk_formats import itk_format
from radiomicgan.io.pairing import VolumePair, pair_volumes
from radiomicgan.io.reader import read_volume
from radiomicgan.io.volume import Volume

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class SeriesInfo:
    """Where one image of a scan came from, to tell whether it was used in training (never written out).

    Attributes:
        study_uid, series_uid: the series' UIDs ("" when its format has none).
        path: the series' folder or file.
        derivation: DerivationDescription of a derived (harmonized) DICOM series, "" otherwise.
    """

    study_uid: str = ""
    series_uid: str = ""
    path: Path | None = None
    derivation: str = ""

    @classmethod
    def of(cls, volume: Volume, path: Path | None) -> SeriesInfo:
        """The identity of a volume read from `path`."""
        first = volume.datasets[0] if volume.datasets else None
        derivation = str(first.get("DerivationDescription", "") or "") if first is not None else ""
        return cls(volume.meta.study_uid, volume.meta.series_uid, path, derivation)


@dataclass(frozen=True)
class Scan:
    """One scan ready for evaluation: the reference and every candidate on the same slices.

    Attributes:
        reference: [z, y, x] reference HU on the kept slices.
        candidates: name -> [z, y, x] HU on the same slices, in the caller's order.
        spacing_yx_mm: in-plane pixel size (rows, columns), in mm.
        slice_indices: the kept slices, as indices into the reference series (increasing).
        n_reference_slices: slices of the reference series before restriction.
        source: the reference series' folder or file (for messages; never written to outputs).
        reference_info, candidate_info: the series' identities (reference; name -> candidate).
    """

    reference: NDArray[np.floating]
    candidates: dict[str, NDArray[np.floating]]
    spacing_yx_mm: tuple[float, float]
    slice_indices: tuple[int, ...]
    n_reference_slices: int
    source: Path
    reference_info: SeriesInfo = SeriesInfo()
    candidate_info: dict[str, SeriesInfo] = field(default_factory=dict)

    @classmethod
    def from_volumes(
        cls,
        reference: NDArray[np.floating],
        candidates: Mapping[str, NDArray[np.floating]],
        spacing_yx_mm: tuple[float, float],
    ) -> Scan:
        """A scan of volumes already in memory (every slice kept, values as given).

        Args:
            reference: [z, y, x] standard-kernel volume in HU.
            candidates: name -> volume of the reference's shape.
            spacing_yx_mm: in-plane pixel size (rows, columns), in mm.

        Raises:
            ValueError: no candidate, a candidate named "reference", or volumes not [z, y, x] of one shape.
        """
        if not candidates:
            raise ValueError("at least one candidate volume is needed")
        if REFERENCE in candidates:
            raise ValueError(f"{REFERENCE!r} is reserved for the reference; rename that candidate")
        ref = np.asarray(reference)
        images = {name: np.asarray(volume) for name, volume in candidates.items()}
        for name, volume in {REFERENCE: ref, **images}.items():
            if volume.ndim != 3 or volume.shape != ref.shape:
                raise ValueError(
                    f"{name}: shape {volume.shape} differs from the reference's or is not [z, y, x]"
                )
        n_slices = ref.shape[0]
        spacing = (float(spacing_yx_mm[0]), float(spacing_yx_mm[1]))
        return cls(ref, images, spacing, tuple(range(n_slices)), n_slices, Path("<memory>"))


def check_scans(scans: Sequence[Scan]) -> None:
    """Refuse what no level can score: no scan, or scans that hold different candidates.

    Raises:
        ValueError: as above.
    """
    if not scans:
        raise ValueError("at least one scan is needed")
    names = list(scans[0].candidates)
    for scan in scans[1:]:
        if list(scan.candidates) != names:
            raise ValueError(f"{scan.source}: candidates {list(scan.candidates)} differ from {names}")


@dataclass(frozen=True)
class _Source:
    """A series on disk, read on demand: a discovered DICOM series, or an NRRD/NIfTI file (`ref` None)."""

    where: Path
    ref: SeriesRef | None = None

    def read(self) -> Volume:
        return read_series(self.ref) if self.ref is not None else read_volume(self.where)

    def may_pair_with(self, other: _Source) -> bool:
        # Only UIDs both sides carry can rule a pair out; files without UIDs are judged by geometry.
        if self.ref is None or other.ref is None:
            return True
        a, b = self.ref, other.ref
        same_study = not (a.study_uid and b.study_uid) or a.study_uid == b.study_uid
        same_frame = (
            not (a.frame_of_reference_uid and b.frame_of_reference_uid)
            or a.frame_of_reference_uid == b.frame_of_reference_uid
        )
        return same_study and same_frame


def load_scans(reference: Path, candidates: Mapping[str, Path]) -> list[Scan]:
    """Read every reference series with its matching candidate series, restricted to common slices.

    Args:
        reference: a series or a folder tree of series in the standard kernel.
        candidates: name -> a series or folder tree holding, for every reference series, one series
            of the same scan (e.g. the input kernel, a harmonized output, a baseline).

    Returns:
        One scan per reference CT series, in discovery order (by folder, then series UID).

    Raises:
        InputError: a path is missing or holds no CT series; a candidate has no series, or several,
            matching a reference series (the message names the candidate's path and the reference
            series); or no slice is shared by the reference and every candidate.
        InvalidSeriesError: a series cannot be read.
    """
    candidate_sources = {name: _sources(path) for name, path in candidates.items()}
    scans = []
    for source in _sources(reference):
        volume = source.read()
        pairs = {
            name: _matching_pair(source, volume, found, name, candidates[name])
            for name, found in candidate_sources.items()
        }
        scans.append(_restrict(source, volume, pairs))
    return scans


def _sources(path: Path) -> list[_Source]:
    path = Path(path)
    if path.is_file() and itk_format(path) is not None:
        return [_Source(path)]
    series = find_series(path)
    ct = [ref for ref in series if ref.is_ct]
    if not ct:
        found = ", ".join(sorted({ref.modality or "no modality" for ref in series})) or "no DICOM image"
        raise InputError(path, f"no CT series found ({found})")
    return [_Source(ref.folder, ref) for ref in ct]


def _matching_pair(
    reference: _Source, volume: Volume, sources: list[_Source], name: str, root: Path
) -> VolumePair:
    pairs, reasons = [], []
    for source in sources:
        if not source.may_pair_with(reference):
            continue
        try:
            pairs.append(pair_volumes(volume, source.read()))
        except PairingError as exc:
            reasons.append(exc.reason)
    if not pairs:
        why = f" ({reasons[0]})" if reasons else " (no series of the same study and frame of reference)"
        raise InputError(
            root, f"candidate {name!r} has no series matching the reference series in {reference.where}{why}"
        )
    if len(pairs) > 1:
        raise InputError(
            root,
            f"candidate {name!r} has {len(pairs)} series matching the reference series in "
            f"{reference.where}; point to a folder holding only one of them",
        )
    return pairs[0]


def _restrict(source: _Source, volume: Volume, pairs: dict[str, VolumePair]) -> Scan:
    common = set(range(volume.shape[0]))
    for pair in pairs.values():
        common &= set(pair.source_indices)
    kept = sorted(common)
    if not kept:
        raise InputError(source.where, "no slice of this reference series is present in every candidate")
    if len(kept) < volume.shape[0]:
        logger.warning(
            "reference series in %s: %d of %d slices are present in every candidate; evaluating those",
            source.where,
            len(kept),
            volume.shape[0],
        )
    candidates = {}
    for name, pair in pairs.items():
        counterpart = dict(zip(pair.source_indices, pair.target_indices, strict=True))
        candidates[name] = pair.target.hu[[counterpart[i] for i in kept]]
    return Scan(
        reference=volume.hu[kept],
        candidates=candidates,
        spacing_yx_mm=(float(volume.spacing_zyx_mm[1]), float(volume.spacing_zyx_mm[2])),
        slice_indices=tuple(kept),
        n_reference_slices=volume.shape[0],
        source=source.where,
        reference_info=SeriesInfo.of(volume, source.where),
        candidate_info={
            name: SeriesInfo.of(pair.target, pair.target.source_path) for name, pair in pairs.items()
        },
    )
