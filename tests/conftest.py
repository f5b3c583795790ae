import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
for k, v in dict(HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1", TRANSFORMERS_OFFLINE="1", WANDB_MODE="disabled").items():
    os.environ.setdefault(k, v)
