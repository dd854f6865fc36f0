"""GANai's alternating improvement: phases switch on their goals, the saved generator is an average."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from methods.runs import Dciodvfy, Pairs, harmonize_and_check, train_and_check
from radiomicgan.config import GanaiConfig
from radiomicgan.methods.ganai import D_PHASE, G_PHASE, GanaiParts
from radiomicgan.nets import PatchGAN, UNet
from radiomicgan.nets.patchgan import PatchGANConfig
from radiomicgan.nets.unet import UNetConfig
from radiomicgan.training.state import Progress, load_checkpoint, save_checkpoint
from radiomicgan.training.steps import adam


def _parts(settings: GanaiConfig) -> GanaiParts:
    torch.manual_seed(0)
    generator = UNet(UNetConfig(base_channels=4, downs=3))
    discriminator = PatchGAN(PatchGANConfig(base_channels=4))
    return GanaiParts(
        generator,
        discriminator,
        adam(generator, 1e-3, 0.5),
        adam(discriminator, 1e-3, 0.5),
        100.0,
        2,
        settings,
    )


def _sample(n: int) -> tuple[torch.Tensor, torch.Tensor]:
    source = torch.rand(n, 1, 32, 32)
    return source, (source + 0.05).clamp(0, 1)


def _weights(module: torch.nn.Module) -> torch.Tensor:
    return torch.cat([p.detach().flatten().clone() for p in module.parameters()])


def test_phases_alternate_and_each_updates_only_its_network() -> None:
    parts = _parts(GanaiConfig(d_goal=0.0, g_goal=0.0))  # every goal is met at once: one step each
    g_before, d_before = _weights(parts.generator), _weights(parts.discriminator)
    assert set(parts.train_step(_sample)) == {"d", "d_accuracy"}  # a D phase
    assert torch.equal(_weights(parts.generator), g_before) and not torch.equal(
        _weights(parts.discriminator), d_before
    )
    assert int(parts.state.phase) == G_PHASE

    d_after = _weights(parts.discriminator)
    assert set(parts.train_step(_sample)) == {"g_adv", "g_l1", "g", "d_fooled"}  # a G phase
    assert torch.equal(_weights(parts.discriminator), d_after) and not torch.equal(
        _weights(parts.generator), g_before
    )
    assert int(parts.state.phase) == D_PHASE and int(parts.state.rounds) == 1
    assert parts.model() is parts.ensemble  # after a round, the average is the model


def test_a_phase_lasts_until_its_goal_or_its_step_budget() -> None:
    parts = _parts(GanaiConfig(d_goal=1.1, max_phase_steps=3))  # an unreachable goal
    for _ in range(2):
        parts.train_step(_sample)
        assert int(parts.state.phase) == D_PHASE
    parts.train_step(_sample)
    assert int(parts.state.phase) == G_PHASE and int(parts.state.phase_steps) == 0


def test_the_ensemble_averages_the_rounds_generators() -> None:
    parts = _parts(GanaiConfig(d_goal=0.0, g_goal=0.0, ensemble_decay=0.5))
    initial = _weights(parts.ensemble)
    parts.train_step(_sample)
    parts.train_step(_sample)  # round 1: decay min(0.5, 1/10) = 0.1
    expected = 0.1 * initial + 0.9 * _weights(parts.generator)
    torch.testing.assert_close(_weights(parts.ensemble), expected)


def test_a_checkpoint_keeps_the_alternation_and_the_ensemble(tmp_path: Path) -> None:
    parts = _parts(GanaiConfig(d_goal=0.0, g_goal=0.0))
    for _ in range(3):  # a round, then the next D phase: phase G, one round done
        parts.train_step(_sample)
    rng_state = dict(np.random.default_rng(0).bit_generator.state)
    save_checkpoint(tmp_path, parts, Progress(1, [], rng_state))
    restored = _parts(GanaiConfig())
    load_checkpoint(tmp_path, restored)
    assert (int(restored.state.phase), int(restored.state.rounds)) == (G_PHASE, 1)
    torch.testing.assert_close(_weights(restored.ensemble), _weights(parts.ensemble))
    torch.testing.assert_close(_weights(restored.generator), _weights(parts.generator))


def test_ganai_trains_and_harmonizes(pairs: Pairs, tmp_path: Path, run_dciodvfy: Dciodvfy) -> None:
    run = tmp_path / "run"
    train_and_check("ganai", pairs, run, steps_per_epoch=4)
    harmonize_and_check(run, pairs, tmp_path / "harmonized", run_dciodvfy)
