"""`radiomicgan demo`: the whole product on built-in data, in one command."""

from __future__ import annotations

import argparse
from pathlib import Path

from radiomicgan.commands.common import SubParsers, add_command
from radiomicgan.demo import run_demo

DESCRIPTION = """\
Run the toolkit end to end on the built-in phantom (no download, no GPU): simulate a training and
a test scan (smooth and sharp kernels of one noisy sinogram, the test scan with a retest of the
sharp kernel), train RadiomicGAN with Dynamic Window-based Training, fit the classical baselines,
harmonize the test scan with each, and evaluate radiomic reproducibility against the sharp kernel
beside the input and the retest. Writes OUT/report/report.html and prints its path.

Budget on a 2-core CPU: under 10 minutes (under 3 with --quick). The figures show the pipeline at
work on a tiny training budget, not the method's best quality (see the README's benchmarks).

Examples:
  radiomicgan demo                      # writes demo_output/report/report.html
  radiomicgan demo --out /tmp/d --quick
  radiomicgan demo --overwrite          # replace an earlier demo's folder
"""


def register(sub: SubParsers) -> None:
    parser = add_command(sub, "demo", "run everything on built-in data and write a report", DESCRIPTION)
    parser.add_argument(
        "--out", type=Path, default=Path("demo_output"), help="output folder (default: demo_output)"
    )
    parser.add_argument("--quick", action="store_true", help="smaller and faster")
    parser.add_argument("--overwrite", action="store_true", help="replace an earlier demo's folder")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    result = run_demo(args.out, quick=args.quick, overwrite=args.overwrite, progress=not args.quiet)
    print(f"report: {result.report}  ({result.seconds:.0f} s)")
    return 0
