"""ONNX Runtime as harmonize's engine on a CPU: the generator exported once per model and cached.

`benchmarks/inference.py` measured ONNX Runtime at 1.2x the slices/s of torch (channels_last fp32)
for the VGG-19 U-Net at 512 px on a 2-core CPU, within 1 HU of eager fp32 (README, Performance).
It is an optional extra (`pip install radiomicgan[onnx]`); without it harmonize runs torch. The
export (about 10 s for the VGG-19 U-Net) is cached under `cache_dir` by the model file's digest
and the library versions, written to a temporary file and renamed (`io.atomic.atomic_file`), so
concurrent workers can share the cache. Height and width are dynamic (multiples of the generator's
size multiple), as is the batch.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import logging
import warnings
from pathlib import Path
from typing import Any

import torch
from torch import nn

from radiomicgan.config import user_cache_dir
from radiomicgan.errors import ConfigError
from radiomicgan.io.atomic import atomic_file

log = logging.getLogger(__name__)

MAX_SIDE_PX = 8192  # the exported graph's bound on slice height and width
MAX_BATCH = 4096
NOT_INSTALLED = "harmonize: --engine onnx needs ONNX Runtime: pip install radiomicgan[onnx]"


def onnx_runtime_available() -> bool:
    """Whether ONNX Runtime and the exporter's packages are installed here.

    Found, not imported: importing onnxscript takes about a second, and only an export needs it
    (harmonize with a cached export does not).
    """
    return all(_installed(name) for name in ("onnxruntime", "onnxscript"))


def _installed(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):  # ValueError: a module set to None in sys.modules
        return False


def default_cache_dir() -> Path:
    """`$XDG_CACHE_HOME/radiomicgan/onnx`, or `~/.cache/radiomicgan/onnx`."""
    return user_cache_dir("onnx")


class OnnxGenerator(nn.Module):
    """A generator run by ONNX Runtime: [B, 1, H, W] float32 in, the same shape out (CPU tensors)."""

    def __init__(self, session: Any, size_multiple: int) -> None:
        super().__init__()
        self.session = session
        self.size_multiple = size_multiple

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        (y,) = self.session.run(["y"], {"x": x.detach().cpu().contiguous().numpy()})
        return torch.from_numpy(y)


def onnx_generator(generator: nn.Module, model_id: str, cache_dir: Path | None = None) -> OnnxGenerator:
    """The generator in ONNX Runtime, exported to the cache on first use.

    Args:
        generator: the torch generator (eval mode); its `size_multiple` constrains H and W.
        model_id: a digest naming the model file (`Harmonizer.model_id`).
        cache_dir: where exported graphs are kept (default `default_cache_dir()`).

    Raises:
        ConfigError: ONNX Runtime is not installed, or the generator cannot be exported.
    """
    if not onnx_runtime_available():
        raise ConfigError(NOT_INSTALLED)
    import onnxruntime as ort

    multiple = int(getattr(generator, "size_multiple", 1))
    path = graph_path(model_id, cache_dir)
    if not path.is_file():
        _export(generator, multiple, path)
    options = ort.SessionOptions()
    options.intra_op_num_threads = torch.get_num_threads()
    options.log_severity_level = 3  # errors only: its warnings are not the user's business
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    return OnnxGenerator(session, multiple)


def graph_path(model_id: str, cache_dir: Path | None = None) -> Path:
    """Where the exported graph of a model is cached (by model and by torch and ONNX Runtime release)."""
    import onnxruntime as ort

    folder = cache_dir or default_cache_dir()
    return folder / f"{model_id}-torch{torch.__version__}-ort{ort.__version__}.onnx"


def _export(generator: nn.Module, multiple: int, path: Path) -> None:
    log.info("exporting the generator to ONNX (once per model): %s", path.name)
    path.parent.mkdir(parents=True, exist_ok=True)  # an unwritable cache is an OSError, not the model's
    dim = torch.export.Dim
    shapes = {
        "x": {
            0: dim("batch", min=1, max=MAX_BATCH),
            2: multiple * dim("rows", min=1, max=MAX_SIDE_PX // multiple),
            3: multiple * dim("columns", min=1, max=MAX_SIDE_PX // multiple),
        }
    }
    example = torch.rand(2, 1, 2 * multiple, 3 * multiple)
    try:
        # atomic: a concurrent worker sees the whole graph or none
        with atomic_file(path) as temporary, _quiet_exporter():
            program = torch.onnx.export(
                generator, (example,), None, input_names=["x"], output_names=["y"], dynamo=True,
                dynamic_shapes=shapes, verbose=False,
            )  # fmt: skip
            if program is None:  # only the legacy exporter returns nothing
                raise RuntimeError("the exporter returned no program")
            program.save(str(temporary))
    except Exception as error:
        # the exporter's messages run to pages (with terminal colours): the error's kind is the line
        raise ConfigError(
            f"harmonize: this model's generator cannot be exported to ONNX ({type(error).__name__}); "
            "use --engine torch"
        ) from error


@contextlib.contextmanager
def _quiet_exporter() -> Any:
    # The exporter prints progress to stdout and warns about optional torchvision ops; harmonize's
    # stdout lists written series, so neither may reach it.
    torch_log = logging.getLogger("torch.onnx")
    level = torch_log.level
    torch_log.setLevel(logging.ERROR)
    try:
        with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        torch_log.setLevel(level)
