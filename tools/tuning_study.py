"""Run the tuning study of 08_experiments (curve arms, paired arms, then each model's confirmation), resumably.

Each arm is a grid folder of its own under OUT/tuning/<arm>/. Runs already committed under
nbs/results/tuning/<arm>/ (by tools/collect_results.py) count as finished, so a new machine continues where the
last one stopped. The confirmations of each model's best setting are queued only once every curve arm of that
model has finished (until then the best can still change). Rerun the same command to resume.

    python tools/tuning_study.py [--data ../shared/data] [--out runs] [--workers 2] [--max-runs N] [--arms ARM ...]
    python tools/tuning_study.py --report [--collect]   # runs nothing: writes nbs/results/tuning/study.json
(--max-runs bounds each of the two stages: the study's arms, then the confirmations.) --arms runs only the named
arms, in the study's order (e.g. two processes on two machines or cores, each with arms of its own); a
confirmation (best-exbert, best-vdb) then runs only if it is named and its model's curve arms have all finished.

The curve arms train under bf16 autocast (CURVES in 08_experiments). On a machine without bf16 hardware
(a CPU with neither AVX512-BF16 nor AMX, and no CUDA GPU) torch emulates it, many times slower, so they are
skipped there (with a message) and only the fp32 arms run; --emulated-bf16 runs them anyway.

--report writes the study's table, each model's best setting and the best-against-best comparison (paired with
the committed standard grid) to nbs/results/tuning/study.json, from the committed runs; --collect first copies
the finished runs of OUT/tuning/<arm>/ there (tools/collect_results.py, arm by arm).

To run it after the standard grid, unattended:
    exbert reproduce --preset standard --out runs/standard --committed nbs/results --first 0.8
    python tools/tuning_study.py --data ../shared/data --out runs
"""

import argparse
import json
from pathlib import Path

from exbert.core import atomic_write
from exbert.experiments import (
    CURVE_ARMS,
    adopt_committed,
    PAIRED_ARMS,
    best_setting,
    confirm_configs,
    read_results,
    run_grid,
    study_report,
    tuning_budget,
    tuning_configs,
)
from exbert.results import fig_budget, load_results
from exbert.train import native_bf16, use_bf16
from collect_results import collect

ARMS = [*CURVE_ARMS, *PAIRED_ARMS, "best-exbert", "best-vdb"]  # every arm folder the study can have


def grid_parser(doc: str) -> argparse.ArgumentParser:
    "The options: data, output and committed folders, workers, a bound on new runs."
    ap = argparse.ArgumentParser(description=doc.splitlines()[0])
    ap.add_argument("--data", default="../shared/data")
    ap.add_argument("--out", default="runs")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--max-runs", type=int)
    ap.add_argument("--committed", default="nbs/results", help="where finished runs are committed (they are not rerun)")
    return ap


def report(out: Path, committed: Path, grid: Path, copy: bool) -> None:
    "Copy the finished arms (with `copy`), then write the study's report from the committed runs."
    for name in ARMS if copy else []:
        if (out / name / "results.jsonl").is_file():
            print(f"{name}: copied {collect(out / name, committed / name)} runs")
    rep = study_report(committed, load_results(grid))
    rep["budget"] = tuning_budget(
        committed
    )  # expected best validation F1 after n trials, and the paper's configurations
    atomic_write(committed / "study.json", json.dumps(rep, indent=1))
    fig = fig_budget(rep["budget"]["curves"], rep["budget"]["marks"], backbone="stand-in backbone")
    (committed / "figures").mkdir(exist_ok=True)
    fig.savefig(committed / "figures" / "budget.png", dpi=110)
    print(f"wrote {committed / 'figures' / 'budget.png'}")
    print(f"wrote {committed / 'study.json'}: {rep['runs']} runs in {rep['arms']} arms")


def main():
    ap = grid_parser(__doc__)
    ap.add_argument(
        "--report", action="store_true", help="run nothing; write COMMITTED/tuning/study.json from the committed runs"
    )
    ap.add_argument(
        "--collect",
        action="store_true",
        help="with --report: first copy OUT/tuning's finished runs to COMMITTED/tuning",
    )
    ap.add_argument(
        "--arms", nargs="+", choices=ARMS, metavar="ARM", help=f"run only these arms (of {', '.join(ARMS)})"
    )
    ap.add_argument(
        "--emulated-bf16",
        action="store_true",
        help="run the bf16 arms even where bf16 has no hardware (many times slower)",
    )
    a = ap.parse_args()
    if a.collect and not a.report:
        ap.error("--collect goes with --report")
    out, committed = Path(a.out) / "tuning", Path(a.committed) / "tuning"
    if a.report:
        return report(out, committed, Path(a.committed) / "standard", a.collect)
    for name in ARMS:
        adopt_committed(out / name, committed / name)
    data = str(Path(a.data).resolve())
    every = tuning_configs(out, data=data)
    cs = [c for c in every if not a.arms or Path(c.out).parent.name in a.arms]
    finished = {d: {r["run_id"] for r in read_results(d / "results.jsonl")} for d in {Path(c.out).parent for c in cs}}
    slow = (
        []
        if native_bf16() or a.emulated_bf16
        else [c for c in cs if use_bf16(c) and Path(c.out).name not in finished[Path(c.out).parent]]
    )
    if slow:  # the curve arms train under bf16 (CURVES); emulated, a 5-epoch arm would take most of a day
        print(
            f"skipping {len(slow)} bf16 runs ({', '.join(sorted({Path(c.out).parent.name for c in slow}))}): this machine has no "
            "bf16 hardware (AVX512-BF16, AMX or a CUDA GPU), where torch emulates it; --emulated-bf16 runs them anyway"
        )
        cs = [c for c in cs if c not in slow]
    left = [c for c in cs if Path(c.out).name not in finished[Path(c.out).parent]]
    print(f"{len(left)} of {len(cs)} runs left" + (f" in {', '.join(a.arms)}" if a.arms else ""))
    run_grid(cs, out, max_runs=a.max_runs, workers=a.workers)
    for model in ("exbert", "vdb"):
        mine = [c for c in every if Path(c.out).parent.name in CURVE_ARMS and c.model == model]
        finished = all(read_results(Path(c.out).parent / "results.jsonl") for c in mine)
        best = best_setting(out, model)
        print(
            f"{model}: best curve setting so far {json.dumps(best)}"
            + ("" if finished else " (curve arms still running)")
        )
        if finished and best and (not a.arms or f"best-{model}" in a.arms):
            run_grid(confirm_configs(out, best, data=data), out, max_runs=a.max_runs, workers=a.workers)


if __name__ == "__main__":  # the workers are spawned processes that import this file
    main()
