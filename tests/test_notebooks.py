"""Every notebook is a test: run it top to bottom as `nbdev-test` does (cells flagged `slow` are skipped)."""
import subprocess, sys
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted(p for p in (ROOT / "nbs").glob("*.ipynb") if not p.name.startswith(("_", ".")))

@pytest.mark.parametrize("nb", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook(nb):
    # one process per notebook, like nbdev-test's workers: no state leaks between notebooks
    r = subprocess.run([str(Path(sys.executable).parent / "nbdev-test"), str(nb), "--do-print"],
                       cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, f"{nb.name} failed:\n{r.stdout[-5000:]}\n{r.stderr[-10000:]}"
