"""Where harmonized series go: a DICOM Storage SCP (C-STORE) or a DICOMweb server (STOW-RS, `stow`).

A destination checks itself once when the node starts (`check`: a C-ECHO, or an HTTP request), and
then sends whole series (`send`), raising `ForwardError` unless it confirmed every instance. The
node tries a failed series again after `backoff_s`, for as long as it takes: the series waits in the
spool meanwhile.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

from pydicom import dcmread
from pydicom.filereader import read_file_meta_info
from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian
from pynetdicom import AE
from pynetdicom.association import Association
from pynetdicom.sop_class import Verification  # type: ignore[attr-defined]

from radiomicgan.config import parse_ae_address
from radiomicgan.errors import ConfigError, RadiomicGANError

log = logging.getLogger(__name__)

# C-STORE statuses under which the destination keeps the instance: success, and the warnings
# "coercion of data elements", "elements discarded", "data set does not match SOP class" (PS3.4 B.2.3).
STORED = frozenset({0x0000, 0xB000, 0xB006, 0xB007})


class ForwardError(RadiomicGANError):
    """The destination did not take a whole series: down, refusing, or failing an instance."""


class Destination(Protocol):
    """What the node sends harmonized series to."""

    def describe(self) -> str:
        """The destination in one line for logs, e.g. "ORTHANC@pacs:4242"."""
        ...

    def check(self) -> None:
        """Make sure the destination answers; raises ConfigError if it does not."""
        ...

    def send(self, files: Sequence[Path]) -> int:
        """Send a series' instance files; returns how many it confirmed (all), or raises ForwardError."""
        ...


def backoff_s(failures: int, initial_s: float, max_s: float) -> float:
    """The wait before the next try after `failures` failed tries in a row: doubled each time, capped.

    >>> [backoff_s(n, 5.0, 60.0) for n in (1, 2, 3, 4, 5)]
    [5.0, 10.0, 20.0, 40.0, 60.0]
    """
    return min(max_s, initial_s * 2.0 ** max(0, min(failures - 1, 60)))


class StorageSCU:
    """A DICOM Storage SCP to send to, as `AET@HOST:PORT`: one association per series.

    Args:
        address: the destination, `AET@HOST:PORT`.
        ae_title: the calling AE title (the node's).
        timeout_s: connection, ACSE, DIMSE and socket timeouts.

    Raises:
        ConfigError: `address` is not `AET@HOST:PORT`.
    """

    def __init__(self, address: str, *, ae_title: str, timeout_s: float = 30.0) -> None:
        self.address = address
        self.called, self.host, self.port = parse_ae_address(address)
        self.ae_title = ae_title
        self.timeout_s = timeout_s

    def describe(self) -> str:
        return self.address

    def check(self) -> None:
        """C-ECHO the destination.

        Raises:
            ConfigError: no association, or no successful C-ECHO.
        """
        ae = self._ae()
        ae.add_requested_context(Verification)
        assoc = ae.associate(self.host, self.port, ae_title=self.called)
        if not assoc.is_established:
            raise ConfigError(f"serve: --forward {self.address}: {_why_not(assoc)}")
        try:
            status = assoc.send_c_echo()
        finally:
            assoc.release()
        code = status.get("Status") if status else None
        if code != 0x0000:
            raise ConfigError(f"serve: --forward {self.address}: C-ECHO failed ({_status_text(code)})")

    def send(self, files: Sequence[Path]) -> int:
        """Send the files over one association, one C-STORE each, in order.

        Raises:
            ForwardError: no association, or an instance not stored (the association is released).
        """
        if not files:
            return 0
        ae = self._ae()
        for sop_class in sorted({str(read_file_meta_info(path).MediaStorageSOPClassUID) for path in files}):
            ae.add_requested_context(sop_class, [ExplicitVRLittleEndian, ImplicitVRLittleEndian])
        assoc = ae.associate(self.host, self.port, ae_title=self.called)
        if not assoc.is_established:
            raise ForwardError(f"{self.address}: {_why_not(assoc)}")
        try:
            for index, path in enumerate(files):
                try:
                    status = assoc.send_c_store(dcmread(path))
                except (RuntimeError, ValueError, OSError) as exc:  # association lost, no context
                    raise ForwardError(f"{self.address}: instance {index + 1}: {exc}") from exc
                code = status.get("Status") if status else None
                if code not in STORED:
                    raise ForwardError(
                        f"{self.address}: instance {index + 1} of {len(files)} not stored "
                        f"({_status_text(code)})"
                    )
        finally:
            if assoc.is_established:
                assoc.release()
        return len(files)

    def _ae(self) -> AE:
        ae = AE(ae_title=self.ae_title)
        ae.connection_timeout = self.timeout_s
        ae.acse_timeout = self.timeout_s
        ae.dimse_timeout = self.timeout_s
        ae.network_timeout = self.timeout_s
        return ae


def _why_not(assoc: Association) -> str:
    # pynetdicom reports a refused TCP connection as an aborted association: they read the same here.
    if assoc.is_rejected:
        return "association rejected (is the called AE title right, and does it accept this node?)"
    return "no association (connection refused, timed out or aborted)"


def _status_text(code: int | None) -> str:
    return "no answer: connection lost" if code is None else f"status 0x{code:04X}"
