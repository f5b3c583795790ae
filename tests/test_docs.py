"""The real docs site: built with `nbdev-docs` (Quarto) from a copy of the repository and checked as a reader meets it.

Quarto: `.ci/run` installs it from ../shared/tools/install-quarto.sh. Without it these tests fail in CI (CI=true)
and are skipped elsewhere, saying so. Screenshots need Debian's `chromium`; they land in `$EXBERT_SHOTS`
(default: a temporary folder) and are skipped without it."""

import ast
import json
import os
import re
import shutil
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlparse
import pytest

pytestmark = pytest.mark.xdist_group("docs")  # one worker builds the site (`site`, a module fixture) once
ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
NBS = sorted(p for p in (ROOT / "nbs").glob("[0-9]*.ipynb"))


def need(tool: str, how: str) -> str:
    path = shutil.which(tool)
    if path:
        return path
    if os.environ.get("CI"):
        pytest.fail(f"{tool} is not installed, so the docs site cannot be checked: {how}")
    pytest.skip(f"{tool} is not installed ({how}): docs site not checked")


def page_of(nb: Path) -> str:
    "The page nbdev makes of a notebook: its name without the number prefix."
    return re.sub(r"^\d+_", "", nb.stem) + ".html"


class Links(HTMLParser):
    "Every link, image and element id of one page."

    def __init__(self):
        super().__init__()
        self.hrefs, self.imgs, self.ids, self.sidebar, self._side = [], [], set(), [], 0

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if "id" in a:
            self.ids.add(a["id"])
        if a.get("id") == "quarto-sidebar":
            self._side = 1
        elif self._side and tag in ("nav", "div"):
            self._side += 1
        if tag == "a" and a.get("href"):
            self.hrefs.append(a["href"])
            if self._side:
                self.sidebar.append(a["href"])
        if tag == "img" and a.get("src"):
            self.imgs.append(a["src"])

    def handle_endtag(self, tag):
        if self._side and tag in ("nav", "div"):
            self._side -= 1


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    need("quarto", "bash ../shared/tools/install-quarto.sh PREFIX and put PREFIX/bin on PATH")
    repo = tmp_path_factory.mktemp("docs") / "repo"
    shutil.copytree(
        ROOT,
        repo,
        ignore=shutil.ignore_patterns(".venv*", ".git", "_proc", "_docs", "scratch", "runs", "wandb"),
    )
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}
    r = subprocess.run([str(BIN / "nbdev-docs")], cwd=repo, capture_output=True, text=True, env=env)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-5000:]
    docs = repo / "_docs"
    pages = {p: Links() for p in docs.rglob("*.html") if "site_libs" not in p.parts}
    for p, parser in pages.items():
        parser.feed(p.read_text(encoding="utf-8"))
    return docs, pages


def test_every_notebook_has_a_page_in_the_sidebar(site):
    docs, pages = site
    sidebar = {Path(urlparse(h).path).name for h in pages[docs / "index.html"].sidebar}
    for nb in [*NBS, ROOT / "nbs" / "report.ipynb"]:
        assert (docs / page_of(nb)).is_file(), f"{nb.name}: no page {page_of(nb)}"
        assert page_of(nb) in sidebar, f"{page_of(nb)} is not in the sidebar ({sorted(sidebar)})"


def _local(href: str) -> bool:
    u = urlparse(href)
    return not u.scheme and not u.netloc and not href.startswith(("#", "mailto:", "javascript:"))


def test_images_and_internal_links_resolve(site):
    docs, pages = site
    missing = []
    for page, p in pages.items():
        for kind, refs in (("image", p.imgs), ("link", p.hrefs)):
            for ref in refs:
                if not _local(ref) or ref.startswith("data:"):
                    continue
                target = (page.parent / unquote(urlparse(ref).path)).resolve()
                if target.is_dir():
                    target = target / "index.html"
                if not target.exists():
                    missing.append(f"{page.relative_to(docs)}: {kind} {ref}")
                frag = urlparse(ref).fragment
                if (
                    kind == "link"
                    and frag
                    and target.suffix == ".html"
                    and target in pages
                    and frag not in pages[target].ids
                ):
                    missing.append(f"{page.relative_to(docs)}: link {ref} (no #{frag} there)")
    assert not missing, "\n".join(missing[:40])


def _exported(nb: Path) -> list[str]:
    "Names of the functions and classes a notebook exports (top level of its `#| export` cells)."
    names = []
    for c in json.loads(nb.read_text())["cells"]:
        src = "".join(c["source"])
        if c["cell_type"] != "code" or not src.startswith("#| export"):
            continue
        for node in ast.parse(src).body:
            if isinstance(node, (ast.FunctionDef, ast.ClassDef)) and not node.name.startswith("_"):
                names.append(node.name)
    return names


def test_every_exported_function_and_class_has_its_entry(site):
    docs, pages = site
    missing = [
        f"{page_of(nb)}: {name}"
        for nb in NBS
        for name in _exported(nb)
        if name.lower() not in pages[docs / page_of(nb)].ids
    ]
    assert not missing, "no show_doc entry for:\n" + "\n".join(missing)


def test_nothing_unintended_is_rendered(site):
    docs, pages = site
    stray = [p.relative_to(docs) for p in pages if p.parent != docs]
    assert not stray, f"pages that are data, not notebooks (orphans): {stray}"
    problems = []
    for page in pages:
        text = page.read_text(encoding="utf-8")
        body = re.sub(r"<[^>]+>", "", text)
        for what, pat in (
            ("a cell directive", r"^\s*#\| ?(export|hide|default_exp|eval|echo)"),
            ("front matter", r"^---\s*\ntitle:"),
            ("a traceback", r"Traceback \(most recent call last\)"),
            ("an undocumented signature", r"\(\s*\*args, \*\*kwargs\s*\)\s*:"),
        ):
            if re.search(pat, body, re.M):
                problems.append(f"{page.name}: {what}")
    assert not problems, "\n".join(problems)


def test_screenshots(site, tmp_path):
    docs, _ = site
    chromium = need("chromium", "apt-get install chromium")
    out = Path(os.environ.get("EXBERT_SHOTS", tmp_path))
    out.mkdir(parents=True, exist_ok=True)
    for page in ("index", "report", "moe", "results"):  # the first screen a reader sees: 1280 x 900
        png = out / f"docs-{page}.png"
        r = subprocess.run(
            [
                chromium,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--hide-scrollbars",
                "--window-size=1280,900",
                f"--screenshot={png}",
                (docs / f"{page}.html").as_uri(),
            ],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert png.is_file() and png.stat().st_size > 20_000, f"{page}: no screenshot ({r.stderr[-500:]})"
