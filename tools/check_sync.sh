#!/usr/bin/env bash
# Fails unless exbert/ is exactly what the notebooks export and the notebooks are clean.
# nbs/ is the source of truth: a hand edit to exbert/*.py, or an export left uncommitted, is an error.
set -u
cd "$(git rev-parse --show-toplevel)" || exit 2
nbdev-export >/dev/null || { echo "check_sync: nbdev-export failed"; exit 1; }
drift=$(git status --porcelain -- exbert/)
if [ -n "$drift" ]; then
  echo "check_sync: FAILED: the library and the notebooks disagree: nbdev-export changed exbert/:"
  echo "$drift"
  git --no-pager diff --stat -- exbert/
  echo "Edit the notebook in nbs/ (not exbert/*.py), run nbdev-export, and commit both."
  exit 1
fi
nbdev-clean >/dev/null || { echo "check_sync: nbdev-clean failed"; exit 1; }
dirty=$(git status --porcelain -- nbs/)
if [ -n "$dirty" ]; then
  echo "check_sync: FAILED: notebooks are not clean: nbdev-clean changed nbs/:"
  echo "$dirty"
  echo "Run nbdev-clean and commit the cleaned notebooks."
  exit 1
fi
python tools/make_readme.py --check || exit 1
echo "check_sync: ok: exbert/ matches nbs/, notebooks are clean, README.md matches nbs/index.ipynb"
