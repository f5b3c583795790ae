"""Rewrite the committed synthetic data folder the tests train on: `python tools/make_synthetic_data.py`.

It is `exbert.data.write_synthetic_data(tests/data/synthetic)`; tests/test_project.py checks that the committed
copy is byte for byte what the code writes today."""

from pathlib import Path
from exbert.data import write_synthetic_data

if __name__ == "__main__":
    print(write_synthetic_data(Path(__file__).resolve().parents[1] / "tests" / "data" / "synthetic"))
