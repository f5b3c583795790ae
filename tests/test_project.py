"""Project-level checks: the docs render, the package builds and installs its command, the sync check bites."""
import json, shutil, subprocess, sys, zipfile
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent

def run(cmd, **kw):
    return subprocess.run(cmd, capture_output=True, text=True, **kw)

def test_docs_render(tmp_path):
    "Quarto is not installable here, so check what it would consume: process with nbdev, render with nbconvert."
    proc = tmp_path / "proc"
    shutil.copytree(ROOT, tmp_path / "repo", ignore=shutil.ignore_patterns(".venv*", ".git", "_proc", "scratch", "runs"))
    repo = tmp_path / "repo"
    r = run([str(BIN / "nbdev-proc-nbs")], cwd=repo)
    assert r.returncode == 0, r.stderr[-5000:]
    processed = sorted((repo / "_proc").glob("*.ipynb"))
    assert {p.name for p in processed} >= {p.name for p in (ROOT / "nbs").glob("[0-9]*.ipynb")} | {"index.ipynb"}
    bad = []
    cell_keys = {"cell_type", "id", "metadata", "source", "outputs", "execution_count", "attachments"}
    for nb in processed:
        # nbdev marks cells for Quarto with extra keys (e.g. `has_sd`); Quarto accepts them, nbconvert's
        # schema check does not, so drop them as Quarto would ignore them.
        d = json.loads(nb.read_text())
        for c in d["cells"]:
            for k in set(c) - cell_keys: del c[k]
            c.get("metadata", {}).pop("execution", None)    # nbdev's timing floats; the schema wants strings
        nb.write_text(json.dumps(d))
        r = run([sys.executable, "-m", "nbconvert", "--to", "html", "--output-dir", str(proc), str(nb)])
        if r.returncode != 0 or not (proc / (nb.stem + ".html")).exists(): bad.append((nb.name, r.stderr[-2000:]))
    assert not bad, f"notebooks that do not render: {bad}"

def test_wheel_has_package_and_command(tmp_path):
    "`pip install .` installs the modules and the `exbert` console script."
    r = run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-w", str(tmp_path), str(ROOT)])
    assert r.returncode == 0, r.stderr[-3000:]
    whl, = tmp_path.glob("exbert-*.whl")
    names = zipfile.ZipFile(whl).namelist()
    for mod in ["__init__", "cli", "data", "features", "metrics", "moe", "model", "train", "experiments", "results", "bench"]:
        assert f"exbert/{mod}.py" in names, mod
    ep = next(n for n in names if n.endswith("entry_points.txt"))
    assert "exbert = exbert.cli:main" in zipfile.ZipFile(whl).read(ep).decode()

def test_console_script_lists_subcommands():
    r = run([str(BIN / "exbert"), "--help"])
    assert r.returncode == 0, r.stderr
    for cmd in ["mix", "convert", "train", "reproduce", "bench"]: assert cmd in r.stdout
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
