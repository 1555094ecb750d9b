"""The machinery every exercise check shares (course_conventions §4.5.3).

A check is a :class:`Check`: a named sequence of property tests run against the student's object.
Calling it (``my_psnr = checks.check_psnr(my_psnr)``) runs the tests, prints one deterministic line per
test (``✓ ...``, or ``✗ ...`` followed by a hint; ``– ...`` for a test not run, see ``requires`` below) and
returns the object the notebook should go on with: the student's object when it is implemented (also when a
test fails, so that the consequences show), the dicmini reference when the student's code raises
:class:`NotImplementedError`. ``check.run(obj)`` does the same but returns a :class:`CheckReport`, so that tests
can assert on pass/fail without parsing the printed lines.

A property test is a function ``test(obj) -> Outcome``; it may raise. ``NotImplementedError`` anywhere
means "not implemented yet"; any other exception fails that test, with the exception in the hint.

A property may name earlier properties it ``requires`` (``Property("agreement", ..., requires=("parameters",))``):
when one of them failed it is not run and prints a ``–`` line instead of a second ✗ for the same cause (a
parameter mismatch makes every test that copies the reference's weights fail; it is reported once, by the
parameter test, with the differences by parameter name).

After a check, a lesson's own cells must not stop Run All on a wrong implementation (the check already said what
is wrong). Three helpers keep them going:

* :func:`expect` ``(condition, text, hint)`` prints a ✓/✗ line where a lesson would ``assert``;
* ``with`` :func:`confirm` ``(text):`` runs a block (asserts, ``torch.testing.assert_close``, the student's code)
  and prints ``✓ text``, or ``✗ text`` with the failed assertion or the exception and where it was raised;
  the exception does not propagate;
* :func:`usable` ``(obj)`` is what the cells that *build on* an exercise take: ``obj`` once the last check run on
  it passed, else its check's reference, after a ✗ line saying that the notebook goes on with the reference.
"""

from __future__ import annotations

import contextlib
import io
import linecache
import os
import re
import sysconfig
import traceback
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

__all__ = ["Check", "CheckPair", "CheckReport", "Property", "Line", "Outcome", "PASS", "FAIL", "SKIP", "qualname",
           "assert_state_dicts_match", "shape_differences", "expect", "confirm", "usable", "last_report"]

PASS = "✓"
FAIL = "✗"
SKIP = "–"


@dataclass(frozen=True)
class Outcome:
    """What one property test concluded: ``ok``, the line to print, and a hint printed when not ok."""

    ok: bool
    text: str
    hint: str = ""


@dataclass(frozen=True)
class Line:
    """One printed line; ``skipped``: not run because a property it requires failed (neither ✓ nor ✗)."""

    ok: bool
    text: str
    hint: str = ""
    skipped: bool = False

    def render(self) -> str:
        if self.ok:
            return f"{PASS} {self.text}"
        if self.skipped:
            return f"{SKIP} {self.text}"
        # a hint may span several lines: they are aligned under its first
        hint = self.hint.replace("\n", "\n          ")
        return f"{FAIL} {self.text}" + (f"\n    hint: {hint}" if hint else "")


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
        """The ✗ lines (skipped lines are not among them)."""
        return [line for line in self.lines if not line.ok and not line.skipped]

    @property
    def skipped(self) -> list[Line]:
        """Lines of properties not run because a property they require failed."""
        return [line for line in self.lines if line.skipped]

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


#: code that is not the student's: torch, dicmini itself, the standard library and installed packages
_LIBRARY_DIRS = tuple({os.path.join(d, "") for d in (
    os.path.dirname(torch.__file__), os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
    *(sysconfig.get_paths()[k] for k in ("stdlib", "platstdlib", "purelib", "platlib")))})


def _locate(err: BaseException) -> str:
    """Where the student's code raised: the innermost ``nn.Module`` running (by its name inside the outermost one)
    and the last line of code outside torch and the checks (the student's); ``""`` when neither is known."""
    frames = list(traceback.walk_tb(err.__traceback__))
    own = [(f, line) for f, line in frames if not os.path.abspath(f.f_code.co_filename).startswith(_LIBRARY_DIRS)]
    where = ""
    if own:
        f, line = own[-1]
        code = linecache.getline(f.f_code.co_filename, line, f.f_globals).strip()
        where = f"`{code}` (in {f.f_code.co_name})" if code else f"line {line} of {f.f_code.co_name}"
    modules = [f.f_locals["self"] for f, _ in frames if isinstance(f.f_locals.get("self"), torch.nn.Module)]
    root, inner = (modules[0], modules[-1]) if modules else (None, None)
    name = next((n for n, m in root.named_modules() if m is inner), None) if modules else None
    if inner is root or not name:
        return f"raised by {where}" if where else ""
    what = repr(inner) if not any(True for _ in inner.children()) else type(inner).__name__
    text = f"raised inside {name} ({what})"
    return text + (f", called by {where}" if where else "")


@dataclass(frozen=True)
class Property:
    """One property test: ``test(obj) -> Outcome``; ``label`` names it when it raises or is skipped.
    ``requires``: labels of earlier properties that must pass for this one to run."""

    label: str
    test: Callable[[Any], Outcome]
    requires: tuple[str, ...] = ()


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
        status: dict[str, bool] = {}
        errors: dict[str, str] = {}          # an exception's description -> the first test that raised it
        for prop in self.properties:
            blocked = [label for label in prop.requires if not status.get(label, False)]
            if blocked:
                status[prop.label] = False
                report.lines.append(Line(False, f"{prop.label}: not run until the {blocked[0]} test above passes",
                                         skipped=True))
                continue
            try:
                # Student code may print while it runs; keep the check's output to its own lines.
                with contextlib.redirect_stdout(io.StringIO()), torch.random.fork_rng():
                    outcome = prop.test(obj)
            except NotImplementedError:
                report.implemented = False
                report.lines = []
                report.result = self.reference
                _LAST_RUN[id(obj)] = (obj, self, report)
                if verbose:
                    print(f"{qualname(obj)} is not implemented yet; using {self.reference_name} "
                          f"for the rest of this notebook")
                return report
            except Exception as err:  # noqa: BLE001 - a failing student implementation is a ✗, not a crash
                described = _describe(err)
                text = f"{prop.label}: raised {described}"
                if described in errors:   # the same error again: its hint was printed once, above
                    outcome = Outcome(False, text, f"the same error as the {errors[described]} test above")
                else:
                    errors[described] = prop.label
                    where = _locate(err)
                    if where.startswith("raised inside"):
                        hint = f"{where}: check what is passed to it"
                    else:
                        hint = (f"{where}; " if where else "") + ("run the function on the inputs of this test and "
                                                                  "read the traceback")
                    outcome = Outcome(False, text, hint)
            status[prop.label] = outcome.ok
            report.lines.append(Line(outcome.ok, outcome.text, outcome.hint))
        # Printed only once every test has run: a NotImplementedError in a late test still means "not implemented".
        _LAST_RUN[id(obj)] = (obj, self, report)
        if verbose:
            print(report.text())
        return report

    def __call__(self, obj: Any) -> Any:
        return self.run(obj).result

    def __repr__(self) -> str:
        return f"<check {self.name} (reference {self.reference_name}, {len(self.properties)} properties)>"


def _shape(shape: tuple[int, ...]) -> str:
    return "[" + ", ".join(str(n) for n in shape) + "]"


def _names(names: list[str], shapes: dict[str, tuple[int, ...]], limit: int = 4) -> str:
    shown = ", ".join(f"{k} {_shape(shapes[k])}" for k in names[:limit])
    return shown + (f" ... ({len(names)} in all)" if len(names) > limit else "")


def shape_differences(mine: dict[str, tuple[int, ...]], reference: dict[str, tuple[int, ...]]) -> str:
    """The differences between two ``{name: shape}`` tables (``named_parameters`` or ``state_dict``), by name:
    tensors missing from ``mine``, unexpected in it, and of the wrong shape, with a guess at the cause;
    ``""`` when they are the same."""
    missing = [k for k in reference if k not in mine]
    extra = [k for k in mine if k not in reference]
    wrong = [k for k in reference if k in mine and mine[k] != reference[k]]
    parts = []
    if missing:
        part = f"missing {_names(missing, reference)}"
        if all(k.endswith(".bias") for k in missing) and not extra:
            part += (" (a convolution built with bias=False? nn.Conv2d has a bias by default, and the reference "
                     "keeps it)")
        parts.append(part)
    if missing and not extra and not all(k.endswith(".bias") for k in missing):
        parts[-1] += (" (a layer left out, or not registered: modules kept in a plain Python list have no "
                      "parameters — use nn.ModuleList)")
    if extra:
        parts.append(f"unexpected {_names(extra, mine)}")
    if missing and extra:
        parts.append("the names come from the attribute names and the nn.Sequential indices, which must match the "
                     "reference's")
    for k in wrong[:3]:
        got, want = mine[k], reference[k]
        part = f"{k} is {_shape(got)}, expected {_shape(want)}"
        if (len(got) == len(want) == 4 and got[0] == want[0] and got[2:] == want[2:] and got[1] > want[1]
                and got[1] % want[1] == 0):
            part += (f" (dim 1 of a conv weight is in_channels / groups: {got[1] // want[1]}x too many — groups "
                     "missing?)")
        parts.append(part)
    if len(wrong) > 3:
        parts.append(f"... ({len(wrong)} tensors of the wrong shape in all)")
    return "; ".join(parts)


def assert_state_dicts_match(mine: torch.nn.Module, reference: torch.nn.Module) -> Outcome | None:
    """``None`` when both modules have the same parameter/buffer names and shapes, else a failing Outcome whose
    hint lists the differences by name."""
    a = {k: tuple(v.shape) for k, v in mine.state_dict().items()}
    b = {k: tuple(v.shape) for k, v in reference.state_dict().items()}
    if a == b:
        return None
    return Outcome(False, "parameter names and shapes match the reference", shape_differences(a, b))


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


# ------------------------------------------------------------------------------------------ after a check
#: the last check run on each object, by ``id``: (the object, the check, its report); holding the object keeps
#: its ``id`` from being reused by another
_LAST_RUN: dict[int, tuple[Any, Check, CheckReport]] = {}


def last_report(obj: Any) -> CheckReport | None:
    """The report of the last check run on ``obj`` (``None`` when no check has seen this very object)."""
    entry = _LAST_RUN.get(id(obj))
    return entry[2] if entry is not None and entry[0] is obj else None


def usable(obj: Any) -> Any:
    """What a cell that builds on an exercise should take: ``obj`` when the last check run on it passed, else
    its check's reference (dicmini's), announced by a ✗ line — so that a wrong implementation, already reported
    by its check, does not break the rest of the notebook. ``MyResBlock = checks.usable(MyResBlock)``.

    Unfinished code (``NotImplementedError``) gives the reference without a line (its check said so); an object
    no check has run on (the reference itself, for one) comes back unchanged.
    """
    entry = _LAST_RUN.get(id(obj))
    if entry is None or entry[0] is not obj:
        return obj
    _, check, report = entry
    if report.passed:
        return obj
    if report.implemented:
        print(Line(False, f"{qualname(obj)} did not pass its check ({len(report.failed)} of {len(report.lines)} "
                          f"tests failed): the rest of this notebook uses {check.reference_name} in its place",
                   "fix it, then re-run its cell, its check and the cells after").render())
    return check.reference


def expect(condition: object, text: str, hint: str = "") -> bool:
    """Print ``✓ text`` when ``condition`` holds, else ``✗ text`` and the hint; return whether it holds.
    A lesson's cells use it where an ``assert`` would stop the notebook on a wrong implementation."""
    ok = bool(condition)
    print(Line(ok, text, hint).render())
    return ok


def _clip(line: str, limit: int = 160) -> str:
    return line if len(line) <= limit else line[:limit - 3] + "..."


def _explain(err: Exception) -> str:
    """A hint for an exception raised in a :func:`confirm` block: a failed ``assert`` of the notebook by its
    message (or its line), anything else by its first message lines and where it was raised."""
    message = [_clip(line.strip()) for line in str(err).strip().splitlines() if line.strip()]
    # after the first line, the ones that say how much differs (assert_close, np.testing), else the next ones
    message[1:] = [line for line in message[1:] if re.search("mismatch|difference", line, re.I)] or message[1:]
    frames = list(traceback.walk_tb(err.__traceback__))
    if isinstance(err, AssertionError) and frames:
        frame, number = frames[-1]
        code = linecache.getline(frame.f_code.co_filename, number, frame.f_globals).strip()
        if re.match(r"assert\b", code):        # a bare assert: its message, or the line, says what failed
            return message[0] if message else f"`{_clip(code)}` does not hold"
    head = f"{type(err).__name__}: {message[0]}" if message else type(err).__name__
    where = _locate(err)
    return "\n".join([head, *message[1:3], *([where] if where else [])])


@contextlib.contextmanager
def confirm(text: str) -> Iterator[None]:
    """``with checks.confirm("identical to dicmini.models.ResBlock"):`` runs the block and prints ``✓ text``
    when it completes, ``✗ text`` with what went wrong when it raises (an ``Exception``, which does not
    propagate: the cell and the notebook go on after the block)."""
    try:
        yield
    except Exception as err:  # noqa: BLE001 - a wrong implementation is a ✗ line, not a crash
        print(Line(False, text, _explain(err)).render())
    else:
        print(Line(True, text).render())
