"""The node end to end, in this process: storescu sends, the node harmonizes, a real Orthanc receives."""

from __future__ import annotations

import io
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path

import numpy as np
import pydicom
import pytest

from node.harness import Orthanc, finish, storescu, wait_until, write_series
from radiomicgan.io import read_volume
from radiomicgan.node import Node, series_key, spool_status
from radiomicgan.registry import ModelRegistry

pytestmark = pytest.mark.slow
Dciodvfy = Callable[[Path], tuple[list[str], str]]
StartNode = Callable[..., AbstractContextManager[Node]]


def test_a_series_arrives_harmonized_valid_and_once_even_when_sent_again(
    running_node: StartNode, orthanc: Orthanc, tmp_path: Path, run_dciodvfy: Dciodvfy
) -> None:
    series = write_series(tmp_path / "in", "arrives")
    with running_node() as node:
        storescu(node.port, series.files)
        orthanc.wait_for(series.study_uid, len(series.files))
        [series_id] = orthanc.find("Series", series.study_uid)
        stored = [
            pydicom.dcmread(io.BytesIO(orthanc.file(i))) for i in orthanc.find("Instance", series.study_uid)
        ]
        wait_until(lambda: not list((node.spool.root / "incoming").iterdir()), 10, "the spool to empty")

        storescu(node.port, series.files)  # the same series again: harmonized again, same UIDs
        wait_until(lambda: not list((node.spool.root / "incoming").iterdir()), 10, "the resend to go through")
        assert orthanc.counts(series.study_uid) == (1, len(series.files))
        assert orthanc.find("Series", series.study_uid) == [series_id]

    source = read_volume(series.folder)
    first = stored[0]
    assert first.SeriesInstanceUID != source.meta.series_uid
    assert first.StudyInstanceUID == series.study_uid and list(first.ImageType)[:2] == [
        "DERIVED",
        "SECONDARY",
    ]
    assert "radiomicgan-wiener" in first.SeriesDescription
    sources = {str(ds.SourceImageSequence[0].ReferencedSOPInstanceUID) for ds in stored}
    assert sources == {str(pydicom.dcmread(p).SOPInstanceUID) for p in series.files}
    out = tmp_path / "from-orthanc"
    out.mkdir()
    for index, ds in enumerate(stored):
        ds.save_as(out / f"{index}.dcm", enforce_file_format=True)
    errors, _ = run_dciodvfy(out)
    assert errors == []
    harmonized = read_volume(out)
    assert harmonized.shape == source.shape
    assert not np.array_equal(harmonized.hu, source.hu)  # the model changed the pixels
    [sent] = [s for s in spool_status(node.spool.root) if s.state == "sent"]
    assert sent.key == series_key(source.meta.series_uid) and sent.instances == len(series.files)


def test_a_series_waits_while_orthanc_is_down_and_arrives_when_it_is_back(
    running_node: StartNode, orthanc: Orthanc, tmp_path: Path
) -> None:
    series = write_series(tmp_path / "in", "orthanc-down")
    with running_node() as node:
        orthanc.stop()
        try:
            storescu(node.port, series.files)  # the node acknowledges while its destination is down
            retry = node.spool.root / "retry"
            wait_until(lambda: any(retry.iterdir()), 10, "a failed try")
            wait_until(
                lambda: node.spool.attempts(next(retry.iterdir()).stem) >= 2, 10, "a second failed try"
            )
            [pending] = spool_status(node.spool.root)
            assert pending.state == "pending" and "failed tries" in pending.detail
        finally:
            orthanc.start()
        orthanc.wait_for(series.study_uid, len(series.files), timeout_s=20)
        assert orthanc.counts(series.study_uid) == (1, len(series.files))


def test_a_series_that_is_not_ct_is_quarantined_and_the_node_keeps_serving(
    running_node: StartNode,
    orthanc: Orthanc,
    tmp_path: Path,
    pydicom_test_file: Callable[[str], Path],
) -> None:
    mr = pydicom_test_file("MR_small.dcm")
    series = write_series(tmp_path / "in", "after-mr")
    with running_node() as node:
        storescu(node.port, [mr])
        quarantine = node.spool.root / "quarantine" / series_key(str(pydicom.dcmread(mr).SeriesInstanceUID))
        wait_until((quarantine / "reason.txt").exists, 10, "the MR series in quarantine")
        assert (quarantine / "reason.txt").read_text() == "Modality MR, not CT\n"
        assert len(list(quarantine.glob("*.dcm"))) == 1
        storescu(node.port, series.files)
        orthanc.wait_for(series.study_uid, len(series.files))
    states = {s.state for s in spool_status(tmp_path / "spool")}
    assert states == {"quarantined", "sent"}


def test_three_series_sent_at_once_all_arrive(
    running_node: StartNode, orthanc: Orthanc, tmp_path: Path
) -> None:
    several = [write_series(tmp_path / "in", f"at-once-{n}", slices=5 + n) for n in range(3)]
    with running_node() as node:
        senders = [storescu(node.port, series.files, wait=False) for series in several]
        for sender in senders:
            finish(sender)
        for series in several:
            orthanc.wait_for(series.study_uid, len(series.files))
    for series in several:
        assert orthanc.counts(series.study_uid) == (1, len(series.files))


def test_model_auto_harmonizes_what_the_registry_converts_and_quarantines_the_rest(
    running_node: StartNode, orthanc: Orthanc, wiener_model: Path, tmp_path: Path
) -> None:
    ModelRegistry(tmp_path / "registry").add(wiener_model, "smooth-to-sharp")
    smooth = write_series(tmp_path / "in", "auto-smooth")
    other = write_series(tmp_path / "in", "auto-b70f", ConvolutionKernel="B70f")
    with running_node(model="auto", registry=str(tmp_path / "registry")) as node:
        storescu(node.port, [*smooth.files, *other.files])
        orthanc.wait_for(smooth.study_uid, len(smooth.files))
        key = series_key(str(pydicom.dcmread(other.files[0]).SeriesInstanceUID))
        reason = node.spool.root / "quarantine" / key / "reason.txt"
        wait_until(reason.exists, 10, "the B70f series in quarantine")
    assert reason.read_text().startswith("no registered model converts kernel B70f")
    assert orthanc.counts(other.study_uid) == (0, 0)


def test_a_node_forwarding_by_stow_rs_files_the_series_in_orthanc(
    running_node: StartNode, orthanc: Orthanc, tmp_path: Path
) -> None:
    series = write_series(tmp_path / "in", "by-dicomweb")
    with running_node(forward="", forward_dicomweb=orthanc.stow_url) as node:
        storescu(node.port, series.files)
        orthanc.wait_for(series.study_uid, len(series.files))
        wait_until(lambda: any((node.spool.root / "sent").iterdir()), 10, "the sent record")
    assert orthanc.counts(series.study_uid) == (1, len(series.files))
    [sent] = [s for s in spool_status(tmp_path / "spool") if s.state == "sent"]
    assert sent.detail == f"to {orthanc.stow_url}"
