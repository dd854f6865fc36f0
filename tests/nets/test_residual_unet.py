"""The small residual U-Net: identity at the start, local, size rules, cost, and it learns a residual."""

from __future__ import annotations

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from radiomicgan.config import ModelConfig, ResidualUNetConfig, build
from radiomicgan.errors import ConfigError
from radiomicgan.nets import ResidualUNet, build_generator


def _slices(n: int = 2, size: int = 64) -> torch.Tensor:
    return torch.rand(n, 1, size, size, generator=torch.Generator().manual_seed(0))


def test_an_untrained_network_is_the_identity() -> None:
    net = ResidualUNet(ResidualUNetConfig())
    x = _slices()
    assert torch.equal(net(x), x)


def test_built_by_name_from_its_own_section() -> None:
    config = build(ModelConfig, {"residual_unet": {"base_channels": 8, "levels": 2}})
    net = build_generator("residual_unet", config)
    assert isinstance(net, ResidualUNet) and net.size_multiple == 4
    assert net.stem[0][0].out_channels == 8


@pytest.mark.parametrize(
    ("field", "value"), [("base_channels", 0), ("levels", 0), ("levels", 7), ("convs", 0), ("norm", "group")]
)
def test_bad_settings_are_refused_naming_the_section(field: str, value: object) -> None:
    with pytest.raises(ConfigError, match=f"residual_unet: {field}"):
        ResidualUNetConfig(**{field: value})  # type: ignore[arg-type]


def test_sides_not_a_multiple_of_two_to_the_levels_are_refused() -> None:
    net = ResidualUNet(ResidualUNetConfig(levels=3))
    with pytest.raises(ValueError, match="multiples of 8"):
        net(torch.zeros(1, 1, 60, 64))


def _randomize_head(net: ResidualUNet) -> None:
    with torch.no_grad():
        net.head.weight.normal_(0.0, 0.1)


def test_a_pixel_sees_only_its_neighbourhood_so_crops_and_whole_slices_agree() -> None:
    """In eval mode (batch norm's running statistics) the network is a local function: what
    `harmonize` runs on a whole slice is, away from the borders, what it computes on a crop."""
    torch.manual_seed(0)
    net = ResidualUNet(ResidualUNetConfig(base_channels=4, levels=3)).eval()
    _randomize_head(net)
    x = _slices(1, 128)
    x_changed = x.clone()
    x_changed[..., 120:, 120:] = 0.0  # far from the top-left corner
    with torch.no_grad():
        a, b = net(x), net(x_changed)
        assert not torch.equal(a, b)
        assert torch.allclose(a[..., :48, :48], b[..., :48, :48], atol=1e-6)
        # (to rounding: convolutions of another size may sum in another order)
        assert torch.allclose(net(x[..., :64, :64])[..., :32, :32], a[..., :32, :32], atol=1e-6)


def test_cost_per_512_slice_is_a_few_percent_of_the_vgg_unets() -> None:
    def gflop(config: ResidualUNetConfig) -> float:
        with torch.no_grad(), FlopCounterMode(display=False) as counter:
            ResidualUNet(config).eval()(torch.zeros(1, 1, 512, 512))
        return counter.get_total_flops() / 1e9

    default = gflop(ResidualUNetConfig())
    wider, widest = (gflop(ResidualUNetConfig(base_channels=b)) for b in (16, 32))
    assert 6 < default < 9  # the module docstring's 7.5 GFLOP (width 16: 29.8; the VGG-19 U-Net: 429)
    assert 3.5 < wider / default < 4.5 and 3.5 < widest / wider < 4.5  # conv cost ~ width squared


def test_it_learns_a_known_residual() -> None:
    """A fixed 3x3 sharpening is a residual the network can represent: a few Adam steps fit it."""
    torch.manual_seed(0)
    net = ResidualUNet(ResidualUNetConfig(base_channels=8, levels=2))
    kernel = torch.tensor([[0.0, -0.25, 0.0], [-0.25, 2.0, -0.25], [0.0, -0.25, 0.0]]).view(1, 1, 3, 3)
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-3)
    x = _slices(8, 32)
    target = torch.nn.functional.conv2d(x, kernel, padding=1)
    first = torch.mean((net(x) - target) ** 2).item()
    for _ in range(150):
        optimizer.zero_grad()
        loss = torch.mean((net(x) - target) ** 2)
        loss.backward()
        optimizer.step()
    assert loss.item() < 0.2 * first
