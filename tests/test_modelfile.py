"""Model files are data: safetensors plus JSON metadata; pickles and foreign files are refused."""

from __future__ import annotations

import pickle
from dataclasses import replace
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from radiomicgan.config import ModelConfig, ResidualUNetConfig, UNetConfig, VGGUNetConfig, as_dict
from radiomicgan.errors import InputError
from radiomicgan.modelfile import ModelMetadata, load_model, load_prefilter, read_metadata, save_model
from radiomicgan.nets import FrequencyFilter, build_generator
from radiomicgan.nets.encoder_weights import NO_WEIGHTS

TINY = ModelConfig(generator="unet", unet=UNetConfig(base_channels=4, downs=3))


def _metadata(config: ModelConfig) -> ModelMetadata:
    return ModelMetadata(
        method="pix2pix",
        model=as_dict(config),
        encoder_weights=NO_WEIGHTS.record(),
        encoder_frozen=False,
        training_window_hu=(-1024, 488),
        source_kernel="smooth",
        target_kernel="sharp",
        epochs=3,
    )


def test_round_trip_restores_weights_and_metadata(tmp_path: Path) -> None:
    torch.manual_seed(0)
    generator = build_generator("unet", TINY, NO_WEIGHTS)
    path = save_model(tmp_path / "run", generator, _metadata(TINY))
    assert path.name == "model.safetensors"
    loaded, metadata = load_model(tmp_path / "run")
    assert metadata == _metadata(TINY)
    for (name, a), (_, b) in zip(generator.state_dict().items(), loaded.state_dict().items(), strict=True):
        assert torch.equal(a, b), name
    x = torch.rand(1, 1, 16, 16)
    generator.eval()
    assert torch.equal(generator(x), loaded(x))


def test_a_model_of_the_earlier_default_width_loads_at_its_own_width(tmp_path: Path) -> None:
    """The default residual U-Net moved from width 16 to 8 (session 16): a file trained before keeps 16."""
    assert ResidualUNetConfig().base_channels != 16
    wide = ModelConfig(
        generator="residual_unet", residual_unet=ResidualUNetConfig(base_channels=16, levels=2)
    )
    torch.manual_seed(0)
    generator = build_generator("residual_unet", wide, NO_WEIGHTS)
    save_model(tmp_path / "run", generator, _metadata(wide))
    loaded, _ = load_model(tmp_path / "run")
    widths = {
        p.shape[0] for name, p in loaded.state_dict().items() if name.endswith("weight") and p.dim() == 4
    }
    assert 16 in widths and ResidualUNetConfig().base_channels not in widths
    x = torch.rand(1, 1, 16, 16)
    assert torch.equal(generator.eval()(x), loaded(x))


def test_pickle_payload_is_refused_and_never_runs(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"

    class Payload:
        def __reduce__(self) -> tuple[object, tuple[str]]:
            return (Path.touch, (str(marker),))  # would create a file if unpickled

    for suffix in (".pt", ".pth", ".ckpt"):
        evil = tmp_path / f"model{suffix}"
        evil.write_bytes(pickle.dumps(Payload()))
        with pytest.raises(InputError, match="pickle-based checkpoints are refused"):
            load_model(evil)
    disguised = tmp_path / "model.safetensors"
    disguised.write_bytes(pickle.dumps(Payload()))
    with pytest.raises(InputError, match="not a radiomicgan model file"):
        load_model(disguised)
    assert not marker.exists()


def test_foreign_safetensors_is_not_ours(tmp_path: Path) -> None:
    foreign = tmp_path / "other.safetensors"
    save_file({"w": torch.zeros(2)}, foreign, metadata={"framework": "pt"})
    with pytest.raises(InputError, match="no radiomicgan metadata"):
        read_metadata(foreign)


def test_weights_that_do_not_fit_are_refused(tmp_path: Path) -> None:
    generator = build_generator("unet", TINY, NO_WEIGHTS)
    wider = ModelConfig(generator="unet", unet=UNetConfig(base_channels=8, downs=3))
    path = save_model(tmp_path / "m.safetensors", generator, _metadata(wider))
    with pytest.raises(InputError, match="do not fit"):
        load_model(path)


def test_missing_and_non_model_paths(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="does not exist"):
        load_model(tmp_path / "absent")
    (tmp_path / "empty_run").mkdir()
    with pytest.raises(InputError, match="not a radiomicgan run folder"):
        load_model(tmp_path / "empty_run")
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    with pytest.raises(InputError, match=r"expected a \.safetensors file"):
        load_model(text)


def test_files_without_an_output_key_hold_the_papers_sigmoid_head(tmp_path: Path) -> None:
    config = ModelConfig(vgg_unet=VGGUNetConfig(skip_width=0.125, encoder_weights="none", output="sigmoid"))
    generator = build_generator("radiomicgan", config, NO_WEIGHTS)
    # as version-1 files before `output` existed wrote it: flat, without the key
    older = {"generator": "radiomicgan", "encoder_weights": "none", "skip_width": 0.125, "norm": "batch"}
    metadata = ModelMetadata(
        method="radiomicgan", model=older, encoder_weights=NO_WEIGHTS.record(),
        encoder_frozen=False, training_window_hu=(-1024, 1000),
    )  # fmt: skip
    save_model(tmp_path / "run", generator, metadata)
    loaded, _ = load_model(tmp_path / "run")
    x = torch.rand(1, 1, 16, 16)
    generator.eval()
    assert torch.equal(loaded(x), generator(x))  # a residual head would return x + 0 instead
    assert not torch.equal(loaded(x), x)


def test_prefilter_is_saved_beside_the_weights_and_loaded_back(tmp_path: Path) -> None:
    generator = build_generator("unet", TINY, NO_WEIGHTS)
    prefilter = FrequencyFilter()
    prefilter.set_response(torch.complex(torch.rand(8, 6), torch.rand(8, 6)))
    with_prefilter = replace(TINY, prefilter="wiener")
    path = save_model(tmp_path / "run", generator, _metadata(with_prefilter), prefilter)
    _, metadata = load_model(path)  # the generator's strict load ignores the prefilter's tensors
    restored = load_prefilter(path, metadata)
    assert restored is not None
    assert torch.equal(restored.response_real, prefilter.response_real)
    assert torch.equal(restored.response_imag, prefilter.response_imag)
    assert load_prefilter(save_model(tmp_path / "plain", generator, _metadata(TINY)), _metadata(TINY)) is None


def test_metadata_naming_a_prefilter_the_file_lacks_is_refused(tmp_path: Path) -> None:
    generator = build_generator("unet", TINY, NO_WEIGHTS)
    metadata = _metadata(replace(TINY, prefilter="wiener"))
    path = save_model(tmp_path / "run", generator, metadata)  # no prefilter tensors
    with pytest.raises(InputError, match="names a prefilter that the file does not hold"):
        load_prefilter(path, metadata)
