"""CycleGAN: its cycle loss falls on a known mapping; pools, decay, checkpoints; unpaired runs end to end."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from methods.runs import Dciodvfy, Unpaired, blurred_texture_domains, harmonize_and_check, tiny_unpaired_yaml
from radiomicgan.cli import main
from radiomicgan.config import (
    BaselinesConfig,
    CycleGANConfig,
    ModelConfig,
    PatchGANConfig,
    ResidualCNNConfig,
    TrainConfig,
)
from radiomicgan.io import read_volume
from radiomicgan.methods import resolve
from radiomicgan.methods.cyclegan import CycleGANParts, ImagePool, build_cyclegan
from radiomicgan.modelfile import load_model, load_prefilter
from radiomicgan.nets import ResidualCNN, build_generator
from radiomicgan.nets.encoder_weights import NO_WEIGHTS

CROP = 32


def _parts(generator: str, steps: int, lr: float = 2e-4, **cyclegan: float) -> CycleGANParts:
    """CycleGAN with tiny networks (4 channels), as a run of `steps` steps would build it."""
    config = resolve(
        TrainConfig(
            source=("a",), target=("b",), unpaired=True, method="cyclegan", crop_px=CROP, batch_size=2,
            epochs=1, steps_per_epoch=steps, lr=lr,
            model=ModelConfig(
                choe=ResidualCNNConfig(channels=4),
                patchgan=PatchGANConfig(base_channels=4),
            ),
            baselines=BaselinesConfig(cyclegan=CycleGANConfig(generator=generator, **cyclegan)),  # type: ignore[arg-type]
        )
    )  # fmt: skip
    torch.manual_seed(0)
    generator_net = build_generator(config.model.generator, config.model, NO_WEIGHTS)
    return build_cyclegan(generator_net, config, torch.device("cpu"))


def test_cycle_loss_falls_on_a_known_mapping() -> None:
    sample = blurred_texture_domains(CROP)
    parts = _parts("choe", steps=40, lr=1e-3, decay_fraction=0.0)
    with torch.no_grad():  # start both generators away from the identity, where the cycle is not closed
        for network in (parts.g, parts.f):
            assert isinstance(network, ResidualCNN)
            network.head.weight.normal_(0.0, 0.05)
    cycle = [parts.train_step(sample)["cycle"] for _ in range(40)]
    assert np.mean(cycle[-5:]) < 0.5 * np.mean(cycle[:3]), cycle


def test_learning_rate_decays_linearly_over_the_last_half() -> None:
    parts = _parts("choe", steps=4)
    source = torch.rand(2, 1, CROP, CROP)
    rates = [parts.train_step(lambda n: (source, source))["lr"] for _ in range(4)]
    assert rates == pytest.approx([2e-4, 2e-4, 2e-4, 1e-4])
    assert int(parts.counter.steps) == 4


def test_image_pool_fills_then_swaps_and_survives_a_checkpoint() -> None:
    torch.manual_seed(0)
    pool = ImagePool(3)
    first = torch.arange(2.0).reshape(2, 1, 1, 1).expand(2, 1, 4, 4)
    assert torch.equal(pool.query(first), first) and int(pool.count) == 2
    returned = pool.query(torch.full((8, 1, 4, 4), 9.0))
    assert int(pool.count) == 3
    assert {float(v) for v in returned[:, 0, 0, 0]} <= {0.0, 1.0, 9.0}  # a stored crop or the new one
    assert (returned != 9.0).any() and (pool.images == 9.0).any()  # some swapped in, some out
    restored = ImagePool(3)  # empty: resized to the checkpoint's pool as it loads
    restored.load_state_dict(pool.state_dict())
    assert torch.equal(restored.images, pool.images) and int(restored.count) == 3


def test_pool_of_size_zero_passes_crops_through() -> None:
    crops = torch.rand(2, 1, 4, 4)
    assert ImagePool(0).query(crops) is crops


def _train(args: list[str]) -> None:
    assert main(["train", *args, "--quiet"]) == 0


@pytest.mark.slow
def test_unpaired_run_trains_resumes_and_harmonizes(
    unpaired: Unpaired, tmp_path: Path, run_dciodvfy: Dciodvfy
) -> None:
    source, target = read_volume(unpaired.source), read_volume(unpaired.target)
    assert source.meta.study_uid != target.meta.study_uid  # two scans: nothing to pair
    config = tiny_unpaired_yaml(tmp_path / "tiny.yaml", cyclegan="{decay_fraction: 0}")
    data = [
        "--unpaired",
        "--config",
        str(config),
        "--source",
        str(unpaired.source),
        "--target",
        str(unpaired.target),
    ]
    whole, resumed = tmp_path / "whole", tmp_path / "resumed"
    _train([*data, "--model", "cyclegan", "--out", str(whole)])
    _train([*data, "--model", "cyclegan", "--out", str(resumed), "--epochs", "1"])
    _train(["--out", str(resumed), "--resume", "--epochs", "2"])

    history = json.loads((whole / "history.json").read_text())
    assert len(history) == 2
    assert set(history[0]["losses"]) == {"g_adv", "cycle", "identity", "g", "d_t", "d_s", "lr"}
    assert "mean_shift_hu" in history[0]["validation"]
    # the checkpoint kept everything (F, the discriminators, the pools, the optimizers, the streams)
    a, b = load_file(whole / "model.safetensors"), load_file(resumed / "model.safetensors")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert history == json.loads((resumed / "history.json").read_text())

    model, metadata = load_model(whole)  # G alone: what harmonize applies
    assert isinstance(model, ResidualCNN) and metadata.method == "cyclegan"
    assert metadata.model["prefilter"] == "spectral" and load_prefilter(whole, metadata) is not None
    assert metadata.extra["unpaired"] is True and metadata.source_kernel == "smooth"
    assert metadata.target_kernel == "sharp"
    assert float(model.head.weight.detach().abs().max()) > 0  # trained away from the identity it started at
    harmonize_and_check(whole, unpaired, tmp_path / "harmonized", run_dciodvfy)
