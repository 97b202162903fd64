"""What every curate step is: a name, a settings dataclass beside it, and `step(doc)`.

A step returns None to pass the document on, or the reason it removes it; a step that
transforms (extraction sets `doc.text`, PII rewrites it) edits the document in place. The chain
(`curate/chain.py`) times and counts every step, records its removals and turns an exception
into a removal, so a step holds nothing but its own rule.

This module and the step modules import only the standard library at module level: config.py
assembles the curate settings from the steps' settings classes, and config must stay light.
"""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    from warc2gpt.documents import Document


class Step:
    """One curate step. Subclasses set `name` and `Settings` and write `__call__`.

    name        the row of the summary table and the step in `filter_reason` (`name:reason`).
    Settings    its settings dataclass, read from params.yaml at `curate.<section>`.
    section     where those settings sit under `curate:`; defaults to `name`; "" puts the
                settings' keys directly under `curate:`.
    in_summary  False for a step that never removes a document (PII): it has no row.
    """

    name: ClassVar[str]
    Settings: ClassVar[type]
    section: ClassVar[str | None] = None
    in_summary: ClassVar[bool] = True

    def __init__(self, settings: Any) -> None:
        self.settings = settings

    def __call__(self, doc: Document) -> str | None:
        raise NotImplementedError

    @classmethod
    def settings_key(cls) -> str:
        return cls.name if cls.section is None else cls.section

    @classmethod
    def settings_in(cls, curate: Any) -> Any:
        """This step's settings, taken from the assembled curate settings."""
        key = cls.settings_key()
        if key:
            return getattr(curate, key)
        fields = dataclasses.fields(cls.Settings)
        return cls.Settings(**{f.name: getattr(curate, f.name) for f in fields})

    @classmethod
    def enabled(cls, curate: Any) -> bool:
        """Whether the step runs under these curate settings (its own `enabled`, if any)."""
        return getattr(cls.settings_in(curate), "enabled", True)


def settings_fields(steps: Iterable[type[Step]]) -> list[tuple[str, Any, dataclasses.Field]]:
    """The curate settings fields the steps bring, in pipeline order, for `make_dataclass`: one
    section per settings class, or its own keys when the step's section is ""."""
    fields: list[tuple[str, Any, dataclasses.Field]] = []
    owner: dict[str, type] = {}
    for step in steps:
        settings, key = step.Settings, step.settings_key()
        if key:
            entries = [(key, settings, dataclasses.field(default_factory=settings))]
        else:
            hints = typing.get_type_hints(settings)
            entries = [
                (f.name, hints[f.name], _copy_field(f)) for f in dataclasses.fields(settings)
            ]
        for name, tp, spec in entries:
            if owner.get(name, settings) is not settings:
                raise TypeError(
                    f"curate.{name}: claimed by both {owner[name].__name__} and "
                    f"{settings.__name__} ({step.__name__})"
                )
            if name not in owner:
                owner[name] = settings
                fields.append((name, tp, spec))
    return fields


def _copy_field(f: dataclasses.Field) -> dataclasses.Field:
    """A fresh field with the same default and metadata (a Field belongs to one class)."""
    if f.default_factory is not dataclasses.MISSING:
        return dataclasses.field(default_factory=f.default_factory, metadata=f.metadata)
    return dataclasses.field(default=f.default, metadata=f.metadata)
