"""Why ExBERT is no faster than V-DB one question at a time: where batch 1's time goes, and what the experts'
weights cost.

    python tools/batch1_experts.py [--repeats 9] [--data ../shared/data]
                                   [--out nbs/results/bench/batch1-experts.json]
    python tools/batch1_experts.py --smoke --out /tmp/x.json      # toy sizes, seconds (the test)

One torch thread, process CPU time, random weights of the stand-in's size (as `exbert bench`). In one run:
1. models: V-DB, ExBERT-4L-8E and ExBERT-4L-16E answer `exbert bench`'s 16 real windows one at a time (batch 1;
   synthetic windows without the data), timed side by side (`bench_inference`); then torch's profiler splits each
   model's time into its matrix products by role (attention, the dense FFN's two, the experts' two) and the rest,
   with the rows each product saw;
2. alone: each of those products on the rows it saw per call in (1), interleaved, once with one weight matrix used
   again and again (it stays in the cache: "warm") and once with as many distinct weight matrices as the model has
   (the blocks' FFNs, or the experts), one after the other as a forward pass runs them ("cold").
Writes JSON (atomically) with the command and the machine."""

import argparse
import json
import torch
import torch.nn.functional as F
from torch.profiler import ProfilerActivity, profile
import exbert.bench as B
from exbert.core import atomic_write
from exbert.moe import PaddingAwareMoE


def roles(model, cfg) -> dict:
    """(in, out) features of each matrix-product role of `model`: attention and the dense FFN, and the experts' if it
    has them."""
    r = {"attention": (cfg.dim, cfg.dim), "ffn lin1": (cfg.dim, cfg.hidden_dim), "ffn lin2": (cfg.hidden_dim, cfg.dim)}
    moe = next((m for m in model.modules() if isinstance(m, PaddingAwareMoE)), None)
    if moe is not None:
        lins = [m for m in moe.experts[0].modules() if isinstance(m, torch.nn.Linear)]
        r |= {
            "expert lin1": (lins[0].in_features, lins[0].out_features),
            "expert lin2": (lins[-1].in_features, lins[-1].out_features),
        }
    return r


def split_time(model, shapes: dict, batches) -> dict:
    """Profile one pass of `model` over `batches` (batch 1, inference mode): ms, rows and calls of each product role of
    `shapes` (`roles`), and the total."""
    model.eval()
    with torch.inference_mode():
        for b in batches[:2]:
            model(**b)  # warm-up
        with profile(activities=[ProfilerActivity.CPU], record_shapes=True) as p:
            for b in batches:
                model(**b)
    by_shape = {v: k for k, v in shapes.items()}
    if len(by_shape) != len(shapes):
        raise ValueError(f"two product roles share a shape: {shapes}")
    out = {k: dict(ms=0.0, rows=0, calls=0) for k in by_shape.values()}
    for e in p.key_averages(group_by_input_shape=True):
        if e.key != "aten::addmm" or len(e.input_shapes) < 3:
            continue
        role = by_shape.get(tuple(e.input_shapes[2]))  # addmm(bias, input, weight.T)
        if role is None:
            continue
        out[role]["ms"] += e.self_cpu_time_total / 1e3
        out[role]["rows"] += e.input_shapes[1][0] * e.count
        out[role]["calls"] += e.count
    for v in out.values():
        v["us_per_row"] = 1e3 * v["ms"] / v["rows"] if v["rows"] else None
    total = sum(e.self_cpu_time_total for e in p.key_averages()) / 1e3
    return dict(total_ms=total, products=out, other_ms=total - sum(v["ms"] for v in out.values()))


def alone(shape, rows: int, n_weights: int, repeats: int) -> dict:
    """µs per row of one product `shape` (in, out) on `rows` rows: one weight matrix reused (warm) against `n_weights`
    in turn (cold)."""
    torch.manual_seed(0)
    x, b = torch.randn(rows, shape[0]), torch.randn(shape[1])
    ws = [torch.randn(shape[1], shape[0]) for _ in range(n_weights)]
    t = B.interleave(
        {"warm": lambda i: [F.linear(x, ws[0], b) for _ in ws], "cold": lambda i: [F.linear(x, w, b) for w in ws]},
        repeats,
    )
    return dict(
        rows=rows,
        n_weights=n_weights,
        us_per_row={k: 1e6 * v / (rows * n_weights) for k, v in t.items()},
        cold_vs_warm=t["cold"] / t["warm"],
    )


def main(a):
    torch.set_num_threads(1)
    size = dict(dim=32, n_layers=3, n_heads=2, hidden_dim=64, vocab_size=100) if a.smoke else dict(B.STANDIN_SIZE)
    cfg = B.backbone_config(**size)
    w = None if a.smoke else B.real_windows(96, a.data)
    batches = (
        B.real_batches(w, 1, None, 16)
        if w is not None
        else [B.synthetic_batch(1, 16 if a.smoke else 192, cfg.vocab_size, s) for s in range(4)]
    )
    specs = {
        "V-DB": (cfg.n_layers, 0),
        "ExBERT-4L-8E": (4, 8),
        "ExBERT-4L-16E": (4, 16),
    }  # name: (dense blocks, experts)
    models = {
        k: B.make_model("exbert", cfg, n_layers=n, n_experts=e) if e else B.make_model("vdb", cfg)
        for k, (n, e) in specs.items()
    }
    reps = 1 if a.smoke else a.repeats
    print(
        f"{len(batches)} windows of "
        f"{min(b['input_ids'].shape[1] for b in batches)}-"
        f"{max(b['input_ids'].shape[1] for b in batches)} tokens; timing ...",
        flush=True,
    )
    timed = B.bench_inference(models, batches, reps)
    res = {}
    for name, m in models.items():
        shapes = roles(m, cfg)
        s = split_time(m, shapes, batches)
        n, e = specs[name]
        n_weights = {
            "attention": 4 * n,
            "ffn lin1": n,
            "ffn lin2": n,
            "expert lin1": e,
            "expert lin2": e,
        }  # distinct matrices per pass
        for role, v in s["products"].items():
            if v["calls"]:
                v["alone"] = alone(shapes[role], max(1, round(v["rows"] / v["calls"])), n_weights[role], reps)
        res[name] = dict(
            ms_per_question=timed[name]["ms_per_question"],
            speedup_vs_vdb=timed[name]["speedup_vs_first"],
            flop_ideal=timed[name]["flop_speedup_vs_first"],
            profile=s,
        )
        print(
            f"{name}: {timed[name]['ms_per_question']:.1f} ms/question, {timed[name]['speedup_vs_first']:.2f}x V-DB "
            f"(FLOP ideal {timed[name]['flop_speedup_vs_first']:.2f}x)",
            flush=True,
        )
        for role, v in s["products"].items():
            if v["calls"]:
                print(
                    f"  {role:<12} {v['ms'] / len(batches):6.2f} ms/question, {v['rows'] / v['calls']:6.1f} rows/call, "
                    f"{v['us_per_row']:6.2f} us/row in the model; alone {v['alone']['us_per_row']['warm']:6.2f} warm, "
                    f"{v['alone']['us_per_row']['cold']:6.2f} cold ({v['alone']['n_weights']} weights)",
                    flush=True,
                )
    r = B.measurement_header(
        threads=1,
        clock="cpu",
        size=size,
        windows=len(batches),
        data="real" if w is not None else "synthetic",
        note=a.note,
        models=res,
    )
    atomic_write(a.out, json.dumps(r, indent=1))
    print("wrote", a.out)


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=9)
    ap.add_argument("--data", default=None, help="data folder for the real windows (default: exbert's)")
    ap.add_argument("--out", default="nbs/results/bench/batch1-experts.json")
    ap.add_argument("--note", default="")
    ap.add_argument("--smoke", action="store_true", help="toy sizes (a test of the tool, not a measurement)")
    main(ap.parse_args())
