"""Pure plotting helpers for DIC's recurrent steps (notebook 05; course_conventions §4.6, §4.9).

DIC runs its SR branch and landmark branch for ``T = 4`` steps (paper §3, Fig. 2). The figures here put
every step side by side:

* :func:`step_grid`: the standard row "LR (nearest x8) | bicubic | step 1 ... step T | HR", titled with
  PSNR per step, optionally with a second row of the merged (5-component) heatmaps of every step;
* :func:`metric_per_step`: a metric (PSNR, NME, ...) against the step, with flat baselines;
* :func:`learning_curves`: per-step PSNR gain over bicubic and NME against the training iteration, for one or
  more runs (notebook 07: the shipped tiny run and the student's own);
* :func:`render_step`: one step (SR image and its component maps), the pure function behind
  :func:`iteration_stepper`, a slider widget over the cached steps.

Images are ``H x W x 3`` uint8 or float in [0, 255] (what :func:`~dicmini.data.degrade.denormalize`
returns), or ``3 x H x W`` tensors in that range; maps are ``K x h x w``. Nothing is shown, saved or printed,
inputs are never modified, and figures always get an explicit ``figsize``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from .attention import to_numpy_maps
from .images import as_display_image, finish_figure, heatmap_overlay, upsample_nearest

__all__ = ["iteration_stepper", "learning_curves", "metric_per_step", "render_step", "step_grid", "step_titles"]


def step_titles(num_steps: int, psnrs: Sequence[float] | None = None, unit: str = "dB") -> list[str]:
    """``["step 1", ..., "step T"]``, with ``"\\n{psnr:.2f} dB"`` appended when ``psnrs`` is given."""
    if num_steps < 1:
        raise ValueError(f"num_steps: expected >= 1, got {num_steps}")
    if psnrs is not None and len(psnrs) != num_steps:
        raise ValueError(f"psnrs: expected {num_steps} values, got {len(psnrs)}")
    return [f"step {t + 1}" + ("" if psnrs is None else f"\n{psnrs[t]:.2f} {unit}") for t in range(num_steps)]


def _with_value(name: str, value: float | None, unit: str = "dB") -> str:
    return name if value is None else f"{name}\n{value:.2f} {unit}"


def step_grid(lr, sr_steps: Sequence, hr, *, bicubic=None, psnrs: Sequence[float] | None = None,
              bicubic_psnr: float | None = None, component_maps: Sequence | None = None, hr_maps=None,
              scale: int | None = None, panel_size: float = 1.7, figsize: tuple[float, float] | None = None,
              suptitle: str | None = None, alpha: float = 0.7):
    """All recurrent steps of one face in one static grid.

    Row 1: ``LR (nearest xs) | bicubic | step 1 .. step T | HR`` (the bicubic panel only when ``bicubic`` is
    given), titled with ``psnrs`` / ``bicubic_psnr`` rounded to 2 decimals. Row 2 (when ``component_maps`` is
    given: one ``K x h x w`` array per step): each step's component maps as coloured overlays on that step's
    SR image, and ``hr_maps`` (e.g. the merged ground-truth heatmaps) on the HR image; the LR and bicubic
    panels of that row stay empty. ``scale`` defaults to ``HR side / LR side``.
    """
    import matplotlib.pyplot as plt

    sr_steps = list(sr_steps)
    if not sr_steps:
        raise ValueError("sr_steps: expected at least one step")
    t_steps = len(sr_steps)
    lr_img, hr_img = as_display_image(lr), as_display_image(hr)
    scale = hr_img.shape[0] // lr_img.shape[0] if scale is None else scale
    titles = [f"LR (nearest x{scale})"]
    images = [upsample_nearest(lr_img, scale)]
    if bicubic is not None:
        images.append(as_display_image(bicubic))
        titles.append(_with_value("bicubic", bicubic_psnr))
    first_step = len(images)
    images += [as_display_image(s) for s in sr_steps]
    titles += step_titles(t_steps, psnrs)
    images.append(hr_img)
    titles.append("HR")
    rows = 1 if component_maps is None else 2
    if component_maps is not None and len(component_maps) != t_steps:
        raise ValueError(f"component_maps: expected {t_steps} entries (one per step), got {len(component_maps)}")
    ncols = len(images)
    if figsize is None:
        figsize = (panel_size * ncols, panel_size * rows + 0.45 + 0.3 * (rows - 1) + (0.35 if suptitle else 0.0))
    fig, axes = plt.subplots(rows, ncols, figsize=figsize, squeeze=False)
    for ax, img, title in zip(axes[0], images, titles):
        ax.imshow(img, interpolation="nearest")
        ax.set_title(title, fontsize=9)
    if rows == 2:
        for t, maps in enumerate(component_maps):
            ax = axes[1, first_step + t]
            ax.imshow(heatmap_overlay(images[first_step + t], to_numpy_maps(maps), alpha=alpha),
                      interpolation="nearest")
            ax.set_title(f"components {t + 1}", fontsize=9)
        if hr_maps is not None:
            axes[1, -1].imshow(heatmap_overlay(hr_img, to_numpy_maps(hr_maps), alpha=alpha), interpolation="nearest")
            axes[1, -1].set_title("GT components", fontsize=9)
    return finish_figure(fig, axes, suptitle)


def metric_per_step(series: Mapping[str, Sequence[float]], ylabel: str,
                    baselines: Mapping[str, float] | None = None, title: str | None = None,
                    figsize: tuple[float, float] = (4.2, 3.0), ax=None):
    """Lines of a metric against the step (1..T), one per entry of ``series``, plus dashed horizontal
    ``baselines`` (e.g. bicubic). Draws on ``ax`` when given; returns the figure."""
    import matplotlib.pyplot as plt

    if not series:
        raise ValueError("series: expected at least one named sequence")
    if ax is None:
        fig, ax = plt.subplots(figsize=figsize)
    else:
        fig = ax.figure
    longest = 1
    for name, values in series.items():
        values = [float(v) for v in values]
        steps = np.arange(1, len(values) + 1)
        longest = max(longest, len(values))
        ax.plot(steps, values, marker="o", label=name)
    for i, (name, value) in enumerate((baselines or {}).items()):
        ax.axhline(float(value), linestyle="--", color=f"C{len(series) + i}", label=name)
    ax.set_xticks(np.arange(1, longest + 1))
    ax.set_xlabel("step")
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


#: line style and marker of the 1st, 2nd, ... run of :func:`learning_curves`
CURVE_STYLES = (("-", "o"), ("--", "s"), (":", "^"), ("-.", "D"))


def learning_curves(curves: Mapping[str, Sequence[Mapping]], figsize: tuple[float, float] = (10.0, 3.2)):
    """Per-step learning curves of one or more runs, side by side: the PSNR gain over bicubic (dB) and the
    landmark NME (%) of every recurrent step against the training iteration.

    ``curves`` maps a run's name to its points ``{"it", "gain_db", "nme"}`` (``gain_db`` and ``nme`` with one
    entry per step; :func:`dicmini.train.evaluate.learning_curve`, ``benchmarks/results/quality_bar_curve.jsonl``).
    Step ``t`` has the same colour in every run; runs differ by line style and marker. Returns the figure."""
    import matplotlib.pyplot as plt

    if not curves or not all(curves.values()):
        raise ValueError("curves: expected at least one run, each with at least one point")
    if len(curves) > len(CURVE_STYLES):
        raise ValueError(f"curves: at most {len(CURVE_STYLES)} runs, got {len(curves)}")
    fig, (gain_ax, nme_ax) = plt.subplots(1, 2, figsize=figsize)
    for (name, points), (line, marker) in zip(curves.items(), CURVE_STYLES):
        its = [int(p["it"]) for p in points]
        for t in range(len(points[0]["gain_db"])):
            style = {"ls": line, "marker": marker, "ms": 3, "color": f"C{t}", "label": f"{name}, step {t + 1}"}
            gain_ax.plot(its, [float(p["gain_db"][t]) for p in points], **style)
            nme_ax.plot(its, [100 * float(p["nme"][t]) for p in points], **style)
    gain_ax.axhline(0, color="gray", ls="--", lw=1)
    gain_ax.set_ylabel("PSNR gain over bicubic (dB)")
    gain_ax.set_title("PSNR gain of each step", fontsize=10)
    nme_ax.set_ylabel("landmark NME (%)")
    nme_ax.set_title("NME of each step's heatmaps", fontsize=10)
    for ax in (gain_ax, nme_ax):
        ax.set_xlabel("iteration")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def render_step(sr_steps: Sequence, component_maps: Sequence, t: int, psnrs: Sequence[float] | None = None,
                figsize: tuple[float, float] = (5.0, 2.8), alpha: float = 0.7):
    """Step ``t`` (0-based) of a cached run: the SR image (titled ``step t+1 of T``, with its PSNR) and the
    component maps its heatmaps give, as an overlay on it. Returns the figure (the widget's pure core)."""
    import matplotlib.pyplot as plt

    n = len(sr_steps)
    if not 0 <= t < n:
        raise ValueError(f"t: expected 0 <= t < {n}, got {t}")
    if len(component_maps) != n:
        raise ValueError(f"component_maps: expected {n} entries, got {len(component_maps)}")
    sr = as_display_image(sr_steps[t])
    fig, axes = plt.subplots(1, 2, figsize=figsize, squeeze=False)
    axes = axes[0]
    axes[0].imshow(sr, interpolation="nearest")
    axes[0].set_title(f"step {t + 1} of {n}" + ("" if psnrs is None else f" · {psnrs[t]:.2f} dB"), fontsize=9)
    axes[1].imshow(heatmap_overlay(sr, to_numpy_maps(component_maps[t]), alpha=alpha), interpolation="nearest")
    axes[1].set_title(f"components, step {t + 1}", fontsize=9)
    for ax in axes:
        ax.set_axis_off()
    fig.tight_layout()
    return fig


def iteration_stepper(sr_steps: Sequence, component_maps: Sequence, psnrs: Sequence[float] | None = None,
                      figsize: tuple[float, float] = (5.0, 2.8), dpi: int = 80):
    """A slider over the cached steps that shows :func:`render_step` (ipywidgets; run the model once first).

    Returns an ``ipywidgets.VBox`` (slider, image); display it in a cell tagged ``nbval-ignore-output``. Each step
    is drawn once, to PNG bytes, into an ``ipywidgets.Image``: no ``Output`` widget captures anything, so the
    widget behaves the same in JupyterLab and in headless execution (nbclient, nbval) and prints nothing.
    """
    import io

    import ipywidgets as widgets
    import matplotlib.pyplot as plt

    n = len(sr_steps)
    pngs: dict[int, bytes] = {}

    def png(t: int) -> bytes:
        if t not in pngs:
            fig = render_step(sr_steps, component_maps, t, psnrs, figsize=figsize)
            buffer = io.BytesIO()
            fig.savefig(buffer, format="png", dpi=dpi)
            plt.close(fig)
            pngs[t] = buffer.getvalue()
        return pngs[t]

    slider = widgets.IntSlider(value=n, min=1, max=n, step=1, description="step", continuous_update=False)
    image = widgets.Image(value=png(n - 1), format="png")

    def update(change) -> None:
        image.value = png(change["new"] - 1)

    slider.observe(update, names="value")
    return widgets.VBox([slider, image])
