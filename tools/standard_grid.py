"""Run the `standard` grid (exbert reproduce --preset standard) together with its speed-lever checks, resumably.

Runs already committed under nbs/results/<grid>/ (by tools/collect_results.py) count as finished, so a new
machine continues where the last one stopped instead of starting over.

A check reruns the 80:20 shuffled runs of `vdb-tuned` and `exbert` (3 seeds) with one speed lever switched on, in
its own grid folder, each queued right after its partner so that the two pair by seed (the accuracy difference):
  grouped  length-grouped batches (`group_by_length=True`), folder standard-grouped
  fast     length-grouped batches and bf16 autocast (`bf16=True`), folder standard-fast
Both have run (fast: 3 seeds; grouped: 3 of 6 runs) and are reported in 07_results; by default the grid runs alone.
Rerun the same command to resume; finished runs are never repeated.

By default the 80:20 shuffled cell (the paper's headline mixture) goes first: its 3 seeds of the tuned arms
(`vdb-tuned`, `exbert`, with any check partners), then paper-settings `vdb`; then the other cells, seed-major.
`--first 0 1` queues the 0:100 and then the 100:0 cell next the same way (to finish whole cells sooner).

    python tools/standard_grid.py [--data ../shared/data] [--out runs] [--workers 2] [--max-runs N]
                                  [--no-headline-first] [--first RATIO ...] [--checks grouped fast] [--checks-only]
                                  [--headline-seeds N]
"""

import argparse
import dataclasses
import shutil
from pathlib import Path

from exbert.experiments import append_result, preset_configs, read_results, report_grid, run_grid
from exbert.train import run_id
import pandas as pd

CHECKS = {"grouped": dict(group_by_length=True), "fast": dict(group_by_length=True, bf16=True)}


def restore(out: Path, committed: Path, name: str) -> None:
    "Copy the rows and run folders committed under `committed/name` into `out/name` (finished runs are not rerun)."
    have = {r["run_id"] for r in read_results(out / name / "results.jsonl")}
    for r in read_results(committed / name / "results.jsonl"):
        if r["run_id"] not in have:
            append_result(out / name / "results.jsonl", r)
        run, saved = out / name / r["run_id"], committed / name / r["run_id"]
        if not run.exists() and saved.is_dir():
            shutil.copytree(saved, run)  # its predictions, for the figures


def grid_parser(doc: str) -> argparse.ArgumentParser:
    "The options every long-run tool shares: data, output and committed folders, workers, a bound on new runs."
    ap = argparse.ArgumentParser(description=doc.splitlines()[0])
    ap.add_argument("--data", default="../shared/data")
    ap.add_argument("--out", default="runs")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--max-runs", type=int)
    ap.add_argument("--committed", default="nbs/results", help="where finished runs are committed (they are not rerun)")
    return ap


def priority(c, first: list[float]) -> tuple:
    "Sort key: the shuffled cells at the ratios in `first` in that order, each's tuned arms before `vdb`; then the rest (sorted() is stable)."
    rank = first.index(c.ratio) if c.order == "shuffled" and c.ratio in first else len(first)
    return (rank, rank < len(first) and c.preset == "vdb")


def main():
    ap = grid_parser(__doc__)
    ap.add_argument(
        "--headline-first",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="queue the 80:20 shuffled cell first (its 3 seeds, the tuned arms before paper-settings V-DB)",
    )
    ap.add_argument(
        "--first",
        nargs="*",
        type=float,
        default=[],
        metavar="RATIO",
        help="queue the shuffled cells at these SQuAD fractions next (after the headline cell), in this order, "
        "the tuned arms of each before paper-settings vdb: e.g. --first 0 1 to finish the single-domain cells",
    )
    ap.add_argument(
        "--checks",
        nargs="*",
        choices=list(CHECKS),
        default=[],
        help="speed-lever checks whose partners are queued after each 80:20 tuned run (default none: the grid alone)",
    )
    ap.add_argument(
        "--checks-only", action="store_true", help="run only the checks' partners, not the rest of the grid"
    )
    ap.add_argument(
        "--headline-seeds",
        type=int,
        default=3,
        help="seeds of the 80:20 shuffled cell, its check partners included (default 3, the preset's)",
    )
    a = ap.parse_args()
    out, committed = Path(a.out), Path(a.committed)
    for name in ["standard"] + [f"standard-{k}" for k in CHECKS]:
        for where in (committed, committed / "pending"):  # pending: finished seeds the report has not taken in yet
            if (where / name / "results.jsonl").is_file():
                restore(out, where, name)
    data = str(Path(a.data).resolve())
    std = preset_configs("standard", out / "standard", data=data)
    more = preset_configs(
        "standard", out / "standard", seeds=a.headline_seeds, ratios=(0.8,), orders=("shuffled",), data=data
    )
    std += [c for c in more if run_id(c) not in {run_id(s) for s in std}]  # seeds beyond the preset's 3
    cell = [c for c in std if c.ratio == 0.8 and c.order == "shuffled" and c.preset in ("vdb-tuned", "exbert")]
    chk = {
        k: {run_id(c): dataclasses.replace(c, **CHECKS[k], out=str(out / f"standard-{k}" / run_id(c))) for c in cell}
        for k in CHECKS
    }
    first = list(
        dict.fromkeys(([0.8] if a.headline_first else []) + a.first)
    )  # the headline cell, then --first, each once
    std = sorted(std, key=lambda c: priority(c, first))
    order = []
    for c in std:
        if not a.checks_only:
            order.append(c)
        order += [chk[k][run_id(c)] for k in a.checks if run_id(c) in chk[k]]
    run_grid(order, out / "standard", max_runs=a.max_runs, workers=a.workers)
    for name, cs in [("standard", std)] + [(f"standard-{k}", list(chk[k].values())) for k in CHECKS]:
        ids = {run_id(c) for c in cs}
        done = [r for r in read_results(out / name / "results.jsonl") if r["run_id"] in ids]  # queued or not
        report_grid(name, out / name, cs, pd.DataFrame(done))


if __name__ == "__main__":  # the grid's workers are spawned processes that import this file
    main()
