"""params.yaml -> typed, validated settings.

Each params.yaml section is a dataclass below. Loading walks the YAML against the dataclass
fields: an unknown key, a wrong type or an out-of-range value fails at once with the key's
dotted path and what was expected. Only the standard library and PyYAML are imported here, so
the training entry point can load params on a machine without the orchestration stack.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

DEFAULT_PARAMS = Path("params.yaml")


class ConfigError(ValueError):
    """A params file or override that does not match the settings schema."""


def bounded(default: Any, *, ge: float | None = None, le: float | None = None,
            gt: float | None = None, lt: float | None = None, doc: str = "") -> Any:
    """A dataclass field with an allowed numeric range, checked on load."""
    meta = {"ge": ge, "le": le, "gt": gt, "lt": lt, "doc": doc}
    if isinstance(default, (list, dict)):
        return field(default_factory=lambda: type(default)(default), metadata=meta)
    return field(default=default, metadata=meta)


def listing(*items: Any) -> Any:
    """A list-valued field with a default."""
    return field(default_factory=lambda: list(items))


# --------------------------------------------------------------------------- sections


@dataclass
class IngestSettings:
    """Where raw WARC files come from and where they land."""

    # Local paths/globs now; URLs and crawl ids arrive with the ingest stage.
    sources: list[str] = listing()
    output: str = "data/raw"


@dataclass
class GopherRepetitionSettings:
    """Gopher (Rae et al. 2021) repetition thresholds, as FineWeb uses them."""

    enabled: bool = True
    dup_line_frac: float = bounded(0.3, ge=0, le=1)
    dup_para_frac: float = bounded(0.3, ge=0, le=1)
    dup_line_char_frac: float = bounded(0.2, ge=0, le=1)
    dup_para_char_frac: float = bounded(0.2, ge=0, le=1)
    # [n, max fraction of characters in the most frequent n-gram]
    top_n_grams: list[list[float]] = bounded([[2, 0.2], [3, 0.18], [4, 0.16]])
    # [n, max fraction of characters in duplicated n-grams]
    dup_n_grams: list[list[float]] = bounded(
        [[5, 0.15], [6, 0.14], [7, 0.13], [8, 0.12], [9, 0.11], [10, 0.10]]
    )


@dataclass
class GopherQualitySettings:
    """Gopher quality thresholds, as FineWeb uses them."""

    enabled: bool = True
    min_doc_words: int = bounded(50, ge=0)
    max_doc_words: int = bounded(100000, ge=1)
    min_avg_word_length: float = bounded(3.0, ge=0)
    max_avg_word_length: float = bounded(10.0, ge=0)
    max_symbol_word_ratio: float = bounded(0.1, ge=0)
    max_bullet_lines_ratio: float = bounded(0.9, ge=0, le=1)
    max_ellipsis_lines_ratio: float = bounded(0.3, ge=0, le=1)
    max_non_alpha_words_ratio: float = bounded(0.8, ge=0, le=1)
    min_stop_words: int = bounded(2, ge=0)
    stop_words: list[str] = listing("the", "be", "to", "of", "and", "that", "have", "with")


@dataclass
class C4QualitySettings:
    """C4 line and document rules; FineWeb drops the terminal-punctuation rule."""

    enabled: bool = True
    split_paragraph: bool = True
    remove_citations: bool = True
    filter_no_terminal_punct: bool = False
    min_num_sentences: int = bounded(5, ge=0)
    min_words_per_line: int = bounded(3, ge=0)
    max_word_length: int = bounded(1000, ge=1)
    filter_lorem_ipsum: bool = True
    filter_javascript: bool = True
    filter_curly_bracket: bool = True
    filter_policy: bool = True


@dataclass
class FineWebQualitySettings:
    """FineWeb's own line-level heuristics."""

    enabled: bool = True
    line_punct_thr: float = bounded(0.12, ge=0, le=1)
    line_punct_exclude_zero: bool = False
    short_line_thr: float = bounded(0.67, ge=0, le=1)
    short_line_length: int = bounded(30, ge=0)
    char_duplicates_ratio: float = bounded(0.01, ge=0, le=1)
    new_line_ratio: float = bounded(0.3, ge=0)


@dataclass
class UrlFilterSettings:
    """URL blocklists: files of domains, full URLs and banned (sub)words."""

    enabled: bool = True
    # Files may be plain or gzip; globs allowed. Empty lists use the lists the package ships.
    domain_files: list[str] = listing()
    url_files: list[str] = listing()
    banned_word_files: list[str] = listing()
    banned_subword_files: list[str] = listing()
    soft_banned_word_files: list[str] = listing()
    soft_word_threshold: int = bounded(2, ge=1)


@dataclass
class LanguageSettings:
    """fastText lid.176 language identification."""

    enabled: bool = True
    languages: list[str] = listing("en")
    min_score: float = bounded(0.65, ge=0, le=1)


@dataclass
class CurateSettings:
    """WARC -> main text -> filters -> Parquet documents."""

    input: list[str] = listing()
    output: str = "data/curated"
    extractor: Literal["trafilatura", "resiliparse"] = "trafilatura"
    # Extract cheaply with resiliparse, identify the language, then run the precise extractor
    # only on documents in the wanted languages.
    prefilter_language: bool = False
    extraction_timeout: float = bounded(0.1, gt=0, doc="seconds per document (trafilatura)")
    workers: int = bounded(1, ge=1)
    runner: Literal["threads", "processes", "dask", "ray"] = "processes"
    max_record_bytes: int = bounded(10_000_000, ge=1024)
    url_filter: UrlFilterSettings = field(default_factory=UrlFilterSettings)
    language: LanguageSettings = field(default_factory=LanguageSettings)
    gopher_repetition: GopherRepetitionSettings = field(default_factory=GopherRepetitionSettings)
    gopher_quality: GopherQualitySettings = field(default_factory=GopherQualitySettings)
    c4_quality: C4QualitySettings = field(default_factory=C4QualitySettings)
    fineweb_quality: FineWebQualitySettings = field(default_factory=FineWebQualitySettings)


@dataclass
class TrackingSettings:
    """MLflow tracking. An empty URI means the embedded SQLite file (or $MLFLOW_TRACKING_URI)."""

    enabled: bool = True
    tracking_uri: str = ""
    experiment: str = "warc2gpt"


@dataclass
class Params:
    """The whole params.yaml."""

    ingest: IngestSettings = field(default_factory=IngestSettings)
    curate: CurateSettings = field(default_factory=CurateSettings)
    tracking: TrackingSettings = field(default_factory=TrackingSettings)


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
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{path}: expected a number, got {value!r}")
        return float(value)
    if tp is str:
        if not isinstance(value, (str, int, float)) or isinstance(value, bool):
            raise ConfigError(f"{path}: expected a string, got {value!r}")
        return str(value)
    raise ConfigError(f"{path}: unsupported settings type {tp!r}")


def _check_range(value: Any, meta: typing.Mapping[str, Any], path: str) -> None:
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return
    checks = [("ge", lambda v, b: v >= b, ">="), ("le", lambda v, b: v <= b, "<="),
              ("gt", lambda v, b: v > b, ">"), ("lt", lambda v, b: v < b, "<")]
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
        raise ConfigError(
            f"unknown key {where}{unknown[0]}: expected one of {', '.join(sorted(fields))}"
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


def apply_overrides(data: dict[str, Any], overrides: typing.Iterable[str]) -> dict[str, Any]:
    """Apply `dotted.key=value` overrides (value parsed as YAML) to a params mapping."""
    for item in overrides:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"override {item!r}: expected dotted.key=value")
        node = data
        parts = key.split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError(f"override {item!r}: {part} is not a section")
        node[parts[-1]] = yaml.safe_load(raw)
    return data


def load_params(path: str | Path | None = None, overrides: typing.Iterable[str] = ()) -> Params:
    """Read params.yaml (or defaults when it is absent) and validate it."""
    path = Path(path) if path is not None else DEFAULT_PARAMS
    data: dict[str, Any] = {}
    if path.exists():
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except yaml.YAMLError as exc:
            raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
    try:
        return parse_params(apply_overrides(data, overrides))
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
