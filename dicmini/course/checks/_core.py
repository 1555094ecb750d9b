"""The machinery every exercise check shares (course_conventions §4.5.3).

A check is a :class:`Check`: a named sequence of property tests run against the student's object.
Calling it (``my_psnr = checks.check_psnr(my_psnr)``) runs the tests, prints one deterministic line per
test (``✓ ...``, or ``✗ ...`` followed by a one-line hint) and returns the object the notebook should go on
with: the student's object when it is implemented (also when a test fails, so that the consequences show),
the dicmini reference when the student's code raises :class:`NotImplementedError`. ``check.run(obj)``
does the same but returns a :class:`CheckReport`, so that tests can assert on pass/fail without parsing
the printed lines.

A property test is a function ``test(obj) -> Outcome``; it may raise. ``NotImplementedError`` anywhere
means "not implemented yet"; any other exception fails that test, with the exception in the hint.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

__all__ = ["Check", "CheckPair", "CheckReport", "Property", "Line", "Outcome", "PASS", "FAIL", "qualname",
           "assert_state_dicts_match"]

PASS = "✓"
FAIL = "✗"


@dataclass(frozen=True)
class Outcome:
    """What one property test concluded: ``ok``, the line to print, and a hint printed when not ok."""

    ok: bool
    text: str
    hint: str = ""


@dataclass(frozen=True)
class Line:
    ok: bool
    text: str
    hint: str = ""

    def render(self) -> str:
        if self.ok:
            return f"{PASS} {self.text}"
        return f"{FAIL} {self.text}" + (f"\n    hint: {self.hint}" if self.hint else "")


@dataclass
class CheckReport:
    """Result of running one check: the printed lines and what the notebook continues with."""

    name: str
    implemented: bool
    lines: list[Line] = field(default_factory=list)
    result: Any = None

    @property
    def passed(self) -> bool:
        """True when the student's code is implemented and every property test passed."""
        return self.implemented and bool(self.lines) and all(line.ok for line in self.lines)

    @property
    def failed(self) -> list[Line]:
        return [line for line in self.lines if not line.ok]

    def text(self) -> str:
        return "\n".join(line.render() for line in self.lines)


def qualname(obj: Any) -> str:
    """The name a student gave their function or class (``my_psnr``, ``MyFeedbackBlock``)."""
    return getattr(obj, "__name__", type(obj).__name__)


def _describe(err: BaseException) -> str:
    msg = str(err).strip().splitlines()
    first = msg[0] if msg else ""
    if len(first) > 160:
        first = first[:157] + "..."
    return f"{type(err).__name__}: {first}" if first else type(err).__name__


@dataclass(frozen=True)
class Property:
    """One property test: ``test(obj) -> Outcome``; ``label`` names it when it raises."""

    label: str
    test: Callable[[Any], Outcome]


class Check:
    """An exercise check (see the module docstring).

    ``properties`` are run in order on the student's object; ``reference`` is what the notebook falls
    back to, ``reference_name`` how the fallback message names it (``dicmini.metrics.psnr``).
    """

    def __init__(self, name: str, properties: Sequence[Property], reference: Any, reference_name: str,
                 doc: str = "") -> None:
        self.name = name
        self.properties = list(properties)
        self.reference = reference
        self.reference_name = reference_name
        self.__doc__ = doc or f"Check an exercise against {reference_name}."

    def run(self, obj: Any, *, verbose: bool = True) -> CheckReport:
        """Run every property test on ``obj``; print the lines when ``verbose``; return the report."""
        report = CheckReport(self.name, implemented=True, result=obj)
        for prop in self.properties:
            try:
                # Student code may print while it runs; keep the check's output to its own lines.
                with contextlib.redirect_stdout(io.StringIO()), torch.random.fork_rng():
                    outcome = prop.test(obj)
            except NotImplementedError:
                report.implemented = False
                report.lines = []
                report.result = self.reference
                if verbose:
                    print(f"{qualname(obj)} is not implemented yet; using {self.reference_name} "
                          f"for the rest of this notebook")
                return report
            except Exception as err:  # noqa: BLE001 - a failing student implementation is a ✗, not a crash
                outcome = Outcome(False, f"{prop.label}: raised {_describe(err)}",
                                  "run the function on the inputs of this test and read the traceback")
            report.lines.append(Line(outcome.ok, outcome.text, outcome.hint))
        # Printed only once every test has run: a NotImplementedError in a late test still means "not implemented".
        if verbose:
            print(report.text())
        return report

    def __call__(self, obj: Any) -> Any:
        return self.run(obj).result

    def __repr__(self) -> str:
        return f"<check {self.name} (reference {self.reference_name}, {len(self.properties)} properties)>"


def assert_state_dicts_match(mine: torch.nn.Module, reference: torch.nn.Module) -> Outcome | None:
    """``None`` when both modules have the same parameter/buffer names and shapes, else a failing Outcome."""
    a = {k: tuple(v.shape) for k, v in mine.state_dict().items()}
    b = {k: tuple(v.shape) for k, v in reference.state_dict().items()}
    if a == b:
        return None
    missing = sorted(set(b) - set(a))
    extra = sorted(set(a) - set(b))
    shape = sorted(k for k in set(a) & set(b) if a[k] != b[k])
    parts = []
    if missing:
        parts.append(f"missing {missing[:3]}")
    if extra:
        parts.append(f"unexpected {extra[:3]}")
    if shape:
        parts.append(f"shape of {shape[0]} is {list(a[shape[0]])}, expected {list(b[shape[0]])}")
    return Outcome(False, "parameter names and shapes match the reference", "; ".join(parts))


class CheckPair:
    """Two checks called together on two objects (``d, g = check_gan_losses(d, g)``)."""

    def __init__(self, first: Check, second: Check) -> None:
        self.first, self.second = first, second

    def run(self, a: Any, b: Any, *, verbose: bool = True) -> tuple[CheckReport, CheckReport]:
        return self.first.run(a, verbose=verbose), self.second.run(b, verbose=verbose)

    def __call__(self, a: Any, b: Any) -> tuple[Any, Any]:
        ra, rb = self.run(a, b)
        return ra.result, rb.result

    def __repr__(self) -> str:
        return f"<checks {self.first.name} + {self.second.name}>"
