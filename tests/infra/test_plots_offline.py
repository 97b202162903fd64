"""`dvc plots show` with the project's template gives a page that draws its plots offline."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "infra" / "plots" / "offline.html"
RENDER = Path(__file__).with_name("render_vega.js")
# A loss curve with values that appear nowhere else in the page.
CURVE = [(0, 8.3177), (10, 6.2511), (20, 5.4242), (30, 4.9913)]


def _dvc(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    dvc = Path(sys.executable).with_name("dvc")  # the venv's, activated or not
    return subprocess.run([str(dvc), *args], cwd=cwd, check=True, capture_output=True, text=True)


@pytest.fixture(scope="module")
def plots_page(tmp_path_factory) -> Path:
    """A throwaway DVC project with a loss curve, rendered with the repository's DVC config."""
    repo = tmp_path_factory.mktemp("plots")
    subprocess.run(["git", "init", "-q"], cwd=repo, check=True)
    _dvc("init", "-q", cwd=repo)
    # The project's own config, so the test checks the path it points at, not a copy of it.
    shutil.copy(ROOT / ".dvc" / "config", repo / ".dvc" / "config")
    (repo / "infra" / "plots").mkdir(parents=True)
    shutil.copy(TEMPLATE, repo / "infra" / "plots" / TEMPLATE.name)
    (repo / "plots").mkdir()
    rows = "".join(f"{step}\t{loss}\n" for step, loss in CURVE)
    (repo / "plots" / "train.tsv").write_text("step\tloss\n" + rows, encoding="utf-8")
    (repo / "dvc.yaml").write_text(
        "plots:\n  - plots/train.tsv:\n      x: step\n      y: loss\n", encoding="utf-8"
    )
    _dvc("plots", "show", "-o", "out", cwd=repo)
    return repo / "out" / "index.html"


def test_repository_config_points_at_the_template():
    value = _dvc("config", "plots.html_template", cwd=ROOT).stdout.strip()
    # DVC resolves a relative template path against the .dvc directory.
    assert (ROOT / ".dvc" / value).resolve() == TEMPLATE


def test_template_is_small_and_names_versions_and_licenses():
    text = TEMPLATE.read_text(encoding="utf-8")
    assert TEMPLATE.stat().st_size < 2_000_000
    for name in ("vega", "vega-lite", "vega-embed"):
        assert re.search(rf"^  {name} \d+\.\d+\.\d+ \(BSD-3-Clause\)", text, re.M), name
    assert "{plot_divs}" in text and "{scripts}" not in text  # DVC's CDN tags stay out


def test_page_fetches_no_script_and_carries_the_data(plots_page: Path):
    page = plots_page.read_text(encoding="utf-8")
    assert not re.search(r"<script[^>]*\bsrc\s*=", page, re.I)
    assert "cdn.jsdelivr" not in page
    assert "vegaEmbed('#" in page  # DVC's plot div calls the inlined library
    for step, loss in CURVE:
        assert f'"step": "{step}", "loss": "{loss}"' in page


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
def test_inlined_libraries_draw_the_curve(plots_page: Path):
    svg = subprocess.run(
        ["node", str(RENDER), str(plots_page)],
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    ).stdout
    line = re.search(r'aria-roledescription="line mark" d="([^"]+)"', svg)
    assert line, "no line mark in the rendered plot"
    assert len(re.findall(r"[ML]", line.group(1))) == len(CURVE)  # one vertex per row
    labels = re.findall(r"<text[^>]*>([^<]*)</text>", svg)
    assert "step" in labels and "loss" in labels
