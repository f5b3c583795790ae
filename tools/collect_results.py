"""Copy a grid's finished runs into the repository (JSON files only), so that they survive the machine.

    python tools/collect_results.py runs/standard nbs/results/standard [--figures]

Copies `results.jsonl` and, of every run in it, its JSON files (history, metrics, predictions, routing, run
config) and its model card; never n-best lists (1.7 MB a run; their scores are in metrics.json), checkpoints or
model weights. Rerun it as more runs finish: it replaces the copy."""
import argparse, shutil, sys
from pathlib import Path

def collect(src: Path, dst: Path) -> int:
    "Copy the finished runs of grid folder `src` to `dst`; returns how many."
    from exbert.results import read_results_jsonl
    table = src / "results.jsonl"
    if not table.is_file(): sys.exit(f"{table}: no results table (no finished run yet?)")
    rows = read_results_jsonl(table)
    dst.mkdir(parents=True, exist_ok=True)
    for r in rows:
        run = src / (r.get("run_dir") or r["run_id"])
        out = dst / run.name
        if not run.is_dir():   # a row restored from an earlier commit without its folder: keep the committed copy
            if not out.is_dir(): sys.exit(f"{table}: run {r['run_id']} has no folder {run} and no copy in {dst}")
            print(f"{r['run_id']}: no folder in {src}; keeping {out}"); continue
        if out.exists(): shutil.rmtree(out)
        out.mkdir()
        for f in run.glob("*.json"):
            if not f.name.startswith("nbest"): shutil.copy2(f, out / f.name)   # n-best lists: 1.7 MB a run, scores are in metrics
        for card in (run / "model" / "README.md", run / "model_card.md"):   # a run restored from an earlier commit has the copy
            if card.is_file(): shutil.copy2(card, out / "model_card.md")
    shutil.copy2(table, dst / "results.jsonl")
    return len(rows)

if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("src"); ap.add_argument("dst")
    ap.add_argument("--figures", action="store_true", help="also draw the grid's figures into DST/figures")
    a = ap.parse_args()
    n = collect(Path(a.src), Path(a.dst))
    print(f"copied {n} finished runs of {a.src} to {a.dst}")
    if a.figures:
        from exbert.experiments import draw_figures
        for p in draw_figures(Path(a.dst)): print("wrote", p)
