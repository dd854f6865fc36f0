"""`radiomicgan models`: the model registry (`radiomicgan.registry`) from the command line."""

from __future__ import annotations

import argparse
from pathlib import Path

from radiomicgan.commands.common import SubParsers, add_command
from radiomicgan.io.convolution_kernel import kernel_text
from radiomicgan.registry import ModelRegistry, default_registry_dir, format_models

DESCRIPTION = """\
Keep trained models under names, each with a model card, and let `harmonize --model auto` (and
`serve --model auto`) pick one per series by its ConvolutionKernel and Manufacturer.

  list                 the registered models: name, method, source -> target kernel, manufacturer
  add RUN --name NAME  copy a run's model (a run folder or model.safetensors) into the registry with
                       its card: kernels, manufacturer, training data, method and budget, SHA-256,
                       and with --evaluation REPORT an evaluation's reproducibility summary
  show NAME            print a model's card (Markdown)
  remove NAME          remove a model

A series matches a model when its ConvolutionKernel is the model's source kernel, every value as
DICOM stores it (Br40d\\3 is not Br40d\\2), and its Manufacturer the model's (case and spaces ignored;
a model without a manufacturer matches any). The registry is a folder, one subfolder per name:
--registry DIR, or by default $XDG_DATA_HOME/radiomicgan/models (~/.local/share/radiomicgan/models).

Examples:
  radiomicgan models add runs/br40-a3 --name siemens-br40-a3
  radiomicgan models add runs/br40-a3 --name siemens-br40-a3 --evaluation report/ --overwrite
  radiomicgan models list
  radiomicgan models show siemens-br40-a3
  radiomicgan harmonize --model auto archive/ harmonized/
"""


def register(sub: SubParsers) -> None:
    parser = add_command(sub, "models", "list, add, show or remove registered models", DESCRIPTION)
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    shared = argparse.ArgumentParser(add_help=False)
    # -v after the action too ("models list -v"); SUPPRESS keeps what "radiomicgan -v models" set
    shared.add_argument(
        "-v", "--verbose", action="store_true", default=argparse.SUPPRESS, help="log debugging detail"
    )
    shared.add_argument(
        "--registry",
        type=Path,
        metavar="DIR",
        help=f"the registry folder (default: {default_registry_dir()})",
    )
    actions.add_parser("list", help="list the registered models", parents=[shared]).set_defaults(
        handler=run_list
    )
    add = actions.add_parser("add", help="register a run's model with its card", parents=[shared])
    add.add_argument("model", type=Path, metavar="RUN_DIR_OR_FILE", help="a run folder or model.safetensors")
    add.add_argument("--name", required=True, help="letters, digits and -_. (at most 64)")
    add.add_argument("--overwrite", action="store_true", help="replace a model registered under NAME")
    add.add_argument(
        "--manufacturer",
        help="the scanners' Manufacturer (0008,0070) the model is for; overrides the training series' "
        '("" for any manufacturer)',
    )
    add.add_argument(
        "--evaluation",
        type=Path,
        metavar="REPORT_DIR",
        help="an evaluate output folder to summarize on the card",
    )
    add.add_argument(
        "--candidate",
        metavar="NAME",
        help="the evaluation's candidate harmonized by this model (default: the one whose --training-run "
        "or derived series name this model)",
    )
    add.set_defaults(handler=run_add)
    for action, summary, handler in (
        ("show", "print a model's card", run_show),
        ("remove", "remove a model", run_remove),
    ):
        child = actions.add_parser(action, help=summary, parents=[shared])
        child.add_argument("name", metavar="NAME")
        child.set_defaults(handler=handler)


def run_list(args: argparse.Namespace) -> int:
    registry = ModelRegistry(args.registry)
    models = registry.list()
    print(format_models(models) if models else f"no models registered in {registry.root}")
    return 0


def run_add(args: argparse.Namespace) -> int:
    registry = ModelRegistry(args.registry)
    model = registry.add(
        args.model, args.name, overwrite=args.overwrite, manufacturer=args.manufacturer,
        evaluation=args.evaluation, candidate=args.candidate,
    )  # fmt: skip
    kernels = f"{kernel_text(model.source_kernel) or '?'} -> {kernel_text(model.target_kernel) or '?'}"
    print(f"registered {model.name} ({model.method}, {kernels}, {model.manufacturer or 'any manufacturer'})")
    print(model.card_path)
    return 0


def run_show(args: argparse.Namespace) -> int:
    print(ModelRegistry(args.registry).card(args.name), end="")
    return 0


def run_remove(args: argparse.Namespace) -> int:
    ModelRegistry(args.registry).remove(args.name)
    print(f"removed {args.name}")
    return 0
