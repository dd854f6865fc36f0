"""The README's Python examples, pasted into a script: those that start worker processes keep the guard.

Simulation, feature extraction (evaluate, the demo) and the dask backend start worker processes with
spawn, and a spawned worker begins by importing the script that started it: without
`if __name__ == "__main__":` every worker re-runs the script and the pool breaks (BrokenProcessPool).
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]
README = ROOT / "README.md"
GUARD = 'if __name__ == "__main__":'
# The public calls that reach a worker pool, and the modules that start one. A new pool elsewhere
# fails `test_the_pool_list_is_complete` until its entry point is added here.
POOL_CALLS = (
    "simulate_to_folder(",
    "simulate_kernels(",
    "evaluate(",
    "run_demo(",
    "extract_many(",
    "region_features(",
    '"dask"',
)
POOL_MODULES = {"simulate/simulator.py", "evaluate/workers.py", "cluster.py"}


def _python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), flags=re.DOTALL)


def test_the_pool_list_is_complete() -> None:
    package = ROOT / "src" / "radiomicgan"
    starting = {
        str(path.relative_to(package))
        for path in package.rglob("*.py")
        if re.search(r"get_context\(|ProcessPoolExecutor\(|LocalCluster\(", path.read_text(encoding="utf-8"))
    }
    assert starting == POOL_MODULES


def test_every_example_that_starts_workers_calls_them_under_the_guard() -> None:
    checked = 0
    for block in _python_blocks():
        compile(block, "README.md", "exec")  # every example is valid Python
        lines = block.splitlines()
        guard = next((i for i, line in enumerate(lines) if line.startswith(GUARD)), None)
        for i, line in enumerate(lines):
            if any(call in line for call in POOL_CALLS) and not line.startswith(("from ", "import ")):
                assert guard is not None and i > guard and line.startswith(" "), block
                checked += 1
    assert checked >= 4  # simulate, evaluate, the dask backend, the demo


SIMULATE_EXAMPLE = """\
from radiomicgan.config import SimulationConfig
from radiomicgan.simulate import simulate_to_folder

{guard}
    result = simulate_to_folder("phantom", "pairs", SimulationConfig(
        kernels=("smooth", "sharp"), slices=2, size_px=32, angles=48, jobs=2))
    print("done", result.describe())
"""


def _run_script(tmp_path: Path, guard: str) -> subprocess.CompletedProcess[str]:
    tmp_path.mkdir()
    script = tmp_path / "example.py"
    script.write_text(SIMULATE_EXAMPLE.format(guard=guard), encoding="utf-8")
    return subprocess.run(
        [sys.executable, str(script)], cwd=tmp_path, capture_output=True, text=True, timeout=300, check=False
    )


@pytest.mark.slow
def test_the_guarded_example_runs_as_a_script_and_the_unguarded_one_does_not(tmp_path: Path) -> None:
    guarded = _run_script(tmp_path / "guarded", GUARD)
    assert guarded.returncode == 0 and "done" in guarded.stdout, guarded.stderr[-2000:]
    unguarded = _run_script(tmp_path / "unguarded", "if True:")
    assert unguarded.returncode != 0 and "BrokenProcessPool" in unguarded.stderr
