"""Apply a trained harmonizer to whole slices and whole series.

The generator is fully convolutional: slices are padded to its size multiple, run in batches, and
cropped back. Only HU inside the inference window are standardized; input pixels outside it (air
below -1024, bone and metal above the window) are pasted back unchanged, and the output is rounded
to integer HU inside the source's own range, so nothing outside [-1024, 3071] is invented.
"""

from __future__ import annotations

import hashlib
import logging
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from numpy.typing import NDArray
from tqdm import tqdm

from radiomicgan.errors import InputError, OutputError
from radiomicgan.io import Derivation, SeriesRef, Volume, find_series, read_volume, write_volume
from radiomicgan.modelfile import ModelMetadata, load_model, resolve_model_path
from radiomicgan.nets.common import Generator
from radiomicgan.training.loop import resolve_device
from radiomicgan.training.tensors import harmonize_slices_hu
from radiomicgan.windowing import Window

log = logging.getLogger(__name__)

WindowMode = Literal["full", "training"]
DICOM_HU_RANGE = (-1024.0, 3071.0)  # 12-bit CT: what a scanner can store


@dataclass
class Harmonizer:
    """A loaded model, ready to harmonize volumes: `Harmonizer.load(path)(volume) -> volume`.

    Attributes:
        generator: the trained generator, in eval mode on `device`.
        metadata: what the model file says about it.
        device: where inference runs.
        window_mode: "full" standardizes the paper's whole range [-1024, 1000]; "training" the final
            training window, pasting the input back outside it.
        batch_size: slices per forward pass.
        model_id: a short digest of the model file, naming the derived series.
    """

    generator: Generator
    metadata: ModelMetadata
    device: torch.device
    window_mode: WindowMode = "full"
    batch_size: int = 4
    model_id: str = ""

    @classmethod
    def load(
        cls, path: str | Path, *, device: str = "auto", window_mode: WindowMode = "full", batch_size: int = 4
    ) -> Harmonizer:
        """Load a run folder or model file (safetensors; pickles are refused).

        Raises:
            InputError: not a radiomicgan model file, or unreadable.
        """
        target = resolve_model_path(path)
        torch_device = resolve_device(device)
        generator, metadata = load_model(target, torch_device)
        digest = hashlib.sha256(target.read_bytes()).hexdigest()[:16]
        return cls(generator, metadata, torch_device, window_mode, batch_size, digest)

    @property
    def window_hu(self) -> Window:
        """The HU window inference standardizes."""
        return (
            self.metadata.training_window_hu
            if self.window_mode == "training"
            else self.metadata.full_range_hu
        )

    def derivation(self, source_kernel: str) -> Derivation:
        """How a series harmonized by this model is described in DICOM."""
        target = self.metadata.target_kernel or "the standard kernel"
        source = source_kernel or "its kernel"
        return Derivation(
            method=f"radiomicgan-{self.metadata.method}",
            description=f"Harmonized from {source} to {target} by radiomicgan ({self.metadata.method})",
            model_id=self.model_id,
        )

    def __call__(self, volume: Volume, *, progress: bool = False) -> Volume:
        """The harmonized volume: same geometry and provenance, standardized HU."""
        source_range = (float(volume.hu.min()), float(volume.hu.max())) if volume.hu.size else DICOM_HU_RANGE
        out = np.empty_like(volume.hu)
        batches = list(_batches(volume.shape[0], self.batch_size))
        for start, stop in tqdm(batches, desc="harmonize", unit="batch", disable=not progress, leave=False):
            out[start:stop] = self.harmonize_slices(volume.hu[start:stop], source_range)
        return volume.with_hu(out)

    def harmonize_slices(
        self, hu: NDArray[np.float32], source_range: tuple[float, float] | None = None
    ) -> NDArray[np.float32]:
        """Harmonize a batch of slices [B, y, x] in HU; integer HU out."""
        window = self.window_hu
        predicted = harmonize_slices_hu(self.generator, hu, window, self.device, self.generator.size_multiple)
        lo, hi = source_range if source_range is not None else (float(hu.min()), float(hu.max()))
        lo, hi = max(lo, DICOM_HU_RANGE[0]), min(hi, DICOM_HU_RANGE[1])
        predicted = np.clip(np.rint(predicted), lo, hi)
        outside = (hu < window[0]) | (hu > window[1])  # not standardized: the input stays as it was
        return np.where(outside, hu, predicted).astype(np.float32)


def _batches(n: int, size: int) -> Iterator[tuple[int, int]]:
    for start in range(0, n, size):
        yield start, min(start + size, n)


def harmonize_path(
    harmonizer: Harmonizer,
    input_path: str | Path,
    output_path: str | Path,
    *,
    series_uid: str | None = None,
    overwrite: bool = False,
    progress: bool = True,
) -> list[Path]:
    """Harmonize a series, a file, or every CT series under a folder (output mirrors the tree).

    Each series is written atomically as derived DICOM (NRRD/NIfTI stay NRRD/NIfTI).

    Returns:
        The series folders or files written.

    Raises:
        InputError: unreadable input or no CT series.
        OutputError: output inside the input, or existing without `overwrite`.
    """
    input_path, output_path = Path(input_path), Path(output_path)
    _check_output_outside_input(input_path, output_path)
    if input_path.is_file() and not _is_dicom_name(input_path):
        volume = read_volume(input_path)
        harmonized = harmonizer(volume, progress=progress)
        derivation = harmonizer.derivation(volume.meta.kernel)  # NRRD keeps it as header fields
        return [write_volume(harmonized, output_path, derivation=derivation, overwrite=overwrite)]
    jobs = _series_jobs(input_path, output_path, series_uid)
    written = []
    for series, out in tqdm(jobs, desc="series", unit="series", disable=not progress or len(jobs) < 2):
        volume = read_volume(series.folder if series.folder.is_dir() else input_path, series.series_uid)
        harmonized = harmonizer(volume, progress=progress)
        derivation = harmonizer.derivation(volume.meta.kernel)
        written.append(write_volume(harmonized, out, derivation=derivation, overwrite=overwrite))
        _warn_kernel(harmonizer, volume.meta.kernel)
    return written


def _series_jobs(input_path: Path, output_path: Path, series_uid: str | None) -> list[tuple[SeriesRef, Path]]:
    found = [s for s in find_series(input_path) if s.modality == "CT"]
    if series_uid is not None:
        found = [s for s in found if s.series_uid == series_uid]
    if not found:
        raise InputError(
            input_path, "no CT series found" + (f" with SeriesInstanceUID {series_uid}" if series_uid else "")
        )
    if len(found) == 1:
        return [(found[0], output_path)]
    per_folder = Counter(series.folder for series in found)
    jobs: list[tuple[SeriesRef, Path]] = []
    for series in found:
        relative = series.folder.relative_to(input_path) if input_path.is_dir() else Path(series.series_uid)
        out = output_path / relative
        if per_folder[series.folder] > 1:
            # Several series in one folder: one subfolder each, all of them, so none lies in another.
            out = out / series.series_uid
        jobs.append((series, out))
    return jobs


def _check_output_outside_input(input_path: Path, output_path: Path) -> None:
    if not input_path.exists():
        raise InputError(input_path, "does not exist")
    source, out = input_path.resolve(), output_path.resolve()
    folder = source if source.is_dir() else source.parent
    if source.is_dir() and (out == folder or folder in out.parents):
        raise OutputError(output_path, f"output lies inside the input folder {input_path}")


def _is_dicom_name(path: Path) -> bool:
    return not any(
        path.name.lower().endswith(s) for s in (".nrrd", ".nhdr", ".nii", ".nii.gz", ".mha", ".mhd")
    )


def _warn_kernel(harmonizer: Harmonizer, kernel: str) -> None:
    expected = harmonizer.metadata.source_kernel
    if expected and kernel and kernel != expected:
        log.warning("series kernel %s differs from the model's source kernel %s", kernel, expected)
