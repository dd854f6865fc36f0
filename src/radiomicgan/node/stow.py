"""A DICOMweb destination: series sent by STOW-RS (PS3.18 10.5), as multipart/related application/dicom.

A series goes in requests of at most `batch_bytes` each, every body streamed from the files (memory
holds one file's chunk, not the series). A request counts only when the server answers 200 or 202
with no Failed SOP Sequence; anything else is a `ForwardError`, and the node sends the series again
later (the instances' UIDs are the same, so the server keeps one copy).
"""

from __future__ import annotations

import json
import logging
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path

from radiomicgan.errors import ConfigError
from radiomicgan.node.forward import ForwardError

log = logging.getLogger(__name__)

_FAILED_SOP_SEQUENCE = "00081198"  # (0008,1198): the instances the server did not store
_CHUNK_BYTES = 1 << 20


class StowRS:
    """A STOW-RS endpoint, e.g. `http://pacs:8042/dicom-web/studies`.

    Args:
        url: the studies endpoint to POST to.
        timeout_s: HTTP connection and read timeout.
        batch_bytes: the most instance bytes in one request (a series larger goes in several).
    """

    def __init__(self, url: str, *, timeout_s: float = 30.0, batch_bytes: int = 64 << 20) -> None:
        self.url = url
        self.timeout_s = timeout_s
        self.batch_bytes = batch_bytes

    def describe(self) -> str:
        return self.url

    def check(self) -> None:
        """Make sure the server answers at the URL (any answer but 401, 403 or 404 will do).

        Raises:
            ConfigError: no answer, or one saying the URL is wrong or closed to this node.
        """
        request = urllib.request.Request(self.url, headers={"Accept": "application/dicom+json"})
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s):
                return
        except urllib.error.HTTPError as exc:
            if exc.code not in (401, 403, 404):
                return  # it answers; a QIDO search or a GET may just not be allowed there
            raise ConfigError(f"serve: --forward-dicomweb {self.url}: HTTP {exc.code} {exc.reason}") from exc
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise ConfigError(f"serve: --forward-dicomweb {self.url}: no answer ({reason})") from exc

    def send(self, files: Sequence[Path]) -> int:
        """POST the files in batches; returns how many the server stored (all).

        Raises:
            ForwardError: no answer, an HTTP error, or instances the server lists as failed.
        """
        for batch in _batches(files, self.batch_bytes):
            self._post(batch)
        return len(files)

    def _post(self, files: list[Path]) -> None:
        boundary = uuid.uuid4().hex
        sizes = [path.stat().st_size for path in files]
        head = f"--{boundary}\r\nContent-Type: application/dicom\r\n\r\n".encode("ascii")
        tail = f"--{boundary}--\r\n".encode("ascii")
        length = sum(len(head) + size + 2 for size in sizes) + len(tail)
        request = urllib.request.Request(
            self.url,
            data=_body(files, head, tail),
            method="POST",
            headers={
                "Content-Type": f'multipart/related; type="application/dicom"; boundary={boundary}',
                "Content-Length": str(length),
                "Accept": "application/dicom+json",
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                status, answer = response.status, response.read()
        except urllib.error.HTTPError as exc:
            raise ForwardError(f"{self.url}: HTTP {exc.code} {exc.reason}") from exc
        except (urllib.error.URLError, OSError) as exc:
            raise ForwardError(f"{self.url}: no answer ({getattr(exc, 'reason', exc)})") from exc
        failed = _failed_instances(answer)
        if status not in (200, 202) or failed:
            raise ForwardError(f"{self.url}: HTTP {status}, {failed} of {len(files)} instances not stored")


def _batches(files: Sequence[Path], limit_bytes: int) -> Iterator[list[Path]]:
    batch: list[Path] = []
    size = 0
    for path in files:
        file_size = path.stat().st_size
        if batch and size + file_size > limit_bytes:
            yield batch
            batch, size = [], 0
        batch.append(path)
        size += file_size
    if batch:
        yield batch


def _body(files: list[Path], head: bytes, tail: bytes) -> Iterator[bytes]:
    """The multipart body, part after part, read from the files in chunks."""
    for path in files:
        yield head
        with path.open("rb") as file:
            while chunk := file.read(_CHUNK_BYTES):
                yield chunk
        yield b"\r\n"
    yield tail


def _failed_instances(answer: bytes) -> int:
    """How many instances a STOW-RS response (DICOM JSON) lists in its Failed SOP Sequence."""
    try:
        response = json.loads(answer) if answer.strip() else {}
    except ValueError:
        return 0  # not JSON (an XML answer): the status code alone says how it went
    if not isinstance(response, dict):
        return 0
    failed = response.get(_FAILED_SOP_SEQUENCE, {})
    values = failed.get("Value", []) if isinstance(failed, dict) else []
    return len(values) if isinstance(values, list) else 0
