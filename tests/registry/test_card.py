"""A model card from a real run: what the model file, config.yaml and history.json say, and no more."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from radiomicgan.modelfile import model_digest
from radiomicgan.registry import ModelRegistry
from radiomicgan.registry.store import CARD_DATA_FILE
from radiomicgan.run_folder import RunFolder
from registry.scans import Runs


def _card(root: Path, name: str) -> dict[str, Any]:
    return dict(json.loads((root / name / CARD_DATA_FILE).read_text(encoding="utf-8")))


def test_the_card_records_the_run(runs: Runs, tmp_path: Path) -> None:
    model = ModelRegistry(tmp_path).add(runs.strength3, "a3")
    card = _card(tmp_path, "a3")
    model_bytes = (runs.strength3 / "model.safetensors").read_bytes()
    assert card["model"]["sha256"] == hashlib.sha256(model_bytes).hexdigest()
    assert card["model"]["model_id"] == model_digest(runs.strength3)
    assert (card["source_kernel"], card["target_kernel"], card["method"]) == (
        "Br40d\\3",
        "Br64d\\3",
        "wiener",
    )
    assert (card["manufacturer"], card["manufacturer_from"]) == ("SIEMENS", "training series")
    history = RunFolder(runs.strength3).read_history()
    training = card["training"]
    assert training["scan_pairs"] == 1 and training["epochs"] == len(history) == 1
    assert training["validation"] == history[-1]["validation"]
    assert training["pixel_spacing_mm"] == [0.8, 0.8] and training["slice_spacing_mm"] == 2.5
    assert (training["steps_per_epoch"], training["batch_size"], training["crop_px"]) == (2, 2, 32)
    assert training["wall_seconds"] is None  # history.json records no time
    assert card["evaluation"] is None
    text = model.card_path.read_text(encoding="utf-8")
    assert "**Br40d/3** to kernel **Br64d/3**" in text and card["model"]["sha256"] in text
    assert "| manufacturer | SIEMENS (training series) |" in text
    assert str(runs.scan3.source) not in json.dumps(card) + text  # training paths may name patients


def test_a_manufacturer_given_when_registering_overrides_or_clears_the_recorded_one(
    runs: Runs, tmp_path: Path
) -> None:
    registry = ModelRegistry(tmp_path)
    assert registry.add(runs.strength2, "ge", manufacturer=" GE MEDICAL SYSTEMS ").manufacturer == (
        "GE MEDICAL SYSTEMS"
    )
    assert _card(tmp_path, "ge")["manufacturer_from"] == "given when registered"
    assert registry.add(runs.strength3, "any", manufacturer="").manufacturer == ""
    assert "| manufacturer | any (none, as given when registered) |" in registry.card("any")
    assert _card(tmp_path, "any")["manufacturer"] == ""
