"""Pair two reconstructions of one scan slice by slice (e.g. a non-standard and a standard kernel).

Two series are a pair only when they share a study and frame of reference (when both carry UIDs)
and an image grid (size, pixel spacing, orientation); their slices are then matched by position
along the slice normal, which tolerates series that cover different ranges or step differently.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from radiomicgan.errors import PairingError
from radiomicgan.io.volume import Volume

logger = logging.getLogger(__name__)

_GRID_TOLERANCE = 1e-4  # mm for pixel spacing, and direction cosines, as in the DICOM geometry checks


@dataclass(frozen=True)
class VolumePair:
    """Matched slices of a source and a target volume.

    Attributes:
        source: the source volume.
        target: the target volume.
        source_indices: source slices that have a counterpart, increasing.
        target_indices: the counterpart of each, in the same order (increasing when both slice
            axes point the same way, as for every DICOM series read by `read_volume`).
        unmatched_source: source slices without counterpart (left out).
        unmatched_target: target slices without counterpart (left out).
    """

    source: Volume = field(repr=False, compare=False)
    target: Volume = field(repr=False, compare=False)
    source_indices: tuple[int, ...]
    target_indices: tuple[int, ...]
    unmatched_source: tuple[int, ...]
    unmatched_target: tuple[int, ...]

    def __len__(self) -> int:
        return len(self.source_indices)

    def arrays(self) -> tuple[NDArray[np.float32], NDArray[np.float32]]:
        """The matched slices as two float32 HU arrays [n, y, x] (source, target), slice for slice."""
        return self.source.hu[list(self.source_indices)], self.target.hu[list(self.target_indices)]


def pair_volumes(source: Volume, target: Volume, tolerance_mm: float = 0.01) -> VolumePair:
    """Match the slices of two reconstructions of the same scan.

    Args:
        source: e.g. the non-standard kernel series.
        target: e.g. the standard kernel series.
        tolerance_mm: largest distance between two slice positions that still match.

    Returns:
        The pair; slices present in one volume only are listed as unmatched (and logged).

    Raises:
        PairingError: other study or frame of reference (when both volumes have UIDs), other image
            size, pixel spacing or orientation, in-plane shift, or no slice position in common;
            the message says what differs.
    """
    differences = _identity_differences(source, target) + _grid_differences(source, target)
    if differences:
        raise PairingError(_where(source), f"not a pair with {_name(target)}: {'; '.join(differences)}")
    matches = _match_slices(source, target, tolerance_mm)
    if not matches:
        raise PairingError(
            _where(source), f"no slice position in common with {_name(target)}: {_ranges(source, target)}"
        )
    source_indices = tuple(i for i, _ in matches)
    target_indices = tuple(j for _, j in matches)
    unmatched_source = tuple(sorted(set(range(source.shape[0])) - set(source_indices)))
    unmatched_target = tuple(sorted(set(range(target.shape[0])) - set(target_indices)))
    if unmatched_source or unmatched_target:
        logger.warning(
            "pairing %s with %s: %d source and %d target slices have no counterpart and are left out",
            _name(source),
            _name(target),
            len(unmatched_source),
            len(unmatched_target),
        )
    return VolumePair(source, target, source_indices, target_indices, unmatched_source, unmatched_target)


def _identity_differences(source: Volume, target: Volume) -> list[str]:
    # A volume without UIDs (NRRD, NIfTI) can only be checked by its geometry.
    differences = []
    a, b = source.meta, target.meta
    if a.study_uid and b.study_uid and a.study_uid != b.study_uid:
        differences.append("study differs")
    if (
        a.frame_of_reference_uid
        and b.frame_of_reference_uid
        and a.frame_of_reference_uid != b.frame_of_reference_uid
    ):
        differences.append("frame of reference differs")
    return differences


def _grid_differences(source: Volume, target: Volume) -> list[str]:
    differences = []
    if source.shape[1:] != target.shape[1:]:
        (sr, sc), (tr, tc) = source.shape[1:], target.shape[1:]
        differences.append(f"image size {sr}x{sc} vs {tr}x{tc} pixels")
    s_spacing, t_spacing = np.array(source.spacing_zyx_mm[1:]), np.array(target.spacing_zyx_mm[1:])
    if np.abs(s_spacing - t_spacing).max() > _GRID_TOLERANCE:
        differences.append(f"pixel spacing {_mm(s_spacing)} vs {_mm(t_spacing)} mm")
    s_axes, t_axes = np.asarray(source.direction)[:, :2], np.asarray(target.direction)[:, :2]
    if np.abs(s_axes - t_axes).max() > _GRID_TOLERANCE:
        differences.append("image orientation differs")
    return differences


def _match_slices(source: Volume, target: Volume, tolerance_mm: float) -> list[tuple[int, int]]:
    """Pairs (source index, target index) of slices whose positions lie within the tolerance."""
    normal = _normal(source)
    s_pos, t_pos = source.slice_positions_xyz_mm(), target.slice_positions_xyz_mm()
    s_along, t_along = s_pos @ normal, t_pos @ normal
    t_order = np.argsort(t_along, kind="stable")
    t_sorted = t_along[t_order]
    matches: list[tuple[int, int]] = []
    used: set[int] = set()
    for i, z in enumerate(s_along):
        k = int(np.searchsorted(t_sorted, z))
        candidates = [int(t_order[c]) for c in (k - 1, k) if 0 <= c < len(t_sorted)]
        j = min(candidates, key=lambda c: abs(t_along[c] - z))
        if abs(t_along[j] - z) <= tolerance_mm and j not in used:
            matches.append((i, j))
            used.add(j)
    _check_in_plane(source, target, matches, s_pos, t_pos, normal, tolerance_mm)
    return matches


def _check_in_plane(
    source: Volume,
    target: Volume,
    matches: list[tuple[int, int]],
    s_pos: NDArray[np.float64],
    t_pos: NDArray[np.float64],
    normal: NDArray[np.float64],
    tolerance_mm: float,
) -> None:
    """Matched slices must also start at the same in-plane point, or the pixel grids are shifted."""
    if not matches:
        return
    delta = np.array([t_pos[j] - s_pos[i] for i, j in matches])
    in_plane = delta - np.outer(delta @ normal, normal)
    shift = float(np.linalg.norm(in_plane, axis=1).max())
    if shift > tolerance_mm:
        raise PairingError(
            _where(source), f"not a pair with {_name(target)}: in-plane position differs by {shift:.3f} mm"
        )


def _normal(volume: Volume) -> NDArray[np.float64]:
    direction = np.asarray(volume.direction, dtype=np.float64)
    normal = np.cross(direction[:, 0], direction[:, 1])
    return np.asarray(normal / np.linalg.norm(normal), dtype=np.float64)


def _ranges(source: Volume, target: Volume) -> str:
    normal = _normal(source)
    s = source.slice_positions_xyz_mm() @ normal
    t = target.slice_positions_xyz_mm() @ normal
    return (
        f"source slices span {s.min():.2f} to {s.max():.2f} mm, target {t.min():.2f} to {t.max():.2f} mm "
        "along the slice normal"
    )


def _where(volume: Volume) -> Path | str:
    return volume.source_path if volume.source_path is not None else "source volume"


def _name(volume: Volume) -> str:
    # The series UID first: two series read from one folder share their source path.
    if volume.meta.series_uid:
        return f"series {volume.meta.series_uid}"
    return str(volume.source_path) if volume.source_path is not None else "the other volume"


def _mm(values: NDArray[np.float64]) -> str:
    return "x".join(f"{v:.4g}" for v in values)
