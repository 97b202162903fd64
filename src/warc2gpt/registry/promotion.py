"""Registry aliases and the promotion gate: `challenger` is the newest, `champion` is served.

A new version becomes the challenger; the gate moves `champion` to it when its val
bits-per-byte beats the champion's by the margin params ask for, and writes the decision and
the figures onto the version. Each promotion records on the new champion the champions that
reigned before it, newest first; `rollback` pops that history, so rollbacks walk back in time
and never return to a version a rollback demoted.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import Any

from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from warc2gpt.config import PromotionSettings

CHAMPION = "champion"
CHALLENGER = "challenger"
GATE_METRIC = "val_bpb"
# The alias history on each version. Tag names sort after the lineage tags (data.*, dvc.*,
# git.*, model.*), which the registry UI lists alphabetically. The previous champions are the
# champions before the version's current reign, newest first, comma-separated ("3,1"; a
# single version in registries written before the history was kept).
PREVIOUS_CHAMPION_TAG = "status.previous_champion"
EARLIER_PREVIOUS_CHAMPION_TAG = "champion.previous"  # versions registered before the rename
HISTORY_LIMIT = 100  # champions kept in the tag: a short value, far more than anyone rolls back


class RegistryError(RuntimeError):
    """A registry operation that cannot be done as asked."""


@dataclass(frozen=True)
class Decision:
    """The outcome of the gate for one challenger."""

    promoted: bool
    reason: str
    challenger_version: str
    challenger_bpb: float | None
    champion_version: str | None
    champion_bpb: float | None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def aliases(client: MlflowClient, name: str) -> dict[str, str]:
    """alias -> version of a registered model; a clear error when the model does not exist."""
    try:
        model = client.get_registered_model(name)
    except MlflowException as exc:
        if exc.error_code != "RESOURCE_DOES_NOT_EXIST":
            raise
        raise RegistryError(
            f"registered model {name!r} not found in this registry (tracking.tracking_uri or "
            "$MLFLOW_TRACKING_URI): run the register stage first (`warc2gpt register`)"
        ) from exc
    return {alias: str(version) for alias, version in (model.aliases or {}).items()}


def version_bpb(client: MlflowClient, name: str, version: str) -> float | None:
    """The version's val bits-per-byte: its tag, else the metric of the run that logged it."""
    mv = client.get_model_version(name, version)
    if GATE_METRIC in (mv.tags or {}):
        return float(mv.tags[GATE_METRIC])
    if mv.run_id:
        value = client.get_run(mv.run_id).data.metrics.get(GATE_METRIC)
        return None if value is None else float(value)
    return None


def gate(
    challenger_bpb: float | None, champion_bpb: float | None, settings: PromotionSettings
) -> tuple[bool, str]:
    """Whether the challenger should replace the champion, and why, under the params' rule."""
    if settings.rule == "never":
        return False, "rule 'never': promote by hand with `warc2gpt models promote VERSION`"
    if settings.rule == "always":
        return True, "rule 'always': every challenger is promoted"
    if challenger_bpb is None:
        return False, f"the challenger has no {GATE_METRIC}; run the evaluate stage"
    if champion_bpb is None:
        return True, f"the champion has no {GATE_METRIC} to compare with"
    gain = champion_bpb - challenger_bpb
    if settings.rule == "relative":
        gain /= champion_bpb
    verdict = gain > settings.margin
    return verdict, (
        f"{GATE_METRIC} {challenger_bpb:.4f} vs champion {champion_bpb:.4f}: "
        f"{settings.rule} gain {gain:+.4g} {'>' if verdict else '<='} margin {settings.margin:g}"
    )


def earlier_champions(client: MlflowClient, name: str, version: str) -> list[str]:
    """The champions before `version`'s current reign, newest first (its history tag)."""
    tags = client.get_model_version(name, version).tags or {}
    value = tags.get(PREVIOUS_CHAMPION_TAG, tags.get(EARLIER_PREVIOUS_CHAMPION_TAG, ""))
    return [v.strip() for v in value.split(",") if v.strip()]


def _crown(client: MlflowClient, name: str, version: str, earlier: list[str], reason: str) -> None:
    """Point `champion` at `version` and write its reign's tags: the history before it, when
    the reign began and why."""
    client.set_registered_model_alias(name, CHAMPION, version)
    history = ",".join(earlier[:HISTORY_LIMIT])
    client.set_model_version_tag(name, version, PREVIOUS_CHAMPION_TAG, history)
    client.set_model_version_tag(name, version, "status.champion_since", _now())
    client.set_model_version_tag(name, version, "status.champion_reason", reason)


def set_champion(client: MlflowClient, name: str, version: str, reason: str) -> str | None:
    """Point `champion` at `version`, noting the champion it replaces and that one's history;
    returns the replaced champion."""
    version = str(version)
    previous = aliases(client, name).get(CHAMPION)
    if previous == version:
        return previous
    earlier = [previous, *earlier_champions(client, name, previous)] if previous else []
    _crown(client, name, version, earlier, reason)
    return previous


def promote_if_better(
    client: MlflowClient, name: str, version: str, settings: PromotionSettings
) -> Decision:
    """Apply the gate to `version` and record the decision and figures on it."""
    version = str(version)
    champion = aliases(client, name).get(CHAMPION)
    challenger_bpb = version_bpb(client, name, version)
    champion_bpb = version_bpb(client, name, champion) if champion else None
    if champion is None and settings.rule != "never":
        promoted, reason = True, "no champion yet"
    elif champion == version:
        promoted, reason = False, "already the champion"
    else:
        promoted, reason = gate(challenger_bpb, champion_bpb, settings)
    decision = Decision(promoted, reason, version, challenger_bpb, champion, champion_bpb)
    # Four tags: a version's tag budget goes to its lineage (the rule and margin are in the
    # reason and in the register run's params).
    tags = {
        "promotion.decision": "promoted" if promoted else "kept champion",
        "promotion.reason": reason,
        "promotion.champion_version": champion or "",
        "promotion.champion_val_bpb": "" if champion_bpb is None else f"{champion_bpb:.6f}",
    }
    for key, value in tags.items():
        client.set_model_version_tag(name, version, key, value)
    if promoted:
        set_champion(client, name, version, f"gate: {reason}")
    return decision


def register_challenger(
    client: MlflowClient,
    name: str,
    model_uri: str,
    run_id: str | None,
    tags: dict[str, str],
    model_id: str | None = None,
    description: str = "",
) -> str:
    """A new version of `name` from a logged model, tagged, with the `challenger` alias."""
    try:
        client.get_registered_model(name)
    except MlflowException as exc:
        if exc.error_code != "RESOURCE_DOES_NOT_EXIST":
            raise
        client.create_registered_model(
            name, description="GPT trained by warc2gpt from web crawl text; `champion` is served."
        )
    mv = client.create_model_version(
        name,
        source=model_uri,
        run_id=run_id,
        tags=tags,
        description=description or None,
        model_id=model_id,
    )
    version = str(mv.version)
    client.set_registered_model_alias(name, CHALLENGER, version)
    return version


def promote(client: MlflowClient, name: str, version: str) -> str | None:
    """Make `version` the champion by hand; returns the champion it replaced."""
    version = str(version)
    try:
        client.get_model_version(name, version)
    except MlflowException as exc:
        raise RegistryError(f"{name} has no version {version}; see `warc2gpt models list`") from exc
    return set_champion(client, name, version, "promoted by hand")


def rollback(client: MlflowClient, name: str) -> tuple[str, str]:
    """Return `champion` to the champion before the current one's reign; returns (demoted,
    restored).

    The restored version takes the history that preceded it, less the demoted version, so a
    second rollback goes further back and never to a version a rollback took the alias from:
    after promotions 1 -> 2 -> 1, a rollback restores 2 and a second one finds nothing earlier.
    """
    current = aliases(client, name).get(CHAMPION)
    if current is None:
        raise RegistryError(f"{name} has no champion to roll back")
    earlier = [v for v in earlier_champions(client, name, current) if v != current]
    while earlier and not _exists(client, name, earlier[0]):
        earlier.pop(0)  # a version deleted since its reign
    if not earlier:
        raise RegistryError(
            f"{name} version {current} has no earlier champion left; nothing to roll back to "
            "(pick one with `warc2gpt models promote VERSION`)"
        )
    restored, rest = earlier[0], earlier[1:]
    _crown(client, name, restored, rest, f"rollback from version {current}")
    client.set_model_version_tag(name, current, "status.rolled_back", _now())
    return current, restored


def _exists(client: MlflowClient, name: str, version: str) -> bool:
    try:
        client.get_model_version(name, version)
    except MlflowException as exc:
        if exc.error_code != "RESOURCE_DOES_NOT_EXIST":
            raise
        return False
    return True


def list_versions(client: MlflowClient, name: str) -> list[dict[str, Any]]:
    """One row per version, newest first: aliases, val bpb, the version it was trained on from
    (its parent: the line of descent), gate decision, git revision."""
    by_version: dict[str, list[str]] = {}
    for alias, version in aliases(client, name).items():
        by_version.setdefault(version, []).append(alias)
    rows = []
    for mv in client.search_model_versions(f"name='{name}'"):
        tags = mv.tags or {}
        rows.append(
            {
                "version": str(mv.version),
                "aliases": ",".join(sorted(by_version.get(str(mv.version), []))),
                "val_bpb": tags.get(GATE_METRIC, ""),
                "parent": tags.get("model.parent", ""),
                "decision": tags.get("promotion.decision", ""),
                "git": tags.get("git.revision", "")[:12],
                "created": time.strftime(
                    "%Y-%m-%d %H:%M", time.localtime(mv.creation_timestamp / 1000)
                ),
            }
        )
    return sorted(rows, key=lambda r: int(r["version"]), reverse=True)


def format_table(rows: list[dict[str, Any]]) -> str:
    """Rows as an aligned text table."""
    if not rows:
        return "(no versions)"
    columns = list(rows[0])
    widths = {c: max(len(c), *(len(str(r[c])) for r in rows)) for c in columns}
    lines = ["  ".join(c.ljust(widths[c]) for c in columns)]
    lines += ["  ".join(str(r[c]).ljust(widths[c]) for c in columns) for r in rows]
    return "\n".join(line.rstrip() for line in lines)


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
