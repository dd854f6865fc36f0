"""The Storage SCP on a real spool: stored before acknowledged, damaged data kept, drain on stop."""

from __future__ import annotations

import shutil
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian
from pynetdicom import AE, _config

from node.harness import NODE_AET, node_config, storescu, write_series
from radiomicgan.errors import ConfigError
from radiomicgan.node.scp import OUT_OF_RESOURCES, StorageSCP
from radiomicgan.node.spool import Spool, instance_files, series_key


@pytest.fixture
def scp(tmp_path: Path) -> Iterator[StorageSCP]:
    """A listening SCP on a free port, with no worker: what it stores stays in the spool."""
    config = node_config(tmp_path / "model", tmp_path / "spool", "PACS@127.0.0.1:104")
    spool = Spool.open(config.spool)
    server = StorageSCP(spool, config)
    server.start()
    yield server
    server.stop(0.0)
    spool.close()


def associate(port: int, contexts: list[str] | None = None) -> AE:
    ae = AE(ae_title="SENDER")
    ae.add_requested_context(CTImageStorage, contexts or [ExplicitVRLittleEndian])
    return ae.associate("127.0.0.1", port, ae_title=NODE_AET)


def test_every_instance_is_in_the_spool_when_the_sender_is_done(scp: StorageSCP, tmp_path: Path) -> None:
    series = write_series(tmp_path / "in", "stored")
    storescu(scp.port, series.files)
    key = series_key(str(pydicom.dcmread(series.files[0]).SeriesInstanceUID))
    stored = {str(d.SOPInstanceUID): d for d in map(pydicom.dcmread, instance_files(scp.spool.incoming(key)))}
    sent = {str(d.SOPInstanceUID): d for d in map(pydicom.dcmread, series.files)}
    assert stored.keys() == sent.keys()
    for uid, ds in sent.items():
        np.testing.assert_array_equal(stored[uid].pixel_array, ds.pixel_array)
    assert scp.spool.pending() == 1


def test_an_instance_that_cannot_be_decoded_is_quarantined_as_it_came(
    scp: StorageSCP, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    series = write_series(tmp_path / "in", "undecodable")
    meta = pydicom.dcmread(series.files[0]).file_meta
    damaged = tmp_path / "damaged.dcm"
    ds = pydicom.Dataset()
    ds.file_meta = meta
    ds.save_as(damaged, enforce_file_format=True)
    with damaged.open("ab") as file:
        # a character set no codec can be looked up for (pydicom raises), then a SeriesInstanceUID
        file.write(b"\x08\x00\x05\x00CS\x04\x00a\x00b \x20\x00\x0e\x00UI\x04\x001.2\x00")
    monkeypatch.setattr(_config, "STORE_SEND_CHUNKED_DATASET", True)  # send the bytes as they are
    assoc = associate(scp.port)
    status = assoc.send_c_store(damaged)
    assoc.release()
    assert status.Status == 0x0000  # acknowledged: it is in the spool, in quarantine
    [folder] = (scp.spool.root / "quarantine").iterdir()
    assert (folder / "reason.txt").read_text() == "dataset cannot be decoded (ValueError)\n"
    [kept] = instance_files(folder)
    assert kept.read_bytes().endswith(b"UI\x04\x001.2\x00")
    assert list((scp.spool.root / "incoming").iterdir()) == []


def test_a_spool_that_cannot_be_written_refuses_the_c_store(scp: StorageSCP, tmp_path: Path) -> None:
    series = write_series(tmp_path / "in", "refused")
    incoming = scp.spool.root / "incoming"
    shutil.rmtree(incoming)
    incoming.write_text("a file where the folder was")  # every write fails
    assoc = associate(scp.port)
    status = assoc.send_c_store(pydicom.dcmread(series.files[0]))
    assoc.release()
    assert status.Status == OUT_OF_RESOURCES


def test_an_association_for_another_ae_title_is_rejected(scp: StorageSCP) -> None:
    ae = AE(ae_title="SENDER")
    ae.add_requested_context(CTImageStorage)
    assoc = ae.associate("127.0.0.1", scp.port, ae_title="SOMEONE_ELSE")
    assert assoc.is_rejected


def test_a_port_in_use_is_refused_at_start(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("", 0))
        taken.listen()
        port = taken.getsockname()[1]
        config = node_config(tmp_path / "model", tmp_path / "spool", "PACS@127.0.0.1:104", port=port)
        spool = Spool.open(config.spool)
        try:
            with pytest.raises(
                ConfigError, match=f"cannot listen on \\*:{port} \\(Address already in use\\)"
            ):
                StorageSCP(spool, config).start()
        finally:
            spool.close()


def test_stop_lets_an_open_association_finish_and_accepts_no_new_one(scp: StorageSCP, tmp_path: Path) -> None:
    series = write_series(tmp_path / "in", "draining")
    port = scp.port
    assoc = associate(port)
    stopping = threading.Thread(target=scp.stop, args=(10.0,))
    stopping.start()
    time.sleep(0.3)  # the listener is closed now; the open association goes on
    assert stopping.is_alive()
    status = assoc.send_c_store(pydicom.dcmread(series.files[0]))
    assoc.release()
    stopping.join(timeout=5)
    assert status.Status == 0x0000 and not stopping.is_alive()
    assert not associate(port).is_established
