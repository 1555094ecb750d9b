"""Evaluation of a DICNet (or a pre-trained landmark branch) on a face dataset
(docs/reference_implementations.md, Evaluation protocols).

Per recurrent step: mean PSNR and SSIM under a named protocol (:data:`dicmini.metrics.PROTOCOLS`; crop 8)
and the landmark NME of the step's predicted heatmaps (coordinates by soft-argmax,
:func:`dicmini.data.landmarks.heatmaps_to_landmarks`; normalised by the outer-eye-corner distance). The
bicubic baseline (PIL bicubic x8 of the LR input) is measured under the same protocol. The SR images enter
the metrics as the float images ``denormalize(sr)`` and the GT as uint8, as both references do; each
protocol then applies its own rounding. Optionally (``with_lpips``), LPIPS v0.1 (VGG; Zhang et al., CVPR 2018;
:func:`dicmini.metrics.lpips`) of every step and of bicubic, on the whole image, when the pretrained weights are
fetched.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset
from tqdm.auto import tqdm

from ..data.datasets import collate
from ..data.degrade import bicubic_upsample, denormalize, normalize, to_uint8
from ..data.landmarks import heatmaps_to_landmarks
from ..metrics import PROTOCOLS, lpips, nme, psnr, ssim
from ..models.test_time import run_model
from ..models.hourglass import run_hourglass


@dataclass
class EvalResult:
    """Per-step metrics of one evaluation; lists have one entry per recurrent step."""

    protocol: str
    num_images: int
    crop_border: int
    psnr: list[float] = field(default_factory=list)
    ssim: list[float] = field(default_factory=list)
    nme: list[float] = field(default_factory=list)
    bicubic_psnr: float | None = None
    bicubic_ssim: float | None = None
    #: mean dlib face-descriptor distance of the last step's SR (and of bicubic) to the HR face, when the
    #: ``dicmini[faces]`` extra is installed and asked for; same person is typically < 0.6
    identity: float | None = None
    bicubic_identity: float | None = None
    #: LPIPS v0.1 (VGG) per step and of bicubic (lower is better), when asked for and the weights are present
    lpips: list[float] = field(default_factory=list)
    bicubic_lpips: float | None = None
    #: why LPIPS is missing (weights not fetched) and the command that fetches them
    lpips_missing: str | None = None
    #: the images are the flip ensemble's (:mod:`dicmini.models.flip_ensemble`), not a single pass's
    flip: bool = False
    #: every image was made consistent with its input (:mod:`dicmini.models.consistency`)
    consistent: bool = False

    @property
    def last_psnr(self) -> float:
        return self.psnr[-1] if self.psnr else float("nan")

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["protocol_description"] = PROTOCOLS[self.protocol]
        return out

    def rows(self) -> list[tuple[str, ...]]:
        """Table rows ``(row, PSNR, SSIM, NME)``, or ``(row, PSNR, SSIM, LPIPS, NME)`` when LPIPS was measured; the
        protocol is named in the table's column headers."""
        rows: list[tuple[str, ...]] = []
        with_lpips = bool(self.lpips)
        if self.bicubic_psnr is not None:
            lp = (f"{self.bicubic_lpips:.4f}",) if with_lpips else ()
            rows.append(("bicubic", f"{self.bicubic_psnr:.4f}", f"{self.bicubic_ssim:.4f}", *lp, "-"))
        steps = max(len(self.psnr), len(self.nme))
        for t in range(steps):
            p = f"{self.psnr[t]:.4f}" if t < len(self.psnr) else "-"
            s = f"{self.ssim[t]:.4f}" if t < len(self.ssim) else "-"
            lp = (f"{self.lpips[t]:.4f}" if t < len(self.lpips) else "-",) if with_lpips else ()
            n = f"{self.nme[t]:.4f}" if t < len(self.nme) else "-"
            rows.append((f"step {t + 1}", p, s, *lp, n))
        return rows

    def markdown(self) -> str:
        """A markdown table under one short line (images, protocol, crop); the protocol tags the PSNR and SSIM
        columns. The protocol's full description is in :data:`dicmini.metrics.PROTOCOLS` and :meth:`to_dict`.
        LPIPS (v0.1 VGG, whole image, lower is better; :func:`dicmini.metrics.lpips`) is a column when measured."""
        tag = f"[{self.protocol}]"
        lines = [f"{self.num_images} images; PSNR/SSIM protocol `{self.protocol}`, crop {self.crop_border}; "
                 "NME = landmark error / outer-eye-corner distance"
                 + ("; images: flip ensemble (mean of the face's and its mirror image's answers)" if self.flip else "")
                 + ("; images: made consistent with the input (their bicubic x1/8 is the LR face)"
                    if self.consistent else ""),
                 "",
                 f"| | PSNR (dB) {tag} | SSIM {tag} |" + (" LPIPS |" if self.lpips else "") + " NME |",
                 "|---|---|---|---|" + ("---|" if self.lpips else "")]
        lines += ["| " + " | ".join(row) + " |" for row in self.rows()]
        if self.identity is not None:
            lines += ["", f"identity distance (dlib face descriptor, SR of the last step vs HR; same person "
                          f"< 0.6): {self.identity:.4f}; bicubic: {self.bicubic_identity:.4f}"]
        if self.lpips_missing:
            lines += ["", f"LPIPS not measured: {self.lpips_missing}"]
        return "\n".join(lines)


def _loader(dataset: Dataset, batch_size: int, limit: int | None) -> DataLoader:
    n = len(dataset) if not limit else min(limit, len(dataset))
    indices = list(range(n))
    return DataLoader(torch.utils.data.Subset(dataset, indices), batch_size=batch_size, shuffle=False,
                      collate_fn=collate)


@torch.no_grad()
def evaluate(model: nn.Module, dataset: Dataset, *, protocol: str = "mmagic", crop_border: int = 8,
             batch_size: int = 8, device: torch.device | str | None = None, limit: int | None = None,
             bicubic: bool = True, landmarks: bool = True, identity: bool = False,
             with_lpips: bool | None = False, progress: bool = False, flip: bool = False,
             consistent: bool = False) -> EvalResult:
    """Per-step PSNR/SSIM (``protocol``) and NME of a DICNet over ``dataset`` (first ``limit`` samples).

    ``identity=True`` also reports the dlib face-descriptor distance between the last step's SR and the
    HR face (and between bicubic and HR), using the dataset's landmarks for the alignment; it needs the
    ``dicmini[faces]`` extra (:func:`dicmini.identity.identity_available`).

    ``model(lr)`` must return per-step ``sr`` and ``heatmaps`` lists (:class:`~dicmini.models.DICOutput`).
    ``with_lpips``: ``True`` also measures LPIPS (the pretrained weights must be fetched, else
    ``FileNotFoundError`` naming the fetch command), ``None`` measures it when the weights are present and
    otherwise says in ``lpips_missing`` how to fetch them, ``False`` (default; training validation) skips it.

    Runs in eval mode under ``no_grad`` and restores the model's training mode afterwards. ``progress``: a
    progress bar on stderr. ``flip=True`` scores the flip ensemble's images (:mod:`dicmini.models.flip_ensemble`;
    the heatmaps, hence the NME, are the plain pass's). ``consistent=True`` scores every image made consistent with
    its input (:mod:`dicmini.models.consistency`).
    """
    if protocol not in PROTOCOLS:
        raise ValueError(f"protocol: expected one of {sorted(PROTOCOLS)}, got {protocol!r}")
    device = torch.device(device) if device is not None else next(model.parameters()).device
    was_training = model.training
    model.eval()
    sums_p: list[float] = []
    sums_s: list[float] = []
    sums_n: list[float] = []
    bic_p = bic_s = 0.0
    id_sr = id_bic = 0.0
    if identity:
        from ..identity import identity_distance
    lpips_missing = None
    if with_lpips is not False:
        from ..models.lpips import default_lpips
        from ..models.vgg_weights import missing_message, weights_available

        if with_lpips is None and not weights_available():
            with_lpips, lpips_missing = False, missing_message()
        else:
            default_lpips()                       # fails early, naming the fetch command, if the weights are missing
            with_lpips = True
    sums_l: list[float] = []
    bic_l = 0.0
    count = 0
    try:
        for batch in tqdm(_loader(dataset, batch_size, limit), desc="evaluate", unit="batch", disable=not progress,
                          leave=False, dynamic_ncols=True):
            lr = batch["lr"].to(device)
            out = run_model(model, lr, flip=flip, consistent=consistent)
            hr_u8 = to_uint8(denormalize(batch["hr"]))
            if not sums_p:
                steps = len(out.sr)
                sums_p, sums_s, sums_n, sums_l = [0.0] * steps, [0.0] * steps, [0.0] * steps, [0.0] * steps
            for t, sr in enumerate(out.sr):
                sr_f = denormalize(sr.float())
                for i in range(sr_f.shape[0]):
                    sums_p[t] += psnr(sr_f[i], hr_u8[i], crop_border, protocol)
                    sums_s[t] += ssim(sr_f[i], hr_u8[i], crop_border, protocol)
                if with_lpips:
                    sums_l[t] += float(np.sum(lpips(sr_f, hr_u8)))
            if landmarks:
                for t, heat in enumerate(out.heatmaps):
                    pred = heatmaps_to_landmarks(heat.float().cpu(), image_size=hr_u8.shape[1])
                    sums_n[t] += float(np.sum(nme(pred, batch["landmarks"])))
            lr_u8 = to_uint8(denormalize(batch["lr"]))
            for i in range(lr_u8.shape[0]):
                up = bicubic_upsample(lr_u8[i], hr_u8.shape[1] // lr_u8.shape[1])
                if bicubic:
                    bic_p += psnr(up, hr_u8[i], crop_border, protocol)
                    bic_s += ssim(up, hr_u8[i], crop_border, protocol)
                    if with_lpips:
                        bic_l += lpips(up, hr_u8[i])
                if identity:
                    points = batch["landmarks"][i].numpy()
                    id_sr += identity_distance(to_uint8(denormalize(out.sr[-1][i].float())), hr_u8[i], points)
                    id_bic += identity_distance(up, hr_u8[i], points)
            count += hr_u8.shape[0]
    finally:
        model.train(was_training)
    if count == 0:
        raise ValueError("evaluate: the dataset is empty")
    return EvalResult(protocol=protocol, num_images=count, crop_border=crop_border,
                      psnr=[s / count for s in sums_p], ssim=[s / count for s in sums_s],
                      nme=[s / count for s in sums_n] if landmarks else [],
                      bicubic_psnr=bic_p / count if bicubic else None,
                      bicubic_ssim=bic_s / count if bicubic else None,
                      identity=id_sr / count if identity else None,
                      bicubic_identity=id_bic / count if identity else None,
                      lpips=[s / count for s in sums_l] if with_lpips else [],
                      bicubic_lpips=bic_l / count if with_lpips and bicubic else None,
                      lpips_missing=lpips_missing, flip=flip, consistent=consistent)


@torch.no_grad()
def evaluate_hourglass(hourglass: nn.Module, dataset: Dataset, num_steps: int, *, batch_size: int = 8,
                       device: torch.device | str | None = None, limit: int | None = None,
                       images: str = "hr") -> EvalResult:
    """Per-step landmark NME of a feedback hourglass run ``num_steps`` times (hidden state fed back) on each face's
    HR image (``images="hr"``; ``hourglass`` pre-training) or on the PIL-bicubic upsampling of its LR input
    (``images="bicubic"``)."""
    if images not in ("hr", "bicubic"):
        raise ValueError(f"images: expected 'hr' or 'bicubic', got {images!r}")
    device = torch.device(device) if device is not None else next(hourglass.parameters()).device
    was_training = hourglass.training
    hourglass.eval()
    sums = [0.0] * num_steps
    count = 0
    try:
        for batch in _loader(dataset, batch_size, limit):
            x = batch["hr"]
            if images == "bicubic":
                lr_u8 = to_uint8(denormalize(batch["lr"]))
                x = normalize(np.stack([bicubic_upsample(im, x.shape[-1] // lr_u8.shape[1]) for im in lr_u8]))
            x = x.to(device)
            for t, heat in enumerate(run_hourglass(hourglass, x, num_steps)):
                pred = heatmaps_to_landmarks(heat.float().cpu(), image_size=x.shape[-1])
                sums[t] += float(np.sum(nme(pred, batch["landmarks"])))
            count += x.shape[0]
    finally:
        hourglass.train(was_training)
    if count == 0:
        raise ValueError("evaluate_hourglass: the dataset is empty")
    return EvalResult(protocol="mmagic", num_images=count, crop_border=0, nme=[s / count for s in sums])



def learning_curve(records: Iterable[Mapping[str, Any]], bicubic_psnr: float) -> list[dict[str, Any]]:
    """The ``val`` records of a training log (``Trainer.log.read()``) as a per-step learning curve, one point per
    validation: ``it`` (iteration), ``psnr``, ``gain_db`` (PSNR gain over ``bicubic_psnr``: the bicubic PSNR of
    the same validation faces under the same protocol, e.g. :func:`evaluate` of the run's ``val_set``), ``nme``
    (lists with one entry per recurrent step) and ``probe`` (faces); the format of
    ``benchmarks/results/quality_bar_curve.jsonl``, the curve of the shipped tiny checkpoint."""
    return [{"it": int(r["step"]), "psnr": [float(p) for p in r["psnr"]],
             "gain_db": [float(p) - bicubic_psnr for p in r["psnr"]], "nme": [float(n) for n in r["nme"]],
             "probe": int(r.get("num_images", 0))}
            for r in records if r.get("type") == "val"]
