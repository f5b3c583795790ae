"""Nothing lost, nothing silently wrong: every command on bad input, faults and reruns (issue #35).

Each bad-input case runs an `exbert` command and asserts three things: exit code 2, a message that names the file,
record and field (or the folder) at fault, and that nothing on disk changed (a user's folder, the model folders, the
working directory). The kill tests kill -9 a training run during an epoch checkpoint and during the final save, rerun
it, and check that it resumes, says so, and leaves a model folder that evaluates. Everything runs on the committed
synthetic data and a tiny randomly initialised backbone."""

import contextlib
import gzip
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.xdist_group("safety")  # one worker trains the `world` (a module fixture) once
ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data" / "synthetic"


def tiny_args(epochs=1) -> list[str]:
    "The tiny run's settings as `exbert train` flags."
    return [
        "--n-train",
        "32",
        "--max-length",
        "128",
        "--stride",
        "32",
        "--epochs",
        str(epochs),
        "--batch-size",
        "8",
        "--squad-eval",
        "8",
        "--bioasq-eval",
        "8",
        "--val-size",
        "8",
    ]


TINY = tiny_args()
EXBERT = str(Path(sys.executable).parent / "exbert")
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def exbert(*argv) -> tuple[int, str, str]:
    "Run `exbert ARGV` in this process: exit code, stdout, stderr (argparse's own exits included)."
    from exbert.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            rc = main([str(a) for a in argv])
        except SystemExit as e:
            rc = e.code
    return rc, out.getvalue(), err.getvalue()


def snapshot(*roots: Path) -> dict:
    "Every path under `roots` with its size, mode and modification time: equal snapshots mean nothing changed."
    snap = {}
    for root in roots:
        for p in [root, *root.rglob("*")]:
            st = p.lstat()
            snap[str(p)] = (p.is_dir(), st.st_size, st.st_mode, st.st_mtime_ns)
    return snap


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    "A tiny backbone, a trained V-DB and a trained ExBERT run (the real `exbert train`), and question files."
    from exbert.data import load_squad
    from exbert.train import tiny_backbone

    base = tmp_path_factory.mktemp("world")
    tiny = tiny_backbone(base / "tiny")
    runs = {}
    for name, extra in {
        "vdb": ["--model", "vdb"],
        "exbert": ["--model", "exbert", "--n-layers", "2", "--n-experts", "2"],
    }.items():
        rc, out, err = exbert("train", *extra, "--backbone", tiny, "--data", DATA, "--out", base / name, *TINY)
        assert rc == 0, err[-3000:]
        runs[name] = base / name
    dev = load_squad(DATA / "squad" / "squad-v1.1-dev.json.gz").select(range(6))
    rows = [dict(id=r["id"], question=r["question"], context=r["context"], answers=r["answers"]) for r in dev]
    return dict(base=base, tiny=tiny, runs=runs, rows=rows)


def jsonl(path: Path, rows: list[dict]) -> Path:
    text = "".join(json.dumps(r) + "\n" for r in rows)
    path.write_bytes(gzip.compress(text.encode())) if path.name.endswith(".gz") else path.write_text(text)
    return path


# --- every command on bad input: exit 2, a message naming what is wrong, nothing on disk changed -----------------


def _thesis(tmp: Path) -> Path:
    d = tmp / "thesis"
    d.mkdir()
    (d / "chapter1.tex").write_text("years of work")
    return d


def _bad_data(tmp: Path) -> Path:
    d = tmp / "bad"
    shutil.copytree(DATA, d)
    (d / "squad" / "squad-v1.1-dev.json.gz").write_bytes(gzip.compress(b"{not json"))
    return d


def _interrupted(tmp: Path, w) -> Path:
    "A run of the tiny V-DB interrupted after its first epoch checkpoint (as a kill leaves it)."
    from exbert.train import RUN_CONFIG, RUN_MARKER, make_config, write_json
    from dataclasses import asdict

    out = tmp / "interrupted"
    c = make_config(
        "vdb",
        backbone=str(w["tiny"]),
        data=str(DATA),
        out=str(out),
        n_train=32,
        max_length=128,
        stride=32,
        epochs=40,
        batch_size=8,
        squad_eval=8,
        bioasq_eval=8,
        val_size=8,
    )
    ck = out / "checkpoints" / "checkpoint-4"
    ck.mkdir(parents=True)
    (out / RUN_MARKER).touch()
    write_json(out / RUN_CONFIG, asdict(c))
    (ck / "trainer_state.json").write_text(json.dumps({"epoch": 1.0}))
    (ck / "model.safetensors").write_bytes(b"weights")
    return out


def _model_copy(tmp: Path, w, name="vdb") -> Path:
    d = tmp / f"{name}-model"
    shutil.copytree(w["runs"][name] / "model", d)
    return d


def _truncated(tmp, w):
    d = _model_copy(tmp, w)
    f = d / "model.safetensors"
    f.write_bytes(f.read_bytes()[:-1000])
    return d


def _torn_tokenizer(tmp, w):
    d = _model_copy(tmp, w)
    (d / "tokenizer_config.json").write_text("")
    return d


def _no_tokenizer(tmp, w):
    d = _model_copy(tmp, w)
    for f in ("tokenizer.json", "vocab.txt", "tokenizer_config.json", "special_tokens_map.json"):
        (d / f).unlink(missing_ok=True)
    return d


def _mismatched(tmp, w):
    d = _model_copy(tmp, w, "exbert")
    cfg = json.loads((d / "config.json").read_text())
    cfg["n_experts"] = 3
    (d / "config.json").write_text(json.dumps(cfg))
    return d


def _remote_code(tmp, w):
    "A folder whose config asks for its own code; loading it must neither prompt nor run that code."
    d = _model_copy(tmp, w)
    cfg = json.loads((d / "config.json").read_text())
    cfg.update(
        model_type="not-exbert", auto_map={"AutoConfig": "evil.Config", "AutoModelForQuestionAnswering": "evil.Model"}
    )
    (d / "config.json").write_text(json.dumps(cfg))
    (d / "evil.py").write_text(f"open({str(tmp / 'PWNED')!r}, 'w').write('ran')\n")
    return d


def _q(tmp, w, answers=None, name="q.jsonl", dup=False):
    rows = [dict(r) for r in w["rows"]]
    if answers is not None:
        rows[0]["answers"] = answers
    if dup:
        rows[3]["id"] = rows[1]["id"]
    return jsonl(tmp / name, rows)


def _gold_bad(tmp):
    f = tmp / "gold.json"
    f.write_text('{"questions": [{"id": 1}]')
    return f


MODEL = lambda w: w["runs"]["vdb"] / "model"
TRAIN = lambda w: ["train", "--backbone", w["tiny"], *TINY]

CASES = {  # name: (argv from (tmp, world), what the message must name)
    "train --out a user's folder, bad data": (
        lambda t, w: [*TRAIN(w), "--data", _bad_data(t), "--out", _thesis(t)],
        ["thesis", "not an exbert run folder"],
    ),
    "train --out a user's folder, good data": (
        lambda t, w: [*TRAIN(w), "--data", DATA, "--out", _thesis(t)],
        ["not an exbert run folder"],
    ),
    "train --out a user's folder --overwrite": (
        lambda t, w: [*TRAIN(w), "--data", DATA, "--out", _thesis(t), "--overwrite"],
        ["not an exbert run folder"],
    ),
    "train on data that is not JSON": (
        lambda t, w: [*TRAIN(w), "--data", _bad_data(t), "--out", t / "new"],
        ["squad-v1.1-dev.json.gz", "not JSON"],
    ),
    "train on a missing data folder": (
        lambda t, w: [*TRAIN(w), "--data", t / "nowhere", "--out", t / "new"],
        ["nowhere", "not found"],
    ),
    "rerun an interrupted run with another setting": (
        lambda t, w: ["train", "--backbone", w["tiny"], "--data", DATA, "--out", _interrupted(t, w), *tiny_args(41)],
        ["interrupted", "epochs: 40 -> 41", "--overwrite"],
    ),
    "train --max-length 10": (
        lambda t, w: [*TRAIN(w), "--data", DATA, "--out", t / "new", "--max-length", "10", "--stride", "2"],
        ["field 'question'", "raise max_length"],
    ),
    "train --stride 60 --max-length 64": (
        lambda t, w: [*TRAIN(w), "--data", DATA, "--out", t / "new", "--max-length", "64", "--stride", "60"],
        ["field 'question'", "lower stride"],
    ),
    "train --max-length 1000": (
        lambda t, w: [*TRAIN(w), "--data", DATA, "--out", t / "new", "--max-length", "1000"],
        ["max_length=1000", "512 positions"],
    ),
    "train --batch-size 0": (
        lambda t, w: [*TRAIN(w), "--data", DATA, "--out", t / "new", "--batch-size", "0"],
        ["batch_size=0"],
    ),
    "train --model vdb --n-experts 3": (
        lambda t, w: [*TRAIN(w), "--data", DATA, "--out", t / "new", "--model", "vdb", "--n-experts", "3"],
        ["n_experts", "ExBERT-only"],
    ),
    "train --model exbert --n-layers 0": (
        lambda t, w: [*TRAIN(w), "--data", DATA, "--out", t / "new", "--model", "exbert", "--n-layers", "0"],
        ["n_layers=0"],
    ),
    "train an offline hub backbone": (
        lambda t, w: ["train", "--backbone", "no-such/backbone", "--data", DATA, "--out", t / "new"],
        ["no-such/backbone", "--backbone standin"],
    ),
    "predict with a model path that does not exist": (
        lambda t, w: ["predict", "runs/none/model", _q(t, w), "--out", t / "p.json"],
        ["runs/none/model", "does not exist"],
    ),
    "predict with a truncated model.safetensors": (
        lambda t, w: ["predict", _truncated(t, w), _q(t, w), "--out", t / "p.json"],
        ["model.safetensors", "truncated"],
    ),
    "evaluate with a torn tokenizer_config.json": (
        lambda t, w: ["evaluate", _torn_tokenizer(t, w), _q(t, w)],
        ["tokenizer_config.json", "not valid JSON"],
    ),
    "evaluate a folder without tokenizer files": (
        lambda t, w: ["evaluate", _no_tokenizer(t, w), _q(t, w)],
        ["vdb-model", "no tokenizer files"],
    ),
    "evaluate weights that do not match the config": (
        lambda t, w: ["evaluate", _mismatched(t, w), _q(t, w)],
        ["do not match config.json", "experts"],
    ),
    "evaluate a folder that asks for its own code": (
        lambda t, w: ["evaluate", _remote_code(t, w), _q(t, w)],
        ["vdb-model", "could not be loaded"],
    ),
    "JSON Lines: answers.text a string beside a list": (
        lambda t, w: ["evaluate", MODEL(w), _q(t, w, {"text": "Paris", "answer_start": [3]})],
        ["q.jsonl", "field 'answers'"],
    ),
    "JSON Lines: answers a bare string": (
        lambda t, w: ["evaluate", MODEL(w), _q(t, w, "Paris")],
        ["q.jsonl", "field 'answers'"],
    ),
    "JSON Lines: answer_start not an integer": (
        lambda t, w: ["evaluate", MODEL(w), _q(t, w, [{"text": "a", "answer_start": "3"}])],
        ["answers.answer_start"],
    ),
    "JSON Lines: duplicate ids": (
        lambda t, w: ["predict", MODEL(w), _q(t, w, dup=True), "--out", t / "p.json"],
        ["q.jsonl", "line 4", "duplicate id"],
    ),
    "JSON Lines: a line that is not JSON": (
        lambda t, w: ["predict", MODEL(w), _broken_jsonl(t), "--out", t / "p.json"],
        ["b.jsonl", "line 2", "not JSON"],
    ),
    "predict --batch-size 0": (
        lambda t, w: ["predict", MODEL(w), _q(t, w), "--batch-size", "0", "--out", t / "p.json"],
        ["--batch-size", "positive integer"],
    ),
    "predict --max-length 1000": (
        lambda t, w: ["predict", MODEL(w), _q(t, w), "--max-length", "1000", "--out", t / "p.json"],
        ["max_length=1000", "positions"],
    ),
    "predict --stride 60 --max-length 64": (
        lambda t, w: ["predict", MODEL(w), _q(t, w), "--max-length", "64", "--stride", "60", "--out", t / "p.json"],
        ["field 'question'"],
    ),
    "evaluate --gold not JSON": (lambda t, w: ["evaluate", MODEL(w), _q(t, w), "--gold", _gold_bad(t)], ["gold.json"]),
    "demo with a truncated model.safetensors": (lambda t, w: ["demo", _truncated(t, w), "--port", "0"], ["truncated"]),
    "reproduce on a missing data folder": (
        lambda t, w: [
            "reproduce",
            "--preset",
            "quick",
            "--data",
            t / "nowhere",
            "--backbone",
            w["tiny"],
            "--out",
            t / "grid",
        ],
        ["nowhere", "not found"],
    ),
}


def _broken_jsonl(tmp):
    f = tmp / "b.jsonl"
    f.write_text('{"id": "a", "question": "q?", "context": "c."}\n{"id": "b", "question"\n')
    return f


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input(case, world, tmp_path, monkeypatch):
    argv, must_name = CASES[case]
    monkeypatch.chdir(tmp_path)  # a command that wrote a default output here would show in the snapshot
    args = argv(tmp_path, world)
    before = snapshot(tmp_path, world["runs"]["vdb"], world["runs"]["exbert"])
    rc, out, err = exbert(*args)
    assert rc == 2, f"{case}: exit {rc}\n{out[-2000:]}\n{err[-3000:]}"
    assert "Traceback" not in err, err[-3000:]
    msg = err.lower()
    for m in must_name:
        assert m.lower() in msg, f"{case}: {m!r} not in the message:\n{err[-2000:]}"
    assert snapshot(tmp_path, world["runs"]["vdb"], world["runs"]["exbert"]) == before, (
        f"{case}: something on disk changed"
    )
    assert not (tmp_path / "PWNED").exists()


def test_locked_run_folder(world, tmp_path):
    "A second `train` on a folder another process is training exits 2 with one line naming that process."
    from exbert.train import run_lock

    out = tmp_path / "busy"
    with run_lock(out):  # flock: a second open file description conflicts, as another process's would
        rc, _, err = exbert(*TRAIN(world), "--data", DATA, "--out", out)
    assert rc == 2 and f"pid {os.getpid()}" in err and "Traceback" not in err, err[-2000:]


def test_locked_grid_folder(world, tmp_path):
    "A second `reproduce` on a grid another process is running exits 2 naming that process, and starts no run."
    from exbert.train import run_lock

    out = tmp_path / "grid"
    with run_lock(out):
        rc, _, err = exbert(
            "reproduce",
            "--preset",
            "quick",
            "--data",
            DATA,
            "--backbone",
            world["tiny"],
            "--out",
            out,
            "--n-train",
            "16",
            "--workers",
            "1",
        )
    assert rc == 2 and f"pid {os.getpid()}" in err and "Traceback" not in err, err[-2000:]
    assert not out.exists()


# --- the accepted JSON Lines shapes give the right answers --------------------------------------------------------


@pytest.mark.parametrize("shape", ["columns", "squad-list", "one-object", "gzipped"])
def test_jsonl_answer_shapes(shape, world, tmp_path):
    """Every accepted shape of `answers` scores like the SQuAD file it came from (a string is never split into
    characters)."""
    from exbert.predict import read_questions

    rows = [dict(r) for r in world["rows"]]
    for r in rows:
        a = r["answers"]
        if shape == "squad-list":
            r["answers"] = [dict(text=t, answer_start=s) for t, s in zip(a["text"], a["answer_start"])]
        if shape == "one-object":
            r["answers"] = dict(text=a["text"][0], answer_start=a["answer_start"][0])
    f = jsonl(tmp_path / ("q.jsonl.gz" if shape == "gzipped" else "q.jsonl"), rows)
    qs = read_questions(f)
    want = [r["answers"]["text"][:1] if shape == "one-object" else r["answers"]["text"] for r in world["rows"]]
    assert [a["text"] for a in qs["answers"]] == want
    rc, out, err = exbert("evaluate", MODEL(world), f, "--json")
    assert rc == 0 and json.loads(out)["n"] == len(rows), err[-2000:]


def test_jsonl_answers_not_in_context_and_unanswered(world, tmp_path):
    "An answer not in its context is dropped with a count (as in SQuAD files); questions without answers are counted."
    from exbert.predict import read_questions

    rows = [dict(r) for r in world["rows"]]
    rows[0]["answers"] = {"text": ["not in this context at all"], "answer_start": [0]}
    rows[1]["answers"] = []
    f = jsonl(tmp_path / "q.jsonl", rows)
    with pytest.warns(UserWarning, match="dropped 1 answers"):
        qs = read_questions(f)
    assert len(qs) == len(rows)  # every question is still answered
    rc, out, err = exbert("evaluate", MODEL(world), f, "--json")
    m = json.loads(out)
    assert rc == 0 and (m["n"], m["n_without_answers"]) == (len(rows) - 2, 2)
    assert "2 questions" in err and "not scored" in err
    rc, out, err = exbert("predict", MODEL(world), f, "--out", tmp_path / "p.json")
    assert rc == 0 and len(json.loads((tmp_path / "p.json").read_text())) == len(rows)


def test_run_files_readable(world):
    "Every file a run writes has the mode `open` gives (0644 under umask 022), metrics and card included."
    um = os.umask(0)
    os.umask(um)
    run = world["runs"]["vdb"]
    for f in ("metrics.json", "history.json", "run_config.json", "DONE", "model/README.md", "model/config.json"):
        assert (run / f).stat().st_mode & 0o777 == 0o666 & ~um, f


def test_overwrite_removes_only_the_runs_files(world, tmp_path):
    "`--overwrite` redoes a finished run; a file of the user's inside the run folder stays."
    out = tmp_path / "run"
    shutil.copytree(world["runs"]["vdb"], out)
    (out / "my-notes.txt").write_text("mine")
    rc, _, err = exbert(*TRAIN(world), "--data", DATA, "--out", out)
    assert rc == 2 and "finished run" in err
    rc, _, err = exbert(*TRAIN(world), "--data", DATA, "--out", out, "--overwrite")
    assert rc == 0, err[-2000:]
    assert (out / "my-notes.txt").read_text() == "mine" and (out / "DONE").exists()


# --- kill -9 during training and during the save, then rerun -------------------------------------------------------

KILLER = """
import os, signal, sys
import exbert.train as T, exbert.predict as P, transformers
when = sys.argv[1]
if when == "checkpoint":   # killed right after the first epoch checkpoint is on disk
    orig = T.QATrainer._save_checkpoint
    def save(self, *a, **k): orig(self, *a, **k); os.kill(os.getpid(), signal.SIGKILL)
    T.QATrainer._save_checkpoint = save
else:                      # killed in the middle of writing the model folder: weights written, tokenizer torn
    orig = transformers.PreTrainedTokenizerBase.save_pretrained
    def save(self, path, *a, **k):
        if ".model." not in str(path): return orig(self, path, *a, **k)   # epoch checkpoints save it too
        open(os.path.join(path, "tokenizer_config.json"), "w").close(); os.kill(os.getpid(), signal.SIGKILL)
    transformers.PreTrainedTokenizerBase.save_pretrained = save
from exbert.cli import main
sys.exit(main(sys.argv[2:]))
"""


@pytest.mark.parametrize("when", ["checkpoint", "save"])
def test_kill_and_rerun(when, world, tmp_path):
    out = tmp_path / "run"
    argv = [*TRAIN(world), "--data", DATA, "--out", out, "--epochs", "2"]
    p = subprocess.run(
        [sys.executable, "-c", KILLER, when, *map(str, argv)], capture_output=True, text=True, cwd=tmp_path
    )
    assert p.returncode == -signal.SIGKILL, p.stderr[-3000:]
    assert not (out / "DONE").exists() and not (out / "model").exists()  # a torn model folder never takes the name
    assert list((out / "checkpoints").glob("checkpoint-*/trainer_state.json"))
    p = subprocess.run([EXBERT, *map(str, argv)], capture_output=True, text=True, cwd=tmp_path)
    assert p.returncode == 0, p.stderr[-3000:]
    assert "resuming from checkpoint" in p.stderr and "(epoch " in p.stderr, p.stderr[-2000:]
    assert (out / "DONE").exists() and not [f for f in out.iterdir() if f.name.startswith(".model.")]
    rc, o, err = exbert("evaluate", out / "model", _q(tmp_path, world), "--json")
    assert rc == 0 and 0 <= json.loads(o)["f1"] <= 100, err[-2000:]


def test_grid_workers_exit_with_their_parent(tmp_path):
    "A grid's workers (`grid_worker`) exit on their own when the process that started them is killed."
    script = textwrap.dedent(f"""
        import multiprocessing, os, signal, sys, time
        from concurrent.futures import ProcessPoolExecutor
        from pathlib import Path
        from exbert.core import grid_worker
        def init(*a):
            grid_worker(*a); Path({str(tmp_path)!r}, f"worker-{{os.getpid()}}").touch()
        if __name__ == "__main__":
            ctx = multiprocessing.get_context("spawn")
            pool = ProcessPoolExecutor(2, mp_context=ctx, initializer=init, initargs=(1, [], ctx.Value("i", 0)))
            for _ in range(2): pool.submit(time.sleep, 600)   # both busy: two workers
            while len(list(Path({str(tmp_path)!r}).glob("worker-*"))) < 2: time.sleep(0.1)
            os.kill(os.getpid(), signal.SIGKILL)
    """)
    (tmp_path / "grid.py").write_text(script)
    p = subprocess.run([sys.executable, str(tmp_path / "grid.py")], capture_output=True, text=True, timeout=120)
    assert p.returncode == -signal.SIGKILL, p.stderr[-2000:]
    pids = [int(f.name.split("-")[1]) for f in tmp_path.glob("worker-*")]
    assert len(pids) == 2
    deadline = time.time() + 30
    alive = lambda pid: Path(f"/proc/{pid}").exists() and "zombie" not in Path(f"/proc/{pid}/status").read_text()
    while time.time() < deadline and any(alive(pid) for pid in pids):
        time.sleep(0.2)
    assert not any(alive(pid) for pid in pids), f"workers {pids} outlived their parent"
