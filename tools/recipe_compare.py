"""The project's V-DB training against transformers' `run_qa` recipe, on the same data: two finished runs of the same
mixture, seed and hyperparameters, one with the project's windows (dynamic padding) and one with `run_qa`'s
(384-token windows, every one padded to 384: `--max-length 384 --pad-to-max-length`). Writes their scores, the
question-level paired bootstrap of each test set's EM difference (recipe − project), and their training CPU time.

    python tools/recipe_compare.py --project RUN --recipe RUN --data ../shared/data --json nbs/results/bench/recipe.json
"""

import argparse
import json
import sys
from pathlib import Path

from exbert.core import atomic_write
from exbert.results import hierarchical_bootstrap, load_references, paired_question_diffs

SCORES = ("squad_em", "squad_f1", "bioasq_em", "bioasq_f1", "train_seconds", "train_cpu_seconds")
SAME = (
    "model",
    "ratio",
    "order",
    "seed",
    "n_train",
    "epochs",
    "lr",
    "batch_size",
    "stride",
    "model_config",
    "qa_every_epoch",
)


def describe(run: Path) -> dict:
    "One run's settings that differ between the recipes, its scores and where it ran."
    m, c = (json.loads((run / f).read_text()) for f in ("metrics.json", "run_config.json"))
    p = m["provenance"]
    return dict(
        run=run.name,
        max_length=c["max_length"],
        padding="max_length" if c.get("pad_to_max_length") else "dynamic",
        precision=p["precision"],
        batching=p["batching"],
        machine=f"{p['cpu']} ({', '.join(p['cpu_flags'])}), {p['threads']} thread(s)",
        **{k: m[k] for k in SCORES},
    )


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--project", type=Path, required=True, help="the run with the project's windows")
    p.add_argument("--recipe", type=Path, required=True, help="the run with run_qa's windows")
    p.add_argument("--data", default=None)
    p.add_argument("--json", type=Path, required=True)
    a = p.parse_args(argv)
    configs = [json.loads((r / "run_config.json").read_text()) for r in (a.project, a.recipe)]
    if differ := [k for k in SAME if configs[0].get(k) != configs[1].get(k)]:
        print(f"recipe_compare: the runs differ in more than the windows: {differ}", file=sys.stderr)
        return 2
    refs = load_references(a.data)
    diffs = {}
    for dom in ("squad", "bioasq"):
        d = paired_question_diffs({0: a.recipe}, {0: a.project}, dom, refs)
        mean, lo, hi = hierarchical_bootstrap(d)
        diffs[f"{dom}_em"] = dict(mean=mean, lo=lo, hi=hi, questions=d.shape[1])
    project, recipe = describe(a.project), describe(a.recipe)
    out = dict(
        settings={k: configs[0].get(k) for k in SAME},
        project=project,
        recipe=recipe,
        recipe_minus_project=diffs,
        cpu_time_ratio=recipe["train_cpu_seconds"] / project["train_cpu_seconds"],
        note="question-level paired bootstrap over one seed: it covers the test questions, not the seed",
    )
    atomic_write(a.json, json.dumps(out, indent=1) + "\n")
    print(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
