"""Progress for long loops: a tqdm bar on a terminal, a few log lines anywhere else.

A bar redraws itself with carriage returns, which a log file or a batch scheduler's output keeps as
one endless line. When stderr is not a terminal, `progress_bar` draws nothing and logs at INFO
instead: one line per unit for coarse units (an epoch, a series), about one line per tenth for fine
ones (slices, ROIs), and none for an inner loop whose caller logs its own line (a series' batches).
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any, Literal

from tqdm import tqdm

# How often a log (not a terminal) hears of the loop: each unit, each tenth of the total, or never.
LogEvery = Literal["unit", "tenth", "never"]

log = logging.getLogger(__name__)

if TYPE_CHECKING:
    _Tqdm = tqdm[Any]  # generic in its stubs only
else:
    _Tqdm = tqdm


def progress_bar(
    iterable: Iterable[Any] | None = None,
    *,
    total: int | None = None,
    desc: str,
    unit: str,
    enabled: bool = True,
    log_every: LogEvery = "tenth",
) -> tqdm[Any]:
    """A tqdm bar on a terminal; elsewhere a silent one that logs its progress (see the module).

    Args:
        iterable: what to iterate over (None: call `update` by hand).
        total: the number of units (default: len(iterable) where it has one).
        desc: what the loop does, e.g. "harmonize"; starts each log line.
        unit: what one step is, e.g. "series".
        enabled: False shows and logs nothing (--quiet).
        log_every: how often a log hears of the loop when stderr is not a terminal; "never" is for an
            inner loop, whose bar also leaves the terminal when done.
    """
    if total is None and iterable is not None and hasattr(iterable, "__len__"):
        total = len(iterable)  # type: ignore[arg-type]
    if not enabled or (not stderr_is_terminal() and log_every == "never"):
        return tqdm(iterable, total=total, disable=True)
    if stderr_is_terminal():
        return tqdm(iterable, total=total, desc=desc, unit=unit, leave=log_every != "never", file=sys.stderr)
    return LoggedProgress(iterable, total=total, desc=desc, unit=unit, log_every=log_every)


def stderr_is_terminal() -> bool:
    """Whether stderr (where bars are drawn) is a terminal now (test runners and notebooks replace it)."""
    isatty = getattr(sys.stderr, "isatty", None)
    try:
        return bool(isatty and isatty())
    except ValueError:  # a closed stream
        return False


class LoggedProgress(_Tqdm):
    """A tqdm that draws nothing and logs "DESC: UNIT N/TOTAL" lines at INFO as units complete."""

    def __init__(
        self, iterable: Iterable[Any] | None, *, total: int | None, desc: str, unit: str, log_every: LogEvery
    ) -> None:
        super().__init__(iterable, total=total, disable=True)
        self._label, self._unit = desc, unit
        self._step = max(1, -(-(total or 0) // 10)) if log_every == "tenth" else 1
        self._postfix = ""

    def __iter__(self) -> Iterator[Any]:
        assert self.iterable is not None, "LoggedProgress over no iterable: call update()"
        for item in self.iterable:
            yield item
            self.update()

    def update(self, n: float | None = 1) -> bool | None:
        before, self.n = self.n, self.n + (n or 0)
        if int(self.n) // self._step > int(before) // self._step or self.n == self.total:
            what = self._unit if self._label == self._unit else f"{self._label}: {self._unit}"
            of_total = f"/{self.total}" if self.total else ""
            log.info("%s %d%s%s", what, self.n, of_total, self._postfix)
        return None

    def set_postfix(self, ordered_dict: Any = None, refresh: bool | None = True, **kwargs: Any) -> None:
        items = {**(ordered_dict or {}), **kwargs}
        self._postfix = " (" + ", ".join(f"{k} {v}" for k, v in items.items()) + ")" if items else ""
