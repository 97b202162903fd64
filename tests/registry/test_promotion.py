"""The register stage, the promotion gate, and `warc2gpt models`, on a real MLflow registry."""

from __future__ import annotations

import hashlib
import json
import subprocess
from pathlib import Path

import pytest
from mlflow import MlflowClient

from warc2gpt.cli import main as cli_main
from warc2gpt.config import PromotionSettings
from warc2gpt.registry.promotion import (
    CHALLENGER,
    CHAMPION,
    RegistryError,
    aliases,
    gate,
    promote,
    register_challenger,
    rollback,
)

pytestmark = [pytest.mark.shared_data, pytest.mark.integration]

DVC_LOCK = """schema: '2.0'
stages:
  tokenize:
    cmd: python -m flows.tokenize
    outs:
    - path: data/tokens
      hash: md5
      md5: 3f1c0aa1b2c3d4e5f60718293a4b5c6d.dir
      size: 123456
      nfiles: 2
"""


@pytest.mark.parametrize(
    "rule, margin, challenger, champion, promoted",
    [
        ("relative", 0.0, 1.49, 1.50, True),
        ("relative", 0.0, 1.50, 1.50, False),
        ("relative", 0.01, 1.49, 1.50, False),  # 0.67% better, 1% asked
        ("relative", 0.01, 1.48, 1.50, True),
        ("absolute", 0.05, 1.46, 1.50, False),
        ("absolute", 0.05, 1.44, 1.50, True),
        ("always", 0.0, 9.0, 1.0, True),
        ("never", 0.0, 0.1, 1.0, False),
        ("relative", 0.0, None, 1.0, False),
    ],
)
def test_gate_rules(rule, margin, challenger, champion, promoted) -> None:
    verdict, reason = gate(challenger, champion, PromotionSettings(rule=rule, margin=margin))
    assert verdict is promoted
    assert reason


def test_register_stage_gates_on_val_bpb(
    project, register_with_bpb, client: MlflowClient, model_name: str
) -> None:
    Path("dvc.lock").write_text(DVC_LOCK)
    params = project()
    first = register_with_bpb(params, 1.50)
    assert first["promoted"] and first["reason"] == "no champion yet"
    assert aliases(client, model_name) == {CHAMPION: "1", CHALLENGER: "1"}

    worse = register_with_bpb(params, 1.60)
    assert not worse["promoted"]
    assert aliases(client, model_name) == {CHAMPION: "1", CHALLENGER: "2"}
    tags = client.get_model_version(model_name, "2").tags
    assert tags["promotion.decision"] == "kept champion"
    assert tags["promotion.champion_version"] == "1"
    assert float(tags["promotion.champion_val_bpb"]) == pytest.approx(1.5)

    better = register_with_bpb(params, 1.40)
    assert better["promoted"] and better["champion_version"] == "1"
    assert aliases(client, model_name) == {CHAMPION: "3", CHALLENGER: "3"}
    assert json.loads(Path("metrics/register.json").read_text())["challenger_version"] == "3"

    version = client.get_model_version(model_name, "3")
    assert version.tags["val_bpb"] == "1.400000"
    assert version.tags["status.previous_champion"] == "1"
    assert client.get_run(version.run_id).data.metrics["val_bpb"] == pytest.approx(1.40)

    assert rollback(client, model_name) == ("3", "1")
    assert aliases(client, model_name)[CHAMPION] == "1"


def test_version_tags_lead_with_lineage_and_the_rest_is_one_json(
    project, register_with_bpb, client: MlflowClient, model_name: str
) -> None:
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.org"]
    subprocess.run(["git", "init", "-q"], check=True)
    Path("dvc.lock").write_text(DVC_LOCK)
    Path("metrics/tokenize.json").write_text(json.dumps({"train_tokens": 123456789}))
    Path("metrics/train.json").write_text(json.dumps({"params": 98765, "val_loss": 3.5}))
    subprocess.run(["git", "add", "dvc.lock"], check=True)
    subprocess.run([*git, "commit", "-qm", "data"], check=True)
    revision = subprocess.run(
        ["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=True
    ).stdout.strip()
    params = project()
    register_with_bpb(params, 1.50)
    register_with_bpb(params, 1.40)  # promoted over version 1
    assert rollback(client, model_name) == ("2", "1")

    version = client.get_model_version(model_name, "2")
    assert len(version.tags) <= 15, sorted(version.tags)
    # The registry UI lists tags by name: the lineage comes first.
    lineage = ["data.documents", "data.train_tokens", "dvc.lock.sha256", "git.revision"]
    assert sorted(version.tags)[:4] == lineage
    assert version.tags["git.revision"] == revision
    assert version.tags["dvc.lock.sha256"] == hashlib.sha256(DVC_LOCK.encode()).hexdigest()
    assert version.tags["data.documents"] == "12"  # curate's kept: no dedup figures here
    assert version.tags["data.train_tokens"] == "123456789"
    assert version.tags["model.params"] == "98765"
    assert float(version.tags["promotion.champion_val_bpb"]) == pytest.approx(1.5)

    record = client.download_artifacts(version.run_id, "lineage.json")
    lineage = json.loads(Path(record).read_text())
    assert lineage["git_revision"] == revision
    assert lineage["dvc_lock"]["outputs"] == {"data/tokens": "3f1c0aa1b2c3d4e5f60718293a4b5c6d.dir"}
    assert lineage["figures"]["curate.pages"] == 20
    assert lineage["figures"]["train.val_loss"] == pytest.approx(3.5)
    assert lineage["figures"]["evaluate.val_bpb"] == pytest.approx(1.40)


def test_rule_never_leaves_promotion_to_people(
    project, register_with_bpb, client, model_name
) -> None:
    result = register_with_bpb(project("register.promotion.rule=never"), 1.2)
    assert not result["promoted"]
    assert CHAMPION not in aliases(client, model_name)


def test_manual_promotion_and_rollback_walk_history(
    project, register_with_bpb, client, model_name, capsys
) -> None:
    params = project()
    assert register_with_bpb(params, 1.5)["challenger_version"] == "1"
    source_version = client.get_model_version(model_name, "1")
    for _ in range(2):  # versions 2 and 3 of the same weights
        register_challenger(
            client,
            model_name,
            source_version.source,
            source_version.run_id,
            {"val_bpb": "1.5"},
            model_id=source_version.source.removeprefix("models:/"),
        )
    common = [  # no params.yaml here: the defaults
        "--set",
        f"tracking.tracking_uri={params.tracking.tracking_uri}",
        "--set",
        f"register.model_name={model_name}",
    ]
    assert cli_main(["models", *common, "promote", "3"]) == 0
    assert promote(client, model_name, "2") == "3"
    capsys.readouterr()
    assert cli_main(["models", *common, "list"]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].split()[:3] == ["version", "aliases", "val_bpb"]
    # Version 1 has no alias left, so its second field is its val_bpb.
    assert [line.split()[:2] for line in table[1:]] == [
        ["3", "challenger"],
        ["2", "champion"],
        ["1", "1.500000"],
    ]
    assert cli_main(["models", *common, "rollback"]) == 0
    assert aliases(client, model_name)[CHAMPION] == "3"
    assert rollback(client, model_name) == ("3", "1")
    with pytest.raises(RegistryError, match="nothing to roll back"):
        rollback(client, model_name)
    assert cli_main(["models", *common, "promote", "99"]) == 1
    assert "no version 99" in capsys.readouterr().err
    assert cli_main(["models", *common, "--name", f"{model_name}-absent", "list"]) == 1
    assert "run the register stage first" in capsys.readouterr().err


def versions_of_one_model(project, register_with_bpb, client, name: str, count: int) -> None:
    """Version 1 from the register stage (it becomes the champion), then copies 2..count."""
    register_with_bpb(project(), 1.5)
    source = client.get_model_version(name, "1")
    for _ in range(count - 1):
        register_challenger(
            client,
            name,
            source.source,
            source.run_id,
            {"val_bpb": "1.5"},
            model_id=source.source.removeprefix("models:/"),
        )


def test_rollback_after_a_champion_returns_goes_back_not_forth(
    project, register_with_bpb, client, model_name
) -> None:
    versions_of_one_model(project, register_with_bpb, client, model_name, 2)
    assert promote(client, model_name, "2") == "1"
    assert promote(client, model_name, "1") == "2"  # 1 -> 2 -> 1
    assert client.get_model_version(model_name, "1").tags["status.previous_champion"] == "2,1"

    assert rollback(client, model_name) == ("1", "2")
    restored = client.get_model_version(model_name, "2").tags
    assert restored["status.champion_reason"] == "rollback from version 1"
    assert restored["status.previous_champion"] == ""  # 1 was demoted: not a way back
    assert "status.rolled_back" in client.get_model_version(model_name, "1").tags
    with pytest.raises(RegistryError, match="version 2 has no earlier champion left"):
        rollback(client, model_name)
    assert aliases(client, model_name)[CHAMPION] == "2"


def test_rollbacks_walk_the_reigns_newest_first(
    project, register_with_bpb, client, model_name
) -> None:
    versions_of_one_model(project, register_with_bpb, client, model_name, 3)
    for version in ("2", "3", "2"):  # reigns: 1, 2, 3, 2
        promote(client, model_name, version)
    assert rollback(client, model_name) == ("2", "3")
    assert rollback(client, model_name) == ("3", "1")  # 2 was rolled back: skipped
    with pytest.raises(RegistryError, match="nothing to roll back to"):
        rollback(client, model_name)


def test_rollback_skips_a_deleted_version(project, register_with_bpb, client, model_name) -> None:
    versions_of_one_model(project, register_with_bpb, client, model_name, 3)
    promote(client, model_name, "2")
    promote(client, model_name, "3")
    client.delete_model_version(model_name, "2")
    assert rollback(client, model_name) == ("3", "1")
