"""Time the MoE experts alone (loop of per-expert GEMMs against one batched GEMM, against dense) over the sweep.

    python tools/expert_gemms.py [--repeats 7] [--out nbs/results/bench/expert-gemms.json] [--note "..."]

One thread. The token counts are those of the MoE sweep in 10_bench (batch 4-16 x 64-384 tokens); 8 and 16
experts. Writes the points, the command and the machine as JSON (atomically)."""

import argparse
import json
import shlex
import sys
import torch
from exbert.bench import bench_experts, machine
from exbert.core import atomic_write

TOKENS = (256, 512, 1024, 2048, 3072, 4096)  # 4x64 ... 16x256 (8x384 = 3072)

if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--out", default="nbs/results/bench/expert-gemms.json")
    ap.add_argument("--note", default="")
    a = ap.parse_args()
    torch.set_num_threads(1)
    pts = []
    for e in (8, 16):
        for n in TOKENS:
            p = bench_experts(e, n, repeats=a.repeats)
            pts.append(p)
            print(
                f"{e:3d} experts {n:5d} tokens: loop {p['vs_ideal']['loop']:.2f}x ideal, bmm "
                f"{p['vs_ideal']['bmm']:.2f}x",
                flush=True,
            )
    cmd = "python " + shlex.join(sys.argv)
    atomic_write(a.out, json.dumps(dict(command=cmd, machine=machine(), threads=1, note=a.note, points=pts), indent=1))
    print("wrote", a.out)
