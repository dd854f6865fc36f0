"""`radiomicgan harmonize`: apply a trained model to series, files or whole folder trees."""

from __future__ import annotations

import argparse
from pathlib import Path

from radiomicgan.commands.common import SubParsers, add_command
from radiomicgan.config import (
    BACKENDS,
    ENGINES,
    HARMONIZE_DEVICES,
    PRECISIONS,
    WINDOW_MODES,
    BackendConfig,
    HarmonizeConfig,
    SpacingTolerance,
)
from radiomicgan.errors import ConfigError
from radiomicgan.inference import harmonize_auto, harmonize_model
from radiomicgan.registry import ModelRegistry

AUTO = "auto"  # --model auto: each series' model from the registry

DESCRIPTION = """\
Harmonize CT series with a trained model: each slice is standardized in the HU window, rounded
to integer HU and written as a derived DICOM series (new series and instance UIDs in the same
study and frame of reference, ImageType DERIVED\\SECONDARY). NRRD/NIfTI input gives NRRD/NIfTI.
INPUT may be one series, a file, or a folder tree of many series (OUTPUT mirrors the tree).
DICOM series are streamed: memory holds --batch-size slices, not the series. A series whose
kernel differs from the model's source kernel gets a warning; with --strict one series is refused
and a tree skips it (a warning line each).
The series' pixel spacing is checked against the model's training spacing: a warning beyond
{warn:.0%}, a refusal beyond {refuse:.0%} unless --resample (harmonize on the model's grid and
resample the correction back) or --force.

A tree can be run again: a series whose output holds all its slices is kept (logged), an
incomplete one is redone, and --overwrite replaces them all; an output holding anything radiomicgan
did not write is refused, never deleted. --backend dask spreads the series over a Dask cluster
(pip install radiomicgan[cluster]): the scheduler at --scheduler, or a local cluster of --workers
processes; workers must see INPUT, OUTPUT and the model at the same paths.
--num-parts N --part-id K harmonizes share K of N (by a hash of the SeriesInstanceUID), for N
independent jobs such as a batch scheduler's array job.

--model auto picks, per series, the registered model (radiomicgan models) whose source kernel
(every value: Br40d\\3 is not Br40d\\2) and manufacturer match the series' header; each model is
loaded once. A series no model matches is skipped with a warning line; one series, or a tree in
which none matches, is refused. --registry DIR names the registry (default: the user's data folder).

Examples:
  radiomicgan harmonize --model runs/rg scans/patient1/smooth harmonized/patient1
  radiomicgan harmonize --model runs/rg/model.safetensors archive/ harmonized/ --batch-size 8
  radiomicgan harmonize --model runs/rg archive/ harmonized/ --device cuda --precision fp16 --strict
  radiomicgan harmonize --model runs/rg archive/ harmonized/ --backend dask --workers 4
  radiomicgan harmonize --model runs/rg archive/ harmonized/ --backend dask --scheduler tcp://head:8786
  radiomicgan harmonize --model runs/rg archive/ harmonized/ --num-parts 16 --part-id $SLURM_ARRAY_TASK_ID
  radiomicgan harmonize --model auto archive/ harmonized/
  radiomicgan harmonize --model auto --registry /srv/radiomicgan/models archive/ harmonized/
"""


def register(sub: SubParsers) -> None:
    tolerance = SpacingTolerance()
    description = DESCRIPTION.format(warn=tolerance.warn - 1, refuse=tolerance.refuse - 1)
    parser = add_command(sub, "harmonize", "harmonize series with a trained model", description)
    parser.add_argument(
        "--model",
        required=True,
        type=Path,
        metavar="RUN_DIR_OR_FILE|auto",
        help="trained model, or auto: per series, the registered model matching its kernel and manufacturer",
    )
    parser.add_argument(
        "--registry",
        type=Path,
        metavar="DIR",
        help="the model registry of --model auto (default: see models)",
    )
    parser.add_argument("input", type=Path, metavar="INPUT", help="series folder, file or folder tree")
    parser.add_argument("output", type=Path, metavar="OUTPUT", help="where the harmonized series go")
    defaults = HarmonizeConfig()
    parser.add_argument(
        "--batch-size",
        type=int,
        default=defaults.batch_size,
        help=f"slices per forward pass (default: {defaults.batch_size})",
    )
    parser.add_argument(
        "--device", choices=HARMONIZE_DEVICES, default=defaults.device, help=f"default: {defaults.device}"
    )
    parser.add_argument(
        "--precision",
        choices=PRECISIONS,
        default=defaults.precision,
        help=f"mixed precision of the generator (default: {defaults.precision}; auto: fp32 on a CPU, on a "
        "GPU fp16 if it stays within 1 HU of fp32 on probe slices at load)",
    )
    parser.add_argument(
        "--engine",
        choices=ENGINES,
        default=defaults.engine,
        help=f"what runs the generator (default: {defaults.engine}; auto: ONNX Runtime on a CPU in fp32 "
        "when installed (radiomicgan[onnx]) and within 1 HU of torch on probe slices at load, else torch)",
    )
    parser.add_argument(
        "--window",
        choices=WINDOW_MODES,
        default=defaults.window_mode,
        help="standardize [-1024, 1000] HU (full) or the final training window (training) "
        f"(default: {defaults.window_mode})",
    )
    parser.add_argument("--series", metavar="UID", help="harmonize only this SeriesInstanceUID")
    parser.add_argument(
        "--overwrite",
        action="store_true",
        help="replace existing output series radiomicgan wrote; a folder holding anything else is refused "
        "(default: a tree keeps complete ones, one series is refused)",
    )
    parser.add_argument(
        "--strict",
        action="store_true",
        help="refuse series whose kernel differs from the model's source kernel (default: warn)",
    )
    parser.add_argument(
        "--resample",
        action="store_true",
        help="harmonize series whose pixel spacing differs from the model's on the model's grid, "
        "and resample the correction back (default: warn beyond, or refuse far beyond, its spacing)",
    )
    parser.add_argument(
        "--force",
        action="store_true",
        help="harmonize series beyond the pixel-spacing refusal threshold as they are",
    )
    parser.add_argument(
        "--no-texture",
        dest="texture",
        action="store_false",
        help="leave out the residual texture a model adds (model.texture residual): its smooth prediction",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    _add_distribution_options(parser)
    parser.set_defaults(handler=run)


def _add_distribution_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--backend",
        choices=BACKENDS,
        default=BackendConfig.name,
        help=f"where the series run (default: {BackendConfig.name})",
    )
    parser.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        help="Dask scheduler, e.g. tcp://host:8786 (default: a local cluster)",
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=BackendConfig.workers,
        metavar="N",
        help="local Dask cluster processes (default: all cores)",
    )
    parser.add_argument("--num-parts", type=int, default=1, metavar="N", help="split the series in N shares")
    parser.add_argument("--part-id", type=int, default=0, metavar="K", help="the share to run, 0..N-1")


def settings_from_args(args: argparse.Namespace) -> tuple[HarmonizeConfig, BackendConfig]:
    """How the model runs, and where the series run, as the options give them."""
    settings = HarmonizeConfig(
        device=args.device,
        window_mode=args.window,
        batch_size=args.batch_size,
        precision=args.precision,
        engine=args.engine,
        resample=args.resample,
        force=args.force,
        texture=args.texture,
    )
    return settings, BackendConfig(name=args.backend, scheduler=args.scheduler or "", workers=args.workers)


def run(args: argparse.Namespace) -> int:
    settings, backend = settings_from_args(args)
    if str(args.model) == AUTO:  # a run folder named "auto" is ./auto
        written = harmonize_auto(
            ModelRegistry(args.registry), args.input, args.output, settings, series_uid=args.series,
            overwrite=args.overwrite, progress=not args.quiet, backend=backend, num_parts=args.num_parts,
            part_id=args.part_id,
        )  # fmt: skip
    elif args.registry is not None:
        raise ConfigError("harmonize: --registry is for --model auto; a model given by path needs none")
    else:
        written = harmonize_model(
            args.model, args.input, args.output, settings, series_uid=args.series, overwrite=args.overwrite,
            strict=args.strict, progress=not args.quiet, backend=backend, num_parts=args.num_parts,
            part_id=args.part_id,
        )  # fmt: skip
    for path in written:
        print(path)
    return 0
