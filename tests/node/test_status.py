"""`serve --status`'s listing, read from a spool's folders: pending, quarantined and sent series."""

from __future__ import annotations

from pathlib import Path

import pytest

from radiomicgan.errors import InputError
from radiomicgan.node.spool import Spool, series_key
from radiomicgan.node.status import format_status, spool_status


def test_every_state_is_listed_with_its_detail_and_no_uid(tmp_path: Path) -> None:
    spool = Spool.open(tmp_path / "spool")
    try:
        for n in range(3):
            spool.store(f"1.2.3.{n}", "1.2.3.4.1", b"x")
            spool.store(f"1.2.3.{n}", "1.2.3.4.2", b"y")
        claims = [spool.claim_ready(idle_s=0) for _ in range(3)]
        assert all(claims)
        sent, quarantined, waiting = (c for c in claims if c is not None)
        spool.finish(sent, {"instances": 2, "destination": "PACS@pacs:104"})
        spool.quarantine(quarantined, "Modality MR, not CT")
        spool.postpone(waiting, 5.0, "PACS@pacs:104: no association")
    finally:
        spool.close()

    listed = spool_status(tmp_path / "spool")
    assert [(s.state, s.key, s.instances) for s in listed] == [
        ("pending", waiting.key, 2),
        ("quarantined", quarantined.key, 2),
        ("sent", sent.key, 2),
    ]
    text = format_status(listed)
    assert text.splitlines()[0] == "1 pending, 1 quarantined, 1 sent"
    assert "1 failed tries, last: PACS@pacs:104: no association" in text
    assert "Modality MR, not CT" in text and "to PACS@pacs:104" in text
    assert "1.2.3" not in text and series_key("1.2.3.0") in text


def test_a_folder_that_is_not_a_spool_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="is not a node's spool"):
        spool_status(tmp_path)
