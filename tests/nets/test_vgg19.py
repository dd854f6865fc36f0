"""VGG-19 groups 1-4 in torchvision's layout: keys, shapes, group outputs, checkpoint checks."""

from __future__ import annotations

import pytest
import torch

from radiomicgan.errors import EncoderWeightsError
from radiomicgan.nets.vgg19 import VGG19Features, expected_shapes, select_encoder_state


def test_keys_and_shapes_are_torchvision_s_for_groups_1_to_4(
    torchvision_convs: dict[int, tuple[int, int]],
) -> None:
    shapes = {k: tuple(v.shape) for k, v in VGG19Features().state_dict().items()}
    expected = {}
    for index in [i for i in torchvision_convs if i < 27]:  # groups 1-4 end before pool 27
        out_ch, in_ch = torchvision_convs[index]
        expected[f"features.{index}.weight"] = (out_ch, in_ch, 3, 3)
        expected[f"features.{index}.bias"] = (out_ch,)
    assert shapes == expected
    assert expected_shapes() == expected


def test_pools_sit_at_torchvision_s_indices_and_groups_come_out_at_each_resolution() -> None:
    model = VGG19Features()
    assert [i for i, m in enumerate(model.features) if isinstance(m, torch.nn.MaxPool2d)] == [4, 9, 18]
    with torch.no_grad():
        outputs = model(torch.randn(2, 3, 32, 48))
    assert [tuple(o.shape) for o in outputs] == [
        (2, 64, 32, 48),
        (2, 128, 16, 24),
        (2, 256, 8, 12),
        (2, 512, 4, 6),
    ]
    assert all(bool((o >= 0).all()) for o in outputs)  # each group ends with its ReLU


def test_full_checkpoint_selects_used_keys_and_ignores_group_5_and_classifier(
    vgg19_state: dict[str, torch.Tensor],
) -> None:
    state = vgg19_state
    selected = select_encoder_state(state, "test.pth")
    assert set(selected) == set(expected_shapes())
    model = VGG19Features()
    model.load_state_dict(selected, strict=True)
    assert torch.equal(model.features[25].weight, state["features.25.weight"])


def test_missing_key_and_wrong_shape_fail_naming_the_key(vgg19_state: dict[str, torch.Tensor]) -> None:
    state = dict(vgg19_state)
    del state["features.16.bias"]
    with pytest.raises(EncoderWeightsError, match=r"missing features\.16\.bias"):
        select_encoder_state(state, "test.pth")
    state = dict(vgg19_state)
    state["features.5.weight"] = torch.zeros(128, 32, 3, 3)
    with pytest.raises(EncoderWeightsError, match=r"features\.5\.weight has shape \(128, 32, 3, 3\)"):
        select_encoder_state(state, "test.pth")
