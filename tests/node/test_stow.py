"""STOW-RS to a real Orthanc with its DICOMweb plugin (Debian's orthanc-dicomweb)."""

from __future__ import annotations

from pathlib import Path

import pytest

from node.harness import DICOMWEB_PLUGIN, Orthanc, free_port, write_series
from radiomicgan.errors import ConfigError
from radiomicgan.node.forward import ForwardError
from radiomicgan.node.stow import StowRS

pytestmark = pytest.mark.slow


@pytest.fixture(autouse=True)
def _dicomweb_plugin() -> None:
    if not DICOMWEB_PLUGIN.exists():
        pytest.fail(
            "Orthanc's DICOMweb plugin is missing: `make test` installs it (apt-get install orthanc-dicomweb)"
        )


def test_a_series_is_stored_in_several_requests_and_once(orthanc: Orthanc, tmp_path: Path) -> None:
    series = write_series(tmp_path / "in", "stow")
    one_file = series.files[0].stat().st_size
    stow = StowRS(orthanc.stow_url, timeout_s=5, batch_bytes=2 * one_file)  # three requests of two
    stow.check()
    assert stow.send(series.files) == len(series.files)
    assert stow.send(series.files) == len(series.files)
    assert orthanc.counts(series.study_uid) == (1, len(series.files))


def test_a_part_the_server_cannot_store_fails_the_send(orthanc: Orthanc, tmp_path: Path) -> None:
    not_dicom = tmp_path / "not.dcm"
    not_dicom.write_bytes(b"this is not a DICOM file")
    with pytest.raises(ForwardError, match=orthanc.stow_url):
        StowRS(orthanc.stow_url, timeout_s=5).send([not_dicom])


def test_a_url_that_does_not_answer_or_does_not_exist_fails_the_check(orthanc: Orthanc) -> None:
    closed = f"http://127.0.0.1:{free_port()}/dicom-web/studies"
    with pytest.raises(ConfigError, match="no answer"):
        StowRS(closed, timeout_s=2).check()
    with pytest.raises(ForwardError, match="no answer"):
        StowRS(closed, timeout_s=2).send([Path(__file__)])
    missing = orthanc.stow_url.replace("dicom-web", "no-such-root")
    with pytest.raises(ConfigError, match="HTTP 404"):
        StowRS(missing, timeout_s=2).check()
