"""A registered model's card: what it converts, what it was trained on and how well it did.

The card's data (model.json) is gathered once, when the model is added, from the model file's
metadata (`modelfile.ModelMetadata`), the run folder's config.yaml and history.json when the model
came from one, and an evaluation's results.json when one is given (`registry.evaluation`). The
Markdown card (MODEL_CARD.md) is rendered from that data alone.

Training data are described by what the model file and config record (how many scan pairs, their
kernels, manufacturer and grid), not by their paths: a path to a scan may name the patient.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from radiomicgan import __version__
from radiomicgan.io.convolution_kernel import kernel_text
from radiomicgan.modelfile import ModelMetadata
from radiomicgan.run_folder import RunFolder

ENTRY_FORMAT = "radiomicgan-registry-entry"
ENTRY_FORMAT_VERSION = 1
MODEL_ID_DIGITS = 16  # `modelfile.model_digest`: the id that names derived series
_BUDGET_KEYS = ("steps_per_epoch", "batch_size", "crop_px", "val_fraction", "seed")


def file_sha256(path: Path) -> str:
    """The SHA-256 of a file, hex, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def card_data(
    name: str,
    metadata: ModelMetadata,
    sha256: str,
    run: RunFolder | None,
    *,
    manufacturer: str | None,
    evaluation: dict[str, Any] | None,
    origin: Path,
) -> dict[str, Any]:
    """The card of a model registered as `name` (model.json's content).

    Args:
        name: the registry name.
        metadata: the model file's metadata.
        sha256: the model file's SHA-256 (hex).
        run: the run folder it came from; None for a model file on its own.
        manufacturer: overrides the manufacturer the model file recorded (None keeps it).
        evaluation: `registry.evaluation.evaluation_summary`'s summary, or None.
        origin: the model file registered (recorded as provenance).
    """
    recorded = metadata.manufacturer.strip()
    chosen = recorded if manufacturer is None else manufacturer.strip()
    how = (
        "given when registered" if manufacturer is not None else "training series" if recorded else "unknown"
    )
    config = run.read_config() if run else {}
    history = run.read_history() if run else []
    return {
        "format": ENTRY_FORMAT,
        "format_version": ENTRY_FORMAT_VERSION,
        "name": name,
        "method": metadata.method,
        "source_kernel": metadata.source_kernel,
        "target_kernel": metadata.target_kernel,
        "manufacturer": chosen,
        "manufacturer_from": how,
        "model": {
            "sha256": sha256,
            "model_id": sha256[:MODEL_ID_DIGITS],
            "written_by": metadata.written_by,
            "generator": str(metadata.model.get("generator", metadata.method)),
            "prefilter": str(metadata.model.get("prefilter", "none")),
            "parameters": metadata.extra.get("parameters"),
            "training_window_hu": list(metadata.training_window_hu),
            "full_range_hu": list(metadata.full_range_hu),
        },
        "training": _training(metadata, config, history),
        "evaluation": evaluation,
        "registered": {
            "at": datetime.now(UTC).isoformat(timespec="seconds"),
            "by": f"radiomicgan {__version__}",
            "from": str(origin.resolve()),
        },
    }


def _training(
    metadata: ModelMetadata, config: dict[str, Any], history: list[dict[str, Any]]
) -> dict[str, Any]:
    """What the model was trained on and with what budget."""
    geometry = metadata.training_geometry
    sources = config.get("source")
    last = history[-1] if history else {}
    seconds = [entry.get("seconds") for entry in history]
    return {
        "scan_pairs": len(sources) if isinstance(sources, list) else None,
        "pixel_spacing_mm": list(geometry.pixel_spacing_mm) if geometry else None,
        "slice_spacing_mm": geometry.slice_spacing_mm if geometry else None,
        "field_of_view_mm": list(geometry.field_of_view_mm) if geometry else None,
        "epochs": metadata.epochs,
        "schedule": str(metadata.extra.get("schedule", "")),
        **{key: config.get(key) for key in _BUDGET_KEYS},
        "steps": _steps(metadata.epochs, config.get("steps_per_epoch")),
        # history.json records no time today; a future run that does is summed here
        "wall_seconds": sum(seconds)
        if seconds and all(isinstance(s, int | float) for s in seconds)
        else None,
        "final_losses": metadata.extra.get("final_losses"),
        "validation": last.get("validation"),
    }


def _steps(epochs: int, steps_per_epoch: object) -> int | None:
    return epochs * steps_per_epoch if isinstance(steps_per_epoch, int) else None


def card_markdown(data: dict[str, Any]) -> str:
    """The model card for people, README-style, from `card_data`'s data alone."""
    source = kernel_text(data["source_kernel"]) or "unknown"
    target = kernel_text(data["target_kernel"]) or "unknown"
    model, training = data["model"], data["training"]
    lines = [
        f"# {data['name']}",
        "",
        f"Harmonizes CT series reconstructed with kernel **{source}** to kernel **{target}** "
        f"({data['method']}).",
        "",
        "| | |",
        "| --- | --- |",
        f"| source kernel (as DICOM stores it) | `{data['source_kernel'] or 'unknown'}` |",
        f"| target kernel | `{data['target_kernel'] or 'unknown'}` |",
        f"| manufacturer | {_manufacturer(data)} |",
        f"| method | {data['method']} (generator {model['generator']}, prefilter {model['prefilter']}) |",
        f"| parameters | {_shown(model['parameters'])} |",
        f"| model id | `{model['model_id']}` (named in every derived series' DerivationDescription) |",
        f"| SHA-256 | `{model['sha256']}` |",
        f"| written by | {model['written_by']} |",
        "",
        "## Training data",
        "",
        *_training_lines(training, model),
        "",
        "## Budget",
        "",
        *_budget_lines(training),
        "",
        "## Evaluation",
        "",
        *_evaluation_lines(data.get("evaluation")),
        "",
        "## Provenance",
        "",
        f"Registered {data['registered']['at']} by {data['registered']['by']} from "
        f"`{data['registered']['from']}`.",
        "",
    ]
    return "\n".join(lines)


def _manufacturer(data: dict[str, Any]) -> str:
    if data["manufacturer"]:
        return f"{data['manufacturer']} ({data['manufacturer_from']})"
    unknown = data["manufacturer_from"] == "unknown"
    return "any (none recorded)" if unknown else "any (none, as given when registered)"


def _training_lines(training: dict[str, Any], model: dict[str, Any]) -> list[str]:
    pairs = training["scan_pairs"]
    lines = [f"- scan pairs: {_shown(pairs)} (non-standard and standard kernel of each scan)"]
    if training["pixel_spacing_mm"]:
        rows, columns = training["pixel_spacing_mm"]
        fov = " x ".join(f"{v:.1f}" for v in training["field_of_view_mm"])
        lines.append(
            f"- grid: pixels {rows:.3f} x {columns:.3f} mm, slices {training['slice_spacing_mm']:.2f} mm "
            f"apart, field of view {fov} mm (mean over the scans)"
        )
    else:
        lines.append("- grid: not recorded in the model file")
    lines.append(
        f"- last training window: {model['training_window_hu']} HU (schedule {training['schedule'] or '?'})"
    )
    validation = training["validation"]
    if validation:
        shown = ", ".join(
            f"{key} {value:.4g}" for key, value in validation.items() if isinstance(value, float)
        )
        lines.append(f"- held-out slices after the last epoch: {shown}")
    return lines


def _budget_lines(training: dict[str, Any]) -> list[str]:
    lines = [f"- epochs: {training['epochs']}"]
    if training["steps"] is not None:
        lines.append(
            f"- steps configured: {training['steps']} ({training['steps_per_epoch']} per epoch, batches of "
            f"{_shown(training['batch_size'])} crops of {_shown(training['crop_px'])} px)"
        )
    wall = training["wall_seconds"]
    lines.append(f"- wall time: {f'{wall / 60:.1f} min' if wall is not None else 'not recorded by the run'}")
    if training["final_losses"]:
        shown = ", ".join(f"{key} {value:.4g}" for key, value in training["final_losses"].items())
        lines.append(f"- last epoch's losses (a fitted method's choices): {shown}")
    return lines


def _evaluation_lines(evaluation: dict[str, Any] | None) -> list[str]:
    if not evaluation:
        return [
            "No evaluation was registered with this model (`radiomicgan models add --evaluation REPORT`)."
        ]
    ranges = [f"{lo} to {hi} HU" for lo, hi in evaluation["hu_ranges"]]
    lines = [
        f"Reproducible features (CCC above {_shown(evaluation.get('ccc_threshold'))}) of "
        f"{evaluation['features_counted']} per HU range, against the reference (the target kernel), mean "
        f"over repeats; this model is candidate **{evaluation['candidate']}**.",
        "",
        "| candidate | " + " | ".join(ranges) + " | PSNR | SSIM |",
        "| --- | " + " | ".join("---" for _ in ranges) + " | --- | --- |",
    ]
    for name, row in evaluation["candidates"].items():
        shown = name if name != evaluation["candidate"] else f"**{name}** (this model)"
        counts = [_mean(row["reproducible"].get(f"{lo},{hi}")) for lo, hi in evaluation["hu_ranges"]]
        lines.append(
            f"| {shown} | " + " | ".join(counts) + f" | {_mean(row['psnr'])} | {_mean(row['ssim'])} |"
        )
    lines += [
        "",
        f"From an evaluation of {_shown(evaluation['scans'])} scans (radiomicgan {evaluation['version']}).",
    ]
    if evaluation["warnings"]:
        lines += ["", "Its warnings:", "", *(f"- {sentence}" for sentence in evaluation["warnings"])]
    return lines


def _mean(cell: dict[str, Any] | None) -> str:
    if not cell or cell.get("mean") is None:
        return "n/a"
    mean, sd = cell["mean"], cell.get("sd")
    return f"{mean:.4g}" + (f" ± {sd:.2g}" if sd is not None else "")


def _shown(value: object) -> str:
    return "unknown" if value is None else str(value)
