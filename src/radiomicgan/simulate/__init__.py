"""Paired CT kernels without a hospital: scan an object once, reconstruct it with several kernels.

`simulate_to_folder("phantom", "pairs/", SimulationConfig())` writes one DICOM series per kernel;
`simulate_kernels` and `simulate_pair` do the same in memory. docs/kernels.md has the figures.
"""

from radiomicgan.simulate.folder import SimulationResult, simulate_to_folder
from radiomicgan.simulate.kernels import (
    KERNELS,
    KernelPreset,
    Reconstruction,
    frequency_response,
    get_kernel,
    mtf,
    parse_reconstruction,
    plot_kernel_responses,
)
from radiomicgan.simulate.phantom import make_phantom, sample_anatomy
from radiomicgan.simulate.simulator import reconstruct_slice, simulate_kernels, simulate_pair
from radiomicgan.simulate.source import prepare_source

__all__ = [
    "KERNELS",
    "KernelPreset",
    "Reconstruction",
    "SimulationResult",
    "frequency_response",
    "get_kernel",
    "make_phantom",
    "mtf",
    "parse_reconstruction",
    "plot_kernel_responses",
    "prepare_source",
    "reconstruct_slice",
    "sample_anatomy",
    "simulate_kernels",
    "simulate_pair",
    "simulate_to_folder",
]
