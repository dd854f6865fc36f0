"""The node's durable spool: an instance acknowledged by C-STORE stays on disk until the destination has it.

Layout under the spool folder:

    incoming/<key>/<instance>.dcm   every instance received, written and fsynced before its C-STORE
                                    is acknowledged
    harmonized/<key>/               the derived series, whole (`io.atomic.atomic_dir` writes it)
    harmonized/<key>.sources        how many received instances it was made from
    quarantine/<key>/               a series that cannot be harmonized, with reason.txt
    sent/<key>.json                 what was sent where, and when (no patient identifier)
    retry/<key>.json                a series waiting for its destination: attempts and last error
    trash/                          what is being removed: renamed here first, so removal is atomic
    node.lock                       one node per spool

`<key>` is the first 16 hex digits of the SHA-256 of the SeriesInstanceUID: it names a series in
files and logs without its UID. An instance file is named by a hash of its SOPInstanceUID, so an
instance sent again replaces its own file and never becomes a second slice.

The folders are the state: a node killed at any moment and started again on the same spool finds
every acknowledged series in `incoming/`, a complete harmonized series (or none) in `harmonized/`,
and finishes them. The derived series' UIDs are hashes of the source's, so sending again after a
crash re-sends the same instances, never a second series.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import os
import shutil
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from radiomicgan.errors import OutputError
from radiomicgan.io.atomic import remove_partials, write_text_atomic
from radiomicgan.node.durable import fsync_dir, fsync_file, write_durably

log = logging.getLogger(__name__)

INCOMING, HARMONIZED, QUARANTINE, SENT, RETRY, TRASH = (
    "incoming", "harmonized", "quarantine", "sent", "retry", "trash",
)  # fmt: skip
REASON_FILE = "reason.txt"
_KEY_DIGITS = 16


def series_key(series_uid: str) -> str:
    """The name of a series in the spool and in logs: a hash of its SeriesInstanceUID."""
    return hashlib.sha256(series_uid.encode("utf-8")).hexdigest()[:_KEY_DIGITS]


def instance_name(sop_instance_uid: str) -> str:
    """The file name of a received instance: a hash of its SOPInstanceUID."""
    return hashlib.sha256(sop_instance_uid.encode("utf-8")).hexdigest()[:24] + ".dcm"


def instance_files(folder: Path) -> list[Path]:
    """The instance files of a spool folder, sorted (hidden temporaries left out)."""
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.suffix == ".dcm" and not p.name.startswith("."))


@dataclass
class _Entry:
    """What the node knows in memory about a series waiting in `incoming/`."""

    last_arrival: float  # time.monotonic() of its last instance (or of the node's start)
    arrivals: int = 0  # instances stored since the node started
    in_flight: int = 0  # instances being written now
    busy: bool = False  # the worker has it
    not_before: float = 0.0  # monotonic time before which it is not tried again (backoff)
    attempts: int = 0  # failed tries to send it


@dataclass(frozen=True)
class Claim:
    """A series the worker took from the spool: its key and how many arrivals it had then."""

    key: str
    arrivals: int


class Spool:
    """A spool folder opened by one node: durable stores, series ready after an idle time, removal.

    Thread-safe: many associations store at once while one worker claims series. Open it with
    `Spool.open`, which locks the folder and tidies what a killed node left.
    """

    def __init__(self, root: Path, lock_file: IO[str], *, sent_records: int = 1000) -> None:
        self.root = root
        self._lock_file = lock_file
        self._sent_records = sent_records
        self._lock = threading.Lock()
        self._entries: dict[str, _Entry] = {}

    @classmethod
    def open(cls, root: str | Path, *, sent_records: int = 1000) -> Spool:
        """Open (creating it if needed) and lock a spool folder, and take up what it holds.

        Every series in `incoming/` is pending again, its idle time counted from now.

        Raises:
            OutputError: the folder cannot be created or written, or another node has it.
        """
        root = Path(root)
        try:
            for name in (INCOMING, HARMONIZED, QUARANTINE, SENT, RETRY, TRASH):
                (root / name).mkdir(parents=True, exist_ok=True)
            write_durably(root / ".write-probe", b"")
            (root / ".write-probe").unlink()
            lock_file = open(root / "node.lock", "a", encoding="utf-8")  # noqa: SIM115 (held open)
        except OSError as exc:
            raise OutputError(root, f"spool is not writable ({exc.strerror or exc})") from exc
        try:
            fcntl.flock(lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            lock_file.close()
            raise OutputError(root, "another node is using this spool") from exc
        spool = cls(root, lock_file, sent_records=sent_records)
        spool._recover()
        return spool

    def close(self) -> None:
        """Release the folder's lock."""
        self._lock_file.close()

    def incoming(self, key: str) -> Path:
        """The folder of a series' received instances."""
        return self.root / INCOMING / key

    def harmonized(self, key: str) -> Path:
        """The folder of a series' derived series."""
        return self.root / HARMONIZED / key

    # --- receiving ---------------------------------------------------------------------------------

    def store(self, series_uid: str, sop_instance_uid: str, data: bytes) -> str:
        """Write one received instance durably (before its C-STORE is acknowledged); returns its key.

        Raises:
            OSError: it could not be written (the caller answers with a failure status).
        """
        key = series_key(series_uid)
        with self._arrival(key):
            folder = self.incoming(key)
            if not folder.is_dir():
                folder.mkdir(exist_ok=True)
                fsync_dir(folder.parent)
            write_durably(folder / instance_name(sop_instance_uid), data)
        return key

    def store_unreadable(self, sop_instance_uid: str, data: bytes, reason: str) -> str:
        """Quarantine an instance whose dataset cannot be decoded (no series to put it in).

        Returns:
            Its quarantine key (a hash of its SOPInstanceUID).

        Raises:
            OSError: it could not be written.
        """
        key = series_key(f"unreadable instance {sop_instance_uid}")
        folder = self.root / QUARANTINE / key
        folder.mkdir(exist_ok=True)
        write_durably(folder / instance_name(sop_instance_uid), data)
        write_durably(folder / REASON_FILE, f"{reason}\n".encode())
        return key

    @contextmanager
    def _arrival(self, key: str) -> Iterator[None]:
        now = time.monotonic()
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                entry = self._entries[key] = _Entry(last_arrival=now)
                log.info("series %s: receiving", key)
            entry.arrivals += 1
            entry.in_flight += 1
            entry.last_arrival = now
        try:
            yield
        except BaseException:
            with self._lock:
                entry.in_flight -= 1
                if not (entry.in_flight or entry.busy or instance_files(self.incoming(key))):
                    del self._entries[key]  # nothing of it on disk: no series to wait for
            raise
        with self._lock:
            entry.in_flight -= 1
            entry.last_arrival = time.monotonic()

    # --- the worker's side -------------------------------------------------------------------------

    def claim_ready(self, idle_s: float) -> Claim | None:
        """Take a series no instance came for in `idle_s` seconds (and not waiting out a backoff).

        The oldest such series comes first. It stays the caller's until `finish`, `quarantine` or
        `postpone`.
        """
        now = time.monotonic()
        with self._lock:
            ready = [
                (entry.last_arrival, key)
                for key, entry in self._entries.items()
                if not entry.busy
                and entry.in_flight == 0
                and now - entry.last_arrival >= idle_s
                and now >= entry.not_before
            ]
            if not ready:
                return None
            _, key = min(ready)
            entry = self._entries[key]
            entry.busy = True
            return Claim(key, entry.arrivals)

    def finish(self, claim: Claim, record: dict[str, Any]) -> bool:
        """Record a series as sent and remove it, unless instances came for it since it was claimed.

        Returns:
            True if it was removed; False if it is pending again (with its late instances: the next
            round harmonizes and sends the whole series again, same UIDs).
        """
        record = {"series": claim.key, "sent": time.strftime("%Y-%m-%dT%H:%M:%S%z"), **record}
        write_text_atomic(self.root / SENT / f"{claim.key}.json", json.dumps(record, indent=1) + "\n")
        with self._lock:
            entry = self._entries[claim.key]
            if entry.arrivals != claim.arrivals or entry.in_flight:
                entry.busy = False
                entry.attempts = 0
                return False
            del self._entries[claim.key]
            self._to_trash(self.incoming(claim.key))
        self._remove_derived(claim.key)
        (self.root / RETRY / f"{claim.key}.json").unlink(missing_ok=True)
        self._empty_trash()
        self._prune_sent()
        return True

    def quarantine(self, claim: Claim, reason: str) -> bool:
        """Move a series that cannot be harmonized to `quarantine/<key>/`, with `reason` in reason.txt.

        Returns:
            False if an instance is being written into it just now: it stays pending, and is tried
            (and quarantined) again.
        """
        target = self.root / QUARANTINE / claim.key
        with self._lock:
            entry = self._entries[claim.key]
            if entry.in_flight:
                entry.busy = False
                return False
            del self._entries[claim.key]
            source = self.incoming(claim.key)
            target.mkdir(exist_ok=True)
            fsync_dir(target.parent)
            write_durably(target / REASON_FILE, f"{' '.join(reason.split())}\n".encode())
            # file by file: the same series quarantined again joins the files already there, and a
            # crash halfway leaves the rest in incoming/, quarantined again at the next start
            for path in instance_files(source):
                os.replace(path, target / path.name)
            fsync_dir(target)
            self._to_trash(source)
        self._remove_derived(claim.key)
        (self.root / RETRY / f"{claim.key}.json").unlink(missing_ok=True)
        self._empty_trash()
        return True

    def postpone(self, claim: Claim, delay_s: float, error: str) -> int:
        """Give back a series whose destination failed, to be tried again after `delay_s` seconds.

        Returns:
            How many tries have failed in a row (the caller's backoff grows with it).
        """
        with self._lock:
            entry = self._entries[claim.key]
            entry.busy = False
            entry.attempts += 1
            entry.not_before = time.monotonic() + delay_s
            attempts = entry.attempts
        retry = {"attempts": attempts, "error": " ".join(error.split()), "next_try_in_s": round(delay_s, 1)}
        write_text_atomic(self.root / RETRY / f"{claim.key}.json", json.dumps(retry) + "\n")
        return attempts

    def harmonized_ready(self, key: str) -> bool:
        """Whether `harmonized/<key>` holds the derived series of every instance received so far."""
        try:
            sources = int((self.root / HARMONIZED / f"{key}.sources").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return False
        return self.harmonized(key).is_dir() and sources == len(instance_files(self.incoming(key)))

    def mark_harmonized(self, key: str, sources: int) -> None:
        """Record that `harmonized/<key>` was made from `sources` received instances, durably.

        Its files are fsynced first: after a power cut the record never vouches for a series whose
        files were lost with the page cache.
        """
        for path in instance_files(self.harmonized(key)):
            fsync_file(path)
        fsync_dir(self.harmonized(key))
        fsync_dir(self.root / HARMONIZED)
        write_durably(self.root / HARMONIZED / f"{key}.sources", str(sources).encode())

    def release(self, claim: Claim) -> None:
        """Give back a claimed series untouched (the node is stopping)."""
        with self._lock:
            self._entries[claim.key].busy = False

    def attempts(self, key: str) -> int:
        """How many tries to send a pending series have failed in a row."""
        with self._lock:
            entry = self._entries.get(key)
            return entry.attempts if entry else 0

    def pending(self) -> int:
        """How many series wait in the spool."""
        with self._lock:
            return len(self._entries)

    # --- housekeeping ------------------------------------------------------------------------------

    def _recover(self) -> None:
        """Take up what a node (perhaps killed) left: pending series, and half-done removals."""
        now = time.monotonic()
        for folder in sorted((self.root / INCOMING).iterdir()):
            for leftover in folder.glob(".*.tmp"):
                leftover.unlink()  # a write that was never acknowledged
            if instance_files(folder):
                self._entries[folder.name] = _Entry(last_arrival=now)
            else:
                shutil.rmtree(folder)
        for path in sorted((self.root / HARMONIZED).iterdir()):
            if path.name.startswith("."):  # a killed writer's partial folder (no writer runs yet)
                shutil.rmtree(path, ignore_errors=True)
            elif path.name.removesuffix(".sources") not in self._entries:
                self._remove_derived(path.name.removesuffix(".sources"))  # its series was sent or quarantined
        self._empty_trash()
        if self._entries:
            log.info("spool %s: %d series pending from before", self.root, len(self._entries))

    def _remove_derived(self, key: str) -> None:
        (self.root / HARMONIZED / f"{key}.sources").unlink(missing_ok=True)
        self._to_trash(self.harmonized(key))
        remove_partials(self.harmonized(key))

    def _to_trash(self, path: Path) -> None:
        if path.exists():
            path.rename(self.root / TRASH / f"{path.name}.{uuid.uuid4().hex[:8]}")

    def _empty_trash(self) -> None:
        for path in (self.root / TRASH).iterdir():
            with suppress(FileNotFoundError):  # another thread emptying it too
                if path.is_dir():
                    shutil.rmtree(path)
                else:
                    path.unlink()

    def _prune_sent(self) -> None:
        records = list((self.root / SENT).glob("*.json"))
        if len(records) <= self._sent_records:
            return
        records.sort(key=lambda p: p.stat().st_mtime)
        for path in records[: len(records) - self._sent_records]:
            path.unlink(missing_ok=True)
