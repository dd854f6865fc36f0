"""Grad-CAM of the discriminator's "synthesized" evidence: where it points, and that D is left untouched."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from radiomicgan.gradcam import gradcam
from radiomicgan.nets.patchgan import PatchGAN, PatchGANConfig


@pytest.fixture(autouse=True)
def _one_thread(one_torch_thread: None) -> None:
    """Every test here runs torch on one thread (`one_torch_thread` in tests/conftest.py)."""


class Square(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * x


class TextureDetector(nn.Module):
    """A discriminator that calls texture synthesized and brightness standard.

    Feature channel 0 is the squared Laplacian of the candidate (texture energy), channel 1 its squared
    brightness, both average-pooled to half resolution as a real discriminator's features are coarser
    than the image. The logit is 1 - texture + 0.1 * brightness per pixel.
    """

    def __init__(self) -> None:
        super().__init__()
        conv = nn.Conv2d(2, 2, 3, padding=1, padding_mode="replicate", bias=False)
        laplacian = torch.tensor([[0.0, 1.0, 0.0], [1.0, -4.0, 1.0], [0.0, 1.0, 0.0]])
        identity = torch.zeros(3, 3)
        identity[1, 1] = 1.0
        with torch.no_grad():
            conv.weight.zero_()
            conv.weight[0, 1] = laplacian  # input channel 1 is the candidate
            conv.weight[1, 1] = identity
        self.features = nn.Sequential(conv, Square(), nn.AvgPool2d(2))
        self.head = nn.Conv2d(2, 1, 1)
        with torch.no_grad():
            self.head.weight[:] = torch.tensor([-1.0, 0.1]).view(1, 2, 1, 1)
            self.head.bias.fill_(1.0)  # type: ignore[union-attr]

    def forward(self, condition: torch.Tensor, candidate: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(torch.cat([condition, candidate], dim=1)))  # type: ignore[no-any-return]


def test_cam_lies_on_the_region_the_discriminator_finds_synthesized() -> None:
    candidate = torch.full((2, 1, 32, 32), 0.5)
    checkerboard = (torch.arange(8).view(-1, 1) + torch.arange(8).view(1, -1)) % 2 - 0.5
    candidate[0, 0, 8:16, 12:20] += checkerboard  # texture in a square of image 0
    candidate[1, 0, 20:28, 4:12] += checkerboard  # and elsewhere in image 1
    squares = [(slice(8, 16), slice(12, 20)), (slice(20, 28), slice(4, 12))]

    model = TextureDetector()
    cams = gradcam(model, model.features, torch.zeros_like(candidate), candidate)
    assert cams.shape == (2, 32, 32) and cams.dtype == np.float32
    for cam, (rows, cols) in zip(cams, squares, strict=True):
        assert float(cam.max()) == pytest.approx(1.0) and float(cam.min()) >= 0.0
        y, x = np.unravel_index(int(cam.argmax()), cam.shape)
        assert rows.start <= y < rows.stop and cols.start <= x < cols.stop
        # The Laplacian reaches one pixel beyond the square and pooling plus bilinear upsampling blur
        # by about two more: all evidence lies within 3 pixels, most of it inside.
        near = np.zeros_like(cam, dtype=bool)
        near[rows.start - 3 : rows.stop + 3, cols.start - 3 : cols.stop + 3] = True
        inside = np.zeros_like(cam, dtype=bool)
        inside[rows, cols] = True
        assert float(cam[~near].max()) == 0.0
        assert float(cam[inside].sum()) > 0.7 * float(cam.sum())


def test_patchgan_is_left_exactly_as_it_was() -> None:
    model = PatchGAN(PatchGANConfig(base_channels=8)).train()
    model.features[0].requires_grad_(False)  # a mixed state must survive too
    flags = [p.requires_grad for p in model.parameters()]
    state = {k: v.clone() for k, v in model.state_dict().items()}  # includes batch-norm running stats
    condition, candidate = torch.rand(2, 1, 48, 64), torch.rand(2, 1, 48, 64)

    with torch.no_grad():  # a caller inside no_grad still gets its CAMs
        cams = gradcam(model, model.cam_layer, condition, candidate)

    assert cams.shape == (2, 48, 64) and float(cams.min()) >= 0.0 and float(cams.max()) <= 1.0
    assert all(float(c.max()) in (0.0, pytest.approx(1.0)) for c in cams)
    assert model.training
    assert [p.requires_grad for p in model.parameters()] == flags
    assert all(p.grad is None for p in model.parameters())
    assert all(torch.equal(v, state[k]) for k, v in model.state_dict().items())
    assert not model.cam_layer._forward_hooks  # the hook is gone


def test_a_layer_outside_the_forward_pass_is_refused() -> None:
    model = PatchGAN(PatchGANConfig(base_channels=8))
    with pytest.raises(ValueError, match="not used"):
        gradcam(model, nn.Conv2d(1, 1, 1), torch.rand(1, 1, 32, 32), torch.rand(1, 1, 32, 32))
    assert model.training
