"""Copy a grid's finished runs into the repository (JSON files only), so that they survive the machine.

    python tools/collect_results.py runs/standard nbs/results/standard [--figures]
    python tools/collect_results.py --tune runs/tune nbs/results/tune      # an `exbert tune` search
    python tools/collect_results.py runs/standard nbs/results/pending/standard --except nbs/results/standard
    python tools/collect_results.py runs/standard nbs/results/standard --add   # new seeds into the committed grid

Copies `results.jsonl` and, of every run in it, its JSON files (history, metrics, predictions, routing, run
config) and its model card; never n-best lists (1.7 MB a run; their scores are in metrics.json), checkpoints or
model weights. Rerun it as more runs finish: it replaces the copy. With --add, DST is a committed grid: only the
runs it lacks are copied, their rows appended to its table as they are; a run folder already there is never
replaced (exit 2, nothing changed) unless it is exactly the copy --add makes (an --add killed before its rows went
in), so adding twice adds nothing. With --tune, SRC is a search folder of
`exbert tune`: its best.json and trials.json, and the same JSON files of every trial folder in trials.json."""

import argparse
import shutil
import sys
from pathlib import Path


def collect(src: Path, dst: Path, skip: Path | None = None) -> int:
    "Copy the finished runs of grid folder `src` to `dst` (those not already in grid folder `skip`); returns how many."
    from exbert.results import read_results_jsonl
    from exbert.experiments import append_result

    table = src / "results.jsonl"
    if not table.is_file():
        sys.exit(f"{table}: no results table (no finished run yet?)")
    rows = read_results_jsonl(table)
    if skip is not None:  # only the runs the committed grid lacks, with a table of their own
        have = {r["run_id"] for r in read_results_jsonl(skip / "results.jsonl")}
        rows = [r for r in rows if r["run_id"] not in have]
        (dst / "results.jsonl").unlink(missing_ok=True)
        for r in rows:
            append_result(dst / "results.jsonl", r)
    dst.mkdir(parents=True, exist_ok=True)
    for r in rows:
        run = src / (r.get("run_dir") or r["run_id"])
        out = dst / run.name
        if not run.is_dir():  # a row restored from an earlier commit without its folder: keep the committed copy
            if not out.is_dir():
                sys.exit(f"{table}: run {r['run_id']} has no folder {run} and no copy in {dst}")
            print(f"{r['run_id']}: no folder in {src}; keeping {out}")
            continue
        copy_run(run, out)
    if skip is None:
        shutil.copy2(table, dst / "results.jsonl")
    return len(rows)


def add(src: Path, dst: Path) -> int:
    "Add to committed grid `dst` the finished runs of grid folder `src` that it lacks; returns how many."
    import json

    from exbert.core import atomic_write

    def rows(table: Path) -> list[tuple[str, dict]]:
        if not table.is_file():
            fail(f"{table}: no results table")
        out = []
        for i, line in enumerate(table.read_text().splitlines(), 1):
            try:
                out += [(line, json.loads(line))] if line.strip() else []
            except json.JSONDecodeError as e:
                fail(f"{table}, line {i}: not JSON ({e.msg})")
        return out

    have = {r["run_id"] for _, r in rows(dst / "results.jsonl")}
    new = [
        (line, src / (r.get("run_dir") or r["run_id"]))
        for line, r in rows(src / "results.jsonl")
        if r["run_id"] not in have
    ]
    if lost := [str(run) for _, run in new if not run.is_dir()]:
        fail(f"{src / 'results.jsonl'}: runs without a folder: {', '.join(lost)}; nothing added")
    # a folder without a row that is exactly the copy --add makes is a killed --add's: its row goes in; any other
    # such folder is someone's, and never replaced
    if clash := [
        str(dst / run.name) for _, run in new if (dst / run.name).exists() and not is_copy(dst / run.name, run)
    ]:
        fail(f"{dst}: folders without a row, not replaced: {', '.join(clash)}; nothing added")
    for _, run in new:
        if not (dst / run.name).exists():
            copy_run(run, dst / run.name)
    text = (dst / "results.jsonl").read_text()
    atomic_write(dst / "results.jsonl", text.rstrip("\n") + "\n" * bool(text) + "".join(f"{line}\n" for line, _ in new))
    return len(new)


def fail(message: str) -> None:
    "Bad input: say why on stderr and exit 2, nothing changed."
    print(message, file=sys.stderr)
    sys.exit(2)


def run_files(run: Path) -> dict[str, Path]:
    "What `copy_run` copies from run folder `run`: its JSON files (no n-best lists) and its model card, by name there."
    files = {f.name: f for f in run.glob("*.json") if not f.name.startswith("nbest")}  # n-best: 1.7 MB a run
    for card in (run / "model" / "README.md", run / "model_card.md"):  # a run restored from a commit has the copy
        if card.is_file():
            files["model_card.md"] = card
    return files


def copy_run(run: Path, out: Path) -> None:
    "Replace `out` with the JSON files (no n-best lists) and model card of run folder `run`."
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    for name, f in run_files(run).items():
        shutil.copy2(f, out / name)


def is_copy(out: Path, run: Path) -> bool:
    "Whether folder `out` holds exactly what `copy_run(run, out)` writes, byte for byte."
    have = {f.name: f for f in out.iterdir()} if out.is_dir() else None
    want = run_files(run)
    return (
        have is not None
        and have.keys() == want.keys()
        and all(have[n].is_file() and have[n].read_bytes() == f.read_bytes() for n, f in want.items())
    )


def collect_tune(src: Path, dst: Path) -> int:
    """Copy the record of `exbert tune` search folder `src` (best.json, trials.json, each trial's JSON files) to `dst`;
    returns how many trials."""
    import json

    files = [src / "best.json", src / "trials.json"]
    if not all(f.is_file() for f in files):
        sys.exit(f"{src}: no best.json and trials.json (the search has not finished a trial yet?)")
    rows = json.loads(files[1].read_text())
    for r in rows:
        run = Path(r["run"])
        if not run.is_dir():
            sys.exit(f"{files[1]}: trial {r['number']} has no folder {run}")
        copy_run(run, dst / "trials" / run.name)
    for f in files:
        shutil.copy2(f, dst / f.name)
    return len(rows)


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("src")
    ap.add_argument("dst")
    ap.add_argument("--figures", action="store_true", help="also draw the grid's figures into DST/figures")
    ap.add_argument("--tune", action="store_true", help="SRC is an `exbert tune` search folder")
    ap.add_argument(
        "--except",
        dest="skip",
        help="copy only the runs that this committed grid folder lacks "
        "(e.g. seeds beyond a report's, kept apart until the report takes them in)",
    )
    ap.add_argument(
        "--add", action="store_true", help="DST is a committed grid: add the runs it lacks, append their rows"
    )
    a = ap.parse_args()
    if a.add:
        if a.tune or a.skip or a.figures:
            ap.error("--add takes no other option")
        print(f"added {add(Path(a.src), Path(a.dst))} finished runs of {a.src} to {a.dst}")
        sys.exit()
    if a.tune:
        if a.figures:
            ap.error("--figures is for grids")
        print(f"copied the record of {collect_tune(Path(a.src), Path(a.dst))} trials of {a.src} to {a.dst}")
        sys.exit()
    n = collect(Path(a.src), Path(a.dst), Path(a.skip) if a.skip else None)
    print(f"copied {n} finished runs of {a.src} to {a.dst}")
    if a.figures:
        from exbert.experiments import draw_figures

        for p in draw_figures(Path(a.dst)):
            print("wrote", p)
