"""Choe et al.'s residual CNN: trained with L2 in HU, no discriminator; a fresh one is the identity."""

from __future__ import annotations

from pathlib import Path

import torch
from safetensors.torch import load_file

from methods.runs import Dciodvfy, Pairs, harmonize_and_check, train_and_check
from radiomicgan.methods.choe import ChoeParts
from radiomicgan.modelfile import read_metadata
from radiomicgan.nets.residual_cnn import ResidualCNN, ResidualCNNConfig


def test_a_fresh_network_is_the_identity() -> None:
    x = torch.rand(2, 1, 20, 24)
    torch.testing.assert_close(ResidualCNN(ResidualCNNConfig(channels=4))(x), x)


def test_published_architecture() -> None:
    network = ResidualCNN(ResidualCNNConfig())
    convs = [m for m in network.modules() if isinstance(m, torch.nn.Conv2d)]
    assert len(convs) == 6 and all(c.kernel_size == (3, 3) for c in convs)
    assert [c.out_channels for c in convs] == [64] * 5 + [1]


def test_steps_lower_the_l2_error_on_a_fixed_batch() -> None:
    torch.manual_seed(0)
    source = torch.rand(2, 1, 16, 16)
    target = source + 0.01  # a constant 20 HU shift: one bias away
    network = ResidualCNN(ResidualCNNConfig(channels=4))
    parts = ChoeParts(network, torch.optim.Adam(network.parameters(), lr=1e-3), batch_size=2)
    losses = [parts.train_step(lambda n: (source, target))["g_l2_hu2"] for _ in range(30)]
    assert losses[0] > 400 - 1 and losses[-1] < 0.5 * losses[0]  # (0.01 * 2024 HU)^2 = 410 HU^2 at the start


def test_choe_trains_and_harmonizes(pairs: Pairs, tmp_path: Path, run_dciodvfy: Dciodvfy) -> None:
    run = tmp_path / "run"
    result = train_and_check("choe", pairs, run)
    assert set(result.history[0]["losses"]) == {"g_l2_hu2"}
    assert read_metadata(run).model["generator"] == "choe"
    checkpoint = load_file(run / "checkpoint.safetensors")
    assert not any(key.startswith(("d.", "opt_d.")) for key in checkpoint)  # no discriminator at all
    harmonize_and_check(run, pairs, tmp_path / "harmonized", run_dciodvfy)
