"""The node's Storage SCP (pynetdicom): each instance is in the spool, durably, before it is acknowledged.

Every association runs in its own thread (pynetdicom's threaded server); a C-STORE handler writes
the instance as it came off the wire (its encoded bytes, not re-encoded) into the spool and only then
answers success. Every storage SOP class is accepted, so a series that is not CT reaches the worker
and is quarantined with its reason, rather than refused with a status the sender may not report.
"""

from __future__ import annotations

import logging
import time
from typing import cast

from pynetdicom import AE, evt
from pynetdicom.dimse_primitives import C_STORE
from pynetdicom.events import Event, EventHandlerType
from pynetdicom.presentation import StoragePresentationContexts, build_context
from pynetdicom.sop_class import Verification  # type: ignore[attr-defined]
from pynetdicom.transport import ThreadedAssociationServer

from radiomicgan.config import NodeConfig
from radiomicgan.errors import ConfigError
from radiomicgan.node.spool import Spool

log = logging.getLogger(__name__)

SUCCESS = 0x0000
OUT_OF_RESOURCES = 0xA700  # Refused: the spool cannot be written (PS3.4 B.2.3)


class StorageSCP:
    """Listens for associations and stores every received instance in the spool.

    Args:
        spool: where instances go.
        config: ae_title, host, port, max_associations and timeout_s are read from it.
    """

    def __init__(self, spool: Spool, config: NodeConfig) -> None:
        self.spool = spool
        self.config = config
        self.ae = AE(ae_title=config.ae_title)
        self.ae.require_called_aet = True  # an association meant for another AE is refused
        self.ae.maximum_associations = config.max_associations
        self.ae.acse_timeout = config.timeout_s
        self.ae.dimse_timeout = config.timeout_s
        self.ae.network_timeout = config.timeout_s
        # pynetdicom's uncompressed transfer syntaxes: compressed pixel data would be stored, then fail
        # to decode in the worker without codecs (pylibjpeg...); a sender converts for these.
        self.ae.supported_contexts = [*StoragePresentationContexts, build_context(Verification)]
        self._server: ThreadedAssociationServer | None = None

    @property
    def port(self) -> int:
        """The port listened on (the one the system chose for port 0)."""
        if self._server is None:
            return self.config.port
        return int(self._server.server_address[1])

    def start(self) -> None:
        """Start listening (in background threads).

        Raises:
            ConfigError: the port cannot be bound (in use, or privileged).
        """
        address = (self.config.host, self.config.port)
        handlers: list[EventHandlerType] = [(evt.EVT_C_STORE, self._on_store)]
        try:
            self._server = self.ae.start_server(address, block=False, evt_handlers=handlers)
        except OSError as exc:
            where = f"{self.config.host or '*'}:{self.config.port}"
            raise ConfigError(f"serve: cannot listen on {where} ({exc.strerror or exc})") from exc

    def stop(self, drain_s: float) -> None:
        """Stop accepting associations; give the open ones `drain_s` seconds to end, then abort them.

        An aborted sender knows which instances were acknowledged: those are in the spool already.
        """
        if self._server is None:
            return
        self._server.shutdown()
        self._server = None
        deadline = time.monotonic() + drain_s
        while self.ae.active_associations and time.monotonic() < deadline:
            time.sleep(0.05)
        for assoc in self.ae.active_associations:
            log.warning("an association still open after %.0f s is aborted", drain_s)
            assoc.abort()

    def _on_store(self, event: Event) -> int:
        """Store one instance durably; success only once it is on disk."""
        request = cast(C_STORE, event.request)
        sop_uid = str(request.AffectedSOPInstanceUID or "")
        data = event.encoded_dataset()
        try:
            series_uid = str(event.dataset.get("SeriesInstanceUID", "") or "")
            problem = "" if series_uid else "no SeriesInstanceUID"
        except Exception as exc:  # pydicom raises many kinds on a damaged stream
            series_uid, problem = "", f"dataset cannot be decoded ({type(exc).__name__})"
        try:
            if series_uid:
                self.spool.store(series_uid, sop_uid, data)
            else:
                key = self.spool.store_unreadable(sop_uid, data, problem)
                log.warning("instance %s: quarantined: %s", key, problem)
        except OSError as exc:
            log.error("cannot write to the spool (%s): C-STORE refused", exc.strerror or exc)
            return OUT_OF_RESOURCES
        return SUCCESS
