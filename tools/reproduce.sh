#!/usr/bin/env bash
# The main job in one command: set up .venv (if needed) and rerun the paper's headline comparison.
#   bash tools/reproduce.sh                      # headline: 80:20 at 4,000 examples, one seed, three arms, checked
#                                                # against the committed runs (nbs/results/standard); resumable
#   bash tools/reproduce.sh --levers             # the same with length-grouped batches (+ bf16 on bf16 hardware): faster
#   bash tools/reproduce.sh --seeds 3            # more seeds of the headline
#   bash tools/reproduce.sh --preset quick       # the smoke run (350 examples: checks the pipeline, settles nothing)
# Extra arguments go to `exbert reproduce`; rerun the same command to resume a killed run.
set -eo pipefail
cd "$(dirname "$0")/.."
. tools/setup_env.sh .venv
args=("$@")
if [[ " $* " != *" --preset "* ]]; then args=(--preset headline "${args[@]}"); fi
if [[ " $* " != *" --data "* && -d ../shared/data ]]; then args+=(--data ../shared/data); fi
start=$(date +%s)
exbert reproduce "${args[@]}"
echo "main job: $(( ($(date +%s) - start) / 60 )) min on $(grep -m1 'model name' /proc/cpuinfo 2>/dev/null | cut -d: -f2 | xargs)"
