"""radiomicgan: harmonize CT images across reconstruction kernels (RadiomicGAN).

The public API a notebook uses; each CLI command is a thin layer over one of these functions.
"""

from radiomicgan.errors import InputError, OutputError, RadiomicGANError
from radiomicgan.io.volume import SeriesMeta, Volume

__version__ = "0.1.0"

__all__ = [
    "InputError",
    "OutputError",
    "RadiomicGANError",
    "SeriesMeta",
    "Volume",
    "__version__",
]
