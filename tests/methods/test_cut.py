"""CUT: PatchNCE picks the matching location and falls on a known mapping; unpaired runs end to end."""

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
    CUTConfig,
    ModelConfig,
    PatchGANConfig,
    ResidualCNNConfig,
    ResidualUNetConfig,
    TrainConfig,
    VGGUNetConfig,
)
from radiomicgan.io import read_volume
from radiomicgan.methods import resolve
from radiomicgan.methods.cut import CUTParts, Projection, build_cut, captured, patch_nce, stage_channels
from radiomicgan.modelfile import load_model
from radiomicgan.nets import ResidualCNN, ResidualUNet, VGGUNet, build_generator
from radiomicgan.nets.encoder_weights import NO_WEIGHTS

CROP = 32
TINY = ModelConfig(
    choe=ResidualCNNConfig(channels=4),
    residual_unet=ResidualUNetConfig(base_channels=4, levels=3),
    patchgan=PatchGANConfig(base_channels=4),
)


def _parts(generator: str, steps: int, lr: float = 2e-4, **cut: object) -> CUTParts:
    """CUT with tiny networks, as a run of `steps` steps would build it."""
    config = resolve(
        TrainConfig(
            source=("a",), target=("b",), unpaired=True, method="cut", crop_px=CROP, batch_size=2,
            epochs=1, steps_per_epoch=steps, lr=lr, model=TINY,
            baselines=BaselinesConfig(cut=CUTConfig(generator=generator, **cut)),  # type: ignore[arg-type]
        )
    )  # fmt: skip
    torch.manual_seed(0)
    generator_net = build_generator(config.model.generator, config.model, NO_WEIGHTS)
    return build_cut(generator_net, config, torch.device("cpu"))


def test_patch_nce_is_low_only_where_each_query_meets_its_own_location() -> None:
    torch.manual_seed(0)
    keys = torch.randn(2, 8, 6, 6)
    projection = Projection([8], 16)
    settings = CUTConfig(patches=36)
    same = patch_nce(keys.clone(), keys, 0, projection, settings).item()
    shuffled = keys.flatten(2)[:, :, torch.randperm(36)].reshape(keys.shape)
    moved = patch_nce(shuffled, keys, 0, projection, settings).item()
    assert same < 0.5 * moved
    assert moved > 0.5 * np.log(36)  # near chance: each query's positive is another location's


def test_patch_nce_never_sends_gradient_into_the_keys() -> None:
    queries, keys = torch.randn(1, 4, 5, 5, requires_grad=True), torch.randn(1, 4, 5, 5, requires_grad=True)
    patch_nce(queries, keys, 0, Projection([4], 8), CUTConfig(patches=10)).backward()  # type: ignore[no-untyped-call]
    assert queries.grad is not None and keys.grad is None  # keys are detached, as Park et al.'s


def test_stages_are_read_by_hooks_that_are_removed_and_leave_batch_norm_alone() -> None:
    generator = ResidualUNet(ResidualUNetConfig(base_channels=4, levels=4))
    norms = [m for m in generator.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    before = [n.running_mean.clone() for n in norms]  # type: ignore[union-attr]
    assert stage_channels(generator) == [4, 8, 16, 32]  # stem, then three downsamplings
    assert generator.training  # restored after the blank pass in eval mode
    assert all(torch.equal(n.running_mean, b) for n, b in zip(norms, before, strict=True))  # type: ignore[arg-type]
    with captured(generator.encoder_stages()) as outputs:
        generator(torch.rand(1, 1, 32, 32))
    assert [tuple(o.shape[-2:]) for o in outputs] == [(32, 32), (16, 16), (8, 8), (4, 4)]
    assert all(not stage._forward_hooks for stage in generator.encoder_stages())


@pytest.mark.parametrize("generator", ["residual_unet", "choe"])
def test_nce_falls_on_a_known_mapping(generator: str) -> None:
    sample = blurred_texture_domains(CROP)
    # the contrastive term alone: the density term would first pull the random head back to the mean
    parts = _parts(generator, steps=40, lr=1e-3, decay_fraction=0.0, density_weight=0.0)
    with torch.no_grad():  # start G away from the identity: its output no longer shows its input
        parts.g.head.weight.normal_(0.0, 0.3)  # type: ignore[operator]
    nce = [parts.train_step(sample)["nce"] for _ in range(40)]
    assert np.mean(nce[-5:]) < 0.7 * np.mean(nce[:3]), nce


def test_without_identity_term_its_loss_is_zero_and_one_kernel_is_drawn() -> None:
    parts = _parts("choe", steps=2, nce_identity=False)
    crops = torch.rand(2, 1, CROP, CROP)
    losses = parts.train_step(lambda n: (crops, crops))
    assert losses["nce_identity"] == 0.0 and losses["nce"] > 0
    assert set(losses) == {"g_adv", "nce", "nce_identity", "density", "level", "g", "d", "lr"}
    assert losses["level"] == 0.0 and int(parts.level.pixels.sum()) == 0  # off by default


def test_level_term_pools_the_target_crops_and_weighs_the_outputs_against_them() -> None:
    parts = _parts("choe", steps=2, level_weight=10.0, level_ranges_hu=((-1100.0, 1100.0),))
    source, target = torch.full((2, 1, CROP, CROP), 0.5), 0.5 + 0.02 * torch.randn(2, 1, CROP, CROP)
    losses = parts.train_step(lambda n: (source, target))
    assert int(parts.level.pixels.sum()) == 2 * CROP * CROP  # this step's target crops were pooled
    assert losses["level"] > 1.0  # a flat output against noisy targets


def test_density_term_sees_a_shift_of_the_local_mean_and_not_texture() -> None:
    parts = _parts("choe", steps=1)
    source = torch.full((1, 1, CROP, CROP), 0.5)
    checkerboard = 0.01 * (1 - 2 * ((torch.arange(CROP)[:, None] + torch.arange(CROP)) % 2)).float()
    textured = source + checkerboard  # a texture of +-20 HU with no local mean
    shifted = source + 0.005  # 10 HU denser
    assert parts._density(textured, source).item() < 1e-4
    assert parts._density(shifted, source).item() == pytest.approx(0.005, rel=1e-3)


def _train(args: list[str]) -> int:
    return main(["train", *args, "--quiet"])


def test_generator_without_encoder_stages_is_refused_in_one_line(
    unpaired: Unpaired, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tiny_unpaired_yaml(tmp_path / "tiny.yaml", cut="{generator: unet}")
    out = tmp_path / "run"
    code = _train(
        ["--unpaired", "--model", "cut", "--config", str(config), "--source", str(unpaired.source),
         "--target", str(unpaired.target), "--out", str(out)]
    )  # fmt: skip
    errors = [line for line in capsys.readouterr().err.splitlines() if "error" in line]
    assert code == 2 and len(errors) == 1 and "'unet' has no encoder stages" in errors[0]
    assert not out.exists()


@pytest.mark.slow
def test_unpaired_cut_run_trains_resumes_and_harmonizes(
    unpaired: Unpaired, tmp_path: Path, run_dciodvfy: Dciodvfy
) -> None:
    source, target = read_volume(unpaired.source), read_volume(unpaired.target)
    assert source.meta.study_uid != target.meta.study_uid  # two scans: nothing to pair
    config = tiny_unpaired_yaml(tmp_path / "tiny.yaml", cut="{decay_fraction: 0.5, level_weight: 10}")
    data = ["--unpaired", "--model", "cut", "--config", str(config)]
    data += ["--source", str(unpaired.source), "--target", str(unpaired.target)]
    whole, resumed = tmp_path / "whole", tmp_path / "resumed"
    assert _train([*data, "--out", str(whole)]) == 0
    assert _train([*data, "--out", str(resumed), "--epochs", "1"]) == 0
    assert _train(["--out", str(resumed), "--resume", "--epochs", "2"]) == 0

    history = json.loads((whole / "history.json").read_text())
    assert len(history) == 2
    assert set(history[0]["losses"]) == {"g_adv", "nce", "nce_identity", "density", "level", "g", "d", "lr"}
    assert history[0]["losses"]["level"] > 0
    assert "mean_shift_hu" in history[0]["validation"]
    # the checkpoint kept the projections, D, the step count, the texture level's reference, the
    # optimizers and the random streams
    a, b = load_file(whole / "model.safetensors"), load_file(resumed / "model.safetensors")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert history == json.loads((resumed / "history.json").read_text())

    model, metadata = load_model(whole)  # G alone: what harmonize applies
    assert isinstance(model, ResidualUNet) and metadata.method == "cut"
    assert metadata.model["prefilter"] == "none" and metadata.extra["unpaired"] is True
    assert float(model.head.weight.detach().abs().max()) > 0  # trained away from the identity it started at
    harmonize_and_check(whole, unpaired, tmp_path / "harmonized", run_dciodvfy)


def test_choe_generator_names_every_other_relu() -> None:
    network = ResidualCNN(ResidualCNNConfig(channels=4, layers=6))
    stages = network.encoder_stages()
    assert len(stages) == 3 and all(isinstance(s, torch.nn.ReLU) for s in stages)


def test_vgg_unet_names_its_four_group_skips() -> None:
    network = VGGUNet(VGGUNetConfig(encoder_weights="none", skip_width=0.25))
    assert stage_channels(network) == [16, 32, 64, 128]  # a quarter of VGG's 64, 128, 256, 512
