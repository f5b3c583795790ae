#!/usr/bin/env bash
# The GPU check (tools/gpu_check.py): run from the repository root on a CUDA machine with no network, with .gpu/
# (python tools/gpu_pack.py) beside the code. Through the device tool:
#   run(command="bash tools/gpu_check.sh", carry=[".gpu"], timeout_s=600)
# It installs the carried wheels into /tmp/exbert-site (ahead of the image's own packages), then runs the check;
# the report is $OUT/gpu_check.json (OUT: the device tool's output folder, else ./gpu-out) and gpu_check.log.
set -uo pipefail
out=${OUT:-gpu-out}; mkdir -p "$out"
if [ -d .gpu/wheels ]; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/exbert-site .gpu/wheels/*.whl || exit 1
  export PYTHONPATH=/tmp/exbert-site${PYTHONPATH:+:$PYTHONPATH}
fi
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TRANSFORMERS_OFFLINE=1 WANDB_MODE=disabled
python3 tools/gpu_check.py --out "$out" "$@" 2>&1 | tee "$out/gpu_check.log"
