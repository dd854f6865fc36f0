"""Where a model's ONNX Runtime time goes: seconds and share per operator type (issue 21).

Loads the graph `harmonize` runs for a model (exported into the ONNX cache on first use,
`radiomicgan.inference.onnx_engine`) with ONNX Runtime's profiler on, runs a warm-up batch and
`--repeats` timed batches of random 512 x 512 slices, and prints per operator type its kernel
seconds and share, with seconds per slice and GFLOP/s where `--gflop-per-slice` is given
(benchmarks/harmonize_speed.py counts it).

    .venv/bin/python benchmarks/onnx_profile.py RUN_OR_MODEL_FILE \
        [--batch 4] [--repeats 3] [--threads 2] [--gflop-per-slice 29.8] [--json out.json]
"""

from __future__ import annotations

import argparse
import collections
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from radiomicgan.inference import HarmonizeConfig, Harmonizer
from radiomicgan.inference.onnx_engine import graph_path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchkit import command_line, emit


def main(argv: list[str] | None = None) -> int:
    import onnxruntime as ort

    args = _parse(argv)
    harmonizer = Harmonizer.load(args.model, HarmonizeConfig(device="cpu", engine="onnx"))
    graph = graph_path(harmonizer.model_id)  # loading with the ONNX engine exported it there
    options = ort.SessionOptions()
    options.intra_op_num_threads = args.threads
    options.enable_profiling = True
    with tempfile.TemporaryDirectory() as folder:
        options.profile_file_prefix = str(Path(folder) / "profile")
        session = ort.InferenceSession(str(graph), options, providers=["CPUExecutionProvider"])
        slices = np.random.default_rng(0).random((args.batch, 1, args.size, args.size), dtype=np.float32)
        session.run(["y"], {"x": slices})  # warm-up: memory plans, first calls
        start = time.perf_counter()
        for _ in range(args.repeats):
            session.run(["y"], {"x": slices})
        per_slice_s = (time.perf_counter() - start) / (args.repeats * args.batch)
        events = json.loads(Path(session.end_profiling()).read_text())
    figures: dict[str, Any] = {
        "model": str(args.model),
        "graph": graph.name,
        "threads": args.threads,
        "batch": args.batch,
        "size_px": args.size,
        "seconds_per_slice": round(per_slice_s, 4),
        "operators": operator_shares(events),
        "onnxruntime": ort.__version__,
        "command": command_line(__file__, argv),
    }
    if args.gflop_per_slice:
        figures["gflop_per_s"] = round(args.gflop_per_slice / per_slice_s, 1)
    emit(figures, args.json)
    return 0


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("model", type=Path, help="a run folder or model file, as harmonize --model")
    parser.add_argument("--batch", type=int, default=4, help="slices per run (harmonize's default: 4)")
    parser.add_argument("--size", type=int, default=512, help="slice side in px (default 512)")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs after a warm-up (default 3)")
    parser.add_argument("--threads", type=int, default=2, help="ONNX Runtime's intra-op threads")
    parser.add_argument("--gflop-per-slice", type=float, help="the generator's GFLOP per slice")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    return parser.parse_args(argv)


def operator_shares(events: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """Kernel seconds and share per operator type, largest first, over every profiled run."""
    seconds: collections.Counter[str] = collections.Counter()
    for event in events:
        if event.get("cat") == "Node" and event["name"].endswith("_kernel_time"):
            seconds[event["args"]["op_name"]] += event["dur"] / 1e6
    total = sum(seconds.values()) or 1.0
    return {
        name: {"seconds": round(value, 3), "share": round(value / total, 4)}
        for name, value in seconds.most_common()
    }


if __name__ == "__main__":
    sys.exit(main())
