"""Measure the library's shape against the limits the project keeps (issue #15), and fail if one is broken.

    python tools/code_shape.py          # prints every offender and a summary; exit 1 if a limit is broken

Limits: an export cell holds at most 60 statements (a cell holding only a model or layer class aside: one `class`
whose bases name `Module`, `PreTrainedModel` or `PretrainedConfig`) and at most 3 top-level definitions; no function
in `exbert/` over 60 statements (sizes are counted in statements, not lines, so that `ruff format`'s line breaks do
not change them); at most 3 imports of exbert's own modules inside functions (each a lazy import the CLI's
start-up time needs); no notebook imports a module that a later notebook defines; no call of the project's own
functions or classes (in `exbert/` or `tools/`) passes more than 4 arguments by position (issue #37: calls read like
sentences)."""

import ast
import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MAX_CELL, MAX_DEFS, MAX_FUNC, MAX_LAZY, MAX_POSITIONAL = 60, 3, 60, 3, 4
MODEL_BASES = ("Module", "PreTrainedModel", "PretrainedConfig", "PreTrainedConfig")


def export_cells():
    "Yield (notebook, cell index, source) of every `#| export` cell."
    for nb in sorted((ROOT / "nbs").glob("*.ipynb")):
        for i, c in enumerate(json.loads(nb.read_text())["cells"]):
            src = "".join(c["source"])
            if c["cell_type"] == "code" and any(line.strip() in ("#| export", "#|export") for line in src.splitlines()):
                yield nb.name, i, src


def is_model_class(tree) -> bool:
    "True when a cell is one class deriving from a torch module or a Hugging Face model/config base."
    defs = [n for n in tree.body if isinstance(n, (ast.FunctionDef, ast.ClassDef, ast.AsyncFunctionDef))]
    return (
        len(defs) == 1
        and isinstance(defs[0], ast.ClassDef)
        and any(
            (b.attr if isinstance(b, ast.Attribute) else getattr(b, "id", "")).endswith(MODEL_BASES)
            for b in defs[0].bases
        )
    )


def statements(node) -> int:
    "How many statements `node` holds (nested ones too; a `def` or `class` not counting itself)."
    return sum(isinstance(n, ast.stmt) for n in ast.walk(node)) - isinstance(node, ast.stmt)


def cell_problems():
    "Export cells over the line or definition limit."
    out = []
    for nb, i, src in export_cells():
        tree = ast.parse("\n".join(line for line in src.splitlines() if not line.startswith("#|")))
        n = statements(tree)
        defs = [n_.name for n_ in tree.body if isinstance(n_, (ast.FunctionDef, ast.ClassDef, ast.AsyncFunctionDef))]
        if n > MAX_CELL and not is_model_class(tree):
            out.append(f"{nb} cell {i}: {n} statements")
        if len(defs) > MAX_DEFS:
            out.append(f"{nb} cell {i}: {len(defs)} definitions ({', '.join(defs)})")
    return out


def function_problems():
    "Functions in exbert/ over the line limit, and imports of exbert's own modules inside functions."
    long, lazy = [], []
    for f in sorted((ROOT / "exbert").glob("*.py")):
        if f.name in ("_modidx.py",):
            continue
        tree = ast.parse(f.read_text())
        for fn in ast.walk(tree):
            if not isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            n = statements(fn)
            if n > MAX_FUNC:
                long.append(f"exbert/{f.name}:{fn.lineno} {fn.name}: {n} statements")
            for node in ast.walk(fn):
                if isinstance(node, ast.ImportFrom) and (node.level > 0 or (node.module or "").startswith("exbert")):
                    lazy.append(
                        f"exbert/{f.name}:{node.lineno} in {fn.name}: from {'.' * node.level}{node.module or ''} "
                        f"import ..."
                    )
                elif isinstance(node, ast.Import) and any(a.name.startswith("exbert") for a in node.names):
                    lazy.append(f"exbert/{f.name}:{node.lineno} in {fn.name}: import {node.names[0].name}")
    return long, sorted(set(lazy))


def positional_problems():
    "Calls of the project's own functions and classes with more than `MAX_POSITIONAL` positional arguments."
    files = sorted(f for d in ("exbert", "tools") for f in (ROOT / d).glob("*.py") if f.name != "_modidx.py")
    trees = {f: ast.parse(f.read_text()) for f in files}
    ours = {
        n.name
        for t in trees.values()
        for n in ast.walk(t)  # names defined here, unless they take *args
        if isinstance(n, ast.ClassDef)
        or isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))
        and n.args.vararg is None
    }
    out = []
    for f, t in trees.items():
        for n in ast.walk(t):
            name = (
                n.func.attr
                if isinstance(getattr(n, "func", None), ast.Attribute)
                else getattr(getattr(n, "func", None), "id", None)
            )
            if isinstance(n, ast.Call) and name in ours and len(n.args) > MAX_POSITIONAL:
                out.append(f"{f.relative_to(ROOT)}:{n.lineno} {name}: {len(n.args)} positional arguments")
    return out


def order_problems():
    "Notebooks that import an exbert module defined in a later notebook (a reader would meet it before its definition)."
    nbs = sorted((ROOT / "nbs").glob("[0-9]*.ipynb"))
    home = {}
    for k, nb in enumerate(nbs):
        for c in json.loads(nb.read_text())["cells"]:
            for line in "".join(c["source"]).splitlines():
                if line.startswith("#| default_exp "):
                    home[line.split()[-1]] = k
    out = []
    for k, nb in enumerate(nbs):
        src = "\n".join("".join(c["source"]) for c in json.loads(nb.read_text())["cells"] if c["cell_type"] == "code")
        for mod in sorted(set(re.findall(r"(?:from|import) exbert\.(\w+)", src))):
            if home.get(mod, -1) > k:
                out.append(f"{nb.name} imports exbert.{mod}, defined later in {nbs[home[mod]].name}")
    return out


def main() -> int:
    cells = cell_problems() + order_problems() + positional_problems()
    long, lazy = function_problems()
    for title, xs in (
        ("export cells over the limits, imports out of notebook order, calls of over 4 positional arguments", cells),
        (f"functions over {MAX_FUNC} statements", long),
        ("imports of exbert's own modules inside functions", lazy),
    ):
        print(f"{title}: {len(xs)}")
        [print("  " + x) for x in xs]
    bad = bool(cells or long or len(lazy) > MAX_LAZY)
    print("code shape:", "BROKEN" if bad else "ok")
    return int(bad)


if __name__ == "__main__":
    sys.exit(main())
