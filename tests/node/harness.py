"""What the DICOM node's tests run against: a real Orthanc, dcmtk's storescu, a tiny model, CT series.

`Orthanc` starts Debian's Orthanc on loopback (free DICOM and HTTP ports, a temporary storage folder,
a generated JSON configuration, the DICOMweb plugin when installed) and asks its REST API what it
holds. `write_series` writes a small source series of its own study, so that each test counts what
arrived for its study alone. `storescu` sends files as a modality would.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pydicom
import pytest

from radiomicgan.config import HarmonizeConfig, NodeConfig
from radiomicgan.io import write_volume
from training.pairs import Scan, scan_volumes, train_tiny

ORTHANC = "/usr/sbin/Orthanc"
DICOMWEB_PLUGIN = Path("/usr/share/orthanc/plugins/libOrthancDicomWeb.so")
NODE_AET = "RADIOMICGAN"
# Short waits, so that a test sees a series complete, fail and come back in seconds.
FAST = {"series_idle_s": 1.0, "retry_initial_s": 0.2, "retry_max_s": 1.0, "timeout_s": 5.0, "drain_s": 2.0}


def free_port() -> int:
    """A TCP port nothing listens on now (the system's pick)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until(condition: Callable[[], bool], timeout_s: float, what: str) -> None:
    """Poll `condition` every 50 ms; fail the test with `what` after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout_s:g} s waiting for {what}")
        time.sleep(0.05)


@dataclass
class Orthanc:
    """A real Orthanc on loopback, started and stopped by the test.

    Attributes:
        folder: its storage, index, configuration and log.
        dicom_port, http_port: where it listens.
        aet: its AE title.
    """

    folder: Path
    dicom_port: int = field(default_factory=free_port)
    http_port: int = field(default_factory=free_port)
    aet: str = "ORTHANC"
    settings: dict[str, Any] = field(default_factory=dict)  # more of Orthanc's configuration
    process: subprocess.Popen[bytes] | None = None

    @property
    def forward(self) -> str:
        """Its address as --forward takes it."""
        return f"{self.aet}@127.0.0.1:{self.dicom_port}"

    @property
    def stow_url(self) -> str:
        """Its STOW-RS endpoint (the DICOMweb plugin)."""
        return f"http://127.0.0.1:{self.http_port}/dicom-web/studies"

    def start(self) -> None:
        """Start it (again, on the same storage) and wait until its REST API answers."""
        if shutil.which(ORTHANC) is None:
            pytest.fail("Orthanc is not installed: `make test` installs it (apt-get install orthanc)")
        self.folder.mkdir(parents=True, exist_ok=True)
        config = {
            "Name": "radiomicgan-test",
            "StorageDirectory": str(self.folder / "storage"),
            "IndexDirectory": str(self.folder / "storage"),
            "DicomAet": self.aet,
            "DicomPort": self.dicom_port,
            "HttpPort": self.http_port,
            "RemoteAccessAllowed": False,
            "AuthenticationEnabled": False,
            "OverwriteInstances": False,  # an instance sent again is kept once, never a second copy
            "SaveJobs": False,
            "Plugins": [str(DICOMWEB_PLUGIN)] if DICOMWEB_PLUGIN.exists() else [],
            "DicomWeb": {"Enable": True, "Root": "/dicom-web/"},
            **self.settings,
        }
        (self.folder / "orthanc.json").write_text(json.dumps(config), encoding="utf-8")
        with (self.folder / "orthanc.log").open("ab") as log:
            self.process = subprocess.Popen(
                [ORTHANC, str(self.folder / "orthanc.json")], stdout=log, stderr=subprocess.STDOUT
            )
        wait_until(self._answers, 30, "Orthanc's REST API")

    def stop(self) -> None:
        """Stop it (SIGTERM) and wait for it to end."""
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=30)
            self.process = None

    def kill(self) -> None:
        """End it at once (SIGKILL): at the end of the tests its HTTP server's 2 s goodbye is wasted."""
        if self.process is not None:
            self.process.kill()
            self.process.wait(timeout=30)
            self.process = None

    def get(self, path: str) -> Any:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.http_port}{path}", timeout=10) as response:
            return json.loads(response.read())

    def post(self, path: str, body: Any) -> Any:
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.http_port}{path}", data=json.dumps(body).encode(), method="POST"
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.loads(response.read())

    def file(self, instance_id: str) -> bytes:
        """An instance's DICOM file as Orthanc stores it."""
        url = f"http://127.0.0.1:{self.http_port}/instances/{instance_id}/file"
        with urllib.request.urlopen(url, timeout=10) as response:
            return bytes(response.read())

    def find(self, level: str, study_uid: str) -> list[str]:
        """The Orthanc ids of the series or instances of one study."""
        ids = self.post("/tools/find", {"Level": level, "Query": {"StudyInstanceUID": study_uid}})
        return [str(i) for i in ids]

    def counts(self, study_uid: str) -> tuple[int, int]:
        """(series, instances) Orthanc holds for a study."""
        return len(self.find("Series", study_uid)), len(self.find("Instance", study_uid))

    def stable(self, *study_uids: str) -> bool:
        """Whether every series of the studies is stable (its OnStableSeries has run)."""
        series = [s for study in study_uids for s in self.find("Series", study)]
        return all(self.get(f"/series/{s}")["IsStable"] for s in series)

    def wait_for(self, study_uid: str, instances: int, timeout_s: float = 30) -> None:
        """Wait until Orthanc holds `instances` instances of the study."""
        wait_until(
            lambda: self.counts(study_uid)[1] >= instances, timeout_s, f"{instances} instances in Orthanc"
        )

    def _answers(self) -> bool:
        if self.process is not None and self.process.poll() is not None:
            log = (self.folder / "orthanc.log").read_text(errors="replace")[-2000:]
            pytest.fail(f"Orthanc exited with {self.process.returncode}:\n{log}")
        try:
            self.get("/system")
        except (urllib.error.URLError, OSError):
            return False
        return True


@dataclass(frozen=True)
class Series:
    """A source series written for a test: its folder, files and study."""

    folder: Path
    files: list[Path]
    study_uid: str


def write_series(root: Path, name: str, *, slices: int = 6, size: int = 48, **attributes: Any) -> Series:
    """A SMOOTH-kernel CT series of its own study (the tiny model's source kernel), written to root/name.

    Args:
        attributes: DICOM attributes to set in every file afterwards, e.g. ConvolutionKernel="B70f".
    """
    source, _ = scan_volumes(slices, size, seed=0, name=name)
    folder = write_volume(source, root / name)
    files = sorted(folder.glob("*.dcm"))
    for path in files if attributes else []:
        ds = pydicom.dcmread(path)
        for keyword, value in attributes.items():
            setattr(ds, keyword, value)
        ds.save_as(path)
    return Series(folder, files, source.meta.study_uid)


def storescu(
    port: int, files: list[Path], *, wait: bool = True, called: str = NODE_AET
) -> subprocess.Popen[bytes]:
    """Send files to the node (or `called`) with dcmtk's storescu, as a modality would; waits for it
    unless told not to."""
    executable = shutil.which("storescu")
    if executable is None:
        pytest.fail("dcmtk's storescu is not installed: `make test` installs it (apt-get install dcmtk)")
    command = [executable, "-aet", "MODALITY", "-aec", called, "127.0.0.1", str(port), *map(str, files)]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    if wait:
        finish(process)
    return process


def finish(process: subprocess.Popen[bytes]) -> None:
    """Wait for a storescu and fail the test if it did not store every file."""
    output, _ = process.communicate(timeout=60)
    assert process.returncode == 0, output.decode(errors="replace")


def node_config(model: Path, spool: Path, forward: str, **overrides: Any) -> NodeConfig:
    """A node on a free port with the tests' short idle and retry times, on the CPU."""
    values: dict[str, Any] = {
        "model": str(model),
        "spool": str(spool),
        "forward": forward,
        "port": 0,
        "harmonize": HarmonizeConfig(device="cpu", engine="torch"),
        **FAST,
    }
    return NodeConfig(**(values | overrides))


def train_wiener(scan: Scan, folder: Path) -> Path:
    """A Wiener model (fits in about a second) from the SMOOTH to the SHARP series of `scan`."""
    run = folder / "run"
    train_tiny(scan, run, method="wiener")
    return run
