"""Widen a trained DICNet's recovery branch without changing what it computes.

The recovery (SR) branch of DIC (paper §3, Fig. 2) has ``C`` feature channels everywhere: the LR feature, the
feedback blocks' projection groups and transitions, the attentive fusion's ``K`` groups, the reconstruction tail.
:func:`widen_state_dict` maps a state dict trained with ``C`` channels into a wider :class:`DICNet` (``C' > C``,
the same landmark branch) so that the wider model gives the *same* SR images and landmarks:

* every old weight lands where the wide model keeps that channel: a concatenation of ``k`` features of ``C``
  channels becomes ``k`` blocks of ``C'`` (old channel ``i`` of block ``b`` -> ``b·C' + i``), and so do the fusion's
  component groups; channels of fixed width after the blocks (the concat fusion's 5 maps) move up behind them;
  the convolution feeding ``PixelShuffle`` keeps its channel-major order (old index -> itself);
* an old output channel never reads a new input channel (those weights are zero), so by induction every old
  channel equals the narrow model's and the RGB output, which reads the new channels through zeros, is unchanged;
* the new channels keep the wide model's own initialisation and read the old ones: they start as an extra path
  whose contribution is switched off, and training switches it on (the zero weights receive gradients at once).

It is how a fine-tune tests whether the recovery branch is short of capacity without training from scratch:
``dicmini train --set mid_channels=32 --set init_generator=tiny --set init_widen=true``.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import Tensor, nn

from .convert import infer_dicnet_config


def _conv_layout(model: nn.Module) -> tuple[dict[str, tuple[int, int]], set[str]]:
    """``({weight key: (output axis, input axis)}, shuffled keys)`` for the convolutions of ``model``: a transposed
    convolution stores ``[in, out, kh, kw]``; a convolution whose output feeds a ``PixelShuffle`` is channel-major
    (the ``r²`` channels of one shuffled channel are adjacent), so its output axis widens by keeping old indices in
    place."""
    axes, shuffled, last_conv = {}, set(), None
    for name, module in model.named_modules():  # depth-first: a Sequential's children follow it in order
        if isinstance(module, nn.ConvTranspose2d):
            axes[f"{name}.weight"] = (1, 0)
        elif isinstance(module, nn.Conv2d):
            axes[f"{name}.weight"], last_conv = (0, 1), name
        elif isinstance(module, nn.PixelShuffle) and last_conv is not None:
            shuffled.update({f"{last_conv}.weight", f"{last_conv}.bias"})
    return axes, shuffled


def _channel_index(key: str, old: int, new: int, narrow: int, wide: int, shuffled: bool) -> Tensor:
    """Where the ``old`` indices of one axis go among ``new`` (identity when the axis did not change)."""
    index = torch.arange(old)
    if old == new:
        return index
    blocks, rest = divmod(new - old, wide - narrow)
    fixed = old - blocks * narrow  # channels of fixed width after the blocks (the concat fusion's 5 maps)
    if rest or blocks < 1 or fixed < 0 or (shuffled and fixed):
        raise ValueError(f"{key}: an axis of {old} channels cannot widen to {new} (expected k blocks of {narrow} "
                         f"becoming k blocks of {wide}, then any fixed channels)")
    if shuffled:
        return index
    inside = index < blocks * narrow
    return torch.where(inside, (index // narrow) * wide + index % narrow, index + blocks * (wide - narrow))


def widen_state_dict(state_dict: Mapping[str, Tensor], model: nn.Module) -> dict[str, Tensor]:
    """``state_dict`` (dicmini layout, ``C`` channels) widened into ``model``'s (a :class:`DICNet` with
    ``mid_channels > C``); the new channels take ``model``'s current values, so initialise ``model`` first.

    ``model`` loaded with the result computes what the narrow model computes (up to float rounding).
    Raises ``ValueError`` when the two differ in anything but ``mid_channels``."""
    found = infer_dicnet_config(state_dict)
    narrow, wide = found.pop("mid_channels", None), model.config["mid_channels"]
    if narrow is None:
        raise ValueError("cannot widen: the state dict has no recovery branch (coarse_block.compress_in.0.weight)")
    if narrow > wide:
        raise ValueError(f"cannot widen {narrow} channels to {wide}: the model is narrower")
    differ = [f"{k} {v} vs model {model.config[k]}" for k, v in found.items() if model.config[k] != v]
    if differ:
        raise ValueError(f"cannot widen: only mid_channels may differ, got {', '.join(differ)}")
    own = model.state_dict()
    if set(own) != set(state_dict):
        extra, missing = sorted(set(state_dict) - set(own)), sorted(set(own) - set(state_dict))
        raise ValueError(f"cannot widen: the layouts differ (missing {missing[:3]}, unexpected {extra[:3]})")
    axes, shuffled = _conv_layout(model)
    result = {}
    for key, target in own.items():
        source = state_dict[key]
        if source.shape == target.shape:
            result[key] = source.detach().clone()
            continue
        if source.dim() != target.dim():
            raise ValueError(f"{key}: {list(source.shape)} cannot widen to {list(target.shape)}")
        index = [_channel_index(key, o, n, narrow, wide, key in shuffled and axis == 0)
                 for axis, (o, n) in enumerate(zip(source.shape, target.shape))]
        widened = target.detach().clone()
        if source.dim() == 1:
            widened[index[0]] = source.to(widened.dtype)
        else:
            out_axis, in_axis = axes[key]
            view, old = widened.movedim((out_axis, in_axis), (0, 1)), source.movedim((out_axis, in_axis), (0, 1))
            rows, cols = index[out_axis], index[in_axis]
            view[rows] = 0.0  # an old output reads no new input ...
            view[rows[:, None], cols] = old.to(view.dtype)  # ... and its old inputs through its old weights
        result[key] = widened
    return result
