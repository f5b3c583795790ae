"""Project-level checks (the docs site has tests/test_docs.py): the package builds and installs its command, the sync check bites."""
import json, shutil, subprocess, sys, zipfile
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent

def run(cmd, **kw):
    return subprocess.run(cmd, capture_output=True, text=True, **kw)

def test_wheel_has_package_and_command(tmp_path):
    "`pip install .` installs the modules and the `exbert` console script."
    r = run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-w", str(tmp_path), str(ROOT)])
    assert r.returncode == 0, r.stderr[-3000:]
    whl, = tmp_path.glob("exbert-*.whl")
    names = zipfile.ZipFile(whl).namelist()
    for mod in ["__init__", "cli", "data", "features", "metrics", "moe", "model", "predict", "train", "experiments", "results", "bench"]:
        assert f"exbert/{mod}.py" in names, mod
    ep = next(n for n in names if n.endswith("entry_points.txt"))
    assert "exbert = exbert.cli:main" in zipfile.ZipFile(whl).read(ep).decode()

def test_console_script_lists_subcommands():
    r = run([str(BIN / "exbert"), "--help"])
    assert r.returncode == 0, r.stderr
    for cmd in ["mix", "convert", "train", "predict", "evaluate", "reproduce", "bench"]: assert cmd in r.stdout
    r = run([sys.executable, "-c", "import exbert; print(exbert.__version__)"])
    assert r.returncode == 0 and r.stdout.strip()

@pytest.mark.skipif(not (ROOT / ".git").exists(), reason="needs a git checkout")
def test_sync_check_fails_on_hand_edit(tmp_path):
    "Deleting a line from an exported module makes the sync check fail with a clear message."
    repo = tmp_path / "repo"
    shutil.copytree(ROOT, repo, ignore=shutil.ignore_patterns(".venv*", ".git", "_proc", "scratch", "runs", "_docs"))
    env = dict(__import__("os").environ, PATH=f"{BIN}:{__import__('os').environ['PATH']}")
    for cmd in (["git", "init", "-q"], ["git", "add", "-A"], ["git", "-c", "user.email=t@t", "-c", "user.name=t", "commit", "-qm", "x"]):
        assert run(cmd, cwd=repo).returncode == 0
    assert run(["bash", "tools/check_sync.sh"], cwd=repo, env=env).returncode == 0
    cli = repo / "exbert" / "cli.py"
    lines = cli.read_text().splitlines(keepends=True)
    i = next(i for i, l in enumerate(lines) if l.startswith("def usage"))
    cli.write_text("".join(lines[:i + 1] + lines[i + 2:]))     # drop the docstring line...
    git = ["git", "-c", "user.email=t@t", "-c", "user.name=t"]
    assert run(git + ["commit", "-qam", "hand edit"], cwd=repo).returncode == 0   # ...and commit it, as CI sees it
    r = run(["bash", "tools/check_sync.sh"], cwd=repo, env=env)
    assert r.returncode != 0
    assert "library and the notebooks disagree" in r.stdout
