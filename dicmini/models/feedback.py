"""The SRFBN feedback blocks of DIC's recovery (SR) branch, with explicit recurrent state.

Paper §3 ("recurrent SR branch", Fig. 2): at every step the SR branch runs a feedback block on the
LR feature and its own previous output; from step 1 on, the block is guided by the landmark
attention (see :mod:`dicmini.models.fusion`). Reference code: docs/reference_implementations.md,
Feedback blocks.

Three variants share one projection body (:meth:`FeedbackBlock.project`):

* :class:`FeedbackBlock`          ``forward(x, hidden)``: ``compress_in(cat(x, hidden))`` (2C -> C, 1x1) then
  the projection groups. The plain SRFBN block; DICNet itself does not use it.
* :class:`CoarseFeedbackBlock`    ``forward(x)``: ``compress_in(x)`` (C -> C) then the projection groups.
  Step 0 of DIC, when there is neither a hidden state nor a landmark prior (MMagic ``first_block``).
* :class:`AttentionFeedbackBlock` ``forward(x, attention, hidden)``: ``compress_in(cat(x, hidden))``, then the
  attentive fusion with the 5 component maps, then the projection groups (MMagic ``block``).

Unlike both references, no block stores a hidden state between calls (no ``last_hidden`` /
``need_reset`` attribute): the caller passes the previous output in and receives the new one.
The returned tensor *is* the new hidden state, exactly as in the reference where
``last_hidden = out``.

Projection groups, with ``C`` channels, ``G`` groups and internal scale ``s``::

    lr_features = [x]; hr_features = []
    for g in range(G):
        lr = cat(lr_features)           ; lr = lr_blocks[g-1](lr) if g > 0      # (g+1)C -> C, 1x1
        hr_features.append(up_blocks[g](lr))                                     # n -> n·s
        hr = cat(hr_features)           ; hr = hr_blocks[g-1](hr) if g > 0      # (g+1)C -> C, 1x1
        lr_features.append(down_blocks[g](hr))                                   # n·s -> n
    out = compress_out(cat(lr_features[1:]))                                     # G·C -> C, 1x1

Every PReLU in these blocks starts at slope 0.2 whatever ``DICNet(prelu_init=...)`` says: the
reference does not pass ``prelu_init`` down (docs/reference_implementations.md, Input and output layers).

The transitions on the HR grid (``hr_blocks``) are evaluated without the concatenation: a 1x1
convolution over ``cat(f_0 .. f_g)`` equals ``sum_i conv1x1(f_i, W[:, iC:(i+1)C])`` with the slices of
the *same* weight (:func:`conv1x1_prelu_sum`), so the state dict is unchanged and no HR copy is made
or kept for the backward pass (a 256x256 HR grid: ~1 GB per sample and feedback-block call at the
default widths). Only the summation order differs (~1e-7). It is opt-in per block
(``block.concat_transitions = False``; :func:`dicmini.train.performance.set_hr_transitions`, the trainer's
``hr_transitions`` setting): by default the blocks evaluate the concatenation exactly as both references
do, so a course implementation compares bit-for-bit. The LR-grid transitions always keep the
concatenation: at ``n x n`` it is cheap and one convolution is faster.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.checkpoint import checkpoint

from .fusion import AttentiveFusion, ConcatFusion
from .projection import conv1x1_prelu, down_projection, up_projection


def conv1x1_prelu_sum(unit: nn.Sequential, features: list[Tensor]) -> Tensor:
    """``unit(cat(features, dim=1))`` for a :func:`~dicmini.models.projection.conv1x1_prelu` ``unit``, computed as
    the sum of 1x1 convolutions of every feature with its slice of the unit's weight (no concatenated copy).

    Channels-last features are ``[B*H*W, C]`` matrices in memory, so there the sum is a chain of ``addmm``
    on those views (one GEMM per feature, accumulated in place of the bias; ``benchmarks/bench_dicnet.py``)
    instead of convolution calls, whose batch-1 CPU path zero-fills and copies at every call."""
    conv, act = unit[0], unit[1]
    if all(f.is_contiguous(memory_format=torch.channels_last) for f in features):
        return act(_addmm_sum(conv, features))
    offset = features[0].size(1)
    out = F.conv2d(features[0], conv.weight[:, :offset], conv.bias)
    for feature in features[1:]:
        width = feature.size(1)
        out = out.add_(F.conv2d(feature, conv.weight[:, offset:offset + width]))  # conv outputs are not saved
        offset += width
    return act(out)


def _addmm_sum(conv: nn.Conv2d, features: list[Tensor]) -> Tensor:
    """``conv(cat(features, dim=1))`` for a 1x1 ``conv`` and channels-last ``features``: one GEMM per feature on
    its ``[B*H*W, C]`` view, accumulated into the first (which starts from the bias)."""
    weight = conv.weight.flatten(1)  # [out, sum C_i], a view of the 1x1 kernel
    batch, _, height, width = features[0].shape
    out, offset = None, 0
    for feature in features:
        rows = feature.permute(0, 2, 3, 1).reshape(-1, feature.size(1))  # a view: NHWC storage
        part = weight[:, offset:offset + feature.size(1)].t()
        if out is None:
            out = rows @ part if conv.bias is None else torch.addmm(conv.bias, rows, part)
        else:
            out = torch.addmm(out, rows, part)
        offset += feature.size(1)
    return out.view(batch, height, width, -1).permute(0, 3, 1, 2)


class FeedbackBlock(nn.Module):
    """SRFBN feedback block with a hidden-state input.

    Args:
        mid_channels: feature channels ``C`` (48 in DIC).
        num_blocks: number of projection groups ``G`` (6 in DIC).
        upscale_factor: internal scale ``s`` of the projection units (kernel ``s + 4``, stride ``s``, padding 2).

    Shapes: ``x``, ``hidden``: ``[B, C, n, m]`` -> ``[B, C, n, m]`` (the new hidden state).
    Parameters (48, 6, 8): 4,093,080.
    """

    #: evaluate the HR transitions on the concatenated features, as both references do (default); ``False``:
    #: as a sum over weight slices (:func:`conv1x1_prelu_sum`; faster, less memory, same state dict).
    concat_transitions: bool = True
    #: in training with autograd, recompute each projection group in the backward pass (activation
    #: checkpointing, set by ``DICNet(gradient_checkpointing="fine")``).
    checkpoint_groups: bool = False

    def __init__(self, mid_channels: int = 48, num_blocks: int = 6, upscale_factor: int = 8) -> None:
        super().__init__()
        if mid_channels < 1 or num_blocks < 1 or upscale_factor < 1:
            raise ValueError("mid_channels, num_blocks and upscale_factor must be positive integers, got "
                             f"{mid_channels}, {num_blocks}, {upscale_factor}")
        self.mid_channels = mid_channels
        self.num_blocks = num_blocks
        self.upscale_factor = upscale_factor
        self.compress_in = conv1x1_prelu(2 * mid_channels, mid_channels)
        self.up_blocks = nn.ModuleList()
        self.down_blocks = nn.ModuleList()
        self.lr_blocks = nn.ModuleList()
        self.hr_blocks = nn.ModuleList()
        # Interleaved creation order (up, down, then the two transitions) as in the reference, so that a
        # seeded construction draws the same initial weights (docs/reference_implementations.md, Initialisation).
        for idx in range(num_blocks):
            self.up_blocks.append(up_projection(mid_channels, upscale_factor))
            self.down_blocks.append(down_projection(mid_channels, upscale_factor))
            if idx > 0:
                self.lr_blocks.append(conv1x1_prelu(mid_channels * (idx + 1), mid_channels))
                self.hr_blocks.append(conv1x1_prelu(mid_channels * (idx + 1), mid_channels))
        self.compress_out = conv1x1_prelu(num_blocks * mid_channels, mid_channels)

    def group(self, idx: int, lr_features: tuple[Tensor, ...],
              hr_features: tuple[Tensor, ...]) -> tuple[Tensor, Tensor]:
        """Projection group ``idx`` on the LR features ``x, L_0 .. L_{idx-1}`` and HR features ``H_0 .. H_{idx-1}``
        so far -> ``(H_idx, L_idx)`` (the up-projected HR feature and the down-projected LR feature)."""
        lr = torch.cat(lr_features, dim=1)
        if idx > 0:
            lr = self.lr_blocks[idx - 1](lr)
        up = self.up_blocks[idx](lr)
        if self.concat_transitions:  # both references
            hr = torch.cat((*hr_features, up), dim=1)
            hr = self.hr_blocks[idx - 1](hr) if idx > 0 else hr
        elif idx == 0:
            hr = up
        else:
            hr = conv1x1_prelu_sum(self.hr_blocks[idx - 1], [*hr_features, up])
        return up, self.down_blocks[idx](hr)

    def project(self, x: Tensor) -> Tensor:
        """The projection groups and ``compress_out`` on the compressed input ``x`` ``[B, C, n, m]``."""
        lr_features = [x]
        hr_features: list[Tensor] = []
        recompute = self.checkpoint_groups and self.training and torch.is_grad_enabled()
        for idx in range(self.num_blocks):
            args = (idx, tuple(lr_features), tuple(hr_features))
            up, down = checkpoint(self.group, *args, use_reentrant=False) if recompute else self.group(*args)
            hr_features.append(up)
            lr_features.append(down)
        return self.compress_out(torch.cat(lr_features[1:], dim=1))

    def forward(self, x: Tensor, hidden: Tensor) -> Tensor:
        """``x``: input feature, ``hidden``: previous output of this block -> new hidden state."""
        return self.project(self.compress_in(torch.cat([x, hidden], dim=1)))


class CoarseFeedbackBlock(FeedbackBlock):
    """Step-0 feedback block without feedback input (MMagic ``FeedbackBlockCustom`` = ``first_block``).

    ``compress_in`` maps ``C -> C`` instead of ``2C -> C``. Parameters (48, 6, 8): 4,090,776.

    Construction note: the reference builds the base block (with a ``2C -> C`` input convolution)
    and then *replaces* that convolution. We do the same, so ``torch.manual_seed(s); DICNet(...)``
    draws exactly the reference's initial weights; the replaced module keeps its place in the
    state dict (``compress_in`` stays the first entry).
    """

    def __init__(self, mid_channels: int = 48, num_blocks: int = 6, upscale_factor: int = 8) -> None:
        super().__init__(mid_channels, num_blocks, upscale_factor)
        self.compress_in = conv1x1_prelu(mid_channels, mid_channels)

    def forward(self, x: Tensor) -> Tensor:  # type: ignore[override]
        """``x``: LR feature ``[B, C, n, m]`` -> block output ``[B, C, n, m]`` (the first hidden state)."""
        return self.project(self.compress_in(x))


class AttentionFeedbackBlock(FeedbackBlock):
    """Feedback block guided by the landmark attention (MMagic ``FeedbackBlockHeatmapAttention`` = ``block``;
    paper §3, Fig. 2 and the attentive fusion of Fig. 3).

    ``forward(x, attention, hidden) = project(fusion(compress_in(cat(x, hidden)), attention))``.
    One set of weights serves every step >= 1.

    Args:
        mid_channels, num_blocks, upscale_factor: as :class:`FeedbackBlock`.
        num_heatmaps: number of attention (component) maps, 5 in DIC.
        num_fusion_blocks: grouped residual blocks of the attentive fusion (7 in DIC).
        fusion: ``"attention"`` = the paper's :class:`~dicmini.models.fusion.AttentiveFusion`;
            ``"concat"`` = the ablation :class:`~dicmini.models.fusion.ConcatFusion`; ``"none"`` = the
            attentive fusion, which :class:`~dicmini.models.dic.DICNet` then feeds all-zero maps.

    Parameters (48, 6, 8, 5, 7, "attention"): 5,559,720.
    """

    def __init__(self, mid_channels: int = 48, num_blocks: int = 6, upscale_factor: int = 8,
                 num_heatmaps: int = 5, num_fusion_blocks: int = 7, fusion: str = "attention") -> None:
        super().__init__(mid_channels, num_blocks, upscale_factor)
        self.fusion: AttentiveFusion | ConcatFusion
        if fusion in ("attention", "none"):
            self.fusion = AttentiveFusion(mid_channels, num_heatmaps, num_fusion_blocks)
        elif fusion == "concat":
            self.fusion = ConcatFusion(mid_channels, num_heatmaps)
        else:
            raise ValueError(f"fusion: expected 'attention', 'concat' or 'none', got {fusion!r}")

    def forward(self, x: Tensor, attention: Tensor, hidden: Tensor) -> Tensor:  # type: ignore[override]
        """``x``: LR feature, ``attention``: ``[B, num_heatmaps, n, m]`` component maps, ``hidden``:
        previous block output -> new hidden state ``[B, C, n, m]``."""
        fused = self.fusion(self.compress_in(torch.cat([x, hidden], dim=1)), attention)
        return self.project(fused)
