"""Causal experiments on DIC's iterative collaboration (paper §3, Fig. 2; §4.4).

DIC claims two arrows: a better SR image gives better landmarks (image -> landmarks), and better landmarks
give a better SR image through the attentive fusion (landmarks -> image). Correlations along the steps do not
prove either, so each arrow gets an intervention on a fixed set of faces, scored per face and compared
**paired** (the same faces under two conditions; mean difference with its standard error):

* :func:`landmark_probe` -- *image -> landmarks*: an **independent** landmark estimator (trained on HR
  faces only, never on DIC's outputs, e.g. a :class:`~dicmini.models.FeedbackHourglass`) reads the bicubic
  image, every step's SR image and the HR image. If the SR images carry more facial geometry than bicubic,
  its NME falls from bicubic towards HR.
* :func:`guidance_experiment` -- *landmarks -> image*: the recurrent steps are re-run with the attention
  of steps 2..T computed from other heatmaps (:data:`GUIDANCES`) instead of the model's own estimate:
  the model's own heatmaps of another face, this face's ground truth, another face's ground truth, a
  mean-shape template, or none (all-zero maps, i.e. uniform attention over the 5 components). If the
  recovery really uses *this* face's landmarks, ``own`` beats ``other`` and ``truth`` beats ``other_truth``.

Everything runs under ``no_grad`` in eval mode; metrics follow :mod:`dicmini.metrics` (PSNR with a named
protocol, crop 8; NME = mean point error / outer-eye-corner distance, heatmap soft-argmax).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn
from torch.utils.data import Dataset

from .data.degrade import bicubic_upsample, denormalize, normalize, to_uint8
from .data.landmarks import heatmaps_to_landmarks, landmarks_to_heatmaps
from .metrics import PROTOCOLS, nme, psnr
from .models.hourglass import run_hourglass

__all__ = ["GUIDANCES", "Paired", "FaceSet", "collect_faces", "paired", "guidance_heatmaps", "GuidanceResult",
           "guidance_experiment", "TARGETS", "collaboration_targets", "training_sigma", "ProbeResult", "landmark_probe",
           "hourglass_estimator"]

#: Attention sources of :func:`guidance_experiment`, in table order. ``own``/``other`` share the statistics of
#: the model's own heatmaps and ``truth``/``other_truth`` those of ground-truth Gaussians, so each pair isolates
#: *whose* landmarks guide the recovery from *what kind of* heatmap does.
GUIDANCES: tuple[str, ...] = ("own", "other", "truth", "other_truth", "mean", "none")
GUIDANCE_DESCRIPTIONS: dict[str, str] = {
    "own": "the model's own heatmaps of the previous step (DIC as trained)",
    "other": "the model's own last-step heatmaps of another face (face i+1 of the set)",
    "truth": "this face's ground-truth heatmaps",
    "other_truth": "ground-truth heatmaps of another face (face i+1 of the set)",
    "mean": "ground-truth heatmaps of the set's mean landmark shape (a generic face template)",
    "none": "all-zero heatmaps: uniform attention over the 5 components (no landmark prior)",
}

#: The paired last-step PSNR contrasts ``(b, a)`` that answer "does the recovery use *this* face's landmarks?"
CONTRASTS: tuple[tuple[str, str], ...] = (("own", "other"), ("truth", "other_truth"), ("truth", "own"),
                                          ("own", "none"))

#: An estimator maps normalised images ``[B, 3, H, W]`` to landmarks ``[B, 68, 2]`` in pixels of the image.
Estimator = Callable[[Tensor], Tensor]


@dataclass(frozen=True)
class Paired:
    """Paired comparison of two conditions on the same faces: statistics of ``b - a`` per face."""

    mean: float      #: mean of ``b - a``
    std_err: float   #: its standard error, ``std(b - a, ddof=1) / sqrt(n)`` (nan for one face)
    frac_b_greater: float  #: fraction of faces with ``b > a``
    n: int

    def __str__(self) -> str:
        return f"{self.mean:+.3f} ± {self.std_err:.3f} (b > a on {100 * self.frac_b_greater:.0f} % of {self.n})"


def paired(a: Sequence[float] | np.ndarray, b: Sequence[float] | np.ndarray) -> Paired:
    """Mean difference ``b - a`` over paired samples, its standard error and the fraction with ``b > a``."""
    a_arr, b_arr = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a_arr.shape != b_arr.shape or a_arr.ndim != 1 or a_arr.size == 0:
        raise ValueError(f"paired: expected two 1-D sequences of the same positive length, got shapes "
                         f"{a_arr.shape} and {b_arr.shape}")
    d = b_arr - a_arr
    se = float(d.std(ddof=1) / np.sqrt(d.size)) if d.size > 1 else float("nan")
    return Paired(float(d.mean()), se, float((d > 0).mean()), int(d.size))


@dataclass
class FaceSet:
    """A fixed evaluation set held in memory: normalised LR ``[N, 3, h, w]``, uint8 HR ``[N, H, W, 3]``,
    ground-truth landmarks ``[N, 68, 2]`` (pixels of the HR image) and the sample names."""

    lr: Tensor
    hr: np.ndarray
    landmarks: Tensor
    names: list[str]

    def __len__(self) -> int:
        return int(self.lr.shape[0])

    @property
    def hr_size(self) -> int:
        return int(self.hr.shape[1])


def collect_faces(dataset: Dataset, limit: int | None = None) -> FaceSet:
    """Read the first ``limit`` samples (all when ``None``) of a dicmini face dataset into a :class:`FaceSet`."""
    n = len(dataset) if limit is None else min(int(limit), len(dataset))
    if n < 2:
        raise ValueError(f"collect_faces: need at least 2 faces (another face's landmarks are one condition), got {n}")
    samples = [dataset[i] for i in range(n)]
    lr = torch.stack([torch.as_tensor(s["lr"]) for s in samples])
    hr = to_uint8(denormalize(torch.stack([torch.as_tensor(s["hr"]) for s in samples])))
    landmarks = torch.stack([torch.as_tensor(s["landmarks"], dtype=torch.float32) for s in samples])
    return FaceSet(lr=lr, hr=hr, landmarks=landmarks, names=[str(s["name"]) for s in samples])


def guidance_heatmaps(mode: str, index: Tensor, faces: FaceSet, grid: int,
                      own_last: Tensor | None = None, sigma: float = 1.0) -> Tensor | None:
    """The heatmaps ``[B, 68, grid, grid]`` that guide steps 2..T under ``mode`` for the faces ``index`` of
    ``faces``; ``None`` for ``"own"`` (the model's own estimate). ``"other"`` needs ``own_last``, the model's
    own last-step heatmaps ``[N, 68, grid, grid]`` of every face of the set. Ground-truth and template maps are
    Gaussians of ``sigma`` heatmap pixels (use the model's training sigma)."""
    other = (index + 1) % len(faces)
    if mode == "own":
        return None
    if mode == "other":
        if own_last is None:
            raise ValueError("guidance 'other' needs own_last, the model's own heatmaps of every face")
        return own_last[other]
    if mode == "none":
        return torch.zeros(len(index), faces.landmarks.shape[1], grid, grid)
    if mode == "truth":
        points = faces.landmarks[index]
    elif mode == "other_truth":
        points = faces.landmarks[other]
    elif mode == "mean":
        points = faces.landmarks.mean(dim=0, keepdim=True).expand(len(index), -1, -1)
    else:
        raise ValueError(f"guidance mode: expected one of {GUIDANCES}, got {mode!r}")
    return landmarks_to_heatmaps(points, image_size=faces.hr_size, heatmap_size=grid, sigma=sigma)


def _landmark_nme(heatmaps: Tensor, truth: Tensor, image_size: int) -> np.ndarray:
    pred = heatmaps_to_landmarks(heatmaps.float().cpu(), image_size=image_size)
    return np.atleast_1d(nme(pred, truth))


@dataclass
class GuidanceResult:
    """Per-face metrics of :func:`guidance_experiment`: ``psnr[mode]`` and ``nme[mode]`` are ``[T, N]``
    (step x face); ``bicubic_psnr`` is ``[N]``."""

    protocol: str
    psnr: dict[str, np.ndarray]
    nme: dict[str, np.ndarray]
    bicubic_psnr: np.ndarray

    @property
    def modes(self) -> list[str]:
        return list(self.psnr)

    def versus(self, mode: str, baseline: str = "own", metric: str = "psnr", step: int = -1) -> Paired:
        """Paired ``metric`` difference ``mode - baseline`` at ``step`` (default the last)."""
        table = self.psnr if metric == "psnr" else self.nme
        return paired(table[baseline][step], table[mode][step])

    def summary(self) -> dict[str, Any]:
        """Means per mode and step, and last-step paired differences against ``own`` (JSON-ready)."""
        out: dict[str, Any] = {"protocol": self.protocol, "num_faces": int(self.bicubic_psnr.size),
                               "bicubic_psnr": float(self.bicubic_psnr.mean()), "modes": {}}
        for mode in self.modes:
            entry: dict[str, Any] = {"description": GUIDANCE_DESCRIPTIONS[mode],
                                     "psnr": self.psnr[mode].mean(axis=1).tolist(),
                                     "nme": self.nme[mode].mean(axis=1).tolist()}
            if mode != "own" and "own" in self.psnr:
                d = self.versus(mode)
                entry["last_psnr_minus_own"] = {"mean": d.mean, "std_err": d.std_err,
                                                "frac_better_than_own": d.frac_b_greater}
            out["modes"][mode] = entry
        out["contrasts"] = {f"{b}_minus_{a}": vars(self.versus(b, a)) for b, a in CONTRASTS
                            if a in self.psnr and b in self.psnr}
        return out

    def markdown(self) -> str:
        """One table: last-step PSNR and NME per guidance, and the paired PSNR difference against ``own``."""
        lines = [f"{self.bicubic_psnr.size} faces; PSNR protocol `{self.protocol}`, last step; "
                 f"bicubic {self.bicubic_psnr.mean():.2f} dB", "",
                 "| guidance of steps 2..T | PSNR (dB) | − own (dB, paired ± s.e.) | NME |", "|---|---|---|---|"]
        for mode in self.modes:
            d = None if mode == "own" else self.versus(mode)
            diff = "—" if d is None else f"{d.mean:+.3f} ± {d.std_err:.3f}"
            lines.append(f"| {mode} | {self.psnr[mode][-1].mean():.2f} | {diff} | "
                         f"{100 * self.nme[mode][-1].mean():.1f} % |")
        return "\n".join(lines)


@torch.no_grad()
def guidance_experiment(model: nn.Module, faces: FaceSet, modes: Sequence[str] = GUIDANCES, *,
                        batch_size: int = 16, protocol: str = "mmagic", crop_border: int = 8,
                        sigma: float = 1.0) -> GuidanceResult:
    """Re-run ``model`` (a :class:`~dicmini.models.DICNet`) on ``faces`` with each attention source in
    ``modes`` (:data:`GUIDANCES`) and score every step of every face: PSNR against HR and the NME of the
    model's own landmark estimate on that step's SR image. ``sigma``: of the ground-truth and template maps
    (the model's training ``heatmap_sigma``)."""
    if protocol not in PROTOCOLS:
        raise ValueError(f"protocol: expected one of {sorted(PROTOCOLS)}, got {protocol!r}")
    unknown = [m for m in modes if m not in GUIDANCES]
    if unknown or not modes:
        raise ValueError(f"modes: expected a non-empty subset of {GUIDANCES}, got {list(modes)}")
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    n = len(faces)
    grid = faces.lr.shape[-1] * 2  # the LR feature grid of DICNet (2h x 2w)
    order = ["own"] + [m for m in modes if m != "own"]  # "other" reuses the own run's heatmaps
    psnrs: dict[str, list[list[float]]] = {m: [] for m in order}
    nmes: dict[str, list[np.ndarray]] = {m: [] for m in order}
    own_last: list[Tensor] = []
    try:
        for mode in order:
            heat_bank = torch.cat(own_last) if own_last else None
            for start in range(0, n, batch_size):
                index = torch.arange(start, min(start + batch_size, n))
                guide = guidance_heatmaps(mode, index, faces, grid, heat_bank, sigma)
                out = model(faces.lr[index].to(device), guidance=None if guide is None else guide.to(device))
                if mode == "own":
                    own_last.append(out.heatmaps[-1].float().cpu())
                if not psnrs[mode]:
                    psnrs[mode] = [[] for _ in out.sr]
                    nmes[mode] = [np.zeros(0) for _ in out.sr]
                truth = faces.landmarks[index]
                for t, (sr, heat) in enumerate(zip(out.sr, out.heatmaps)):
                    sr_f = denormalize(sr.float().cpu())
                    psnrs[mode][t] += [psnr(sr_f[i], faces.hr[j], crop_border, protocol)
                                       for i, j in enumerate(index.tolist())]
                    nmes[mode][t] = np.concatenate([nmes[mode][t], _landmark_nme(heat, truth, faces.hr_size)])
    finally:
        model.train(was_training)
    lr_u8 = to_uint8(denormalize(faces.lr))
    bicubic = np.array([psnr(bicubic_upsample(lr_u8[i], faces.hr_size // lr_u8.shape[1]), faces.hr[i],
                             crop_border, protocol) for i in range(n)])
    keep = [m for m in GUIDANCES if m in order]
    return GuidanceResult(protocol=protocol, psnr={m: np.array(psnrs[m]) for m in keep},
                          nme={m: np.stack(nmes[m]) for m in keep}, bicubic_psnr=bicubic)


def hourglass_estimator(hourglass: nn.Module, passes: int = 1) -> Estimator:
    """An :data:`Estimator` from a feedback hourglass: ``passes`` forwards on the same image (hidden state fed
    back), landmarks by soft-argmax of the last pass's heatmaps."""
    if passes < 1:
        raise ValueError(f"passes must be >= 1, got {passes}")

    @torch.no_grad()
    def estimate(images: Tensor) -> Tensor:
        was_training = hourglass.training
        hourglass.eval()
        try:
            heat = run_hourglass(hourglass, images, passes)[-1]
        finally:
            hourglass.train(was_training)
        return heatmaps_to_landmarks(heat.float().cpu(), image_size=images.shape[-1])

    return estimate


#: The collaboration goals of dicmini's tiny recipe, checked by :func:`collaboration_targets` on held-out faces.
TARGETS: dict[str, str] = {
    "gain_db": "last-step PSNR gain over bicubic >= +4.2 dB",
    "nme_last": "last-step landmark NME <= 5.0 %",
    "nme_relative_drop": "last-step NME at least 15 % (relative) below step 1",
    "frac_nme_improved": "last-step NME below step 1 on >= 80 % of faces",
    "own_minus_other_db": "own landmarks beat another face's by >= 0.5 dB (paired)",
    "truth_minus_own_db": "ground-truth guidance at least as good as the model's own",
    "no_collapse": "NME < 10 % at every step",
}


def collaboration_targets(result: GuidanceResult) -> dict[str, Any]:
    """The figures behind :data:`TARGETS` from a :func:`guidance_experiment` with ``own``, ``other`` and
    ``truth``: ``{"values": {...}, "passed": {...}, "std_err": {...}}`` (JSON-ready)."""
    for mode in ("own", "other", "truth"):
        if mode not in result.psnr:
            raise ValueError(f"collaboration_targets: the guidance experiment needs mode {mode!r}")
    nme_steps = result.nme["own"]
    first, last = nme_steps[0], nme_steps[-1]
    own_other, truth_own = result.versus("own", "other"), result.versus("truth", "own")
    gain = result.psnr["own"][-1] - result.bicubic_psnr
    values = {
        "gain_db": float(gain.mean()),
        "nme_steps": nme_steps.mean(axis=1).tolist(),
        "nme_last": float(last.mean()),
        "nme_relative_drop": float(1 - last.mean() / first.mean()),
        "frac_nme_improved": float((last < first).mean()),
        "own_minus_other_db": own_other.mean,
        "truth_minus_own_db": truth_own.mean,
        "no_collapse": float(nme_steps.mean(axis=1).max()),
    }
    passed = {
        "gain_db": values["gain_db"] >= 4.2,
        "nme_last": values["nme_last"] <= 0.05,
        "nme_relative_drop": values["nme_relative_drop"] >= 0.15,
        "frac_nme_improved": values["frac_nme_improved"] >= 0.8,
        "own_minus_other_db": values["own_minus_other_db"] >= 0.5,
        "truth_minus_own_db": values["truth_minus_own_db"] >= 0.0,
        "no_collapse": values["no_collapse"] < 0.10,
    }
    std_err = {"gain_db": float(gain.std(ddof=1) / np.sqrt(gain.size)), "own_minus_other_db": own_other.std_err,
               "truth_minus_own_db": truth_own.std_err}
    return {"values": values, "passed": passed, "std_err": std_err, "num_faces": int(gain.size)}


def training_sigma(checkpoint: str) -> float:
    """The ``heatmap_sigma`` a DIC checkpoint (a file or a packaged name such as ``"tiny"``) was trained with,
    from its stored train config; 1.0 (the references' sigma) when it stores none. Ground-truth guidance should
    use it: a model trained on sigma-2 maps reads sigma-1 maps as a different kind of input."""
    from .models.convert import PRETRAINED_NAMES, read_checkpoint

    ckpt = read_checkpoint(PRETRAINED_NAMES.get(checkpoint, checkpoint))
    config = ckpt.get("train_config") if isinstance(ckpt, dict) else None
    return float(config.get("heatmap_sigma", 1.0)) if isinstance(config, dict) else 1.0


@dataclass
class ProbeResult:
    """Per-face NME of an independent estimator on each stage: ``nme`` is ``[S, N]`` for ``stages``
    (``bicubic``, ``step 1`` .. ``step T``, ``HR``)."""

    stages: list[str]
    nme: np.ndarray

    def versus(self, stage: str, baseline: str = "bicubic") -> Paired:
        """Paired NME difference ``stage - baseline`` (negative = ``stage`` is easier to read)."""
        return paired(self.nme[self.stages.index(baseline)], self.nme[self.stages.index(stage)])

    def summary(self) -> dict[str, Any]:
        out: dict[str, Any] = {"num_faces": int(self.nme.shape[1]), "stages": {}}
        for s, row in zip(self.stages, self.nme):
            entry: dict[str, Any] = {"nme": float(row.mean())}
            if s != "bicubic":
                d = self.versus(s)
                entry["minus_bicubic"] = {"mean": d.mean, "std_err": d.std_err, "frac_worse": d.frac_b_greater}
            out["stages"][s] = entry
        return out

    def markdown(self) -> str:
        lines = [f"{self.nme.shape[1]} faces; NME of an independent HR-trained estimator", "",
                 "| image | NME | − bicubic (paired ± s.e.) |", "|---|---|---|"]
        for s, row in zip(self.stages, self.nme):
            d = None if s == "bicubic" else self.versus(s)
            diff = "—" if d is None else f"{100 * d.mean:+.2f} ± {100 * d.std_err:.2f} pt"
            lines.append(f"| {s} | {100 * row.mean():.2f} % | {diff} |")
        return "\n".join(lines)


@torch.no_grad()
def landmark_probe(estimator: Estimator, model: nn.Module, faces: FaceSet, *, batch_size: int = 16) -> ProbeResult:
    """Score ``estimator`` (trained on HR faces, independent of ``model``) on bicubic, every step's SR of
    ``model`` and HR images of ``faces``; per-face NME against the ground truth."""
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    rows: list[list[np.ndarray]] = []
    scale = faces.hr_size // faces.lr.shape[-1]
    try:
        for start in range(0, len(faces), batch_size):
            index = list(range(start, min(start + batch_size, len(faces))))
            lr, truth = faces.lr[index], faces.landmarks[index]
            lr_u8 = to_uint8(denormalize(lr))
            bicubic = normalize(np.stack([bicubic_upsample(img, scale) for img in lr_u8]))
            out = model(lr.to(device))
            images = [bicubic] + [sr.float().cpu() for sr in out.sr] + [normalize(faces.hr[index])]
            scores = [np.atleast_1d(nme(estimator(img.to(device)).cpu(), truth)) for img in images]
            rows = scores if not rows else [np.concatenate([r, s]) for r, s in zip(rows, scores)]
    finally:
        model.train(was_training)
    stages = ["bicubic"] + [f"step {t + 1}" for t in range(len(rows) - 2)] + ["HR"]
    return ProbeResult(stages=stages, nme=np.stack(rows))
