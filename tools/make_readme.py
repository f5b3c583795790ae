"""Write README.md from nbs/index.ipynb (what `nbdev-readme` does, without needing Quarto).

`python tools/make_readme.py` writes it; `--check` fails if README.md is out of date."""

import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _links(md: str) -> str:
    "Links relative to nbs/ made relative to the repository root; notebooks' pages by their notebook."
    md = md.replace("](results/", "](nbs/results/").replace("](report.ipynb", "](nbs/report.ipynb")
    return re.sub(r"\]\((\d\d_[^)]*\.ipynb)", r"](nbs/\1", md)


def readme_text(nb_path=ROOT / "nbs" / "index.ipynb"):
    "Markdown cells as they are; code cells (not hidden) as fenced Python with their text outputs (stderr left out)."
    nb = json.loads(Path(nb_path).read_text())
    out = ["<!-- WARNING: generated from nbs/index.ipynb by tools/make_readme.py; edit the notebook. -->"]
    for cell in nb["cells"]:
        src = "".join(cell["source"]).strip()
        if cell["cell_type"] == "markdown":
            if src.startswith("# ") and "\n> " in src:  # nbdev title + summary
                title, summary = src.split("\n> ", 1)
                src = f"{title.strip()}\n\n> {summary.strip()}"
            out.append(_links(src))
        elif cell["cell_type"] == "code" and src and not src.startswith("#| hide"):
            if not src.startswith("#| echo: false"):
                out.append("```python\n" + src + "\n```")
            for o in cell.get("outputs", []):
                if o.get("name") == "stderr":
                    continue  # warnings and progress bars are not content
                if "text/markdown" in o.get("data", {}):  # rich output (a table): as Markdown itself
                    out.append(_links("".join(o["data"]["text/markdown"]).strip()))
                    continue
                text = "".join(o.get("text", "") or o.get("data", {}).get("text/plain", ""))
                if text.strip():
                    out.append("```\n" + text.rstrip() + "\n```")
    return "\n\n".join(out) + "\n"


if __name__ == "__main__":
    text, target = readme_text(), ROOT / "README.md"
    if "--check" in sys.argv:
        if not target.exists() or target.read_text() != text:
            sys.exit(
                "make_readme: FAILED: README.md is out of date with nbs/index.ipynb; run `python tools/make_readme.py`"
            )
        sys.exit(0)
    target.write_text(text)
    print(f"wrote {target}")
