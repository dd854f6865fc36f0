"""No patient identifier leaves the DICOM: not in messages, logs, run folders, reports or caches.

Identifiers are planted in a small paired scan, which then goes through info, train, harmonize and
evaluate on the command line (verbose, so debug logs count too). Every planted string is then
searched in what the commands printed and logged and in every file they wrote, as raw bytes and
inside what raw bytes can hide: compressed Parquet pages, PNG text chunks, images embedded in HTML.
Only the derived DICOM keeps the patient module, on purpose: it is the same patient's scan.
"""

from __future__ import annotations

import base64
import io
import re
import struct
import zlib
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pydicom
import pytest
import yaml
from PIL import Image
from PIL.PngImagePlugin import PngInfo

from radiomicgan.cli import main
from training.pairs import Scan, tiny_config_yaml, write_scan

PATIENT_NAME = "Doe^Jane^Planted"
IDENTIFIERS = {
    "PatientName": PATIENT_NAME,
    "PatientID": "PID-PLANTED-4711",
    "PatientBirthDate": "19010203",
    "AccessionNumber": "ACC-PLANTED-99",
    "ReferringPhysicianName": "Referrer^Planted",
    "InstitutionName": "Planted General Hospital",
    "OtherPatientIDs": "OTHER-PLANTED-1",
}
# What must never appear: each planted value, the name's parts as a viewer would print them, the
# birth date in ISO form, and the word every planted value carries (in any case).
FORBIDDEN = [*IDENTIFIERS.values(), "Doe Jane", "Jane Doe", "1901-02-03", "planted"]
LIGHT_RADIOMICS = {
    "setting": {"binWidth": 25, "label": 1, "force2D": False, "additionalInfo": False},
    "imageType": {"Original": {}},
    "featureClass": {"firstorder": None, "glcm": None},
}


@pytest.fixture(autouse=True)
def _one_thread(one_torch_thread: None) -> None:
    """Torch on one thread (`one_torch_thread` in tests/conftest.py)."""


def _plant(folder: Path) -> None:
    for path in sorted(folder.iterdir()):
        ds = pydicom.dcmread(path)
        for keyword, value in IDENTIFIERS.items():
            setattr(ds, keyword, value)
        ds.save_as(path)


@pytest.fixture
def scan(tmp_path: Path) -> Scan:
    """One paired scan (6 slices of 48 x 48 px) whose files carry the planted identifiers."""
    written = write_scan(tmp_path / "data")
    for folder in (written.source, written.target):
        _plant(folder)
    return written


def _evaluation_config(folder: Path) -> Path:
    folder.mkdir()
    (folder / "light.yaml").write_text(yaml.safe_dump(LIGHT_RADIOMICS), encoding="utf-8")
    config = {"roi_size_px": 16, "context_px": 4, "features": {"settings_path": str(folder / "light.yaml")}}
    (folder / "evaluation.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")
    return folder / "evaluation.yaml"


def _texts(path: Path) -> Iterator[bytes]:
    """A file's bytes, and the text its compressed or embedded parts hold."""
    data = path.read_bytes()
    yield data
    yield from _hidden(path.suffix.lower(), data)


def _hidden(suffix: str, data: bytes) -> Iterator[bytes]:
    if suffix == ".parquet":
        table = pq.read_table(io.BytesIO(data))
        yield str(table.schema.metadata).encode()
        frame = table.to_pandas()
        yield frame.to_csv().encode() + str(list(frame.index.names)).encode()
    elif suffix == ".png":
        yield from _png_text(data)
    elif suffix in (".html", ".svg"):
        for match in re.finditer(rb"data:image/(\w+)[^,]*;base64,([A-Za-z0-9+/=]+)", data):
            image = base64.b64decode(match.group(2))
            yield image
            yield from _hidden("." + match.group(1).decode(), image)


def _png_text(data: bytes) -> Iterator[bytes]:
    """The text chunks of a PNG, zTXt and iTXt decompressed."""
    position = 8  # after the signature
    while position + 8 <= len(data):
        (length,) = struct.unpack(">I", data[position : position + 4])
        kind = data[position + 4 : position + 8]
        body = data[position + 8 : position + 8 + length]
        if kind == b"tEXt":
            yield body
        elif kind == b"zTXt":
            keyword, _, rest = body.partition(b"\0")
            yield keyword + zlib.decompress(rest[1:])
        elif kind == b"iTXt":
            keyword, _, rest = body.partition(b"\0")
            compressed, text = rest[0], rest[2:].split(b"\0", 2)[-1]
            yield keyword + (zlib.decompress(text) if compressed else text)
        position += 12 + length


def _leaks(text: bytes) -> list[str]:
    lowered = text.lower()
    return [word for word in FORBIDDEN if word.lower().encode() in lowered]


def _file_leaks(root: Path) -> dict[str, list[str]]:
    found = {}
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        leaks = sorted({word for text in _texts(path) for word in _leaks(text)})
        if leaks:
            found[str(path.relative_to(root))] = leaks
    return found


def _run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    """Run a command (verbose: debug logs count too); returns what it printed and logged."""
    assert main(["-v", *argv]) == 0
    captured = capsys.readouterr()
    return captured.out + captured.err


@pytest.mark.slow
def test_no_identifier_in_messages_logs_or_outputs(
    scan: Scan, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run, harmonized, report, cache = (tmp_path / name for name in ("run", "harmonized", "report", "cache"))
    printed = _run(["info", str(scan.source.parent), "--json"], capsys)
    printed += _run(["info", str(scan.source.parent)], capsys)
    train = ["--source", str(scan.source), "--target", str(scan.target), "--out", str(run)]
    budget = ["--epochs", "1", "--steps-per-epoch", "1"]
    config = str(tiny_config_yaml(tmp_path / "train.yaml"))
    printed += _run(["train", "--config", config, *train, *budget, "--quiet"], capsys)
    printed += _run(["harmonize", "--model", str(run), str(scan.source), str(harmonized), "--quiet"], capsys)
    printed += _run(
        [
            "evaluate", "--reference", str(scan.target), "--candidate", f"input={scan.source}",
            "--candidate", f"rg={harmonized}", "--training-run", f"rg={run}", "--out", str(report),
            "--rois", "3", "--repeats", "1", "--jobs", "1", "--cache", str(cache), "--quiet",
            "--config", str(_evaluation_config(tmp_path / "evaluation")),
        ],
        capsys,
    )  # fmt: skip
    registry = ["--registry", str(tmp_path / "models")]  # a model card: kernels, manufacturer, evaluation
    printed += _run(
        ["models", "add", str(run), "--name", "rg", "--evaluation", str(report), *registry], capsys
    )
    printed += _run(["models", "show", "rg", *registry], capsys) + _run(["models", "list", *registry], capsys)
    auto = ["harmonize", "--model", "auto", *registry, str(scan.source.parent), str(tmp_path / "auto")]
    printed += _run([*auto, "--quiet"], capsys)
    assert f"{scan.target}: skipped: no registered model" in printed  # the target kernel is no model's source
    assert "read CT series" in printed  # the debug logs were on
    assert _leaks(printed.encode()) == [], printed
    for root in (run, report, cache, tmp_path / "models"):
        assert _file_leaks(root) == {}
    derived = sorted(harmonized.iterdir())
    assert derived and all(path.suffix == ".dcm" for path in derived)  # nothing else to search there
    for path in derived:
        ds = pydicom.dcmread(path)
        # The derived series is the same patient's scan: its patient module stays, on purpose.
        assert (str(ds.PatientName), ds.PatientID) == (PATIENT_NAME, IDENTIFIERS["PatientID"])
    assert isinstance(pd.read_parquet(report / "features.parquet"), pd.DataFrame)


@pytest.mark.parametrize("damage", ["cut_inside_the_name", "name_with_unknown_vr", "slope_not_numeric"])
def test_a_bad_file_error_never_names_the_patient(
    damage: str, scan: Scan, capsys: pytest.CaptureFixture[str]
) -> None:
    victim = sorted(scan.source.iterdir())[2]
    raw = victim.read_bytes()
    name_at = raw.index(PATIENT_NAME.encode())
    if damage == "cut_inside_the_name":
        victim.write_bytes(raw[: name_at + 7])  # ends in "Doe^Jan"
    elif damage == "name_with_unknown_vr":
        assert raw[name_at - 4 : name_at - 2] == b"PN"  # explicit VR: tag, VR, length, value
        victim.write_bytes(raw[: name_at - 4] + b"QQ" + raw[name_at - 2 :])
    else:
        slope_at = raw.index(b"1 ", raw.index(struct.pack("<HH", 0x0028, 0x1053)) + 8)
        victim.write_bytes(raw[:slope_at] + b"x " + raw[slope_at + 2 :])
    capsys.readouterr()
    # simulate reads the series, so it must refuse it; info lists it with the problem, or refuses.
    assert main(["simulate", str(scan.source), str(scan.source.parent / "simulated")]) == 2
    captured = capsys.readouterr()
    assert len(captured.err.splitlines()) == 1, captured.err
    assert main(["info", str(scan.source)]) in (0, 2)
    printed = captured.err + captured.out + "".join(capsys.readouterr())
    assert _leaks(printed.encode()) == [], printed


def test_the_search_sees_through_compression_and_embedding(tmp_path: Path) -> None:
    """The scan above would find a leak that raw bytes hide."""
    frame = pd.DataFrame({"case": [PATIENT_NAME] * 50, "value": range(50)})
    frame.to_parquet(tmp_path / "features.parquet", compression="snappy")
    metadata = PngInfo()
    metadata.add_text("Title", f"slice of {IDENTIFIERS['PatientID']}", zip=True)
    png = io.BytesIO()
    Image.new("L", (4, 4)).save(png, format="PNG", pnginfo=metadata)
    assert IDENTIFIERS["PatientID"].encode() not in png.getvalue()  # compressed: raw bytes miss it
    (tmp_path / "figure.png").write_bytes(png.getvalue())
    embedded = base64.b64encode(png.getvalue()).decode()
    (tmp_path / "report.html").write_text(f'<img src="data:image/png;base64,{embedded}">', encoding="utf-8")
    found = _file_leaks(tmp_path)
    assert PATIENT_NAME in found["features.parquet"]
    assert IDENTIFIERS["PatientID"] in found["figure.png"]
    assert IDENTIFIERS["PatientID"] in found["report.html"]
