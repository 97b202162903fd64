"""Build infra/plots/offline.html: DVC's plots page with vega, vega-lite and vega-embed inlined.

`dvc plots show` writes `<script src="https://cdn.jsdelivr.net/...">` tags into its default page,
so offline it renders blank. A template without DVC's `{scripts}` placeholder keeps those tags
out; the libraries travel inside it instead. Rebuild (needs npm and the registry once):

    python infra/plots/build_template.py [--vega 5] [--vega-lite 5] [--vega-embed 6]
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import tarfile
import tempfile
from pathlib import Path

OUTPUT = Path(__file__).with_name("offline.html")
BUNDLES = {
    "vega": "build/vega.min.js",
    "vega-lite": "build/vega-lite.min.js",
    "vega-embed": "build/vega-embed.min.js",
}
MAX_BYTES = 2_000_000


def _pack(spec: str, workdir: Path) -> Path:
    """`npm pack` one package into workdir and unpack it; returns its `package/` folder."""
    out = subprocess.run(
        ["npm", "pack", "--silent", spec], cwd=workdir, check=True, capture_output=True, text=True
    ).stdout.split()[-1]
    target = workdir / out.removesuffix(".tgz")
    with tarfile.open(workdir / out) as archive:
        archive.extractall(target, filter="data")
    return target / "package"


def _script(code: str) -> str:
    # The source map is not shipped; a closing tag inside the code would end the element early.
    code = re.sub(r"\n?//# sourceMappingURL=\S+\s*$", "", code)
    if "</script" in code.lower():
        raise ValueError("bundle contains '</script': it cannot be inlined as is")
    return f"<script>\n{code}\n</script>"


def build(versions: dict[str, str], output: Path = OUTPUT) -> Path:
    with tempfile.TemporaryDirectory() as tmp:
        packages = {name: _pack(f"{name}@{major}", Path(tmp)) for name, major in versions.items()}
        notes, scripts, license_text = [], [], ""
        for name, package in packages.items():
            meta = json.loads((package / "package.json").read_text(encoding="utf-8"))
            notes.append(
                f"  {name} {meta['version']} ({meta['license']}), https://github.com/vega/{name}"
            )
            scripts.append(_script((package / BUNDLES[name]).read_text(encoding="utf-8")))
            if not license_text and (package / "LICENSE").exists():
                license_text = (package / "LICENSE").read_text(encoding="utf-8").strip()
    license_text = license_text.replace("--", "- -")  # "--" may not appear inside a comment
    page = "\n".join(
        [
            "<!DOCTYPE html>",
            "<!--",
            "warc2gpt's page for `dvc plots show`, readable offline: the libraries below are inlined",
            "(minified builds from the npm registry) instead of DVC's CDN script tags. Rebuild with",
            "`python infra/plots/build_template.py`.",
            "",
            *notes,
            "",
            # vega's npm package carries no LICENSE file; its repository's names the same holder.
            "All three: BSD 3-Clause, same copyright holder; the license text follows.",
            "",
            license_text,
            "-->",
            '<html lang="en">',
            "<head>",
            '<meta charset="utf-8">',
            "{refresh_tag}",
            "<title>warc2gpt plots</title>",
            *scripts,
            "<style>",
            "  body { font-family: system-ui, sans-serif; margin: 1.5em; }",
            "  table { border-spacing: 15px; }",
            "</style>",
            "</head>",
            "<body>",
            "{plot_divs}",
            "</body>",
            "</html>",
            "",
        ]
    )
    if len(page.encode()) > MAX_BYTES:
        raise ValueError(f"{output}: {len(page.encode())} bytes, over the {MAX_BYTES} limit")
    output.write_text(page, encoding="utf-8")
    return output


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vega", default="5", help="version or range (default: latest 5.x)")
    parser.add_argument("--vega-lite", default="5")
    parser.add_argument("--vega-embed", default="6")
    parser.add_argument("--output", type=Path, default=OUTPUT)
    args = parser.parse_args(argv)
    path = build(
        {"vega": args.vega, "vega-lite": args.vega_lite, "vega-embed": args.vega_embed}, args.output
    )
    print(f"wrote {path} ({path.stat().st_size} bytes)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
