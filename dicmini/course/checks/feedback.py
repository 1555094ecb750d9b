"""Checks for notebook 02: the projection units and the SRFBN feedback block (paper §3.1, Fig. 2;
docs/reference_implementations.md, Feedback blocks).

When the feedback block disagrees with the reference, the agreement hint follows the block's computation
with forward hooks on the student's sub-modules and on the reference's (same weights): the input of
``compress_in`` (the order of ``[x, hidden]``), each transition's and projection's input (dense
connections, LR/HR transitions), the input of ``compress_out`` (``L_0`` excluded), and finally the block
output against ``compress_out``'s (an added residual)."""

from __future__ import annotations

import torch
from torch import nn

from ...models import FeedbackBlock, down_projection, up_projection
from ._core import Check, CheckPair, Outcome, Property
from ._modules import Divergence, agreement, first_divergence, gradients_reach_every_parameter, matches, \
    parameter_count

__all__ = ["check_projections", "check_up_projection", "check_down_projection", "check_feedback_block"]


# ------------------------------------------------------------------------------------------ projections
def _proj_shapes(fn, up: bool) -> Outcome:
    bad = []
    for s in (2, 3, 4, 8):
        for n in (5, 8):
            unit = fn(2, s)
            x = torch.zeros(1, 2, n, n) if up else torch.zeros(1, 2, n * s, n * s)
            got = tuple(unit(x).shape[-2:])
            want = (n * s, n * s) if up else (n, n)
            if got != want:
                bad.append(f"s={s}, {tuple(x.shape[-2:])} -> {got} (expected {want})")
    text = ("[B, C, n, n] -> [B, C, n*s, n*s] for s = 2, 3, 4, 8" if up else
            "[B, C, n*s, n*s] -> [B, C, n, n] for s = 2, 3, 4, 8")
    return Outcome(not bad, text, (bad[0] if bad else "") + ": kernel s + 4, stride s, padding 2")


def _proj_prelu(fn) -> Outcome:
    unit = fn(3, 4)
    prelus = [m for m in unit.modules() if isinstance(m, nn.PReLU)]
    ok = len(prelus) == 1 and prelus[0].weight.numel() == 1 and abs(float(prelus[0].weight.detach()) - 0.2) < 1e-7
    return Outcome(ok, "one PReLU with a single slope initialised at 0.2",
                   f"found {len(prelus)} PReLU module(s); use nn.PReLU(init=0.2) after the convolution")


def _projection_check(up: bool) -> Check:
    ref = up_projection if up else down_projection
    name = ref.__name__
    return Check(
        name.replace("_", "-"),
        [Property("shapes", lambda fn: _proj_shapes(fn, up)),
         Property("PReLU", _proj_prelu),
         Property("parameters", lambda fn: parameter_count(lambda: fn(48, 8), lambda: ref(48, 8),
                                                           f"{name}(48, 8)", "kernel s + 4 = 12, with a bias")),
         Property("agreement", lambda fn: agreement(
             [("C=3, s=8", lambda: fn(3, 8), lambda: ref(3, 8),
               (torch.randn(2, 3, 6, 6) if up else torch.randn(2, 3, 48, 48),)),
              ("C=4, s=3", lambda: fn(4, 3), lambda: ref(4, 3),
               (torch.randn(1, 4, 7, 7) if up else torch.randn(1, 4, 21, 21),))],
             f"dicmini.models.{name}",
             "a transposed convolution for up, a strided convolution for down, then the PReLU"),
             requires=("parameters",))],
        ref, f"dicmini.models.{name}",
        doc=f"Check ``my_{name}(channels, s)`` (notebook 02).")


check_up_projection = _projection_check(up=True)
check_down_projection = _projection_check(up=False)
#: ``my_up_projection, my_down_projection = check_projections(my_up_projection, my_down_projection)``
check_projections = CheckPair(check_up_projection, check_down_projection)


# ------------------------------------------------------------------------------------------ feedback block
def _inputs(c: int = 8, n: int = 8, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(2, c, n, n, generator=g), torch.randn(2, c, n, n, generator=g)


def _fb_shape(cls) -> Outcome:
    got = [tuple(cls(c, g, s)(*_inputs(c, n)).shape) for c, g, s, n in [(8, 3, 8, 8), (4, 2, 2, 6)]]
    want = [(2, 8, 8, 8), (2, 4, 6, 6)]
    return Outcome(got == want, "output (= new hidden state) has the shape of the input",
                   f"got {got}, expected {want}: compress_out maps the G down-projected features back to C channels")


def _fb_hidden(cls) -> Outcome:
    torch.manual_seed(0)
    block = cls(8, 3, 8).eval()
    x, h = _inputs()
    with torch.no_grad():
        a, b = block(x, h), block(x, torch.zeros_like(h))
    ok = bool((a - b).abs().max() > 1e-6)
    return Outcome(ok, "the hidden state changes the output",
                   "the output does not depend on `hidden`: concatenate [x, hidden] before compress_in")


def _fb_grad(cls) -> Outcome:
    torch.manual_seed(0)
    block = cls(4, 3, 2)
    x, h = (t.requires_grad_() for t in _inputs(4, 6))
    return gradients_reach_every_parameter(block, block(x, h).square().mean(), " and the hidden state",
                                           h, "no gradient reaches the incoming hidden state")


def _fb_probes(num_blocks: int) -> list[tuple[str, str]]:
    """Sub-results of the feedback block in the order the reference computes them."""
    probes = [("compress_in.0", "in")]
    for g in range(num_blocks):
        if g > 0:
            probes.append((f"lr_blocks.{g - 1}.0", "in"))
        probes.append((f"up_blocks.{g}.0", "in"))
        if g > 0:
            probes.append((f"hr_blocks.{g - 1}.0", "in"))
        probes.append((f"down_blocks.{g}.0", "in"))
    return probes + [("compress_out.0", "in"), ("compress_out.1", "out")]


def _grid(div: Divergence) -> str:
    """Which grid the student's tensor lives on, when it is on the other one."""
    got, want = div.got, div.expected
    if not isinstance(got, torch.Tensor) or got.dim() != 4 or got.shape[-2:] == want.shape[-2:]:
        return ""
    return "the HR grid" if got.shape[-1] > want.shape[-1] else "the LR grid"


def _fb_diagnose(mine: nn.Module, ref: FeedbackBlock, inputs: tuple) -> str | None:
    x, hidden = inputs
    div = first_divergence(mine, ref, inputs, _fb_probes(ref.num_blocks))
    if div is None:
        return None
    if div.probe is None:
        out, compressed = div.out_mine, div.sub("mine", "compress_out.1")
        extra = out - compressed if matches(compressed, div.sub("ref", "compress_out.1")) else None
        l0 = div.sub("mine", "up_blocks.0.0", "in")
        for name, t in (("x", x), ("hidden", hidden), ("L_0 = compress_in(...)", l0)):
            if extra is not None and matches(extra, t):
                return (f"compress_out's output agrees with the reference, but the block returns it + {name}: the "
                        "feedback block has no residual connection — return compress_out(...) as it is")
        if extra is not None:
            return ("compress_out's output agrees with the reference, but the block returns something else: return "
                    "compress_out(torch.cat([L_1, ..., L_G], dim=1)) as it is")
        return f"the output differs ({tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__})"
    name, _ = div.probe
    if div.got is None:
        return f"{name.rsplit('.', 1)[0]} is never called in forward"
    if name == "compress_in.0":
        if matches(div.got, torch.cat([hidden, x], dim=1)):
            return ("compress_in gets torch.cat([hidden, x]): the order is [x, hidden] — compress_in's first C input "
                    "channels are the weights for x, the last C those for the hidden state")
        if matches(div.got, torch.cat([x, x], dim=1)):
            return "compress_in gets [x, x]: the hidden state is ignored; concatenate torch.cat([x, hidden], dim=1)"
        return "the input of compress_in differs: it is torch.cat([x, hidden], dim=1)"
    kind, idx = name.split(".")[:2]
    i = int(idx)
    grid = _grid(div)
    if kind in ("lr_blocks", "hr_blocks") and grid:
        return (f"{kind}[{i}] gets features on {grid}: lr_blocks are the LR-grid transitions T^L (before each "
                "up-projection), hr_blocks the HR-grid transitions T^H (before each down-projection) — are they "
                "swapped?")
    if kind == "lr_blocks":       # T^L of group i + 2 (groups counted from 1, as in the lesson)
        return (f"the input of lr_blocks[{i}] (T^L_{i + 2}) differs: it is torch.cat([L_0, ..., L_{i + 1}]) — the "
                "compressed input and every down-projection so far, in that order")
    if kind == "hr_blocks":
        return (f"the input of hr_blocks[{i}] (T^H_{i + 2}) differs: it is torch.cat([H_1, ..., H_{i + 2}]) — every "
                "up-projection so far, in that order")
    if kind == "up_blocks":
        return (f"the input of up_blocks[{i}] differs: it is "
                + ("L_0 = compress_in(...)" if i == 0 else f"the output of lr_blocks[{i - 1}] (T^L_{i + 1})"))
    if kind == "down_blocks":
        return (f"the input of down_blocks[{i}] differs: it is "
                + ("H_1, the output of up_blocks[0]" if i == 0 else f"the output of hr_blocks[{i - 1}] (T^H_{i + 1})"))
    if kind == "compress_out" and name == "compress_out.0":
        got_c, want_c = div.got.shape[1], div.expected.shape[1]
        if got_c == want_c + ref.mid_channels:
            return "compress_out gets G + 1 features: L_0 is excluded, torch.cat([L_1, ..., L_G], dim=1)"
        return "the input of compress_out differs: it is torch.cat([L_1, ..., L_G], dim=1) (L_0 excluded)"
    return f"{name} differs"


check_feedback_block = Check(
    "feedback block",
    [Property("shape", _fb_shape),
     Property("parameters", lambda cls: parameter_count(lambda: cls(48, 6, 8), lambda: FeedbackBlock(48, 6, 8),
                                                        "FeedbackBlock(48, 6, 8)")),
     Property("hidden state", _fb_hidden),
     Property("gradients", _fb_grad),
     Property("agreement", lambda cls: agreement(
         [("C=8, G=3, s=8", lambda: cls(8, 3, 8), lambda: FeedbackBlock(8, 3, 8), _inputs()),
          ("C=4, G=4, s=2", lambda: cls(4, 4, 2), lambda: FeedbackBlock(4, 4, 2), _inputs(4, 6, 1))],
         "dicmini.models.FeedbackBlock",
         "T^L_g sees [L_0..L_{g-1}], T^H_g sees [H_1..H_g], compress_out sees [L_1..L_G] (L_0 excluded)",
         diagnose=_fb_diagnose), requires=("parameters",))],
    FeedbackBlock, "dicmini.models.FeedbackBlock",
    doc="Check ``MyFeedbackBlock(mid_channels, num_blocks, upscale_factor)`` (notebook 02).")
