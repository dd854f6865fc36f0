"""The model registry: trained models kept under names, with their cards, matched to series by header.

`ModelRegistry(root).add(RUN_DIR, "name")` copies a run's model into the registry folder with a
model card (`card`); `match(header)` picks, for a series, the model whose source kernel and
manufacturer match its ConvolutionKernel and Manufacturer (`matching`). `radiomicgan models` and
`harmonize --model auto` are its command line; `serve --model auto` uses it too.

The registry sits beside `modelfile`: it reads model files and run folders, and knows nothing of
inference or training.
"""

from radiomicgan.registry.matching import choose, matches, same_manufacturer, series_keys
from radiomicgan.registry.store import (
    CARD_DATA_FILE,
    CARD_FILE,
    ModelRegistry,
    RegisteredModel,
    check_name,
    default_registry_dir,
    format_models,
)

__all__ = [
    "CARD_DATA_FILE",
    "CARD_FILE",
    "ModelRegistry",
    "RegisteredModel",
    "check_name",
    "choose",
    "default_registry_dir",
    "format_models",
    "matches",
    "same_manufacturer",
    "series_keys",
]
