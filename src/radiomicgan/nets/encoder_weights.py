"""Where the generator's VGG-19 encoder weights come from: torch.hub's ImageNet file, a file, or nowhere.

A spec names the source: "imagenet" (torchvision's checkpoint through torch.hub: its cache, else a
download), "auto" (the cached ImageNet checkpoint if there is one, else random weights with one warning
line), "none" (random weights), or the path of a .pth or .safetensors file in torchvision's layout.
The returned `EncoderWeights` says where the weights came from, so a model file can record it.
"""

from __future__ import annotations

import hashlib
import logging
import pickle
import socket
import threading
import urllib.parse
from dataclasses import dataclass
from pathlib import Path

import torch

from radiomicgan.errors import EncoderWeightsError
from radiomicgan.nets.vgg19 import select_encoder_state

logger = logging.getLogger(__name__)

# torchvision's VGG19_Weights.IMAGENET1K_V1; "dcbb9e9d" is the start of its sha256.
IMAGENET_FILE = "vgg19-dcbb9e9d.pth"
IMAGENET_URL = f"https://download.pytorch.org/models/{IMAGENET_FILE}"


@dataclass(frozen=True)
class EncoderWeights:
    """Encoder weights and their provenance.

    Attributes:
        state: torchvision-layout tensors of conv groups 1-4 (`features.N.weight/bias`), float32 on
            the CPU; None for random initialization.
        source: "imagenet", "none", or the path of the file the weights came from.
        sha256: hex digest of the checkpoint file; None without one.
    """

    state: dict[str, torch.Tensor] | None
    source: str
    sha256: str | None = None

    @property
    def pretrained(self) -> bool:
        return self.state is not None

    def record(self) -> dict[str, str | None]:
        """Plain data for a model file."""
        return {"source": self.source, "sha256": self.sha256}


NO_WEIGHTS = EncoderWeights(state=None, source="none")


def resolve_freeze(pretrained: bool, freeze_encoder: bool | None) -> bool:
    """Whether the VGG convs are frozen: as asked, else exactly when they are pretrained.

    Frozen pretrained layers are the paper's design (Sec. 2.1); a frozen random encoder would only
    feed noise features to the skips, so without weights the encoder trains unless told otherwise.
    """
    return pretrained if freeze_encoder is None else freeze_encoder


def imagenet_cache_path() -> Path:
    """Where torch.hub keeps the ImageNet checkpoint: $TORCH_HOME/hub/checkpoints (torch.hub.get_dir())."""
    return Path(torch.hub.get_dir()) / "checkpoints" / IMAGENET_FILE


def load_encoder_weights(spec: str, *, url: str = IMAGENET_URL, timeout_s: float = 5.0) -> EncoderWeights:
    """Load the encoder weights a spec names.

    Args:
        spec: "auto", "imagenet", "none", or a .pth / .safetensors path.
        url: where "imagenet" downloads from when the cache lacks the file (a mirror of torchvision's
            file; the downloaded file's sha256 must start with its name's hash, "dcbb9e9d").
        timeout_s: how long to wait for the download server to answer before giving up.

    Raises:
        EncoderWeightsError: "imagenet" is neither cached nor downloadable; a path is missing, is not a
            weights-only checkpoint, or lacks VGG-19's keys or shapes.
    """
    if spec == "none":
        return NO_WEIGHTS
    cached = imagenet_cache_path()
    if spec == "auto":
        if cached.is_file():
            return _from_file(cached, source="imagenet")
        logger.warning(
            "no VGG-19 ImageNet weights in %s: the encoder starts from random weights and trains", cached
        )
        return NO_WEIGHTS
    if spec == "imagenet":
        if cached.is_file():
            return _from_file(cached, source="imagenet")
        return _download(url, cached, timeout_s)
    path = Path(spec)
    if not path.is_file():
        raise EncoderWeightsError(path, "no such file (encoder weights are auto, imagenet, none or a file)")
    return _from_file(path, source=str(path))


def _download(url: str, cached: Path, timeout_s: float) -> EncoderWeights:
    if not _reachable(url, timeout_s):
        raise EncoderWeightsError(
            cached,
            f"VGG-19 ImageNet weights are not cached and {url} cannot be reached; copy the file there, "
            "or pass a checkpoint path, or none",
        )
    try:
        state = torch.hub.load_state_dict_from_url(
            url,
            model_dir=str(cached.parent),
            map_location="cpu",
            progress=False,
            check_hash=True,
            file_name=IMAGENET_FILE,
            weights_only=True,
        )
    except Exception as exc:  # network, HTTP, hash and unpickling failures all mean "no weights"
        raise EncoderWeightsError(cached, f"downloading {url} failed ({type(exc).__name__}: {exc})") from exc
    return EncoderWeights(select_encoder_state(state, cached), "imagenet", _sha256(cached))


def _reachable(url: str, timeout_s: float) -> bool:
    """Whether the URL's server accepts a connection within timeout_s (file URLs always do).

    The probe runs in a daemon thread so that a stalled name lookup cannot outlast the timeout.
    """
    parts = urllib.parse.urlsplit(url)
    if parts.scheme == "file":
        return True
    if not parts.hostname:
        return False
    address = (parts.hostname, parts.port or (443 if parts.scheme == "https" else 80))
    answered: list[bool] = []

    def probe() -> None:
        try:
            socket.create_connection(address, timeout=timeout_s).close()
            answered.append(True)
        except OSError:
            pass

    thread = threading.Thread(target=probe, daemon=True)
    thread.start()
    thread.join(timeout_s)
    return bool(answered)


def _from_file(path: Path, source: str) -> EncoderWeights:
    if path.suffix == ".safetensors":
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        try:
            state: object = load_file(str(path), device="cpu")
        except (SafetensorError, OSError) as exc:
            raise EncoderWeightsError(path, f"not a readable safetensors file ({exc})") from exc
    else:
        try:
            # weights_only: a checkpoint is data; never run the code a pickle may carry.
            state = torch.load(path, map_location="cpu", weights_only=True)
        except (pickle.UnpicklingError, RuntimeError, OSError, EOFError) as exc:
            raise EncoderWeightsError(
                path, f"not a weights-only PyTorch checkpoint ({type(exc).__name__})"
            ) from exc
    if not isinstance(state, dict):
        raise EncoderWeightsError(path, f"holds a {type(state).__name__}, not a state dict of tensors")
    return EncoderWeights(select_encoder_state(state, path), source, _sha256(path))


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()
