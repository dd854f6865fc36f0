"""RadiomicGAN's generator: shapes, output range, where gradients go, what an optimizer step changes."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from radiomicgan.config import VGGUNetConfig
from radiomicgan.errors import ConfigError
from radiomicgan.nets.encoder_weights import NO_WEIGHTS, EncoderWeights
from radiomicgan.nets.vgg19 import VGG19Features
from radiomicgan.nets.vgg_unet import VGGUNet

# Small skip convs keep the tests quick; the width rule is the same at any ratio.
SMALL = VGGUNetConfig(skip_width=0.25, output="sigmoid")  # every parameter gets a gradient at once


def _pretrained() -> EncoderWeights:
    return EncoderWeights(state=VGG19Features().state_dict(), source="test")


def _step(model: VGGUNet) -> dict[str, torch.Tensor]:
    """One Adam step on an L1 loss over all parameters; returns the parameters before it."""
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3, betas=(0.5, 0.999))
    x, target = torch.rand(2, 1, 32, 32), torch.rand(2, 1, 32, 32)
    F.l1_loss(model(x), target).backward()
    optimizer.step()
    return before


@pytest.mark.parametrize(("height", "width"), [(32, 32), (48, 64)])
@pytest.mark.parametrize("upsample", ["transpose", "bilinear"])
def test_output_has_input_shape_and_lies_in_unit_range(height: int, width: int, upsample: str) -> None:
    model = VGGUNet(VGGUNetConfig(skip_width=0.25, upsample=upsample, output="sigmoid"))
    with torch.no_grad():
        y = model(torch.rand(2, 1, height, width))
    assert y.shape == (2, 1, height, width)
    assert float(y.min()) >= 0.0 and float(y.max()) <= 1.0


def test_sizes_not_multiple_of_8_and_wrong_channels_are_refused() -> None:
    model = VGGUNet(SMALL)
    with pytest.raises(ValueError, match="multiples of 8"):
        model(torch.rand(1, 1, 36, 32))
    with pytest.raises(ValueError, match=r"\[B, 1, H, W\]"):
        model(torch.rand(1, 3, 32, 32))


def test_pretrained_encoder_is_frozen_and_unchanged_by_a_step_while_the_rest_trains() -> None:
    model = VGGUNet(SMALL, _pretrained())
    assert model.encoder_frozen and model.encoder_record["source"] == "test"
    assert not any(p.requires_grad for p in model.encoder.parameters())
    before = _step(model)
    for name, p in model.named_parameters():
        changed = not torch.equal(p, before[name])
        if name.startswith("encoder."):
            assert p.grad is None and not changed, name
        elif name.endswith("weight") and p.dim() > 1:  # every trainable conv (skips, decoder, head) moved
            assert p.grad is not None and float(p.grad.abs().sum()) > 0 and changed, name


def test_random_encoder_trains_unless_frozen_explicitly() -> None:
    model = VGGUNet(SMALL, NO_WEIGHTS)
    assert not model.encoder_frozen
    before = _step(model)
    assert not torch.equal(model.encoder.features[0].weight, before["encoder.features.0.weight"])
    assert not torch.equal(model.encoder.features[25].weight, before["encoder.features.25.weight"])

    frozen = VGGUNet(VGGUNetConfig(skip_width=0.25, freeze_encoder=True), NO_WEIGHTS)
    assert frozen.encoder_frozen
    before = _step(frozen)
    assert torch.equal(frozen.encoder.features[0].weight, before["encoder.features.0.weight"])

    unfrozen = VGGUNet(VGGUNetConfig(skip_width=0.25, freeze_encoder=False), _pretrained())
    assert not unfrozen.encoder_frozen
    assert all(p.requires_grad for p in unfrozen.encoder.parameters())


def test_skip_width_follows_the_vgg_group_widths() -> None:
    model = VGGUNet(VGGUNetConfig(skip_width=0.5))
    assert [s[0].out_channels for s in model.skips] == [32, 64, 128, 256]  # type: ignore[index]
    full = VGGUNet(VGGUNetConfig())
    assert [s[0].out_channels for s in full.skips] == [64, 128, 256, 512]  # type: ignore[index]


def test_imagenet_normalization_happens_inside_and_is_not_saved() -> None:
    model = VGGUNet(SMALL)
    assert "mean" not in model.state_dict() and "std" not in model.state_dict()
    seen: list[torch.Tensor] = []
    model.encoder.register_forward_pre_hook(lambda module, args: seen.append(args[0]))
    with torch.no_grad():
        model(torch.full((1, 1, 32, 32), 0.5))
    expected = (0.5 - torch.tensor([0.485, 0.456, 0.406])) / torch.tensor([0.229, 0.224, 0.225])
    assert torch.allclose(seen[0][0, :, 0, 0], expected)


def test_residual_output_starts_as_the_identity_and_then_learns() -> None:
    model = VGGUNet(VGGUNetConfig(skip_width=0.25, output="residual"))
    x = torch.rand(2, 1, 32, 32)
    with torch.no_grad():
        assert torch.equal(model(x), x)
    before = _step(model)
    moved = [n for n, p in model.named_parameters() if not torch.equal(before[n], p.detach())]
    assert "head.weight" in moved
    with torch.no_grad():
        assert not torch.equal(model(x), x)


def test_unknown_output_is_refused() -> None:
    with pytest.raises(ConfigError, match="output must be sigmoid or residual"):
        VGGUNet(VGGUNetConfig(skip_width=0.25, output="tanh"))
