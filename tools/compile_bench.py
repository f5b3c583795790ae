"""Does `torch.compile` make training faster here? V-DB and ExBERT-4L-8E (sorted and dense MoE backends), eager
against compiled, one training step each (forward, backward, clipping, AdamW, as the Trainer does), measured side
by side in interleaved rounds on the same synthetic batches; the compile time is reported apart.

    python tools/compile_bench.py --json nbs/results/bench/compile.json
"""

import argparse
import json
import sys
import time

import torch

from exbert.bench import STANDIN_SIZE, backbone_config, interleave, machine, make_model, synthetic_batch, train_step_fn
from exbert.core import atomic_write

CONTENDERS = {"V-DB": ("vdb", {}), "ExBERT-4L-8E-sorted": ("exbert", dict(n_experts=8))}
CONTENDERS["ExBERT-4L-8E-dense"] = ("exbert", dict(n_experts=8, moe_backend="dense"))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--seq-len", type=int, default=256)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--json")
    a = p.parse_args(argv)
    torch.set_num_threads(a.threads)
    cfg = backbone_config(**STANDIN_SIZE)
    batches = [synthetic_batch(a.batch_size, a.seq_len, cfg.vocab_size, s) for s in range(2)]
    steps, warmup = {}, {}
    for name, (kind, kw) in CONTENDERS.items():
        for compiled in (False, True):
            torch.manual_seed(0)  # the same weights eager and compiled
            model = make_model(kind, cfg, **kw)
            key = name + (" compiled" if compiled else "")
            step = train_step_fn(torch.compile(model) if compiled else model, batches)
            t0 = time.time()
            step(0), step(1)  # compiles the compiled one (both batches have one shape)
            warmup[key] = time.time() - t0
            steps[key] = step
            print(f"{key}: warm-up {warmup[key]:.1f} s", file=sys.stderr)
    t = interleave(steps, a.rounds, clock=time.process_time)
    res = dict(
        command="python " + " ".join(sys.argv),
        machine=machine(),
        threads=a.threads,
        torch=torch.__version__,
        batch=[a.batch_size, a.seq_len],
        step_cpu_s={k: round(v, 4) for k, v in t.items()},
        compiled_over_eager={n: round(t[n] / t[n + " compiled"], 3) for n in CONTENDERS},
        warmup_s={k: round(v, 1) for k, v in warmup.items()},
    )
    for n in CONTENDERS:
        print(f"{n:<22} eager {t[n]:.3f} s/step, compiled {t[n + ' compiled']:.3f} s/step: "
              f"{res['compiled_over_eager'][n]:.2f}x (compile {warmup[n + ' compiled']:.0f} s)")  # fmt: skip
    if a.json:
        atomic_write(a.json, json.dumps(res, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
