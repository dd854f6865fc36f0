"""Apply a trained harmonizer to whole slices and whole series.

The generator is fully convolutional: slices are padded to its size multiple, run in batches, and
cropped back. Only HU inside the inference window are standardized; input pixels outside it (air
below -1024, bone and metal above the window) are pasted back unchanged, and the output is rounded
to integer HU inside the source's own range, so nothing outside [-1024, 3071] is invented.

A DICOM series is streamed: sorted and checked from its headers, then read, harmonized and written
batch by batch, so memory holds one batch of slices whatever the series' length.

The series of a tree are jobs (`series_jobs`), run here one by one or on a Dask cluster whose workers
load the model once each; an array job takes a share of them, and a re-run keeps complete outputs.
"""

from __future__ import annotations

import functools
import hashlib
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from numpy.typing import NDArray
from tqdm import tqdm

from radiomicgan.cluster import require_backend
from radiomicgan.config import BackendConfig
from radiomicgan.errors import ConfigError, InputError
from radiomicgan.io import (
    Derivation,
    SeriesRef,
    Volume,
    dicom_series_writer,
    iter_slice_batches,
    plan_series,
    read_volume,
    series_hu_range,
    write_volume,
)
from radiomicgan.modelfile import ModelMetadata, load_model, resolve_model_path
from radiomicgan.nets.common import Generator
from radiomicgan.precision import (
    MIXED_PRECISION_TOLERANCE_HU,
    Precision,
    choose_precision,
    precision_name,
    resolve_precision,
)
from radiomicgan.series_jobs import (
    Existing,
    Outcome,
    SeriesJob,
    check_output_outside_input,
    check_part,
    is_dicom_name,
    run_jobs,
    select_part,
    series_jobs,
    triage,
)
from radiomicgan.training.loop import resolve_device
from radiomicgan.training.tensors import harmonize_slices_hu
from radiomicgan.windowing import Window

log = logging.getLogger(__name__)

WindowMode = Literal["full", "training"]
DICOM_HU_RANGE = (-1024.0, 3071.0)  # 12-bit CT: what a scanner can store


@dataclass(frozen=True)
class ModelSource:
    """A model file and the options it was loaded with: enough for another process to load it again.

    Cluster workers load their harmonizer from this, so `device` stays as asked ("auto": each worker
    takes its own GPU when it has one).
    """

    path: Path
    device: str = "auto"
    window_mode: WindowMode = "full"
    batch_size: int = 4
    precision: Precision = "auto"


@dataclass
class Harmonizer:
    """A loaded model, ready to harmonize volumes: `Harmonizer.load(path)(volume) -> volume`.

    Attributes:
        generator: the trained generator, in eval mode on `device`.
        metadata: what the model file says about it.
        device: where inference runs.
        window_mode: "full" standardizes the paper's whole range [-1024, 1000]; "training" the final
            training window, pasting the input back outside it.
        batch_size: slices per forward pass, and per read and write of a streamed series.
        model_id: a short digest of the model file, naming the derived series.
        precision: "fp32", "bf16" or "fp16" (mixed precision in the generator's forward pass only),
            or "auto": fp32 on a CPU; on a GPU fp16 if, on the first batch, it stays within
            `MIXED_PRECISION_TOLERANCE_HU` of fp32 (rounded output), else fp32.
        autocast_dtype: the mixed-precision dtype in use; None for float32 (set from `precision`).
        calibrate_with: a mixed-precision dtype the next batch tries against float32 before it is
            kept ("auto" on a GPU); None once decided.
        source: the model file and options `load` read, for cluster workers to load again; None for a
            harmonizer built in memory (it runs on the local backend only).

    Raises:
        ConfigError: `batch_size` < 1 or an unknown `precision`.
    """

    generator: Generator
    metadata: ModelMetadata
    device: torch.device
    window_mode: WindowMode = "full"
    batch_size: int = 4
    model_id: str = ""
    precision: Precision = "auto"
    source: ModelSource | None = None
    autocast_dtype: torch.dtype | None = field(default=None, init=False)
    calibrate_with: torch.dtype | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        if self.batch_size < 1:
            raise ConfigError(f"harmonize: batch size must be >= 1, got {self.batch_size}")
        self.autocast_dtype, self.calibrate_with = resolve_precision(self.precision, self.device)

    @classmethod
    def load(
        cls,
        path: str | Path,
        *,
        device: str = "auto",
        window_mode: WindowMode = "full",
        batch_size: int = 4,
        precision: Precision = "auto",
    ) -> Harmonizer:
        """Load a run folder or model file (safetensors; pickles are refused).

        Args:
            path: a run folder or a .safetensors model file.
            device: "auto" (a GPU when there is one), "cpu" or "cuda".
            window_mode: see the class attributes.
            batch_size: slices per forward pass.
            precision: "auto", "fp32", "bf16" or "fp16"; see the class attributes.

        Raises:
            InputError: not a radiomicgan model file, or unreadable; "cuda" without a GPU.
            ConfigError: `batch_size` < 1 or an unknown `precision`.
        """
        target = resolve_model_path(path)
        torch_device = resolve_device(device)
        generator, metadata = load_model(target, torch_device)
        digest = hashlib.sha256(target.read_bytes()).hexdigest()[:16]
        source = ModelSource(target.resolve(), device, window_mode, batch_size, precision)
        return cls(generator, metadata, torch_device, window_mode, batch_size, digest, precision, source)

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
        """The harmonized volume: same geometry and provenance, standardized HU (held in memory whole)."""
        source_range = (float(volume.hu.min()), float(volume.hu.max())) if volume.hu.size else DICOM_HU_RANGE
        out = np.empty_like(volume.hu)
        starts = range(0, volume.shape[0], self.batch_size)
        for start in tqdm(starts, desc="harmonize", unit="batch", disable=not progress, leave=False):
            stop = start + self.batch_size
            out[start:stop] = self.harmonize_slices(volume.hu[start:stop], source_range)
        return volume.with_hu(out)

    def harmonize_slices(
        self, hu: NDArray[np.float32], source_range: tuple[float, float] | None = None
    ) -> NDArray[np.float32]:
        """Harmonize a batch of slices [B, y, x] in HU; integer HU out.

        While `calibrate_with` is set ("auto" on a GPU), this batch runs in fp32 and in that dtype,
        and the dtype is kept for later batches only if it stays within 1 HU of fp32.

        Args:
            hu: the slices, HU.
            source_range: the HU range of the whole series (output stays inside it and inside
                [-1024, 3071]); None takes the batch's own.

        Returns:
            Integer HU [B, y, x]: standardized inside the window, the input outside it.
        """
        if self.calibrate_with is not None:
            candidate, self.calibrate_with = self.calibrate_with, None
            self.autocast_dtype, out = choose_precision(
                lambda dtype: self._harmonize(hu, source_range, dtype, fallback=False),
                candidate,
                MIXED_PRECISION_TOLERANCE_HU,
            )
            return out
        return self._harmonize(hu, source_range, self.autocast_dtype, fallback=True)

    def _harmonize(
        self,
        hu: NDArray[np.float32],
        source_range: tuple[float, float] | None,
        dtype: torch.dtype | None,
        *,
        fallback: bool,
    ) -> NDArray[np.float32]:
        # `fallback`: redo a non-finite mixed-precision batch in fp32; off while calibrating, where the
        # non-finite output must count against the dtype.
        window = self.window_hu
        multiple = self.generator.size_multiple
        predicted = harmonize_slices_hu(self.generator, hu, window, self.device, multiple, dtype)
        if fallback and dtype is not None and not np.isfinite(predicted).all():
            # fp16 can overflow on slices unlike those it was calibrated on: fp32 from here on.
            log.warning("%s overflowed on a batch of slices; using fp32 from here on", precision_name(dtype))
            self.autocast_dtype = None
            predicted = harmonize_slices_hu(self.generator, hu, window, self.device, multiple)
        lo, hi = source_range if source_range is not None else (float(hu.min()), float(hu.max()))
        lo, hi = max(lo, DICOM_HU_RANGE[0]), min(hi, DICOM_HU_RANGE[1])
        predicted = np.clip(np.rint(predicted), lo, hi)
        outside = (hu < window[0]) | (hu > window[1])  # not standardized: the input stays as it was
        return np.where(outside, hu, predicted).astype(np.float32)


def harmonize_path(
    harmonizer: Harmonizer,
    input_path: str | Path,
    output_path: str | Path,
    *,
    series_uid: str | None = None,
    overwrite: bool = False,
    strict: bool = False,
    progress: bool = True,
    backend: BackendConfig | None = None,
    num_parts: int = 1,
    part_id: int = 0,
) -> list[Path]:
    """Harmonize a series, a file, or every CT series under a folder (output mirrors the tree).

    Each DICOM series is streamed in slice batches (see `harmonize_series`) and written atomically
    as derived DICOM. NRRD/NIfTI files are read, harmonized and written whole (a single array on
    disk), and stay NRRD/NIfTI.

    A folder of several series (or any share of `num_parts` > 1) can be run again: an output that
    exists and holds every slice is kept (logged), one that does not is harmonized again, and what a
    killed run left in temporary folders is removed. One series on its own refuses an existing output.

    Args:
        harmonizer: the loaded model.
        input_path: a series folder, a file, or a folder tree.
        output_path: the series folder or file to write, or the root of the mirrored tree.
        series_uid: harmonize only this SeriesInstanceUID.
        overwrite: replace existing outputs.
        strict: refuse series whose ConvolutionKernel differs from the model's source kernel
            (otherwise a warning); checked for every series of the share before anything is written.
        progress: show progress bars.
        backend: where the series run (one task each): "local" (default) one after another here;
            "dask" on a cluster whose workers load `harmonizer.source` once each. Results are the same.
        num_parts: split the series into this many shares, for as many independent jobs.
        part_id: the share to harmonize, 0 .. num_parts - 1 (see `series_jobs.part_of`).

    Returns:
        The outputs of the share's series (written now or kept complete), or the file written.

    Raises:
        InputError: unreadable input, no CT series, or (with `strict`) a kernel other than the
            model's source kernel.
        OutputError: output inside the input, or (one series or file) existing without `overwrite`.
        ConfigError: a share that does not exist, a file split into parts, or a dask backend that
            cannot be had (not installed, scheduler unreachable, a harmonizer with no `source`).
    """
    input_path, output_path = Path(input_path), Path(output_path)
    check_output_outside_input(input_path, output_path)
    check_part(num_parts, part_id)
    backend = backend or BackendConfig()
    require_backend(backend)  # Dask missing fails here, not after every series header is read
    if input_path.is_file() and not is_dicom_name(input_path):
        if num_parts > 1:
            raise ConfigError(f"harmonize: {input_path} is one file; --num-parts splits a folder of series")
        volume = read_volume(input_path)
        _check_kernel(harmonizer, input_path, volume.meta.kernel, strict)
        harmonized = harmonizer(volume, progress=progress)
        derivation = harmonizer.derivation(volume.meta.kernel)  # NRRD keeps it as header fields
        return [write_volume(harmonized, output_path, derivation=derivation, overwrite=overwrite)]
    every = series_jobs(input_path, output_path, series_uid)
    jobs = select_part(every, num_parts, part_id)
    if num_parts > 1:
        log.info("part %d of %d: %d of the %d series", part_id, num_parts, len(jobs), len(every))
    for job in jobs:
        _check_kernel(harmonizer, job.series.folder, job.series.kernel, strict)
        plan_series(job.series)  # headers only: a bad series fails before any other is written
    resumable = len(every) > 1 or num_parts > 1
    existing: Existing = "replace" if overwrite else "skip" if resumable else "error"
    here = functools.partial(harmonize_job, harmonizer, existing=existing, progress=progress)
    source = harmonizer.source  # None: built in memory, so no worker can load it
    on_worker = functools.partial(_job_on_worker, source, existing=existing) if source else None
    return run_jobs(jobs, here, on_worker, backend, progress=progress)


def harmonize_job(
    harmonizer: Harmonizer, job: SeriesJob, *, existing: Existing = "error", progress: bool = True
) -> Outcome:
    """Harmonize one series of a tree into its output folder, unless a complete output is there.

    `existing` is what an existing output gets (see `series_jobs.triage`); returns "written",
    "skipped" (a complete output kept) or "redone" (an incomplete one replaced). Raises as
    `harmonize_series`.
    """
    outcome = triage(job, existing)
    if outcome != "skipped":
        overwrite = existing == "replace" or outcome == "redone"
        harmonize_series(harmonizer, job.series, job.out, overwrite=overwrite, progress=progress)
    return outcome


@functools.lru_cache(maxsize=1)
def _worker_harmonizer(source: ModelSource) -> Harmonizer:
    # A worker runs many series: it reads the model once, not once per series (one per process; a
    # task of another run with another model replaces it).
    return Harmonizer.load(
        source.path,
        device=source.device,
        window_mode=source.window_mode,
        batch_size=source.batch_size,
        precision=source.precision,
    )


def _job_on_worker(source: ModelSource, job: SeriesJob, *, existing: Existing) -> Outcome:
    return harmonize_job(_worker_harmonizer(source), job, existing=existing, progress=False)


def harmonize_series(
    harmonizer: Harmonizer, series: SeriesRef, out: Path, *, overwrite: bool = False, progress: bool = True
) -> Path:
    """Harmonize one DICOM series into a derived series, streaming `harmonizer.batch_size` slices at a time.

    The slices are sorted and checked from their headers first; then each batch is read, harmonized
    and written into a temporary folder that becomes `out` only when every slice is there. Memory holds
    one batch of pixels (plus the file list), not the series.

    Args:
        harmonizer: the loaded model.
        series: the series, as `find_series` found it.
        out: the derived series folder to create.
        overwrite: replace an existing `out`.
        progress: show a progress bar over the batches.

    Returns:
        `out`.

    Raises:
        InvalidSeriesError: the series cannot become a volume (geometry, unreadable slices).
        OutputError: `out` exists without `overwrite`, lies in the input, or cannot be written; nothing
            is left at `out` then, nor on any other error or interruption.
    """
    plan = plan_series(series)
    geometry = plan.geometry
    with dicom_series_writer(
        out,
        positions_xyz_mm=plan.positions_xyz_mm(),
        direction=geometry.direction,
        spacing_zyx_mm=geometry.spacing_zyx_mm,
        source_series_uid=series.series_uid,
        derivation=harmonizer.derivation(plan.meta.kernel),
        overwrite=overwrite,
        inputs=plan.folders,
    ) as writer:
        # The whole series' range, read in a first pass over the pixels (one slice at a time): the
        # headers rarely carry it, and a batch's own range would make the pixels depend on the batch
        # size while the derived UIDs do not. This pass costs one more read and decode of each slice.
        source_range = series_hu_range(plan)
        batches = iter_slice_batches(plan, harmonizer.batch_size)
        total = -(-len(plan.files) // harmonizer.batch_size)
        for batch in tqdm(
            batches, total=total, desc="harmonize", unit="batch", disable=not progress, leave=False
        ):
            writer.write(batch.datasets, harmonizer.harmonize_slices(batch.hu, source_range))
    return out


def _check_kernel(harmonizer: Harmonizer, where: Path, kernel: str, strict: bool) -> None:
    """Warn about (or, with `strict`, refuse) a kernel other than the one the model was trained on."""
    expected = harmonizer.metadata.source_kernel
    if not (expected and kernel and kernel != expected):
        return  # the same kernel, or one of them unknown: nothing to compare
    if strict:
        raise InputError(where, f"series kernel {kernel} differs from the model's source kernel {expected}")
    log.warning("%s: series kernel %s differs from the model's source kernel %s", where, kernel, expected)
