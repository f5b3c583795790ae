#!/usr/bin/env bash
# The main job in one command: set up .venv (if needed) and reproduce the paper's experiments.
#   bash tools/reproduce.sh                      # quick preset, offline: stand-in backbone, ../shared/data
#   bash tools/reproduce.sh --preset paper       # the paper's grid (needs the hub, or --backbone/--data)
# Extra arguments go to `exbert reproduce`; rerun the same command to resume a killed grid.
set -eo pipefail
cd "$(dirname "$0")/.."
. tools/setup_env.sh .venv
args=("$@")
if [[ " $* " != *" --preset "* ]]; then args=(--preset quick "${args[@]}"); fi
if [[ " $* " != *" --data "* && -d ../shared/data ]]; then args+=(--data ../shared/data); fi
if [[ " ${args[*]} " == *" --preset quick "* && " $* " != *" --backbone "* ]]; then args+=(--backbone standin); fi
exec exbert reproduce "${args[@]}"
