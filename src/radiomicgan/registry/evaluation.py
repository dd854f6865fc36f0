"""The evaluation summary a model card keeps: reproducible features per HU range, per candidate.

An evaluation does not live in a run folder: `radiomicgan evaluate --out REPORT` writes its own
folder. What links it to a model is the model id (`modelfile.model_digest`, the SHA-256's first 16
hex digits): results.json records it for each candidate given a `--training-run`
("training_runs" -> provenance -> model_id), and each candidate's derived series name it in their
DerivationDescription ("training_runs" -> derived_series). A candidate found either way is this
model's; where neither is recorded, `candidate` names it.

Only the summary is copied (results.json's "candidates" part, the HU ranges, the feature count and
the protocol's CCC threshold): results.json holds no patient identifier, and neither does this.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from radiomicgan.errors import InputError

RESULTS_FILE = "results.json"
_MODEL_ID = re.compile(r"model ([0-9a-f]+)\)")  # how `io.derivation.Derivation` names its model


def evaluation_summary(report: Path, sha256: str, candidate: str | None = None) -> dict[str, Any]:
    """The summary of the evaluation in `report` for the model whose file has this SHA-256.

    Args:
        report: an `evaluate` output folder (or its results.json).
        sha256: the model file's SHA-256, hex.
        candidate: the candidate harmonized by this model; None finds it by the model id.

    Returns:
        {"candidate", "candidates": {name: {"reproducible", "psnr", "ssim"}}, "hu_ranges", "features",
        "features_counted", "ccc_threshold", "scans", "version", "warnings"}.

    Raises:
        InputError: no results.json, not an evaluation's, a candidate it does not hold, or (without
            `candidate`) no candidate or several harmonized by this model.
    """
    path = report / RESULTS_FILE if report.is_dir() else report
    results = _read_results(path)
    names = list(results["candidates"])
    if candidate is None:
        candidate = _candidate_of(path, results, sha256[:16])
    elif candidate not in names:
        raise InputError(
            path, f"no candidate {candidate!r} in this evaluation (candidates: {', '.join(names)})"
        )
    protocol = results.get("protocol") or {}
    return {
        "candidate": candidate,
        "candidates": {
            name: {key: row.get(key) for key in ("reproducible", "psnr", "ssim")}
            for name, row in results["candidates"].items()
        },
        "hu_ranges": results["hu_ranges"],
        "features": results["features"],
        "features_counted": results.get("features_counted", results["features"]),
        "ccc_threshold": protocol.get("ccc_threshold"),
        "scans": len(results.get("scans") or []) or None,
        "version": results.get("radiomicgan_version", "unknown"),
        "warnings": list(results.get("warnings") or []),
    }


def _read_results(path: Path) -> dict[str, Any]:
    try:
        results = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise InputError(path, "not found: not an evaluation folder (radiomicgan evaluate --out)") from exc
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(path, f"unreadable evaluation results ({exc})") from exc
    required = ("features", "hu_ranges", "candidates")
    if not isinstance(results, dict) or any(key not in results for key in required):
        raise InputError(path, "not an evaluation's results.json (no features, hu_ranges and candidates)")
    if not isinstance(results["candidates"], dict) or not results["candidates"]:
        raise InputError(path, "the evaluation holds no candidate")
    return results


def _candidate_of(path: Path, results: dict[str, Any], model_id: str) -> str:
    """The one candidate the evaluation records as harmonized by the model `model_id`."""
    runs = results.get("training_runs") or {}
    found: list[str] = sorted(
        str(name) for name, run in runs.items() if name in results["candidates"] and _names(run, model_id)
    )
    if len(found) == 1:
        return found[0]
    if not found:
        raise InputError(
            path,
            f"no candidate of this evaluation is recorded as harmonized by model {model_id} "
            "(give the candidate's name with --candidate)",
        )
    raise InputError(path, f"several candidates were harmonized by model {model_id} ({', '.join(found)}): "
                     "choose one with --candidate")  # fmt: skip


def _names(run: Any, model_id: str) -> bool:
    """Whether a candidate's "training_runs" record names `model_id`, as its run or its series' model."""
    if not isinstance(run, dict):
        return False
    provenance = run.get("provenance") or {}
    if provenance.get("model_id") == model_id:
        return True
    derived = [_MODEL_ID.search(str(text)) for text in run.get("derived_series") or []]
    return any(found is not None and found.group(1) == model_id for found in derived)
