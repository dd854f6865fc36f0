"""`radiomicgan harmonize`: apply a trained model to series, files or whole folder trees."""

from __future__ import annotations

import argparse
from pathlib import Path

from radiomicgan.commands.common import SubParsers, add_command
from radiomicgan.harmonize import Harmonizer, harmonize_path

DESCRIPTION = """\
Harmonize CT series with a trained model: each slice is standardized in the HU window, rounded
to integer HU and written as a derived DICOM series (new series and instance UIDs in the same
study and frame of reference, ImageType DERIVED\\SECONDARY). NRRD/NIfTI input gives NRRD/NIfTI.
INPUT may be one series, a file, or a folder tree of many series (OUTPUT mirrors the tree).
DICOM series are streamed: memory holds --batch-size slices, not the series. A series whose
kernel differs from the model's source kernel gets a warning, or with --strict an error.

Examples:
  radiomicgan harmonize --model runs/rg scans/patient1/smooth harmonized/patient1
  radiomicgan harmonize --model runs/rg/model.safetensors archive/ harmonized/ --batch-size 8
  radiomicgan harmonize --model runs/rg archive/ harmonized/ --device cuda --precision fp16 --strict
"""


def register(sub: SubParsers) -> None:
    parser = add_command(sub, "harmonize", "harmonize series with a trained model", DESCRIPTION)
    parser.add_argument("--model", required=True, type=Path, metavar="RUN_DIR_OR_FILE", help="trained model")
    parser.add_argument("input", type=Path, metavar="INPUT", help="series folder, file or folder tree")
    parser.add_argument("output", type=Path, metavar="OUTPUT", help="where the harmonized series go")
    parser.add_argument("--batch-size", type=int, default=4, help="slices per forward pass (default: 4)")
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto", help="default: auto")
    parser.add_argument(
        "--precision",
        choices=("auto", "fp32", "bf16", "fp16"),
        default="auto",
        help="mixed precision of the generator (default: auto, fp32 on a CPU; on a GPU fp16 if the "
        "first batch stays within 1 HU of fp32)",
    )
    parser.add_argument(
        "--window",
        choices=("full", "training"),
        default="full",
        help="standardize [-1024, 1000] HU (full, default) or the final training window (training)",
    )
    parser.add_argument("--series", metavar="UID", help="harmonize only this SeriesInstanceUID")
    parser.add_argument("--overwrite", action="store_true", help="replace existing output series")
    parser.add_argument(
        "--strict",
        action="store_true",
        help="refuse series whose kernel differs from the model's source kernel (default: warn)",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    harmonizer = Harmonizer.load(
        args.model,
        device=args.device,
        window_mode=args.window,
        batch_size=args.batch_size,
        precision=args.precision,
    )
    written = harmonize_path(
        harmonizer,
        args.input,
        args.output,
        series_uid=args.series,
        overwrite=args.overwrite,
        strict=args.strict,
        progress=not args.quiet,
    )
    for path in written:
        print(path)
    return 0
