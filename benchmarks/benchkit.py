"""What the benchmarks share: the machine in words, GPU synchronization, and printing figures as JSON."""

from __future__ import annotations

import json
import os
import platform
import sys
from pathlib import Path
from typing import Any

import torch


def device_name(device: torch.device) -> str:
    """The GPU's name for a CUDA device; the CPU model and core count otherwise."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"{cpu_model()}, {os.cpu_count()} cores"


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo (the architecture where that file is missing)."""
    cpuinfo = Path("/proc/cpuinfo")
    lines = cpuinfo.read_text().splitlines() if cpuinfo.is_file() else []
    names = [line.split(":", 1)[1].strip() for line in lines if line.startswith("model name")]
    return names[0] if names else platform.processor() or platform.machine()


def synchronize(device: torch.device) -> None:
    """Wait for queued GPU work, so that a timer measures it."""
    if device.type == "cuda":
        torch.cuda.synchronize()


def emit(figures: dict[str, Any], path: Path | None) -> None:
    """Print the figures as JSON, and write them to `path` too when given."""
    text = json.dumps(figures, indent=2)
    print(text)
    if path:
        path.write_text(text + "\n", encoding="utf-8")


def command_line(script: str, argv: list[str] | None) -> str:
    """How this run was started: benchmarks/NAME.py and its arguments, to reproduce the figures."""
    return f"benchmarks/{Path(script).name} " + " ".join(argv if argv is not None else sys.argv[1:])
