"""Fixtures shared by every test folder: synthetic CT series on disk, pydicom's test files, dciodvfy.

Everything is built in `tmp_path` from real files; nothing touches the network.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pydicom
import pytest
import torch
from numpy.typing import NDArray
from pydicom.uid import ImplicitVRLittleEndian
from scipy.spatial.transform import Rotation

from radiomicgan.io import SeriesMeta, Volume, deterministic_uid, new_ct_datasets, write_dicom_series
from registry.scans import Runs, train_runs
from training.pairs import Scan, write_scan

# pydicom's bundled test files. Never call pydicom.data.get_testdata_file(s): they try to download.
PYDICOM_TEST_FILES = Path(pydicom.__file__).parent / "data" / "test_files"

# An oblique orientation, so that no test passes by accident of an identity direction matrix.
OBLIQUE_DIRECTION = Rotation.from_euler("xyz", [10, -20, 30], degrees=True).as_matrix()


@dataclass(frozen=True)
class SyntheticSeries:
    """A CT series written to disk by `make_ct_series`.

    Attributes:
        folder: the series folder.
        files: its files (names shuffled with respect to slice order).
        hu: the expected HU, [z, y, x] in slice order (integers in [-1024, 3071]).
        volume: the in-memory volume that was written (with its datasets).
    """

    folder: Path
    files: tuple[Path, ...]
    hu: NDArray[np.float32]
    volume: Volume


def make_ct_series(
    folder: Path,
    *,
    slices: int = 6,
    rows: int = 32,
    columns: int = 40,
    seed: int = 0,
    kernel: str = "B30f",
    description: str = "synthetic CT",
    series_number: int = 1,
    study_uid: str | None = None,
    frame_of_reference_uid: str | None = None,
    series_uid: str | None = None,
    spacing_zyx_mm: tuple[float, float, float] = (2.5, 0.7, 0.68),
    origin_xyz_mm: tuple[float, float, float] = (-100.25, 33.5, 512.125),
    direction: NDArray[np.float64] | None = None,
    unsigned_every: int = 2,
    implicit_vr_every: int = 3,
    shuffle: bool = True,
) -> SyntheticSeries:
    """Write a small synthetic CT series: random integer HU, oblique geometry, mixed encodings.

    Every `unsigned_every`-th file stores unsigned 12-bit values with intercept -1024 and every
    `implicit_vr_every`-th file is Implicit VR Little Endian (0 disables either); the others are
    signed int16, slope 1, intercept 0, Explicit VR Little Endian. File names do not follow slice order
    when `shuffle`. UIDs default to hashes of `seed`, so two calls with the same `study_uid` and
    `frame_of_reference_uid` make two series of one scan.
    """
    rng = np.random.default_rng(seed)
    hu = rng.integers(-1024, 3072, size=(slices, rows, columns)).astype(np.float32)
    meta = SeriesMeta(
        study_uid=study_uid or deterministic_uid("test-study", str(seed)),
        frame_of_reference_uid=frame_of_reference_uid or deterministic_uid("test-for", str(seed)),
        series_uid=series_uid or deterministic_uid("test-series", str(seed), kernel, description),
        kernel=kernel,
        description=description,
    )
    volume = Volume(
        hu=hu,
        spacing_zyx_mm=spacing_zyx_mm,
        origin_xyz_mm=origin_xyz_mm,
        direction=OBLIQUE_DIRECTION.copy() if direction is None else direction,
        meta=meta,
    )
    datasets = new_ct_datasets(
        volume,
        patient_name="Synthetic^Patient",
        patient_id="SYN0001",
        study_description="synthetic study",
        series_description=description,
        series_number=series_number,
        kernel=kernel,
    )
    volume = replace(volume, datasets=datasets)
    write_dicom_series(volume, folder)
    written = sorted(folder.iterdir())  # IM000001.dcm ... in slice order
    for index, path in enumerate(written):
        if unsigned_every and index % unsigned_every == 0:
            _store_unsigned(path)
        if implicit_vr_every and index % implicit_vr_every == 1:
            _resave_implicit(path)
    order = rng.permutation(len(written)) if shuffle else np.arange(len(written))
    files = []
    for path, number in zip(written, order, strict=True):
        files.append(path.rename(folder / f"img{int(number) * 7 + 3:04d}.dcm"))
    return SyntheticSeries(folder=folder, files=tuple(files), hu=hu, volume=volume)


def _store_unsigned(path: Path) -> None:
    """Re-encode a signed HU slice as unsigned 12-bit stored values with intercept -1024."""
    ds = pydicom.dcmread(path)
    hu = ds.pixel_array.astype(np.int32)
    ds.PixelRepresentation = 0
    ds.BitsStored = 12
    ds.HighBit = 11
    ds.RescaleIntercept = "-1024"
    ds.PixelData = (hu + 1024).astype("<u2").tobytes()
    ds.save_as(path, enforce_file_format=True)


def _resave_implicit(path: Path) -> None:
    ds = pydicom.dcmread(path)
    ds.file_meta.TransferSyntaxUID = ImplicitVRLittleEndian
    ds.save_as(path, enforce_file_format=True)


@pytest.fixture(autouse=True, scope="session")
def _private_cache_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Caches the library keeps under $XDG_CACHE_HOME (ONNX exports) go to a temporary folder.

    Matplotlib's font cache stays where it is: it lives under $XDG_CACHE_HOME too, and a command
    run as a subprocess would otherwise build it afresh and say so on stderr, one line more than a
    test of the command's one-line errors expects (whichever such test happened to run first).
    """
    import matplotlib.font_manager  # builds the font cache in its usual place if it is missing

    previous = {name: os.environ.get(name) for name in ("XDG_CACHE_HOME", "MPLCONFIGDIR")}
    os.environ["MPLCONFIGDIR"] = matplotlib.get_cachedir()
    os.environ["XDG_CACHE_HOME"] = str(tmp_path_factory.mktemp("cache-home"))
    yield
    for name, value in previous.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


@pytest.fixture
def one_torch_thread() -> Iterator[None]:
    """Torch on one thread for the test, restored after: the machine's two cores are shared."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(name="make_ct_series")
def _make_ct_series_fixture() -> Callable[..., SyntheticSeries]:
    """The `make_ct_series` factory (call it with a folder under tmp_path)."""
    return make_ct_series


@pytest.fixture
def ct_series(tmp_path: Path) -> SyntheticSeries:
    """A 6-slice 32x40 synthetic CT series in tmp_path/'ct' (see `make_ct_series`)."""
    return make_ct_series(tmp_path / "ct")


@pytest.fixture
def pydicom_test_file() -> Callable[[str], Path]:
    """Path of one of pydicom's bundled test files, e.g. pydicom_test_file('CT_small.dcm')."""

    def get(name: str) -> Path:
        path = PYDICOM_TEST_FILES / name
        assert path.exists(), f"{name} is not among pydicom's bundled test files ({PYDICOM_TEST_FILES})"
        return path

    return get


def run_dciodvfy(path: Path) -> tuple[list[str], str]:
    """Validate a DICOM file (or every file of a folder) with dicom3tools' dciodvfy.

    Returns:
        The "Error" lines (prefixed with the file name for a folder) and the whole output.
    """
    executable = shutil.which("dciodvfy")
    if executable is None:
        pytest.fail(
            "dciodvfy is not installed: `make test` installs dicom3tools (apt-get install dicom3tools)"
        )
    files = sorted(p for p in path.iterdir() if p.is_file()) if path.is_dir() else [path]
    errors: list[str] = []
    outputs: list[str] = []
    for file in files:
        # -new: the attribute-path message format of current dicom3tools
        result = subprocess.run([executable, "-new", str(file)], capture_output=True, text=True, timeout=60)
        output = result.stdout + result.stderr
        outputs.append(output)
        prefix = f"{file.name}: " if path.is_dir() else ""
        errors += [prefix + line for line in output.splitlines() if line.startswith("Error")]
    return errors, "\n".join(outputs)


@pytest.fixture(name="run_dciodvfy")
def _run_dciodvfy_fixture() -> Callable[[Path], tuple[list[str], str]]:
    """The `run_dciodvfy` helper."""
    return run_dciodvfy


def tree_digests(root: Path) -> dict[Path, str]:
    """SHA-256 of every file under `root` (or of `root` itself), to prove inputs are left untouched."""
    files = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file())
    return {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in files}


@pytest.fixture(name="tree_digests")
def _tree_digests_fixture() -> Callable[[Path], dict[Path, str]]:
    """The `tree_digests` helper."""
    return tree_digests


@pytest.fixture(scope="module")
def dask_scheduler() -> Iterator[str]:
    """The address of a real local Dask cluster: 2 worker processes of one thread, for a test module.

    Dask is the optional `cluster` extra (requirements-dev.txt installs it); imported here only.
    """
    from distributed import LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        yield str(cluster.scheduler_address)


@pytest.fixture(scope="session")
def scan(tmp_path_factory: pytest.TempPathFactory) -> Scan:
    """One paired scan, 6 slices of 48 x 48 px (`training.pairs.write_scan`), written once for the run:
    shared by every test that trains or harmonizes a tiny model, so tests must not write into it."""
    return write_scan(tmp_path_factory.mktemp("data"))


@pytest.fixture(scope="session")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Runs:
    """Two Wiener runs (a second each) on Br40d\\3 (Siemens) and Br40d\\2 (no Manufacturer) series, for
    the model registry and `harmonize --model auto` (`registry.scans`); tests must not write into them."""
    return train_runs(tmp_path_factory.mktemp("registry-runs"))
