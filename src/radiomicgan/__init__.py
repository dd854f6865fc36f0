"""radiomicgan: harmonize CT images across reconstruction kernels (RadiomicGAN).

The public API a notebook uses; each CLI command is a thin layer over one of these functions.
"""

from radiomicgan.errors import InputError, OutputError, RadiomicGANError
from radiomicgan.io.volume import SeriesMeta, Volume

__version__ = "0.3.0"  # the one source: pyproject.toml reads it, the README's status line names it

__all__ = [
    "InputError",
    "OutputError",
    "RadiomicGANError",
    "SeriesMeta",
    "Volume",
    "__version__",
]
