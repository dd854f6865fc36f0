"""The lookup-table generator: identity when new, linear between knots, clamped to [0, 1]."""

from __future__ import annotations

import torch

from radiomicgan.nets import LookupTable


def test_a_new_table_is_the_identity() -> None:
    x = torch.rand(2, 1, 8, 8)
    torch.testing.assert_close(LookupTable()(x), x)


def test_values_between_knots_are_interpolated_and_the_ends_clamped() -> None:
    table = LookupTable(knots=3)
    table.table.copy_(torch.tensor([0.0, 0.2, 1.0]))
    x = torch.tensor([-0.5, 0.0, 0.25, 0.5, 0.75, 1.0, 1.5]).reshape(1, 1, 1, -1)
    expected = torch.tensor([0.0, 0.0, 0.1, 0.2, 0.6, 1.0, 1.0])
    torch.testing.assert_close(table(x).flatten(), expected)
