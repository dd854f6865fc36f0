"""Which registered model harmonizes a series: by its kernel, then by its scanner's manufacturer.

- Kernel: the series' ConvolutionKernel must be the model's source kernel, every value, as DICOM
  stores it (`io.convolution_kernel.same_kernel`): "Br40d\\3" is not "Br40d\\2", since the iterative
  strength changes noise and texture as much as a kernel does. A series or model without a kernel
  matches nothing: there is nothing to choose a conversion by.
- Manufacturer: compared ignoring case and surrounding spaces ("SIEMENS " is "Siemens"). A model that
  records none was trained without knowing it (or across vendors) and matches any; a model that
  records one does not match a series that records none, since a kernel name means different
  filters on different vendors' scanners.
- Several matches: a model for the series' manufacturer beats one for any, then names decide in
  alphabetical order, and the choice is logged.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING

from pydicom.dataset import Dataset

from radiomicgan.io.convolution_kernel import kernel_of, kernel_text, kernel_values, same_kernel

if TYPE_CHECKING:
    from radiomicgan.registry.store import RegisteredModel

log = logging.getLogger(__name__)


def series_keys(header: Dataset) -> tuple[str, str]:
    """What a series is matched by: its ConvolutionKernel (stored form) and Manufacturer ("" if absent)."""
    return kernel_of(header), str(header.get("Manufacturer", "") or "").strip()


def same_manufacturer(a: str, b: str) -> bool:
    """Whether two Manufacturer values name the same vendor (case and surrounding spaces ignored)."""
    return a.strip().casefold() == b.strip().casefold()


def matches(model: RegisteredModel, kernel: str, manufacturer: str) -> bool:
    """Whether `model` converts series of this kernel (stored form) and manufacturer; see the module."""
    if not (kernel_values(kernel) and kernel_values(model.source_kernel)):
        return False
    if not same_kernel(model.source_kernel, kernel):
        return False
    return not model.manufacturer.strip() or same_manufacturer(model.manufacturer, manufacturer)


def choose(models: Sequence[RegisteredModel], kernel: str, manufacturer: str) -> RegisteredModel | None:
    """The model for a series of `kernel` and `manufacturer`, None when no model matches.

    Args:
        models: the registered models.
        kernel: the series' ConvolutionKernel as stored ("Br40d\\3"; "" when absent).
        manufacturer: the series' Manufacturer ("" when absent).
    """
    found = [model for model in models if matches(model, kernel, manufacturer)]
    if not found:
        return None
    # False sorts first: models that name the manufacturer, then by name
    found.sort(key=lambda model: (not model.manufacturer.strip(), model.name))
    if len(found) > 1:
        log.info(
            "%d registered models match kernel %s (%s); chose %s",
            len(found),
            kernel_text(kernel),
            ", ".join(model.name for model in found),
            found[0].name,
        )
    return found[0]
