"""What settings dataclasses are made of: range-checked and list fields, and the error a bad
value raises.

A leaf module (standard library only): settings classes that live beside the code they
configure (the curate steps) import it, and config.py assembles them without an import cycle.
"""

from __future__ import annotations

from dataclasses import field
from typing import Any


class ConfigError(ValueError):
    """A params file or override that does not match the settings schema."""


def bounded(
    default: Any,
    *,
    ge: float | None = None,
    le: float | None = None,
    gt: float | None = None,
    lt: float | None = None,
    doc: str = "",
) -> Any:
    """A dataclass field with an allowed numeric range, checked on load."""
    meta = {"ge": ge, "le": le, "gt": gt, "lt": lt, "doc": doc}
    if isinstance(default, (list, dict)):
        return field(default_factory=lambda: type(default)(default), metadata=meta)
    return field(default=default, metadata=meta)


def listing(*items: Any) -> Any:
    """A list-valued field with a default."""
    return field(default_factory=lambda: list(items))
