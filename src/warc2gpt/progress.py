"""Progress of long work: a tqdm bar on a terminal, periodic log lines everywhere else.

Counts what the work is made of (documents, bytes, steps) with a rate and an ETA. Off a terminal
(a log file, CI, a Prefect worker) it prints one line every `every_s` seconds and one at the end
instead of carriage-return updates; `print` is what Prefect's `log_prints` captures into the
flow's logs.
"""

from __future__ import annotations

import sys
import time
from typing import Any, TextIO

_ENABLED = True


def set_enabled(enabled: bool) -> bool:
    """Turn progress display on or off for this process (`--no-progress`); returns the setting
    it replaces."""
    global _ENABLED
    previous, _ENABLED = _ENABLED, enabled
    return previous


def _duration(seconds: float) -> str:
    seconds = int(max(seconds, 0))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def _amount(value: float, unit: str) -> str:
    if unit == "B":
        for scale, name in ((1 << 30, "GiB"), (1 << 20, "MiB"), (1 << 10, "KiB")):
            if value >= scale:
                return f"{value / scale:.1f} {name}"
        return f"{value:.0f} B"
    return f"{value:,.0f} {unit}" if value >= 100 or value == int(value) else f"{value:.2f} {unit}"


class Progress:
    """`update(n, **postfix)` as work advances; `close()` (or leave the `with`) at the end.

    `total` may be None (no percentage or ETA). `initial` is work
    done before this process started (a resumed run): counted, but not in the rate. `every_n`:
    off a terminal, a line every that many units instead of every `every_s` seconds.
    """

    def __init__(
        self,
        desc: str,
        total: float | None = None,
        unit: str = "doc",
        *,
        enabled: bool | None = None,
        every_s: float = 10.0,
        every_n: float | None = None,
        initial: float = 0,
        stream: TextIO | None = None,
    ) -> None:
        self.desc, self.total, self.unit = desc, total, unit
        self.enabled = _ENABLED if enabled is None else enabled
        self.every_s, self.every_n = every_s, every_n
        self.stream = stream or sys.stderr
        self.initial = self.count = self._last_count = float(initial)
        self.postfix: dict[str, Any] = {}
        self.started = self._last_line = time.monotonic()
        self._bar = None
        if self.enabled and self.stream.isatty():
            from tqdm import tqdm

            scale = unit == "B"
            self._bar = tqdm(
                total=total,
                desc=desc,
                unit=unit,
                unit_scale=scale,
                unit_divisor=1024 if scale else 1000,
                initial=initial,
                file=self.stream,
                dynamic_ncols=True,
            )

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def update(self, n: float = 1, **postfix: Any) -> None:
        self.count += n
        self.postfix.update(postfix)
        if not self.enabled:
            return
        if self._bar is not None:
            if postfix:
                self._bar.set_postfix(self.postfix, refresh=False)
            self._bar.update(n)
        elif self._line_due():
            self._line()

    def _line_due(self) -> bool:
        if self.every_n:
            return self.count - self._last_count >= self.every_n
        return time.monotonic() - self._last_line >= self.every_s

    def advance(self, n: float = 1, **counts: float) -> None:
        """`update` that adds `counts` to the running totals shown beside the bar."""
        for key, value in counts.items():
            self.postfix[key] = self.postfix.get(key, 0) + value
        self.update(n, **{k: self.postfix[k] for k in counts})

    def line(self) -> str:
        """The state as one line: count, share, rate, elapsed and ETA, postfix."""
        elapsed = time.monotonic() - self.started
        rate = (self.count - self.initial) / elapsed if elapsed > 0 else 0.0
        parts = [f"{self.desc}: {_amount(self.count, self.unit)}"]
        if self.total:
            parts[0] += (
                f" of {_amount(self.total, self.unit)} ({100 * self.count / self.total:.0f}%)"
            )
        parts.append(f"{_amount(rate, self.unit)}/s")
        parts.append(f"elapsed {_duration(elapsed)}")
        if self.total and rate > 0 and self.count < self.total:
            parts.append(f"ETA {_duration((self.total - self.count) / rate)}")
        parts += [f"{k} {v}" for k, v in self.postfix.items()]
        return ", ".join(parts)

    def _line(self) -> None:
        self._last_line, self._last_count = time.monotonic(), self.count
        print(self.line(), flush=True)

    def discard(self) -> None:
        """Stop showing anything: the work is counted elsewhere (e.g. by Prefect's task logs)."""
        if self._bar is not None:
            self._bar.leave = False
            self._bar.close()
            self._bar = None
        self.enabled = False

    def close(self) -> None:
        if not self.enabled:
            return
        if self._bar is not None:
            self._bar.set_postfix(self.postfix, refresh=False)
            self._bar.close()
            self._bar = None
        elif self.count != self._last_count or self.count == self.initial:
            self._line()  # the closing line, unless the last one already showed this count
        self.enabled = False
