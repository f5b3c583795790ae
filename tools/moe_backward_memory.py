"""Before/after of the sorted MoE backend's leaner backward (`_StraightThrough`, `_GEGLUFunction`): memory and time.

    python tools/moe_backward_memory.py [--repeats 9] [--data ../shared/data]
                                        [--out nbs/results/bench/moe-backward.json]
    python tools/moe_backward_memory.py --smoke --out /tmp/x.json      # toy sizes, seconds (the test)

"before" is `dispatch_sorted` as it was (plain autograd: the straight-through product and st-moe's GEGLU keep their
intermediate tensors), taken from git history (commit a06033d^, run in a checkout); "after" is the library's.
Side by side in one run, one torch thread:
1. peak training memory, one fresh process per model (V-DB, ExBERT-4L-8E before, after), as `exbert bench`'s memory
   part measures it (VmHWM, glibc's mmap threshold fixed; batch 8 x 384, three Trainer steps);
2. the MoE block (8 experts, and 16 at 8 x 256) forward + backward against the dense block, before and after,
   interleaved, as multiples of the ideal (dense x expert slots per token);
3. training steps on real dynamically padded batches (synthetic without the data): V-DB, ExBERT before and after.
Writes JSON (atomically) with the command and the machine."""

import argparse
import json
import subprocess
from contextlib import contextmanager
from pathlib import Path
import torch
import exbert.moe as moe
import exbert.bench as B
from exbert.core import atomic_write

ROOT = Path(__file__).resolve().parents[1]


BEFORE = "a06033d^"  # the commit before the leaner backward (#17): its dispatch_sorted uses plain autograd


def from_history(rev: str, path: str, name: str):
    """Function `name` of the module file `path` as it was at commit `rev`, from this checkout's git history (not a
    copy)."""
    src = subprocess.run(["git", "-C", str(ROOT), "show", f"{rev}:{path}"], capture_output=True, text=True, check=True)
    ns = {"__name__": f"exbert_at_{rev}"}
    exec(compile(src.stdout, f"{rev}:{path}", "exec"), ns)
    return ns[name]


dispatch_before = from_history(BEFORE, "exbert/moe.py", "dispatch_sorted")


@contextmanager
def before():
    "Run the sorted backend as it was, inside the block."
    saved, moe.dispatch_sorted = moe.dispatch_sorted, dispatch_before
    try:
        yield
    finally:
        moe.dispatch_sorted = saved


def as_before(fn):
    def run(i):
        with before():
            return fn(i)

    return run


def memory(size, batch_size, seq_len) -> dict:
    "Peak training memory of V-DB and ExBERT before and after, each in a fresh process (`exbert.bench.peak_memory`)."
    patch = f"import runpy, exbert.moe; exbert.moe.dispatch_sorted = runpy.run_path({str(Path(__file__).resolve())!r})['dispatch_before']"  # noqa: E501
    out = {}
    for name, kind, setup in (
        ("V-DB", "vdb", ""),
        ("ExBERT-4L-8E before", "exbert", patch),
        ("ExBERT-4L-8E after", "exbert", ""),
    ):
        spec = dict(
            kind=kind,
            size=size,
            n_layers=4,
            n_experts=8,
            moe_backend="sorted",
            batch_size=batch_size,
            seq_len=seq_len,
            threads=1,
        )
        out[name] = B.peak_memory(spec, setup=setup)
        print(f"  {name:<22} peak {out[name]['peak_mib']:7.0f} MiB", flush=True)
    return out


def moe_block(points, dim, repeats) -> list:
    res = []
    for bs, n, e in points:
        torch.manual_seed(0)
        x = torch.randn(bs, n, dim, requires_grad=True)
        mask = torch.ones(bs, n, dtype=torch.long)
        torch.manual_seed(0)
        m = moe.MoEBlock(dim, n_experts=e, moe_backend="sorted").train()
        with torch.no_grad():
            slots = ((m(x, mask).expert_index >= 0).sum() / mask.sum()).item()
        f = B._fwd_bwd(m, x, mask)
        t = B.interleave({"dense": B._fwd_bwd(B.DenseBlock(dim), x, mask), "before": as_before(f), "after": f}, repeats)
        p = dict(
            batch_size=bs,
            seq_len=n,
            n_experts=e,
            slots_per_token=slots,
            seconds=t,
            vs_ideal={k: t[k] / (t["dense"] * slots) for k in ("before", "after")},
            after_vs_before=t["after"] / t["before"],
        )
        res.append(p)
        print(
            f"  {bs:3d} x {n:4d}, {e:2d} experts: before {p['vs_ideal']['before']:.2f}x ideal, after "
            f"{p['vs_ideal']['after']:.2f}x"
            f"  (after / before {p['after_vs_before']:.3f})",
            flush=True,
        )
    return res


def training(cfg, data, batch_size, repeats, smoke) -> dict:
    w = None if smoke else B.real_windows(96, data)
    batches = (
        B.real_batches(w, batch_size, None, repeats)
        if w is not None
        else [B.synthetic_batch(batch_size, 16 if smoke else 256, cfg.vocab_size, s) for s in range(2)]
    )
    fx = B.train_step_fn(B.make_model("exbert", cfg, n_layers=4, n_experts=8), batches)
    t = B.interleave(
        {
            "V-DB": B.train_step_fn(B.make_model("vdb", cfg), batches),
            "ExBERT-4L-8E before": as_before(fx),
            "ExBERT-4L-8E after": fx,
        },
        repeats,
    )
    r = dict(
        data="real" if w is not None else "synthetic",
        batch_size=batch_size,
        seconds=t,
        speedup_vs_vdb={k: t["V-DB"] / v for k, v in t.items()},
    )
    print("  " + "  ".join(f"{k} {v:.2f}x" for k, v in r["speedup_vs_vdb"].items()), flush=True)
    return r


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=9)
    ap.add_argument("--data", default=None, help="data folder for real training batches (default: exbert's)")
    ap.add_argument("--out", default="nbs/results/bench/moe-backward.json")
    ap.add_argument("--smoke", action="store_true", help="toy sizes (a test of the tool, not a measurement)")
    a = ap.parse_args()
    torch.set_num_threads(1)
    size = dict(dim=32, n_layers=3, n_heads=2, hidden_dim=64, vocab_size=100) if a.smoke else dict(B.STANDIN_SIZE)
    cfg = B.backbone_config(**size)
    points = [(2, 16, 4)] if a.smoke else [(8, 64, 8), (4, 128, 8), (8, 256, 8), (16, 384, 8), (8, 256, 16)]
    reps = 1 if a.smoke else a.repeats
    print("peak training memory (fresh process each) ...", flush=True)
    mem = memory(size, 2 if a.smoke else 8, 16 if a.smoke else 384)
    print("MoE block, forward + backward, vs ideal ...", flush=True)
    blk = moe_block(points, size["dim"], reps)
    print("training steps ...", flush=True)
    tr = training(cfg, a.data, batch_size=2 if a.smoke else 8, repeats=reps, smoke=a.smoke)
    r = B.measurement_header(
        threads=1,
        clock="cpu",
        size=size,
        memory=dict(batch_size=2 if a.smoke else 8, seq_len=16 if a.smoke else 384, models=mem),
        moe_block=blk,
        train=tr,
    )
    atomic_write(a.out, json.dumps(r, indent=1))
    print("wrote", a.out)
