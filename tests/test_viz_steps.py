"""Tests of the per-step and attention plotting helpers (dicmini.viz.steps, dicmini.viz.attention).

They check the structure of the figures (panel counts, titles, figure sizes), that the functions are
pure (inputs unchanged, nothing shown: the Agg backend, no new figures left behind besides the returned one)
and the arithmetic of the colour mixtures.
"""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from dicmini.data.landmarks import COMPONENT_NAMES, landmarks_to_heatmaps, merge_to_components  # noqa: E402
from dicmini.viz.attention import (  # noqa: E402
    attention_figure,
    attention_overlay,
    component_mixture,
    heatmap_panels,
    landmark_figure,
    to_numpy_maps,
)
from dicmini.viz.images import COMPONENT_COLORS  # noqa: E402
from dicmini.viz.steps import (  # noqa: E402
    iteration_stepper,
    learning_curves,
    metric_per_step,
    render_step,
    step_grid,
    step_titles,
)

RNG = np.random.default_rng(0)


@pytest.fixture(autouse=True)
def _close_figures():
    plt.close("all")
    yield
    plt.close("all")


def _face(size=128):
    return RNG.integers(0, 256, (size, size, 3), dtype=np.uint8)


def _points():
    base = np.stack(np.meshgrid(np.linspace(30, 98, 17), np.linspace(40, 100, 4)), -1).reshape(-1, 2)
    return base[:68].astype(np.float32)


def _heatmaps():
    return landmarks_to_heatmaps(_points())


def _titles(fig):
    return [ax.get_title() for ax in fig.axes]


def _steps(n=4):
    return [RNG.uniform(0, 255, (128, 128, 3)) for _ in range(n)]


def _components(n=4):
    h = torch.from_numpy(_heatmaps())[None]
    return [merge_to_components(h)[0].numpy() for _ in range(n)]


# ---------------------------------------------------------------------------------------------- steps
def test_step_titles():
    assert step_titles(3) == ["step 1", "step 2", "step 3"]
    assert step_titles(2, [20.123, 21.5]) == ["step 1\n20.12 dB", "step 2\n21.50 dB"]
    with pytest.raises(ValueError):
        step_titles(2, [1.0])
    with pytest.raises(ValueError):
        step_titles(0)


def test_step_grid_one_row_structure():
    lr, hr, sr = _face(16), _face(), _steps()
    fig = step_grid(lr, sr, hr, bicubic=_face(), psnrs=[20, 21, 22.346, 23], bicubic_psnr=19.999)
    assert len(fig.axes) == 7
    assert _titles(fig) == ["LR (nearest x8)", "bicubic\n20.00 dB", "step 1\n20.00 dB", "step 2\n21.00 dB",
                            "step 3\n22.35 dB", "step 4\n23.00 dB", "HR"]
    assert fig.get_size_inches()[0] == pytest.approx(1.7 * 7)
    assert fig.axes[0].images[0].get_array().shape[:2] == (128, 128)  # LR enlarged by pixel repetition


def test_step_grid_with_heatmap_row_and_no_bicubic():
    fig = step_grid(_face(16), _steps(3), _face(), component_maps=_components(3), hr_maps=_components(1)[0],
                    figsize=(9, 4), suptitle="one face")
    assert len(fig.axes) == 2 * 5
    titles = _titles(fig)
    assert titles[:5] == ["LR (nearest x8)", "step 1", "step 2", "step 3", "HR"]
    assert titles[5:] == ["", "components 1", "components 2", "components 3", "GT components"]
    assert len(fig.axes[5].images) == 0          # the LR column of the heatmap row stays empty
    assert tuple(fig.get_size_inches()) == (9, 4)
    assert fig._suptitle.get_text() == "one face"


def test_step_grid_rejects_mismatched_inputs():
    with pytest.raises(ValueError):
        step_grid(_face(16), [], _face())
    with pytest.raises(ValueError):
        step_grid(_face(16), _steps(4), _face(), component_maps=_components(3))


def test_step_grid_accepts_chw_tensors():
    sr = [torch.rand(3, 128, 128) * 255 for _ in range(2)]
    fig = step_grid(torch.rand(3, 16, 16) * 255, sr, torch.rand(3, 128, 128) * 255, psnrs=[1, 2])
    assert _titles(fig)[1:3] == ["step 1\n1.00 dB", "step 2\n2.00 dB"]


def test_metric_per_step():
    fig = metric_per_step({"DIC": [20, 21, 22, 22.5], "other": [19, 19.5]}, "PSNR (dB)",
                          baselines={"bicubic": 18.0}, title="per step")
    ax = fig.axes[0]
    assert len(ax.lines) == 3
    assert list(ax.lines[0].get_xdata()) == [1, 2, 3, 4]
    assert ax.get_ylabel() == "PSNR (dB)" and ax.get_title() == "per step"
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["DIC", "other", "bicubic"]
    with pytest.raises(ValueError):
        metric_per_step({}, "x")


def test_metric_per_step_draws_on_given_axes():
    fig, axes = plt.subplots(1, 2, figsize=(6, 3))
    assert metric_per_step({"a": [1, 2]}, "y", ax=axes[1]) is fig
    assert len(axes[1].lines) == 1 and len(axes[0].lines) == 0


def test_render_step_and_bounds():
    sr, maps = _steps(), _components()
    fig = render_step(sr, maps, 2, psnrs=[1, 2, 3.456, 4])
    assert _titles(fig) == ["step 3 of 4 · 3.46 dB", "components, step 3"]
    for bad in (-1, 4):
        with pytest.raises(ValueError):
            render_step(sr, maps, bad)
    with pytest.raises(ValueError):
        render_step(sr, maps[:2], 0)


def test_iteration_stepper_builds_a_slider():
    pytest.importorskip("ipywidgets")
    box = iteration_stepper(_steps(3), _components(3), psnrs=[1, 2, 3])
    slider, image = box.children
    assert (slider.min, slider.max, slider.value) == (1, 3, 3)
    last = image.value
    assert last[:8] == b"\x89PNG\r\n\x1a\n"
    slider.value = 1
    assert image.value[:8] == b"\x89PNG\r\n\x1a\n" and image.value != last
    assert not plt.get_fignums()            # every step figure was closed after rendering


def test_viz_functions_are_pure():
    lr, hr, sr, maps = _face(16), _face(), _steps(), _components()
    copies = (lr.copy(), hr.copy(), [s.copy() for s in sr], [m.copy() for m in maps])
    before = set(plt.get_fignums())
    fig = step_grid(lr, sr, hr, component_maps=maps, psnrs=[1, 2, 3, 4])
    assert set(plt.get_fignums()) - before == {fig.number}   # exactly one new figure, returned
    render_step(sr, maps, 0)
    attention_overlay(hr, torch.softmax(torch.from_numpy(maps[0]), 0))
    np.testing.assert_array_equal(lr, copies[0])
    np.testing.assert_array_equal(hr, copies[1])
    for a, b in zip(sr, copies[2]):
        np.testing.assert_array_equal(a, b)
    for a, b in zip(maps, copies[3]):
        np.testing.assert_array_equal(a, b)


# ------------------------------------------------------------------------------------------ attention
def test_to_numpy_maps_shapes():
    assert to_numpy_maps(torch.zeros(1, 5, 8, 8)).shape == (5, 8, 8)
    assert to_numpy_maps(np.zeros((8, 8))).shape == (1, 8, 8)
    with pytest.raises(ValueError):
        to_numpy_maps(np.zeros((2, 5, 8, 8)))


def test_component_mixture_colours():
    w = np.zeros((5, 2, 2))
    w[1] = 1.0                               # all weight on component 1 -> its colour
    np.testing.assert_allclose(component_mixture(w)[0, 0], COMPONENT_COLORS[1])
    uniform = component_mixture(np.full((5, 1, 1), 0.2))
    np.testing.assert_allclose(uniform[0, 0], np.mean(COMPONENT_COLORS, axis=0))


def test_attention_overlay_leaves_uniform_pixels_alone():
    face = _face(8)
    w = np.full((5, 2, 2), 0.2)
    w[:, 0, 0] = [1, 0, 0, 0, 0]
    out = attention_overlay(face, w, alpha=1.0)
    assert out.shape == (8, 8, 3)
    np.testing.assert_allclose(out[4:, 4:], face[4:, 4:] / 255.0)     # uniform weights: the face itself
    np.testing.assert_allclose(out[:4, :4], np.broadcast_to(COMPONENT_COLORS[0], (4, 4, 3)))
    with pytest.raises(ValueError):
        attention_overlay(_face(9), w)                                   # 2x2 maps do not tile 9x9
    with pytest.raises(ValueError):
        attention_overlay(face, w, alpha=1.5)


def test_heatmap_panels_structure():
    fig = heatmap_panels(_face(), _components(1)[0], suptitle="components")
    assert _titles(fig) == ["face", *COMPONENT_NAMES]
    fig = heatmap_panels(_face(), np.zeros((3, 32, 32)), figsize=(6, 2))
    assert _titles(fig) == ["face", "map 0", "map 1", "map 2"]
    assert tuple(fig.get_size_inches()) == (6, 2)
    with pytest.raises(ValueError):
        heatmap_panels(_face(), np.zeros((3, 32, 32)), titles=["a"])


def test_landmark_figure_structure():
    fig = landmark_figure(_face(), torch.from_numpy(_heatmaps()), gt_points=_points(), pred_points=_points() + 1)
    assert _titles(fig) == ["ground truth", "prediction", "sum of 68 heatmaps", "5 components"]
    assert len(fig.axes[1].collections) == 2          # faint GT points under the predicted ones
    with pytest.raises(ValueError):
        landmark_figure(_face(), np.zeros((5, 32, 32)))


def test_attention_figure_structure():
    maps = torch.from_numpy(_components(1)[0])
    fig = attention_figure(_face(), maps, torch.softmax(maps, 0))
    assert len(fig.axes) == 12
    titles = _titles(fig)
    assert titles[0] == "face" and titles[6] == "softmax, coloured"
    assert titles[1:6] == list(COMPONENT_NAMES)
    assert titles[7:] == [f"weight: {n}" for n in COMPONENT_NAMES]
    assert fig.axes[7].images[0].get_clim() == (0.0, 1.0)
    with pytest.raises(ValueError):
        attention_figure(_face(), maps, maps[:4])


def test_learning_curves_two_runs_share_step_colours():
    shipped = [{"it": 500, "gain_db": [1.5, 1.8, 1.8], "nme": [0.09, 0.08, 0.08]},
               {"it": 1000, "gain_db": [1.9, 2.3, 2.4], "nme": [0.08, 0.07, 0.07]}]
    own = [{"it": 200, "gain_db": [1.0, 1.2], "nme": [0.05, 0.045]}]
    fig = learning_curves({"shipped": shipped, "yours": own})
    gain_ax, nme_ax = fig.axes
    assert len(plt.get_fignums()) == 1
    labels = [t.get_text() for t in gain_ax.get_legend().get_texts()]
    assert labels == ["shipped, step 1", "shipped, step 2", "shipped, step 3", "yours, step 1", "yours, step 2"]
    assert list(gain_ax.lines[0].get_xdata()) == [500, 1000] and list(gain_ax.lines[0].get_ydata()) == [1.5, 1.9]
    assert list(nme_ax.lines[4].get_ydata()) == pytest.approx([4.5])
    assert gain_ax.lines[0].get_color() == gain_ax.lines[3].get_color()          # step 1 of both runs
    assert gain_ax.lines[0].get_linestyle() != gain_ax.lines[3].get_linestyle()  # the runs differ by style
    assert nme_ax.get_ylabel() == "landmark NME (%)" and gain_ax.get_xlabel() == "iteration"
    assert tuple(fig.get_size_inches()) == (10.0, 3.2)
    for bad in ({}, {"empty": []}):
        with pytest.raises(ValueError, match="curves"):
            learning_curves(bad)
