"""Speed and accuracy of one model folder four ways, side by side in one run: PyTorch fp32, PyTorch bf16 autocast,
ONNX Runtime fp32 and ONNX Runtime int8 (dynamic quantisation), each answering the same SQuAD dev and BioASQ test
questions through `exbert.predict`, on the same number of threads.

    python tools/onnx_bench.py MODEL_DIR --data ../shared/data --json nbs/results/bench/onnx.json

Rounds are interleaved (each variant once per round) and the median is reported, so load on the machine hits every
variant alike; the seconds are those of the whole prediction pass (tokenizing and post-processing included, the same
for every variant)."""

import argparse
import hashlib
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

from exbert.bench import machine
from exbert.core import atomic_write, native_bf16
from exbert.data import TEST_FILES
from exbert.export import export_onnx, load_onnx_qa, quantize_int8
from exbert.predict import load_qa_model, predict, quiet, read_questions, spread


def variants(model_dir: Path, onnx_dir: Path, threads: int) -> dict:
    "Name -> (QAModel, bf16) of the four ways to run the model."
    with quiet():
        qa = load_qa_model(model_dir)
    return {
        "PyTorch fp32": (qa, False),
        "PyTorch bf16": (qa, True),
        "ONNX Runtime fp32": (load_onnx_qa(onnx_dir, threads=threads), False),
        "ONNX Runtime int8": (load_onnx_qa(onnx_dir, int8=True, threads=threads), False),
    }


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("model", type=Path, help="a trained model folder (e.g. runs/standard/<run>/model)")
    p.add_argument("--data", type=Path, default=Path("../shared/data"))
    p.add_argument("--n-squad", type=int, default=300, help="SQuAD dev questions, spread over the file")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--json", type=Path)
    a = p.parse_args(argv)
    torch.set_num_threads(a.threads)
    sets = {
        "squad": spread(read_questions(a.data / TEST_FILES["squad"]), a.n_squad),
        "bioasq": read_questions(a.data / TEST_FILES["bioasq"]),
    }
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.time()
        meta = export_onnx(a.model, Path(tmp) / "onnx")
        export_s = time.time() - t0
        quantize_int8(Path(tmp) / "onnx")
        sizes = {f.name: f.stat().st_size for f in (Path(tmp) / "onnx").iterdir()}  # external data included
        runs = variants(a.model, Path(tmp) / "onnx", a.threads)
        scores, secs, cpu = {}, {k: [] for k in runs}, {k: [] for k in runs}
        for r in range(a.rounds):
            for name, (qa, bf16) in runs.items():
                w, c = time.perf_counter(), time.process_time()
                ev = {d: predict(qa, ex, progress=False, bf16=bf16) for d, ex in sets.items()}
                secs[name].append(time.perf_counter() - w)
                cpu[name].append(time.process_time() - c)
                scores[name] = {f"{d}_{m}": round(getattr(e, m), 2) for d, e in ev.items() for m in ("em", "f1")}
                print(f"round {r + 1}/{a.rounds} {name}: {secs[name][-1]:.1f} s {scores[name]}", file=sys.stderr)
    base = statistics.median(cpu["PyTorch fp32"])
    table = {
        k: dict(
            **scores[k],
            wall_s=statistics.median(secs[k]),
            cpu_s=statistics.median(cpu[k]),
            speedup_vs_fp32=base / statistics.median(cpu[k]),
        )
        for k in runs
    }
    weights = next(a.model.glob("*.safetensors"))
    res = dict(
        command="python " + " ".join(sys.argv),
        machine=machine(),
        native_bf16=native_bf16(),
        threads=a.threads,
        torch=torch.__version__,
        model=str(a.model),
        weights_sha256=hashlib.sha256(weights.read_bytes()).hexdigest(),
        questions={d: len(ex) for d, ex in sets.items()},
        export=dict(seconds=round(export_s, 1), parity=meta["parity"], sizes=sizes),
        table=table,
    )
    for k, v in table.items():
        print(
            f"{k:<18} SQuAD EM/F1 {v['squad_em']:5.1f}/{v['squad_f1']:5.1f}  BioASQ EM/F1 {v['bioasq_em']:5.1f}/"
            f"{v['bioasq_f1']:5.1f}  {v['cpu_s']:6.1f} s CPU  {v['speedup_vs_fp32']:.2f}x"
        )
    print(f"export {export_s:.0f} s, max |ONNX - PyTorch| logit {meta['parity']:.1e}, sizes {sizes}")
    if a.json:
        atomic_write(a.json, json.dumps(res, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
