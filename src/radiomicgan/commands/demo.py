"""`radiomicgan demo`: the whole product on built-in data, in one command."""

from __future__ import annotations

import argparse
from pathlib import Path

from radiomicgan.commands.common import SubParsers, add_command
from radiomicgan.demo import run_demo

DESCRIPTION = """\
Run the toolkit end to end on the built-in phantom (no download, no GPU) and write an HTML
report: simulated training and test pairs with a retest of the standard kernel.

Examples:
  radiomicgan demo                  # writes demo_output/report.html
  radiomicgan demo --out /tmp/d --quick
"""


def register(sub: SubParsers) -> None:
    parser = add_command(sub, "demo", "run everything on built-in data and write a report", DESCRIPTION)
    parser.add_argument(
        "--out", type=Path, default=Path("demo_output"), help="output folder (default: demo_output)"
    )
    parser.add_argument("--quick", action="store_true", help="smaller and faster")
    parser.add_argument("--overwrite", action="store_true", help="replace an earlier demo's data")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    result = run_demo(args.out, quick=args.quick, overwrite=args.overwrite)
    print(f"report: {result.report}  ({result.seconds:.0f} s)")
    return 0
