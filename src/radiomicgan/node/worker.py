"""The node's worker: each series that has gone quiet is harmonized, sent, then removed from the spool.

One series at a time, in one thread: a series is harmonized as `radiomicgan harmonize` does it
(`inference.harmonize_path`: checked from its headers, then streamed batch by batch, so memory holds
one batch), into `harmonized/<key>` in the spool; then sent. A series that cannot be harmonized (not
CT, another kernel under --strict, a damaged file, no model for it, one we harmonized already) is
quarantined with its reason;
one whose destination fails waits for the next try (`forward.backoff_s`) while the others go on.
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path

from pydicom import dcmread
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError

from radiomicgan.config import NodeConfig
from radiomicgan.errors import InputError, InvalidSeriesError, OutputError
from radiomicgan.inference import harmonize_path
from radiomicgan.node.forward import Destination, ForwardError, backoff_s
from radiomicgan.node.models import ModelChooser
from radiomicgan.node.spool import Claim, Spool, instance_files

log = logging.getLogger(__name__)

_POLL_S = 0.2  # how often an idle worker looks for a series that has gone quiet
_OUR_DERIVATION = "(method radiomicgan-"  # in the DerivationDescription of what we derive (`io.derivation`)


class SeriesWorker:
    """Takes quiet series from the spool, one at a time, and sees each through to the destination.

    Args:
        spool: the node's spool.
        models: picks each series' harmonizer.
        destination: where harmonized series go.
        config: series_idle_s, strict and the retry times are read from it.
    """

    def __init__(
        self, spool: Spool, models: ModelChooser, destination: Destination, config: NodeConfig
    ) -> None:
        self.spool = spool
        self.models = models
        self.destination = destination
        self.config = config
        self.stopping = threading.Event()

    def run(self) -> None:
        """Work until `stopping` is set; the series in hand finishes its current step first."""
        while not self.stopping.is_set():
            if not self.run_once():
                self.stopping.wait(_POLL_S)

    def run_once(self) -> bool:
        """Take one quiet series, if any, and process it; returns whether there was one."""
        claim = self.spool.claim_ready(self.config.series_idle_s)
        if claim is None:
            return False
        try:
            self.process(claim)
        except Exception as exc:  # a bug must not end the worker while the SCP goes on acknowledging
            log.exception("series %s: unexpected error", claim.key)
            self._postpone(claim, f"unexpected error: {type(exc).__name__}: {exc}")
        except BaseException:
            self.spool.release(claim)  # an interrupt: the series stays pending for the next start
            raise
        return True

    def process(self, claim: Claim) -> None:
        """Harmonize (unless done already) and send one series, then remove it from the spool."""
        key = claim.key
        if not (self.spool.harmonized_ready(key) or self._harmonize(claim)):
            return  # quarantined or postponed
        if self.stopping.is_set():
            self.spool.release(claim)  # harmonized and recorded: the next start sends it
            return
        derived = instance_files(self.spool.harmonized(key))
        started = time.monotonic()
        try:
            sent = self.destination.send(derived)
        except ForwardError as exc:
            self._postpone(claim, f"not sent ({exc})")
            return
        record = {"instances": sent, "destination": self.destination.describe()}
        removed = self.spool.finish(claim, record)
        seconds = time.monotonic() - started
        log.info(
            "series %s: %d instances sent to %s in %.1f s", key, sent, self.destination.describe(), seconds
        )
        if not removed:
            log.info("series %s: more instances came meanwhile; it will be harmonized and sent again", key)

    def _harmonize(self, claim: Claim) -> bool:
        """Harmonize a series into the spool; False when it was quarantined or postponed instead."""
        key = claim.key
        incoming = self.spool.incoming(key)
        sources = len(instance_files(incoming))  # counted before: an instance arriving now is redone later
        started = time.monotonic()
        log.info("series %s: %d instances, harmonizing", key, sources)
        try:
            harmonizer = self.models.choose(_first_header(incoming), incoming)
            out = self.spool.harmonized(key)
            harmonize_path(
                harmonizer, incoming, out, overwrite=True, strict=self.config.strict, progress=False
            )
            self.spool.mark_harmonized(key, sources)
        except InputError as exc:
            self._quarantine(claim, exc.reason)
            return False
        except (OutputError, OSError) as exc:  # the spool's disk, not the series: try again later
            self._postpone(claim, f"cannot write its harmonized series ({exc})")
            return False
        except Exception as exc:  # a bug must not stop the node: the series waits in quarantine
            log.exception("series %s: harmonizing failed", key)
            self._quarantine(claim, f"harmonizing failed: {type(exc).__name__}: {exc}")
            return False
        log.info("series %s: harmonized in %.1f s", key, time.monotonic() - started)
        return True

    def _postpone(self, claim: Claim, problem: str) -> None:
        """Try the series again later, after a wait that doubles with each failure in a row."""
        config = self.config
        delay = backoff_s(self.spool.attempts(claim.key) + 1, config.retry_initial_s, config.retry_max_s)
        failures = self.spool.postpone(claim, delay, problem)
        log.warning("series %s: %s; try %d failed, next in %.1f s", claim.key, problem, failures, delay)

    def _quarantine(self, claim: Claim, reason: str) -> None:
        if self.spool.quarantine(claim, reason):
            log.warning("series %s: quarantined: %s", claim.key, reason)


def _first_header(folder: Path) -> Dataset:
    """The header of a series' first instance file, with its modality checked.

    Raises:
        InvalidSeriesError: the file cannot be read as DICOM.
        InputError: the series is not CT, or is a series radiomicgan harmonized.
    """
    files = instance_files(folder)
    if not files:
        raise InvalidSeriesError(folder, "no instance files")
    try:
        header = dcmread(files[0], stop_before_pixels=True)
    except (InvalidDicomError, OSError, ValueError, EOFError) as exc:
        raise InvalidSeriesError(files[0], f"cannot be read as DICOM ({type(exc).__name__})") from exc
    modality = str(header.get("Modality", "") or "")
    if modality != "CT":
        raise InputError(folder, f"Modality {modality or '(none)'}, not CT")
    if _OUR_DERIVATION in str(header.get("DerivationDescription", "") or ""):
        # A PACS rule that sends our own output back (its kernel is still the source's) would
        # otherwise harmonize it again, and again.
        raise InputError(folder, "already harmonized by radiomicgan (does a routing rule send results back?)")
    return header
