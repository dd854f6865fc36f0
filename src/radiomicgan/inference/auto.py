"""`harmonize --model auto`: each series of a tree harmonized by the registered model its header asks for.

Each series' ConvolutionKernel and Manufacturer (read from its first file's header) choose a model
from the registry (`registry.matching`); the registry is listed once, so one run sees one set of
models. The series are grouped by model and every group is checked against its model file's
metadata (`series.check_jobs`) before any model is loaded, so bad input fails before anything is
written. Then each model is loaded once and runs its group as `harmonize --model` runs a tree
(`series.run_request`): resumable, shares, the local or Dask backend.

A series that no model matches is skipped with one warning line naming its folder; one series on
its own (or a whole tree in which nothing matches) is refused instead, as nothing would be written.
A share of a tree (`num_parts` > 1) that holds no matching series only warns: other shares may.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from pathlib import Path

from radiomicgan.cluster import require_backend
from radiomicgan.config import BackendConfig, HarmonizeConfig
from radiomicgan.errors import InputError
from radiomicgan.inference.harmonizer import Harmonizer
from radiomicgan.inference.jobs import (
    SeriesJob,
    check_output_outside_input,
    check_part,
    check_replaceable_outputs,
    existing_policy,
    is_dicom_name,
    select_part,
    series_jobs,
)
from radiomicgan.inference.series import Request, check_jobs, run_request
from radiomicgan.io.convolution_kernel import kernel_text
from radiomicgan.io.discovery import read_image_header
from radiomicgan.modelfile import read_metadata
from radiomicgan.registry import ModelRegistry, RegisteredModel, choose, series_keys

log = logging.getLogger(__name__)


def harmonize_auto(
    registry: ModelRegistry,
    input_path: str | Path,
    output_path: str | Path,
    settings: HarmonizeConfig | None = None,
    *,
    series_uid: str | None = None,
    overwrite: bool = False,
    progress: bool = True,
    backend: BackendConfig | None = None,
    num_parts: int = 1,
    part_id: int = 0,
) -> list[Path]:
    """Harmonize every CT series under `input_path` with the registered model matching its header.

    Args:
        registry: the registered models.
        input_path: a DICOM series folder or a tree (NRRD/NIfTI files carry no header to match).
        output_path, series_uid, overwrite, progress, backend, num_parts, part_id: as
            `inference.harmonize_path`.
        settings: how the models run; None takes the `HarmonizeConfig` defaults.

    Returns:
        The outputs of the series harmonized (written now or kept complete), by model then tree order.

    Raises:
        InputError: a NRRD/NIfTI input, an empty registry, one series that no model matches, or a tree
            in which none does; and as `inference.check_request`.
        OutputError, ConfigError: as `inference.check_request`.
    """
    settings = settings or HarmonizeConfig()
    backend = backend or BackendConfig()
    groups, resumable = _plan(
        registry, Path(input_path), Path(output_path), series_uid, num_parts, part_id, backend
    )
    if overwrite and resumable:
        check_replaceable_outputs([job for jobs in groups.values() for job in jobs])
    for model, jobs in groups.items():  # every group checked before the first model loads
        check_jobs(read_metadata(model.model_path), settings, jobs, overwrite=overwrite, resumable=resumable)
    written: list[Path] = []
    existing = existing_policy(overwrite, resumable)
    for model, jobs in groups.items():
        log.info("model %s: %d series (%s)", model.name, len(jobs), kernel_text(model.source_kernel))
        request = Request(Path(output_path), jobs=jobs, existing=existing, backend=backend)
        written += run_request(Harmonizer.load(model.model_path, settings), request, progress=progress)
    return written


def _plan(
    registry: ModelRegistry,
    input_path: Path,
    output_path: Path,
    series_uid: str | None,
    num_parts: int,
    part_id: int,
    backend: BackendConfig,
) -> tuple[dict[RegisteredModel, list[SeriesJob]], bool]:
    """The share's series grouped by their model (by model name), and whether the run is resumable."""
    check_output_outside_input(input_path, output_path)
    check_part(num_parts, part_id)
    require_backend(backend)
    if input_path.is_file() and not is_dicom_name(input_path):
        raise InputError(
            input_path,
            "--model auto chooses a model by the DICOM header; name the model for a NRRD/NIfTI file",
        )
    models = registry.list()
    if not models:
        raise InputError(registry.root, "no models registered (radiomicgan models add RUN --name NAME)")
    every = series_jobs(input_path, output_path, series_uid)
    jobs = select_part(every, num_parts, part_id)
    resumable = len(every) > 1 or num_parts > 1
    groups: dict[RegisteredModel, list[SeriesJob]] = defaultdict(list)
    unmatched = []
    for job in jobs:
        header = read_image_header(job.series.files[0])  # found as an image: not None
        kernel, manufacturer = series_keys(header) if header is not None else (job.series.kernel, "")
        model = choose(models, kernel, manufacturer)
        if model is None:
            unmatched.append((job, _unmatched(kernel, manufacturer)))
        else:
            groups[model].append(job)
    if unmatched and not groups and num_parts == 1:  # a share of an array job may well hold none
        _refuse(input_path, unmatched)
    for job, reason in unmatched:
        log.warning("%s: skipped: %s", job.series.folder, reason)
    if unmatched:
        log.warning("%d of %d series skipped: no registered model matches them", len(unmatched), len(jobs))
    return dict(sorted(groups.items(), key=lambda item: item[0].name)), resumable


def _unmatched(kernel: str, manufacturer: str) -> str:
    shown = kernel_text(kernel) or "none"
    return f"no registered model for kernel {shown}, manufacturer {manufacturer or 'unknown'}"


def _refuse(input_path: Path, unmatched: list[tuple[SeriesJob, str]]) -> None:
    """Nothing would be written: one series is refused by its folder, a tree as a whole.

    Raises:
        InputError: always.
    """
    if len(unmatched) == 1:
        job, reason = unmatched[0]
        raise InputError(job.series.folder, reason)
    reasons = "; ".join(sorted({reason.removeprefix("no registered model for ") for _, reason in unmatched}))
    raise InputError(
        input_path, f"none of its {len(unmatched)} series matches a registered model ({reasons})"
    )
