"""Where a model runs: the device a name asks for."""

from __future__ import annotations

import torch

from radiomicgan.errors import InputError


def resolve_device(name: str) -> torch.device:
    """ "auto" takes a GPU when there is one; "cuda" without one is an error."""
    if name == "cuda" and not torch.cuda.is_available():
        raise InputError("cuda", "no CUDA device is available on this machine")
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)
