"""Every notebook is a test: run it top to bottom as `nbdev-test` does (cells flagged `slow` are skipped).

The checks that need the real data (`exbert.data.needs_real_data("...")` in a notebook) are tests of their own,
`test_real_data_check[<notebook>: <check>]`: passed when the check ran, skipped when `../shared/data` is absent, so
a run on a clone without the data says how much it did not check. Everything that trains runs on the synthetic
data folder and is part of the notebook's own test."""

import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted(p for p in (ROOT / "nbs").glob("*.ipynb") if not p.name.startswith(("_", ".")))
CHECK = re.compile(r'needs_real_data\("([^"]+)"\)')
_RUNS = {}


def run_notebook(nb: Path) -> tuple[subprocess.CompletedProcess, dict[str, str]]:
    "Run `nb` once per session (one process, like nbdev-test's workers); its result and `{check: ran|skipped}`."
    if nb not in _RUNS:
        with tempfile.TemporaryDirectory() as tmp:
            log = Path(tmp) / "real-data.log"
            log.touch()
            r = subprocess.run(
                [str(Path(sys.executable).parent / "nbdev-test"), str(nb), "--do-print"],
                cwd=ROOT,
                capture_output=True,
                text=True,
                env={**os.environ, "EXBERT_REAL_DATA_LOG": str(log)},
            )
            _RUNS[nb] = (
                r,
                {what: state for state, what in (line.split("\t", 1) for line in log.read_text().splitlines())},
            )
    return _RUNS[nb]


def real_data_checks() -> list[tuple[Path, str]]:
    'Every `needs_real_data("...")` check in a code cell the default test run executes (not `slow`).'
    out = []
    for nb in NOTEBOOKS:
        for c in json.loads(nb.read_text())["cells"]:
            s = "".join(c["source"])
            if c["cell_type"] == "code" and "#| slow" not in s and "#| export" not in s:
                out += [(nb, what) for what in CHECK.findall(s)]
    return out


def same_worker(nb: Path, *args) -> pytest.param:
    "A parameter set that runs on the worker of `nb`'s group (pytest-xdist), where `run_notebook` keeps its result."
    return pytest.param(nb, *args, marks=pytest.mark.xdist_group(nb.stem))


@pytest.mark.parametrize("nb", [same_worker(nb) for nb in NOTEBOOKS], ids=[p.stem for p in NOTEBOOKS])
def test_notebook(nb):
    r, _ = run_notebook(nb)
    assert r.returncode == 0, f"{nb.name} failed:\n{r.stdout[-5000:]}\n{r.stderr[-10000:]}"


CHECKS = real_data_checks()


@pytest.mark.parametrize(
    "nb,what", [same_worker(nb, what) for nb, what in CHECKS], ids=[f"{nb.stem}: {what}" for nb, what in CHECKS]
)
def test_real_data_check(nb, what):
    r, states = run_notebook(nb)
    if r.returncode != 0:
        pytest.fail(f"{nb.name} failed (see test_notebook[{nb.stem}])")
    if states.get(what) == "skipped":
        pytest.skip("needs the real data folder (../shared/data or $EXBERT_DATA)")
    assert states.get(what) == "ran", f"{nb.name}: the check {what!r} never asked for the data"
