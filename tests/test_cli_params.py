"""`--params`: a params file the user names but that is not there stops the command."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from warc2gpt.cli import main


def test_a_named_missing_params_file_stops_the_command(tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as stopped:
        main(["params", "--params", "nope.yaml", "train"])
    assert stopped.value.code == 2
    captured = capsys.readouterr()
    assert captured.err == (
        "warc2gpt params: params file nope.yaml not found (leave out --params to read "
        f"params.yaml, or --params {os.devnull} for the defaults)\n"
    )
    assert captured.out == ""


@pytest.mark.parametrize("named", [[], ["--params", os.devnull], ["--params", "params.yaml"]])
def test_the_default_file_and_dev_null_need_no_warning(
    tmp_path: Path, monkeypatch, capsys, named: list[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    Path("params.yaml").write_text("train:\n  steps: 7\n")
    if not named:
        Path("params.yaml").unlink()  # a fresh directory: the defaults, quietly
    assert main(["params", *named, "train"]) == 0
    captured = capsys.readouterr()
    assert captured.err == ""
    assert ("steps: 7" in captured.out) == (named[-1:] == ["params.yaml"])
