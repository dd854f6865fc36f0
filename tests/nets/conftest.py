"""Shared fixtures of the network tests: one thread (the machine is shared), a VGG-19 checkpoint file."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

# torchvision's vgg19 checkpoint keys: conv indices of features (groups 1-5) and the classifier's linears.
TORCHVISION_CONVS = {
    0: (64, 3), 2: (64, 64),
    5: (128, 64), 7: (128, 128),
    10: (256, 128), 12: (256, 256), 14: (256, 256), 16: (256, 256),
    19: (512, 256), 21: (512, 512), 23: (512, 512), 25: (512, 512),
    28: (512, 512), 30: (512, 512), 32: (512, 512), 34: (512, 512),
}  # fmt: skip
TORCHVISION_LINEARS = {0: (4096, 25088), 3: (4096, 4096), 6: (1000, 4096)}
USED_CONVS = [i for i in TORCHVISION_CONVS if i < 27]  # groups 1-4


@pytest.fixture(autouse=True)
def _one_thread(one_torch_thread: None) -> None:
    """Every test here runs torch on one thread (`one_torch_thread` in tests/conftest.py)."""


@pytest.fixture
def torchvision_convs() -> dict[int, tuple[int, int]]:
    """torchvision's vgg19 conv layers: features index -> (out, in) channels."""
    return dict(TORCHVISION_CONVS)


@pytest.fixture
def vgg19_state() -> dict[str, torch.Tensor]:
    return torchvision_vgg19_state()


def torchvision_vgg19_state(seed: int = 0) -> dict[str, torch.Tensor]:
    """A state dict with every key and shape of torchvision's vgg19: random values for groups 1-4.

    Group 5 and the classifier (unused by the encoder; the classifier alone would be 500 MB) are
    expanded views of one number, so the saved file stays small while keys and shapes are real.
    """
    generator = torch.Generator().manual_seed(seed)
    state: dict[str, torch.Tensor] = {}
    for index, (out_ch, in_ch) in TORCHVISION_CONVS.items():
        if index in USED_CONVS:
            state[f"features.{index}.weight"] = torch.randn(out_ch, in_ch, 3, 3, generator=generator) * 0.05
            state[f"features.{index}.bias"] = torch.randn(out_ch, generator=generator) * 0.05
        else:
            state[f"features.{index}.weight"] = torch.zeros(1).expand(out_ch, in_ch, 3, 3)
            state[f"features.{index}.bias"] = torch.zeros(1).expand(out_ch)
    for index, (out_f, in_f) in TORCHVISION_LINEARS.items():
        state[f"classifier.{index}.weight"] = torch.zeros(1).expand(out_f, in_f)
        state[f"classifier.{index}.bias"] = torch.zeros(1).expand(out_f)
    return state


@pytest.fixture(scope="session")
def vgg19_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A torchvision-layout VGG-19 checkpoint saved with torch.save, as torchvision ships it."""
    path = tmp_path_factory.mktemp("weights") / "vgg19-test.pth"
    torch.save(torchvision_vgg19_state(), path)
    return path
