"""Shared property tests for ``nn.Module`` exercises: parameter counts, weight exchange with the
dicmini reference, numerical agreement, gradient flow (course_conventions §4.2 step 6, §4.5.3)."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch
from torch import nn

from ._core import Outcome, assert_state_dicts_match

__all__ = ["count", "flatten", "max_difference", "load_reference_weights", "agreement", "parameter_count",
           "gradients_reach_every_parameter"]

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


def parameter_count(make_mine: Callable[[], nn.Module], make_ref: Callable[[], nn.Module], what: str,
                    hint: str = "") -> Outcome:
    n_mine, n_ref = count(make_mine()), count(make_ref())
    return Outcome(n_mine == n_ref, f"{what}: {n_ref:,} parameters",
                   f"got {n_mine:,} ({n_mine - n_ref:+,}){'; ' + hint if hint else ''}")


def agreement(cases: Sequence[tuple[str, Callable[[], nn.Module], Callable[[], nn.Module], tuple]],
              reference_name: str, hint: str = "") -> Outcome:
    """For each case (label, make_mine, make_ref, inputs): copy weights, run both, compare."""
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
            return Outcome(False, text, f"{label}: outputs differ by up to {max_difference(a, b):.3g}"
                           + (f"; {hint}" if hint else ""))
    return Outcome(True, text)


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
