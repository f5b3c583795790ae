"""Run the `standard` grid (exbert reproduce --preset standard) together with its length-grouping check, resumably.

Runs already committed under nbs/results/<grid>/ (by tools/collect_results.py) count as finished, so a new
machine continues where the last one stopped instead of starting over.

The check: the same 80:20 runs of `vdb-tuned` and `exbert` (3 seeds) with `group_by_length=True`, in their own grid
folder, each queued right after its random-batch partner so that the two train side by side (the speed ratio)
and pair by seed (the accuracy difference). Rerun the same command to resume; finished runs are never repeated.

By default the 80:20 shuffled cell (the paper's headline mixture) goes first: its 3 seeds of the tuned arms
(`vdb-tuned`, `exbert`, with their grouped partners), then paper-settings `vdb`; then the other cells, seed-major.

    python tools/standard_grid.py [--data ../shared/data] [--out runs] [--workers 2] [--max-runs N] [--no-headline-first] [--no-grouped]
"""
import argparse, dataclasses, shutil
from pathlib import Path

from exbert.experiments import append_result, preset_configs, read_results, report_grid, run_grid
from exbert.train import run_id
import pandas as pd

def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default="../shared/data")
    ap.add_argument("--out", default="runs")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--max-runs", type=int)
    ap.add_argument("--committed", default="nbs/results", help="where finished runs are committed (they are not rerun)")
    ap.add_argument("--headline-first", action=argparse.BooleanOptionalAction, default=True,
                    help="queue the 80:20 shuffled cell first (its 3 seeds, the tuned arms before paper-settings V-DB)")
    ap.add_argument("--grouped", action=argparse.BooleanOptionalAction, default=True,
                    help="queue each 80:20 tuned run's length-grouped partner right after it (--no-grouped: the grid alone)")
    a = ap.parse_args()
    out = Path(a.out)
    for name in ("standard", "standard-grouped"):   # finished runs committed by an earlier machine are not rerun
        have = {r["run_id"] for r in read_results(out / name / "results.jsonl")}
        for r in read_results(Path(a.committed) / name / "results.jsonl"):
            if r["run_id"] not in have: append_result(out / name / "results.jsonl", r)
            run, saved = out / name / r["run_id"], Path(a.committed) / name / r["run_id"]
            if not run.exists() and saved.is_dir(): shutil.copytree(saved, run)   # its predictions, for the figures
    std = preset_configs("standard", out / "standard", data=str(Path(a.data).resolve()))
    chk = {run_id(c): dataclasses.replace(c, group_by_length=True, out=str(out / "standard-grouped" / run_id(c)))
           for c in std if c.ratio == 0.8 and c.order == "shuffled" and c.preset in ("vdb-tuned", "exbert")}
    if a.headline_first:   # the paper's headline cell answers the question soonest; sorted() is stable
        std = sorted(std, key=lambda c: (not (c.ratio == 0.8 and c.order == "shuffled"), c.preset == "vdb" if c.ratio == 0.8 and c.order == "shuffled" else False))
    order = []
    for c in std:
        order.append(c)
        if a.grouped and run_id(c) in chk: order.append(chk[run_id(c)])
    run_grid(order, out / "standard", max_runs=a.max_runs, workers=a.workers)
    for name, cs in (("standard", std), ("standard-grouped", list(chk.values()))):
        ids = {run_id(c) for c in cs}
        done = [r for r in read_results(out / name / "results.jsonl") if r["run_id"] in ids]   # queued or not
        report_grid(name, out / name, cs, pd.DataFrame(done))


if __name__ == "__main__":  # the grid's workers are spawned processes that import this file
    main()
