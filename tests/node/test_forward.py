"""Sending by C-STORE to a real Orthanc: the start-up C-ECHO, whole series, failures, backoff."""

from __future__ import annotations

from pathlib import Path

import pytest

from node.harness import Orthanc, free_port, write_series
from radiomicgan.errors import ConfigError
from radiomicgan.node.forward import ForwardError, StorageSCU, backoff_s


def test_backoff_doubles_from_the_first_wait_up_to_the_cap() -> None:
    assert [backoff_s(n, 5.0, 60.0) for n in (1, 2, 3, 4, 5, 6)] == [5.0, 10.0, 20.0, 40.0, 60.0, 60.0]
    assert backoff_s(10_000, 0.5, 300.0) == 300.0  # no overflow after days of failures


@pytest.mark.slow
def test_a_series_is_sent_whole_and_sending_it_again_adds_nothing(orthanc: Orthanc, tmp_path: Path) -> None:
    series = write_series(tmp_path / "in", "forwarded")
    scu = StorageSCU(orthanc.forward, ae_title="RADIOMICGAN", timeout_s=5)
    scu.check()
    assert scu.send(series.files) == len(series.files)
    assert scu.send(series.files) == len(series.files)
    assert orthanc.counts(series.study_uid) == (1, len(series.files))


def test_a_destination_that_does_not_answer_fails_the_check_and_the_send(tmp_path: Path) -> None:
    series = write_series(tmp_path / "in", "nowhere")
    address = f"PACS@127.0.0.1:{free_port()}"
    scu = StorageSCU(address, ae_title="RADIOMICGAN", timeout_s=2)
    with pytest.raises(ConfigError, match=f"--forward {address}: no association"):
        scu.check()
    with pytest.raises(ForwardError, match="connection refused"):
        scu.send(series.files)


@pytest.mark.parametrize(
    "address", ["ORTHANC@pacs", "pacs:4242", "ORTHANC@pacs:99999", "A_TITLE_OF_17_CHAR@h:1"]
)
def test_an_address_not_aet_at_host_port_is_refused(address: str) -> None:
    with pytest.raises(ConfigError):
        StorageSCU(address, ae_title="RADIOMICGAN")
