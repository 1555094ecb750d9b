"""Draw the static course diagrams into this folder (deterministic PNGs, no version metadata).

    python notebooks/figures/make_figures.py            # all figures
    python notebooks/figures/make_figures.py dic_overview

* ``dic_overview.png``   the DIC loop (paper Fig. 2): LR -> feature -> [SR block -> SR_t -> hourglass ->
  68 heatmaps -> 5 components -> attention] x 4 steps, with both recurrent states.
* ``feedback_block.png`` the SRFBN feedback block (paper §3.1; docs/reference_implementations.md#feedback-blocks) with 3 projection groups: the
  LR grid (32 x 32) and HR grid (256 x 256) rows, dense 1x1 transitions and the hidden state.
"""

from __future__ import annotations

import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch, Rectangle  # noqa: E402

HERE = Path(__file__).resolve().parent
# Colours of the 5 components, the same as dicmini.viz.COMPONENT_COLORS (kept literal so that this script
# runs without the package installed).
COMPONENTS = ((0.12, 0.47, 0.71), (0.17, 0.63, 0.17), (1.00, 0.50, 0.05), (0.84, 0.15, 0.16), (0.58, 0.40, 0.74))
SR_COLOR = "#dbe9f6"
LM_COLOR = "#fde6cf"
IO_COLOR = "#eeeeee"
ATT_COLOR = "#e5f5e0"


def _box(ax, x, y, w, h, text, color, fontsize=9, weight="normal"):
    ax.add_patch(FancyBboxPatch((x - w / 2, y - h / 2), w, h, boxstyle="round,pad=0.02,rounding_size=0.08",
                                facecolor=color, edgecolor="#333333", linewidth=1.0))
    ax.text(x, y, text, ha="center", va="center", fontsize=fontsize, weight=weight)


def _arrow(ax, p, q, text=None, color="#333333", style="-|>", rad=0.0, fontsize=7.5, offset=(0.0, 0.12),
           ls="-"):
    ax.add_patch(FancyArrowPatch(p, q, arrowstyle=style, mutation_scale=10, color=color, linewidth=1.1,
                                 connectionstyle=f"arc3,rad={rad}", linestyle=ls, shrinkA=2, shrinkB=2))
    if text:
        ax.text((p[0] + q[0]) / 2 + offset[0], (p[1] + q[1]) / 2 + offset[1], text, ha="center", va="bottom",
                fontsize=fontsize, color=color)


def _save(fig, name: str) -> Path:
    path = HERE / name
    fig.savefig(path, dpi=110, metadata={"Software": None})
    plt.close(fig)
    return path


def dic_overview() -> Path:
    fig, ax = plt.subplots(figsize=(13, 5.6))
    ax.set_xlim(0, 13)
    ax.set_ylim(0, 5.6)
    ax.set_axis_off()

    # input and shared LR feature
    _box(ax, 0.65, 3.9, 1.0, 0.75, "LR face\n16×16×3", IO_COLOR)
    _box(ax, 2.0, 3.9, 1.25, 0.9, "conv 3×3\n+ PReLU\n+ PixelShuffle", IO_COLOR, fontsize=8)
    _arrow(ax, (1.15, 3.9), (1.37, 3.9))
    ax.text(2.0, 3.3, "LR feature F\n48×32×32", ha="center", va="top", fontsize=7.5)
    _arrow(ax, (0.65, 3.52), (0.65, 2.75), color="#777777")
    ax.text(0.72, 3.1, "bilinear ×8\n(skip)", ha="left", va="center", fontsize=7.5, color="#777777")
    _box(ax, 0.65, 2.45, 1.0, 0.55, "↑ LR\n128×128", IO_COLOR, fontsize=8)
    ax.text(0.65, 2.1, "added to\nevery SR$_t$", ha="center", va="top", fontsize=7, color="#777777")

    xs = [4.0, 6.55, 9.1, 11.65]
    bus_y = 5.05
    ax.plot([2.62, xs[-1]], [bus_y, bus_y], color="#1f4e79", linewidth=1.1)
    ax.plot([2.62, 2.62], [3.9, bus_y], color="#1f4e79", linewidth=1.1)
    ax.text(2.7, bus_y + 0.08, "F (computed once, re-used every step)", fontsize=7.5, color="#1f4e79", va="bottom")
    for t, x in enumerate(xs):
        ax.text(x, 5.45, f"step {t + 1}", ha="center", va="center", fontsize=10, weight="bold")
        _arrow(ax, (x - 0.35, bus_y), (x - 0.35, 4.35), color="#1f4e79")
        label = "coarse FB\n(no prior)" if t == 0 else "attention FB\n(fusion + FB)"
        _box(ax, x, 3.95, 1.45, 0.75, f"SR block\n{label}", SR_COLOR, fontsize=8)
        _box(ax, x, 2.75, 1.45, 0.6, f"deconv ×4 + conv\n+ skip → SR$_{t + 1}$", SR_COLOR, fontsize=8)
        _arrow(ax, (x, 3.57), (x, 3.06))
        _box(ax, x, 1.6, 1.45, 0.6, "feedback\nhourglass", LM_COLOR, fontsize=8)
        _arrow(ax, (x, 2.44), (x, 1.91))
        ax.text(x + 0.08, 2.2, "128×128×3", fontsize=6.5, va="center")
        _box(ax, x, 0.55, 1.45, 0.55, "68 heatmaps\n32×32", LM_COLOR, fontsize=8)
        _arrow(ax, (x, 1.29), (x, 0.83))
        if t < len(xs) - 1:
            nx = xs[t + 1]
            # SR hidden state and hourglass feedback to the next step
            _arrow(ax, (x + 0.73, 4.15), (nx - 0.73, 4.15), "hidden\n48×32×32", color="#1f4e79", fontsize=7)
            _arrow(ax, (x + 0.73, 1.7), (nx - 0.73, 1.7), "feedback\n256×32×32", color="#a0522d", fontsize=7,
                   offset=(-0.12, -0.5))
            # merge 68 -> 5 components -> attention of the next SR block (routed through the gap)
            cx = (x + nx) / 2
            _arrow(ax, (x + 0.73, 0.55), (cx - 0.5, 0.55), color="#2e7d32")
            for k, c in enumerate(COMPONENTS):
                ax.add_patch(Rectangle((cx - 0.48 + 0.19 * k, 0.42), 0.17, 0.26, facecolor=c, edgecolor="black",
                                       linewidth=0.5))
            ax.text(cx, 0.28, "5 components", ha="center", va="top", fontsize=7, color="#2e7d32")
            ax.text(cx, 0.08, "normalise, merge", ha="center", va="top", fontsize=6.5, color="#2e7d32")
            ax.plot([cx + 0.4, cx + 0.4], [0.7, 3.75], color="#2e7d32", linewidth=1.1)
            _arrow(ax, (cx + 0.4, 3.75), (nx - 0.73, 3.75), color="#2e7d32")
            ax.text(cx + 0.34, 2.95, "attention", rotation=90, ha="right", va="center", fontsize=7, color="#2e7d32")
    ax.text(12.45, 2.75, "SR$_4$\n= output", fontsize=8, ha="left", va="center")
    _arrow(ax, (xs[-1] + 0.73, 2.75), (12.45, 2.75))
    ax.text(0.1, 0.3, "recovery branch (blue), landmark branch (orange);\n"
            "losses on every step's SR and heatmaps", fontsize=7.5, ha="left", va="bottom", color="#444444")
    return _save(fig, "dic_overview.png")


def feedback_block(groups: int = 3) -> Path:
    fig, ax = plt.subplots(figsize=(12.5, 5.4))
    ax.set_xlim(0, 12.5)
    ax.set_ylim(-0.4, 5.0)
    ax.set_axis_off()
    lr_y, mid_y, hr_y = 1.2, 2.5, 3.8
    lr_c, hr_c, dense_c = "#1f4e79", "#a0522d", "#888888"
    ax.text(6.25, 4.75, f"SRFBN feedback block: {groups} projection groups shown (DIC uses 6), C = 48 channels",
            ha="center", fontsize=10.5, weight="bold")
    ax.text(0.1, hr_y, "HR grid\n256×256\n(×8)", fontsize=8.5, va="center", color=hr_c)
    ax.text(0.1, lr_y, "LR grid\n32×32", fontsize=8.5, va="center", color=lr_c)
    _box(ax, 1.75, lr_y, 1.25, 0.8, "compress_in\n1×1 + PReLU\ncat(x, h): 2C→C", IO_COLOR, fontsize=7.5)
    ax.text(1.75, 2.1, "x = LR feature\nh = previous output", ha="center", va="bottom", fontsize=7.5)
    _arrow(ax, (1.75, 2.05), (1.75, 1.62))
    step = 2.7
    xs = [3.3 + step * g for g in range(groups)]
    for g, x in enumerate(xs):
        xd = x + 1.25
        # LR side: input of group g+1 (L0, or a 1x1 transition of L0..Lg)
        if g == 0:
            _box(ax, x, lr_y, 0.6, 0.5, "L$_0$", SR_COLOR, fontsize=8.5)
            _arrow(ax, (2.38, lr_y), (x - 0.31, lr_y))
        else:
            _box(ax, x, lr_y, 0.95, 0.62, f"1×1: cat\nL$_0$..L$_{g}$ → C", IO_COLOR, fontsize=7)
            for j in range(g):  # dense connections from the earlier LR features
                src = (xs[0] if j == 0 else xs[j - 1] + 1.25, lr_y - 0.28)
                _arrow(ax, src, (x - 0.2, lr_y - 0.32), color=dense_c, rad=0.9 / (x - 0.2 - src[0]), ls="--")
        _box(ax, x, mid_y, 1.2, 0.6, "up-projection\ndeconv 12, s8, p2", SR_COLOR, fontsize=7)
        _arrow(ax, (x, lr_y + 0.32), (x, mid_y - 0.31))
        _box(ax, x, hr_y, 0.6, 0.5, f"H$_{g + 1}$", LM_COLOR, fontsize=8.5)
        _arrow(ax, (x, mid_y + 0.31), (x, hr_y - 0.26))
        # HR side: H1, or a 1x1 transition of H1..H_{g+1}, then down-projection to L_{g+1}
        if g == 0:
            _arrow(ax, (x + 0.31, hr_y - 0.1), (xd - 0.1, mid_y + 0.31))
        else:
            _box(ax, xd, hr_y, 0.95, 0.62, f"1×1: cat\nH$_1$..H$_{g + 1}$ → C", IO_COLOR, fontsize=7)
            _arrow(ax, (x + 0.31, hr_y), (xd - 0.48, hr_y))
            for j in range(g):
                _arrow(ax, (xs[j] + 0.05, hr_y + 0.27), (xd + 0.1, hr_y + 0.32), color=dense_c,
                       rad=-0.9 / (xd - xs[j]), ls="--")
            _arrow(ax, (xd, hr_y - 0.32), (xd, mid_y + 0.31))
        _box(ax, xd, mid_y, 1.2, 0.6, "down-projection\nconv 12, s8, p2", SR_COLOR, fontsize=7)
        _box(ax, xd, lr_y, 0.6, 0.5, f"L$_{g + 1}$", SR_COLOR, fontsize=8.5)
        _arrow(ax, (xd, mid_y - 0.31), (xd, lr_y + 0.26))
        if g + 1 < groups:
            _arrow(ax, (xd + 0.31, lr_y), (xs[g + 1] - 0.48, lr_y))
    xo = xs[-1] + 2.75
    _box(ax, xo, lr_y, 1.35, 0.8, f"compress_out\n1×1 + PReLU\ncat(L$_1$..L$_{groups}$): {groups}C→C", IO_COLOR,
         fontsize=7.5)
    _arrow(ax, (xs[-1] + 1.56, lr_y), (xo - 0.68, lr_y))
    for j in range(groups - 1):
        _arrow(ax, (xs[j] + 1.25, lr_y - 0.26), (xo - 0.3, lr_y - 0.42), color=dense_c,
               rad=0.9 / (xo - xs[j] - 1.55), ls="--")
    _arrow(ax, (xo, lr_y + 0.42), (xo, 2.3))
    ax.text(xo, 2.35, "out = new hidden h'\n(the h of the next step)", ha="center", va="bottom", fontsize=8,
            weight="bold")
    ax.text(0.1, -0.3, "solid: the main path; dashed grey: dense connections (every earlier feature of the same "
            "grid is concatenated); every conv / deconv is followed by a PReLU", fontsize=7.5, color="#444444")
    return _save(fig, "feedback_block.png")


FIGURES = {"dic_overview": dic_overview, "feedback_block": feedback_block}


def main(names: list[str]) -> None:
    for name in names or list(FIGURES):
        print(FIGURES[name]().relative_to(HERE.parent.parent))


if __name__ == "__main__":
    main(sys.argv[1:])
