"""Checkpoints: a save/load round trip restores networks, optimizers and random streams exactly."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file

from radiomicgan.config import ModelConfig, PatchGANConfig, UNetConfig
from radiomicgan.errors import InputError
from radiomicgan.nets import build_discriminator, build_generator
from radiomicgan.run_folder import CHECKPOINT_FILE
from radiomicgan.training.state import (
    Progress,
    load_checkpoint,
    numpy_rng_from_state,
    save_checkpoint,
)
from radiomicgan.training.steps import GanParts, adam, gan_step
from training.pairs import TINY_MODEL


def _parts(seed: int, config: ModelConfig = TINY_MODEL) -> GanParts:
    torch.manual_seed(seed)
    generator = build_generator(config.generator, config)
    discriminator = build_discriminator("patchgan", config)
    return GanParts(generator, discriminator, adam(generator, 1e-3, 0.5), adam(discriminator, 1e-3, 0.5))


def _step(parts: GanParts) -> None:
    source = torch.rand(2, 1, 32, 32)  # draws from the torch stream, so a restored stream shows
    gan_step(parts, source, torch.rand(2, 1, 32, 32), 100.0)


def _assert_same_state(a: GanParts, b: GanParts) -> None:
    for net in ("generator", "discriminator"):
        sa, sb = getattr(a, net).state_dict(), getattr(b, net).state_dict()
        assert sa.keys() == sb.keys()
        for key in sa:
            assert torch.equal(sa[key], sb[key]), f"{net}.{key}"
    for opt in ("opt_g", "opt_d"):
        oa, ob = getattr(a, opt).state_dict(), getattr(b, opt).state_dict()
        assert oa["param_groups"] == ob["param_groups"]
        assert oa["state"].keys() == ob["state"].keys()
        for index, values in oa["state"].items():
            for field, value in values.items():
                assert torch.equal(value, ob["state"][index][field]), f"{opt}.{index}.{field}"


def test_round_trip_restores_everything_exactly(tmp_path: Path) -> None:
    original = _parts(0)
    for _ in range(2):
        _step(original)
    rng = np.random.default_rng(5)
    rng.integers(100, size=7)
    history = [{"epoch": 1, "window_hu": [-1024, -769], "phase": "fixed", "accuracy": 0.123456789}]
    path = save_checkpoint(tmp_path, original, Progress(2, history, dict(rng.bit_generator.state)))
    assert path == tmp_path / CHECKPOINT_FILE
    assert [p.name for p in tmp_path.iterdir()] == [CHECKPOINT_FILE]  # no temporary file left
    expected_torch = torch.rand(4)
    expected_numpy = rng.random(4)

    restored = _parts(1)  # other initial weights, empty optimizer state
    progress = load_checkpoint(tmp_path, restored)

    assert progress.epochs_done == 2 and progress.history == history
    np.testing.assert_array_equal(numpy_rng_from_state(progress.numpy_rng_state).random(4), expected_numpy)
    assert torch.equal(torch.rand(4), expected_torch)
    _assert_same_state(original, restored)

    # Training on from both gives the same weights: nothing a step depends on was lost.
    torch.manual_seed(9)
    _step(original)
    torch.manual_seed(9)
    _step(restored)
    _assert_same_state(original, restored)


def test_missing_checkpoint_is_nothing_to_resume(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="nothing to resume"):
        load_checkpoint(tmp_path, _parts(0))


def test_checkpoint_of_other_networks_is_refused(tmp_path: Path) -> None:
    save_checkpoint(tmp_path, _parts(0), Progress(1, [], dict(np.random.default_rng(0).bit_generator.state)))
    wider = replace(
        TINY_MODEL, unet=UNetConfig(base_channels=8, downs=3), patchgan=PatchGANConfig(base_channels=8)
    )
    with pytest.raises(InputError, match="does not fit"):
        load_checkpoint(tmp_path, _parts(0, wider))


def test_the_other_ranks_streams_round_trip_and_older_checkpoints_have_none(tmp_path: Path) -> None:
    streams = [dict(np.random.default_rng(seed).bit_generator.state) for seed in (0, 1, 2)]
    save_checkpoint(tmp_path, _parts(0), Progress(1, [], streams[0], streams[1:]))
    progress = load_checkpoint(tmp_path, _parts(0))
    assert progress.numpy_rng_state == streams[0] and progress.rank_rng_states == streams[1:]

    # a checkpoint written before data-parallel training: no "rank_rng_states" in its progress
    path = tmp_path / CHECKPOINT_FILE
    with safe_open(str(path), framework="pt") as handle:
        meta = json.loads(handle.metadata()["training_state"])
    del meta["progress"]["rank_rng_states"]
    save_file(load_file(path), path, metadata={"training_state": json.dumps(meta)})
    assert load_checkpoint(tmp_path, _parts(0)).rank_rng_states == []
