"""Parallel-beam forward projection and filtered back projection of square slices, on the CPU.

Both directions work on a detector grid `oversampling` times finer than the detector bins. A pixel
centre at (x, y) lands on fine bin round(x cos(theta) U) + round(y sin(theta) U) + centre: the two
rounded terms are small per-angle integer tables, so the index of every (pixel, angle) pair costs
one integer addition, and the position error stays below 1/U bin.

- Forward: each pixel's value is added to its fine bin (`index_add_`), then each angle's fine
  profile is convolved with that angle's footprint (the pixel's projected square, a trapezoid,
  convolved with the detector bin's box) and sampled at the bin centres. Plain pixel-driven splatting
  leaves moire streaks of about 1 % of the object contrast; the footprint removes them (measured:
  RMS error on a smooth Gaussian object falls from 0.9 % to 0.05 %, level with scikit-image).
- Back: each filtered projection is linearly upsampled onto the fine grid and every pixel sums its
  fine bin over all angles in one `embedding_bag` call per chunk of angles, for all kernels at once
  (the index is shared, the values are one column per kernel).

Measured on one core at 512 x 512 (805 angles): forward 0.45 s, back projection of 4 filtered
sinograms 0.6 s; scikit-image's radon + iradon take 0.8 s for one kernel at 256 x 256.
Units: pixel values times pixel length, so line integrals are in units of (value x pixels).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from numpy.typing import NDArray

_SUBSAMPLES = 64  # integration points per fine bin when tabulating the footprints


@dataclass(frozen=True)
class ParallelBeamGeometry:
    """Angles and detector of a parallel-beam scan of a square slice, in pixel units.

    Attributes:
        size_px: the slice is size_px x size_px pixels, centred on the rotation axis.
        angles: projections evenly spaced over 180 degrees.
        detector_bins: odd number of bins of one pixel width, centred; they cover the slice's
            diagonal at every angle, so nothing of the square is truncated (circle=False).
    """

    size_px: int
    angles: int
    detector_bins: int

    @classmethod
    def for_image(cls, size_px: int, angles: int = 0) -> ParallelBeamGeometry:
        """The geometry for a square slice; `angles` 0 means ceil(pi/2 * size_px) (no view aliasing)."""
        if size_px < 2:
            raise ValueError(f"size_px must be >= 2, got {size_px}")
        n_angles = angles or math.ceil(math.pi / 2 * size_px)
        half = math.ceil((size_px - 1) / math.sqrt(2.0)) + 2  # diagonal half-length plus footprint
        return cls(size_px, n_angles, 2 * half + 1)

    @property
    def theta(self) -> NDArray[np.float64]:
        """Projection angles in radians."""
        return np.arange(self.angles, dtype=np.float64) * (np.pi / self.angles)

    @property
    def fft_length(self) -> int:
        """FFT length for filtering: a power of two at least twice the detector (no wrap-around)."""
        return 1 << math.ceil(math.log2(2 * self.detector_bins))


class Projector:
    """Forward projector and FBP back projector for one geometry (build once, reuse per slice).

    Args:
        geometry: the scan geometry.
        oversampling: fine detector bins per bin (U above); 16 keeps position errors < 1/16 pixel.
        chunk: angles processed together; bounds memory to about chunk x size_px^2 x 4 bytes.
    """

    def __init__(self, geometry: ParallelBeamGeometry, *, oversampling: int = 16, chunk: int = 8) -> None:
        if oversampling < 2 or oversampling % 2:
            raise ValueError(f"oversampling must be even and >= 2, got {oversampling}")
        self.geometry = geometry
        self.oversampling = oversampling
        self.chunk = chunk
        n, u, d = geometry.size_px, oversampling, geometry.detector_bins
        self._fine_bins = d * u
        theta = geometry.theta
        coords = np.arange(n, dtype=np.float64) - (n - 1) / 2.0
        rows = (np.arange(geometry.angles) % chunk) * self._fine_bins  # angle's row inside its chunk
        self._x_index = torch.from_numpy(np.rint(np.outer(coords, np.cos(theta)) * u).astype(np.int32))
        y_index = np.rint(np.outer(coords, np.sin(theta)) * u) + (d - 1) // 2 * u + rows
        self._y_index = torch.from_numpy(y_index.astype(np.int32))
        footprint, self._half = _footprints(theta, u)
        self._footprint = torch.from_numpy(footprint).unsqueeze(1)  # [angles, 1, taps]
        self._u = torch.arange(u, dtype=torch.float32) / u

    def _chunks(self) -> range:
        return range(0, self.geometry.angles, self.chunk)

    def _index(self, a0: int, a1: int) -> torch.Tensor:
        """Fine-bin index of every pixel (rows) at angles a0..a1-1 (columns), chunk-local."""
        n = self.geometry.size_px
        return (self._y_index[:, None, a0:a1] + self._x_index[None, :, a0:a1]).reshape(n * n, a1 - a0)

    def forward(self, image: NDArray[np.float32]) -> NDArray[np.float32]:
        """Line integrals of a slice: sinogram [angles, detector_bins], in value x pixel units.

        Args:
            image: [size_px, size_px] array (row = y, column = x).
        """
        g = self.geometry
        if image.shape != (g.size_px, g.size_px):
            raise ValueError(f"image shape {image.shape} does not match the geometry's {g.size_px}")
        values = torch.from_numpy(np.ascontiguousarray(image, dtype=np.float32)).reshape(-1, 1)
        values = values.expand(-1, self.chunk).contiguous()
        sinogram = torch.empty(g.angles, g.detector_bins)
        for a0 in self._chunks():
            a1 = min(g.angles, a0 + self.chunk)
            fine = torch.zeros((a1 - a0) * self._fine_bins)
            fine.index_add_(0, self._index(a0, a1).reshape(-1), values[:, : a1 - a0].reshape(-1))
            fine = F.pad(fine.view(1, a1 - a0, self._fine_bins), (self._half, self._half))
            sampled = F.conv1d(fine, self._footprint[a0:a1], stride=self.oversampling, groups=a1 - a0)
            sinogram[a0:a1] = sampled[0, :, : g.detector_bins]
        return sinogram.numpy()

    def forward_views(self, image: NDArray[np.float32], views: NDArray[np.integer]) -> NDArray[np.float32]:
        """The rows `views` of `forward(image)`: line integrals at some angles only (for iterative
        reconstruction with ordered subsets of the angles).

        Args:
            image: [size_px, size_px] array.
            views: angle indices, each in 0..angles-1.

        Returns:
            [len(views), detector_bins] line integrals, in value x pixel units.
        """
        g = self.geometry
        if image.shape != (g.size_px, g.size_px):
            raise ValueError(f"image shape {image.shape} does not match the geometry's {g.size_px}")
        values = torch.from_numpy(np.ascontiguousarray(image, dtype=np.float32)).reshape(-1)
        return self.project(values, _as_views(views, g.angles)).numpy()

    def adjoint(
        self, sinogram: NDArray[np.float32], views: NDArray[np.integer] | None = None
    ) -> NDArray[np.float32]:
        """The exact transpose of `forward` (A^T, unlike `back`, which interpolates for FBP).

        <forward(x), s> equals <x, adjoint(s)> to float precision, as gradient-based iterative
        reconstruction needs: a mismatched pair does not minimize any objective.

        Args:
            sinogram: [len(views), detector_bins] values on the detector.
            views: the angle index of each row; None means all angles in order.

        Returns:
            [size_px, size_px] image.
        """
        g = self.geometry
        rows = _as_views(np.arange(g.angles) if views is None else views, g.angles)
        if sinogram.shape != (len(rows), g.detector_bins):
            raise ValueError(f"sinogram shape {sinogram.shape} does not match the geometry and views")
        values = torch.from_numpy(np.ascontiguousarray(sinogram, dtype=np.float32))
        return self.transpose(values, rows).reshape(g.size_px, g.size_px).numpy()

    def project(self, image: torch.Tensor, views: torch.Tensor) -> torch.Tensor:
        """`forward_views` on tensors: flat image [size_px^2] -> [len(views), detector_bins]."""
        g = self.geometry
        values = image.reshape(-1, 1).expand(-1, self.chunk).contiguous()
        sinogram = torch.empty(len(views), g.detector_bins)
        for start in range(0, len(views), self.chunk):
            chunk = views[start : start + self.chunk]
            k = len(chunk)
            fine = torch.zeros(k * self._fine_bins)
            fine.index_add_(0, self._view_index(chunk).reshape(-1), values[:, :k].reshape(-1))
            fine = F.pad(fine.view(1, k, self._fine_bins), (self._half, self._half))
            sampled = F.conv1d(fine, self._footprint[chunk], stride=self.oversampling, groups=k)
            sinogram[start : start + k] = sampled[0, :, : g.detector_bins]
        return sinogram

    def transpose(self, sinogram: torch.Tensor, views: torch.Tensor) -> torch.Tensor:
        """The transpose of `project`: [len(views), detector_bins] -> flat image [size_px^2].

        Each step of the forward pass in reverse: the strided footprint convolution becomes a
        transposed convolution onto the fine grid, the padding is cut, and `index_add_` becomes a
        gather that sums each pixel's fine bins over the angles.
        """
        image = torch.zeros(self.geometry.size_px**2)
        for start in range(0, len(views), self.chunk):
            chunk = views[start : start + self.chunk]
            k = len(chunk)
            fine = F.conv_transpose1d(
                sinogram[None, start : start + k],
                self._footprint[chunk],
                stride=self.oversampling,
                output_padding=self.oversampling - 1,  # the forward pass's padded length exactly
                groups=k,
            )[0, :, self._half : self._half + self._fine_bins]
            image += F.embedding_bag(self._view_index(chunk), fine.reshape(-1, 1), mode="sum")[:, 0]
        return image

    def _view_index(self, views: torch.Tensor) -> torch.Tensor:
        """Fine-bin index of every pixel at `views` (at most `chunk` angles, any ones), the i-th
        view's fine bins being row i of a [len(views), fine bins] table."""
        n = self.geometry.size_px
        # _y_index holds each angle's row inside its own chunk of consecutive angles: move it to row i
        rows = (torch.arange(len(views)) - views % self.chunk).to(torch.int32) * self._fine_bins
        y_index = self._y_index[:, views] + rows
        return (y_index[:, None, :] + self._x_index[None, :, views]).reshape(n * n, len(views))

    def back(self, projections: NDArray[np.float32]) -> NDArray[np.float32]:
        """FBP back projection: (pi / angles) x the sum over angles, linear interpolation.

        Args:
            projections: filtered sinograms [k, angles, detector_bins], one per output image.

        Returns:
            Images [k, size_px, size_px].
        """
        g = self.geometry
        if projections.ndim != 3 or projections.shape[1:] != (g.angles, g.detector_bins):
            raise ValueError(f"projections shape {projections.shape} does not match the geometry")
        k = projections.shape[0]
        per_angle = torch.from_numpy(np.ascontiguousarray(projections, dtype=np.float32)).permute(1, 2, 0)
        step = torch.zeros_like(per_angle)  # q[bin + 1] - q[bin], zero past the last bin
        step[:, :-1] = per_angle[:, 1:] - per_angle[:, :-1]
        image = torch.zeros(g.size_px * g.size_px, k)
        for a0 in self._chunks():
            a1 = min(g.angles, a0 + self.chunk)
            table = torch.addcmul(per_angle[a0:a1, :, None, :], step[a0:a1, :, None, :], self._u[:, None])
            image += F.embedding_bag(self._index(a0, a1), table.reshape(-1, k), mode="sum")
        image *= math.pi / g.angles
        return image.T.reshape(k, g.size_px, g.size_px).numpy()


def filter_projections(sinogram: NDArray[np.float32], filters: NDArray[np.float32]) -> NDArray[np.float32]:
    """Convolve every projection with each filter, through zero-padded FFTs.

    Args:
        sinogram: [angles, detector_bins].
        filters: [k, n_fft // 2 + 1] real gains on the rfft grid (see `kernels.discrete_filter`).

    Returns:
        Filtered sinograms [k, angles, detector_bins].
    """
    n_fft = 2 * (filters.shape[-1] - 1)
    bins = sinogram.shape[-1]
    spectrum = np.fft.rfft(sinogram, n=n_fft, axis=-1)
    filtered = np.fft.irfft(spectrum[None] * filters[:, None, :], n=n_fft, axis=-1)[..., :bins]
    return filtered.astype(np.float32)


@functools.lru_cache(maxsize=4)
def get_projector(size_px: int, angles: int = 0) -> Projector:
    """A projector for this slice size, built once per process (setup costs ~50 ms at 512)."""
    return Projector(ParallelBeamGeometry.for_image(size_px, angles))


def _as_views(views: NDArray[np.integer], angles: int) -> torch.Tensor:
    """Angle indices as a tensor, checked to lie in 0..angles-1."""
    rows = torch.from_numpy(np.asarray(views, dtype=np.int64).reshape(-1))
    if len(rows) and (int(rows.min()) < 0 or int(rows.max()) >= angles):
        raise ValueError(f"views must lie in 0..{angles - 1}")
    return rows


def _footprints(theta: NDArray[np.float64], oversampling: int) -> tuple[NDArray[np.float32], int]:
    """Per-angle kernel on the fine grid: the unit pixel's projected trapezoid convolved with the
    one-bin detector box, i.e. how much of a pixel at fine offset m lands in a bin.

    Returns:
        Taps [angles, 2 * half + 1] (fine offsets -half..half) and `half`.
    """
    u, sub = oversampling, _SUBSAMPLES
    c, s = np.abs(np.cos(theta)), np.abs(np.sin(theta))
    short = np.maximum(np.minimum(c, s), 1e-6)[:, None]
    long = np.maximum(c, s)[:, None]
    half = math.ceil((1.0 / math.sqrt(2.0) + 0.5) * u) + 1  # widest footprint, at 45 degrees
    reach = (half + u) * sub  # integrate over offsets +- (half + U) fine bins, midpoint rule
    grid = (np.arange(-reach, reach, dtype=np.float64) + 0.5) / (u * sub)
    trapezoid = np.clip(((short + long) / 2.0 - np.abs(grid)[None, :]) / short, 0.0, 1.0) / long
    cumulative = np.concatenate([np.zeros((len(theta), 1)), np.cumsum(trapezoid, axis=1)], axis=1)
    cumulative /= u * sub  # cumulative[:, j]: integral from offset -reach to j - reach subsamples
    centres = np.arange(-half, half + 1) * sub + reach
    edge = u * sub // 2  # half a detector bin
    kernel = cumulative[:, centres + edge] - cumulative[:, centres - edge]
    return kernel.astype(np.float32), half
