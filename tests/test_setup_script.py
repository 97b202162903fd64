"""scripts/setup.sh installs only when what the install depends on changed."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def setup_calls(project: Path) -> list[str]:
    """Run setup.sh in `project`; returns the pip invocations it made."""
    log = project / "pip-calls.log"
    log.unlink(missing_ok=True)
    subprocess.run(["bash", "scripts/setup.sh"], cwd=project, check=True, timeout=60)
    return log.read_text().splitlines() if log.exists() else []


def test_setup_skips_pip_while_pyproject_and_script_are_unchanged(tmp_path):
    (tmp_path / "scripts").mkdir()
    shutil.copy(ROOT / "scripts" / "setup.sh", tmp_path / "scripts" / "setup.sh")
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    python = tmp_path / ".venv" / "bin" / "python"
    python.parent.mkdir(parents=True)
    python.write_text(f'#!/bin/sh\necho "$*" >> {tmp_path}/pip-calls.log\n')
    python.chmod(0o755)

    first = setup_calls(tmp_path)
    assert any("install" in call and "-e" in call for call in first), first
    assert setup_calls(tmp_path) == []  # nothing changed: no pip at all

    with (tmp_path / "pyproject.toml").open("a") as f:
        f.write("\n# a new dependency would go here\n")
    assert setup_calls(tmp_path) != []
    assert setup_calls(tmp_path) == []
