"""The `radiomicgan` command line: argument parsing and error presentation only.

Every subcommand calls one public library function. Library errors (RadiomicGANError) become one
line on stderr and exit code 2; nothing else here knows about exit codes.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Callable, Sequence

from radiomicgan import __version__
from radiomicgan.errors import RadiomicGANError

EXIT_OK = 0
EXIT_BAD_INPUT = 2
EXIT_INTERRUPTED = 130

Handler = Callable[[argparse.Namespace], int]

DESCRIPTION = """\
Harmonize CT images across reconstruction kernels so radiomic features become reproducible
(RadiomicGAN, Dynamic Window-based Training).

Typical session:
  radiomicgan simulate phantom pairs/          # paired kernels from the built-in phantom
  radiomicgan info pairs/                      # what series are there
  radiomicgan train --source pairs/smooth --target pairs/sharp --out runs/rg
  radiomicgan harmonize --model runs/rg scans/smooth harmonized/
  radiomicgan evaluate --reference pairs/sharp --candidate input=pairs/smooth \\
      --candidate radiomicgan=harmonized/ --out report/
  radiomicgan features harmonized/ --mask tumour_seg.dcm --out features.csv   # the user's lesions
  radiomicgan models add runs/rg --name br40-to-b70   # a registry picks the model by kernel
  radiomicgan serve --model auto --port 11112 --forward PACS@pacs:4242 --spool spool/   # a DICOM node
Run `radiomicgan COMMAND --help` for each command's options.
"""


# in `radiomicgan --help`'s order; each is the module radiomicgan.commands.NAME with its `register`
COMMANDS = ("info", "simulate", "train", "harmonize", "evaluate", "features", "demo", "models", "serve")


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The argument parser, one subparser per command.

    Given the `command` the arguments name, only that command's module is imported and its options
    built: importing every command loads the evaluation stack (PyRadiomics, pandas, matplotlib),
    about 1 s that each `harmonize` run would otherwise pay (README, Performance). The other
    commands keep a bare subparser, so their names stay valid choices.
    """
    parser = argparse.ArgumentParser(
        prog="radiomicgan",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"radiomicgan {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debugging detail")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMANDS:
        if command in (None, name):
            importlib.import_module(f"radiomicgan.commands.{name}").register(sub)
        else:
            sub.add_parser(name)  # never parsed: the arguments name another command
    return parser


def named_command(argv: Sequence[str]) -> str | None:
    """The command `argv` names, or None (no command, an unknown one: the full parser explains)."""
    # the top-level options take no value, so the first word that is not an option is the command
    first = next((word for word in argv if not word.startswith("-")), None)
    return first if first in COMMANDS else None


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the process exit code."""
    words = sys.argv[1:] if argv is None else list(argv)
    args = build_parser(named_command(words)).parse_args(words)
    _configure_logging(verbose=args.verbose)
    handler: Handler = args.handler
    try:
        return handler(args)
    except RadiomicGANError as exc:
        print(f"radiomicgan {args.command}: error: {one_line(exc)}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print(f"radiomicgan {args.command}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


def one_line(exc: BaseException) -> str:
    """An exception's message folded onto one line."""
    return " ".join(str(exc).split())


class _StderrHandler(logging.Handler):
    """Writes to whatever sys.stderr is at the time (it is replaced under test runners and notebooks)."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            sys.stderr.write(self.format(record) + "\n")
        except Exception:  # a logging failure must never end the command
            self.handleError(record)


def _configure_logging(*, verbose: bool) -> None:
    handler = _StderrHandler()
    handler.setFormatter(logging.Formatter("radiomicgan: %(levelname)s: %(message)s"))
    root = logging.getLogger("radiomicgan")
    root.handlers[:] = [handler]
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
    root.propagate = False


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
