"""Pack what the GPU check (tools/gpu_check.sh) needs into .gpu/, a folder git ignores, to carry to a GPU machine.

    python tools/gpu_pack.py [--data ../shared/data] [--out .gpu] [--standin DIR] [--no-wheels] [--newer]

A GPU machine of the device tool has no network and takes at most 64 MiB of files (the working tree included), so:
- standin/: the stand-in backbone's config, tokenizer and conversion record, and its weights rounded to bf16 and
  xz-compressed (about 30 MiB instead of 86 MiB of fp32). gpu_check.py writes them back as fp32 safetensors, so the
  GPU runs start from the stand-in's weights rounded to bf16 (a relative change of at most 2^-9 per weight).
- data/: the files the data loaders read (SQuAD v1.1 train and dev, BioASQ from ../shared/data/bioasq/biobert and
  derived), the SQuAD training file recompressed with xz; gpu_check.py unpacks them to the layout the loaders expect.
- wheels/: Python 3.12 wheels of the packages the GPU image lacks (WHEELS), at the versions installed here. The
  image's transformers 5.17 and huggingface_hub 1.33 run the check (`gpu_check.py --smoke` passed with them on
  the CPU); `--newer` also packs this environment's transformers and huggingface_hub (13.5 MiB more).
It prints the sizes and exits 1 if the tree that travels plus the pack would exceed the limit.
"""

import argparse
import gzip
import importlib.metadata as md
import json
import lzma
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

LIMIT = 64 * 2**20
WHEELS = (
    "datasets",
    "dill",
    "multiprocess",
    "st-moe-pytorch",
    "CoLT5-attention",
    "local-attention",
    "hyper-connections",
    "torch-einops-utils",
    "beartype",
)  # what the GPU image lacks
NEWER = ("transformers", "huggingface_hub", "httpx2", "httpcore2", "truststore")  # --newer: this environment's versions
PLATFORMS = ("manylinux_2_28_x86_64", "manylinux_2_17_x86_64", "manylinux2014_x86_64")
DATA = ("squad/squad-v1.1-dev.json.gz", "bioasq/biobert", "bioasq/derived", "README.md")
SQUAD_TRAIN = "squad/squad-v1.1-train.reconstructed.json.gz"


def pack_weights(standin: Path, out: Path) -> None:
    "The stand-in folder without its fp32 weights, and the weights as bf16 safetensors, xz-compressed."
    import torch
    import safetensors.torch as st

    out.mkdir(parents=True)
    for f in standin.iterdir():
        if f.name != "model.safetensors":
            shutil.copy2(f, out / f.name)
    sd = {k: v.to(torch.bfloat16).contiguous() for k, v in st.load_file(standin / "model.safetensors").items()}
    (out / "model.bf16.safetensors.xz").write_bytes(lzma.compress(st.save(sd), preset=6))


def pack_data(data: Path, out: Path) -> None:
    "The data files the loaders read; SQuAD's training file recompressed with xz."
    for rel in DATA:
        src, dst = data / rel, out / rel
        dst.parent.mkdir(parents=True, exist_ok=True)
        if src.is_dir():
            shutil.copytree(src, dst)
        elif src.is_file():
            shutil.copy2(src, dst)
        else:
            sys.exit(f"{src}: missing (is --data the shared data folder?)")
    raw = gzip.decompress((data / SQUAD_TRAIN).read_bytes())
    (out / SQUAD_TRAIN).with_suffix(".xz").write_bytes(lzma.compress(raw, preset=9))


def pack_wheels(out: Path, newer: bool = False) -> None:
    "Python 3.12 manylinux wheels of `WHEELS` (and `NEWER` if asked), at the versions installed in this environment."
    pins = [f"{n}=={md.version(n)}" for n in WHEELS + (NEWER if newer else ())]
    cmd = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "-q",
        "--no-deps",
        "--only-binary=:all:",
        "--python-version",
        "3.12",
        "--implementation",
        "cp",
        *[a for p in PLATFORMS for a in ("--platform", p)],
        "-d",
        str(out),
        *pins,
    ]
    subprocess.run(cmd, check=True)


def tree_bytes(root: Path) -> int:
    "Bytes of the files that travel with the working tree: tracked, and untracked but not ignored."
    files = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=root,
        capture_output=True,
        check=True,
    ).stdout.split(b"\0")
    return sum((root / f.decode()).stat().st_size for f in files if f and (root / f.decode()).is_file())


def folder_bytes(d: Path) -> int:
    return sum(f.stat().st_size for f in d.rglob("*") if f.is_file())


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default="../shared/data")
    ap.add_argument("--out", default=".gpu")
    ap.add_argument("--standin", help="stand-in folder (default: exbert.model.standin_distilbert())")
    ap.add_argument("--no-wheels", action="store_true", help="leave out the wheels (for a test of the rest)")
    ap.add_argument(
        "--newer", action="store_true", help="also pack this environment's transformers and huggingface_hub"
    )
    a = ap.parse_args()
    from exbert.model import standin_distilbert

    out, root = Path(a.out).resolve(), Path(__file__).resolve().parents[1]
    tmp = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}."))  # built aside, moved in whole
    try:
        pack_weights(Path(a.standin) if a.standin else standin_distilbert(), tmp / "standin")
        pack_data(Path(a.data), tmp / "data")
        if not a.no_wheels:
            pack_wheels(tmp / "wheels", a.newer)
        (tmp / "pack.json").write_text(
            json.dumps(dict(wheels=not a.no_wheels, newer=a.newer, weights="bf16", data=str(a.data)), indent=1)
        )
        if out.exists():
            shutil.rmtree(out)
        tmp.rename(out)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)
    sizes = {d.name: folder_bytes(d) for d in sorted(out.iterdir()) if d.is_dir()}
    tree = tree_bytes(root) if (root / ".git").exists() else 0
    for k, v in sizes.items():
        print(f"{out.name}/{k}: {v / 2**20:.1f} MiB")
    total = tree + folder_bytes(out)
    print(
        f"working tree {tree / 2**20:.1f} MiB + pack {folder_bytes(out) / 2**20:.1f} MiB = {total / 2**20:.1f} MiB "
        f"(limit {LIMIT / 2**20:.0f} MiB)"
    )
    if total > LIMIT:
        sys.exit("too large to carry: leave something out")


if __name__ == "__main__":
    main()
