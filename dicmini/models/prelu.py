"""Single-slope PReLU, ``max(0, x) + a·min(0, x)``, with an optional cheaper backward pass on the CPU.

Every activation of DIC's recovery branch is a PReLU with one learned slope ``a`` (paper §3.1, after SRFBN;
docs/reference_implementations.md, Input and output layers). :class:`PReLU` is :class:`torch.nn.PReLU`: same
forward, same parameter, same state-dict key. Only its backward pass can change:

* ``fused_backward = False`` (default): PyTorch's PReLU backward, as both references compute it.
* ``fused_backward = True``: ``dL/dx = dL/dy · (1 if x > 0 else a)`` by the leaky-ReLU backward kernel and
  ``dL/da = <dL/dy, min(x, 0)>`` as one dot product. On the CPU this is about 4x faster than PyTorch's PReLU
  backward, which writes a full-size per-element slope gradient and then reduces it
  (``benchmarks/bench_dicnet.py``). Input gradients are identical; the slope gradient is the same sum in
  another order (~1e-7 relative). It reads ``a`` on the host, so it is meant for CPU training
  (:func:`dicmini.train.performance.set_prelu_backward`, the trainer's ``prelu_backward`` setting).
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class _FusedSlopeBackward(torch.autograd.Function):
    """``F.prelu(x, a)`` for a one-element slope ``a``, with the backward pass described in the module docstring."""

    @staticmethod
    def forward(ctx: Any, x: Tensor, slope: Tensor) -> Tensor:
        ctx.save_for_backward(x, slope)
        return F.prelu(x, slope)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor | None, Tensor | None]:
        x, slope = ctx.saved_tensors
        a = float(slope)
        grad_x = torch.ops.aten.leaky_relu_backward(grad, x, a, False) if ctx.needs_input_grad[0] else None
        grad_slope = None
        if ctx.needs_input_grad[1]:
            # channels-last and contiguous tensors both flatten without a copy when the layouts agree
            layout = torch.channels_last if x.dim() == 4 and x.is_contiguous(memory_format=torch.channels_last) \
                else torch.contiguous_format
            g = grad.contiguous(memory_format=layout)
            negative = x.clamp(max=0).contiguous(memory_format=layout)
            flat = (lambda t: t.permute(0, 2, 3, 1).reshape(-1)) if layout is torch.channels_last else \
                (lambda t: t.reshape(-1))
            grad_slope = torch.dot(flat(g), flat(negative)).reshape(slope.shape)
        return grad_x, grad_slope


class PReLU(nn.PReLU):
    """:class:`torch.nn.PReLU` whose backward pass can be the fused one (``fused_backward``, see the module
    docstring); only one-slope modules on the CPU use it, everything else is ``nn.PReLU``'s."""

    #: compute the backward pass with :class:`_FusedSlopeBackward` (CPU tensors, one slope only)
    fused_backward: bool = False

    def forward(self, x: Tensor) -> Tensor:
        if (self.fused_backward and self.num_parameters == 1 and x.device.type == "cpu"
                and torch.is_grad_enabled() and (x.requires_grad or self.weight.requires_grad)):
            return _FusedSlopeBackward.apply(x, self.weight)
        return super().forward(x)
