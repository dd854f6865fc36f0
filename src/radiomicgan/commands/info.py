"""`radiomicgan info`: what series a folder, file or tree holds."""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict
from pathlib import Path

from radiomicgan.commands.common import SubParsers, add_command
from radiomicgan.io import format_summary, summarize

DESCRIPTION = """\
Summarize every image series found under each PATH (a DICOM folder or tree, a DICOM file,
an NRRD or NIfTI file): modality, reconstruction kernel, slices, size, spacing, HU range and
transfer syntax. A series or file that cannot be read is listed with its problem; the exit code
is 2 only when a PATH is missing or holds nothing that could be read. Nothing is written.

Examples:
  radiomicgan info scans/
  radiomicgan info ../shared/data/lung1_image.nrrd --json
"""


def register(sub: SubParsers) -> None:
    parser = add_command(sub, "info", "summarize the series under a path", DESCRIPTION)
    parser.add_argument("paths", nargs="+", type=Path, metavar="PATH")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    summaries = []
    for path in args.paths:
        summaries.extend(summarize(path))
    if args.json:
        print(json.dumps([asdict(s) for s in summaries], indent=2, default=str))
    else:
        print(format_summary(summaries))
    return 0
