"""Render the Mermaid diagrams of docs/schema.md as people see them, to look at the PNGs.

A developer tool, not part of CI: it renders each ```mermaid block with the real Mermaid
library (npm package ``mermaid``, installed into a temporary folder unless --mermaid names
one) in headless Chromium (Debian: ``apt-get install chromium``), reports any syntax error
Mermaid finds, and writes one PNG per diagram.

    python tools/render_pictures.py [docs/schema.md] [--out DIR] [--mermaid NODE_MODULES_PARENT]

Exit 0 when every diagram rendered, 1 when Mermaid rejected one, 2 when it cannot run.
Nothing is written into the repository: npm's files and the PNGs go to temporary folders.
"""

from __future__ import annotations

import argparse
import html
import json
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BLOCK = re.compile(r"^```mermaid\n(.*?)^```", re.MULTILINE | re.DOTALL)
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
    "--virtual-time-budget=15000",
]
PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><style>body {{ margin: 16px; background: white; }}</style>
<script src="{script}"></script></head>
<body><div id="diagram"></div><pre id="result">pending</pre>
<script>
mermaid.initialize({{ startOnLoad: false, securityLevel: "strict",
  er: {{ useMaxWidth: false }}, flowchart: {{ useMaxWidth: false }} }});
const source = {source};
(async () => {{
  const result = document.getElementById("result");
  try {{
    await mermaid.parse(source);
    const {{ svg }} = await mermaid.render("picture", source);
    document.getElementById("diagram").innerHTML = svg;
    const box = document.querySelector("#diagram svg").getBoundingClientRect();
    result.textContent = "ok " + Math.ceil(box.width) + " " + Math.ceil(box.height);
  }} catch (error) {{
    result.textContent = "error " + String(error && error.message || error);
  }}
}})();
</script></body></html>
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("document", nargs="?", type=Path, default=ROOT / "docs" / "schema.md")
    parser.add_argument("--out", type=Path, help="where the PNGs go (default: a temporary folder)")
    parser.add_argument("--mermaid", type=Path, help="a folder whose node_modules has mermaid")
    args = parser.parse_args()
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        print("render_pictures: error: no chromium (apt-get install chromium)", file=sys.stderr)
        return 2
    blocks = BLOCK.findall(args.document.read_text(encoding="utf-8"))
    out = args.out or Path(tempfile.mkdtemp(prefix="pictures-"))
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="mermaid-") as scratch:
        modules = args.mermaid or _install_mermaid(Path(scratch))
        script = modules / "node_modules" / "mermaid" / "dist" / "mermaid.min.js"
        failed = 0
        for number, source in enumerate(blocks, start=1):
            page = Path(scratch) / f"diagram{number}.html"
            page.write_text(
                PAGE.format(script=script.as_uri(), source=json.dumps(source)), encoding="utf-8"
            )
            result = _result(chromium, page, Path(scratch))
            if not result.startswith("ok "):
                failed += 1
                print(f"diagram {number}: {result}")
                continue
            _, width, height = result.split()
            png = out / f"diagram{number}.png"
            size = f"{min(int(width) + 40, 6000)},{min(int(height) + 80, 12000)}"
            _chromium(chromium, Path(scratch), f"--window-size={size}", f"--screenshot={png}", page)
            print(f"diagram {number}: rendered {width}x{height} -> {png}")
    return 1 if failed else 0


def _install_mermaid(folder: Path) -> Path:
    """``npm install mermaid`` into ``folder``, leaving no lock file behind."""
    subprocess.run(
        ["npm", "install", "--no-save", "--no-package-lock", "--silent", "mermaid@11"],
        cwd=folder,
        check=True,
    )
    return folder


def _result(chromium: str, page: Path, scratch: Path) -> str:
    """What the page wrote in ``#result`` once Mermaid was done."""
    dom = _chromium(chromium, scratch, "--dump-dom", page)
    found = re.search(r'<pre id="result">(.*?)</pre>', dom, re.DOTALL)
    return html.unescape(found.group(1)) if found else "error: the page did not finish"


def _chromium(chromium: str, scratch: Path, *args: str | Path) -> str:
    """Run headless Chromium on a new, empty profile; its stdout."""
    profile = tempfile.mkdtemp(prefix="profile-", dir=scratch)
    done = subprocess.run(
        [
            chromium,
            *CHROMIUM_FLAGS,
            f"--user-data-dir={profile}",
            *map(str, args[:-1]),
            Path(args[-1]).as_uri(),
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    return done.stdout


if __name__ == "__main__":
    raise SystemExit(main())
