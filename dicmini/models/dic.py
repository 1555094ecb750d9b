"""DICNet: iterative collaboration between attentive face recovery and landmark estimation.

Paper §3 (Fig. 2): an SR branch (feedback blocks) and an alignment branch (feedback hourglass) run
for ``num_steps`` recurrent steps; at every step the SR image feeds the landmark estimator and the
landmarks of step ``t`` guide the recovery of step ``t + 1`` through the attentive fusion.
Reference code: docs/reference_implementations.md, Architecture (MMagic ``DICNet``; official ``DIC`` in
``dic_arch.py``).

Step loop (docs/reference_implementations.md, Recurrence)::

    skip    = bilinear_x8(lr)                               # [B, 3, 8h, 8w], constant over the steps
    feature = lr_feature(lr)                                # [B, C, 2h, 2w], computed once
    for t in range(num_steps):
        if t == 0: hidden = coarse_block(feature)
        else:      attention = merge_to_components(heatmaps, detach=detach_attention)  # from step t-1
                   hidden = attention_block(feature, attention, hidden)
        sr = skip + reconstruction(hidden)                  # [B, 3, 8h, 8w]
        heatmaps, hg_hidden = landmark_estimator(sr, hg_hidden)   # hg_hidden is None at t = 0
    return every step's sr and heatmaps

All recurrent state is local to one call: two calls on the same input give identical results.

Parameter names (dicmini layout; :mod:`dicmini.models.convert` translates to/from MMagic and the
official code): ``lr_feature`` (MMagic ``conv_first``), ``coarse_block`` (``first_block``),
``attention_block`` (``block``; its ``fusion`` = ``fusion_block``), ``landmark_estimator``
(``hour_glass``), ``reconstruction`` (``conv_last``). Inside the feedback blocks ``compress_in`` /
``compress_out`` are MMagic's ``conv_first`` / ``conv_last``. The default ``DICNet()`` has
21,803,849 parameters in 296 tensors.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator
from typing import Any, NamedTuple

import torch
from torch import Tensor, nn
from torch.utils.checkpoint import checkpoint

from ..data.degrade import bilinear_skip
from ..data.landmarks import merge_to_components
from .feedback import AttentionFeedbackBlock, CoarseFeedbackBlock
from .hourglass import FeedbackHourglass
from .prelu import PReLU

#: DICNet always maps h x w to 8h x 8w, whatever ``upscale_factor`` says (docs/reference_implementations.md, Input and
#: output layers).
OUTPUT_SCALE = 8
#: The LR feature grid is 2h x 2w (PixelShuffle(2)); the reconstruction tail upsamples it x4.
FEATURE_SCALE = 2
RECONSTRUCTION_SCALE = 4
#: LR sides must be multiples of this: the hourglass pools its (2h x 2w) grid four times.
INPUT_MULTIPLE = 8
#: Landmark counts the 68 -> 5 component merge accepts (5 = already components: normalisation only).
SUPPORTED_KEYPOINTS = (68, 5)
FUSIONS = ("attention", "concat", "none")


class DICOutput(NamedTuple):
    """What ``DICNet.forward`` returns: one entry per step; ``sr[-1]`` is the final image."""

    sr: list[Tensor]        #: ``num_steps`` x ``[B, 3, 8h, 8w]`` SR images (normalised space)
    heatmaps: list[Tensor]  #: ``num_steps`` x ``[B, K, 2h, 2w]`` raw landmark heatmaps


class DICStep(NamedTuple):
    """Everything one recurrent step produces (yielded by the step loop of :class:`DICNet`)."""

    sr: Tensor                 #: ``[B, 3, 8h, 8w]``
    heatmaps: Tensor           #: ``[B, K, 2h, 2w]``
    attention: Tensor | None   #: ``[B, 5, 2h, 2w]`` component maps that guided this step (None at step 0)
    sr_hidden: Tensor          #: ``[B, C, 2h, 2w]`` feedback-block output (= SR-branch hidden state)
    hg_hidden: Tensor          #: ``[B, M, 2h, 2w]`` hourglass feedback passed to the next step


class DICTrace(NamedTuple):
    """Per-step internals of one forward pass, for visualisation and debugging (:meth:`DICNet.trace`)."""

    lr_feature: Tensor                #: ``[B, C, 2h, 2w]`` the shared LR feature
    sr: list[Tensor]
    heatmaps: list[Tensor]
    attention: list[Tensor | None]    #: ``None`` at step 0
    sr_hidden: list[Tensor]
    hg_hidden: list[Tensor]


class DICNet(nn.Module):
    """The DIC generator (paper §3, Fig. 2). Argument names and defaults follow MMagic's ``DICNet``.

    Args:
        in_channels, out_channels: image channels; must both be 3 (the landmark estimator reads an
            RGB image and the x8 skip adds the input to the output).
        mid_channels: feature channels ``C`` of the SR branch (48).
        num_blocks: projection groups per feedback block (6).
        hg_mid_channels: channels ``M`` of the feedback hourglass (256); a multiple of 4.
        hg_num_keypoints: landmark heatmaps ``K``: 68 (or 5, taken as already-merged component maps).
        num_steps: recurrent steps (4).
        upscale_factor: internal scale of the projection units only (kernel ``s+4``, stride ``s``,
            padding 2 on the ``2h x 2w`` feature grid). As in MMagic the output is always ``8h x 8w``.
        detach_attention: detach the component maps from the graph, so the SR loss of step ``t+1``
            does not reach the hourglass of step ``t``.
        prelu_init: initial slope of the PReLU after ``lr_feature``'s conv and in ``reconstruction``
            **only**; the PReLUs of the feedback blocks always start at 0.2 (reference quirk).
        num_heatmaps: component maps of the attentive fusion; must be 5.
        num_fusion_blocks: grouped residual blocks in the attentive fusion (7).
        fusion: ``"attention"`` (the paper), ``"concat"`` (ablation, see
            :class:`~dicmini.models.fusion.ConcatFusion`) or ``"none"`` (ablation "no landmark prior": the
            attentive fusion with all-zero component maps at every step, i.e. uniform attention over the 5
            components, so the landmark branch is trained but never guides the recovery; the same parameters
            as ``"attention"``, and ``guidance`` is ignored). dicmini option.
        gradient_checkpointing: in training with autograd enabled, recompute every feedback block and
            hourglass call in the backward pass instead of storing its activations
            (``torch.utils.checkpoint``, ``use_reentrant=False``). Same outputs and gradients (bit-identical
            on CPU), less activation memory, at the cost of one extra forward of each checkpointed call
            in the backward pass. ``True`` (= ``"call"``); ``"fine"`` also recomputes each projection group
            inside the recomputed feedback block (a second extra forward of the groups; measured on the CPU at
            batch 8 with summed transitions it is *not* leaner: 3.84 vs 3.60 GiB peak RSS);
            ``False`` (= ``"none"``). dicmini option.

    ``forward(lr)`` with ``lr`` ``[B, 3, h, w]`` (``h, w`` multiples of 8, normalised space
    ``x/255 - mean``) returns :class:`DICOutput`. ``config`` holds the constructor arguments
    (``DICNet(**model.config)`` rebuilds the architecture).
    """

    def __init__(self, in_channels: int = 3, out_channels: int = 3, mid_channels: int = 48, num_blocks: int = 6,
                 hg_mid_channels: int = 256, hg_num_keypoints: int = 68, num_steps: int = 4,
                 upscale_factor: int = 8, detach_attention: bool = False, prelu_init: float = 0.2,
                 num_heatmaps: int = 5, num_fusion_blocks: int = 7, *, fusion: str = "attention",
                 gradient_checkpointing: bool | str = False) -> None:
        arguments = locals()  # first statement: exactly the constructor arguments (and self)
        super().__init__()
        self.config: dict[str, Any] = {name: arguments[name] for name in DICNET_ARGUMENTS}
        _validate_args(self.config)
        self.config.update(detach_attention=bool(detach_attention), prelu_init=float(prelu_init),
                           gradient_checkpointing=_checkpointing_value(gradient_checkpointing))
        self.in_channels = in_channels
        self.num_steps = num_steps
        self.detach_attention = bool(detach_attention)
        self.gradient_checkpointing = bool(self.config["gradient_checkpointing"])

        # Construction order = the reference's, so the state dict order (and a seeded init) match it.
        self.lr_feature = nn.Sequential(
            nn.Conv2d(in_channels, mid_channels * FEATURE_SCALE ** 2, 3, padding=1),
            PReLU(init=prelu_init),
            nn.PixelShuffle(FEATURE_SCALE),
        )
        self.coarse_block = CoarseFeedbackBlock(mid_channels, num_blocks, upscale_factor)
        self.attention_block = AttentionFeedbackBlock(mid_channels, num_blocks, upscale_factor, num_heatmaps,
                                                      num_fusion_blocks, fusion)
        fine = self.config["gradient_checkpointing"] == "fine"
        self.coarse_block.checkpoint_groups = self.attention_block.checkpoint_groups = fine
        self.landmark_estimator = FeedbackHourglass(hg_mid_channels, hg_num_keypoints, in_channels=out_channels)
        self.reconstruction = nn.Sequential(
            nn.ConvTranspose2d(mid_channels, mid_channels, RECONSTRUCTION_SCALE + 4, stride=RECONSTRUCTION_SCALE,
                               padding=2),
            PReLU(init=prelu_init),
            nn.Conv2d(mid_channels, out_channels, 3, padding=1),
        )

    @property
    def landmark_prior(self) -> bool:
        """Whether the landmarks guide steps 2..T (every fusion but ``"none"``)."""
        return self.config["fusion"] != "none"

    # -- the step loop -------------------------------------------------------------------------------

    def check_input(self, lr: Tensor) -> None:
        """Raise ``ValueError`` unless ``lr`` is ``[B, in_channels, h, w]`` with ``h, w`` positive multiples of 8."""
        if not isinstance(lr, Tensor):
            raise TypeError(f"lr: expected a torch.Tensor, got {type(lr).__name__}")
        ok = (lr.dim() == 4 and lr.size(0) > 0 and lr.size(1) == self.in_channels and lr.size(2) > 0
              and lr.size(3) > 0 and lr.size(2) % INPUT_MULTIPLE == 0 and lr.size(3) % INPUT_MULTIPLE == 0)
        if not ok:
            raise ValueError(f"lr: expected a [B, {self.in_channels}, h, w] tensor with h and w positive multiples "
                             f"of {INPUT_MULTIPLE} (e.g. 16 x 16), got shape {list(lr.shape)}")

    def _call(self, module: Callable[..., Any], *args: Tensor | None) -> Any:
        """Run ``module(*args)``, through activation checkpointing when enabled and useful."""
        if self.gradient_checkpointing and self.training and torch.is_grad_enabled():
            return checkpoint(module, *args, use_reentrant=False)
        return module(*args)

    def _prepare(self, lr: Tensor) -> tuple[Tensor, Tensor]:
        """Validate ``lr``; return the shared LR feature ``[B, C, 2h, 2w]`` and the x8 skip ``[B, 3, 8h, 8w]``."""
        self.check_input(lr)
        return self.lr_feature(lr), bilinear_skip(lr, OUTPUT_SCALE)

    @staticmethod
    def _check_guidance(guidance: Tensor | None, feature: Tensor) -> None:
        """Raise ``ValueError`` unless ``guidance`` is None or ``[B, 68 | 5, 2h, 2w]`` matching the LR feature grid."""
        if guidance is None:
            return
        b, _, h, w = feature.shape
        ok = (isinstance(guidance, Tensor) and guidance.dim() == 4 and guidance.size(0) == b
              and guidance.size(1) in SUPPORTED_KEYPOINTS and tuple(guidance.shape[2:]) == (h, w))
        if not ok:
            shape = list(guidance.shape) if isinstance(guidance, Tensor) else type(guidance).__name__
            raise ValueError(f"guidance: expected heatmaps [{b}, 68 or 5, {h}, {w}] (the LR feature grid), got {shape}")

    def _step_loop(self, feature: Tensor, skip: Tensor, guidance: Tensor | None = None) -> Iterator[DICStep]:
        """The recurrence (paper §3, Fig. 2), one :class:`DICStep` per step. The single implementation of the
        step loop: :meth:`forward` and :meth:`trace` only collect what it yields. ``guidance`` (heatmaps
        ``[B, K, 2h, 2w]``), when given, replaces the previous step's own heatmaps as the source of the
        attention at steps 2..T; the landmark branch still runs on every step's SR image."""
        hidden: Tensor | None = None
        hg_hidden: Tensor | None = None
        heatmaps: Tensor | None = None
        for step in range(self.num_steps):
            attention: Tensor | None = None
            if step == 0:
                hidden = self._call(self.coarse_block, feature)
            else:
                if self.landmark_prior:
                    source = heatmaps if guidance is None else guidance
                    attention = merge_to_components(source, detach=self.detach_attention)
                else:
                    attention = heatmaps.new_zeros(heatmaps.size(0), self.config["num_heatmaps"],
                                                   *heatmaps.shape[-2:])
                hidden = self._call(self.attention_block, feature, attention, hidden)
            sr = skip + self.reconstruction(hidden)
            heatmaps, hg_hidden = self._call(self.landmark_estimator, sr, hg_hidden)
            yield DICStep(sr, heatmaps, attention, hidden, hg_hidden)

    def forward(self, lr: Tensor, guidance: Tensor | None = None) -> DICOutput:
        """``lr`` ``[B, 3, h, w]`` -> :class:`DICOutput` (``sr``: ``num_steps`` x ``[B, 3, 8h, 8w]``,
        ``heatmaps``: ``num_steps`` x ``[B, K, 2h, 2w]``); ``sr, heatmaps = model(lr)`` works.

        ``guidance``: optional heatmaps ``[B, K, 2h, 2w]`` (K = 68 or 5) that guide steps 2..T instead of
        the model's own estimate -- for the causal experiments of :mod:`dicmini.analysis` (another face's
        landmarks, the ground truth, a mean template, or zeros = uniform attention). Training never uses it."""
        feature, skip = self._prepare(lr)
        self._check_guidance(guidance, feature)
        sr: list[Tensor] = []
        heatmaps: list[Tensor] = []
        for step in self._step_loop(feature, skip, guidance):
            sr.append(step.sr)
            heatmaps.append(step.heatmaps)
        return DICOutput(sr, heatmaps)

    def trace(self, lr: Tensor, guidance: Tensor | None = None) -> DICTrace:
        """Like :meth:`forward` but also return the LR feature, the attention maps used at every step and
        both hidden states (:class:`DICTrace`). Runs under the caller's grad mode."""
        feature, skip = self._prepare(lr)
        self._check_guidance(guidance, feature)
        steps = list(self._step_loop(feature, skip, guidance))
        return DICTrace(feature, [s.sr for s in steps], [s.heatmaps for s in steps], [s.attention for s in steps],
                        [s.sr_hidden for s in steps], [s.hg_hidden for s in steps])


#: The constructor arguments of :class:`DICNet`, in order: the keys of ``DICNet.config``, and the
#: ``TrainConfig`` fields that ``TrainConfig.model_kwargs`` passes on (read from the signature, their one home).
DICNET_ARGUMENTS: tuple[str, ...] = tuple(inspect.signature(DICNet).parameters)

#: upper bounds on the size arguments, checked before anything is allocated (a checkpoint whose stored config
#: says ``mid_channels=20000`` or ``num_steps=10**7`` is refused instead of allocating 57 GB or running for
#: ever); the full-size DIC is 48 / 6 / 256 / 4 / 8 / 7
ARCH_LIMITS = {"mid_channels": 512, "num_blocks": 32, "hg_mid_channels": 1024, "num_steps": 32,
               "upscale_factor": 16, "num_fusion_blocks": 64}

#: ``gradient_checkpointing`` values -> what ``config`` records (booleans as before; ``"fine"`` as itself).
CHECKPOINTING = {False: False, True: True, "none": False, "call": True, "fine": "fine"}


def _checkpointing_value(value: bool | str) -> bool | str:
    if isinstance(value, bool) or value in CHECKPOINTING:
        return CHECKPOINTING[value]
    raise ValueError(f"gradient_checkpointing must be True/False or one of 'none', 'call', 'fine', got {value!r}")


def _validate_args(arguments: dict[str, Any]) -> None:
    """Fail at construction, with the argument's name, where the reference would fail later (or silently).
    ``arguments``: the constructor arguments of :class:`DICNet` by name (:data:`DICNET_ARGUMENTS`)."""
    for name in ("in_channels", "out_channels"):
        if arguments[name] != 3:
            raise ValueError(f"{name} must be 3, got {arguments[name]}: the landmark estimator reads an RGB image "
                             "and the x8 bilinear skip adds the input image to the output (as in the reference)")
    for name in ("mid_channels", "num_blocks", "num_steps", "upscale_factor"):
        value = arguments[name]
        if not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")
    value = arguments["num_fusion_blocks"]
    if not isinstance(value, int) or value < 0:
        raise ValueError(f"num_fusion_blocks must be a non-negative integer, got {value!r}")
    value = arguments["hg_mid_channels"]
    if not isinstance(value, int) or value < 4 or value % 4:
        raise ValueError(f"hg_mid_channels must be a positive multiple of 4 (the hourglass stem uses "
                         f"hg_mid_channels/4 and /2 channels), got {value!r}")
    value = arguments["hg_num_keypoints"]
    if value not in SUPPORTED_KEYPOINTS:
        raise ValueError(f"hg_num_keypoints must be 68 (iBUG 68-point layout) or 5 (component maps), got "
                         f"{value!r}: the 68 -> 5 component merge knows no other layout")
    value = arguments["num_heatmaps"]
    if value != 5:
        raise ValueError(f"num_heatmaps must be 5, got {value!r}: the component merge always produces "
                         "5 attention maps (left eye, right eye, nose, mouth, face outline)")
    value = arguments["fusion"]
    if value not in FUSIONS:
        raise ValueError(f"fusion must be one of {FUSIONS}, got {value!r}")
    for name, limit in ARCH_LIMITS.items():
        if arguments[name] > limit:
            raise ValueError(f"{name} must be <= {limit}, got {arguments[name]!r} (dicmini's size limit; the full "
                             "DIC uses far less)")
