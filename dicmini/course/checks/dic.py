"""Check for notebook 05: the DIC step loop (paper §3, Fig. 2;
docs/reference_implementations.md, Recurrence).

``MyDIC`` is built from dicmini's blocks with DICNet's attribute names; the student writes ``forward(lr)``
returning ``(sr_steps, heatmap_steps)``. The check copies a DICNet's weights into it and compares every
step, then uses forward hooks on its sub-modules to say *which* part of the recurrence differs.
"""

from __future__ import annotations

import functools

import torch

from ...data.landmarks import merge_to_components
from ...models import DICNet
from ._core import Check, Outcome, Property
from ._modules import load_reference_weights, max_difference

__all__ = ["check_dic", "SMALL_CONFIG"]

#: a DICNet small enough for a check (the code path is the same for every width)
SMALL_CONFIG = dict(mid_channels=8, num_blocks=2, hg_mid_channels=16, upscale_factor=2, num_fusion_blocks=1)


def _lr(seed: int = 0, batch: int = 2) -> torch.Tensor:
    return torch.randn(batch, 3, 16, 16, generator=torch.Generator().manual_seed(seed)) * 0.2


def _pair(cls, **extra):
    torch.manual_seed(0)
    ref = DICNet(**SMALL_CONFIG, **extra).eval()
    mine = cls(**SMALL_CONFIG, **extra).eval()
    mismatch = load_reference_weights(mine, ref)
    return (mismatch, ref) if mismatch is not None else (mine, ref)


def _steps(out) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    sr, heatmaps = out
    return list(sr), list(heatmaps)


def _dic_weights(cls) -> Outcome:
    mine, _ = _pair(cls)
    return mine if isinstance(mine, Outcome) else Outcome(True, "a DICNet's weights load (same names and shapes)")


def _dic_shapes(cls) -> Outcome:
    got = []
    for steps in (4, 2):
        mine, _ = _pair(cls, num_steps=steps)
        if isinstance(mine, Outcome):
            return mine
        with torch.no_grad():
            sr, heat = _steps(mine(_lr()))
        got.append((len(sr), len(heat), [tuple(t.shape) for t in sr[:1] + heat[:1]]))
    want = [(4, 4, [(2, 3, 128, 128), (2, 68, 32, 32)]), (2, 2, [(2, 3, 128, 128), (2, 68, 32, 32)])]
    return Outcome(got == want, "one SR image [B, 3, 8h, 8w] and one heatmap tensor [B, 68, 2h, 2w] per step "
                   "(num_steps = 4 and 2)", f"got (SR steps, heatmap steps, shapes) = {got}: loop over "
                   "self.num_steps and append both outputs at every step")


class _Recorder:
    """Forward hooks on MyDIC's sub-modules: what each call received and returned."""

    def __init__(self, model) -> None:
        self.calls: list[tuple[str, tuple, dict, object]] = []
        self.handles = []
        for name in ("coarse_block", "attention_block", "landmark_estimator"):
            module = getattr(model, name)
            self.handles.append(module.register_forward_hook(self._hook(name), with_kwargs=True))

    def _hook(self, name: str):
        def hook(module, args, kwargs, output):
            self.calls.append((name, args, kwargs, output))
        return hook

    def remove(self) -> None:
        for h in self.handles:
            h.remove()

    def of(self, name: str) -> list[tuple[tuple, dict, object]]:
        return [(a, k, o) for n, a, k, o in self.calls if n == name]


def _arg(args: tuple, kwargs: dict, index: int, name: str):
    return args[index] if len(args) > index else kwargs.get(name)


@functools.lru_cache(maxsize=1)
def _recorded(cls):
    mine, _ = _pair(cls)
    if isinstance(mine, Outcome):
        return mine
    rec = _Recorder(mine)
    try:
        with torch.no_grad():
            out = _steps(mine(_lr(1)))
    finally:
        rec.remove()
    return rec, out


def _dic_blocks(cls) -> Outcome:
    got = _recorded(cls)
    if isinstance(got, Outcome):
        return got
    rec, _ = got
    order = [name for name, *_ in rec.calls if name != "landmark_estimator"]
    hg = len(rec.of("landmark_estimator"))
    ok = order == ["coarse_block"] + ["attention_block"] * 3 and hg == 4
    return Outcome(ok, "step 1 runs the coarse block, steps 2-4 the attention block; the hourglass runs at "
                   "every step", f"calls: {order}, landmark_estimator x{hg}")


def _dic_attention(cls) -> Outcome:
    got = _recorded(cls)
    if isinstance(got, Outcome):
        return got
    rec, _ = got
    heatmaps = [o[0] for _, _, o in rec.of("landmark_estimator")]
    attention = [_arg(a, k, 1, "attention") for a, k, _ in rec.of("attention_block")]
    ok = len(attention) == 3 and all(
        isinstance(att, torch.Tensor) and max_difference(att, merge_to_components(heatmaps[t])) < 1e-6
        for t, att in enumerate(attention))
    return Outcome(ok, "the attention of step t+1 is merge_to_components(heatmaps of step t)",
                   "pass merge_to_components(the previous step's heatmaps) to the attention block")


def _dic_states(cls) -> Outcome:
    got = _recorded(cls)
    if isinstance(got, Outcome):
        return got
    rec, _ = got
    sr_out = [o for _, _, o in rec.of("coarse_block") + rec.of("attention_block")]
    sr_in = [_arg(a, k, 2, "hidden") for a, k, _ in rec.of("attention_block")]
    hg = rec.of("landmark_estimator")
    hg_in = [_arg(a, k, 1, "hidden") for a, k, _ in hg]
    hg_out = [o[1] for _, _, o in hg]
    problems = []
    if len(sr_in) != 3 or any(not isinstance(h, torch.Tensor) or max_difference(h, sr_out[t]) > 0
                              for t, h in enumerate(sr_in)):
        problems.append("the feedback block's hidden state must be the previous step's block output")
    if len(hg_in) != 4 or hg_in[0] is not None or any(
            not isinstance(h, torch.Tensor) or max_difference(h, hg_out[t]) > 0 for t, h in enumerate(hg_in[1:])):
        problems.append("the hourglass gets hidden=None at step 1, then the state it returned at the previous step")
    return Outcome(not problems, "both recurrent states (SR hidden state, hourglass state) are carried to the "
                   "next step", "; ".join(problems))


def _dic_agree(cls) -> Outcome:
    mine, ref = _pair(cls)
    if isinstance(mine, Outcome):
        return mine
    lr = _lr(2)
    with torch.no_grad():
        sr, heat = _steps(mine(lr))
        expected = ref(lr)
    for t in range(len(expected.sr)):
        d_sr = max_difference(sr[t], expected.sr[t]) if t < len(sr) else float("inf")
        d_hm = max_difference(heat[t], expected.heatmaps[t]) if t < len(heat) else float("inf")
        if d_sr > 1e-5 or d_hm > 1e-5:
            what = "SR image" if d_sr > 1e-5 else "heatmaps"
            hint = (f"step {t + 1}: the {what} differ (by up to {max(d_sr, d_hm):.3g}); "
                    + ("the SR image is skip + reconstruction(hidden), with skip the bilinear x8 upsampling of "
                       "the LR input (align_corners=False)" if t == 0 else "steps before it agree"))
            return Outcome(False, "identical to dicmini.models.DICNet at every step after copying its weights", hint)
    return Outcome(True, "identical to dicmini.models.DICNet at every step after copying its weights")


def _dic_stateless(cls) -> Outcome:
    mine, _ = _pair(cls)
    if isinstance(mine, Outcome):
        return mine
    with torch.no_grad():
        a = _steps(mine(_lr(3)))
        mine(_lr(4, batch=1))
        b = _steps(mine(_lr(3)))
    ok = max_difference(a, b) == 0
    return Outcome(ok, "stateless: the same input gives the same result after another call",
                   "keep hidden states in local variables of forward, not on self")


def _dic_gradient(cls) -> Outcome:
    torch.manual_seed(0)
    model = cls(**SMALL_CONFIG)
    sr, _ = _steps(model(_lr(5)))
    sr[1].abs().mean().backward()
    reached = any(p.grad is not None and bool(p.grad.abs().sum() > 0) for p in model.landmark_estimator.parameters())
    return Outcome(reached, "a loss on step 2's SR image trains the hourglass of step 1 (through the attention)",
                   "no gradient reaches the landmark estimator: do not detach the heatmaps or the attention")


check_dic = Check(
    "DIC",
    [Property("weights", _dic_weights)]
    + [Property(label, test, requires=("weights",))      # they all copy a DICNet's weights: one ✗ is enough
       for label, test in [("shapes", _dic_shapes), ("blocks", _dic_blocks), ("attention", _dic_attention),
                           ("recurrent states", _dic_states), ("agreement", _dic_agree),
                           ("stateless", _dic_stateless)]]
    + [Property("gradient", _dic_gradient)],
    DICNet, "dicmini.models.DICNet",
    doc="Check ``MyDIC`` (its ``forward(lr) -> (sr_steps, heatmap_steps)``; notebook 05).")
