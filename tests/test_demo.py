"""The demo: one quick end-to-end run (with its nodule cohort's lesion level), and its refusal to
replace folders it did not write."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from radiomicgan.demo import QUICK, run_demo
from radiomicgan.errors import OutputError
from radiomicgan.io.ownership import write_marker


def test_refuses_a_folder_it_did_not_write(tmp_path: Path) -> None:
    precious = tmp_path / "scans"
    precious.mkdir()
    (precious / "keep.dcm").write_bytes(b"data")
    with pytest.raises(OutputError, match=r"holds keep\.dcm, which is not radiomicgan's output"):
        run_demo(precious, quick=True, overwrite=True, progress=False)
    assert (precious / "keep.dcm").read_bytes() == b"data"


def test_refuses_an_earlier_demo_without_overwrite(tmp_path: Path) -> None:
    earlier = tmp_path / "demo"
    earlier.mkdir()
    write_marker(earlier, everything=True)
    (earlier / "report").mkdir()
    with pytest.raises(OutputError, match="--overwrite"):
        run_demo(earlier, quick=True, progress=False)
    assert (earlier / "report").is_dir()


@pytest.mark.slow
def test_quick_demo_trains_harmonizes_and_reports(tmp_path: Path, one_torch_thread: None) -> None:
    result = run_demo(tmp_path / "demo", quick=True, progress=False)
    assert result.report.is_file() and result.report.name == "report.html"
    results = json.loads((result.report.parent / "results.json").read_text())
    assert {"input", "radiomicgan", "retest"} <= set(results["candidates"])
    for row in results["candidates"].values():
        assert set(row["reproducible"]) == {"-800,-300", "-100,250", "300,800"}
        assert 0.0 < row["ssim"]["mean"] <= 1.0
    assert (result.out_dir / "runs" / "radiomicgan" / "model.safetensors").is_file()
    # trained on one simulated scan, evaluated on another seed's: no false "trained on evaluated data"
    assert results["training_runs"]["radiomicgan"]["trained_on_evaluated"] == []
    assert not any("trained on evaluated data" in w for w in results["warnings"])
    # the test patients' inserted nodules make the lesion level, every candidate measured on each
    lesions = results["lesions"]
    assert lesions["n_cases"] == QUICK.patients and lesions["n_lesions"] == 2 * QUICK.patients
    assert lesions["excluded"] == [] and set(lesions["candidates"]) == set(results["candidates"])
    # the same kernel on fresh noise keeps more lesion features than the other kernel does
    assert lesions["candidates"]["retest"]["reproducible"] > lesions["candidates"]["input"]["reproducible"]
    manifest = (result.out_dir / "cohort.csv").read_text().splitlines()
    assert manifest[0] == (
        "id,reference,mask,candidate:input,candidate:radiomicgan,candidate:wiener,"
        "candidate:histmatch,candidate:retest"
    )
    assert len(manifest) == 1 + QUICK.patients
    page = result.report.read_text()
    assert "radiomicgan" in page and "retest" in page and 'id="lesions"' in page
    assert (result.report.parent / "lesion_ccc.csv").is_file()
    # a second run replaces the first only when asked
    with pytest.raises(OutputError):
        run_demo(result.out_dir, quick=True, progress=False)
