"""Shared property tests for ``nn.Module`` exercises: parameter counts, weight exchange with the
dicmini reference, numerical agreement, gradient flow (course_conventions §4.2 step 6, §4.5.3).

When a student's module disagrees with the reference, the hints look for the root cause rather than
restating the symptom: a parameter count that differs is broken down by parameter name
(:func:`parameter_count`, with the reference's count written out term by term, :func:`parameter_formula`),
and an output that differs is traced back to the first sub-module whose input or output differs
(:func:`first_divergence`, forward hooks on the student's module and on the reference with the same weights).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ._core import Outcome, assert_state_dicts_match, shape_differences

__all__ = ["count", "flatten", "max_difference", "load_reference_weights", "agreement", "parameter_count",
           "parameter_formula", "gradients_reach_every_parameter", "Divergence", "first_divergence",
           "activation_hint"]

ATOL = 1e-5
RTOL = 1e-4


def count(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def flatten(out) -> list[torch.Tensor]:
    """Tensors of a module output (a tensor, or nested tuples/lists/NamedTuples of tensors), in order."""
    if isinstance(out, torch.Tensor):
        return [out]
    if isinstance(out, (tuple, list)):
        return [t for item in out for t in flatten(item)]
    raise TypeError(f"expected tensors, got {type(out).__name__}")


def max_difference(a, b) -> float:
    """Largest |a - b| over matching tensors, ``inf`` if their structure or shapes differ."""
    fa, fb = flatten(a), flatten(b)
    if len(fa) != len(fb) or any(x.shape != y.shape for x, y in zip(fa, fb)):
        return math.inf
    return max((float((x.detach() - y.detach()).abs().max()) for x, y in zip(fa, fb)), default=0.0)


def close(a, b) -> bool:
    fa, fb = flatten(a), flatten(b)
    return (len(fa) == len(fb) and all(x.shape == y.shape for x, y in zip(fa, fb))
            and all(torch.allclose(x.detach(), y.detach(), atol=ATOL, rtol=RTOL) for x, y in zip(fa, fb)))


def load_reference_weights(mine: nn.Module, reference: nn.Module) -> Outcome | None:
    """Copy the reference's weights into ``mine``; ``None`` on success, else the failing Outcome."""
    mismatch = assert_state_dicts_match(mine, reference)
    if mismatch is not None:
        return mismatch
    mine.load_state_dict(reference.state_dict())
    return None


def _term(module: nn.Module) -> str:
    """The parameter count of one module's own parameters, written out: ``5 groups × (48·48·3·3 + 48)``."""
    if isinstance(module, nn.modules.conv._ConvNd):
        g = module.groups
        w = module.weight.shape                       # Conv: [out, in/g, k...]; ConvTranspose: [in, out/g, k...]
        dims = [w[0] // g, *w[1:]]
        term = "·".join(str(d) for d in dims)
        if module.bias is not None:
            term += f" + {module.out_channels // g}"
        return f"{g} groups × ({term})" if g > 1 else term
    return " + ".join("·".join(str(d) for d in p.shape) or "1" for p in module.parameters(recurse=False))


def _label(names: list[str], kind: str) -> str:
    if len(names) <= 3:
        return ", ".join(names)
    split = [n.split(".") for n in names]
    if len({len(parts) for parts in split}) == 1:
        return ".".join(parts[0] if len(set(parts)) == 1 else "*" for parts in zip(*split))
    return f"{names[0]}, … {len(names)} {kind}s"


def parameter_formula(module: nn.Module) -> str:
    """The parameter count of ``module`` as a sum of terms, one per kind of layer, derived from the module itself:
    ``2 × 5 groups × (48·48·3·3 + 48) [res.0, res.2] = 207,840`` (a convolution's term is its weight — per group,
    ``out/groups · in/groups · k · k`` — plus its bias)."""
    groups: dict[tuple[str, str], list[str]] = {}
    for name, sub in module.named_modules():
        if any(True for _ in sub.parameters(recurse=False)):
            groups.setdefault((type(sub).__name__, _term(sub)), []).append(name or "(itself)")
    if len(groups) > 10:   # too many kinds of layers for one line: the sub-modules' totals
        return " + ".join(f"{count(sub):,} [{name}]" for name, sub in module.named_children()
                          if count(sub)) + f" = {count(module):,}"
    parts = []
    for (kind, term), names in groups.items():
        if " + " in term and "groups" not in term and (len(names) > 1 or len(groups) > 1):
            term = f"({term})"
        if len(names) > 1:
            term = f"{len(names)} × {term}"
        parts.append(f"{term} [{_label(names, kind)}]")
    return " + ".join(parts) + f" = {count(module):,}"


def parameter_count(make_mine: Callable[[], nn.Module], make_ref: Callable[[], nn.Module], what: str,
                    hint: str = "") -> Outcome:
    """The student's module has the reference's parameters: the same count, names and shapes. The hint gives
    the difference by parameter name, then the reference's count written out term by term."""
    mine, ref = make_mine(), make_ref()
    n_mine, n_ref = count(mine), count(ref)
    a = {k: tuple(p.shape) for k, p in mine.named_parameters()}
    b = {k: tuple(p.shape) for k, p in ref.named_parameters()}
    ok = n_mine == n_ref and a == b
    if n_mine == n_ref:
        head = f"the count is right ({n_mine:,}) but the parameters differ"
    else:
        head = f"got {n_mine:,} ({n_mine - n_ref:+,})"
    diff = shape_differences(a, b)
    body = f"{head}: {diff}" if diff else head
    detail = f"expected {parameter_formula(ref)}" + (f"; {hint}" if hint else "")
    return Outcome(ok, f"{what}: {n_ref:,} parameters", f"{body}\n{detail}")


def agreement(cases: Sequence[tuple[str, Callable[[], nn.Module], Callable[[], nn.Module], tuple]],
              reference_name: str, hint: str = "",
              diagnose: Callable[[nn.Module, nn.Module, tuple], str | None] | None = None) -> Outcome:
    """For each case (label, make_mine, make_ref, inputs): copy weights, run both, compare.

    When the outputs differ, ``diagnose(mine, ref, inputs)`` (both with the same weights, in eval mode) may name
    the root cause; its answer replaces ``hint``."""
    labels = "; ".join(label for label, *_ in cases)
    text = f"identical to {reference_name} after copying its weights ({labels})"
    for label, make_mine, make_ref, inputs in cases:
        torch.manual_seed(0)
        ref = make_ref()
        mine = make_mine()
        mismatch = load_reference_weights(mine, ref)
        if mismatch is not None:
            return Outcome(False, text, f"{label}: {mismatch.hint}")
        mine.eval()
        ref.eval()
        with torch.no_grad():
            a, b = mine(*inputs), ref(*inputs)
        if not close(a, b):
            cause = None
            if diagnose is not None:
                try:
                    cause = diagnose(mine, ref, inputs)
                except Exception:  # noqa: BLE001 - a diagnosis that cannot follow the student's code: the plain hint
                    cause = None
            cause = cause or hint
            return Outcome(False, text, f"{label}: outputs differ by up to {max_difference(a, b):.3g}"
                           + (f"; {cause}" if cause else ""))
    return Outcome(True, text)


# ------------------------------------------------------------------------------------------ sub-results
def _clone(x: Any) -> Any:
    if isinstance(x, torch.Tensor):
        return x.detach().clone()
    if isinstance(x, (tuple, list)):
        return type(x)(_clone(v) for v in x) if not hasattr(x, "_fields") else type(x)(*(_clone(v) for v in x))
    return x


def record(model: nn.Module, names: Sequence[str], inputs: tuple) -> tuple[Any, dict[str, tuple[tuple, Any]]]:
    """Run ``model(*inputs)`` without gradients, with forward hooks on the sub-modules ``names``: the output, and
    for every named sub-module that was called, the (cloned) positional inputs and output of its *first* call.
    Names the model does not have are left out."""
    seen: dict[str, tuple[tuple, Any]] = {}
    handles = []

    def hook(name: str):
        def fn(module, args, kwargs, output):
            if name not in seen:     # clone: in-place activations (LeakyReLU(inplace=True)) change tensors later
                seen[name] = (_clone((*args, *kwargs.values())), _clone(output))
        return fn

    for name in names:
        try:
            sub = model.get_submodule(name)
        except AttributeError:
            continue
        handles.append(sub.register_forward_hook(hook(name), with_kwargs=True))
    try:
        with torch.no_grad():
            out = model(*inputs)
    finally:
        for h in handles:
            h.remove()
    return out, seen


@dataclass
class Divergence:
    """Where the student's module first departs from the reference (see :func:`first_divergence`).

    ``probe`` is ``(name, "in" | "out")`` of the first differing sub-result, ``None`` when every probed
    sub-result agrees and only the final output differs; ``got`` is ``None`` when the student's module never
    called that sub-module. ``mine``/``ref`` hold every recorded sub-result, ``out_mine``/``out_ref`` the outputs."""

    probe: tuple[str, str] | None
    got: Any
    expected: Any
    mine: dict[str, tuple[tuple, Any]] = field(default_factory=dict)
    ref: dict[str, tuple[tuple, Any]] = field(default_factory=dict)
    out_mine: Any = None
    out_ref: Any = None

    def sub(self, which: str, name: str, where: str = "out") -> Any:
        """A recorded sub-result of ``which`` (``"mine"`` or ``"ref"``): the first input or the output."""
        table = self.mine if which == "mine" else self.ref
        if name not in table:
            return None
        args, out = table[name]
        return (args[0] if args else None) if where == "in" else out


def first_divergence(mine: nn.Module, ref: nn.Module, inputs: tuple,
                     probes: Sequence[tuple[str, str]]) -> Divergence | None:
    """Run both modules (same weights) with hooks on ``probes`` — ``(sub-module name, "in" | "out")``, in the
    order the reference computes them — and return the first probe whose tensor differs, ``None`` when the outputs
    agree."""
    names = list(dict.fromkeys(name for name, _ in probes))
    out_mine, mine_seen = record(mine, names, inputs)
    out_ref, ref_seen = record(ref, names, inputs)
    div = Divergence(None, out_mine, out_ref, mine_seen, ref_seen, out_mine, out_ref)
    for name, where in probes:
        expected = div.sub("ref", name, where)
        if expected is None:
            continue
        got = div.sub("mine", name, where)
        if not matches(got, expected):
            div.probe, div.got, div.expected = (name, where), got, expected
            return div
    return None if matches(out_mine, out_ref) else div


def matches(a: Any, b: Any) -> bool:
    """Same structure, shapes and values (the agreement tolerance); ``False`` for ``None``."""
    if a is None or b is None:
        return False
    try:
        return close(a, b)
    except TypeError:
        return False


def activation_hint(got: torch.Tensor, pre: torch.Tensor, slope: float = 0.2) -> str:
    """Name the activation that turns the reference's pre-activation ``pre`` into ``got``, when it is a usual
    mistake for a ``LeakyReLU(slope)``; ``""`` when none fits."""
    if matches(got, pre):
        return (f"it equals the convolution's output without an activation: is its activation (LeakyReLU {slope}) "
                "missing?")
    if matches(got, torch.relu(pre)):
        return f"it equals ReLU(conv): use LeakyReLU({slope}), not ReLU"
    if matches(got, F.leaky_relu(pre, 0.01)):
        return f"it equals LeakyReLU(conv) with the default slope 0.01: use LeakyReLU({slope})"
    if matches(got, F.prelu(pre, torch.tensor([0.25]))):
        return f"it equals PReLU(conv) (slope 0.25): use LeakyReLU({slope})"
    return ""


def gradients_reach_every_parameter(module: nn.Module, loss: torch.Tensor, what: str = "",
                                    also: torch.Tensor | None = None, also_hint: str = "") -> Outcome:
    """Every weight tensor (``dim > 1``: convolution kernels) gets a non-zero gradient from ``loss``.
    (PReLU slopes and biases are left out: a slope legitimately gets no gradient when its input is positive.)
    If ``also`` is given (an input created with ``requires_grad``), it must get a gradient too; ``also_hint``
    is the hint printed when it does not."""
    loss.backward()
    dead = [name for name, p in module.named_parameters()
            if p.dim() > 1 and (p.grad is None or not bool(p.grad.abs().sum() > 0))]
    text = f"gradients reach every weight{what}"
    if dead:
        return Outcome(False, text, f"no gradient for {dead[:3]}{' ...' if len(dead) > 3 else ''}: is that module "
                                    "used in forward, and is nothing detached?")
    if also is not None and (also.grad is None or not bool(also.grad.abs().sum() > 0)):
        return Outcome(False, text, also_hint)
    return Outcome(True, text)
