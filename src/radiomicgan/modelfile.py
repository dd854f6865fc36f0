"""Model files are data, not code: generator weights in safetensors, metadata as JSON in its header.

A model file never goes through pickle, so loading one cannot run code. The JSON says what the
weights are (method, architecture, encoder weights and whether they were frozen), how they were
trained (the final window, the kernels) and which format version wrote them. A model with a
prefilter (`model.prefilter`, `radiomicgan.training.prefilter`) keeps the fitted frequency response
beside the generator's weights, under the "prefilter." prefix.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file
from torch import nn

from radiomicgan import __version__
from radiomicgan.config import ModelConfig, build
from radiomicgan.errors import InputError
from radiomicgan.io.atomic import atomic_file
from radiomicgan.nets import build_generator
from radiomicgan.nets.common import Generator
from radiomicgan.nets.encoder_weights import NO_WEIGHTS
from radiomicgan.nets.frequency_filter import FrequencyFilter
from radiomicgan.residual_texture import ResidualTexture
from radiomicgan.run_folder import RunFolder
from radiomicgan.spacing import TrainingGeometry

FORMAT = "radiomicgan-model"
FORMAT_VERSION = 1
METADATA_KEY = "radiomicgan"
MAX_HEADER_BYTES = 100_000_000  # safetensors refuses larger headers too
PICKLE_SUFFIXES = (".pt", ".pth", ".pkl", ".pickle", ".ckpt", ".bin")
PREFILTER_PREFIX = "prefilter."
PREFILTER_KINDS = ("wiener", "spectral")  # `model.prefilter` values whose file holds a FrequencyFilter


@dataclass(frozen=True)
class ModelMetadata:
    """What a model file says about its weights.

    Attributes:
        method: the harmonizer that trained them ("radiomicgan", a baseline's name).
        model: the architecture section (`ModelConfig` as plain data).
        encoder_weights: where the encoder's initial weights came from ({"source", "sha256"}).
        encoder_frozen: whether the VGG layers stayed frozen during training.
        training_window_hu: the window of the last training epoch.
        full_range_hu: the standardization range (paper Sec. 3.1: [-1024, 1000]).
        source_kernel: ConvolutionKernel of the non-standard training series ("" unknown).
        target_kernel: ConvolutionKernel of the standard training series ("" unknown).
        manufacturer: Manufacturer (0008,0070) of the non-standard training series ("" unknown, mixed,
            or a file written before it was recorded); the model registry matches series by it.
        epochs: epochs trained.
        extra: method-specific plain data.
        training_geometry: pixel spacing, slice spacing and field of view of the training scans; None
            in files written before it was recorded (then no spacing check is possible).
        texture: the residual texture harmonize adds (`ResidualTexture.to_plain`); None: none.
    """

    method: str
    model: dict[str, Any]
    encoder_weights: dict[str, Any]
    encoder_frozen: bool
    training_window_hu: tuple[int, int]
    full_range_hu: tuple[int, int] = (-1024, 1000)
    source_kernel: str = ""
    target_kernel: str = ""
    manufacturer: str = ""
    epochs: int = 0
    extra: dict[str, Any] = field(default_factory=dict)
    training_geometry: TrainingGeometry | None = None
    texture: dict[str, Any] | None = None
    format: str = FORMAT
    format_version: int = FORMAT_VERSION
    written_by: str = f"radiomicgan {__version__}"

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str, path: Path) -> ModelMetadata:
        """Parse and check a model file's metadata.

        Raises:
            InputError: not our format, or a version this release cannot read.
        """
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise InputError(path, "not a radiomicgan model file (metadata is not JSON)") from exc
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise InputError(path, "not a radiomicgan model file")
        if data.get("format_version") != FORMAT_VERSION:
            raise InputError(path, f"model format version {data.get('format_version')} is not supported")
        try:
            data["training_window_hu"] = tuple(data["training_window_hu"])
            data["full_range_hu"] = tuple(data["full_range_hu"])
            if data.get("training_geometry") is not None:
                data["training_geometry"] = TrainingGeometry.from_plain(data["training_geometry"])
            return cls(**data)
        except (KeyError, TypeError, ValueError) as exc:
            raise InputError(path, f"model file metadata is incomplete ({exc})") from exc


def save_model(
    path: str | Path, generator: nn.Module, metadata: ModelMetadata, prefilter: nn.Module | None = None
) -> Path:
    """Write generator weights and metadata atomically (`io.atomic.atomic_file`).

    Args:
        path: a run folder (gets model.safetensors) or a file path ending in .safetensors.
        generator: the network.
        metadata: what the file says about it.
        prefilter: the fitted prefilter, for a model whose `model.prefilter` is not "none".

    Returns:
        The model file written.
    """
    path = Path(path)
    target = RunFolder(path).model_path if path.suffix != ".safetensors" else path
    target.parent.mkdir(parents=True, exist_ok=True)
    tensors = {k: v.detach().cpu().contiguous() for k, v in generator.state_dict().items()}
    if prefilter is not None:
        for name, value in prefilter.state_dict().items():
            tensors[PREFILTER_PREFIX + name] = value.detach().cpu().contiguous()
    with atomic_file(target) as temporary:
        save_file(tensors, temporary, metadata={METADATA_KEY: metadata.to_json()})
    return target


def read_metadata(path: str | Path) -> ModelMetadata:
    """A model file's metadata, without loading its weights.

    Raises:
        InputError: missing, pickled, or not one of ours.
    """
    target = resolve_model_path(path)
    try:
        with open(target, "rb") as handle:
            header = _safetensors_header(handle, target)
    except OSError as exc:
        raise InputError(target, f"cannot read model file ({exc.strerror})") from exc
    text = header.get("__metadata__", {}).get(METADATA_KEY)
    if not isinstance(text, str):
        raise InputError(target, "not a radiomicgan model file (no radiomicgan metadata)")
    return ModelMetadata.from_json(text, target)


def load_model(path: str | Path, device: str | torch.device = "cpu") -> tuple[Generator, ModelMetadata]:
    """Rebuild the generator a model file describes and load its weights.

    Args:
        path: a run folder or a .safetensors model file.
        device: where the generator goes.

    Raises:
        InputError: missing, pickled, corrupt, or not one of ours; weights that do not fit.
    """
    target = resolve_model_path(path)
    metadata = read_metadata(target)
    architecture = dict(metadata.model)
    if "vgg_unet" not in architecture:  # flat keys, as release 0.3.0 wrote them (`nest_flat_model_keys`)
        # Files written before `output` existed hold the paper's sigmoid head, whatever today's default is.
        architecture.setdefault("output", "sigmoid")
    config = build(ModelConfig, architecture, {"vgg_unet": {"freeze_encoder": metadata.encoder_frozen}})
    generator = build_generator(config.generator, config, NO_WEIGHTS)
    try:
        state = load_file(target)
    except (SafetensorError, OSError) as exc:
        raise InputError(target, f"model weights are unreadable ({exc})") from exc
    state = {k: v for k, v in state.items() if not k.startswith(PREFILTER_PREFIX)}  # `load_prefilter`'s
    try:
        generator.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise InputError(target, "model weights do not fit the architecture its metadata names") from exc
    generator.to(device).eval()
    return generator, metadata


def load_prefilter(
    path: str | Path, metadata: ModelMetadata, device: str | torch.device = "cpu"
) -> FrequencyFilter | None:
    """The prefilter a model file keeps (`radiomicgan.training.prefilter`); None when its model has none.

    Raises:
        InputError: the metadata names a prefilter the file does not hold.
    """
    if metadata.model.get("prefilter") not in PREFILTER_KINDS:  # older files have no such key: none
        return None
    target = resolve_model_path(path)
    try:
        with safe_open(str(target), framework="pt") as handle:
            keys = [k for k in handle.keys() if k.startswith(PREFILTER_PREFIX)]  # noqa: SIM118 (not iterable)
            state = {k.removeprefix(PREFILTER_PREFIX): handle.get_tensor(k) for k in keys}
    except (SafetensorError, OSError) as exc:
        raise InputError(target, f"model weights are unreadable ({exc})") from exc
    prefilter = FrequencyFilter()
    try:
        prefilter.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise InputError(target, "the metadata names a prefilter that the file does not hold") from exc
    return prefilter.to(device).eval()


def load_texture(path: str | Path, metadata: ModelMetadata) -> ResidualTexture | None:
    """The residual texture a model file's metadata keeps; None when its model has none.

    Raises:
        InputError: the texture record is not one this release reads.
    """
    if metadata.texture is None:
        return None
    try:
        return ResidualTexture.from_plain(metadata.texture)
    except (KeyError, TypeError, ValueError) as exc:
        raise InputError(Path(path), f"its residual texture is unreadable ({exc})") from exc


def resolve_model_path(path: str | Path) -> Path:
    """The model file behind a run folder or a file path, refusing pickles before opening them.

    Raises:
        InputError: missing, a pickle-based checkpoint, or not a .safetensors file.
    """
    path = Path(path)
    if not path.exists():
        raise InputError(path, "does not exist")
    target = RunFolder(path).model_path if path.is_dir() else path
    if path.is_dir() and not target.is_file():
        raise InputError(path, f"no {target.name} in this folder (not a radiomicgan run folder)")
    if target.suffix.lower() in PICKLE_SUFFIXES:
        raise InputError(target, "pickle-based checkpoints are refused: loading them can run code")
    if target.suffix.lower() != ".safetensors":
        raise InputError(
            target, "not a radiomicgan model file (expected a .safetensors file or a run folder)"
        )
    return target


def _safetensors_header(handle: BinaryIO, path: Path) -> dict[str, Any]:
    prefix = handle.read(8)
    size = int.from_bytes(prefix, "little") if len(prefix) == 8 else 0
    if not 0 < size <= MAX_HEADER_BYTES:
        raise InputError(path, "not a radiomicgan model file (no safetensors header)")
    raw = handle.read(size)
    try:
        header = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InputError(path, "not a radiomicgan model file (corrupt header)") from exc
    if len(raw) != size or not isinstance(header, dict):
        raise InputError(path, "not a radiomicgan model file (corrupt header)")
    return header


def model_digest(path: str | Path) -> str:
    """The model id that names a model file's derived series: the first 16 hex digits of its SHA-256.

    Raises:
        InputError: as `resolve_model_path`.
    """
    return hashlib.sha256(resolve_model_path(path).read_bytes()).hexdigest()[:16]
