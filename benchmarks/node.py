"""Series per minute through the DICOM node (`radiomicgan serve`), and its peak memory while series arrive.

Everything is real and on this machine: Debian's Orthanc as the PACS the node forwards to (loopback,
a temporary storage folder), dcmtk's storescu as the modalities, the node as its own process
(`python -m radiomicgan serve`). Synthetic 512 x 512 CT series (`harmonize_memory.synthetic_slices`)
of the node's model's source kernel, each its own study.

Two runs:
- `wiener`: a Wiener model (fitted here in seconds on a synthetic pair) harmonizes `--series` series
  of `--slices` slices, all sent at once by as many storescu processes. Timed from the first C-STORE
  to the last instance Orthanc holds; the node's peak resident memory (VmHWM) is read at the end.
- `default`: the default generator (`model.generator`, the small residual U-Net; `--default-generator
  radiomicgan` for the paper's VGG-19 U-Net) with random weights (speed and memory do not depend on
  the weights; `harmonize_memory.write_model`), on `--default-slices` slices: the VGG-19 U-Net takes
  seconds a slice on a 2-core CPU, so a 300-slice series would take most of an hour. Its
  series-per-minute figure for `--slices`-slice series is extrapolated from its seconds per slice
  harmonizing and sending, plus the series-idle time.

The series-idle time (`--series-idle`) is part of every series' time through the node: a node cannot
know a series is complete before it has waited it out. The node's log gives, per series, the seconds
harmonizing and sending; they are reported too.

    .venv/bin/python benchmarks/node.py [--series 3] [--slices 300] [--size 512] [--default-slices 6]
        [--default-generator residual_unet|radiomicgan]
        [--series-idle 2] [--json benchmarks/results/node_cpu.json]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

import numpy as np
import torch
from scipy import ndimage

from benchkit import command_line, device_name, emit
from harmonize_memory import GENERATORS, synthetic_slices, write_model
from radiomicgan.config import ModelConfig, TrainConfig
from radiomicgan.io import SeriesMeta, Volume, deterministic_uid, dicom_series_writer, new_ct_datasets
from radiomicgan.train import train

SOURCE_KERNEL, TARGET_KERNEL = "SMOOTH", "SHARP"  # harmonize_memory.write_model's kernels
SPACING_ZYX_MM = (1.0, 0.7, 0.7)
WRITE_BATCH = 16
ORTHANC = "/usr/sbin/Orthanc"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until(condition: Any, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out after {timeout_s:g} s waiting for {what}")
        time.sleep(0.2)


class Orthanc:
    """Debian's Orthanc on loopback with a temporary storage folder."""

    def __init__(self, folder: Path) -> None:
        self.folder, self.dicom_port, self.http_port = folder, free_port(), free_port()
        config = {
            "Name": "node-benchmark", "StorageDirectory": str(folder), "IndexDirectory": str(folder),
            "DicomAet": "ORTHANC", "DicomPort": self.dicom_port, "HttpPort": self.http_port,
            "RemoteAccessAllowed": False, "AuthenticationEnabled": False, "SaveJobs": False,
        }  # fmt: skip
        folder.mkdir(parents=True)
        (folder / "orthanc.json").write_text(json.dumps(config))
        self.process = subprocess.Popen(
            [ORTHANC, str(folder / "orthanc.json")], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        wait_until(self._answers, 60, "Orthanc")

    def instances(self, study_uid: str) -> int:
        query = {"Level": "Instance", "Query": {"StudyInstanceUID": study_uid}}
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.http_port}/tools/find", data=json.dumps(query).encode(), method="POST"
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            return len(json.loads(response.read()))

    def stop(self) -> None:
        self.process.kill()
        self.process.wait()

    def _answers(self) -> bool:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{self.http_port}/system", timeout=5).close()
        except OSError:
            return False
        return True


def write_series(folder: Path, name: str, slices: int, size: int, kernel: str = SOURCE_KERNEL) -> str:
    """A synthetic CT series of its own study, written a batch at a time; returns its study UID."""
    study = deterministic_uid("node-benchmark-study", name)
    meta = SeriesMeta(
        study, deterministic_uid("node-benchmark-frame", name), deterministic_uid(name, kernel), kernel
    )
    shape = (slices, size, size)
    empty = Volume(np.broadcast_to(np.float32(0), shape), SPACING_ZYX_MM, (-180.0, -180.0, 0.0), meta=meta)
    datasets = new_ct_datasets(
        empty, patient_name="Benchmark^Node", patient_id="BENCH02", study_description="node benchmark",
        series_description=f"{kernel} kernel", series_number=1, kernel=kernel,
    )  # fmt: skip
    positions = empty.slice_positions_xyz_mm()
    with dicom_series_writer(
        folder, positions_xyz_mm=positions, direction=empty.direction, spacing_zyx_mm=SPACING_ZYX_MM
    ) as writer:
        for start in range(0, slices, WRITE_BATCH):
            stop = min(start + WRITE_BATCH, slices)
            hu = synthetic_slices(start, stop, size)
            if kernel == SOURCE_KERNEL:
                hu = np.stack([np.rint(ndimage.gaussian_filter(s, 1.0)) for s in hu])
            writer.write(datasets[start:stop], hu)
    return study


def fit_wiener(root: Path, size: int) -> Path:
    """A Wiener model from a synthetic pair: the blurred slices to the sharp ones (same body)."""
    write_series(root / "pair" / "source", "pair", 6, size, SOURCE_KERNEL)
    write_series(root / "pair" / "target", "pair", 6, size, TARGET_KERNEL)
    config = TrainConfig(
        source=(str(root / "pair" / "source"),), target=(str(root / "pair" / "target"),),
        out=str(root / "wiener"), method="wiener", val_fraction=0.34, device="cpu",
    )  # fmt: skip
    train(config, progress=False)
    return root / "wiener"


def memory_kb(pid: int, field: str) -> int:
    """A field of /proc/PID/status in KiB: VmRSS (now) or VmHWM (peak resident)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    raise SystemExit(f"no {field} for process {pid}")


def through_node(
    root: Path, orthanc: Orthanc, model: Path, series: list[tuple[Path, str]], idle_s: float
) -> dict[str, Any]:
    """Send the series at once to a fresh node; time them into Orthanc and read the node's peak memory."""
    root.mkdir(parents=True)
    port, log_path = free_port(), root / "node.log"
    command = [sys.executable, "-m", "radiomicgan", "serve", "--model", str(model), "--port", str(port)]
    command += ["--forward", f"ORTHANC@127.0.0.1:{orthanc.dicom_port}", "--spool", str(root / "spool")]
    command += ["--series-idle", str(idle_s)]
    with log_path.open("wb") as log:
        node = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    slices = [len(list(folder.glob("*.dcm"))) for folder, _ in series]
    try:
        wait_until(lambda: "listening on port" in log_path.read_text(), 600, "the node to start")
        rss_idle_mb = memory_kb(node.pid, "VmRSS") / 1024
        started = time.monotonic()
        senders = [
            subprocess.Popen(
                ["storescu", "-aec", "RADIOMICGAN", "127.0.0.1", str(port), "+sd", str(folder)],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.STDOUT,
            )
            for folder, _ in series
        ]
        if any(sender.wait() != 0 for sender in senders):
            raise SystemExit("storescu failed")
        received_s = time.monotonic() - started
        for (_, study), count in zip(series, slices, strict=True):
            wait_until(lambda study=study, n=count: orthanc.instances(study) >= n, 7200, "the series")
        seconds = time.monotonic() - started
        peak_mb = memory_kb(node.pid, "VmHWM") / 1024
    finally:
        node.send_signal(signal.SIGTERM)
        node.wait(timeout=120)
    text = log_path.read_text()
    provenance = re.search(r"model [0-9a-f]+: .*", text)  # the harmonizer's line: engine, precision
    return {
        "harmonizer": provenance.group(0) if provenance else "",
        "series": len(series),
        "slices_per_series": slices,
        "series_idle_s": idle_s,
        "seconds_all_received": round(received_s, 1),
        "seconds_until_all_in_orthanc": round(seconds, 1),
        "series_per_minute": round(len(series) / seconds * 60, 3),
        "slices_per_s": round(sum(slices) / seconds, 3),
        "harmonize_s_per_series": [float(s) for s in re.findall(r"harmonized in ([\d.]+) s", text)],
        "send_s_per_series": [float(s) for s in re.findall(r"instances sent to \S+ in ([\d.]+) s", text)],
        "node_rss_idle_mb": round(rss_idle_mb, 1),
        "node_peak_rss_mb": round(peak_mb, 1),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--series", type=int, default=3, help="series sent at once to the Wiener node")
    parser.add_argument("--slices", type=int, default=300, help="slices of each of those series")
    parser.add_argument("--size", type=int, default=512, help="rows and columns of every slice")
    parser.add_argument("--default-slices", type=int, default=6, help="slices of the default model's series")
    parser.add_argument(
        "--default-generator", choices=sorted(GENERATORS), default=ModelConfig().generator,
        help="the generator of the default run (default: model.generator's default)",
    )  # fmt: skip
    parser.add_argument("--series-idle", type=float, default=2.0, help="the node's --series-idle")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)
    if shutil.which("storescu") is None or not Path(ORTHANC).exists():
        raise SystemExit("needs Orthanc and dcmtk (apt-get install orthanc dcmtk)")
    figures: dict[str, Any] = {
        "command": command_line(__file__, argv),
        "device": device_name(torch.device("cpu")),
        "size_px": args.size,
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
    }
    with tempfile.TemporaryDirectory(prefix="node-benchmark-") as tmp:
        root = Path(tmp)
        orthanc = Orthanc(root / "orthanc")
        try:
            figures["wiener"] = wiener_run(root, orthanc, args)
            figures["default"] = default_run(root, orthanc, args)
        finally:
            orthanc.stop()
    figures["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    emit(figures, args.json)


def wiener_run(root: Path, orthanc: Orthanc, args: argparse.Namespace) -> dict[str, Any]:
    model = fit_wiener(root, args.size)
    series = [
        (root / f"in{n}", write_series(root / f"in{n}", f"wiener-{n}", args.slices, args.size))
        for n in range(args.series)
    ]
    run = through_node(root / "wiener-node", orthanc, model, series, args.series_idle)
    pixel_mb = args.series * args.slices * args.size**2 * 2 / 2**20
    for folder, _ in series:
        shutil.rmtree(folder)  # the disk the default run needs
    shutil.rmtree(root / "wiener-node" / "spool", ignore_errors=True)
    return {"model": "wiener, fitted here on a synthetic pair", "pixel_data_mb": round(pixel_mb, 1), **run}


def default_run(root: Path, orthanc: Orthanc, args: argparse.Namespace) -> dict[str, Any]:
    (root / "default-model").mkdir()
    model = write_model(root / "default-model", args.default_generator)
    folder = root / "default-in"
    series = [(folder, write_series(folder, "default", args.default_slices, args.size))]
    run = through_node(root / "default-node", orthanc, model, series, args.series_idle)
    [harmonize_s], [send_s] = run["harmonize_s_per_series"], run["send_s_per_series"]
    per_slice_s = (harmonize_s + send_s) / args.default_slices
    run["harmonize_s_per_slice"] = round(harmonize_s / args.default_slices, 2)
    if args.default_slices < args.slices:  # else the series was measured whole: nothing to extrapolate
        run["extrapolated"] = {
            "slices_per_series": args.slices,
            "series_per_minute": round(60 / (args.series_idle + args.slices * per_slice_s), 4),
            "note": "series-idle time plus the measured harmonize and send seconds per slice, times "
            "the slices: the default model's series was short",
        }
    name = args.default_generator
    return {"model": f"generator {name}, random weights (speed does not depend on them)", **run}


if __name__ == "__main__":
    main()
