"""`radiomicgan serve`: a DICOM node that harmonizes series as they arrive and forwards them to a PACS."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from types import ModuleType

from radiomicgan.commands.common import SubParsers, add_command, add_config_option, config_layers
from radiomicgan.config import NodeConfig, build
from radiomicgan.errors import ConfigError

DESCRIPTION = """\
Run a DICOM node: a Storage SCP that accepts CT series, harmonizes each one once no instance has
come for --series-idle seconds, and sends the harmonized series (a new series in the same study,
UIDs derived from the source's) to a PACS by C-STORE (--forward) or STOW-RS (--forward-dicomweb).

Every instance is written to the spool, and fsynced, before its C-STORE is acknowledged; a series
leaves the spool only when the destination has confirmed every instance. A node killed at any
moment finishes, when started again on the same spool, what it acknowledged: sending again sends
the same UIDs, never a second series. A series that cannot be harmonized (not CT, another kernel
under --strict, a damaged file) goes to SPOOL/quarantine/ with a reason.txt; a destination that is
down is tried again with a growing wait. SIGTERM (or Ctrl-C) stops accepting, lets open
associations finish, and stops after the current series' step.

--model auto takes, for each series, the registered model (radiomicgan models) whose source
kernel and manufacturer match the series' ConvolutionKernel and Manufacturer; a series no model
matches is quarantined. Models registered while the node runs count from the next series on.

The rest of the node's settings (timeouts, retry times, the model's device and batch size under
harmonize:) can be given in a YAML file (--config); options override it.

Examples:
  radiomicgan serve --model runs/rg --port 11112 --forward ORTHANC@pacs:4242 --spool /var/spool/rg
  radiomicgan serve --model runs/rg --port 11112 --spool spool/ \\
      --forward-dicomweb http://pacs:8042/dicom-web/studies --series-idle 60 --strict
  radiomicgan serve --model auto --port 11112 --forward ORTHANC@pacs:4242 --spool /var/spool/rg
  radiomicgan serve --config node.yaml
  radiomicgan serve --status --spool /var/spool/rg
"""


def register(sub: SubParsers) -> None:
    parser = add_command(sub, "serve", "run a DICOM node that harmonizes series on arrival", DESCRIPTION)
    parser.add_argument(
        "--model",
        metavar="RUN_DIR|FILE|auto",
        help="the trained model, or auto: per series, the registered model matching its kernel and "
        "manufacturer",
    )
    parser.add_argument(
        "--registry",
        type=Path,
        metavar="DIR",
        help="the model registry of --model auto (default: see models)",
    )
    parser.add_argument("--port", type=int, help=f"DICOM port to listen on (default: {NodeConfig.port})")
    parser.add_argument(
        "--ae-title", metavar="AET", help=f"the node's AE title (default: {NodeConfig.ae_title})"
    )
    parser.add_argument(
        "--forward", metavar="AET@HOST:PORT", help="the Storage SCP to send harmonized series to"
    )
    parser.add_argument("--forward-dicomweb", metavar="URL", help="or a STOW-RS URL to send them to")
    parser.add_argument("--spool", type=Path, metavar="DIR", help="where series wait until they are sent")
    parser.add_argument(
        "--series-idle",
        type=float,
        metavar="SECONDS",
        help="a series is complete after this long without a new instance "
        f"(default: {NodeConfig.series_idle_s:g})",
    )
    parser.add_argument(
        "--strict",
        action="store_true",
        default=None,
        help="quarantine series with another kernel than the model's",
    )
    add_config_option(parser)
    parser.add_argument(
        "--status",
        action="store_true",
        help="list the spool's pending, quarantined and sent series, and exit",
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    node = _node_package()
    if args.status:
        if args.spool is None:
            raise ConfigError("serve: --status needs --spool DIR")
        print(node.format_status(node.spool_status(args.spool)))
        return 0
    args.series_idle_s = args.series_idle
    args.spool = str(args.spool) if args.spool else None
    args.registry = str(args.registry) if args.registry else None
    names = ["model", "registry", "port", "ae_title", "forward", "forward_dicomweb", "spool", "series_idle_s"]
    names.append("strict")
    config = build(NodeConfig, *config_layers(args, names))
    # pynetdicom logs every association and message at INFO; the node logs one line per series.
    logging.getLogger("pynetdicom").setLevel(logging.WARNING)
    node.run_node(config)
    return 0


def _node_package() -> ModuleType:
    try:
        import radiomicgan.node as node
    except ModuleNotFoundError as exc:
        if exc.name != "pynetdicom":
            raise
        raise ConfigError("serve: needs pynetdicom: pip install 'radiomicgan[node]'") from exc
    return node
