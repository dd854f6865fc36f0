"""What a spool holds, for `radiomicgan serve --status`: pending, quarantined and sent series.

Read from the folders alone, so it works with the node running or stopped, and shows no patient
identifier: series are named by their spool key (a hash of the SeriesInstanceUID).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from radiomicgan.errors import InputError
from radiomicgan.node.spool import HARMONIZED, INCOMING, QUARANTINE, REASON_FILE, RETRY, SENT, instance_files

State = Literal["pending", "quarantined", "sent"]


@dataclass(frozen=True)
class SeriesStatus:
    """One series in a spool.

    Attributes:
        key: its spool key.
        state: pending (received, not yet confirmed by the destination), quarantined, or sent.
        instances: instance files received (pending, quarantined) or confirmed (sent).
        when: the time of its last change, seconds since the epoch.
        detail: pending: "receiving or waiting", "harmonized, sending", or the last send error;
            quarantined: the reason; sent: the destination.
    """

    key: str
    state: State
    instances: int
    when: float
    detail: str


def spool_status(spool: str | Path) -> list[SeriesStatus]:
    """Every series in a spool: pending first, then quarantined, then sent, each newest first.

    Raises:
        InputError: the folder is not a spool.
    """
    root = Path(spool)
    if not (root / INCOMING).is_dir():
        raise InputError(root, "is not a node's spool (no incoming/ folder)")
    found = [*_pending(root), *_quarantined(root), *_sent(root)]
    order = {"pending": 0, "quarantined": 1, "sent": 2}
    return sorted(found, key=lambda s: (order[s.state], -s.when))


def format_status(series: list[SeriesStatus]) -> str:
    """One line per series, with a count of each state first."""
    counts = {state: sum(s.state == state for s in series) for state in ("pending", "quarantined", "sent")}
    lines = [", ".join(f"{count} {state}" for state, count in counts.items())]
    for s in series:
        stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(s.when))
        lines.append(f"{s.state:<11} {s.key}  {s.instances:>5} instances  {stamp}  {s.detail}")
    return "\n".join(lines)


def _pending(root: Path) -> list[SeriesStatus]:
    found = []
    for folder in sorted(p for p in (root / INCOMING).iterdir() if p.is_dir()):
        files = instance_files(folder)
        if not files:
            continue
        detail = "received, waiting to be harmonized"
        if (root / HARMONIZED / f"{folder.name}.sources").exists():
            detail = "harmonized, waiting to be sent"
        retry = _read_json(root / RETRY / f"{folder.name}.json")
        if retry:
            detail += f"; {retry.get('attempts')} failed tries, last: {retry.get('error')}"
        when = max(p.stat().st_mtime for p in files)
        found.append(SeriesStatus(folder.name, "pending", len(files), when, detail))
    return found


def _quarantined(root: Path) -> list[SeriesStatus]:
    found = []
    for folder in sorted(p for p in (root / QUARANTINE).iterdir() if p.is_dir()):
        reason_file = folder / REASON_FILE
        reason = reason_file.read_text(encoding="utf-8").strip() if reason_file.exists() else "(no reason)"
        when = reason_file.stat().st_mtime if reason_file.exists() else folder.stat().st_mtime
        found.append(SeriesStatus(folder.name, "quarantined", len(instance_files(folder)), when, reason))
    return found


def _sent(root: Path) -> list[SeriesStatus]:
    found = []
    for path in sorted((root / SENT).glob("*.json")):
        record = _read_json(path)
        count = record.get("instances", 0)
        instances = count if isinstance(count, int) else 0
        destination = str(record.get("destination", ""))
        found.append(SeriesStatus(path.stem, "sent", instances, path.stat().st_mtime, f"to {destination}"))
    return found


def _read_json(path: Path) -> dict[str, object]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}
