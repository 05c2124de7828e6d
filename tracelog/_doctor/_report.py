"""What ``tracelog doctor`` found: one `DoctorCheck` per point, gathered in a `DoctorReport`."""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable
from dataclasses import dataclass

__all__ = ["DoctorCheck", "DoctorReport", "Status", "guarded"]


class Status(enum.StrEnum):
    """The outcome of one check."""

    OK = "ok"
    PROBLEM = "problem"
    NOT_CHECKED = "not checked"


@dataclass(frozen=True, slots=True)
class DoctorCheck:
    """One point checked.

    Attributes:
        name: a short identifier (``sdk``, ``logs-stdlib``, ``metrics-exemplars``, ...).
        status: ok, problem or not checked.
        finding: one line: what was found, or why it was not checked.
        fix: what to change, for a problem; else None.
    """

    name: str
    status: Status
    finding: str
    fix: str | None = None

    @classmethod
    def ok(cls, name: str, finding: str) -> DoctorCheck:
        """A check that passed."""
        return cls(name, Status.OK, finding)

    @classmethod
    def problem(cls, name: str, finding: str, fix: str) -> DoctorCheck:
        """A check that found a problem, and its fix."""
        return cls(name, Status.PROBLEM, finding, fix)

    @classmethod
    def skipped(cls, name: str, why: str) -> DoctorCheck:
        """A check that did not run, and why."""
        return cls(name, Status.NOT_CHECKED, why)


@dataclass(frozen=True, slots=True)
class DoctorReport:
    """Every check of one run, in order.

    Attributes:
        checks: the checks, as they ran.
    """

    checks: tuple[DoctorCheck, ...]

    @property
    def ok(self) -> bool:
        """Whether every check that ran passed."""
        return not self.problems

    @property
    def problems(self) -> tuple[DoctorCheck, ...]:
        """The checks that found a problem."""
        return tuple(check for check in self.checks if check.status is Status.PROBLEM)

    def __getitem__(self, name: str) -> DoctorCheck:
        """The check named *name*.

        Raises:
            KeyError: no check of that name ran.
        """
        for check in self.checks:
            if check.name == name:
                return check
        raise KeyError(name)

    def lines(self) -> list[str]:
        """The report as text: one line per check, an indented ``fix:`` under a problem."""
        width = max(len(status.value) for status in Status) + 2
        lines = []
        for check in self.checks:
            lines.append(f"{check.status.value:<{width}}{check.name}: {check.finding}")
            if check.fix:
                lines.append(f"{'':<{width}}fix: {check.fix}")
        return lines

    def __str__(self) -> str:
        return "\n".join(self.lines())


def guarded(name: str, check: Callable[[], Iterable[DoctorCheck]]) -> list[DoctorCheck]:
    """Run *check*; a check that crashes is reported as a problem naming the error."""
    try:
        return list(check())
    except Exception as error:
        return [
            DoctorCheck.problem(
                name,
                f"the check failed: {type(error).__name__}: {error}",
                "fix what the error names; if it is tracelog's fault, report it as a bug",
            )
        ]
