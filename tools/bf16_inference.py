"""bf16 inference against fp32: the answers and EM/F1 of trained model folders on the real test sets, and the time.

    python tools/bf16_inference.py MODEL [MODEL ...] [--data ../shared/data] [--squad 1000] [--threads 1] [--json OUT]

Each model folder answers the SQuAD dev subset the grids use (`--squad` questions spread over all articles) and
the 229 answerable BioASQ 7b test snippets twice, in fp32 and under bf16 autocast, one after the other on
`--threads` torch threads; reported: EM/F1 of both, their difference, the share of questions whose answer
changed, and the process CPU seconds of each prediction pass with their ratio.
"""

import argparse
import json
import sys
import time
from pathlib import Path


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("models", nargs="+")
    ap.add_argument("--data", default="../shared/data")
    ap.add_argument("--squad", type=int, default=1000)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--json")
    a = ap.parse_args()
    import torch
    from exbert.data import load_benchmark
    from exbert.predict import load_qa_model, predict, spread

    torch.set_num_threads(a.threads)
    b = load_benchmark(a.data)
    sets = dict(squad=spread(b["squad_test"], a.squad), bioasq=b["bioasq_test"])
    out = dict(
        command="python tools/bf16_inference.py " + " ".join(sys.argv[1:]),
        threads=a.threads,
        bf16_matrix_units=bool(getattr(torch.cpu, "_is_amx_tile_supported", lambda: False)()),
        models={},
    )
    for m in a.models:
        qa, res = load_qa_model(m), {}
        for dom, ds in sets.items():
            ev, secs = {}, {}
            for bf16 in (False, True):
                t0 = time.process_time()
                ev[bf16] = predict(qa, ds, progress=False, bf16=bf16)
                secs[bf16] = time.process_time() - t0
            changed = sum(ev[True].predictions[k] != v for k, v in ev[False].predictions.items())
            res[dom] = dict(
                n=ev[False].n,
                em_fp32=ev[False].em,
                em_bf16=ev[True].em,
                em_diff=ev[True].em - ev[False].em,
                f1_fp32=ev[False].f1,
                f1_bf16=ev[True].f1,
                f1_diff=ev[True].f1 - ev[False].f1,
                answers_changed=changed,
                cpu_seconds_fp32=secs[False],
                cpu_seconds_bf16=secs[True],
                speedup=secs[False] / secs[True],
            )
            print(m, dom, {k: round(v, 3) if isinstance(v, float) else v for k, v in res[dom].items()}, flush=True)
        out["models"][m] = res
    if a.json:
        Path(a.json).write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
