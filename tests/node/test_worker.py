"""The worker on a real spool, model and Orthanc: quarantine, retries, and a stop between two steps."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pydicom
import pytest

from node.harness import Orthanc, free_port, node_config, wait_until, write_series
from radiomicgan.node.forward import StorageSCU
from radiomicgan.node.models import FixedModel
from radiomicgan.node.server import open_destination
from radiomicgan.node.spool import Spool, instance_files
from radiomicgan.node.worker import SeriesWorker

pytestmark = pytest.mark.slow
MakeWorker = Callable[..., SeriesWorker]


@pytest.fixture
def make_worker(wiener_model: Path, orthanc: Orthanc, tmp_path: Path) -> Iterator[MakeWorker]:
    """A worker on a fresh spool, forwarding to `orthanc` unless told otherwise; no idle time to wait."""
    spools: list[Spool] = []

    def make(**overrides: Any) -> SeriesWorker:
        values = {"forward": orthanc.forward, "series_idle_s": 0.001, "retry_initial_s": 0.05} | overrides
        config = node_config(wiener_model, tmp_path / f"spool{len(spools)}", **values)
        spools.append(Spool.open(config.spool))
        models = FixedModel(config.model, config.harmonize)
        return SeriesWorker(spools[-1], models, open_destination(config), config)

    yield make
    for spool in spools:
        spool.close()


def receive(spool: Spool, files: list[Path]) -> str:
    """Store files as the SCP does; returns the series' key."""
    keys = set()
    for path in files:
        ds = pydicom.dcmread(path, stop_before_pixels=True)
        keys.add(spool.store(str(ds.SeriesInstanceUID), str(ds.SOPInstanceUID), path.read_bytes()))
    [key] = keys
    return key


def step(worker: SeriesWorker) -> None:
    """Wait for the worker to take a series (its idle time is a millisecond) and process it."""
    wait_until(worker.run_once, 10, "the worker to take a series")


def test_another_kernel_is_quarantined_under_strict_and_harmonized_without(
    make_worker: MakeWorker, orthanc: Orthanc, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    series = write_series(tmp_path / "in", "other-kernel", ConvolutionKernel="B70f")
    strict = make_worker(strict=True)
    key = receive(strict.spool, series.files)
    step(strict)
    reason = (strict.spool.root / "quarantine" / key / "reason.txt").read_text()
    assert reason == "series kernel B70f differs from the model's source kernel SMOOTH\n"
    assert orthanc.counts(series.study_uid) == (0, 0)

    lenient = make_worker()
    receive(lenient.spool, series.files)
    with caplog.at_level(logging.WARNING, logger="radiomicgan"):
        step(lenient)
    assert "differs from the model's source kernel" in caplog.text
    assert orthanc.counts(series.study_uid) == (1, len(series.files))


def test_a_damaged_series_is_quarantined_and_the_next_one_goes_through(
    make_worker: MakeWorker, orthanc: Orthanc, tmp_path: Path
) -> None:
    damaged = write_series(tmp_path / "in", "damaged")
    ds = pydicom.dcmread(damaged.files[2])
    ds.PixelData = ds.PixelData[:100]  # a slice cut short
    ds.save_as(damaged.files[2])
    good = write_series(tmp_path / "in", "after-damaged")
    worker = make_worker()
    damaged_key = receive(worker.spool, damaged.files)
    receive(worker.spool, good.files)
    step(worker)
    step(worker)
    reason = (worker.spool.root / "quarantine" / damaged_key / "reason.txt").read_text()
    assert "pixel" in reason.lower() and "\n" not in reason.strip()
    assert len(instance_files(worker.spool.root / "quarantine" / damaged_key)) == len(damaged.files)
    assert orthanc.counts(good.study_uid) == (1, len(good.files))
    assert orthanc.counts(damaged.study_uid) == (0, 0)


def test_a_destination_that_is_down_is_tried_again_with_growing_waits(
    make_worker: MakeWorker, tmp_path: Path
) -> None:
    series = write_series(tmp_path / "in", "no-destination")
    worker = make_worker(forward=f"NOBODY@127.0.0.1:{free_port()}", retry_initial_s=0.2, retry_max_s=0.4)
    key = receive(worker.spool, series.files)
    tries = []
    for attempts in (1, 2, 3):
        wait_until(worker.run_once, 5, f"try {attempts}")
        tries.append(time.monotonic())
        assert worker.spool.attempts(key) == attempts and worker.spool.harmonized_ready(key)
    assert tries[1] - tries[0] >= 0.2 and tries[2] - tries[1] >= 0.4  # 0.2 s, then doubled
    assert len(instance_files(worker.spool.incoming(key))) == len(series.files)  # nothing lost


def test_a_restart_after_part_of_a_series_was_sent_sends_it_all_as_one_series(
    make_worker: MakeWorker, orthanc: Orthanc, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    series = write_series(tmp_path / "in", "half-sent")
    worker = make_worker()
    key = receive(worker.spool, series.files)
    worker.stopping.set()  # a stop between the two steps: harmonized, not sent
    step(worker)
    assert worker.spool.harmonized_ready(key) and orthanc.counts(series.study_uid) == (0, 0)
    # what a node killed while sending got out: half the series
    derived = instance_files(worker.spool.harmonized(key))
    StorageSCU(orthanc.forward, ae_title="RADIOMICGAN").send(derived[:3])
    worker.spool.close()

    again = SeriesWorker(Spool.open(worker.spool.root), worker.models, worker.destination, worker.config)
    caplog.clear()  # what the first node logged (captured when an earlier test left the level at INFO)
    try:
        with caplog.at_level(logging.INFO, logger="radiomicgan"):
            step(again)
    finally:
        again.spool.close()
    assert "harmonizing" not in caplog.text and f"series {key}: 6 instances sent" in caplog.text
    assert orthanc.counts(series.study_uid) == (1, len(series.files))


def test_a_series_we_harmonized_is_quarantined_not_harmonized_again(
    make_worker: MakeWorker, orthanc: Orthanc, tmp_path: Path
) -> None:
    ours = "Harmonized from SMOOTH to SHARP by radiomicgan-wiener (method radiomicgan-wiener, model 0123abcd)"
    series = write_series(tmp_path / "in", "looped", DerivationDescription=ours)
    worker = make_worker()
    key = receive(worker.spool, series.files)
    step(worker)
    reason = (worker.spool.root / "quarantine" / key / "reason.txt").read_text()
    assert reason.startswith("already harmonized by radiomicgan")
    assert orthanc.counts(series.study_uid) == (0, 0)
