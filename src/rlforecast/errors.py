"""User-facing input errors: each names the file and the row/column or key at fault."""

from __future__ import annotations

import sys
from dataclasses import dataclass


@dataclass(frozen=True)
class Problem:
    """One thing wrong with one input file."""

    path: str
    message: str
    row: int | None = None  # 1-based data row as a spreadsheet user counts it (header = row 1)
    column: str | None = None
    key: str | None = None  # for TOML/JSON/netCDF inputs

    def __str__(self) -> str:
        where = [self.path]
        if self.row is not None:
            where.append(f"row {self.row}")
        if self.column is not None:
            where.append(f"column '{self.column}'")
        if self.key is not None:
            where.append(f"key '{self.key}'")
        return f"{', '.join(where)}: {self.message}"


class InputError(Exception):
    """Bad input; carries every problem found so the user can fix them all at once."""

    def __init__(self, problems: list[Problem] | Problem):
        self.problems = [problems] if isinstance(problems, Problem) else list(problems)
        super().__init__(self.report())

    @classmethod
    def at(cls, path, message, *, row=None, column=None, key=None) -> "InputError":
        return cls(Problem(str(path), message, row=row, column=column, key=key))

    def report(self, limit: int = 50) -> str:
        lines = [str(p) for p in self.problems[:limit]]
        if len(self.problems) > limit:
            lines.append(f"... and {len(self.problems) - limit} more problems")
        return "\n".join(lines)


class ConvergenceError(Exception):
    """A fit failed its diagnostic thresholds and the caller did not allow that."""


_pending_signals: list[int] = []


def on_interrupt(signum, frame) -> None:
    """Handler for SIGINT and SIGTERM (installed by the CLI): remember the signal, raise KeyboardInterrupt.
    Remembering it lets the next checkpoint stop the command even if a library swallowed the exception
    (a KeyboardInterrupt raised inside a destructor or garbage-collector callback is only printed)."""
    _pending_signals.append(signum)
    raise KeyboardInterrupt(signum)


def quiet_unraisable(unraisable, _default=sys.unraisablehook) -> None:
    """``sys.unraisablehook`` that drops the "Exception ignored" report of an interrupt swallowed by a
    destructor or callback (``on_interrupt`` recorded it: the next checkpoint stops); others go to the default."""
    if not isinstance(unraisable.exc_value, KeyboardInterrupt):
        _default(unraisable)


def reset_interrupts() -> None:
    """Forget interrupts recorded by an earlier command in this process."""
    _pending_signals.clear()


def check_interrupt() -> None:
    """Checkpoint: raise KeyboardInterrupt if an interrupt arrived earlier (before writes, while sampling)."""
    if _pending_signals:
        raise KeyboardInterrupt(_pending_signals[0])
