"""An iteration explorer for DIC: every recurrent step of a trained model, face by face (notebook 10).

DIC (paper §3, Fig. 2) alternates, at each of its ``T`` steps, an SR image from the recovery branch and 68
landmark heatmaps from the landmark branch; the heatmaps of step ``t`` are merged into 5 facial-component
maps (:func:`~dicmini.data.landmarks.merge_to_components`, docs/reference_implementations.md, Component maps) that steer
the attentive fusion of step ``t + 1``. This module makes all of that browsable:

* :func:`collect_iterations` runs a model **once** on a few faces and caches, per step and face, the SR image,
  the 68 heatmaps, the 5 component maps, the predicted landmark points and PSNR / SSIM / NME
  (:class:`ExplorerData`);
* :func:`render_frame` draws one (face, step) with optional heatmap, attention and landmark layers, and
  :func:`metrics_text` is its one-line caption; :func:`iteration_grid` is the static all-steps figure;
* :func:`iteration_explorer` is the ipywidgets app (face selector, step slider, three layer toggles, a metrics
  label and an ``Image``): a thin shell over the pure functions above.

The pure functions never show, save or print anything and never modify their inputs; figures always get an
explicit ``figsize``. Steps are numbered **1..T** everywhere (as in the paper and on the slider); faces are
0-based indices into the cached batch.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from ..data.degrade import bicubic_upsample, denormalize, normalize
from ..data.landmarks import NUM_LANDMARKS, heatmaps_to_landmarks, landmarks_to_heatmaps, merge_to_components
from ..metrics import nme, psnr, ssim
from .images import as_display_image, finish_figure, heatmap_overlay, overlay_landmarks, upsample_nearest

__all__ = ["ExplorerApp", "ExplorerData", "collect_iterations", "frame_titles", "iteration_explorer",
           "heatmap_max_overlay", "iteration_grid", "landmark_motion", "metrics_text", "render_frame"]


@dataclass(frozen=True, eq=False)
class ExplorerData:
    """Everything one run of a DIC model produced on ``N`` faces over its ``T`` steps (NumPy, on the CPU).

    Shapes (``h x w`` LR side, ``H x W = 8h x 8w`` HR side, ``hh x ww`` heatmap side, ``K = 68``):

    * ``lr`` ``[N, h, w, 3]``, ``hr`` and ``bicubic`` ``[N, H, W, 3]`` uint8;
    * ``sr`` ``[T, N, H, W, 3]`` float32 in [0, 255] (the unrounded model output, as evaluated);
    * ``heatmaps`` ``[T, N, K, hh, ww]``: raw landmark heatmaps of every step;
    * ``components`` ``[T, N, 5, hh, ww]``: ``merge_to_components(heatmaps[t])``: the attention that
      **step t + 1** receives (the last step's components guide nothing);
    * ``points`` ``[T, N, K, 2]`` predicted landmarks (soft-argmax, HR pixels); ``gt_points`` ``[N, K, 2]``
      or ``None``;
    * ``psnr``, ``ssim`` ``[T, N]`` (``protocol``, ``crop_border``), ``nme`` ``[T, N]`` (fraction of the
      inter-ocular distance) or ``None`` without ground-truth landmarks; ``bicubic_psnr``, ``bicubic_ssim``
      ``[N]``;
    * ``names``: one label per face (the selector's options).
    """

    lr: np.ndarray
    hr: np.ndarray
    bicubic: np.ndarray
    sr: np.ndarray
    heatmaps: np.ndarray
    components: np.ndarray
    points: np.ndarray
    gt_points: np.ndarray | None
    psnr: np.ndarray
    ssim: np.ndarray
    nme: np.ndarray | None
    bicubic_psnr: np.ndarray
    bicubic_ssim: np.ndarray
    names: tuple[str, ...]
    protocol: str = "mmagic"
    crop_border: int = 8

    @property
    def num_steps(self) -> int:
        return int(self.sr.shape[0])

    @property
    def num_faces(self) -> int:
        return int(self.sr.shape[1])

    @property
    def scale(self) -> int:
        """HR side / LR side (8 for DIC)."""
        return int(self.hr.shape[1] // self.lr.shape[1])

    def check(self, face: int, step: int) -> None:
        """Raise ``ValueError`` unless ``0 <= face < N`` and ``1 <= step <= T``."""
        if not 0 <= int(face) < self.num_faces:
            raise ValueError(f"face: expected 0 <= face < {self.num_faces}, got {face}")
        if not 1 <= int(step) <= self.num_steps:
            raise ValueError(f"step: expected 1 <= step <= {self.num_steps} (steps count from 1), got {step}")

    def attention_into(self, face: int, step: int) -> np.ndarray | None:
        """The 5 component maps that guided ``step`` (from step ``step - 1``'s heatmaps); ``None`` at step 1,
        which runs the coarse feedback block without attention."""
        self.check(face, step)
        return None if step == 1 else self.components[step - 2, face]


def _as_uint8_batch(images, name: str) -> np.ndarray:
    arr = images.detach().cpu().numpy() if isinstance(images, torch.Tensor) else np.asarray(images)
    if arr.ndim == 3:
        arr = arr[None]
    if arr.dtype != np.uint8 or arr.ndim != 4 or arr.shape[-1] != 3:
        raise ValueError(f"{name}: expected uint8 [N, H, W, 3] images, got {arr.dtype} {list(arr.shape)}")
    return arr


@torch.no_grad()
def collect_iterations(model: nn.Module, lr, hr, landmarks=None, *, names: Sequence[str] | None = None,
                       protocol: str = "mmagic", crop_border: int | None = None,
                       batch_size: int = 8) -> ExplorerData:
    """Run a DIC model once on ``N`` faces and cache every step (the explorer's data; paper §3, Fig. 2).

    Args:
        model: a :class:`~dicmini.models.DICNet` with 68 landmark heatmaps (e.g. ``load_pretrained("tiny")``
            or a published checkpoint through :func:`~dicmini.models.load_pretrained`). It runs in ``eval()``
            mode on its own device, in batches of ``batch_size``; its training mode is restored afterwards.
        lr: uint8 ``[N, h, w, 3]`` LR faces (``h, w`` multiples of 8); ``hr``: uint8 ``[N, 8h, 8w, 3]``.
        landmarks: ground-truth ``[N, 68, 2]`` points in HR pixels, or ``None`` (then no NME is computed).
        names: one label per face (default ``"face 0"``, ``"face 1"``, ...).
        protocol, crop_border: of :func:`~dicmini.metrics.psnr` / :func:`~dicmini.metrics.ssim`;
            ``crop_border`` defaults to the scale factor (8), as in the evaluation protocols
            (docs/reference_implementations.md, Evaluation protocols).
    """
    lr_u8, hr_u8 = _as_uint8_batch(lr, "lr"), _as_uint8_batch(hr, "hr")
    n = len(lr_u8)
    if len(hr_u8) != n:
        raise ValueError(f"lr and hr: {n} vs {len(hr_u8)} faces")
    if hr_u8.shape[1] % lr_u8.shape[1] or hr_u8.shape[1] // lr_u8.shape[1] != hr_u8.shape[2] // lr_u8.shape[2]:
        raise ValueError(f"hr {list(hr_u8.shape[1:3])} is not an integer enlargement of lr {list(lr_u8.shape[1:3])}")
    scale = hr_u8.shape[1] // lr_u8.shape[1]
    crop = scale if crop_border is None else int(crop_border)
    gt = None
    if landmarks is not None:
        gt = np.asarray(landmarks.detach().cpu().numpy() if isinstance(landmarks, torch.Tensor) else landmarks,
                        dtype=np.float32)
        if gt.shape != (n, NUM_LANDMARKS, 2):
            raise ValueError(f"landmarks: expected [{n}, {NUM_LANDMARKS}, 2], got {list(gt.shape)}")
    labels = tuple(f"face {i}" for i in range(n)) if names is None else tuple(str(s) for s in names)
    if len(labels) != n:
        raise ValueError(f"names: expected {n} labels, got {len(labels)}")
    if batch_size < 1:
        raise ValueError(f"batch_size: expected >= 1, got {batch_size}")

    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    sr_parts, heat_parts, comp_parts = [], [], []
    try:
        for a in range(0, n, batch_size):
            out = model.trace(normalize(lr_u8[a:a + batch_size]).to(device))
            if out.heatmaps[0].size(1) != NUM_LANDMARKS:
                raise ValueError(f"model: expected {NUM_LANDMARKS} landmark heatmaps, got {out.heatmaps[0].size(1)}")
            sr_parts.append(np.stack([denormalize(s).astype(np.float32) for s in out.sr]))
            heat_parts.append(np.stack([h.float().cpu().numpy() for h in out.heatmaps]))
            comp_parts.append(np.stack([merge_to_components(h.float()).cpu().numpy() for h in out.heatmaps]))
    finally:
        model.train(was_training)
    sr = np.concatenate(sr_parts, axis=1)                # [T, N, H, W, 3]
    heatmaps = np.concatenate(heat_parts, axis=1)        # [T, N, 68, hh, ww]
    components = np.concatenate(comp_parts, axis=1)      # [T, N, 5, hh, ww]
    t_steps = sr.shape[0]
    points = np.stack([heatmaps_to_landmarks(heatmaps[t], image_size=hr_u8.shape[1]) for t in range(t_steps)])
    bicubic = np.stack([bicubic_upsample(im, scale) for im in lr_u8])
    return ExplorerData(
        lr=lr_u8.copy(), hr=hr_u8.copy(), bicubic=bicubic, sr=sr, heatmaps=heatmaps, components=components,
        points=points.astype(np.float32), gt_points=gt,
        psnr=np.array([[psnr(sr[t, i], hr_u8[i], crop, protocol) for i in range(n)] for t in range(t_steps)]),
        ssim=np.array([[ssim(sr[t, i], hr_u8[i], crop, protocol) for i in range(n)] for t in range(t_steps)]),
        nme=None if gt is None else np.stack([np.atleast_1d(nme(points[t], gt)) for t in range(t_steps)]),
        bicubic_psnr=np.array([psnr(b, h, crop, protocol) for b, h in zip(bicubic, hr_u8)]),
        bicubic_ssim=np.array([ssim(b, h, crop, protocol) for b, h in zip(bicubic, hr_u8)]),
        names=labels, protocol=protocol, crop_border=crop)


def landmark_motion(points) -> np.ndarray:
    """How far the predicted landmarks move from one step to the next: ``points`` ``[T, N, K, 2]`` (e.g.
    :attr:`ExplorerData.points`) -> ``[T - 1, N]``, entry ``[t, i]`` = mean over the ``K`` points of the Euclidean
    distance (pixels) between step ``t + 1`` and step ``t + 2`` (1-based) on face ``i``. A landmark branch that
    converges over the recurrence (paper §3, Fig. 2) moves its points less and less."""
    p = np.asarray(points, dtype=np.float64)
    if p.ndim != 4 or p.shape[-1] != 2 or p.shape[0] < 2:
        raise ValueError(f"points: expected [T >= 2, N, K, 2], got {list(p.shape)}")
    return np.linalg.norm(p[1:] - p[:-1], axis=-1).mean(axis=-1)


# -------------------------------------------------------------------------------------------- pure figures
def heatmap_max_overlay(image, heatmaps, alpha: float = 0.7, cmap: str = "inferno") -> np.ndarray:
    """All ``K`` heatmaps at once: their pixel-wise maximum (negative values clipped, divided by the overall
    peak), coloured with ``cmap`` and blended onto ``image`` with per-pixel opacity ``alpha * value`` (so the
    face shows where the heatmaps are low). ``image`` ``H x W x 3``; ``heatmaps`` ``K x h x w`` with ``H / h``
    an integer. Returns uint8 ``H x W x 3``."""
    import matplotlib

    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha: expected a value in [0, 1], got {alpha}")
    base = as_display_image(image).astype(np.float64) / 255.0
    maps = np.clip(np.asarray(heatmaps, dtype=np.float64), 0.0, None)
    if maps.ndim != 3:
        raise ValueError(f"heatmaps: expected K x h x w, got {list(maps.shape)}")
    top = maps.max(axis=0)
    if base.shape[0] % top.shape[0] or base.shape[1] % top.shape[1]:
        raise ValueError(f"heatmaps of {list(top.shape)} do not tile an image of {list(base.shape[:2])}")
    peak = top.max()
    top = top / peak if peak > 0 else top
    big = upsample_nearest(top, base.shape[0] // top.shape[0])
    colour = matplotlib.colormaps[cmap](big)[..., :3]
    a = alpha * big[..., None]
    return np.clip(np.rint((base * (1.0 - a) + a * colour) * 255.0), 0, 255).astype(np.uint8)


def metrics_text(data: ExplorerData, face: int, step: int) -> str:
    """One line of the metrics of ``step`` (1-based) on ``face``: PSNR (and its gain over bicubic), SSIM and,
    with ground truth, the landmark NME in % of the inter-ocular distance. Rounded, so it is deterministic."""
    data.check(face, step)
    p = float(data.psnr[step - 1, face])
    text = (f"{data.names[face]} · step {step}/{data.num_steps} · PSNR {p:.2f} dB "
            f"({p - float(data.bicubic_psnr[face]):+.2f} vs bicubic) · SSIM {float(data.ssim[step - 1, face]):.3f}")
    if data.nme is not None:
        text += f" · NME {100 * float(data.nme[step - 1, face]):.1f} %"
    return text


def frame_titles(data: ExplorerData, face: int, step: int, show_heatmaps: bool = False,
                 show_attention: bool = True, show_points: bool = True) -> list[str]:
    """The panel titles :func:`render_frame` uses, left to right (pure; handy in tests and checked cells)."""
    data.check(face, step)
    titles = [f"LR\nnearest x{data.scale}",
              f"step {step} of {data.num_steps}\n{float(data.psnr[step - 1, face]):.2f} dB"]
    if show_heatmaps:
        titles.append(f"68 heatmaps\nstep {step} (max)")
    if show_attention:
        titles.append("attention → step 1\nnone" if step == 1
                      else f"attention → step {step}\nfrom step {step - 1}'s maps")
    titles.append("HR\nGT landmarks" if show_points and data.gt_points is not None else "HR")
    return titles


def render_frame(data: ExplorerData, face: int, step: int, show_heatmaps: bool = False,
                 show_attention: bool = True, show_points: bool = True, *, panel_size: float = 2.0,
                 figsize: tuple[float, float] | None = None, alpha: float = 0.7, suptitle: bool = True):
    """One (face, step) of the cached run as a row of panels; returns the figure (the explorer's pure core).

    Panels: the LR input (nearest x8) | the SR image of ``step`` (with its predicted landmarks when
    ``show_points``) | [its 68 heatmaps (:func:`heatmap_max_overlay`) over the SR image, when
    ``show_heatmaps``] | [the 5 component maps that guided this step, i.e. ``merge(heatmaps of step - 1)``,
    over the SR image, when ``show_attention``; step 1 has none: the coarse block runs without attention]
    | HR (with the ground-truth landmarks when ``show_points`` and they are known). Titles:
    :func:`frame_titles`; the suptitle (unless ``suptitle=False``) is :func:`metrics_text`.
    """
    import matplotlib.pyplot as plt

    titles = frame_titles(data, face, step, show_heatmaps, show_attention, show_points)
    sr = as_display_image(data.sr[step - 1, face])
    hr = data.hr[face]
    panels: list[tuple[np.ndarray | None, np.ndarray | None]] = [
        (upsample_nearest(data.lr[face], data.scale), None),
        (sr, data.points[step - 1, face] if show_points else None),
    ]
    if show_heatmaps:
        panels.append((heatmap_max_overlay(sr, data.heatmaps[step - 1, face], alpha=alpha), None))
    if show_attention:
        attention = data.attention_into(face, step)
        panels.append((None if attention is None else heatmap_overlay(sr, attention, alpha=alpha), None))
    panels.append((hr, data.gt_points[face] if show_points and data.gt_points is not None else None))
    if figsize is None:
        figsize = (panel_size * len(panels), panel_size + (0.9 if suptitle else 0.6))
    fig, axes = plt.subplots(1, len(panels), figsize=figsize, squeeze=False)
    axes = axes[0]
    for ax, (image, points), title in zip(axes, panels, titles):
        if image is None:
            ax.imshow(np.full_like(sr, 255), interpolation="nearest")
            ax.text(0.5, 0.5, "coarse block\n(no landmark prior yet)", ha="center", va="center", fontsize=8,
                    transform=ax.transAxes, color="0.35")
        else:
            ax.imshow(image, interpolation="nearest")
        if points is not None:
            overlay_landmarks(ax, points, size=6.0)
        ax.set_title(title, fontsize=9)
    return finish_figure(fig, axes, metrics_text(data, face, step) if suptitle else None, fontsize=9)


def iteration_grid(data: ExplorerData, faces: Sequence[int] | None = None, *, show_attention: bool = True,
                   panel_size: float = 1.55, alpha: float = 0.7):
    """The static figure: one row per face, ``LR | bicubic | step 1 .. step T | HR`` titled with PSNR, and,
    when ``show_attention``, one more row per face with each step's 5 component maps (what guides the next
    step) over its SR image, and the ground-truth components under HR when the landmarks are known.
    Returns the figure."""
    import matplotlib.pyplot as plt

    faces = list(range(data.num_faces)) if faces is None else [int(f) for f in faces]
    if not faces:
        raise ValueError("faces: expected at least one face index")
    for f in faces:
        data.check(f, 1)
    t_steps = data.num_steps
    ncols = t_steps + 3
    rows_per_face = 2 if show_attention else 1
    nrows = rows_per_face * len(faces)
    fig, axes = plt.subplots(nrows, ncols, figsize=(panel_size * ncols, (panel_size + 0.35) * nrows + 0.2),
                             squeeze=False)
    for r, f in enumerate(faces):
        top = axes[rows_per_face * r]
        top[0].imshow(upsample_nearest(data.lr[f], data.scale), interpolation="nearest")
        top[0].set_title(f"{data.names[f]}\nLR x{data.scale}", fontsize=8)
        top[1].imshow(data.bicubic[f], interpolation="nearest")
        top[1].set_title(f"bicubic\n{float(data.bicubic_psnr[f]):.2f} dB", fontsize=8)
        for t in range(t_steps):
            top[2 + t].imshow(as_display_image(data.sr[t, f]), interpolation="nearest")
            top[2 + t].set_title(f"step {t + 1}\n{float(data.psnr[t, f]):.2f} dB", fontsize=8)
        top[-1].imshow(data.hr[f], interpolation="nearest")
        top[-1].set_title("HR", fontsize=8)
        if show_attention:
            bottom = axes[2 * r + 1]
            for t in range(t_steps):
                sr = as_display_image(data.sr[t, f])
                bottom[2 + t].imshow(heatmap_overlay(sr, data.components[t, f], alpha=alpha), interpolation="nearest")
                bottom[2 + t].set_title(f"components {t + 1}", fontsize=8)
            if data.gt_points is not None:
                side = data.components.shape[-1]
                gt_maps = merge_to_components(torch.from_numpy(
                    landmarks_to_heatmaps(data.gt_points[f], image_size=data.hr.shape[1], heatmap_size=side))[None])
                bottom[-1].imshow(heatmap_overlay(data.hr[f], gt_maps[0].numpy(), alpha=alpha),
                                  interpolation="nearest")
                bottom[-1].set_title("GT components", fontsize=8)
    return finish_figure(fig, axes)


# ------------------------------------------------------------------------------------------------- widget
@dataclass(eq=False)
class ExplorerApp:
    """The widgets of :func:`iteration_explorer` (set their ``value``\\ s to drive it from code).

    ``face`` (Dropdown), ``step`` (IntSlider, 1..T), ``show_heatmaps`` / ``show_attention`` / ``show_points``
    (Checkboxes), ``label`` (the :func:`metrics_text` line), ``image`` (the :func:`render_frame` PNG) and
    ``box``, the layout. Displaying the app displays ``box``.
    """

    face: Any
    step: Any
    show_heatmaps: Any
    show_attention: Any
    show_points: Any
    label: Any
    image: Any
    box: Any
    renders: int = 0  #: frames drawn so far (each distinct frame is drawn once, then cached)

    def _repr_mimebundle_(self, **kwargs):
        return self.box._repr_mimebundle_(**kwargs)

    def state(self) -> tuple[int, int, bool, bool, bool]:
        """``(face, step, show_heatmaps, show_attention, show_points)`` as currently selected."""
        return (int(self.face.value), int(self.step.value), bool(self.show_heatmaps.value),
                bool(self.show_attention.value), bool(self.show_points.value))


def iteration_explorer(data: ExplorerData, *, face: int = 0, step: int | None = None,
                       show_heatmaps: bool = False, show_attention: bool = True, show_points: bool = True,
                       panel_size: float = 2.0, dpi: int = 72) -> ExplorerApp:
    """An ipywidgets app over the cached run: a face selector, a step slider (``continuous_update=False``),
    toggles for the 68 heatmaps, the 5 attention maps and the landmark points, a metrics line and the frame.

    Each control change redraws the frame with :func:`render_frame` into PNG bytes for an
    ``ipywidgets.Image`` (each distinct frame once, then cached) and sets the label to :func:`metrics_text`.
    No ``Output`` widget and no printing: the app behaves the same in JupyterLab and in headless execution
    (nbclient, nbval). Display the returned :class:`ExplorerApp` in a cell tagged ``nbval-ignore-output``.
    """
    import ipywidgets as widgets
    import matplotlib.pyplot as plt

    step = data.num_steps if step is None else int(step)
    data.check(face, step)
    cache: dict[tuple[int, int, bool, bool, bool], bytes] = {}

    face_w = widgets.Dropdown(options=[(name, i) for i, name in enumerate(data.names)], value=int(face),
                              description="face")
    step_w = widgets.IntSlider(value=step, min=1, max=data.num_steps, step=1, description="step",
                               continuous_update=False)
    heat_w = widgets.Checkbox(value=bool(show_heatmaps), description="68 heatmaps", indent=False)
    att_w = widgets.Checkbox(value=bool(show_attention), description="5 attention maps", indent=False)
    pts_w = widgets.Checkbox(value=bool(show_points), description="landmark points", indent=False)
    label = widgets.Label(value=metrics_text(data, face, step))
    image = widgets.Image(format="png")
    box = widgets.VBox([widgets.HBox([face_w, step_w]), widgets.HBox([heat_w, att_w, pts_w]), label, image])
    app = ExplorerApp(face_w, step_w, heat_w, att_w, pts_w, label, image, box)

    def png(key: tuple[int, int, bool, bool, bool]) -> bytes:
        if key not in cache:
            fig = render_frame(data, *key, panel_size=panel_size, suptitle=False)   # the label carries the metrics
            buffer = io.BytesIO()
            fig.savefig(buffer, format="png", dpi=dpi)
            plt.close(fig)
            cache[key] = buffer.getvalue()
            app.renders += 1
        return cache[key]

    def update(_change=None) -> None:
        key = app.state()
        label.value = metrics_text(data, key[0], key[1])    # the label first: it never lags behind the image
        image.value = png(key)

    for control in (face_w, step_w, heat_w, att_w, pts_w):
        control.observe(update, names="value")
    update()
    return app
