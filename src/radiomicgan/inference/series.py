"""Harmonize files, series and folder trees on disk with a trained harmonizer (`inference.harmonizer`).

A run is checked first, against the model file's metadata alone (`check_request`): the input exists,
the outputs may be written, every series' headers read, its kernel and pixel spacing checked. Only
then is the model loaded (the CLI), which may take seconds (an ONNX export), and run (`run_request`).

A DICOM series is streamed: sorted and checked from its headers, then read, harmonized and written
batch by batch, so memory holds one batch of slices whatever the series' length. NRRD/NIfTI files
are read and written whole.

The series of a tree are jobs (`inference.jobs`), run here one by one or on a Dask cluster whose
workers load the model once each; an array job takes a share of them, and a re-run keeps complete
outputs.
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass, field
from pathlib import Path

from radiomicgan.cluster import require_backend
from radiomicgan.config import BackendConfig, HarmonizeConfig
from radiomicgan.errors import ConfigError, InputError, OutputError
from radiomicgan.inference.harmonizer import Harmonizer, ModelSource, check_model_spacing
from radiomicgan.inference.jobs import (
    Existing,
    Outcome,
    SeriesJob,
    check_output_outside_input,
    check_part,
    check_replaceable_outputs,
    existing_policy,
    is_dicom_name,
    run_jobs,
    select_part,
    series_jobs,
    triage,
)
from radiomicgan.io import (
    SeriesRef,
    Volume,
    dicom_series_writer,
    iter_slice_batches,
    kernel_text,
    plan_series,
    read_volume,
    same_kernel,
    write_volume,
)
from radiomicgan.io.atomic import check_output
from radiomicgan.io.itk_formats import itk_format
from radiomicgan.modelfile import ModelMetadata, read_metadata
from radiomicgan.progress import progress_bar
from radiomicgan.spacing import pixel_spacing

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Request:
    """A harmonize run that passed its checks (`check_request`): what to harmonize and where it goes.

    Attributes:
        output_path: the file, series folder or tree root to write.
        volume: a NRRD/NIfTI input, read whole; None for DICOM.
        jobs: the DICOM series of the share to run, with their outputs (those --strict skips left out).
        skipped: how many series of the share --strict skips.
        existing: what an existing series output gets (`jobs.triage`).
        overwrite: replace an existing output file (a NRRD/NIfTI input).
        backend: where the series run.
    """

    output_path: Path
    volume: Volume | None = None
    jobs: list[SeriesJob] = field(default_factory=list)
    skipped: int = 0
    existing: Existing = "error"
    overwrite: bool = False
    backend: BackendConfig = field(default_factory=BackendConfig)


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
    `overwrite` replaces only outputs radiomicgan wrote: any other file in one refuses the whole run.

    Args:
        harmonizer: the loaded model.
        input_path: a series folder, a file, or a folder tree.
        output_path: the series folder or file to write, or the root of the mirrored tree.
        series_uid: harmonize only this SeriesInstanceUID.
        overwrite: replace existing outputs.
        strict: refuse a series whose ConvolutionKernel differs from the model's source kernel
            (otherwise a warning). One series (or file) is refused with an error; in a tree it is
            skipped with a warning, the others are harmonized, and the count skipped is logged.
        progress: show progress bars.
        backend: where the series run (one task each): "local" (default) one after another here;
            "dask" on a cluster whose workers load `harmonizer.source` once each. Results are the same.
        num_parts: split the series into this many shares, for as many independent jobs.
        part_id: the share to harmonize, 0 .. num_parts - 1 (see `jobs.part_of`).

    Returns:
        The outputs of the share's series (written now or kept complete), or the file written.

    Raises:
        As `check_request` and `run_request`.
    """
    request = check_request(
        harmonizer.metadata, harmonizer.settings, input_path, output_path, series_uid=series_uid,
        overwrite=overwrite, strict=strict, backend=backend, num_parts=num_parts, part_id=part_id,
    )  # fmt: skip
    return run_request(harmonizer, request, progress=progress)


def harmonize_model(
    model: str | Path,
    input_path: str | Path,
    output_path: str | Path,
    settings: HarmonizeConfig | None = None,
    *,
    series_uid: str | None = None,
    overwrite: bool = False,
    strict: bool = False,
    progress: bool = True,
    backend: BackendConfig | None = None,
    num_parts: int = 1,
    part_id: int = 0,
) -> list[Path]:
    """`harmonize_path` with the model given by its file, as `radiomicgan harmonize` runs it.

    The whole run is checked against the model file's metadata (`check_request`) before the model is
    loaded, which may take seconds (an ONNX export): bad input fails at once.

    Args:
        model: a run folder or a .safetensors model file.
        input_path, output_path, series_uid, overwrite, strict, progress, backend, num_parts, part_id:
            as `harmonize_path`.
        settings: how the model runs; None takes the `HarmonizeConfig` defaults.

    Returns:
        As `harmonize_path`.

    Raises:
        As `check_request`, `Harmonizer.load` and `run_request`.
    """
    settings = settings or HarmonizeConfig()
    request = check_request(
        read_metadata(model), settings, input_path, output_path, series_uid=series_uid,
        overwrite=overwrite, strict=strict, backend=backend, num_parts=num_parts, part_id=part_id,
    )  # fmt: skip
    return run_request(Harmonizer.load(model, settings), request, progress=progress)


def check_request(
    metadata: ModelMetadata,
    settings: HarmonizeConfig,
    input_path: str | Path,
    output_path: str | Path,
    *,
    series_uid: str | None = None,
    overwrite: bool = False,
    strict: bool = False,
    backend: BackendConfig | None = None,
    num_parts: int = 1,
    part_id: int = 0,
) -> Request:
    """Check a run against the model's metadata before the model is loaded; see `harmonize_path`.

    Reads a NRRD/NIfTI input whole, and a DICOM series' headers only.

    Raises:
        InputError: unreadable input, no CT series, (with `strict`) a kernel other than the model's
            source kernel for one series, or for every series of a tree, or a pixel spacing beyond
            `SpacingTolerance.refuse` without `settings.resample` or `settings.force`.
        OutputError: output inside the input, (one series) existing without `overwrite`, an output
            to replace that holds what radiomicgan did not write, or a DICOM folder named as the
            output of a NRRD/NIfTI input.
        ConfigError: a share that does not exist, a file split into parts, or a dask backend that
            cannot be had (not installed, scheduler unreachable).
    """
    input_path, output_path = Path(input_path), Path(output_path)
    check_output_outside_input(input_path, output_path)
    check_part(num_parts, part_id)
    backend = backend or BackendConfig()
    require_backend(backend)  # Dask missing fails here, not after every series header is read
    if input_path.is_file() and not is_dicom_name(input_path):
        if num_parts > 1:
            raise ConfigError(f"harmonize: {input_path} is one file; --num-parts splits a folder of series")
        _check_file_output(input_path, output_path)
        volume = read_volume(input_path)
        _check_kernel(metadata.source_kernel, input_path, volume.meta.kernel, strict)
        where = volume.source_path or Path("<volume>")
        check_model_spacing(metadata, settings, where, pixel_spacing(volume.spacing_zyx_mm))
        return Request(output_path, volume=volume, overwrite=overwrite, backend=backend)
    every = series_jobs(input_path, output_path, series_uid)
    jobs = select_part(every, num_parts, part_id)
    if num_parts > 1:
        log.info("part %d of %d: %d of the %d series", part_id, num_parts, len(jobs), len(every))
    resumable = len(every) > 1 or num_parts > 1
    if overwrite and resumable:
        check_replaceable_outputs(jobs)  # before any series is replaced, or any kernel warned about
    kept = _kernel_checked(metadata.source_kernel, input_path, jobs, strict=strict, tree=resumable)
    check_jobs(metadata, settings, kept, overwrite=overwrite, resumable=resumable)
    existing = existing_policy(overwrite, resumable)
    return Request(output_path, jobs=kept, skipped=len(jobs) - len(kept), existing=existing, backend=backend)


def check_jobs(
    metadata: ModelMetadata,
    settings: HarmonizeConfig,
    jobs: list[SeriesJob],
    *,
    overwrite: bool,
    resumable: bool,
) -> None:
    """Check a model's series jobs from their headers, before the model loads or any series is written.

    (A tree's outputs to replace are checked by `jobs.check_replaceable_outputs`.)

    Args:
        metadata: the model file's metadata (its training spacing).
        settings: how the model runs (resample, force).
        jobs: the series and their outputs.
        overwrite: an existing output of one series is to be replaced.
        resumable: a tree or a share, whose existing complete outputs are kept; one series otherwise,
            whose output is checked here.

    Raises:
        InputError: a series' headers do not make a volume, or its pixel spacing is refused.
        OutputError: (one series) its output exists without `overwrite`, lies in the input, or holds
            what radiomicgan did not write.
    """
    # Headers only: a bad series fails before any other is written.
    plans = [plan_series(job.series) for job in jobs]
    for job, plan in zip(jobs, plans, strict=True):
        spacing_mm = pixel_spacing(plan.geometry.spacing_zyx_mm)
        check_model_spacing(metadata, settings, job.series.folder, spacing_mm)
        if not resumable:  # its writer checks again; here, so a refused output fails before the model loads
            check_output(job.out, overwrite=overwrite, inputs=plan.folders, is_dir=True)


def run_request(harmonizer: Harmonizer, request: Request, *, progress: bool = True) -> list[Path]:
    """Harmonize what `check_request` accepted; returns the outputs (see `harmonize_path`).

    Raises:
        InvalidSeriesError: a series cannot become a volume. OutputError: an output that cannot be
            written, or (a file) exists without `overwrite`. ConfigError: the dask backend with a
            harmonizer that has no `source` (built in memory), or Dask cannot be had.
    """
    if request.volume is not None:
        volume = request.volume
        harmonized = harmonizer.harmonize_volume(volume, progress=progress)  # spacing checked already
        derivation = harmonizer.derivation(volume.meta.kernel)  # NRRD keeps it as header fields
        return [
            write_volume(harmonized, request.output_path, derivation=derivation, overwrite=request.overwrite)
        ]
    if request.backend.name == "dask":
        harmonizer.announce()  # the workers say it in their own logs; here, once, for the user
    existing = request.existing
    here = functools.partial(harmonize_job, harmonizer, existing=existing, progress=progress)
    source = harmonizer.source  # None: built in memory, so no worker can load it
    on_worker = functools.partial(_job_on_worker, source, existing=existing) if source else None
    written = run_jobs(request.jobs, here, on_worker, request.backend, progress=progress)
    if request.skipped:
        total = len(request.jobs) + request.skipped
        log.warning("%d of %d series skipped under --strict (another kernel)", request.skipped, total)
    return written


def _check_file_output(input_path: Path, output_path: Path) -> None:
    """A NRRD/NIfTI input has no DICOM headers to derive a series from: its output is a file too."""
    if itk_format(output_path) is None:
        raise OutputError(
            output_path,
            f"a DICOM series cannot be made from {input_path.name} (no DICOM headers to derive it from); "
            "name a .nrrd or .nii.gz output file, or harmonize the DICOM series the volume came from",
        )


def _kernel_checked(
    expected: str, input_path: Path, jobs: list[SeriesJob], *, strict: bool, tree: bool
) -> list[SeriesJob]:
    """The jobs to run: a series with another kernel than the model's gets a warning; with `strict`,
    one series is refused, and in a tree each such series is skipped with a warning line.

    Raises:
        InputError: with `strict`, one series with another kernel, or a tree whose every series has one.
    """
    if not (strict and tree):
        for job in jobs:
            _check_kernel(expected, job.series.folder, job.series.kernel, strict)
        return jobs
    kept, refused = [], []
    for job in jobs:
        try:
            _check_kernel(expected, job.series.folder, job.series.kernel, strict=True)
            kept.append(job)
        except InputError as exc:
            refused.append(exc)
    if refused and not kept:
        raise InputError(input_path, f"no series has the model's source kernel {expected} (--strict)")
    for refusal in refused:
        log.warning("%s: skipped (--strict): %s", refusal.path, refusal.reason)
    return kept


def harmonize_job(
    harmonizer: Harmonizer, job: SeriesJob, *, existing: Existing = "error", progress: bool = True
) -> Outcome:
    """Harmonize one series of a tree into its output folder, unless a complete output is there.

    `existing` is what an existing output gets (see `jobs.triage`); returns "written",
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
    return Harmonizer.from_source(source)


def _job_on_worker(source: ModelSource, job: SeriesJob, *, existing: Existing) -> Outcome:
    return harmonize_job(_worker_harmonizer(source), job, existing=existing, progress=False)


def harmonize_series(
    harmonizer: Harmonizer, series: SeriesRef, out: Path, *, overwrite: bool = False, progress: bool = True
) -> Path:
    """Harmonize one DICOM series into a derived series, streaming a batch of slices at a time.

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
        harmonizer.announce()  # once the output is accepted: a refused one gets its error line only
        spacing_mm = pixel_spacing(geometry.spacing_zyx_mm)
        batches = iter_slice_batches(plan, harmonizer.settings.batch_size)
        total = -(-len(plan.files) // harmonizer.settings.batch_size)
        # A log gets the writer's one line per series, not one per batch.
        bar = progress_bar(
            batches,
            total=total,
            desc="harmonize",
            unit="batch",
            enabled=progress,
            log_every="never",
        )
        for batch in bar:
            writer.write(batch.datasets, harmonizer.harmonize_slices(batch.hu, spacing_mm))
    return out


def _check_kernel(expected: str, where: Path, kernel: str, strict: bool) -> None:
    """Warn about (or, with `strict`, refuse) a kernel other than `expected`, the model's source kernel."""
    if not (kernel_text(expected) and kernel_text(kernel)) or same_kernel(kernel, expected):
        return  # one of them unknown, or the same kernel and strength (case and padding ignored)
    problem = (
        f"series kernel {kernel_text(kernel)} differs from the model's source kernel {kernel_text(expected)}"
    )
    if strict:
        raise InputError(where, problem)
    log.warning("%s: %s", where, problem)
