"""The DICOM node: a Storage SCP that spools, a worker that harmonizes and forwards, wired together.

`run_node(config)` is what `radiomicgan serve` runs: it opens the node (every start-up check fails
here, with one clear error), serves until SIGTERM or SIGINT, then drains: it stops accepting, lets
open associations finish for `drain_s`, lets the worker finish the step it is in, and returns.
Whatever was acknowledged and not yet sent stays in the spool for the next start.
"""

from __future__ import annotations

import logging
import signal
import threading
from types import FrameType

from radiomicgan.config import NodeConfig
from radiomicgan.errors import ConfigError
from radiomicgan.node.forward import Destination, StorageSCU
from radiomicgan.node.models import FixedModel, ModelChooser, RegistryModels
from radiomicgan.node.scp import StorageSCP
from radiomicgan.node.spool import Spool
from radiomicgan.node.stow import StowRS
from radiomicgan.node.worker import SeriesWorker
from radiomicgan.registry import ModelRegistry

log = logging.getLogger(__name__)

AUTO = "auto"  # --model auto: each series' model from the registry


class Node:
    """A running DICOM node. Open it with `Node.open(config)`, then `start`, and `stop` at the end.

    Attributes:
        config: the node's configuration.
        spool: its spool (locked while the node is open).
        scp: the Storage SCP.
        worker: the series worker.
    """

    def __init__(
        self, config: NodeConfig, spool: Spool, models: ModelChooser, destination: Destination
    ) -> None:
        self.config = config
        self.spool = spool
        self.models = models
        self.destination = destination
        self.scp = StorageSCP(spool, config)
        self.worker = SeriesWorker(spool, models, destination, config)
        self._thread: threading.Thread | None = None

    @classmethod
    def open(cls, config: NodeConfig) -> Node:
        """Check everything a node needs, in the order that fails fastest, and open its spool.

        Raises:
            ConfigError: no model, spool or destination given; the destination does not answer.
            OutputError: the spool cannot be written, or another node has it.
            InputError: the model is not a radiomicgan model.
        """
        check_complete(config)
        models = choose_models(config)
        models.check()
        destination = open_destination(config)
        destination.check()
        return cls(config, Spool.open(config.spool, sent_records=config.sent_records), models, destination)

    @property
    def port(self) -> int:
        """The DICOM port the node listens on."""
        return self.scp.port

    def start(self) -> None:
        """Listen, load the model, and start the worker.

        Raises:
            ConfigError: the port cannot be bound (the spool is released).
            InputError: the model cannot be loaded.
        """
        try:
            self.scp.start()
            if isinstance(self.models, FixedModel):
                self.models.load()  # before the first series, not during it
        except BaseException:
            self.scp.stop(0.0)
            self.spool.close()
            raise
        self._thread = threading.Thread(target=self.worker.run, name="radiomicgan-worker", daemon=True)
        self._thread.start()
        log.info(
            "node %s listening on port %d, %s, forwarding to %s, spool %s (%d series pending)",
            self.config.ae_title, self.port, self.models.describe(), self.destination.describe(),
            self.spool.root, self.spool.pending(),
        )  # fmt: skip

    def stop(self) -> None:
        """Drain and stop: no new associations, open ones get `drain_s`, the worker ends its step."""
        log.info("node stopping: no new associations; draining")
        self.scp.stop(self.config.drain_s)
        self.worker.stopping.set()
        if self._thread is not None:
            self._thread.join()
        pending = self.spool.pending()
        self.spool.close()
        log.info("node stopped (%d series left in the spool for the next start)", pending)


def check_complete(config: NodeConfig) -> None:
    """Refuse a configuration without a model, a spool or a destination.

    Raises:
        ConfigError: naming what is missing.
    """
    missing = [
        option
        for option, value in (
            ("--model", config.model),
            ("--spool", config.spool),
            ("--forward or --forward-dicomweb", config.forward or config.forward_dicomweb),
        )
        if not value
    ]
    if missing:
        raise ConfigError(f"serve: {', '.join(missing)} required (on the command line or in --config)")


def choose_models(config: NodeConfig) -> ModelChooser:
    """The model chooser `config.model` names: a run folder or model file, or "auto", the registry.

    Raises:
        ConfigError: a registry named for a model given by path.
    """
    if config.model == AUTO:
        return RegistryModels(ModelRegistry(config.registry or None), config.harmonize)
    if config.registry:
        raise ConfigError("serve: --registry is for --model auto; a model given by path needs none")
    return FixedModel(config.model, config.harmonize)


def open_destination(config: NodeConfig) -> Destination:
    """The destination the configuration names (not yet checked)."""
    if config.forward_dicomweb:
        return StowRS(config.forward_dicomweb, timeout_s=config.timeout_s)
    return StorageSCU(config.forward, ae_title=config.ae_title, timeout_s=config.timeout_s)


def run_node(config: NodeConfig) -> None:
    """Run a node until SIGTERM or SIGINT, then drain and stop (what `radiomicgan serve` does).

    Must be called from the main thread (it installs the signal handlers, and restores them after).

    Raises:
        As `Node.open` and `Node.start`.
    """
    node = Node.open(config)
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        log.info("%s received", signal.Signals(signum).name)
        stop.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        node.start()
        while not stop.wait(1.0):
            pass
        node.stop()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
