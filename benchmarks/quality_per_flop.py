"""Quality per FLOP (issue 21): reproducible features and PSNR of each trained generator against its cost.

Reads the JSON of `benchmarks/quality.py` runs (each run's generator and its GFLOP per 512² slice are
recorded there). Several files of one scenario are merged when they scored the same ROIs (their input,
filter and retest rows agree; else exit 2), so runs scored in different sessions can be compared;
`--runs` keeps only the named trained runs. Optionally it reads `benchmarks/harmonize_speed.py`'s JSON
for the command line's slices/s of each generator. It draws one row of panels per scenario: reproducible
features per HU range and PSNR against GFLOP per slice (log scale), with the tuned Wiener filter and the
retest as lines; with the speed JSON, one more row per scenario against the command line's slices/s
(runs matched to a timed model by their GFLOP). It names the cheapest run within the best run's spread:

- a run is within a best run's spread when, in every range, its mean count is at least the best's
  mean less one SD (over the ROI resamplings), and its PSNR is within 0.2 dB of the best's;
- "best" is read two ways, since a run may lead in features and another in PSNR: the run with the
  most reproducible features summed over the ranges (`by_features`), and the run with the highest
  PSNR (`by_psnr`);
- for each reading, the cheapest run within the spread in every scenario (runs matched by name).

    .venv/bin/python benchmarks/quality_per_flop.py \\
        --quality benchmarks/results/quality_lung1_iterative_generators.json \\
                  benchmarks/results/quality_lung1_fbp_generators.json \\
        [--speed benchmarks/results/harmonize_speed_cpu.json] \\
        --figure docs/quality_per_flop.png --json benchmarks/results/quality_per_flop.json

The widths with their texture (session 16; README, Quality per FLOP) merge two files per scenario:

    R=benchmarks/results
    .venv/bin/python benchmarks/quality_per_flop.py \\
        --quality $R/quality_lung1_{iterative,fbp,lowdose}_texture.json \\
        $R/quality_lung1_{iterative,fbp,lowdose}_resunet8.json --runs resunet16-budget-e100+texture0.6-250 \\
        resunet16-budget-e100-seed1+texture0.6-250 resunet16-budget-e100-seed2+texture0.6-250 \\
        resunet8-budget-e136+texture0.6-250 resunet8-budget-e136-seed1+texture0.6-250 \\
        --speed $R/harmonize_speed_default8_cpu.json --figure docs/quality_per_flop_widths.png \\
        --json $R/quality_per_flop_widths.json
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from matplotlib.ticker import NullFormatter, ScalarFormatter

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchkit import command_line, emit

PSNR_MARGIN_DB = 0.2  # issue 21: "PSNR within 0.2 dB"
BEST_READINGS = ("by_features", "by_psnr")
XAxis = tuple[dict[str, float], str, tuple[float, float]]  # positions by run, label, limits
LINES = {"wiener": ("tuned Wiener filter", "tab:gray"), "retest": ("retest", "tab:green")}


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    try:
        scenarios = _selected(_merged([Path(p) for p in args.quality]), args.runs)
    except ValueError as error:
        print(f"quality_per_flop: {error}", file=sys.stderr)
        return 2
    speed = _cli_rates(Path(args.speed)) if args.speed else {}
    figures = {
        "command": command_line(__file__, argv),
        **{reading: _choice(scenarios, reading) for reading in BEST_READINGS},
        "runs": {name: _rows(report, speed) for name, report in scenarios.items()},
        "sources": {name: report["sources"] for name, report in scenarios.items()},
    }
    _plot(scenarios, speed, Path(args.figure))
    emit(figures, Path(args.json) if args.json else None)
    return 0


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--quality", nargs="+", required=True,
        help="benchmarks/quality.py JSON; several of one scenario are merged (same ROIs, checked)",
    )  # fmt: skip
    parser.add_argument("--runs", nargs="+", help="only these trained runs (default: every run)")
    parser.add_argument("--speed", help="benchmarks/harmonize_speed.py JSON (CLI slices/s per generator)")
    parser.add_argument("--figure", required=True, help="the PNG to write")
    parser.add_argument("--json", help="write the figures here too")
    return parser.parse_args(argv)


def _merged(paths: list[Path]) -> dict[str, dict[str, Any]]:
    """The quality reports by scenario, the files of one scenario merged into one report.

    Files of one scenario must have scored the same ROIs: their reference rows (input, filter, retest:
    every candidate that is not a trained run) present in both must agree. A trained run in several
    files is taken from the last one (a run folder retrained under the same name is scored anew);
    `sources` records the file of each run.

    Raises:
        ValueError: two files of one scenario whose reference rows differ.
    """
    scenarios: dict[str, dict[str, Any]] = {}
    for path in paths:
        report = json.loads(path.read_text())
        _drop_runs_without_cost(report, path)
        report["sources"] = dict.fromkeys(report["runs"], str(path))
        name = report["scenario"]["name"]
        if name in scenarios:
            _check_same_rois(scenarios[name], report, path)
            earlier = scenarios[name]
            report = {
                **report,
                "runs": {**earlier["runs"], **report["runs"]},
                "candidates": {**earlier["candidates"], **report["candidates"]},
                "sources": {**earlier["sources"], **report["sources"]},
            }
        scenarios[name] = report
    return scenarios


def _drop_runs_without_cost(report: dict[str, Any], path: Path) -> None:
    """Leave out runs whose record has no GFLOP per slice (reports written before issue 21), saying so."""
    uncosted = [run for run, described in report["runs"].items() if "gflop_per_512_slice" not in described]
    if uncosted:
        print(
            f"quality_per_flop: {path}: no GFLOP recorded for {', '.join(uncosted)}: left out",
            file=sys.stderr,
        )
    report["runs"] = {run: d for run, d in report["runs"].items() if run not in uncosted}


def _check_same_rois(earlier: dict[str, Any], report: dict[str, Any], path: Path) -> None:
    references = set(earlier["candidates"]) & set(report["candidates"]) - set(earlier["runs"]) - set(
        report["runs"]
    )
    for name in sorted(references):
        if earlier["candidates"][name]["reproducible"] != report["candidates"][name]["reproducible"]:
            raise ValueError(
                f"{path}: its {name!r} row differs from an earlier file's of scenario "
                f"{report['scenario']['name']!r}: not the same ROIs, so not comparable"
            )


def _selected(scenarios: dict[str, dict[str, Any]], runs: list[str] | None) -> dict[str, dict[str, Any]]:
    """The reports with only the trained runs in `runs` (all when None).

    Raises:
        ValueError: a run of `runs` that no report holds.
    """
    if not runs:
        return scenarios
    unknown = [run for run in runs if not any(run in report["runs"] for report in scenarios.values())]
    if unknown:
        raise ValueError(f"--runs: no report holds {', '.join(unknown)}")
    return {
        name: {
            **report,
            "runs": {run: d for run, d in report["runs"].items() if run in runs},
            "sources": {run: f for run, f in report["sources"].items() if run in runs},
        }
        for name, report in scenarios.items()
    }


def _choice(scenarios: dict[str, dict[str, Any]], reading: str) -> dict[str, Any]:
    """Each scenario's best run and the runs within its spread; the cheapest within it everywhere."""
    best = {name: best_run(report, reading) for name, report in scenarios.items()}
    within = {name: within_spread(report, best[name]) for name, report in scenarios.items()}
    shared = set.intersection(*within.values())
    costs = {run: next(iter(scenarios.values()))["runs"][run]["gflop_per_512_slice"] for run in shared}
    return {
        "best": best,
        "within_spread": {name: sorted(runs) for name, runs in within.items()},
        "cheapest_within_spread_everywhere": min(costs, key=costs.__getitem__) if costs else None,
    }


def best_run(report: dict[str, Any], reading: str) -> str:
    """The trained run with the most reproducible features ("by_features") or the highest PSNR."""
    rows = {run: report["candidates"][run] for run in report["runs"]}
    if reading == "by_psnr":
        return str(max(rows, key=lambda run: rows[run]["psnr"]["mean"]))
    return str(max(rows, key=lambda run: sum(s["mean"] for s in rows[run]["reproducible"].values())))


def within_spread(report: dict[str, Any], best: str) -> set[str]:
    """The runs of one scenario whose counts and PSNR lie within `best`'s spread."""
    rows = {run: report["candidates"][run] for run in report["runs"]}
    floor = {r: s["mean"] - s["sd"] for r, s in rows[best]["reproducible"].items()}
    psnr_floor = rows[best]["psnr"]["mean"] - PSNR_MARGIN_DB
    return {
        run
        for run, row in rows.items()
        if all(row["reproducible"][r]["mean"] >= floor[r] for r in floor)
        and row["psnr"]["mean"] >= psnr_floor
    }


def _cli_rates(path: Path) -> dict[str, float]:
    """slices/s of `radiomicgan harmonize` per generator, keyed by the generator's GFLOP per slice."""
    report = json.loads(path.read_text())
    return {
        _speed_key(row["gflop_per_slice"]): row["slices_per_s"]
        for row in report["models"].values()
        if "gflop_per_slice" in row and "slices_per_s" in row
    }


def _speed_key(gflop: float) -> str:
    """How a quality run finds its timed model: the same architecture costs the same GFLOP."""
    return f"{gflop:.1f}"


def _rows(report: dict[str, Any], speed: dict[str, float]) -> dict[str, Any]:
    rows = {}
    for run, described in report["runs"].items():
        row = report["candidates"][run]
        gflop = described["gflop_per_512_slice"]
        rows[run] = {
            "generator": described["generator"],
            "settings": described.get("generator_settings"),
            "gflop_per_512_slice": gflop,
            "steps": described.get("steps"),
            "train_seconds": described["train_seconds"],
            "reproducible": {r: s["mean"] for r, s in row["reproducible"].items()},
            "psnr": row["psnr"]["mean"],
            "cli_slices_per_s": speed.get(_speed_key(gflop)),
        }
    return rows


def _plot(scenarios: dict[str, dict[str, Any]], speed: dict[str, float], path: Path) -> None:
    """One row per scenario against GFLOP per slice; with `speed`, one more against CLI slices/s."""
    ranges = list(next(iter(next(iter(scenarios.values()))["candidates"].values()))["reproducible"])
    keys = [*ranges, "psnr"]
    rows = [(name, report, "gflop") for name, report in scenarios.items()]
    if speed:
        rows += [(name, report, "speed") for name, report in scenarios.items()]
    fig, axes = plt.subplots(len(rows), len(keys), figsize=(3.2 * len(keys), 3.0 * len(rows)), squeeze=False)
    for row_axes, (scenario, report, x_axis) in zip(axes, rows, strict=True):
        for ax, key in zip(row_axes, keys, strict=True):
            _plot_panel(ax, report, key, _x_of(report, x_axis, speed))
            ax.set_title(f"{scenario}: {key if key == 'psnr' else key + ' HU'}", fontsize=8)
        row_axes[0].set_ylabel("reproducible features")
        row_axes[-1].set_ylabel("PSNR (dB)")
    axes[0][0].legend(fontsize=6)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _x_of(report: dict[str, Any], x_axis: str, speed: dict[str, float]) -> XAxis:
    """Each run's position on the x axis (runs without a speed measured are left out), its label and
    its limits."""
    runs = report["runs"]
    if x_axis == "gflop":
        return {run: runs[run]["gflop_per_512_slice"] for run in runs}, "GFLOP per 512² slice", (2, 1000)
    rates = {run: speed.get(_speed_key(runs[run]["gflop_per_512_slice"])) for run in runs}
    rates["wiener"] = speed.get(_speed_key(0.0))  # the filter model's own rate: the target's reference
    positions = {run: rate for run, rate in rates.items() if rate}
    return positions, "radiomicgan harmonize, slices/s (CPU)", (0.3, 20)


def _plot_panel(ax: Any, report: dict[str, Any], key: str, x: XAxis) -> None:
    positions, label, limits = x
    ys, sds = zip(*(_value(report["candidates"][run], key) for run in positions), strict=True)
    ax.errorbar(list(positions.values()), ys, yerr=sds, fmt="o", color="tab:blue", capsize=3)
    for run, xi, yi in zip(positions, positions.values(), ys, strict=True):
        ax.annotate(run, (xi, yi), fontsize=6, xytext=(3, 3), textcoords="offset points")
    for name, (line_label, color) in LINES.items():
        if name in report["candidates"] and (key != "psnr" or "psnr" in report["candidates"][name]):
            ax.axhline(_value(report["candidates"][name], key)[0], color=color, ls="--", label=line_label)
    ax.set_xscale("log")
    ax.set_xlim(*limits)
    ax.xaxis.set_major_formatter(ScalarFormatter())
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_xlabel(label)


def _value(row: dict[str, Any], key: str) -> tuple[float, float]:
    stats = row["psnr"] if key == "psnr" else row["reproducible"][key]
    return float(stats["mean"]), float(stats["sd"] or 0.0)


if __name__ == "__main__":
    raise SystemExit(main())
