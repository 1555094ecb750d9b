"""Speed settings of the trainer: backend flags, memory format, per-submodule compilation, fused Adam, and
loss values kept on the device between host synchronisations.

None of these changes what a training step computes beyond the order of floating-point operations
(channels-last convolutions, cuDNN autotuning, compiled kernels, bf16 autocast, the fused PReLU backward), so
they are settings of the run (:class:`~dicmini.train.config.TrainConfig`: ``deterministic``, ``channels_last``,
``hr_transitions``, ``prelu_backward``, ``compile``, ``amp``, ``sync_every``), not of the model; a checkpoint
written with any of them loads without them.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Mapping
from typing import Any

import torch
from torch import Tensor, nn

#: Submodules of a DICNet compiled one by one by ``compile=true`` (the step loop itself stays eager: it is
#: plain Python over a few calls, and whole-model compilation of the unrolled recurrence takes far longer).
DICNET_COMPILED = ("coarse_block", "attention_block", "landmark_estimator", "reconstruction")


def configure_backends(device: torch.device, deterministic: bool) -> None:
    """cuDNN autotuning (``benchmark=True``) unless ``deterministic``, which selects deterministic algorithms
    (``cudnn.deterministic=True``, ``benchmark=False``, ``torch.use_deterministic_algorithms(warn_only=True)``).
    Only CUDA is affected: CPU kernels are deterministic either way."""
    if device.type != "cuda":
        return
    torch.backends.cudnn.deterministic = deterministic
    torch.backends.cudnn.benchmark = not deterministic
    torch.use_deterministic_algorithms(deterministic, warn_only=True)
    # TF32 matmuls/convolutions: fp32 storage, ~10-bit mantissa products on Ampere+ (off when deterministic)
    torch.backends.cuda.matmul.allow_tf32 = not deterministic
    torch.backends.cudnn.allow_tf32 = not deterministic


def resolve_channels_last(setting: str, device: torch.device) -> bool:
    """``channels_last`` setting -> bool: ``"true"``/``"false"``, or ``"auto"`` = on, on CUDA and the CPU alike
    (measured faster on the CPU: ``benchmarks/results/bench_dicnet.json``)."""
    if setting not in ("auto", "true", "false"):
        raise ValueError(f"channels_last: expected 'auto', 'true' or 'false', got {setting!r}")
    return setting != "false"


def resolve_hr_transitions(setting: str) -> bool:
    """``hr_transitions`` setting -> whether the HR transitions are summed: ``"sum"``, ``"concat"`` (the
    references' evaluation), or ``"auto"`` = sum (faster and leaner, ``benchmarks/results/bench_dicnet.json``)."""
    if setting not in ("auto", "sum", "concat"):
        raise ValueError(f"hr_transitions: expected 'auto', 'sum' or 'concat', got {setting!r}")
    return setting != "concat"


def set_hr_transitions(model: nn.Module, summed: bool) -> nn.Module:
    """Evaluate the HR transitions of every feedback block in ``model`` as a sum over weight slices (``summed``)
    or on the concatenated features as the references do (:mod:`dicmini.models.feedback`). In place."""
    from ..models.feedback import FeedbackBlock

    for module in model.modules():
        if isinstance(module, FeedbackBlock):
            module.concat_transitions = not summed
    return model


def resolve_prelu_backward(setting: str, device: torch.device) -> bool:
    """``prelu_backward`` setting -> whether the PReLUs use the fused backward pass (:mod:`dicmini.models.prelu`):
    ``"fused"``, ``"native"``, or ``"auto"`` = fused on the CPU (it reads the slope on the host, which would
    synchronise a CUDA device at every activation)."""
    if setting not in ("auto", "fused", "native"):
        raise ValueError(f"prelu_backward: expected 'auto', 'fused' or 'native', got {setting!r}")
    return setting == "fused" or (setting == "auto" and device.type == "cpu")


def set_prelu_backward(model: nn.Module, fused: bool) -> nn.Module:
    """Compute the backward pass of every :class:`dicmini.models.prelu.PReLU` in ``model`` fused (``fused``)
    or as PyTorch does. In place."""
    from ..models.prelu import PReLU

    for module in model.modules():
        if isinstance(module, PReLU):
            module.fused_backward = fused
    return model


def to_memory_format(module: nn.Module, channels_last: bool) -> nn.Module:
    """Convert the 4-D parameters and buffers of ``module`` to channels-last (NHWC) storage in place."""
    if channels_last:
        module.to(memory_format=torch.channels_last)
    return module


def as_input(tensor: Tensor, device: torch.device, channels_last: bool) -> Tensor:
    """Move a batch tensor to ``device``; 4-D image tensors become channels-last when ``channels_last``."""
    if channels_last and tensor.dim() == 4:
        return tensor.to(device, non_blocking=True, memory_format=torch.channels_last)
    return tensor.to(device, non_blocking=True)


def compile_submodules(model: nn.Module, names: Iterable[str] = DICNET_COMPILED) -> list[str]:
    """``torch.compile`` the named submodules of ``model`` in place (``nn.Module.compile``: the state dict keeps
    its names). Returns the names compiled; a submodule that is missing is skipped."""
    done = []
    for name in names:
        sub = getattr(model, name, None)
        if isinstance(sub, nn.Module):
            sub.compile()
            done.append(name)
    return done


def make_adam(params: Iterable[nn.Parameter], device: torch.device, **kwargs: Any) -> torch.optim.Adam:
    """``torch.optim.Adam`` with the fused CUDA kernel on CUDA (one launch for all parameters), the default
    implementation elsewhere. Same update rule; the fused kernel rounds differently (~1 ulp)."""
    if device.type == "cuda":
        try:
            return torch.optim.Adam(params, fused=True, **kwargs)
        except (RuntimeError, TypeError) as error:  # pragma: no cover - old PyTorch or unsupported dtype
            warnings.warn(f"fused Adam unavailable ({error}); using the default implementation", stacklevel=2)
    return torch.optim.Adam(params, **kwargs)


def host_values(values: Mapping[str, Tensor | float]) -> dict[str, float]:
    """The values as Python floats, with one host synchronisation for all the tensors among them."""
    keys = [k for k, v in values.items() if isinstance(v, Tensor)]
    floats = torch.stack([values[k].detach().double().reshape(()) for k in keys]).tolist() if keys else []
    out = {k: float(v) for k, v in values.items() if not isinstance(v, Tensor)}
    out.update(zip(keys, floats))
    return {k: out[k] for k in values}


def all_finite_values(values: Mapping[str, Tensor | float]) -> Tensor:
    """0-d bool tensor: every value finite (stays on the device; no synchronisation)."""
    tensors = [v.detach().reshape(()).double() if isinstance(v, Tensor) else torch.tensor(float(v), dtype=torch.float64)
               for v in values.values()]
    device = next((t.device for t in tensors if t.device.type != "cpu"), torch.device("cpu"))
    return torch.isfinite(torch.stack([t.to(device) for t in tensors])).all()
