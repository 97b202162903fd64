"""Progress off a terminal: periodic lines with a rate and an ETA, never carriage returns."""

from __future__ import annotations

import io

from warc2gpt.progress import Progress


def test_lines_with_rate_and_eta_when_not_a_terminal(capsys) -> None:
    progress = Progress(
        "curate", total=4096, unit="B", enabled=True, every_s=0.0, stream=io.StringIO()
    )
    progress.advance(1024, docs=3)
    progress.advance(1024, docs=2)
    progress.close()
    out = capsys.readouterr().out
    lines = out.splitlines()
    # One line per update here (every_s=0); the closing line is not repeated for the same count.
    assert "\r" not in out and len(lines) == 2
    assert lines[0].startswith("curate: 1.0 KiB of 4.0 KiB (25%)")
    assert "/s" in lines[0] and "ETA" in lines[0] and "docs 3" in lines[0]
    assert "docs 5" in lines[-1]


def test_disabled_progress_prints_nothing(capsys) -> None:
    progress = Progress("x", total=10, enabled=False)
    progress.update(5)
    progress.close()
    assert capsys.readouterr().out == ""
