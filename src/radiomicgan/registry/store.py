"""The registry's folder: one subfolder per model name, each written whole or not at all.

    ROOT/NAME/model.safetensors   a copy of the registered model file (`modelfile`)
    ROOT/NAME/model.json          the card's data (`registry.card`), which `list` and `match` read
    ROOT/NAME/MODEL_CARD.md       the same card for people
    ROOT/NAME/.radiomicgan        the ownership marker: an entry is radiomicgan's whole

An entry is built in a hidden temporary folder beside it and renamed into place (`io.atomic.atomic_dir`),
and removed by renaming it away first, so a reader (a running `serve`) sees an entry whole or not at
all. Hidden names are never entries.
"""

from __future__ import annotations

import builtins
import json
import logging
import re
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pydicom

from radiomicgan.config import user_data_dir
from radiomicgan.errors import ConfigError, InputError, OutputError
from radiomicgan.io.atomic import atomic_dir
from radiomicgan.io.convolution_kernel import kernel_text
from radiomicgan.modelfile import read_metadata, resolve_model_path
from radiomicgan.registry.card import (
    ENTRY_FORMAT,
    ENTRY_FORMAT_VERSION,
    card_data,
    card_markdown,
    file_sha256,
)
from radiomicgan.registry.evaluation import evaluation_summary
from radiomicgan.registry.matching import choose, series_keys
from radiomicgan.run_folder import MODEL_FILE, RunFolder

log = logging.getLogger(__name__)

CARD_DATA_FILE = "model.json"
CARD_FILE = "MODEL_CARD.md"
# Letters, digits and -_. only, starting with a letter or digit: a name is a folder name on every
# file system, never hidden, never "..", and safe to show in a shell or a log line.
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


def default_registry_dir() -> Path:
    """Where models are registered unless told otherwise: `config.user_data_dir("models")`.

    `$XDG_DATA_HOME/radiomicgan/models`, or `~/.local/share/radiomicgan/models`.
    """
    return user_data_dir("models")


@dataclass(frozen=True)
class RegisteredModel:
    """A model in the registry, as its card records it.

    Attributes:
        name: the entry's name (its folder's).
        model_path: the model.safetensors stored inside the registry.
        card_path: the Markdown model card beside it.
        source_kernel: the kernel it converts from, as DICOM stores it ("Br40d\\3"; `io.convolution_kernel`).
        target_kernel: the kernel it converts to.
        manufacturer: the scanners' Manufacturer it was trained on; "" when unknown (matches any).
        method: the method that trained it ("radiomicgan", a baseline's name).
    """

    name: str
    model_path: Path
    card_path: Path
    source_kernel: str
    target_kernel: str
    manufacturer: str
    method: str


class ModelRegistry:
    """A folder of registered models with their cards: add, list, show, remove, and match a series.

    Args:
        root: the registry folder (need not exist until a model is added); None: `default_registry_dir()`.
    """

    def __init__(self, root: str | Path | None = None) -> None:
        self.root = Path(root) if root is not None else default_registry_dir()

    def list(self) -> builtins.list[RegisteredModel]:  # `list` is this method in the class body
        """Every registered model, by name. A folder that is not a whole entry is skipped with a warning.

        Raises:
            InputError: the registry path exists and is not a folder.
        """
        if not self.root.exists():
            return []
        if not self.root.is_dir():
            raise InputError(self.root, "model registry is not a folder")
        found = []
        for folder in sorted(self.root.iterdir()):
            if folder.name.startswith(".") or not folder.is_dir():
                continue  # a temporary entry being written or removed, the marker
            try:
                found.append(self._read_entry(folder))
            except InputError as exc:
                if folder.exists():  # not removed meanwhile (`remove` renames an entry away first)
                    log.warning("%s: not a registry entry, ignored (%s)", exc.path, exc.reason)
        return found

    def show(self, name: str) -> RegisteredModel:
        """The model registered as `name`.

        Raises:
            ConfigError: `name` is not a valid model name.
            InputError: no model has that name, or its entry is damaged.
        """
        folder = self.root / check_name(name)
        if not folder.is_dir():
            raise InputError(folder, f"no model named {name!r} in the registry (radiomicgan models list)")
        return self._read_entry(folder)

    def card(self, name: str) -> str:
        """The model card (Markdown) of the model registered as `name`.

        Raises:
            ConfigError, InputError: as `show`; or the card cannot be read.
        """
        path = self.show(name).card_path
        try:
            return path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise InputError(path, f"model card is unreadable ({exc})") from exc

    def add(
        self,
        run_dir_or_model: str | Path,
        name: str,
        *,
        overwrite: bool = False,
        manufacturer: str | None = None,
        evaluation: str | Path | None = None,
        candidate: str | None = None,
    ) -> RegisteredModel:
        """Copy a run's model into the registry as `name`, with its card.

        Args:
            run_dir_or_model: a run folder (its config.yaml and history.json go into the card too) or a
                .safetensors model file.
            name: letters, digits and -_. (at most 64, starting with a letter or digit).
            overwrite: replace a model registered under `name` already.
            manufacturer: the scanners' Manufacturer the model is for, overriding the one the model file
                recorded from its training series; "" records none (the model then matches any).
            evaluation: an `evaluate` output folder whose results.json summarizes this model's
                reproducibility (see `registry.evaluation`).
            candidate: the evaluation's candidate harmonized by this model, where the evaluation does
                not link it (no --training-run for it).

        Returns:
            The registered model.

        Raises:
            ConfigError: an invalid name.
            InputError: not a run folder or model file of ours; an evaluation that is not one or does
                not hold this model.
            OutputError: the name is taken (without `overwrite`), or the registry cannot be written.
        """
        check_name(name)
        source = resolve_model_path(run_dir_or_model)
        metadata = read_metadata(source)  # not ours: refused before anything is written
        run = _run_folder_of(Path(run_dir_or_model), source)
        out = self.root / name
        if self.root.exists() and not self.root.is_dir():
            raise OutputError(self.root, "model registry is not a folder")
        if out.exists() and not overwrite:
            raise OutputError(
                out, f"a model named {name!r} is registered already (use --overwrite to replace it)"
            )
        digest = file_sha256(source)
        summary = evaluation_summary(Path(evaluation), digest, candidate) if evaluation is not None else None
        data = card_data(
            name, metadata, digest, run, manufacturer=manufacturer, evaluation=summary, origin=source
        )
        with atomic_dir(out) as temporary:
            shutil.copyfile(source, temporary / MODEL_FILE)
            if file_sha256(temporary / MODEL_FILE) != digest:
                raise OutputError(out, f"{source} changed while it was copied; add it again")
            (temporary / CARD_DATA_FILE).write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
            (temporary / CARD_FILE).write_text(card_markdown(data), encoding="utf-8")
        log.info("registered %s as %s (%s)", source, name, _kernels(data))
        return self._read_entry(out)

    def remove(self, name: str) -> None:
        """Remove the model registered as `name`, whole.

        Raises:
            ConfigError: an invalid name.
            InputError: no model has that name.
            OutputError: the entry cannot be removed.
        """
        entry = self.show(name).model_path.parent
        away = entry.with_name(f".{entry.name}.{uuid.uuid4().hex[:12]}.old")  # hidden: no longer listed
        try:
            entry.rename(away)
            shutil.rmtree(away)
        except OSError as exc:
            raise OutputError(entry, f"cannot remove ({exc.strerror or exc})") from exc
        log.info("removed %s from the registry", name)

    def match(self, header: pydicom.Dataset) -> RegisteredModel | None:
        """The registered model for a series with this header (any of its slices' datasets).

        Matched by ConvolutionKernel (every value, as DICOM stores it) and Manufacturer (case and
        surrounding spaces ignored; a model without one matches any); see `registry.matching.choose`.

        Raises:
            InputError: as `list`.
        """
        return choose(self.list(), *series_keys(header))

    def _read_entry(self, folder: Path) -> RegisteredModel:
        data = _read_card_data(folder / CARD_DATA_FILE)
        model_path = folder / MODEL_FILE
        if not model_path.is_file():
            raise InputError(folder, f"registry entry without its {MODEL_FILE}")
        try:
            return RegisteredModel(
                name=folder.name,
                model_path=model_path,
                card_path=folder / CARD_FILE,
                source_kernel=str(data["source_kernel"]),
                target_kernel=str(data["target_kernel"]),
                manufacturer=str(data["manufacturer"]),
                method=str(data["method"]),
            )
        except KeyError as exc:
            raise InputError(folder / CARD_DATA_FILE, f"registry card without {exc}") from exc


def check_name(name: str) -> str:
    """`name` if it may name a registered model.

    Raises:
        ConfigError: anything but letters, digits and -_. (at most 64, starting with a letter or digit).
    """
    if not _NAME.fullmatch(name):
        raise ConfigError(
            f"models: invalid model name {name!r}: use letters, digits and -_. (at most 64 characters, "
            "starting with a letter or digit)"
        )
    return name


def _run_folder_of(given: Path, model_file: Path) -> RunFolder | None:
    """The run folder a model comes from: the folder given, or the model file's own when it is a run's."""
    folder = given if given.is_dir() else model_file.parent
    run = RunFolder(folder)
    if given.is_dir() or (model_file.name == MODEL_FILE and run.config_path.is_file()):
        return run
    return None


def _read_card_data(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise InputError(path.parent, f"registry entry without its {CARD_DATA_FILE}") from exc
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(path, f"registry card is unreadable ({exc})") from exc
    if not isinstance(data, dict) or data.get("format") != ENTRY_FORMAT:
        raise InputError(path, "not a radiomicgan registry card")
    if data.get("format_version") != ENTRY_FORMAT_VERSION:
        raise InputError(path, f"registry card version {data.get('format_version')} is not supported")
    return data


def _kernels(data: dict[str, Any]) -> str:
    return f"{kernel_text(data['source_kernel']) or '?'} -> {kernel_text(data['target_kernel']) or '?'}"


def format_models(models: builtins.list[RegisteredModel]) -> str:
    """A table of models for people: name, method, source -> target kernel, manufacturer."""
    header = ("NAME", "METHOD", "SOURCE -> TARGET KERNEL", "MANUFACTURER")
    rows = [header] + [
        (
            m.name,
            m.method,
            f"{kernel_text(m.source_kernel) or '?'} -> {kernel_text(m.target_kernel) or '?'}",
            m.manufacturer or "(any)",
        )
        for m in models
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    return "\n".join(
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in rows
    )
