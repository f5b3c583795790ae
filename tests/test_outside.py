"""The front page and the report run outside a clone, as on Colab: the package installed from a wheel, the network
off, the committed results read from a copy named by `$EXBERT_RESULTS`, no data folder."""

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
