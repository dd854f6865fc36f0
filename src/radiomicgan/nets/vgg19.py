"""VGG-19's conv groups 1-4 in torchvision's checkpoint layout, without torchvision.

torchvision's `vgg19().features` is one nn.Sequential whose indices name the checkpoint keys:
`features.0` is conv1_1, `features.4` the first max-pool, `features.25` conv4_4, and so on. Building
the same Sequential lets an ImageNet checkpoint load by key. Only groups 1-4 (features.0-26) are
built: the paper keeps the first four groups to standardize texture while keeping shape (Sec. 2.1).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import torch
from torch import nn

from radiomicgan.errors import EncoderWeightsError

# torchvision's VGG configuration "E" up to group 4: conv widths, "M" a 2x2 max-pool. Group 5 and the
# classifier are not built; their checkpoint keys are ignored.
LAYOUT: tuple[int | str, ...] = (64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512)
GROUP_WIDTHS = (64, 128, 256, 512)
IMAGENET_MEAN = (0.485, 0.456, 0.406)  # the statistics the ImageNet weights were trained with
IMAGENET_STD = (0.229, 0.224, 0.225)


def _layers() -> list[nn.Module]:
    layers: list[nn.Module] = []
    channels = 3
    for item in LAYOUT:
        if item == "M":
            layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
        else:
            assert isinstance(item, int)
            layers += [nn.Conv2d(channels, item, kernel_size=3, padding=1), nn.ReLU()]
            channels = item
    return layers


class VGG19Features(nn.Module):
    """VGG-19 conv groups 1-4 (torchvision's features.0-26), each conv followed by ReLU.

    Input: an ImageNet-normalized RGB batch [B, 3, H, W]. `forward` returns each group's output
    (after its last ReLU, before the next pool): 64, 128, 256 and 512 channels at 1, 1/2, 1/4 and
    1/8 of the input resolution.
    """

    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(*_layers())
        # A group ends where a pool follows, and at the last layer (group 4's final ReLU, index 26).
        pools = [i for i, m in enumerate(self.features) if isinstance(m, nn.MaxPool2d)]
        self.group_outputs = frozenset([i - 1 for i in pools] + [len(self.features) - 1])
        for m in self.features:
            if isinstance(m, nn.Conv2d):  # torchvision's initialization, for an encoder trained from scratch
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                if m.bias is not None:
                    nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        outputs = []
        for i, layer in enumerate(self.features):
            x = layer(x)
            if i in self.group_outputs:
                outputs.append(x)
        return outputs


def expected_shapes() -> dict[str, tuple[int, ...]]:
    """The checkpoint keys the encoder uses (torchvision names) and their shapes."""
    shapes: dict[str, tuple[int, ...]] = {}
    index, channels = 0, 3
    for item in LAYOUT:
        if isinstance(item, int):
            shapes[f"features.{index}.weight"] = (item, channels, 3, 3)
            shapes[f"features.{index}.bias"] = (item,)
            channels = item
            index += 2  # the conv and its ReLU
        else:
            index += 1  # a pool
    return shapes


def select_encoder_state(state: Mapping[str, object], source: str | Path) -> dict[str, torch.Tensor]:
    """The encoder's tensors from a torchvision VGG-19 checkpoint, checked against the expected shapes.

    Keys the encoder does not use (group 5, the classifier) are ignored.

    Raises:
        EncoderWeightsError: a used key is missing, is not a tensor, or has the wrong shape.
    """
    expected = expected_shapes()
    missing = [k for k in expected if k not in state]
    if missing:
        more = f" and {len(missing) - 3} more" if len(missing) > 3 else ""
        raise EncoderWeightsError(
            source, f"not a torchvision VGG-19 checkpoint: missing {', '.join(missing[:3])}{more}"
        )
    selected: dict[str, torch.Tensor] = {}
    for key, shape in expected.items():
        value = state[key]
        if not isinstance(value, torch.Tensor):
            raise EncoderWeightsError(source, f"{key} is a {type(value).__name__}, not a tensor")
        if tuple(value.shape) != shape:
            raise EncoderWeightsError(
                source, f"{key} has shape {tuple(value.shape)}, VGG-19 needs {shape}: not a VGG-19 checkpoint"
            )
        selected[key] = value.detach().to(dtype=torch.float32, device="cpu").contiguous()
    return selected
