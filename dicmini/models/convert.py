"""State-dict layouts, checkpoint conversion and loading for DICNet (and LightCNN keys).

Three layouts exist for the same DICNet weights (docs/reference_implementations.md, State-dict layout and
Loading published checkpoints):

* **dicmini** (this package): paper-concept names at the top level.
* **MMagic / MMEditing**: the published checkpoints ``dic_x8c48b6_g4_150k_CelebAHQ_20210611-5d3439ca.pth`` and
  ``dic_gan_x8c48b6_g4_500k_CelebAHQ_20210625-3b89a358.pth`` (mmcv dicts, weights under ``state_dict`` with a
  ``generator.`` prefix).
* **official** (Maclory/Deep-Iterative-Collaboration): ``DIC_CelebA.pth`` & co., raw state dicts or training
  dicts (``state_dict`` / ``model`` / ``netG``), and ``FB_HG_68_CelebA.pth`` (the pretrained feedback hourglass).

dicmini <-> MMagic rename table (everything not listed keeps its MMagic name)::

    top level                                   inside coarse_block / attention_block
    lr_feature          <-> conv_first          compress_in   <-> conv_first
    coarse_block        <-> first_block         compress_out  <-> conv_last
    attention_block     <-> block               fusion        <-> fusion_block
    landmark_estimator  <-> hour_glass
    reconstruction      <-> conv_last

official -> MMagic rules (all 296 DICNet keys)::

    conv_in.* -> conv_first.*          out.{0,1}.* -> conv_last.{0,1}.*      conv_out.0.* -> conv_last.2.*
    first_block|block: compress_in -> conv_first, compress_out -> conv_last, upBlocks -> up_blocks,
        downBlocks -> down_blocks, uptranBlocks -> lr_blocks, downtranBlocks -> hr_blocks,
        fusion_block.conv_in -> fusion_block.conv_first, fusion_block.resnet -> fusion_block.body
    HG.* -> hour_glass.*, and inside the hourglass: compress_in -> first_conv,
        hg.res{n}_1 / _2 / _3 -> hg.(low2.)^(4-n){up1 / low1 / low3},  hg.res_center -> hg.low2.low2.low2.low2,
        hg_conv_out.0 -> last.0,  hg_conv_out.1.conv_block.0 -> last.1,  hg_conv_out.2 -> last.3

LightCNN (DICGAN discriminator / feature network): the dicmini layout *is* the MMagic layout; the official
grouped layout is converted by :func:`dicmini.models.lightcnn.lightcnn_from_official`.

A **dicmini checkpoint** is a ``torch.save``-d dict::

    {"format": "dicmini", "version": 1, "kind": "dicnet", "config": {...DICNet kwargs...},
     "model": <dicmini state dict>, ...any extra entries (step, optimizer state, metrics...)}

written by :func:`save_dicmini_checkpoint`. Every file is read with ``torch.load(weights_only=True,
map_location="cpu")``: a checkpoint can never run code on load.
"""

from __future__ import annotations

import inspect
import os
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from ..utils import atomic_write
from .dic import DICNet
from .weights import CheckpointError, check_finite, load_state_dict_strict, preview_keys, read_checkpoint
from .hourglass import HOURGLASS_DEPTH, FeedbackHourglass

StateDict = dict[str, Tensor]

DICMINI_FORMAT = "dicmini"
DICMINI_CHECKPOINT_VERSION = 1
#: Packaged weights known to :func:`load_pretrained` by name, each made by the named training config of the same
#: name: ``tiny`` (synthetic faces; the course's model) and ``tiny-real`` (``tiny`` fine-tuned for real photos).
ASSETS_DIR = Path(__file__).resolve().parents[1] / "assets"
PRETRAINED_NAMES: dict[str, Path] = {"tiny": ASSETS_DIR / "dic_tiny.pt", "tiny-real": ASSETS_DIR / "dic_tiny_real.pt"}

#: dicmini top-level module -> MMagic name.
DICMINI_TO_MMAGIC_TOP: dict[str, str] = {
    "lr_feature": "conv_first",
    "coarse_block": "first_block",
    "attention_block": "block",
    "landmark_estimator": "hour_glass",
    "reconstruction": "conv_last",
}
#: dicmini name -> MMagic name of the direct children of the two feedback blocks.
DICMINI_TO_MMAGIC_BLOCK: dict[str, str] = {"compress_in": "conv_first", "compress_out": "conv_last",
                                           "fusion": "fusion_block"}
MMAGIC_TO_DICMINI_TOP = {v: k for k, v in DICMINI_TO_MMAGIC_TOP.items()}
MMAGIC_TO_DICMINI_BLOCK = {v: k for k, v in DICMINI_TO_MMAGIC_BLOCK.items()}
_FEEDBACK_BLOCKS_DICMINI = ("coarse_block", "attention_block")
_FEEDBACK_BLOCKS_MMAGIC = ("first_block", "block")

_LIGHTCNN_KEY = re.compile(r"^(features\.\d+\.filter|classifier\.0\.filter|classifier\.2)\.(weight|bias)$")
_LIGHTCNN_TOPS = {"features", "classifier"}
_OFFICIAL_TOPS = {"conv_in", "first_block", "block", "HG", "out", "conv_out"}
_OFFICIAL_HOURGLASS_TOPS = {"pre_conv_block", "compress_in", "hg", "hg_conv_out", "first_conv", "last"}

_OFFICIAL_BLOCK_CHILDREN = {"compress_in": "conv_first", "compress_out": "conv_last", "upBlocks": "up_blocks",
                            "downBlocks": "down_blocks", "uptranBlocks": "lr_blocks", "downtranBlocks": "hr_blocks"}
_OFFICIAL_FUSION_CHILDREN = {"conv_in": "conv_first", "resnet": "body"}
_OFFICIAL_HG_LEVEL = re.compile(r"^hg\.res(\d+)_([123])\.(.+)$")
_OFFICIAL_HG_BRANCH = {"1": "up1", "2": "low1", "3": "low3"}


# -- key renaming ----------------------------------------------------------------------------------------

def _split(key: str) -> tuple[str, str]:
    head, _, rest = key.partition(".")
    return head, rest


def _rename_block_child(rest: str, table: Mapping[str, str]) -> str:
    child, tail = _split(rest)
    return f"{table.get(child, child)}.{tail}" if tail else table.get(child, child)


def _rename_key(key: str, top_table: Mapping[str, str], blocks: tuple[str, ...],
                block_table: Mapping[str, str]) -> str | None:
    top, rest = _split(key)
    if top not in top_table or not rest:
        return None
    if top in blocks:
        rest = _rename_block_child(rest, block_table)
    return f"{top_table[top]}.{rest}"


def mmagic_key_to_dicmini(key: str) -> str | None:
    """MMagic DICNet key -> dicmini key, or ``None`` when the top-level module is not a DICNet one."""
    return _rename_key(key, MMAGIC_TO_DICMINI_TOP, _FEEDBACK_BLOCKS_MMAGIC, MMAGIC_TO_DICMINI_BLOCK)


def dicmini_key_to_mmagic(key: str) -> str | None:
    """dicmini DICNet key -> MMagic key, or ``None`` when the top-level module is not a DICNet one."""
    return _rename_key(key, DICMINI_TO_MMAGIC_TOP, _FEEDBACK_BLOCKS_DICMINI, DICMINI_TO_MMAGIC_BLOCK)


def official_hourglass_key_to_mmagic(key: str) -> str:
    """Official ``FeedbackHourGlass`` key (no ``HG.`` prefix) -> MMagic/dicmini ``FeedbackHourglass`` key.

    Keys already in the MMagic layout come back unchanged, so both layouts are accepted.
    """
    top, rest = _split(key)
    if top == "compress_in":
        return f"first_conv.{rest}"
    if top == "hg_conv_out":
        index, tail = _split(rest)
        if index == "0":
            return f"last.0.{tail}"
        if index == "1" and tail.startswith("conv_block.0."):
            return "last.1." + tail[len("conv_block.0."):]
        if index == "2":
            return f"last.3.{tail}"
        return key
    if key.startswith("hg.res_center."):
        return "hg." + "low2." * HOURGLASS_DEPTH + key[len("hg.res_center."):]
    match = _OFFICIAL_HG_LEVEL.match(key)
    if match:
        level, branch, tail = int(match.group(1)), match.group(2), match.group(3)
        return "hg." + "low2." * (HOURGLASS_DEPTH - level) + f"{_OFFICIAL_HG_BRANCH[branch]}.{tail}"
    return key


def official_key_to_mmagic(key: str) -> str | None:
    """Official DIC key -> MMagic DICNet key (rules in the module docstring), or ``None`` if no rule applies."""
    top, rest = _split(key)
    if not rest:
        return None
    if top == "conv_in":
        return f"conv_first.{rest}"
    if top == "out":
        return f"conv_last.{rest}"
    if top == "conv_out":
        index, tail = _split(rest)
        return f"conv_last.2.{tail}" if index == "0" else None
    if top == "HG":
        return "hour_glass." + official_hourglass_key_to_mmagic(rest)
    if top in _FEEDBACK_BLOCKS_MMAGIC:
        child, tail = _split(rest)
        if child == "fusion_block":
            return f"{top}.fusion_block." + _rename_block_child(tail, _OFFICIAL_FUSION_CHILDREN)
        return f"{top}.{_rename_block_child(rest, _OFFICIAL_BLOCK_CHILDREN)}"
    return None


def _rename_all(state_dict: Mapping[str, Tensor], rename: Callable[[str], str | None], what: str,
                strict: bool) -> StateDict:
    out: StateDict = {}
    unknown: list[str] = []
    for key, value in state_dict.items():
        new = rename(key)
        if new is None:
            unknown.append(key)
            new = key
        if new in out:
            raise CheckpointError(f"{what}: two keys map to {new!r}")
        out[new] = value
    if strict and unknown:
        raise CheckpointError(f"{what}: {len(unknown)} key(s) match no rule: {preview_keys(unknown)}")
    return out


def _is_lightcnn(state_dict: Mapping[str, Tensor]) -> bool:
    return bool(state_dict) and {_split(k)[0] for k in state_dict} <= _LIGHTCNN_TOPS


def _check_lightcnn_keys(state_dict: Mapping[str, Tensor], what: str) -> StateDict:
    bad = [k for k in state_dict if not _LIGHTCNN_KEY.match(k)]
    if bad:
        raise CheckpointError(f"{what}: not LightCNN keys in the MMagic/dicmini layout: {preview_keys(bad)}")
    return dict(state_dict)


def from_mmagic(state_dict: Mapping[str, Tensor], *, strict: bool = True) -> StateDict:
    """MMagic layout -> dicmini layout, for DICNet or LightCNN state dicts (LightCNN: identity + validation).

    Order is preserved. With ``strict`` a key that matches no rule raises :class:`CheckpointError`;
    otherwise it is passed through unchanged (a strict ``load_state_dict`` then reports it).
    """
    if _is_lightcnn(state_dict):
        return _check_lightcnn_keys(state_dict, "from_mmagic") if strict else dict(state_dict)
    return _rename_all(state_dict, mmagic_key_to_dicmini, "from_mmagic (MMagic DICNet keys expected)", strict)


def to_mmagic(state_dict: Mapping[str, Tensor], *, strict: bool = True) -> StateDict:
    """dicmini layout -> MMagic layout (inverse of :func:`from_mmagic`). Order is preserved, so
    ``to_mmagic(DICNet().state_dict())`` lists the keys exactly as MMagic's ``DICNet(3, 3, 48)`` does.

    A ``fusion="concat"`` model converts to names MMagic's DICNet does not have (no reference counterpart).
    """
    if _is_lightcnn(state_dict):
        return _check_lightcnn_keys(state_dict, "to_mmagic") if strict else dict(state_dict)
    return _rename_all(state_dict, dicmini_key_to_mmagic, "to_mmagic (dicmini DICNet keys expected)", strict)


def from_official(state_dict: Mapping[str, Tensor], *, kind: str = "auto", strict: bool = True) -> StateDict:
    """Official-repo layout -> dicmini layout.

    ``kind``: ``"dicnet"`` (``DIC_*.pth`` / ``DICGAN_*.pth`` generator), ``"hourglass"``
    (``FB_HG_68_CelebA.pth``: :class:`~dicmini.models.hourglass.FeedbackHourglass` keys), ``"lightcnn"``
    (``network_9layers`` / ``LightCNN_feature.pth``) or ``"auto"`` (decided from the top-level names).
    """
    if kind == "auto":
        tops = {_split(k)[0] for k in state_dict}
        if tops and tops <= _LIGHTCNN_TOPS:
            kind = "lightcnn"
        elif tops and tops <= _OFFICIAL_HOURGLASS_TOPS:
            kind = "hourglass"
        else:
            kind = "dicnet"
    if kind == "lightcnn":
        from .lightcnn import lightcnn_from_official

        converted = lightcnn_from_official(state_dict)
        return _check_lightcnn_keys(converted, "from_official (LightCNN)") if strict else converted
    if kind == "hourglass":
        return {official_hourglass_key_to_mmagic(k): v for k, v in state_dict.items()}
    if kind == "dicnet":
        mmagic = _rename_all(state_dict, official_key_to_mmagic, "from_official (official DIC keys expected)", strict)
        return from_mmagic(mmagic, strict=strict)
    raise ValueError(f"kind must be 'auto', 'dicnet', 'hourglass' or 'lightcnn', got {kind!r}")


# -- reading files ---------------------------------------------------------------------------------------

def _strip_prefix(state_dict: Mapping[str, Any], prefix: str) -> dict[str, Any]:
    return {(k[len(prefix):] if k.startswith(prefix) else k): v for k, v in state_dict.items()}


def _unwrap_state_dict(obj: Any, source: str) -> dict[str, Any]:
    """The generator's state dict inside a checkpoint: ``state_dict`` (mmcv, official), ``netG`` (official GAN),
    ``model`` (generic) or the object itself; ``module.`` and mmcv ``generator.`` prefixes removed."""
    if not isinstance(obj, Mapping):
        raise CheckpointError(f"{source}: expected a state dict or a checkpoint dict, got {type(obj).__name__}")
    for wrapper in ("state_dict", "netG", "model"):
        if isinstance(obj.get(wrapper), Mapping):
            obj = obj[wrapper]
            break
    else:
        if "netD" in obj:
            raise CheckpointError(f"{source}: holds only a discriminator ('netD'), not a DICNet generator")
    sd = _strip_prefix(obj, "module.")
    generator = [k for k in sd if k.startswith("generator.")]
    if generator:
        return _strip_prefix({k: sd[k] for k in generator}, "generator.")
    tops = {_split(k)[0] for k in sd}
    if tops & {"discriminator", "feature_loss"}:
        raise CheckpointError(f"{source}: holds no 'generator.*' weights, only discriminator / feature-loss "
                              "networks (LightCNN), not a DICNet")
    return dict(sd)


def _detect_layout(state_dict: Mapping[str, Any], source: str) -> str:
    """'dicmini', 'mmagic' or 'official' for a DICNet state dict; clear errors for other networks."""
    tops = {_split(k)[0] for k in state_dict}
    if not tops:
        raise CheckpointError(f"{source}: the state dict is empty")
    if tops <= _LIGHTCNN_TOPS:
        raise CheckpointError(f"{source}: this is a LightCNN (DICGAN discriminator / feature-loss) checkpoint, "
                              "not a DICNet; load it with dicmini.models.LightCNN / LightCNNFeature")
    if tops <= _OFFICIAL_HOURGLASS_TOPS:
        raise CheckpointError(f"{source}: this is a feedback-hourglass checkpoint (e.g. FB_HG_68_CelebA.pth), "
                              "not a DICNet; load it with dicmini.models.load_official_hourglass")
    block_children = {_split(_split(k)[1])[0] for k in state_dict if _split(k)[0] in _FEEDBACK_BLOCKS_MMAGIC}
    found = []
    if tops & set(DICMINI_TO_MMAGIC_TOP):
        found.append("dicmini")
    if tops & {"conv_first", "hour_glass", "conv_last"} or block_children & {"conv_first", "up_blocks"}:
        found.append("mmagic")
    if tops & {"conv_in", "HG", "out", "conv_out"} or block_children & {"compress_in", "upBlocks"}:
        found.append("official")
    if len(found) != 1:
        raise CheckpointError(f"{source}: unrecognised DICNet key layout (looks like {found or 'none'} of "
                              f"dicmini/MMagic/official); first keys: {preview_keys(list(state_dict), 5)}")
    return found[0]


def to_dicmini_state_dict(obj: Any, source: str = "checkpoint") -> StateDict:
    """Any supported DICNet checkpoint object (already read) -> dicmini state dict.

    Accepts a dicmini checkpoint, an mmcv/MMagic checkpoint (``state_dict`` with ``generator.*``; other
    entries such as ``img_denormalize.*``, ``step_counter``, ``discriminator.*``, ``feature_loss.*``,
    ``meta`` and ``optimizer`` are ignored), an official checkpoint (raw or under ``state_dict`` / ``model``
    / ``netG``, ``module.`` prefixes allowed) or a raw MMagic / dicmini state dict. Keys matching no
    rule are passed through, for a strict load to report.
    """
    if isinstance(obj, Mapping) and obj.get("format") == DICMINI_FORMAT:
        _check_dicmini_kind(obj, source)
        check_finite(obj["model"], source)
        return dict(obj["model"])
    sd = _unwrap_state_dict(obj, source)
    non_tensors = [k for k, v in sd.items() if not isinstance(v, Tensor)]
    if non_tensors:
        raise CheckpointError(f"{source}: not a state dict (non-tensor entries: {preview_keys(non_tensors)})")
    check_finite(sd, source)
    layout = _detect_layout(sd, source)
    if layout == "mmagic":
        return from_mmagic(sd, strict=False)
    if layout == "official":
        return from_official(sd, kind="dicnet", strict=False)
    return sd


def _check_dicmini_kind(ckpt: Mapping[str, Any], source: str) -> None:
    if ckpt.get("kind") != "dicnet":
        raise CheckpointError(f"{source}: a dicmini {ckpt.get('kind')!r} checkpoint, not a DICNet ('dicnet')")
    if not isinstance(ckpt.get("model"), Mapping) or not isinstance(ckpt.get("config"), Mapping):
        raise CheckpointError(f"{source}: dicmini checkpoint without a 'model' state dict or a 'config' dict")


# -- building and loading models -------------------------------------------------------------------------

def infer_dicnet_config(state_dict: Mapping[str, Tensor]) -> dict[str, Any]:
    """The architecture arguments of :class:`DICNet` that a dicmini-layout state dict determines.

    ``mid_channels``, ``num_blocks``, ``upscale_factor`` (projection kernel − 4), ``hg_mid_channels``,
    ``hg_num_keypoints``, ``num_fusion_blocks``, ``fusion``. Entries whose keys are absent are left
    out (the defaults apply; a strict load then reports the mismatch). ``num_steps``,
    ``detach_attention`` and ``prelu_init`` are not stored in weights.
    """
    config: dict[str, Any] = {}
    first = state_dict.get("coarse_block.compress_in.0.weight")
    if first is not None:
        config["mid_channels"] = first.shape[0]
    num_blocks = sum(1 for k in state_dict if re.fullmatch(r"coarse_block\.up_blocks\.\d+\.0\.weight", k))
    if num_blocks:
        config["num_blocks"] = num_blocks
    up = state_dict.get("coarse_block.up_blocks.0.0.weight")
    if up is not None:
        config["upscale_factor"] = up.shape[-1] - 4
    hg_in = state_dict.get("landmark_estimator.first_conv.weight")
    if hg_in is not None:
        config["hg_mid_channels"] = hg_in.shape[0] // 2
    heat = state_dict.get("landmark_estimator.last.3.weight")
    if heat is not None:
        config["hg_num_keypoints"] = heat.shape[0]
    if "attention_block.fusion.conv_first.0.weight" in state_dict:
        config["fusion"] = "attention"
        config["num_fusion_blocks"] = sum(
            1 for k in state_dict if re.fullmatch(r"attention_block\.fusion\.body\.\d+\.res\.0\.weight", k))
    elif "attention_block.fusion.body.0.weight" in state_dict:
        config["fusion"] = "concat"
    return config


def load_pretrained(path_or_name: str | os.PathLike | Mapping[str, Any], *, strict: bool = True,
                    **overrides: Any) -> DICNet:
    """Build a :class:`DICNet` from a checkpoint and return it in eval mode.

    ``path_or_name``: a packaged name (``"tiny"`` -> ``dicmini/assets/dic_tiny.pt``), a file path, or an
    already-loaded checkpoint dict. Recognised contents: a dicmini checkpoint (its ``config`` is used);
    a published MMagic/MMEditing checkpoint; an official DIC/DICGAN checkpoint; a raw MMagic, official or
    dicmini DICNet state dict (see :func:`to_dicmini_state_dict`). Without a stored config the
    architecture is inferred from the weights (:func:`infer_dicnet_config`). ``overrides`` are
    :class:`DICNet` keyword arguments applied on top (e.g. ``num_steps=2``, ``gradient_checkpointing=True``).
    Loading is strict unless ``strict=False``.
    """
    if isinstance(path_or_name, Mapping):
        obj, source = path_or_name, "the given checkpoint dict"
    else:
        name = os.fspath(path_or_name)
        if name in PRETRAINED_NAMES:
            path = PRETRAINED_NAMES[name]
            if not path.is_file():
                raise FileNotFoundError(
                    f"packaged weights {name!r} not found: expected {path}. Train a model with the "
                    f"corresponding config and write it there with "
                    f"dicmini.models.save_dicmini_checkpoint({str(path)!r}, model)")
        else:
            path = Path(name)
        obj, source = read_checkpoint(path), str(path)
    if isinstance(obj, Mapping) and obj.get("format") == DICMINI_FORMAT:
        _check_dicmini_kind(obj, source)
        config = dict(obj["config"])
    else:
        config = {}
    state_dict = to_dicmini_state_dict(obj, source)
    if not config:
        config = infer_dicnet_config(state_dict)
    config.update(overrides)
    unknown = sorted(set(config) - set(inspect.signature(DICNet).parameters))
    if unknown:
        raise CheckpointError(f"{source}: the stored config has unknown DICNet argument(s) {unknown}")
    try:
        model = DICNet(**config)  # the arguments, sizes included, are checked before anything is allocated
    except (TypeError, ValueError) as err:
        raise CheckpointError(f"{source}: the stored config cannot build a DICNet: {err}") from None
    load_state_dict_strict(model, state_dict, source, strict=strict)
    return model.eval()


def save_dicmini_checkpoint(path: str | os.PathLike, model: nn.Module, *, kind: str | None = None,
                            **extra: Any) -> Path:
    """Write a dicmini checkpoint atomically (a killed run never leaves a half-written file).

    ``model`` must have a ``config`` dict of its constructor arguments (:class:`DICNet` does); ``kind``
    defaults to ``"dicnet"`` for a DICNet. ``extra`` entries (step, optimizer state, metrics, ...) are
    stored beside the weights; they must be ``weights_only``-loadable (tensors, containers, numbers, str).
    """
    config = getattr(model, "config", None)
    if not isinstance(config, Mapping):
        raise TypeError(f"{type(model).__name__} has no 'config' dict of constructor arguments")
    if kind is None:
        kind = "dicnet" if isinstance(model, DICNet) else type(model).__name__.lower()
    reserved = {"format", "version", "kind", "config", "model"} & set(extra)
    if reserved:
        raise ValueError(f"extra entries may not override {sorted(reserved)}")
    payload = {"format": DICMINI_FORMAT, "version": DICMINI_CHECKPOINT_VERSION, "kind": kind,
               "config": dict(config), "model": model.state_dict(), **extra}
    return atomic_write(path, lambda tmp: torch.save(payload, tmp))


def load_official_hourglass(path_or_state_dict: str | os.PathLike | Mapping[str, Any],
                            module: FeedbackHourglass | DICNet, *, strict: bool = True) -> FeedbackHourglass:
    """Load the official pretrained feedback hourglass (``FB_HG_68_CelebA.pth``) into ``module``.

    ``module`` is a :class:`~dicmini.models.hourglass.FeedbackHourglass` or a :class:`DICNet` (then its
    ``landmark_estimator``). Accepts the raw official ``FeedbackHourGlass`` state dict (official DIC keys
    without ``HG.``), a full official DIC checkpoint (its ``HG.*`` part is used), or MMagic/dicmini
    hourglass keys. Strict by default: the official code loaded this file with ``strict=False``, which
    silently leaves mismatched weights random. Returns the hourglass module.
    """
    target = module.landmark_estimator if isinstance(module, DICNet) else module
    if isinstance(path_or_state_dict, Mapping):
        obj, source = path_or_state_dict, "the given state dict"
    else:
        obj, source = read_checkpoint(path_or_state_dict), str(path_or_state_dict)
    if not isinstance(obj, Mapping):
        raise CheckpointError(f"{source}: expected a state dict, got {type(obj).__name__}")
    for wrapper in ("state_dict", "model", "netG"):
        if isinstance(obj.get(wrapper), Mapping):
            obj = obj[wrapper]
            break
    sd = _strip_prefix(obj, "module.")
    for prefix in ("HG.", "hour_glass.", "landmark_estimator."):
        if any(k.startswith(prefix) for k in sd):
            sd = {k[len(prefix):]: v for k, v in sd.items() if k.startswith(prefix)}
            break
    if _is_lightcnn(sd):
        raise CheckpointError(f"{source}: this is a LightCNN checkpoint, not a feedback hourglass")
    converted = from_official(sd, kind="hourglass")
    check_finite(converted, source)
    load_state_dict_strict(target, converted, source, strict=strict)
    return target
