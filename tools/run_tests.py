"""The project's test command: `python tools/run_tests.py [pytest args]`.

1. checks that exbert/ is exactly what nbs/ exports and that notebooks are clean (tools/check_sync.sh);
2. runs pytest on tests/, which runs every notebook as a test (cells flagged `slow` skipped, as
   `nbdev-test` does) plus the project-level tests (docs render, install, sync check), a worker per core
   (pytest-xdist, up to 4; `-n 0` runs them in one process);
3. prints one last line: `N passed, M failed`, after a line `K skipped ...` when any were (the checks that
   need the real data folder, counted as skipped on a clone without `../shared/data`)."""

import importlib.util
import os
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def parallel(argv) -> list[str]:
    "pytest-xdist's flags (a worker per core, up to 4; a group's tests in one worker), unless argv sets its own."
    own = any(a.startswith(("-n", "--numprocesses", "--dist")) or a == "no:xdist" for a in argv)
    affinity = getattr(os, "sched_getaffinity", None)  # Linux; macOS has none
    cores = len(affinity(0)) if affinity else os.cpu_count() or 1
    n = min(4, cores)
    return [] if own or n < 2 or importlib.util.find_spec("xdist") is None else ["-n", str(n), "--dist", "loadgroup"]


def main(argv):
    os.chdir(ROOT)
    for k, v in dict(
        HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1", TRANSFORMERS_OFFLINE="1", WANDB_MODE="disabled"
    ).items():
        os.environ.setdefault(k, v)
    # the tools of this interpreter's environment (nbdev-export, nbdev-test, ...) come first, activated or not
    os.environ["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    sync_ok = subprocess.run(["bash", "tools/check_sync.sh"]).returncode == 0
    with tempfile.TemporaryDirectory() as tmp:
        xml = Path(tmp) / "junit.xml"
        rc = subprocess.run([sys.executable, "-m", "pytest", "-v", "-rs", f"--junitxml={xml}", *parallel(argv), *argv])
        rc = rc.returncode
        counts = dict(tests=0, failures=0, errors=0, skipped=0)
        if xml.exists():
            root = ET.parse(xml).getroot()
            for suite in [root] if root.tag == "testsuite" else root.iter("testsuite"):
                for k in counts:
                    counts[k] += int(suite.get(k, 0))
    failed = counts["failures"] + counts["errors"] + (0 if sync_ok else 1)
    passed = counts["tests"] - counts["failures"] - counts["errors"] - counts["skipped"] + (1 if sync_ok else 0)
    if rc not in (0, 1) and failed == 0:
        failed = 1  # pytest itself broke (usage error, internal error, no tests)
    if counts["skipped"]:
        print(f"{counts['skipped']} skipped (checks that need the real data folder, or a git checkout)")
    print(f"{passed} passed, {failed} failed")
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
