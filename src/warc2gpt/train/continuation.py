"""Where a training run starts: a new model or an earlier one (train.init), on which data.

Scheduled runs continue the champion on each new increment of data. `plan_run` reads the
token manifest (`<train.data>/increments.json`, which tokenize writes when it appends), splits
the train shards into the current increment's and the earlier ones', resolves train.init to a
model (a registry one is downloaded) and says when there is nothing new to train on: the
current increment holds no train tokens, or it is the increment the starting model ended on.
Without a manifest every shard is the current increment's. MLflow is imported only when
train.init names a registry model (`champion`, `models:/...`, `runs:/...`).
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import torch

from warc2gpt.config import ConfigError, TrackingSettings, TrainSettings
from warc2gpt.model.gpt import GPTConfig
from warc2gpt.model.store import MLFLOW_URI_SCHEMES, SavedRun, load_for_training
from warc2gpt.tokenizer.shards import read_token_shard
from warc2gpt.train.loader import LoaderError, find_shards

log = logging.getLogger(__name__)

MANIFEST = "increments.json"
CHAMPION = "champion"
# train.replay when it is null and a model is continued: half of each batch from earlier data.
DEFAULT_REPLAY = 0.5
# The train setting each GPTConfig field comes from, for a one-line mismatch error.
SHAPE_SETTINGS = {
    "vocab_size": "train.vocab_size (0: the tokenizer's size)",
    "sequence_len": "train.sequence_len",
    "n_layer": "train.depth",
    "n_head": "train.head_dim (n_embd / head_dim heads)",
    "n_kv_head": "train.n_kv_head",
    "n_embd": "train.n_embd",
    "logit_softcap": "train.logit_softcap",
    "rope_base": "the rotary base (no setting: the model comes from another version)",
}
_MODEL_URI = re.compile(r"^models:/(?P<name>[^/@]+)(?:/(?P<version>\d+)|@(?P<alias>[^/]+))/?$")


@dataclass
class TrainData:
    """The train shards of a run: the current increment's and the earlier increments'."""

    current: list[Path]
    earlier: list[Path]
    increment: int | None  # the manifest's current increment; None without a manifest

    @property
    def every_shard(self) -> list[Path]:
        return sorted(self.current + self.earlier)

    def current_tokens(self) -> int:
        return sum(len(read_token_shard(p)) for p in self.current)


@dataclass
class Parent:
    """The model a run continues: what was saved with it, and what the summary records."""

    saved: SavedRun
    record: dict[str, Any]  # source, uri, model_name, version, increment, total_steps, ...


@dataclass
class Plan:
    """A run as settings and data make it: the settings with `auto` and null resolved."""

    settings: TrainSettings
    data: TrainData
    parent: Parent | None
    nothing_new: str | None = None  # why the run does not train; None: it trains

    @property
    def totals(self) -> tuple[int, int]:
        """(steps, tokens) the starting model had trained for before this run."""
        record = self.parent.record if self.parent else {}
        return record.get("total_steps", 0), record.get("total_tokens", 0)


def read_manifest(data_dir: str | Path) -> tuple[int, dict[int, list[str]]] | None:
    """(current increment, train shard names per increment) from `<data_dir>/increments.json`;
    None when there is none.

    Takes the manifest as {"current": N, "increments": {"1": {"train": [names], ...}}} or as
    {"current": N, "increments": [{"id": 1, "train": {"shards": [names], ...}}, ...]}.
    """
    path = Path(data_dir) / MANIFEST
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        entries = data["increments"]
        if isinstance(entries, dict):
            entries = [{**entry, "id": key} for key, entry in entries.items()]
        train = {}
        for entry in entries:
            shards = entry.get("train") or []
            shards = shards.get("shards", []) if isinstance(shards, dict) else shards
            train[int(entry["id"])] = [str(name) for name in shards]
        current = int(data["current"])
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise LoaderError(
            f"{path}: not an increments manifest ({type(exc).__name__}: {exc}); rerun the "
            "tokenize stage, or remove the file to train on every shard alike"
        ) from None
    return current, train


def train_data(data_dir: str | Path) -> TrainData:
    """The run's train shards, split by increment as the manifest lists them."""
    data_dir = Path(data_dir)
    manifest = read_manifest(data_dir)
    if manifest is None:
        return TrainData(find_shards(data_dir, "train"), [], None)
    current, train = manifest
    data = TrainData(
        [data_dir / name for name in train.get(current, [])],
        [data_dir / name for inc in sorted(train) if inc != current for name in train[inc]],
        current,
    )
    for path in data.current + data.earlier:
        if not path.is_file():
            raise LoaderError(
                f"{path} is listed in {data_dir / MANIFEST} but missing: rerun the tokenize stage"
            )
    if not data.current and not data.earlier:
        raise LoaderError(f"{data_dir / MANIFEST} lists no train shards: run the tokenize stage")
    return data


def _mlflow_uri(tracking: TrackingSettings | None, init: str) -> str:
    """The tracking store a registry train.init is looked up in; MLflow must be installed."""
    try:
        import mlflow  # noqa: F401 - only to say clearly that it is missing
    except ImportError:
        raise ConfigError(
            f"train.init {init!r} names a registry model, and MLflow is not installed here: "
            "install it, or give an exported model folder"
        ) from None
    from warc2gpt.offline import apply_offline_defaults
    from warc2gpt.tracking import tracking_uri

    apply_offline_defaults()
    return tracking_uri(tracking or TrackingSettings())


def _registry_client(tracking: TrackingSettings | None, init: str) -> Any:
    from mlflow import MlflowClient

    uri = _mlflow_uri(tracking, init)
    return MlflowClient(tracking_uri=uri, registry_uri=uri)


def _alias_version(client: Any, name: str, alias: str) -> str | None:
    """The version `alias` points at; None when the model or the alias does not exist."""
    from mlflow.exceptions import MlflowException

    try:
        model = client.get_registered_model(name)
    except MlflowException as exc:
        if exc.error_code != "RESOURCE_DOES_NOT_EXIST":
            raise
        return None
    version = (model.aliases or {}).get(alias)
    return None if version is None else str(version)


def resolve_init(
    init: str, model_name: str, tracking: TrackingSettings | None
) -> dict[str, Any] | None:
    """What train.init names: {"source", "uri", "model_name", "version"}; None for a new model.

    `champion` is `models:/<model_name>@champion`; an alias is pinned to its version, so the
    run and its record name one version even if the alias moves meanwhile.
    """
    if not init:
        return None
    if init == CHAMPION:
        client = _registry_client(tracking, init)
        version = _alias_version(client, model_name, CHAMPION)
        if version is None:
            log.info(
                "train.init is champion, and registered model %r has no champion yet: "
                "training a new model from scratch",
                model_name,
            )
            return None
        return _record(init, f"models:/{model_name}/{version}", model_name, version)
    match = _MODEL_URI.match(init)
    if match and match["alias"]:
        client = _registry_client(tracking, init)
        version = _alias_version(client, match["name"], match["alias"])
        if version is None:
            raise ConfigError(
                f"train.init {init}: registered model {match['name']!r} has no alias "
                f"{match['alias']!r} in {client.tracking_uri}"
            )
        return _record(init, f"models:/{match['name']}/{version}", match["name"], version)
    if match:
        return _record(init, init, match["name"], match["version"])
    if not init.startswith(MLFLOW_URI_SCHEMES) and not Path(init).exists():
        raise ConfigError(
            f"train.init {init}: no such model folder or checkpoint file; give one, a registry "
            "URI (models:/NAME/VERSION), champion, or '' for a new model"
        )
    return _record(init, init, None, None)


def _record(source: str, uri: str, name: str | None, version: str | None) -> dict[str, Any]:
    return {"source": source, "uri": uri, "model_name": name, "version": version}


def load_parent(record: dict[str, Any], tracking: TrackingSettings | None, init: str) -> Parent:
    """The model `record` names, read (downloaded) with its optimizer state and summary."""
    registry = record["uri"].startswith(MLFLOW_URI_SCHEMES)
    saved = load_for_training(record["uri"], _mlflow_uri(tracking, init) if registry else None)
    summary = saved.summary
    steps = summary.get("total_steps", summary.get("steps", 0))
    tokens = summary.get("total_tokens", summary.get("tokens", 0))
    record = {
        **record,
        "increment": summary.get("increment"),
        "total_steps": int(steps or 0),
        "total_tokens": int(tokens or 0),
    }
    return Parent(saved, record)


def plan_run(settings: TrainSettings, tracking: TrackingSettings | None, model_name: str) -> Plan:
    """The run `settings` ask for on the data there is, or why it has nothing to train on."""
    data = train_data(settings.data)
    record = resolve_init(settings.init, model_name, tracking)
    continuing = record is not None
    resolved = replace(
        settings,
        schedule=("wsd" if continuing else "cosine")
        if settings.schedule == "auto"
        else settings.schedule,
        replay=DEFAULT_REPLAY if settings.replay is None and continuing else settings.replay,
    )
    if not continuing:
        return Plan(resolved, data, None)
    if data.increment is not None and data.current_tokens() == 0:
        reason = f"increment {data.increment} holds no train tokens"
        return Plan(resolved, data, None, nothing_new=reason)
    parent = load_parent(record, tracking, settings.init)
    if data.increment is not None and parent.record["increment"] == data.increment:
        reason = f"{record['uri']} was trained up to increment {data.increment}, the current one"
        return Plan(resolved, data, parent, nothing_new=reason)
    if resolved.replay and not data.earlier:
        log.info("no earlier increments to replay: every batch comes from the current data")
    return Plan(resolved, data, parent)


def check_shape(saved: GPTConfig, config: GPTConfig, init: str) -> None:
    """One line naming each setting whose value gives another shape than the starting model's."""
    theirs, ours = saved.to_dict(), config.to_dict()
    diffs = [
        f"{SHAPE_SETTINGS.get(k, k)} gives {k} {ours[k]!r}, the model has {theirs.get(k)!r}"
        for k in ours
        if theirs.get(k) != ours[k]
    ]
    if diffs:
        raise ConfigError(
            f"train.init {init}: the model's shape differs from this run's: {'; '.join(diffs)}; "
            "set those to the model's, or train.init: '' for a new model"
        )


def load_optimizer_state(
    optimizers: list[torch.optim.Optimizer], saved: dict[str, Any] | None, kind: str
) -> bool:
    """The saved optimizer state (moments, step counts) into `optimizers`; this run's settings
    (learning rates, betas, weight decay) are kept. False when nothing fits was saved."""
    if saved is None or saved.get("optimizer") != kind:
        return False
    states = saved.get("states") or []
    if len(states) != len(optimizers):
        return False
    for opt, state in zip(optimizers, states, strict=True):
        settings = [{k: v for k, v in g.items() if k != "params"} for g in opt.param_groups]
        opt.load_state_dict(state)
        for group, kept in zip(opt.param_groups, settings, strict=True):
            group.update(kept)
    return True
