"""The registry folder: add, list, show and remove real trained models; refusals leave nothing behind."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pydicom
import pytest

from radiomicgan.errors import ConfigError, InputError, OutputError
from radiomicgan.modelfile import model_digest, read_metadata
from radiomicgan.registry import ModelRegistry, default_registry_dir
from radiomicgan.registry.store import CARD_DATA_FILE
from registry.scans import Runs

RELEASE = Path(__file__).parents[1] / "data" / "release_0.3.0"


def test_the_default_registry_lies_in_the_users_data_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    assert default_registry_dir() == tmp_path / "data" / "radiomicgan" / "models"
    assert ModelRegistry().root == default_registry_dir()
    monkeypatch.delenv("XDG_DATA_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert default_registry_dir() == tmp_path / "home" / ".local" / "share" / "radiomicgan" / "models"


def test_add_list_show_remove_round_trip(runs: Runs, tmp_path: Path) -> None:
    registry = ModelRegistry(tmp_path / "registry")
    assert registry.list() == []  # no folder yet: an empty registry
    added = registry.add(runs.strength3, "siemens-br40-a3")
    registry.add(runs.strength2 / "model.safetensors", "br40-a2")

    assert [m.name for m in registry.list()] == ["br40-a2", "siemens-br40-a3"]
    assert registry.show("siemens-br40-a3") == added
    assert (added.source_kernel, added.target_kernel) == ("Br40d\\3", "Br64d\\3")
    assert added.manufacturer == "SIEMENS" and added.method == "wiener"  # recorded at training, stripped
    assert registry.show("br40-a2").manufacturer == ""  # its series had none
    # a copy of the run's model, byte for byte, that loads as one
    assert added.model_path.read_bytes() == (runs.strength3 / "model.safetensors").read_bytes()
    assert model_digest(added.model_path) == model_digest(runs.strength3)
    assert read_metadata(added.model_path).source_kernel == "Br40d\\3"

    registry.remove("br40-a2")
    assert [m.name for m in registry.list()] == ["siemens-br40-a3"]
    assert sorted(p.name for p in registry.root.iterdir()) == ["siemens-br40-a3"]  # nothing hidden left
    with pytest.raises(InputError, match="no model named 'br40-a2'"):
        registry.show("br40-a2")
    with pytest.raises(InputError, match="no model named 'br40-a2'"):
        registry.remove("br40-a2")


def test_a_taken_name_is_refused_unless_overwritten(runs: Runs, tmp_path: Path) -> None:
    registry = ModelRegistry(tmp_path)
    registry.add(runs.strength3, "br40")
    before = (tmp_path / "br40" / CARD_DATA_FILE).read_bytes()
    with pytest.raises(OutputError, match="'br40' is registered already"):
        registry.add(runs.strength2, "br40")
    assert (tmp_path / "br40" / CARD_DATA_FILE).read_bytes() == before
    replaced = registry.add(runs.strength2, "br40", overwrite=True)
    assert replaced.source_kernel == "Br40d\\2"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["br40"]


@pytest.mark.parametrize("name", ["", ".hidden", "../up", "a/b", "with space", "x" * 65, "-dash"])
def test_unsafe_names_are_refused(runs: Runs, tmp_path: Path, name: str) -> None:
    with pytest.raises(ConfigError, match="invalid model name"):
        ModelRegistry(tmp_path / "registry").add(runs.strength3, name)
    assert not (tmp_path / "registry").exists()


def test_what_is_not_a_model_of_ours_is_refused_before_anything_is_written(
    tmp_path: Path, pydicom_test_file: object
) -> None:
    registry = ModelRegistry(tmp_path / "registry")
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="not a radiomicgan run folder"):
        registry.add(tmp_path / "empty", "x")
    with pytest.raises(InputError, match="does not exist"):
        registry.add(tmp_path / "missing", "x")
    fake = tmp_path / "fake.safetensors"
    fake.write_bytes(b"\x00" * 64)
    with pytest.raises(InputError, match="not a radiomicgan model file"):
        registry.add(fake, "x")
    assert not registry.root.exists()


def test_an_unwritable_registry_is_refused_whole(runs: Runs, tmp_path: Path) -> None:
    # under a file: no folder can be made there, whoever runs the test (root ignores permissions)
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder", encoding="utf-8")
    with pytest.raises(OutputError, match="cannot create output"):
        ModelRegistry(blocker / "registry").add(runs.strength3, "br40")
    with pytest.raises(OutputError, match="model registry is not a folder"):
        ModelRegistry(blocker).add(runs.strength3, "br40")
    assert blocker.read_text(encoding="utf-8") == "not a folder"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a-file"]


def test_a_release_0_3_0_run_registers_without_a_manufacturer(tmp_path: Path) -> None:
    model = ModelRegistry(tmp_path).add(RELEASE / "wiener", "old")
    assert (model.source_kernel, model.manufacturer) == ("SMOOTH", "")
    card = json.loads((tmp_path / "old" / CARD_DATA_FILE).read_text())
    assert card["model"]["written_by"] == "radiomicgan 0.3.0"
    assert card["training"]["scan_pairs"] == 1 and card["training"]["epochs"] == 1


def test_a_damaged_entry_is_skipped_with_a_warning(
    runs: Runs, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    registry = ModelRegistry(tmp_path)
    registry.add(runs.strength3, "good")
    shutil.copytree(tmp_path / "good", tmp_path / "bad")
    (tmp_path / "bad" / CARD_DATA_FILE).write_text("{not json", encoding="utf-8")
    (tmp_path / ".good.0123456789ab.partial").mkdir()  # a writer's temporary folder: not an entry
    assert [m.name for m in registry.list()] == ["good"]
    assert "bad" in caplog.text and "not a registry entry" in caplog.text
    header = pydicom.Dataset()
    header.ConvolutionKernel = ["BR40D", "3"]
    header.Manufacturer = "Siemens"
    assert registry.match(header) == registry.show("good")
