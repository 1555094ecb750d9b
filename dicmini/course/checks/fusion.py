"""Checks for notebook 04: grouped residual blocks and the attentive fusion module (paper §3, Fig. 3;
docs/reference_implementations.md, Attentive fusion).

The weighting tests (one-hot, uniform) compare the student's output with the student's *own* grouped
features (the output of its last grouped block, recorded with a forward hook), so that they test the
weighted sum alone; a difference in how the groups are computed shows in the agreement test, whose hint
names the first stage (the 1×1 expansion and its activation, a grouped block, the weighted sum) that
differs from the reference's with the same weights."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ...models import AttentiveFusion, GroupResBlock
from ._core import Check, Outcome, Property
from ._modules import activation_hint, agreement, first_divergence, gradients_reach_every_parameter, matches, \
    max_difference, parameter_count, record

__all__ = ["check_group_res_block", "check_attentive_fusion"]


def _randn(*shape: int, seed: int = 0) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed))


# ------------------------------------------------------------------------------------------ GroupResBlock
def _gr_shape(cls) -> Outcome:
    got = tuple(cls(40, 5)(_randn(2, 40, 8, 8)).shape)
    return Outcome(got == (2, 40, 8, 8), "keeps the shape [B, 5C, h, w]", f"got {got}")


def _gr_isolated(cls) -> Outcome:
    torch.manual_seed(0)
    block = cls(40, 5).eval()
    x = _randn(2, 40, 8, 8)
    moved = x.clone()
    moved[:, 8:16] += _randn(2, 8, 8, 8, seed=1)      # disturb group 1 only
    with torch.no_grad():
        change = (block(moved) - block(x)).abs().amax(dim=(0, 2, 3)).view(5, 8).amax(1)
    changed = [g for g in range(5) if change[g] > 0]
    return Outcome(changed == [1], "the 5 groups never mix (changing group 1 changes only group 1)",
                   f"groups {changed} changed: both 3x3 convolutions need groups=groups")


def _gr_residual(cls) -> Outcome:
    block = cls(10, 5)
    with torch.no_grad():
        for p in block.parameters():
            p.zero_()
        x = _randn(1, 10, 4, 4)
        out = block(x)
    ok = max_difference(out, x) < 1e-7
    return Outcome(ok, "residual: with all weights zero the block is the identity",
                   "return x + res(x), with no activation after the sum")


def _gr_diagnose(mine: nn.Module, ref: nn.Module, inputs: tuple) -> str | None:
    """The first stage of x + conv(LeakyReLU(conv(x))) where the student's block departs from the reference."""
    (x,) = inputs
    div = first_divergence(mine, ref, inputs, [("res.0", "in"), ("res.2", "in"), ("res.2", "out")])
    if div is None:
        return None
    if div.probe is not None and div.got is None:
        return f"{div.probe[0]} is never called: forward must run self.res (conv, LeakyReLU(0.2), conv)"
    if div.probe == ("res.0", "in"):
        return "the first conv does not get the block's input x"
    if div.probe == ("res.2", "in"):
        guess = activation_hint(div.got, ref.res[0](x))
        return ("the input of the second conv (the first conv's output after its activation) differs"
                + (f": {guess}" if guess else ": it must be LeakyReLU(0.2)(first conv(x))"))
    if div.probe == ("res.2", "out"):
        return "the second conv's output differs although its input agrees"
    res = div.sub("mine", "res.2")
    if matches(div.out_mine, res):
        return "the output is res(x) alone: add the input, x + res(x)"
    if any(matches(div.out_mine, act(x + res)) for act in (lambda t: F.leaky_relu(t, 0.2), torch.relu)):
        return "the sum x + res(x) goes through an activation: return it as it is"
    return "the two convs agree with the reference, but the output does not: return x + res(x)"


check_group_res_block = Check(
    "GroupResBlock",
    [Property("shape", _gr_shape),
     Property("parameters", lambda cls: parameter_count(lambda: cls(240, 5), lambda: GroupResBlock(240, 5),
                                                        "GroupResBlock(240, groups=5)")),
     Property("groups", _gr_isolated), Property("residual", _gr_residual),
     Property("agreement", lambda cls: agreement(
         [("40 channels, 5 groups", lambda: cls(40, 5), lambda: GroupResBlock(40, 5), (_randn(2, 40, 8, 8),))],
         "dicmini.models.GroupResBlock", "conv, LeakyReLU(0.2), conv — then add the input", diagnose=_gr_diagnose),
         requires=("parameters",))],
    GroupResBlock, "dicmini.models.GroupResBlock",
    doc="Check ``MyGroupResBlock(channels, groups)`` (notebook 04).")


# ------------------------------------------------------------------------------------------ AttentiveFusion
def _own_groups(fusion: nn.Module, feature: torch.Tensor, attention: torch.Tensor):
    """The student's output and its own grouped features [B, 5, C, h, w] (the output of its last grouped block,
    recorded while its forward runs), or a failing Outcome when there is no ``body``."""
    try:
        blocks = list(fusion.get_submodule("body").children())
    except AttributeError:
        blocks = []
    if not blocks:
        return Outcome(False, "the grouped blocks are self.body", "keep the grouped residual blocks in self.body, an "
                       "nn.Sequential of MyGroupResBlock (the parameter names body.0.res.0.weight, ...)")
    last = f"body.{len(blocks) - 1}"
    out, seen = record(fusion, [last], (feature, attention))
    if last not in seen:
        return Outcome(False, "the grouped blocks run in forward", f"{last} was never called: run self.body on the "
                       "expanded feature")
    b, _, h, w = feature.shape
    k = attention.size(1)
    return out, seen[last][1].reshape(b, k, -1, h, w)


def _fusion(cls, c: int = 8, blocks: int = 2):
    torch.manual_seed(0)
    return cls(c, 5, blocks).eval()


def _af_shape(cls) -> Outcome:
    got = tuple(cls(8, 5, 1)(_randn(2, 8, 8, 8), _randn(2, 5, 8, 8, seed=1)).shape)
    return Outcome(got == (2, 8, 8, 8), "feature [B, C, h, w] + maps [B, 5, h, w] -> [B, C, h, w]",
                   f"got {got}: sum the 5 weighted groups of C channels")


def _af_one_hot(cls) -> Outcome:
    fusion = _fusion(cls)
    feature = _randn(2, 8, 8, 8)
    wrong = []
    for c in range(5):
        one_hot = torch.zeros(2, 5, 8, 8)
        one_hot[:, c] = 100.0
        got = _own_groups(fusion, feature, one_hot)
        if isinstance(got, Outcome):
            return got
        out, groups = got
        if max_difference(out, groups[:, c]) > 1e-4:
            wrong.append(c)
    return Outcome(not wrong, "a one-hot attention on map c returns exactly group c's features",
                   f"wrong for maps {wrong} (compared with your own grouped features, the output of your last "
                   "grouped block): group c is channels [c*C, (c+1)*C) — view as [B, 5, C, h, w], "
                   "not [B, C, 5, h, w] — and the weights are softmax(attention, dim=1)")


def _af_softmax(cls) -> Outcome:
    fusion = _fusion(cls)
    feature, maps = _randn(2, 8, 8, 8), _randn(2, 5, 8, 8, seed=1) * 2
    offset = _randn(2, 1, 8, 8, seed=2) * 3          # the same per-pixel offset on all 5 maps
    with torch.no_grad():
        a, b = fusion(feature, maps), fusion(feature, maps + offset)
    ok = max_difference(a, b) < 1e-4
    return Outcome(ok, "weights = softmax over the 5 maps at each pixel (adding the same value to all 5 maps "
                   "changes nothing)", "normalise the attention with torch.softmax(attention, dim=1) — over the "
                   "5 maps, not over space, and not raw or sigmoid maps")


def _af_uniform(cls) -> Outcome:
    fusion = _fusion(cls)
    feature = _randn(2, 8, 8, 8)
    got = _own_groups(fusion, feature, torch.zeros(2, 5, 8, 8))
    if isinstance(got, Outcome):
        return got
    out, groups = got
    ok = max_difference(out, groups.mean(dim=1)) < 1e-4
    return Outcome(ok, "equal maps give the mean of the 5 groups (weights 0.2)",
                   "with all maps equal each group must get weight 1/5, and the groups are summed, not concatenated")


def _af_diagnose(mine: nn.Module, ref: nn.Module, inputs: tuple) -> str | None:
    """The first stage of the fusion (expansion + activation, each grouped block, weighted sum) that differs."""
    feature, _ = inputs
    blocks = len(ref.body)
    probes = [("body.0", "in")] + [(f"body.{i}", "out") for i in range(blocks)]
    div = first_divergence(mine, ref, inputs, probes)
    if div is None:
        return None
    if div.probe is not None and div.got is None:
        return f"{div.probe[0]} is never called: run the grouped blocks self.body on the expanded feature"
    if div.probe == ("body.0", "in"):
        guess = activation_hint(div.got, ref.conv_first[0](feature))
        return ("the output of the first conv block (conv_first: 1x1 conv C -> 5C, then LeakyReLU(0.2); the input "
                "of body[0]) differs" + (f": {guess}" if guess else ""))
    if div.probe is not None:
        i = div.probe[0].split(".")[1]
        return (f"the output of grouped block body[{i}] differs although its input agrees: check MyGroupResBlock "
                "(conv, LeakyReLU(0.2), conv, plus the input)")
    return ("the grouped features (body's output) agree with the reference, but the weighted sum does not: "
            "softmax(attention, dim=1), groups viewed as [B, 5, C, h, w], summed over the 5 groups")


def _af_grad(cls) -> Outcome:
    torch.manual_seed(0)
    fusion = cls(4, 5, 1)
    maps = _randn(1, 5, 6, 6).requires_grad_()
    return gradients_reach_every_parameter(fusion, fusion(_randn(1, 4, 6, 6, seed=1), maps).square().mean(),
                                           " and the attention maps", maps,
                                           "no gradient reaches the attention maps (do not detach them)")


check_attentive_fusion = Check(
    "AttentiveFusion",
    [Property("shape", _af_shape),
     Property("parameters", lambda cls: parameter_count(lambda: cls(48, 5, 7), lambda: AttentiveFusion(48, 5, 7),
                                                        "AttentiveFusion(48, 5, 7)",
                                                        "conv_first 1x1 C -> 5C, then num_blocks grouped blocks")),
     Property("one-hot", _af_one_hot, requires=("parameters",)), Property("softmax", _af_softmax),
     Property("uniform", _af_uniform, requires=("parameters",)),
     Property("gradients", _af_grad),
     Property("agreement", lambda cls: agreement(
         [("C=8, 2 blocks", lambda: cls(8, 5, 2), lambda: AttentiveFusion(8, 5, 2),
           (_randn(2, 8, 8, 8), _randn(2, 5, 8, 8, seed=1) * 3))],
         "dicmini.models.AttentiveFusion", diagnose=_af_diagnose), requires=("parameters",))],
    AttentiveFusion, "dicmini.models.AttentiveFusion",
    doc="Check ``MyAttentiveFusion(in_channels, num_heatmaps, num_blocks)`` (notebook 04).")
