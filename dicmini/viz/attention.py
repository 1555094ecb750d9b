"""Pure plotting helpers for landmark heatmaps and the attention of DIC's attentive fusion (notebooks 03, 04).

DIC's landmark branch predicts 68 heatmaps; :func:`~dicmini.data.landmarks.merge_to_components` sums them
into 5 facial-component maps, and the attentive fusion turns those into per-pixel weights with a softmax
over the 5 maps (paper §3.2, Fig. 3; docs/reference_implementations.md, Attentive fusion and Component maps).
The functions here draw those maps:

* :func:`component_mixture` / :func:`attention_overlay`: one RGB picture of 5 softmax weight maps (each pixel
  coloured by the weighted mix of the component colours; the face shows through where the weights are flat);
* :func:`heatmap_panels`: a face followed by one coloured overlay per map;
* :func:`landmark_figure`: ground truth vs predicted landmarks, the 68 heatmaps and their 5 components;
* :func:`attention_figure`: component maps (top row) and their softmax attention (bottom row).

Every function returns an array or the :class:`~matplotlib.figure.Figure` it made; nothing is shown, saved
or printed, and inputs are never modified. Figures always get an explicit ``figsize``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from ..data.landmarks import COMPONENT_NAMES, NUM_LANDMARKS, merge_to_components
from .images import (as_display_image, component_colors, finish_figure, heatmap_overlay, overlay_landmarks,
                     upsample_nearest)

__all__ = ["attention_figure", "attention_overlay", "component_mixture", "heatmap_panels", "landmark_figure",
           "to_numpy_maps"]


def to_numpy_maps(maps) -> np.ndarray:
    """``K x h x w`` maps (tensor or array; a leading batch of 1 is dropped) as a float64 array (a copy)."""
    if isinstance(maps, torch.Tensor):
        maps = maps.detach().cpu().double().numpy()
    arr = np.array(maps, dtype=np.float64)
    if arr.ndim == 4 and arr.shape[0] == 1:
        arr = arr[0]
    if arr.ndim == 2:
        arr = arr[None]
    if arr.ndim != 3:
        raise ValueError(f"maps: expected K x h x w, got {list(arr.shape)}")
    return arr


def component_mixture(attention, colors: Sequence[tuple[float, float, float]] | None = None) -> np.ndarray:
    """Colour every pixel by its attention weights: ``sum_k w_k color_k / sum_k w_k`` -> ``h x w x 3`` in [0, 1].

    ``attention``: ``K x h x w`` non-negative weights (e.g. the softmax over the 5 component maps).
    """
    w = np.clip(to_numpy_maps(attention), 0.0, None)
    colors = component_colors(len(w)) if colors is None else list(colors)
    if len(colors) < len(w):
        raise ValueError(f"colors: expected {len(w)} colours, got {len(colors)}")
    c = np.asarray(colors[:len(w)], dtype=np.float64)                     # [K, 3]
    total = w.sum(0)
    mix = np.einsum("khw,kc->hwc", w, c) / np.maximum(total, 1e-12)[..., None]
    return np.clip(mix, 0.0, 1.0)


def attention_overlay(image, attention, colors: Sequence[tuple[float, float, float]] | None = None,
                      alpha: float = 0.85) -> np.ndarray:
    """Blend :func:`component_mixture` onto a face -> float ``H x W x 3`` in [0, 1].

    The opacity of a pixel is ``alpha * (max_k w_k - 1/K) / (1 - 1/K)``: zero where the weights are uniform
    (no component is preferred, as on the background of a softmax over near-zero maps), ``alpha`` where one
    component takes all the weight. ``image`` is ``H x W x 3`` with ``H, W`` multiples of the map size.
    """
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha: expected a value in [0, 1], got {alpha}")
    base = as_display_image(image)
    if base.ndim != 3:
        raise ValueError("image: expected an RGB image")
    w = to_numpy_maps(attention)
    k, h, wd = w.shape
    H, W = base.shape[:2]
    if H % h or W % wd or H // h != W // wd:
        raise ValueError(f"maps of {h} x {wd} do not tile an image of {H} x {W}")
    total = np.maximum(np.clip(w, 0, None).sum(0), 1e-12)
    confidence = (np.clip(w, 0, None).max(0) / total - 1.0 / k) / (1.0 - 1.0 / k) if k > 1 else np.ones((h, wd))
    a = alpha * upsample_nearest(np.clip(confidence, 0.0, 1.0), H // h)[..., None]
    mix = upsample_nearest(component_mixture(w, colors), H // h)
    out = base.astype(np.float64) / 255.0 * (1.0 - a) + a * mix
    return np.clip(out, 0.0, 1.0)


def heatmap_panels(image, maps, titles: Sequence[str] | None = None,
                   colors: Sequence[tuple[float, float, float]] | None = None, alpha: float = 0.75,
                   figsize: tuple[float, float] | None = None, suptitle: str | None = None, image_title: str = "face",
                   panel_size: float = 2.0):
    """One row: the face, then one coloured overlay per map (``K x h x w``; default titles: the 5 components)."""
    import matplotlib.pyplot as plt

    m = to_numpy_maps(maps)
    k = len(m)
    if titles is None:
        titles = list(COMPONENT_NAMES) if k == len(COMPONENT_NAMES) else [f"map {i}" for i in range(k)]
    if len(titles) != k:
        raise ValueError(f"titles: expected {k} titles, got {len(titles)}")
    colors = component_colors(k) if colors is None else list(colors)
    if figsize is None:
        figsize = (panel_size * (k + 1), panel_size + (0.4 if suptitle else 0.2))
    fig, axes = plt.subplots(1, k + 1, figsize=figsize, squeeze=False)
    axes = axes[0]
    axes[0].imshow(as_display_image(image), interpolation="nearest")
    axes[0].set_title(image_title, fontsize=9)
    for i in range(k):
        axes[i + 1].imshow(heatmap_overlay(image, m[i:i + 1], [colors[i]], alpha=alpha), interpolation="nearest")
        axes[i + 1].set_title(titles[i], fontsize=9)
    for ax in axes:
        ax.set_axis_off()
    if suptitle:
        fig.suptitle(suptitle, fontsize=11)
    fig.tight_layout()
    return fig


def landmark_figure(image, heatmaps, gt_points=None, pred_points=None, figsize: tuple[float, float] = (10.0, 2.9),
                    suptitle: str | None = None, titles: Sequence[str] | None = None):
    """Four panels for one face: GT landmarks | predicted landmarks | sum of the 68 heatmaps | 5 components.

    ``image``: ``H x W x 3``; ``heatmaps``: ``68 x h x w`` raw predicted heatmaps; ``gt_points``,
    ``pred_points``: ``68 x 2`` (x, y) pixels of ``image`` (either may be ``None``; the predicted points are
    drawn over faint GT points when both are given).
    """
    import matplotlib.pyplot as plt

    h = to_numpy_maps(heatmaps)
    if len(h) != NUM_LANDMARKS:
        raise ValueError(f"heatmaps: expected {NUM_LANDMARKS} maps, got {len(h)}")
    if titles is None:
        titles = ["ground truth", "prediction", "sum of 68 heatmaps", "5 components"]
    if len(titles) != 4:
        raise ValueError(f"titles: expected 4 titles, got {len(titles)}")
    face = as_display_image(image)
    components = merge_to_components(torch.from_numpy(h)[None]).numpy()[0]
    fig, axes = plt.subplots(1, 4, figsize=figsize, squeeze=False)
    axes = axes[0]
    axes[0].imshow(face, interpolation="nearest")
    if gt_points is not None:
        overlay_landmarks(axes[0], gt_points, size=8)
    axes[1].imshow(face, interpolation="nearest")
    if pred_points is not None:
        if gt_points is not None:
            overlay_landmarks(axes[1], gt_points, groups=False, size=5, color=(1.0, 1.0, 1.0))
        overlay_landmarks(axes[1], pred_points, size=8)
    axes[2].imshow(heatmap_overlay(face, np.clip(h, 0, None).sum(0, keepdims=True), [(1.0, 0.9, 0.1)], alpha=0.85),
                   interpolation="nearest")
    axes[3].imshow(heatmap_overlay(face, components, alpha=0.75), interpolation="nearest")
    for ax, title in zip(axes, titles):
        ax.set_title(title, fontsize=9)
        ax.set_axis_off()
    if suptitle:
        fig.suptitle(suptitle, fontsize=11)
    fig.tight_layout()
    return fig


def attention_figure(image, component_maps, attention, names: Sequence[str] = COMPONENT_NAMES,
                     figsize: tuple[float, float] | None = None, suptitle: str | None = None, panel_size: float = 1.9):
    """Two rows for one face: the ``K`` component maps (top; first panel the face) and their softmax
    attention weights (bottom; first panel :func:`attention_overlay`), weights drawn on one [0, 1] scale."""
    import matplotlib.pyplot as plt

    maps = to_numpy_maps(component_maps)
    weights = to_numpy_maps(attention)
    if maps.shape != weights.shape:
        raise ValueError(f"component_maps {list(maps.shape)} and attention {list(weights.shape)} differ in shape")
    k = len(maps)
    if len(names) != k:
        raise ValueError(f"names: expected {k} names, got {len(names)}")
    if figsize is None:
        figsize = (panel_size * (k + 1), 2 * panel_size + (0.8 if suptitle else 0.5))
    fig, axes = plt.subplots(2, k + 1, figsize=figsize, squeeze=False)
    axes[0, 0].imshow(as_display_image(image), interpolation="nearest")
    axes[0, 0].set_title("face", fontsize=9)
    axes[1, 0].imshow(attention_overlay(image, weights), interpolation="nearest")
    axes[1, 0].set_title("softmax, coloured", fontsize=9)
    vmax = max(float(maps.max()), 1e-12)
    for i in range(k):
        axes[0, i + 1].imshow(maps[i], cmap="magma", vmin=min(0.0, float(maps.min())), vmax=vmax,
                              interpolation="nearest")
        axes[0, i + 1].set_title(f"{names[i]}", fontsize=9)
        axes[1, i + 1].imshow(weights[i], cmap="viridis", vmin=0.0, vmax=1.0, interpolation="nearest")
        axes[1, i + 1].set_title(f"weight: {names[i]}", fontsize=9)
    return finish_figure(fig, axes, suptitle)
