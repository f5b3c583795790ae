"""Drop progress bars from the notebooks' stored outputs (they are not content, and the docs would show them).

`python tools/clean_outputs.py` rewrites the notebooks that hold one; `--check` fails naming them. A progress bar
is a stderr stream whose text redraws itself (`\\r`) with a tqdm bar (`|`, `it/s` or `%`); other stderr (an error
message a cell demonstrates) stays."""

import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BAR = re.compile(r"\r.*(\d+%\||it/s|s/it|examples/s)")


def is_bar(output: dict) -> bool:
    "A stderr stream output that is a tqdm progress bar."
    return output.get("name") == "stderr" and bool(BAR.search("".join(output.get("text", ""))))


def clean(nb_path: Path, write: bool = True) -> int:
    "Remove the progress bars from `nb_path`'s outputs; how many there were."
    text = nb_path.read_text()
    nb = json.loads(text)
    n = 0
    for c in nb["cells"]:
        outs = c.get("outputs", [])
        keep = [o for o in outs if not is_bar(o)]
        n += len(outs) - len(keep)
        if len(keep) != len(outs):
            c["outputs"] = keep
    if n and write:
        indent = 1 if text.startswith('{\n "') else 2
        nb_path.write_text(json.dumps(nb, indent=indent, ensure_ascii=False) + "\n")
    return n


if __name__ == "__main__":
    check = "--check" in sys.argv
    found = {p.name: n for p in sorted((ROOT / "nbs").glob("*.ipynb")) if (n := clean(p, write=not check))}
    if check and found:
        sys.exit(f"clean_outputs: FAILED: progress bars stored in {found}; run `python tools/clean_outputs.py`")
    print(f"progress bars removed: {found or 'none'}")
