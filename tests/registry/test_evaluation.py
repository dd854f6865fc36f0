"""An evaluation's summary on a model's card: found by the model id that `evaluate` records for a
candidate's training run, or named with `candidate`; a real evaluation of a real harmonized series."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from radiomicgan.cli import main
from radiomicgan.errors import InputError
from radiomicgan.modelfile import model_digest
from radiomicgan.registry import ModelRegistry
from radiomicgan.registry.store import CARD_DATA_FILE
from registry.scans import Runs

LIGHT = {
    "setting": {"binWidth": 25, "label": 1, "force2D": False, "additionalInfo": False},
    "imageType": {"Original": {}},
    "featureClass": {"firstorder": None},
}


@pytest.fixture(scope="module")
def report(runs: Runs, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`evaluate` of the Br40d\\3 input and its Wiener harmonization against the Br64d\\3 reference,
    with --training-run for the harmonized candidate (about 5 s: first-order features, 4 ROIs, 2 repeats)."""
    folder = tmp_path_factory.mktemp("evaluation")
    (folder / "light.yaml").write_text(yaml.safe_dump(LIGHT), encoding="utf-8")
    config = {"roi_size_px": 16, "context_px": 4, "features": {"settings_path": str(folder / "light.yaml")}}
    (folder / "evaluation.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")
    harmonized = folder / "harmonized"
    assert main(["harmonize", "--model", str(runs.strength3), str(runs.scan3.source), str(harmonized),
                 "--device", "cpu", "--quiet"]) == 0  # fmt: skip
    argv = [
        "evaluate", "--reference", str(runs.scan3.target), "--candidate", f"input={runs.scan3.source}",
        "--candidate", f"wiener={harmonized}", "--training-run", f"wiener={runs.strength3}",
        "--out", str(folder / "report"), "--rois", "4", "--repeats", "2", "--jobs", "1", "--no-cache",
        "--config", str(folder / "evaluation.yaml"), "--quiet",
    ]  # fmt: skip
    assert main(argv) == 0
    return folder / "report"


@pytest.mark.slow
def test_the_evaluated_candidate_is_found_by_the_model_id(runs: Runs, report: Path, tmp_path: Path) -> None:
    results = json.loads((report / "results.json").read_text(encoding="utf-8"))
    registry = ModelRegistry(tmp_path)
    model = registry.add(runs.strength3, "a3", evaluation=report)
    card = json.loads((tmp_path / "a3" / CARD_DATA_FILE).read_text(encoding="utf-8"))
    evaluation = card["evaluation"]
    assert evaluation["candidate"] == "wiener"
    assert evaluation["candidates"] == {
        name: {key: row[key] for key in ("reproducible", "psnr", "ssim")}
        for name, row in results["candidates"].items()
    }
    assert evaluation["hu_ranges"] == results["hu_ranges"] == [[-800, -300], [-100, 250], [300, 800]]
    assert evaluation["features_counted"] == results["features_counted"] > 0
    # the model was trained on the evaluated scan: the card says so, as the report does
    assert any("trained on evaluated data" in sentence for sentence in evaluation["warnings"])
    markdown = model.card_path.read_text(encoding="utf-8")
    wiener = results["candidates"]["wiener"]["reproducible"]["-800,-300"]["mean"]
    assert "| candidate | -800 to -300 HU | -100 to 250 HU | 300 to 800 HU | PSNR | SSIM |" in markdown
    assert f"| **wiener** (this model) | {wiener:.4g}" in markdown
    assert "trained on evaluated data" in markdown


@pytest.mark.slow
def test_an_evaluation_without_a_link_needs_the_candidate_named(
    runs: Runs, report: Path, tmp_path: Path
) -> None:
    unlinked = tmp_path / "unlinked"
    unlinked.mkdir()
    results = json.loads((report / "results.json").read_text(encoding="utf-8"))
    results["training_runs"] = {}  # what `evaluate` records without --training-run
    (unlinked / "results.json").write_text(json.dumps(results), encoding="utf-8")
    registry = ModelRegistry(tmp_path / "registry")
    digest = model_digest(runs.strength3)
    with pytest.raises(
        InputError, match=f"no candidate of this evaluation is recorded as harmonized by model {digest}"
    ):
        registry.add(runs.strength3, "a3", evaluation=unlinked)
    with pytest.raises(
        InputError, match=r"no candidate 'rg' in this evaluation \(candidates: input, wiener\)"
    ):
        registry.add(runs.strength3, "a3", evaluation=unlinked, candidate="rg")
    assert not registry.root.exists()
    registry.add(runs.strength3, "a3", evaluation=unlinked, candidate="wiener")
    card = json.loads((registry.root / "a3" / CARD_DATA_FILE).read_text(encoding="utf-8"))
    assert card["evaluation"]["candidate"] == "wiener"
    # another model than the evaluated one is not linked to it
    with pytest.raises(InputError, match="no candidate of this evaluation is recorded"):
        registry.add(runs.strength2, "a2", evaluation=report)
