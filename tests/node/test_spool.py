"""The spool: durable stores, series ready after an idle time, removal only after sending, recovery."""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from radiomicgan.errors import OutputError
from radiomicgan.node.spool import Spool, instance_files, instance_name, series_key

SERIES = "1.2.826.0.1.3680043.8.498.1"


@pytest.fixture
def spool(tmp_path: Path) -> Iterator[Spool]:
    opened = Spool.open(tmp_path / "spool")
    yield opened
    opened.close()


def test_an_instance_sent_twice_is_one_file_named_by_hashes(spool: Spool) -> None:
    key = spool.store(SERIES, "1.2.3.4", b"one")
    assert key == series_key(SERIES) and len(key) == 16 and SERIES not in key
    spool.store(SERIES, "1.2.3.4", b"again")
    spool.store(SERIES, "1.2.3.5", b"two")
    files = instance_files(spool.incoming(key))
    assert [p.name for p in files] == sorted([instance_name("1.2.3.4"), instance_name("1.2.3.5")])
    assert (spool.incoming(key) / instance_name("1.2.3.4")).read_bytes() == b"again"
    assert [p.name for p in spool.incoming(key).iterdir() if p.name.startswith(".")] == []


def test_a_store_that_fails_leaves_no_series_to_wait_for(spool: Spool) -> None:
    shutil.rmtree(spool.root / "incoming")
    (spool.root / "incoming").write_text("a file where the folder was")
    with pytest.raises(OSError):
        spool.store(SERIES, "1.2.3.4", b"x")
    assert spool.pending() == 0 and spool.claim_ready(idle_s=0) is None


def test_a_series_is_ready_only_after_the_idle_time(spool: Spool) -> None:
    spool.store(SERIES, "1.2.3.4", b"x")
    assert spool.claim_ready(idle_s=60) is None
    time.sleep(0.05)
    claim = spool.claim_ready(idle_s=0.01)
    assert claim is not None and claim.key == series_key(SERIES)
    assert spool.claim_ready(idle_s=0.01) is None  # claimed: not handed out twice


def test_finish_records_and_removes_but_keeps_a_series_that_grew_meanwhile(spool: Spool) -> None:
    key = spool.store(SERIES, "1.2.3.4", b"x")
    claim = spool.claim_ready(idle_s=0)
    assert claim is not None
    spool.store(SERIES, "1.2.3.5", b"late")  # arrives while the worker has the series
    assert not spool.finish(claim, {"instances": 1})
    assert len(instance_files(spool.incoming(key))) == 2 and spool.pending() == 1

    claim = spool.claim_ready(idle_s=0)
    assert claim is not None
    spool.harmonized(key).mkdir()
    spool.mark_harmonized(key, 2)
    assert spool.finish(claim, {"instances": 2, "destination": "X@h:1"})
    assert not spool.incoming(key).exists() and not spool.harmonized(key).exists()
    assert spool.pending() == 0 and list((spool.root / "trash").iterdir()) == []
    record = json.loads((spool.root / "sent" / f"{key}.json").read_text())
    assert record["series"] == key and record["instances"] == 2 and SERIES not in json.dumps(record)


def test_harmonized_is_ready_only_for_every_instance_received(spool: Spool) -> None:
    key = spool.store(SERIES, "1.2.3.4", b"x")
    assert not spool.harmonized_ready(key)
    spool.harmonized(key).mkdir()
    (spool.harmonized(key) / "IM000001.dcm").write_bytes(b"derived")
    spool.mark_harmonized(key, 1)
    assert spool.harmonized_ready(key)
    spool.store(SERIES, "1.2.3.5", b"y")
    assert not spool.harmonized_ready(key)


def test_quarantine_moves_the_series_with_its_reason_and_merges_a_second_time(spool: Spool) -> None:
    key = spool.store(SERIES, "1.2.3.4", b"x")
    claim = spool.claim_ready(idle_s=0)
    assert claim is not None and spool.quarantine(claim, "Modality MR,\nnot CT")
    folder = spool.root / "quarantine" / key
    assert (folder / "reason.txt").read_text() == "Modality MR, not CT\n"
    spool.store(SERIES, "1.2.3.5", b"y")
    claim = spool.claim_ready(idle_s=0)
    assert claim is not None and spool.quarantine(claim, "still MR")
    assert len(instance_files(folder)) == 2 and (folder / "reason.txt").read_text() == "still MR\n"
    assert not spool.incoming(key).exists() and spool.pending() == 0


def test_postpone_waits_out_the_delay_and_counts_failures(spool: Spool) -> None:
    key = spool.store(SERIES, "1.2.3.4", b"x")
    claim = spool.claim_ready(idle_s=0)
    assert claim is not None
    assert spool.postpone(claim, 60.0, "connection\nrefused") == 1
    assert spool.claim_ready(idle_s=0) is None  # waiting out its 60 s
    assert json.loads((spool.root / "retry" / f"{key}.json").read_text())["error"] == "connection refused"
    assert spool.attempts(key) == 1


def test_a_restart_takes_up_what_a_killed_node_left(tmp_path: Path) -> None:
    root = tmp_path / "spool"
    first = Spool.open(root)
    key = first.store(SERIES, "1.2.3.4", b"x")
    first.close()  # as the kernel releases a killed node's lock
    # what a kill leaves: an unacknowledged temporary, a writer's partial folder, a derived series
    # whose source was sent, a removal half done
    (first.incoming(key) / ".abc.dcm.1234.tmp").write_bytes(b"half")
    (root / "harmonized" / f".{key}.0123456789ab.partial").mkdir()
    (root / "harmonized" / "feedfacefeedface").mkdir()
    (root / "harmonized" / "feedfacefeedface.sources").write_text("3")
    (root / "trash" / "old").mkdir()
    (root / "incoming" / "0000000000000000").mkdir()  # created, nothing stored in it

    again = Spool.open(root)
    try:
        assert again.pending() == 1
        assert [p.name for p in again.incoming(key).iterdir()] == [instance_name("1.2.3.4")]
        assert sorted(p.name for p in (root / "harmonized").iterdir()) == []
        assert list((root / "trash").iterdir()) == []
        assert not (root / "incoming" / "0000000000000000").exists()
        claim = again.claim_ready(idle_s=0)
        assert claim is not None and claim.key == key
    finally:
        again.close()


def test_one_node_per_spool(spool: Spool) -> None:
    with pytest.raises(OutputError, match="another node is using this spool"):
        Spool.open(spool.root)


def test_a_spool_that_cannot_be_written_is_refused(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("not a folder")
    with pytest.raises(OutputError, match="spool is not writable"):
        Spool.open(tmp_path / "file" / "spool")


def test_only_the_newest_sent_records_are_kept(tmp_path: Path) -> None:
    spool = Spool.open(tmp_path / "spool", sent_records=2)
    try:
        for n in range(4):
            spool.store(f"{SERIES}.{n}", "1.2.3", b"x")
            claim = spool.claim_ready(idle_s=0)
            assert claim is not None and spool.finish(claim, {"instances": 1})
            os.utime(spool.root / "sent" / f"{claim.key}.json", (n, n))  # distinct, ordered mtimes
        kept = {p.stem for p in (spool.root / "sent").glob("*.json")}
        assert kept == {series_key(f"{SERIES}.2"), series_key(f"{SERIES}.3")}
    finally:
        spool.close()
