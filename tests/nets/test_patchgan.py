"""The PatchGAN discriminator: logit map size, receptive field, conditioning, the Grad-CAM layer."""

from __future__ import annotations

import pytest
import torch

from radiomicgan.config import PatchGANConfig
from radiomicgan.nets.patchgan import PatchGAN


@pytest.mark.parametrize(("size", "patches"), [(32, 2), (64, 6)])
def test_logit_map_shape(size: int, patches: int) -> None:
    model = PatchGAN(PatchGANConfig())
    with torch.no_grad():
        logits = model(torch.rand(2, 1, size, size), torch.rand(2, 1, size, size))
    assert logits.shape == (2, 1, patches, patches)


def test_each_logit_sees_a_70_pixel_patch_of_both_condition_and_candidate() -> None:
    model = PatchGAN(PatchGANConfig(base_channels=8)).eval()  # eval: no batch statistics couple pixels
    condition = torch.rand(1, 1, 96, 96, requires_grad=True)
    candidate = torch.rand(1, 1, 96, 96, requires_grad=True)
    logits = model(condition, candidate)
    logits[0, 0, 4, 4].backward()
    for image in (condition, candidate):
        assert image.grad is not None
        rows = torch.nonzero(image.grad[0, 0].abs().sum(dim=1)).flatten()
        cols = torch.nonzero(image.grad[0, 0].abs().sum(dim=0)).flatten()
        assert int(rows.max() - rows.min()) + 1 == 70
        assert int(cols.max() - cols.min()) + 1 == 70


def test_cam_layer_is_the_last_feature_map() -> None:
    model = PatchGAN(PatchGANConfig(base_channels=8))
    outputs: list[torch.Tensor] = []
    model.cam_layer.register_forward_hook(lambda module, args, output: outputs.append(output))
    with torch.no_grad():
        model(torch.rand(2, 1, 32, 32), torch.rand(2, 1, 32, 32))
    assert outputs[0].shape == (2, 64, 3, 3)  # 8 * 8 channels, one stride-1 layer before the head
