"""Project-level checks (the docs site has tests/test_docs.py): the package builds and installs its command, the
sync check bites."""

import json
import shutil
import subprocess
import sys
import zipfile
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
    (whl,) = tmp_path.glob("exbert-*.whl")
    names = zipfile.ZipFile(whl).namelist()
    for mod in [
        "__init__",
        "cli",
        "data",
        "features",
        "metrics",
        "moe",
        "model",
        "predict",
        "train",
        "experiments",
        "results",
        "bench",
    ]:
        assert f"exbert/{mod}.py" in names, mod
    ep = next(n for n in names if n.endswith("entry_points.txt"))
    assert "exbert = exbert.cli:main" in zipfile.ZipFile(whl).read(ep).decode()


def test_console_script_lists_subcommands():
    r = run([str(BIN / "exbert"), "--help"])
    assert r.returncode == 0, r.stderr
    for cmd in ["mix", "convert", "train", "predict", "evaluate", "reproduce", "bench"]:
        assert cmd in r.stdout
    r = run([sys.executable, "-c", "import exbert; print(exbert.__version__)"])
    assert r.returncode == 0 and r.stdout.strip()


@pytest.mark.skipif(not (ROOT / ".git").exists(), reason="needs a git checkout")
def test_sync_check_fails_on_hand_edit(tmp_path):
    "Deleting a line from an exported module makes the sync check fail with a clear message."
    repo = tmp_path / "repo"
    shutil.copytree(ROOT, repo, ignore=shutil.ignore_patterns(".venv*", ".git", "_proc", "scratch", "runs", "_docs"))
    env = dict(__import__("os").environ, PATH=f"{BIN}:{__import__('os').environ['PATH']}")
    for cmd in (
        ["git", "init", "-q"],
        ["git", "add", "-A"],
        ["git", "-c", "user.email=t@t", "-c", "user.name=t", "commit", "-qm", "x"],
    ):
        assert run(cmd, cwd=repo).returncode == 0
    assert run(["bash", "tools/check_sync.sh"], cwd=repo, env=env).returncode == 0
    cli = repo / "exbert" / "cli.py"
    lines = cli.read_text().splitlines(keepends=True)
    i = next(i for i, line in enumerate(lines) if line.startswith("def usage"))
    cli.write_text("".join(lines[: i + 1] + lines[i + 2 :]))  # drop the docstring line...
    git = ["git", "-c", "user.email=t@t", "-c", "user.name=t"]
    assert run(git + ["commit", "-qam", "hand edit"], cwd=repo).returncode == 0  # ...and commit it, as CI sees it
    r = run(["bash", "tools/check_sync.sh"], cwd=repo, env=env)
    assert r.returncode != 0
    assert "library and the notebooks disagree" in r.stdout


def test_code_shape():
    """Export cells of at most 60 statements and 3 definitions, functions of at most 60 statements, at most 3 lazy
    own-module imports, no call of ours with over 4 positional arguments."""
    r = run([sys.executable, "tools/code_shape.py"], cwd=ROOT)
    assert r.returncode == 0, r.stdout


def test_code_shape_bites(tmp_path, monkeypatch):
    """The shape check flags a 61-statement export cell, a 4-definition cell, a lazy import of an exbert module and a
    call of 5 positional arguments."""
    sys.path.insert(0, str(ROOT / "tools"))
    import code_shape

    (tmp_path / "nbs").mkdir()
    (tmp_path / "exbert").mkdir()
    long = "#| export\ndef f():\n" + "".join(f"    x{i} = {i}\n" for i in range(60))
    four = "#| export\n" + "".join(f"def g{i}(): pass\n" for i in range(4))
    cells = [dict(cell_type="code", source=s, metadata={}, outputs=[], execution_count=None) for s in (long, four)]
    (tmp_path / "nbs" / "00_x.ipynb").write_text(
        json.dumps(dict(cells=cells, metadata={}, nbformat=4, nbformat_minor=5))
    )
    (tmp_path / "exbert" / "x.py").write_text("def h():\n    from exbert.data import load_squad\n" + "    pass\n" * 60)
    monkeypatch.setattr(code_shape, "ROOT", tmp_path)
    assert code_shape.cell_problems() == [
        "00_x.ipynb cell 0: 61 statements",
        "00_x.ipynb cell 1: 4 definitions (g0, g1, g2, g3)",
    ]
    long_fns, lazy = code_shape.function_problems()
    assert long_fns == ["exbert/x.py:1 h: 61 statements"] and lazy == [
        "exbert/x.py:2 in h: from exbert.data import ..."
    ]
    (tmp_path / "exbert" / "y.py").write_text(
        "def k(a, b, c, d, e):\n    pass\n\n\nk(1, 2, 3, 4, e=5)\nk(1, 2, 3, 4, 5)\n"
    )
    assert code_shape.positional_problems() == ["exbert/y.py:6 k: 5 positional arguments"]


def test_committed_synthetic_data_is_current(tmp_path):
    "tests/data/synthetic is what `write_synthetic_data` writes today (rewrite it with tools/make_synthetic_data.py)."
    from exbert.data import write_synthetic_data

    fresh, committed = write_synthetic_data(tmp_path / "synthetic"), ROOT / "tests" / "data" / "synthetic"
    files = lambda d: {str(p.relative_to(d)): p.read_bytes() for p in sorted(d.rglob("*")) if p.is_file()}
    assert files(committed) == files(fresh), "tests/data/synthetic is stale: run python tools/make_synthetic_data.py"


def test_gpu_pack_round_trip(tmp_path):
    "tools/gpu_pack.py packs weights (bf16, xz) and data under the carry limit; gpu_check.unpack gives them back."
    import torch
    import safetensors.torch as st

    sys.path.insert(0, str(ROOT / "tools"))
    import gpu_check
    from exbert.train import tiny_backbone
    from exbert.data import load_squad

    tiny, data = tiny_backbone(tmp_path / "tiny"), ROOT / "tests" / "data" / "synthetic"
    (tiny / "conversion.json").write_text("{}")
    r = run(
        [
            sys.executable,
            "tools/gpu_pack.py",
            "--standin",
            str(tiny),
            "--data",
            str(data),
            "--no-wheels",
            "--out",
            str(tmp_path / "pack"),
        ],
        cwd=ROOT,
    )
    assert r.returncode == 0, r.stderr[-3000:]
    assert "limit 64 MiB" in r.stdout and (tmp_path / "pack" / "standin" / "model.bf16.safetensors.xz").is_file()
    assert not (tmp_path / "pack" / "standin" / "model.safetensors").exists()  # the fp32 weights do not travel
    backbone, out = gpu_check.unpack(tmp_path / "pack", tmp_path / "data", cache=tmp_path / "cache")
    a, b = st.load_file(tiny / "model.safetensors"), st.load_file(backbone / "model.safetensors")
    assert a.keys() == b.keys() and all(b[k].dtype == torch.float32 for k in b)
    for k in a:
        assert torch.allclose(a[k], b[k], rtol=2**-8, atol=0), k  # bf16 rounding, nothing more
    rel = "squad/squad-v1.1-train.reconstructed.json.gz"
    assert load_squad(out / rel)["id"] == load_squad(data / rel)["id"]
    assert "rounded to bf16" in (backbone / "conversion.json").read_text()


def test_gpu_check_smoke(tmp_path):
    "tools/gpu_check.py --smoke: every step of the GPU check at toy sizes on this machine's device, each passing."
    r = run([sys.executable, "tools/gpu_check.py", "--smoke", "--grid-max-runs", "1", "--out", str(tmp_path)], cwd=ROOT)
    rep = json.loads((tmp_path / "gpu_check.json").read_text())
    assert r.returncode == 0 and rep["ok"], {
        k: v.get("error", v.get("ok")) for k, v in rep.items() if isinstance(v, dict)
    }
    assert rep["checks"]["exbert"]["top1_expert_agreement"] == 1.0 or rep["environment"]["device"] == "cuda"
    assert rep["trainer"]["val_loss_rel_diff"] and max(rep["trainer"]["val_loss_rel_diff"]) < 0.01
    assert rep["grid"]["finished"] == 1 and rep["grid"]["rows"][0]["squad_em"] is not None


def test_tuning_study_resumes_from_committed_runs(tmp_path):
    """`exbert tune --study`: a committed arm counts as finished (adopted, not rerun); --report writes study.json from
    it."""
    committed, out = tmp_path / "committed", tmp_path / "runs"
    row = lambda arm, seed, **kw: dict(
        run_id=f"{arm}-r0.80-shuffled-s{seed}",
        model="exbert" if arm == "exbert" else "vdb",
        preset=arm,
        ratio=0.8,
        order="shuffled",
        seed=seed,
        backbone="standin",
        squad_em=50.0 + seed,
        squad_f1=60.0,
        bioasq_em=40.0,
        bioasq_f1=50.0,
        **kw,
    )
    (committed / "standard").mkdir(parents=True)
    (committed / "standard" / "results.jsonl").write_text(
        "".join(json.dumps(row(a, s)) + "\n" for a in ("exbert", "vdb-tuned") for s in range(3))
    )
    arm = committed / "tuning" / "vdb-lr2x"
    (arm / "vdb-r0.80-shuffled-s0").mkdir(parents=True)
    (arm / "vdb-r0.80-shuffled-s0" / "history.json").write_text(
        json.dumps(
            [dict(epoch=e, val_f1=f, train_loss=1.0, val_loss=2.0) for e, f in ((1, 50.0), (2, 58.5), (3, 57.0))]
        )
    )
    (arm / "results.jsonl").write_text(json.dumps({**row("vdb", 0), "run_dir": "vdb-r0.80-shuffled-s0"}) + "\n")
    cli = [sys.executable, "-c", "import sys; from exbert.cli import main; sys.exit(main())", "tune"]
    tool = [
        *cli,
        "--study",
        "--data",
        "tests/data/synthetic",
        "--out",
        str(out / "tuning"),
        "--committed",
        str(committed),
    ]
    r = run(tool + ["--max-runs", "0"], cwd=ROOT)
    assert r.returncode == 0, r.stderr[-3000:]
    assert (out / "tuning" / "vdb-lr2x" / "vdb-r0.80-shuffled-s0" / "history.json").is_file()  # restored
    assert '"arm": "vdb-lr2x", "epoch": 2' in r.stdout and "curve arms still running" in r.stdout
    from exbert.core import native_bf16

    assert ("bf16 runs" in r.stdout) == (not native_bf16())  # the bf16 curve arms are skipped where bf16 is emulated
    assert not any(p.name == "checkpoints" for p in out.rglob("*"))  # nothing trained
    r = run(
        tool + ["--max-runs", "0", "--arms", "vdb-lr2x", "exbert-16e"], cwd=ROOT
    )  # only these arms: 1 run done, 3 to go
    assert r.returncode == 0 and "3 of 4 runs left" in r.stdout, (r.stdout, r.stderr[-2000:])
    r = run(tool + ["--arms", "no-such-arm"], cwd=ROOT)
    assert r.returncode == 2 and "invalid choice: 'no-such-arm'" in r.stderr
    r = run([*cli, "--report", "--committed", str(committed)], cwd=ROOT)
    assert r.returncode == 0, r.stderr[-3000:]
    rep = json.loads((committed / "tuning" / "study.json").read_text())
    assert (rep["runs"], rep["best"]["vdb"]["arm"], rep["best"]["vdb"]["epoch"], rep["best"]["exbert"]) == (
        1,
        "vdb-lr2x",
        2,
        None,
    )
    assert rep["table"][0]["best epoch (val F1)"] == "2 (58.5)" and rep["best_vs_best"] is None


def test_collect_tune_copies_the_record_of_a_search(tmp_path):
    """tools/collect_results.py --tune: best.json, trials.json and each trial's JSON files and model card; no n-best
    lists or weights."""
    src, dst = tmp_path / "tune", tmp_path / "committed"
    trial = src / "trials" / "l4-e8-lr0.0001-before"
    (trial / "model").mkdir(parents=True)
    for f in ("metrics.json", "history.json", "nbest_squad.json"):
        (trial / f).write_text("{}")
    (trial / "model" / "README.md").write_text("card")
    (trial / "model" / "model.safetensors").write_text("weights")
    (src / "best.json").write_text(json.dumps(dict(trials=1, run=str(trial))))
    (src / "trials.json").write_text(json.dumps([dict(number=0, run=str(trial), seconds=1.0)]))
    r = run([sys.executable, "tools/collect_results.py", "--tune", str(src), str(dst)], cwd=ROOT)
    assert r.returncode == 0 and "1 trials" in r.stdout, r.stderr[-2000:]
    got = sorted(p.relative_to(dst).as_posix() for p in dst.rglob("*") if p.is_file())
    assert got == [
        "best.json",
        "trials.json",
        *(f"trials/{trial.name}/{f}" for f in ("history.json", "metrics.json", "model_card.md")),
    ]
    (src / "trials.json").write_text(json.dumps([dict(number=3, run=str(src / "trials" / "gone"))]))
    r = run([sys.executable, "tools/collect_results.py", "--tune", str(src), str(dst)], cwd=ROOT)
    assert r.returncode != 0 and "trial 3 has no folder" in r.stderr


def test_collect_add_appends_only_new_runs(tmp_path):
    """tools/collect_results.py --add: the runs a committed grid lacks are copied and their rows appended as they are;
    the committed rows and folders stay byte for byte; adding twice adds nothing; a folder without a row is adopted
    if it is exactly --add's copy (a killed --add), else never replaced (exit 2, nothing changed)."""
    src, dst = tmp_path / "runs", tmp_path / "committed"
    old, new = dict(run_id="a-s0", squad_em=40.0), dict(run_id="a-s1", squad_em=41.25, run_dir="a-s1")
    for grid, rows in ((src, [old, new]), (dst, [old])):
        for r in rows:
            (grid / r["run_id"] / "model").mkdir(parents=True)
            (grid / r["run_id"] / "metrics.json").write_text(json.dumps(r))
            (grid / r["run_id"] / "nbest_squad.json").write_text("{}")
        (grid / "results.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (dst / "a-s0" / "metrics.json").write_text("committed")  # must survive
    committed = (dst / "results.jsonl").read_text()
    add = [sys.executable, "tools/collect_results.py", str(src), str(dst), "--add"]
    r = run(add, cwd=ROOT)
    assert r.returncode == 0 and "added 1 finished runs" in r.stdout, r.stderr[-2000:]
    assert (dst / "results.jsonl").read_text() == committed + json.dumps(new) + "\n"
    assert (dst / "a-s0" / "metrics.json").read_text() == "committed"
    assert sorted(p.name for p in (dst / "a-s1").iterdir()) == ["metrics.json"]  # no n-best lists
    r = run(add, cwd=ROOT)
    assert r.returncode == 0 and "added 0 finished runs" in r.stdout
    (dst / "results.jsonl").write_text(committed)  # a killed --add: a-s1's copy is there, its row is not
    r = run(add, cwd=ROOT)
    assert r.returncode == 0 and "added 1 finished runs" in r.stdout, r.stderr[-2000:]
    assert (dst / "results.jsonl").read_text() == committed + json.dumps(new) + "\n"
    (dst / "results.jsonl").write_text(committed)
    (dst / "a-s1" / "metrics.json").write_text("someone's")  # a folder that is not --add's copy: never replaced
    before = {p: p.read_bytes() for p in dst.rglob("*") if p.is_file()}
    r = run(add, cwd=ROOT)
    assert r.returncode == 2 and "not replaced" in r.stderr and "a-s1" in r.stderr
    assert {p: p.read_bytes() for p in dst.rglob("*") if p.is_file()} == before
    (src / "results.jsonl").write_text("{not json\n")
    r = run(add, cwd=ROOT)
    assert r.returncode == 2 and "results.jsonl, line 1: not JSON" in r.stderr


def test_batch1_experts_smoke(tmp_path):
    """tools/batch1_experts.py --smoke: the batch-1 split (profile by product, each product alone warm and cold) runs
    and writes its record."""
    out = tmp_path / "r.json"
    r = run([sys.executable, "tools/batch1_experts.py", "--smoke", "--out", str(out)], cwd=ROOT)
    assert r.returncode == 0, r.stderr[-3000:]
    rep = json.loads(out.read_text())
    assert (
        set(rep["models"]) == {"V-DB", "ExBERT-4L-8E", "ExBERT-4L-16E"}
        and rep["models"]["V-DB"]["speedup_vs_vdb"] == 1.0
    )
    ex = rep["models"]["ExBERT-4L-8E"]["profile"]["products"]
    assert ex["expert lin1"]["calls"] > 0 and ex["expert lin1"]["alone"]["n_weights"] == 8
    assert "expert lin1" not in rep["models"]["V-DB"]["profile"]["products"]
    assert all(p["us_per_row"] > 0 for p in ex.values())


def test_moe_backward_memory_smoke(tmp_path):
    """tools/moe_backward_memory.py --smoke: the before/after of the leaner MoE backward runs end to end and writes its
    record."""
    out = tmp_path / "r.json"
    r = run([sys.executable, "tools/moe_backward_memory.py", "--smoke", "--out", str(out)], cwd=ROOT)
    assert r.returncode == 0, r.stderr[-3000:]
    rep = json.loads(out.read_text())
    assert set(rep["memory"]["models"]) == {"V-DB", "ExBERT-4L-8E before", "ExBERT-4L-8E after"}
    assert all(m["peak_mib"] > 0 for m in rep["memory"]["models"].values())
    assert rep["moe_block"][0]["vs_ideal"]["after"] > 0 and rep["train"]["speedup_vs_vdb"]["V-DB"] == 1.0


def test_ruff_format_and_lint():
    """`ruff format --check` and `ruff check` pass on the notebooks, tools/ and tests/ (and `ruff check` on exbert/,
    their export)."""
    ruff = [sys.executable, "-m", "ruff"]
    fmt = run([*ruff, "format", "--check", "nbs", "tools", "tests"], cwd=ROOT)
    assert fmt.returncode == 0, "run `ruff format nbs tools tests`, then nbdev-export:\n" + fmt.stdout[-3000:]
    lint = run([*ruff, "check", "nbs", "tools", "tests", "exbert"], cwd=ROOT)
    assert lint.returncode == 0, lint.stdout[-3000:]


def test_ruff_check_bites(tmp_path):
    "The lint test can fail: a file with an unused import and two statements joined by `;` is reported."
    (tmp_path / "bad.py").write_text("import os\nx = 1; y = 2\n")
    r = run([sys.executable, "-m", "ruff", "check", "--config", str(ROOT / "pyproject.toml"), str(tmp_path / "bad.py")])
    assert r.returncode == 1 and "F401" in r.stdout and "E702" in r.stdout, r.stdout


def test_every_badge_notebook_installs_first():
    "A notebook opened from its Colab badge installs exbert (loudly: check=True) before any cell imports it."
    for nb in sorted((ROOT / "nbs").glob("*.ipynb")):
        cells = [c for c in json.loads(nb.read_text())["cells"] if c["cell_type"] == "code"]
        src = ["".join(c["source"]) for c in cells]
        if not any("colab-badge" in "".join(c["source"]) for c in json.loads(nb.read_text())["cells"]):
            continue
        install = next((i for i, s in enumerate(src) if "git+https://github.com/exbert-org/exbert" in s), None)
        first = next(i for i, s in enumerate(src) if "from exbert" in s or "import exbert" in s)
        assert install is not None and install <= first and "check=True" in src[install], nb.name


def test_no_progress_bars_stored(tmp_path):
    "No notebook stores a progress bar (the docs would show it); `tools/clean_outputs.py` removes them."
    r = run([sys.executable, str(ROOT / "tools" / "clean_outputs.py"), "--check"], cwd=ROOT)
    assert r.returncode == 0, r.stderr
    sys.path.insert(0, str(ROOT / "tools"))
    from clean_outputs import clean

    nb = tmp_path / "x.ipynb"
    bar = {"output_type": "stream", "name": "stderr", "text": ["\rLoading weights:  50%|#    | 1/2 [00:00<?, ?it/s]"]}
    err = {"output_type": "stream", "name": "stderr", "text": ["exbert: error: no such file\n"]}
    nb.write_text(json.dumps({"cells": [{"cell_type": "code", "outputs": [bar, err], "source": []}]}, indent=1))
    assert clean(nb) == 1 and json.loads(nb.read_text())["cells"][0]["outputs"] == [err]


def test_front_page_is_current(tmp_path):
    "The outputs stored in nbs/index.ipynb (the README's claims table) are what the committed results give today."
    r = run(
        [sys.executable, "-m", "jupyter", "nbconvert", "--to", "notebook", "--execute", "--output-dir", str(tmp_path)]
        + [str(ROOT / "nbs" / "index.ipynb")],
        cwd=ROOT / "nbs",
    )
    assert r.returncode == 0, r.stderr[-3000:]
    md = lambda nb: [
        "".join(o["data"]["text/markdown"])
        for c in json.loads(nb.read_text())["cells"]
        for o in c.get("outputs", [])
        if "text/markdown" in o.get("data", {})
    ]
    assert md(tmp_path / "index.ipynb") == md(ROOT / "nbs" / "index.ipynb"), (
        "rerun nbs/index.ipynb (jupyter nbconvert --execute --inplace) and python tools/make_readme.py"
    )


def test_run_tests_parallel_unless_told(monkeypatch):
    "tools/run_tests.py adds pytest-xdist's flags by itself, and none where the command line sets its own."
    monkeypatch.syspath_prepend(str(ROOT / "tools"))
    import run_tests

    for argv in (["-n", "0"], ["-n4"], ["--numprocesses", "2"], ["-p", "no:xdist"], ["--dist", "no"]):
        assert run_tests.parallel(argv) == [], argv
    monkeypatch.setattr(run_tests.importlib.util, "find_spec", lambda name: object())  # as if xdist were installed
    monkeypatch.setattr(run_tests.os, "sched_getaffinity", lambda pid: {0, 1, 2, 3, 4, 5}, raising=False)
    assert run_tests.parallel(["-k", "docs"]) == ["-n", "4", "--dist", "loadgroup"]  # up to 4 workers
    monkeypatch.setattr(run_tests.os, "sched_getaffinity", lambda pid: {0}, raising=False)
    assert run_tests.parallel([]) == []  # one core: one process
