"""params.yaml -> typed, validated settings.

Each params.yaml section is a dataclass below; the curate steps' settings live beside the
steps (curate/steps/) and are assembled into `CurateSettings` here. Loading walks the YAML
against the dataclass fields: an unknown key, a wrong type or an out-of-range value fails at
once with the key's dotted path and what was expected. Only the standard library and PyYAML
are imported here (the steps' modules too), so the training entry point can load params on a
machine without the orchestration stack.
"""

from __future__ import annotations

import dataclasses
import difflib
import re
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from warc2gpt.config_fields import ConfigError, bounded, listing
from warc2gpt.curate.steps import PIPELINE
from warc2gpt.curate.steps.base import settings_fields

DEFAULT_PARAMS = Path("params.yaml")


# --------------------------------------------------------------------------- sections


@dataclass
class IngestSettings:
    """Where raw WARC files come from, how they are fetched, and where they land."""

    # Local paths/globs, http(s)/s3/any fsspec URL (`#sha256=<hex>` adds a digest to check),
    # or a crawl id such as CC-MAIN-2024-22 (`CC-MAIN-2024-22:5` overrides `segments`).
    # Empty: the built-in sample crawl.
    sources: list[str] = listing()
    output: str = "data/raw"
    metrics: str = "metrics/ingest.json"
    base_url: str = "https://data.commoncrawl.org/"
    segments: int = bounded(1, ge=1, doc="WARC files taken from each crawl id's listing")
    # false: the listing's first `segments` paths; true: a sample of them fixed by `seed`.
    sample: bool = False
    seed: int = 0
    workers: int = bounded(4, ge=1, doc="files fetched at once")
    retries: int = bounded(5, ge=0, doc="retries per file after the first attempt")
    backoff: float = bounded(1.0, ge=0, doc="seconds before the first retry; doubles per retry")
    backoff_max: float = bounded(60.0, ge=0, doc="longest wait between two attempts, seconds")
    timeout: float = bounded(60.0, gt=0, doc="seconds to connect, and to wait for more bytes")
    chunk_bytes: int = bounded(1 << 20, ge=4096)
    # Delete files an earlier ingest wrote into `output` that the current sources no longer name.
    prune: bool = True
    # full: every file the sources name. increment: the next `per_run` of them (in source order)
    # that no earlier increment took, recorded in `state`; `output` then holds only those.
    mode: Literal["full", "increment"] = "full"
    per_run: int = bounded(1, ge=1, doc="WARC files one increment takes (mode: increment)")
    state: str = "increments/state.json"


@dataclass
class CurateStageSettings:
    """The curate stage's own keys: where it reads and writes, and how it fans out."""

    input: list[str] = listing()
    output: str = "data/curated"
    metrics: str = "metrics/curate.json"
    workers: int = bounded(2, ge=1, doc="processes, one WARC file each")
    runner: Literal["threads", "processes", "dask", "ray"] = "processes"
    cluster_address: str = ""  # dask/ray scheduler address; empty starts a local cluster
    max_record_bytes: int = bounded(10_000_000, ge=1024)
    flush_docs: int = bounded(
        100, ge=1, doc="documents buffered per file before a part and checkpoint are written"
    )


# WARC -> main text -> filters -> Parquet documents: the stage's keys, then each curate step's
# settings (curate/steps/, one module each) in pipeline order: `url_filter`, the extraction keys
# (`extractor`, `prefilter_language`, `extraction_timeout`), `language`, the quality filters, `pii`.
CurateSettings = dataclasses.make_dataclass(
    "CurateSettings",
    settings_fields(PIPELINE),
    bases=(CurateStageSettings,),
    namespace={"__doc__": "WARC -> main text -> filters -> Parquet documents."},
)
CurateSettings.__module__ = __name__  # found by pickle, as any class here


@dataclass
class TrackingSettings:
    """MLflow tracking. An empty URI means the embedded SQLite file (or $MLFLOW_TRACKING_URI)."""

    enabled: bool = True
    tracking_uri: str = ""
    experiment: str = "warc2gpt"


@dataclass
class GenerationSettings:
    """Sampling settings shared by `warc2gpt generate`, the eval samples and the served model."""

    max_new_tokens: int = bounded(64, ge=1)
    temperature: float = bounded(0.8, ge=0, doc="0 samples greedily")
    top_k: int = bounded(50, ge=0, doc="0 keeps every token")
    top_p: float = bounded(0.95, gt=0, le=1)
    seed: int = bounded(1337, ge=0)


@dataclass
class EvaluateSettings:
    """Val loss and bits-per-byte, HellaSwag / LAMBADA when a file is given, fixed-prompt samples."""

    model_dir: str = "artifacts/model"
    tokenizer_dir: str = "artifacts/tokenizer"
    val_tokens: str = "data/tokens/val_*.bin"
    device: str = "auto"  # auto | cpu | cuda | cuda:N | mps
    batch_size: int = bounded(8, ge=1)
    max_val_tokens: int = bounded(1_048_576, ge=0, doc="0 reads every val token")
    # Files in HellaSwag's 6-line text format (.txt, .txt.bz2) or its original .jsonl; OpenAI's
    # LAMBADA .jsonl. Empty skips the task.
    hellaswag: str = ""
    hellaswag_limit: int = bounded(0, ge=0, doc="0 scores every item")
    lambada: str = ""
    lambada_limit: int = bounded(0, ge=0, doc="0 scores every item")
    prompts: list[str] = listing("The meaning of life is", "Once upon a time,", "The web page")
    generation: GenerationSettings = field(default_factory=GenerationSettings)
    # Step-indexed TSV files (train stage); their *loss* columns are drawn in the report.
    loss_curves: list[str] = listing("plots/train.tsv", "plots/val.tsv")
    metrics: str = "metrics/eval.json"
    report_dir: str = "reports"


@dataclass
class PromotionSettings:
    """When a challenger takes the `champion` alias: val bits-per-byte, lower is better."""

    # relative: beat the champion by `margin` as a fraction of its bpb; absolute: by `margin`
    # bits per byte; always: every challenger wins; never: only `warc2gpt models promote`.
    rule: Literal["relative", "absolute", "always", "never"] = "relative"
    margin: float = bounded(0.0, ge=0)


@dataclass
class RegisterSettings:
    """Log the model as an MLflow pyfunc, register it as `challenger`, apply the promotion gate."""

    model_name: str = "warc2gpt"
    model_dir: str = "artifacts/model"
    tokenizer_dir: str = "artifacts/tokenizer"
    eval_metrics: str = "metrics/eval.json"
    dvc_lock: str = "dvc.lock"
    output: str = "metrics/register.json"
    promotion: PromotionSettings = field(default_factory=PromotionSettings)


@dataclass
class TokenizerSettings:
    """Byte-level BPE training (the tokenizer stage)."""

    # Parquet globs tried in order: the first that matches a file is the corpus, so the
    # deduplicated text is used once the dedup stage has run, the curated text before.
    input: list[str] = listing("data/dedup/*.parquet", "data/curated/*.parquet")
    output: str = "artifacts/tokenizer"
    # 4096 suits the built-in sample (a few MB of text); 8192 for ~100 MB, 32768 for GBs,
    # 50257 for GPT-2's size. Ids above 65,535 switch the token shards to uint32.
    vocab_size: int = bounded(4096, ge=258, le=2**31 - 1)
    min_frequency: int = bounded(2, ge=1, doc="occurrences a pair needs to be merged")
    special_tokens: list[str] = listing("<|endoftext|>")
    split_pattern: Literal["gpt4", "gpt2"] = "gpt4"
    max_chars: int = bounded(0, ge=0, doc="characters of text to train on; 0: all")
    # true: a tokenizer already in `output` is kept as it is, so token ids mean the same in
    # every increment; a new vocabulary (a new model line) needs false once, or the folder gone.
    frozen: bool = False
    metrics: str = "metrics/tokenizer.json"


@dataclass
class TokenizeSettings:
    """Encoding every document into train/val token shards (the tokenize stage)."""

    input: list[str] = listing()  # empty: the corpus tokenizer.input chose
    output: str = "data/tokens"
    # A document is in val when a hash of its id falls below this fraction, so it never moves
    # between splits when the corpus grows.
    val_fraction: float = bounded(0.1, gt=0, lt=1)
    workers: int = bounded(2, ge=1)
    # Threads suffice locally: the encoder and the Parquet reader release the GIL, and a
    # thread starts in no time where a Prefect worker process takes seconds.
    runner: Literal["threads", "processes", "dask", "ray"] = "threads"
    cluster_address: str = ""  # dask/ray scheduler; empty: a local one
    # false: the shards of the input replace the folder's. true: they are added as the current
    # increment's (`ingest.state`), `<split>_i<increment>_<index>.bin`, listed in increments.json.
    append: bool = False
    metrics: str = "metrics/tokenize.json"


@dataclass
class TrainSettings:
    """GPT pretraining on the token shards: one process, or torchrun DDP (the train stage)."""

    data: str = "data/tokens"  # train_*.bin and val_*.bin
    tokenizer_dir: str = "artifacts/tokenizer"  # vocabulary size from its token_bytes.npy
    vocab_size: int = bounded(0, ge=0, doc="0: the tokenizer's vocabulary size")
    output: str = "artifacts/model"
    checkpoint_dir: str = "artifacts/checkpoints"
    metrics: str = "metrics/train.json"
    plot: str = "plots/train.tsv"
    val_plot: str = "plots/val.tsv"
    # The weights a run starts from. "": a new model. champion: the `champion` of the registered
    # model register.model_name (a new model while it has none). Or a registry URI
    # (models:/NAME/3, models:/NAME@ALIAS, runs:/RUN/model), an exported model folder or a
    # checkpoint file. Its shape must be the one this section gives; its optimizer state is
    # used when it kept one. A run whose data holds nothing the model has not seen trains not.
    init: str = ""
    # Share of each batch drawn from earlier increments' train shards (listed in <data>/
    # increments.json), the rest from the current increment's. null: 0.5 when continuing a model
    # (init), else every shard alike. Without the manifest every shard counts as current.
    replay: float | None = bounded(None, ge=0, le=1)
    # The optimizer state beside the exported model (optimizer.pt; AdamW's is twice the weights),
    # so a run continuing from it keeps its moments.
    save_optimizer: bool = True
    # Model shape: `depth` layers, `n_embd` wide (0: 64 per layer), heads of `head_dim`.
    depth: int = bounded(2, ge=1)
    n_embd: int = bounded(0, ge=0)
    head_dim: int = bounded(64, ge=2)
    n_kv_head: int = bounded(0, ge=0, doc="0: as many as query heads")
    sequence_len: int = bounded(128, ge=2)
    logit_softcap: float = bounded(15.0, ge=0)
    # Batch: windows per micro-step per process; the total (tokens per optimizer step across
    # all processes) sets gradient accumulation; 0 means no accumulation.
    device_batch_size: int = bounded(16, ge=1)
    total_batch_tokens: int = bounded(0, ge=0)
    steps: int = bounded(250, ge=1)
    optimizer: Literal["adamw", "muon"] = "adamw"
    lr: float = bounded(0.003, gt=0, doc="AdamW (embeddings and head only under muon)")
    muon_lr: float = bounded(0.02, gt=0)
    weight_decay: float = bounded(0.0, ge=0)
    beta1: float = bounded(0.9, ge=0, lt=1)
    beta2: float = bounded(0.95, ge=0, lt=1)
    grad_clip: float = bounded(1.0, ge=0, doc="0: no clipping")
    # cosine, or wsd: warmup, constant, linear decay over the last decay_frac of the steps.
    # auto: cosine for a new model; wsd when continuing one (init), rewarmed each run.
    schedule: Literal["auto", "cosine", "wsd"] = "auto"
    warmup_steps: int = bounded(20, ge=0)
    decay_frac: float = bounded(0.2, gt=0, le=1, doc="wsd: share of steps spent decaying")
    min_lr_ratio: float = bounded(0.1, ge=0, le=1)
    seed: int = 1337
    eval_every: int = bounded(50, ge=0, doc="steps between val losses; 0: only at the end")
    eval_tokens: int = bounded(32768, ge=1)
    checkpoint_every: int = bounded(50, ge=0, doc="0: only at the end")
    keep_checkpoints: int = bounded(2, ge=1)
    resume: bool = True
    log_every: int = bounded(10, ge=1, doc="steps between MLflow metric logs")
    device: str = "auto"  # auto | cpu | cuda
    dtype: Literal["auto", "bfloat16", "float32"] = "auto"  # auto: bf16 autocast on CUDA
    # Under bf16 autocast: carry the residual stream in bf16 (the weights stay float32).
    bf16_residual: bool = True
    # The output head's products in FP8 (GPUs of compute capability 8.9+, e.g. H100/H200).
    fp8_head: bool = False
    # The attention kernel to prefer (auto: PyTorch's order); a call the kernel cannot serve
    # falls back to the next one that can.
    attention: Literal["auto", "cudnn", "flash", "efficient", "math"] = "auto"
    compile: bool = True  # torch.compile on CUDA; CPU runs eager
    # torch.compile's mode: max-autotune(-no-cudagraphs) searches kernel configurations at
    # start-up (minutes) for a faster step; reduce-overhead replays CUDA graphs.
    compile_mode: Literal[
        "default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs"
    ] = "default"
    peak_tflops: float = bounded(989.0, gt=0, doc="per-GPU peak for MFU (H100/H200 bf16 dense)")


@dataclass
class DedupSettings:
    """Exact then MinHash LSH near-duplicate removal across all curated shards (the dedup stage)."""

    input: list[str] = listing("data/curated/*.parquet")
    output: str = "data/dedup"
    # Signatures, band buckets, pairs and clusters: kept between runs so a killed run resumes;
    # wiped when the inputs or these settings change.
    work_dir: str = "data/dedup_work"
    # Empty: the inputs are deduplicated among themselves only. A folder (data/dedup_index): the
    # hashes and band keys of every document earlier runs kept; inputs matching one of them go
    # (the earlier document stays), and this run's survivors are added to it. Each run's inputs
    # are then one increment: a rerun over the same shard names replaces its own entry.
    index: str = ""
    metrics: str = "metrics/dedup.json"
    exact: bool = True  # drop documents whose normalised text is identical first
    near: bool = True  # then MinHash LSH near-duplicates
    # FineWeb: word 5-grams, 14 bands x 8 rows of 64-bit hashes (LSH threshold ~0.72).
    ngram: int = bounded(5, ge=1)
    bands: int = bounded(14, ge=1)
    rows: int = bounded(8, ge=1)
    seed: int = bounded(1, ge=0)
    fold_digits: bool = True  # normalisation folds every whole number (3, 3.14, 1,000) to 0
    # Band buckets are split by key range so one clustering task holds 1/partitions of a band.
    partitions: int = bounded(4, ge=1, le=4096)
    batch_size: int = bounded(1000, ge=1, doc="documents hashed together")
    write_removed: bool = True  # removed documents to <output>/removed/ with their reason
    sample_pairs: int = bounded(20, ge=0, doc="removed/kept pairs shown in the metrics")
    workers: int = bounded(2, ge=1)
    runner: Literal["threads", "processes", "dask", "ray"] = "processes"
    cluster_address: str = ""  # dask/ray scheduler; empty: a local one


@dataclass
class Params:
    """The whole params.yaml."""

    ingest: IngestSettings = field(default_factory=IngestSettings)
    curate: CurateSettings = field(default_factory=CurateSettings)
    tracking: TrackingSettings = field(default_factory=TrackingSettings)
    evaluate: EvaluateSettings = field(default_factory=EvaluateSettings)
    register: RegisterSettings = field(default_factory=RegisterSettings)
    tokenizer: TokenizerSettings = field(default_factory=TokenizerSettings)
    tokenize: TokenizeSettings = field(default_factory=TokenizeSettings)
    train: TrainSettings = field(default_factory=TrainSettings)
    dedup: DedupSettings = field(default_factory=DedupSettings)


# --------------------------------------------------------------------------- loading


def _type_name(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in typing.get_args(tp))
    if origin in (list, tuple):
        args = typing.get_args(tp)
        return f"a list of {_type_name(args[0])}" if args else "a list"
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_type_name(a) for a in typing.get_args(tp))
    if dataclasses.is_dataclass(tp):
        return "a mapping"
    if tp is type(None):
        return "null"
    return {int: "an integer", float: "a number", str: "a string", bool: "true or false"}.get(
        tp, getattr(tp, "__name__", str(tp))
    )


def _convert(value: Any, tp: Any, path: str) -> Any:
    origin = typing.get_origin(tp)
    if dataclasses.is_dataclass(tp):
        if value is None:
            value = {}
        if not isinstance(value, dict):
            raise ConfigError(f"{path}: expected a mapping, got {value!r}")
        return _build(tp, value, path)
    if origin is Literal:
        if value not in typing.get_args(tp):
            raise ConfigError(f"{path}: expected {_type_name(tp)}, got {value!r}")
        return value
    if origin in (typing.Union, types.UnionType):
        for arg in typing.get_args(tp):
            try:
                return _convert(value, arg, path)
            except ConfigError:
                continue
        raise ConfigError(f"{path}: expected {_type_name(tp)}, got {value!r}")
    if origin is list:
        (item_tp,) = typing.get_args(tp) or (Any,)
        if isinstance(value, str) and item_tp is str:
            value = [value]
        if not isinstance(value, list):
            raise ConfigError(f"{path}: expected {_type_name(tp)}, got {value!r}")
        return [_convert(v, item_tp, f"{path}[{i}]") for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{path}: expected a mapping, got {value!r}")
        return dict(value)
    if tp is Any:
        return value
    if tp is type(None):
        if value is not None:
            raise ConfigError(f"{path}: expected null, got {value!r}")
        return None
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{path}: expected true or false, got {value!r}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            if isinstance(value, float) and value.is_integer():
                return int(value)
            raise ConfigError(f"{path}: expected an integer, got {value!r}")
        return value
    if tp is float:
        if isinstance(value, str) and _NUMBER.match(value.strip()):
            return float(value)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{path}: expected a number, got {value!r}")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(f"{path}: expected a string, got {value!r} (quote it in YAML)")
        return value
    raise ConfigError(f"{path}: unsupported settings type {tp!r}")


def _check_range(value: Any, meta: typing.Mapping[str, Any], path: str) -> None:
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return
    checks = [
        ("ge", lambda v, b: v >= b, ">="),
        ("le", lambda v, b: v <= b, "<="),
        ("gt", lambda v, b: v > b, ">"),
        ("lt", lambda v, b: v < b, "<"),
    ]
    for key, ok, sign in checks:
        bound = meta.get(key)
        if bound is not None and not ok(value, bound):
            raise ConfigError(f"{path}: expected a value {sign} {bound}, got {value!r}")


def _build(cls: type, data: dict[str, Any], prefix: str) -> Any:
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        where = f"{prefix}." if prefix else ""
        close = difflib.get_close_matches(unknown[0], list(fields), n=1)
        hint = f" (did you mean {where}{close[0]}?)" if close else ""
        raise ConfigError(
            f"unknown key {where}{unknown[0]}{hint}: expected one of {', '.join(sorted(fields))}"
        )
    kwargs = {}
    for name, value in data.items():
        path = f"{prefix}.{name}" if prefix else name
        converted = _convert(value, hints[name], path)
        _check_range(converted, fields[name].metadata, path)
        kwargs[name] = converted
    return cls(**kwargs)


def parse_params(data: dict[str, Any] | None) -> Params:
    """Validate a params mapping (as read from YAML) into typed settings."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError("params: expected a mapping of sections at the top level")
    return _build(Params, data, "")


def deep_merge(base: dict[str, Any], extra: typing.Mapping[str, Any]) -> dict[str, Any]:
    """`extra` written into `base` section by section (lists and scalars replace); returns base."""
    for key, value in extra.items():
        if isinstance(value, typing.Mapping) and isinstance(base.get(key), dict):
            deep_merge(base[key], value)
        else:
            base[key] = value
    return base


class ParamsLoader(yaml.SafeLoader):
    """PyYAML's safe loader reading numbers as YAML 1.2 (and DVC) do: `1e-3` and `3E5` are
    floats, where YAML 1.1 wants a dot in the mantissa and reads them as strings."""


ParamsLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*)(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
    list("-+0123456789"),
)

# Python float syntax without inf/nan: what a float setting accepts when it arrives as a string
# (a params file read by a YAML 1.1 loader elsewhere).
_NUMBER = re.compile(r"^[-+]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?$")


def read_yaml(text: str) -> Any:
    """YAML text as params read it (`ParamsLoader`)."""
    return yaml.load(text, Loader=ParamsLoader)


def _setting_type(parts: list[str]) -> Any:
    """The declared type at a dotted path of `Params`; None where no setting is declared."""
    tp: Any = Params
    for part in parts:
        if not dataclasses.is_dataclass(tp):
            return None
        tp = typing.get_type_hints(tp).get(part)
    return tp


def _takes_text(tp: Any) -> bool:
    """Whether a setting holds text: a string, a choice of strings, or a list of strings."""
    if typing.get_origin(tp) is list:
        (tp,) = typing.get_args(tp) or (Any,)
    if typing.get_origin(tp) is Literal:
        return all(isinstance(a, str) for a in typing.get_args(tp))
    return tp is str


def _override_value(item: str, key: str, raw: str) -> Any:
    """The value of one `key=raw` override, read as YAML against the setting's type.

    An empty value is "" for a text setting and [] for a list; a section cannot be emptied. A
    text setting takes the raw text when YAML reads something else (`2024`, `*.warc.gz`).
    """
    tp = _setting_type(key.split("."))
    if not raw.strip():
        if dataclasses.is_dataclass(tp):
            raise ConfigError(
                f"override {item!r}: {key} is a section and cannot be emptied; "
                f"set its keys one by one ({key}.KEY=VALUE)"
            )
        if typing.get_origin(tp) is list:
            return []
        if tp is str:
            return ""
        if tp is None:
            return None  # not a setting: parsing names the unknown key
        raise ConfigError(f"override {item!r}: no value; {key} expects {_type_name(tp)}")
    try:
        value = read_yaml(raw)
    except yaml.YAMLError as exc:
        if _takes_text(tp):
            return raw.strip()
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(
            f"override {item!r}: the value is not valid YAML ({problem}); quote it, "
            "or write a list as [a, b]"
        ) from None
    if tp is str and value is not None and not isinstance(value, (str, list, dict)):
        return raw.strip()
    return value


def apply_overrides(data: dict[str, Any], overrides: typing.Iterable[str]) -> dict[str, Any]:
    """Apply `dotted.key=value` overrides (value parsed as YAML) to a params mapping.

    A mapping given for a section is merged into it, so an override never drops a section's
    other keys.
    """
    for item in overrides:
        key, sep, raw = item.partition("=")
        key = key.strip()
        if not sep or not key or "" in key.split("."):
            raise ConfigError(f"override {item!r}: expected dotted.key=value")
        value = _override_value(item, key, raw)
        node = data
        parts = key.split(".")
        for part in parts[:-1]:
            if node.get(part) is None:
                node[part] = {}
            node = node[part]
            if not isinstance(node, dict):
                raise ConfigError(f"override {item!r}: {part} is not a section")
        last = parts[-1]
        if isinstance(value, dict) and isinstance(node.get(last), dict):
            deep_merge(node[last], value)
        else:
            node[last] = value
    return data


def load_params(path: str | Path | None = None, overrides: typing.Iterable[str] = ()) -> Params:
    """Read params.yaml (or defaults when it is absent) and validate it."""
    path = Path(path) if path is not None else DEFAULT_PARAMS
    data: dict[str, Any] = {}
    if path.exists():
        try:
            data = read_yaml(path.read_text(encoding="utf-8")) or {}
        except yaml.YAMLError as exc:
            raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of sections at the top level")
    data = apply_overrides(data, overrides)  # its errors name the override, not the file
    try:
        return parse_params(data)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None


def to_dict(settings: Any) -> dict[str, Any]:
    """Settings back to a plain mapping (for logging as run parameters)."""
    return dataclasses.asdict(settings)


def flatten(mapping: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested mapping to `a.b.c` keys (MLflow params)."""
    flat: dict[str, Any] = {}
    for key, value in mapping.items():
        name = f"{prefix}.{key}" if prefix else key
        if isinstance(value, dict):
            flat.update(flatten(value, name))
        else:
            flat[name] = value
    return flat
