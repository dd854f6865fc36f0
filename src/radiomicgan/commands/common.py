"""Pieces every command shares: the config-file option and turning options into a config layer."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

from radiomicgan.config import load_yaml


class SubParsers(Protocol):
    """The object `add_subparsers` returns (typed loosely: argparse keeps it private)."""

    def add_parser(self, name: str, **kwargs: Any) -> argparse.ArgumentParser: ...


def add_command(sub: SubParsers, name: str, summary: str, description: str) -> argparse.ArgumentParser:
    """A subcommand whose --help shows its description verbatim (examples keep their layout).

    It takes the options every command shares (`-v`), after its name as well as before it.
    """
    return sub.add_parser(
        name,
        help=summary,
        description=description,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        parents=[_shared_options()],
    )


def _shared_options() -> argparse.ArgumentParser:
    # SUPPRESS: a command that was not given -v keeps what `radiomicgan -v COMMAND` set (argparse
    # would otherwise copy the subcommand's default over it).
    parent = argparse.ArgumentParser(add_help=False)
    parent.add_argument(
        "-v", "--verbose", action="store_true", default=argparse.SUPPRESS, help="log debugging detail"
    )
    return parent


def add_config_option(parser: argparse.ArgumentParser) -> None:
    """The `--config FILE` option every configurable command shares."""
    parser.add_argument(
        "--config",
        type=Path,
        metavar="FILE",
        help="YAML file overriding the defaults; command-line options override the file",
    )


def config_layers(args: argparse.Namespace, names: Sequence[str]) -> list[dict[str, Any] | None]:
    """The config file (if any) then the named CLI options; unset options (None) keep lower layers."""
    file_layer = load_yaml(args.config) if getattr(args, "config", None) else None
    return [file_layer, {name: getattr(args, name) for name in names}]
