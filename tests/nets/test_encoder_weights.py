"""Encoder weight specs: files (.pth, .safetensors), the torch.hub cache, no network, the freeze rule."""

from __future__ import annotations

import hashlib
import logging
import socket
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from radiomicgan.config import ModelConfig, VGGUNetConfig
from radiomicgan.errors import EncoderWeightsError
from radiomicgan.nets import build_generator, load_encoder_weights, resolve_freeze
from radiomicgan.nets.encoder_weights import IMAGENET_FILE, NO_WEIGHTS, imagenet_cache_path


@pytest.fixture
def empty_hub(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """torch.hub's directory is $TORCH_HOME/hub: point it at an empty folder."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch_home"))
    return tmp_path / "torch_home" / "hub"


def _closed_port_url() -> str:
    with socket.socket() as s:  # a port that was just free: nothing listens there
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/models/{IMAGENET_FILE}"


def test_path_spec_loads_the_file_into_the_generator_encoder(vgg19_checkpoint: Path) -> None:
    weights = load_encoder_weights(str(vgg19_checkpoint))
    assert weights.pretrained and weights.source == str(vgg19_checkpoint)
    assert weights.sha256 == hashlib.sha256(vgg19_checkpoint.read_bytes()).hexdigest()

    generator = build_generator(
        "radiomicgan", ModelConfig(vgg_unet=VGGUNetConfig(encoder_weights=str(vgg19_checkpoint)))
    )
    saved = torch.load(vgg19_checkpoint, weights_only=True)
    encoder = generator.encoder.state_dict()
    assert set(encoder) == {k for k in saved if k.startswith("features.") and int(k.split(".")[1]) < 27}
    for key, value in encoder.items():
        assert torch.equal(value, saved[key]), key
    assert generator.encoder_frozen and generator.encoder_record["sha256"] == weights.sha256


def test_safetensors_file_loads(tmp_path: Path, vgg19_state: dict[str, torch.Tensor]) -> None:
    used = {k: v for k, v in vgg19_state.items() if v.is_contiguous()}  # safetensors stores no views
    path = tmp_path / "vgg19.safetensors"
    save_file(used, str(path))
    weights = load_encoder_weights(str(path))
    assert weights.state is not None
    assert torch.equal(weights.state["features.0.weight"], vgg19_state["features.0.weight"])


def test_checkpoint_with_wrong_shape_or_missing_key_fails_clearly(
    tmp_path: Path, vgg19_state: dict[str, torch.Tensor]
) -> None:
    wrong = dict(vgg19_state, **{"features.10.weight": torch.zeros(256, 64, 3, 3)})
    torch.save(wrong, tmp_path / "wrong.pth")
    with pytest.raises(EncoderWeightsError, match=r"wrong\.pth: features\.10\.weight has shape"):
        load_encoder_weights(str(tmp_path / "wrong.pth"))
    missing = {k: v for k, v in vgg19_state.items() if k != "features.21.weight"}
    torch.save(missing, tmp_path / "missing.pth")
    with pytest.raises(EncoderWeightsError, match=r"missing features\.21\.weight"):
        load_encoder_weights(str(tmp_path / "missing.pth"))


class Payload:
    """Not a tensor: unpickling it would mean running code from the file."""


def test_pickled_objects_are_refused_and_missing_files_named(tmp_path: Path) -> None:
    torch.save({"features.0.weight": Payload()}, tmp_path / "code.pth")
    with pytest.raises(EncoderWeightsError, match="not a weights-only PyTorch checkpoint"):
        load_encoder_weights(str(tmp_path / "code.pth"))
    with pytest.raises(EncoderWeightsError, match="no such file"):
        load_encoder_weights(str(tmp_path / "absent.pth"))


def test_auto_without_cache_warns_once_and_returns_none(
    empty_hub: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="radiomicgan"):
        weights = load_encoder_weights("auto")
    assert weights == NO_WEIGHTS and not weights.pretrained
    assert len(caplog.records) == 1 and "random weights" in caplog.records[0].getMessage()
    generator = build_generator("radiomicgan", ModelConfig(vgg_unet=VGGUNetConfig(encoder_weights="none")))
    assert not generator.encoder_frozen  # a random encoder trains
    assert generator.encoder_record == {"source": "none", "sha256": None}


def test_auto_and_imagenet_take_the_hub_cache(empty_hub: Path, vgg19_checkpoint: Path) -> None:
    cached = imagenet_cache_path()
    assert cached == empty_hub / "checkpoints" / IMAGENET_FILE
    cached.parent.mkdir(parents=True)
    cached.symlink_to(vgg19_checkpoint)
    for spec in ("auto", "imagenet"):
        weights = load_encoder_weights(spec)
        assert weights.source == "imagenet" and weights.pretrained


def test_imagenet_without_cache_or_network_fails_fast(empty_hub: Path) -> None:
    started = time.monotonic()
    with pytest.raises(EncoderWeightsError, match=r"not cached and .* cannot be reached"):
        load_encoder_weights("imagenet", url=_closed_port_url(), timeout_s=2.0)
    assert time.monotonic() - started < 3.0
    assert not (empty_hub / "checkpoints" / IMAGENET_FILE).exists()


@pytest.mark.parametrize(
    ("pretrained", "asked", "frozen"),
    [(True, None, True), (False, None, False), (True, False, False), (False, True, True), (True, True, True)],
)
def test_freeze_rule(pretrained: bool, asked: bool | None, frozen: bool) -> None:
    assert resolve_freeze(pretrained, asked) is frozen
