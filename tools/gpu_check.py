"""The GPU check: the models on CUDA against the CPU, the GPU benchmark, and the paper grid for one seed.

Run it through tools/gpu_check.sh (which installs the carried wheels first) on a CUDA machine with no network:

    bash tools/gpu_check.sh [OUT] [--grid-minutes 5] [--workers 4]

Steps, each timed and recorded in OUT/gpu_check.json whether it passes or fails (a failing step does not stop the
others):
1. unpack .gpu/ (tools/gpu_pack.py): the stand-in's weights as fp32 into ~/.cache/exbert, the data into a folder;
2. checks: V-DB and ExBERT logits on CUDA against the CPU (fp32), bf16 autocast against fp32, an ExBERT training
   step (finite losses, the MoE aux loss in the loss, gradients reach the router), a tiny `train_and_evaluate` run
   on the GPU against the same run on the CPU, and the trained model's answers on the GPU against the CPU's;
3. bench: `exbert bench --parts gpu` (training tokens/s, TFLOP/s and MFU of V-DB and ExBERT, the MoE block
   against its ideal on the GPU);
4. grid: `exbert reproduce --preset paper --backbone standin --seeds 1` (24 runs, 1,000-question SQuAD dev subset),
   stopped after --grid-minutes; the runs that finished are tabulated (the grid resumes if run again).

`--smoke` runs the same steps at toy sizes on whatever device there is (the CPU here), with a tiny backbone and
the synthetic data folder: the test that keeps this script working where no GPU is lent.
"""

import argparse
import json
import lzma
import os
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
import torch  # noqa: E402 - after the checkout is put first on the path

DEV = "cuda" if torch.cuda.is_available() else "cpu"
torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False  # fp32 means fp32 in the parity checks


def unpack(pack: Path, data_out: Path, cache: Path | None = None) -> tuple[Path, Path]:
    "The stand-in folder (fp32 weights from the pack's bf16; where `standin_distilbert` looks) and the data folder."
    import gzip
    import safetensors.torch as st

    dst = (cache or Path.home() / ".cache" / "exbert") / "standin-distilbert"
    if not (dst / "conversion.json").exists():  # written last: a folder without it is incomplete
        dst.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(dir=dst.parent))
        sd = st.load(lzma.decompress((pack / "standin" / "model.bf16.safetensors.xz").read_bytes()))
        st.save_file({k: v.float().contiguous() for k, v in sd.items()}, tmp / "model.safetensors")
        for f in (pack / "standin").iterdir():
            if f.name not in ("model.bf16.safetensors.xz", "conversion.json"):
                shutil.copy2(f, tmp / f.name)
        conv = (
            json.loads((pack / "standin" / "conversion.json").read_text())
            if (pack / "standin" / "conversion.json").exists()
            else {}
        )
        (tmp / "conversion.json").write_text(
            json.dumps({**conv, "weights": "rounded to bf16 for transport (tools/gpu_pack.py)"})
        )
        if dst.exists():
            shutil.rmtree(dst)
        tmp.rename(dst)
    train = data_out / "squad" / "squad-v1.1-train.reconstructed.json.gz"
    if not train.exists():
        shutil.copytree(pack / "data", data_out, dirs_exist_ok=True)
        xz = train.with_suffix(".xz")
        tmp = train.with_suffix(".tmp")
        tmp.write_bytes(gzip.compress(lzma.decompress(xz.read_bytes()), 1))
        tmp.rename(train)
        xz.unlink()
    return dst, data_out


def max_diff(a, b) -> float:
    return (a.float().cpu() - b.float().cpu()).abs().max().item()


def eval_batch(data: Path, n: int = 16, max_length: int = 256) -> dict:
    "One padded batch of `n` real evaluation windows (SQuAD dev and BioASQ; `exbert.bench.real_windows`)."
    from exbert.bench import inference_batches, real_windows

    return inference_batches(real_windows(n, data, max_length=max_length, kind="eval"), n)[0]


def check_models(backbone: Path, data: Path, exbert: dict | None = None) -> dict:
    "Logits on `DEV` against the CPU (fp32), bf16 autocast against fp32, and an ExBERT training step on `DEV`."
    from exbert.train import build_model

    batch, out = eval_batch(data), {}
    for kind in ("vdb", "exbert"):
        torch.manual_seed(0)
        m = build_model(kind, str(backbone), **((exbert or {}) if kind == "exbert" else {})).eval()
        extra = dict(output_expert_assignments=True) if kind == "exbert" else {}
        with torch.inference_mode():
            ref = m(**batch, **extra)
            m.to(DEV)
            b = {k: v.to(DEV) for k, v in batch.items()}
            got = m(**b, **extra)
            with torch.autocast(torch.device(DEV).type, dtype=torch.bfloat16):
                half = m(**b, **extra)
        r = dict(
            fp32_max_abs_diff=max(
                max_diff(ref.start_logits, got.start_logits), max_diff(ref.end_logits, got.end_logits)
            ),
            bf16_argmax_agreement=(half.start_logits.argmax(-1).cpu() == got.start_logits.argmax(-1).cpu())
            .float()
            .mean()
            .item(),
        )
        if kind == "exbert":
            r["top1_expert_agreement"] = (
                (ref.expert_assignments[-1][..., 0] == got.expert_assignments[-1][..., 0].cpu()).float().mean().item()
            )
        r["ok"] = (
            r["fp32_max_abs_diff"] < (1e-3 if kind == "vdb" else 1e-2)
            and r["bf16_argmax_agreement"] >= 0.75
            and r.get("top1_expert_agreement", 1.0) >= 0.99
        )
        out[kind] = r
    out["exbert_train_step"] = train_step(build_model("exbert", str(backbone), **(exbert or {})).to(DEV), batch)
    out["ok"] = all(v["ok"] for v in out.values() if isinstance(v, dict))
    return out


def train_step(m, batch: dict, steps: int = 8) -> dict:
    """Train `m` for `steps` steps on one batch (bf16 autocast where supported): finite losses, aux loss, router
    gradients, loss falls."""
    b = {k: v.to(DEV) for k, v in batch.items()}
    b["start_positions"] = b["end_positions"] = torch.ones(len(b["input_ids"]), dtype=torch.long, device=DEV)
    opt, losses = torch.optim.AdamW(m.parameters(), lr=1e-4), []
    bf16 = DEV == "cuda" and torch.cuda.is_bf16_supported()
    m.train()
    for i in range(steps):
        with torch.autocast(torch.device(DEV).type, dtype=torch.bfloat16, enabled=bf16):
            o = m(**b)
        o.loss.backward()
        if i == 0:
            router = [p.grad for n, p in m.named_parameters() if "to_gates" in n]
            grads_ok = all(p.grad is None or torch.isfinite(p.grad).all() for p in m.parameters())
            aux = o.aux_loss.item()
        opt.step()
        opt.zero_grad(set_to_none=True)
        losses.append(o.loss.item())
    r = dict(
        bf16=bf16,
        losses=losses,
        aux_loss=aux,
        grads_finite=bool(grads_ok),
        router_grad=bool(router) and all(g is not None and g.abs().sum() > 0 for g in router),
    )
    r["ok"] = (
        all(map(lambda x: x == x and abs(x) < 1e4, losses))
        and aux > 0
        and r["grads_finite"]
        and r["router_grad"]
        and losses[-1] < losses[0]
    )
    return r


RUN = """
import json, sys; sys.path.insert(0, {root!r})
from exbert.train import make_config, train_and_evaluate
row = train_and_evaluate(make_config("exbert", **json.loads(sys.argv[1])), progress=False)
print("@@" + json.dumps(row))
"""


def run_tiny(cfg: dict, cpu: bool) -> dict:
    "A `train_and_evaluate` run in a fresh process, on the CPU (`cpu`) or on `DEV`; its results row and history."
    env = dict(os.environ, **({"CUDA_VISIBLE_DEVICES": ""} if cpu else {}))
    p = subprocess.run(
        [sys.executable, "-c", RUN.format(root=str(ROOT)), json.dumps(cfg)], capture_output=True, text=True, env=env
    )
    rows = [line for line in p.stdout.splitlines() if line.startswith("@@")]
    if p.returncode or not rows:
        raise RuntimeError(f"tiny run failed (exit {p.returncode}):\n{p.stderr[-3000:]}")
    return dict(row=json.loads(rows[-1][2:]), history=json.loads((Path(cfg["out"]) / "history.json").read_text()))


def check_trainer(work: Path, backbone: Path, data: Path, n_train: int) -> dict:
    "The same ExBERT run (fp32, dropout off) on `DEV` and on the CPU: validation loss per epoch, EM/F1, answers."
    from exbert.predict import load_qa_model, predict
    from exbert.data import load_squad

    base = dict(
        backbone=str(backbone),
        data=str(data),
        n_train=n_train,
        max_length=128,
        stride=32,
        epochs=2,
        batch_size=8,
        squad_eval=16,
        bioasq_eval=16,
        val_size=16,
        n_layers=2,
        n_experts=4,
        bf16=False,
        attention_dropout=0.0,
        dropout_before_moe=0.0,
        dropout=0.0,
        qa_dropout=0.0,
        keep_checkpoints=False,
    )
    gpu = run_tiny(dict(base, out=str(work / "on-device")), cpu=False)
    cpu = run_tiny(dict(base, out=str(work / "on-cpu")), cpu=True)
    rel = [abs(g["val_loss"] - c["val_loss"]) / abs(c["val_loss"]) for g, c in zip(gpu["history"], cpu["history"])]
    qs = load_squad(data / "squad/squad-v1.1-dev.json.gz").select(range(16))
    ans = {
        d: predict(load_qa_model(work / "on-device" / "model", device=d), qs, progress=False).predictions
        for d in (DEV, "cpu")
    }
    same = sum(ans[DEV][k] == ans["cpu"][k] for k in ans["cpu"]) / len(ans["cpu"])
    r = dict(
        val_loss_rel_diff=rel,
        squad_em=(gpu["row"]["squad_em"], cpu["row"]["squad_em"]),
        bioasq_em=(gpu["row"]["bioasq_em"], cpu["row"]["bioasq_em"]),
        answers_same_on_both=same,
        device_train_seconds=gpu["row"]["train_seconds"],
        cpu_train_seconds=cpu["row"]["train_seconds"],
    )
    r["ok"] = max(rel) < 0.01 and same >= 0.9 and abs(r["squad_em"][0] - r["squad_em"][1]) <= 12.5
    return r


def grid(
    out: Path, data: Path, backbone: str, minutes: float, workers: int, smoke: bool, max_runs: int | None = None
) -> dict:
    "The paper grid, one seed, for at most `minutes` (killed then; finished runs are kept and tabulated)."
    args = [
        "--preset",
        "paper",
        "--backbone",
        backbone,
        "--seeds",
        "1",
        "--data",
        str(data),
        "--out",
        str(out),
        "--workers",
        str(workers),
        "--squad-eval",
        "8" if smoke else "1000",
    ]
    if max_runs is not None:
        args += ["--max-runs", str(max_runs)]
    if smoke:
        args += ["--ratios", "1", "--orders", "shuffled", "--n-train", "24", "--max-length", "160"]
    t0 = time.time()
    cmd = [sys.executable, "-c", "import sys; from exbert.cli import main; sys.exit(main())", "reproduce", *args]
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=60 * minutes)
    except subprocess.TimeoutExpired as e:
        p = e
    from exbert.experiments import read_results

    rows = read_results(out / "results.jsonl")
    cols = ("run_id", "squad_em", "squad_f1", "bioasq_em", "bioasq_f1", "train_seconds", "bf16")
    return dict(
        command="exbert reproduce " + " ".join(args),
        seconds=round(time.time() - t0, 1),
        finished=len(rows),
        stopped_at_limit=isinstance(p, subprocess.TimeoutExpired),
        rows=[{k: r.get(k) for k in cols} for r in rows],
        tail=text(p.stdout)[-3000:],
        error_tail=text(p.stderr)[-3000:],
        ok=len(rows) > 0 and (isinstance(p, subprocess.TimeoutExpired) or p.returncode == 0),
    )


def text(b) -> str:
    return b.decode(errors="replace") if isinstance(b, bytes) else (b or "")


def step(report: dict, name: str, fn, **kwargs):
    "Run one step, recording its result (or its error) and its seconds in `report`."
    t0 = time.time()
    print(f"== {name} ...", flush=True)
    try:
        report[name] = fn(**kwargs)
    except Exception as e:
        report[name] = dict(ok=False, error=f"{type(e).__name__}: {e}", traceback=traceback.format_exc()[-3000:])
    report[name]["seconds"] = round(time.time() - t0, 1)
    print(f"== {name}: {'ok' if report[name].get('ok') else 'FAILED'} ({report[name]['seconds']} s)", flush=True)


def environment() -> dict:
    import transformers

    return dict(
        ok=True,
        torch=torch.__version__,
        transformers=transformers.__version__,
        device=DEV,
        gpu=torch.cuda.get_device_name(0) if DEV == "cuda" else None,
        bf16_supported=DEV == "cuda" and torch.cuda.is_bf16_supported(),
        cpus=os.cpu_count(),
    )


def bench() -> dict:
    "`exbert bench --parts gpu`: the GPU part of the benchmark (its report printed, its numbers returned)."
    from exbert.bench import run_bench, format_report

    r = run_bench(parts=("gpu",), clock="wall")
    print(format_report(r))
    return dict(r, ok=isinstance(r.get("gpu"), dict))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pack", default=str(ROOT / ".gpu"), help="the folder tools/gpu_pack.py wrote (default .gpu)")
    ap.add_argument("--out", default="gpu-out", help="where gpu_check.json and the grid go")
    ap.add_argument("--grid-minutes", type=float, default=5.0, help="stop the paper grid after this long (default 5)")
    ap.add_argument(
        "--workers", type=int, default=4, help="grid runs side by side on the GPU (default 4: small models)"
    )
    ap.add_argument(
        "--grid-max-runs", type=int, help="stop the grid after this many runs (default: all 24, or --grid-minutes)"
    )
    ap.add_argument("--steps", nargs="+", default=["checks", "trainer", "bench", "grid"])
    ap.add_argument(
        "--smoke", action="store_true", help="toy sizes, tiny backbone, synthetic data, any device (the test)"
    )
    a = ap.parse_args(argv)
    out = Path(a.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="exbert-gpu-"))
    report = dict(started=time.strftime("%Y-%m-%d %H:%M:%S"), smoke=a.smoke)
    step(report, "environment", environment)
    if a.smoke:
        from exbert.data import write_synthetic_data
        from exbert.train import tiny_backbone

        backbone, data, name = (
            tiny_backbone(work / "tiny", n_layers=6),
            write_synthetic_data(work / "data"),
            str(work / "tiny"),
        )
    else:
        backbone, data = unpack(Path(a.pack), work / "data")
        name = "standin"
    if "checks" in a.steps:
        step(
            report,
            "checks",
            check_models,
            backbone=backbone,
            data=data,
            exbert=dict(n_layers=2, n_experts=4) if a.smoke else None,
        )
    if "trainer" in a.steps:
        step(
            report,
            "trainer",
            check_trainer,
            work=work / "trainer",
            backbone=backbone,
            data=data,
            n_train=32 if a.smoke else 64,
        )
    if "bench" in a.steps and not a.smoke:
        step(report, "bench", bench)
    if "grid" in a.steps:
        step(
            report,
            "grid",
            grid,
            out=out / "paper-standin",
            data=data,
            backbone=name,
            minutes=a.grid_minutes,
            workers=1 if a.smoke else a.workers,
            smoke=a.smoke,
            max_runs=a.grid_max_runs,
        )
    report["ok"] = all(v.get("ok") for v in report.values() if isinstance(v, dict))
    (out / "gpu_check.json").write_text(json.dumps(report, indent=1, default=str))
    print(f"wrote {out / 'gpu_check.json'}: {'all steps ok' if report['ok'] else 'some steps FAILED'}")
    return 0 if report["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
