"""Checks for notebook 04: grouped residual blocks and the attentive fusion module (paper §3, Fig. 3;
docs/reference_implementations.md, Attentive fusion)."""

from __future__ import annotations

import torch

from ...models import AttentiveFusion, GroupResBlock
from ._core import Check, Outcome, Property
from ._modules import agreement, gradients_reach_every_parameter, load_reference_weights, max_difference, \
    parameter_count

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


check_group_res_block = Check(
    "GroupResBlock",
    [Property("shape", _gr_shape),
     Property("parameters", lambda cls: parameter_count(lambda: cls(240, 5), lambda: GroupResBlock(240, 5),
                                                        "GroupResBlock(240, groups=5)",
                                                        "two 3x3 convs with groups=5 (weight [240, 48, 3, 3])")),
     Property("groups", _gr_isolated), Property("residual", _gr_residual),
     Property("agreement", lambda cls: agreement(
         [("40 channels, 5 groups", lambda: cls(40, 5), lambda: GroupResBlock(40, 5), (_randn(2, 40, 8, 8),))],
         "dicmini.models.GroupResBlock", "conv, LeakyReLU(0.2), conv — then add the input"))],
    GroupResBlock, "dicmini.models.GroupResBlock",
    doc="Check ``MyGroupResBlock(channels, groups)`` (notebook 04).")


# ------------------------------------------------------------------------------------------ AttentiveFusion
def _fusion_pair(cls, c: int = 8, blocks: int = 2):
    """The student's fusion with the reference's weights (or a failing Outcome), and that reference."""
    torch.manual_seed(0)
    ref = AttentiveFusion(c, 5, blocks).eval()
    mine = cls(c, 5, blocks).eval()
    mismatch = load_reference_weights(mine, ref)
    return (mismatch, ref) if mismatch is not None else (mine, ref)


def _groups(ref: AttentiveFusion, feature: torch.Tensor) -> torch.Tensor:
    b, _, h, w = feature.shape
    return ref.body(ref.conv_first(feature)).view(b, ref.num_heatmaps, ref.in_channels, h, w)


def _af_shape(cls) -> Outcome:
    got = tuple(cls(8, 5, 1)(_randn(2, 8, 8, 8), _randn(2, 5, 8, 8, seed=1)).shape)
    return Outcome(got == (2, 8, 8, 8), "feature [B, C, h, w] + maps [B, 5, h, w] -> [B, C, h, w]",
                   f"got {got}: sum the 5 weighted groups of C channels")


def _af_one_hot(cls) -> Outcome:
    mine, ref = _fusion_pair(cls)
    if isinstance(mine, Outcome):
        return mine
    feature = _randn(2, 8, 8, 8)
    wrong = []
    with torch.no_grad():
        groups = _groups(ref, feature)
        for c in range(5):
            one_hot = torch.zeros(2, 5, 8, 8)
            one_hot[:, c] = 100.0
            if max_difference(mine(feature, one_hot), groups[:, c]) > 1e-4:
                wrong.append(c)
    return Outcome(not wrong, "a one-hot attention on map c returns exactly group c's features",
                   f"wrong for maps {wrong}: group c is channels [c*C, (c+1)*C) — view as [B, 5, C, h, w], "
                   "not [B, C, 5, h, w]")


def _af_softmax(cls) -> Outcome:
    mine, _ = _fusion_pair(cls)
    if isinstance(mine, Outcome):
        return mine
    feature, maps = _randn(2, 8, 8, 8), _randn(2, 5, 8, 8, seed=1) * 2
    offset = _randn(2, 1, 8, 8, seed=2) * 3          # the same per-pixel offset on all 5 maps
    with torch.no_grad():
        a, b = mine(feature, maps), mine(feature, maps + offset)
    ok = max_difference(a, b) < 1e-4
    return Outcome(ok, "weights = softmax over the 5 maps at each pixel (adding the same value to all 5 maps "
                   "changes nothing)", "normalise the attention with torch.softmax(attention, dim=1) — over the "
                   "5 maps, not over space, and not raw or sigmoid maps")


def _af_uniform(cls) -> Outcome:
    mine, ref = _fusion_pair(cls)
    if isinstance(mine, Outcome):
        return mine
    feature = _randn(2, 8, 8, 8)
    with torch.no_grad():
        out = mine(feature, torch.zeros(2, 5, 8, 8))
        mean = _groups(ref, feature).mean(dim=1)
    ok = max_difference(out, mean) < 1e-4
    return Outcome(ok, "equal maps give the mean of the 5 groups (weights 0.2)",
                   "with all maps equal each group must get weight 1/5, and the groups are summed, not concatenated")


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
     Property("one-hot", _af_one_hot), Property("softmax", _af_softmax), Property("uniform", _af_uniform),
     Property("gradients", _af_grad),
     Property("agreement", lambda cls: agreement(
         [("C=8, 2 blocks", lambda: cls(8, 5, 2), lambda: AttentiveFusion(8, 5, 2),
           (_randn(2, 8, 8, 8), _randn(2, 5, 8, 8, seed=1) * 3))],
         "dicmini.models.AttentiveFusion"))],
    AttentiveFusion, "dicmini.models.AttentiveFusion",
    doc="Check ``MyAttentiveFusion(in_channels, num_heatmaps, num_blocks)`` (notebook 04).")
