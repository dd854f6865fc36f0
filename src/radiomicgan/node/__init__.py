"""The DICOM node behind `radiomicgan serve`: harmonize series as they arrive, forward them to a PACS.

A Storage SCP (`scp`) writes every instance durably into a spool (`spool`) before acknowledging it;
a worker (`worker`) harmonizes each series once it has gone quiet, streamed as `radiomicgan
harmonize` does (`radiomicgan.inference`), and sends it on (`forward`: C-STORE; `stow`: STOW-RS),
removing it from the spool only once the destination has confirmed every instance. `server.Node`
wires them; `server.run_node` runs one until SIGTERM. `status` lists what a spool holds.

Needs the `node` extra (pynetdicom): `pip install radiomicgan[node]`.
"""

from radiomicgan.node.forward import ForwardError, StorageSCU, backoff_s
from radiomicgan.node.server import Node, run_node
from radiomicgan.node.spool import Spool, series_key
from radiomicgan.node.status import SeriesStatus, format_status, spool_status
from radiomicgan.node.stow import StowRS

__all__ = [
    "ForwardError",
    "Node",
    "SeriesStatus",
    "Spool",
    "StorageSCU",
    "StowRS",
    "backoff_s",
    "format_status",
    "run_node",
    "series_key",
    "spool_status",
]
