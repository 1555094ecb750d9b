"""dicmini.viz.images: figure structure, titles and overlay arithmetic; nothing is displayed (Agg)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from dicmini import viz  # noqa: E402
from dicmini.data.landmarks import LANDMARK_GROUPS  # noqa: E402


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _face(h=16, w=16, value=100):
    return np.full((h, w, 3), value, np.uint8)


def test_image_row_structure_and_titles():
    images = [_face(), np.zeros((8, 8)), torch.zeros(3, 4, 4), np.full((4, 4, 3), 300.0)]
    fig = viz.image_row(images, ["a", "b", "c", "d"], figsize=(8, 2))
    assert len(fig.axes) == 4
    assert [ax.get_title() for ax in fig.axes] == ["a", "b", "c", "d"]
    assert tuple(fig.get_size_inches()) == (8.0, 2.0)
    assert all(not ax.axison for ax in fig.axes)
    shown = [ax.get_images()[0].get_array() for ax in fig.axes]
    assert shown[0].shape == (16, 16, 3) and shown[1].shape == (8, 8)
    assert shown[2].shape == (4, 4, 3)  # CHW tensor -> HWC
    assert np.asarray(shown[3]).max() == 255  # float [0, 255] clipped to uint8
    assert all(ax.get_images()[0].get_interpolation() == "nearest" for ax in fig.axes)


def test_image_grid_hides_empty_panels_and_checks_titles():
    fig = viz.image_grid([_face()] * 5, ncols=3, suptitle="five")
    assert len(fig.axes) == 6
    assert sum(bool(ax.get_images()) for ax in fig.axes) == 5
    assert fig._suptitle.get_text() == "five"
    assert tuple(fig.get_size_inches()) == (6.0, 4.3)
    with pytest.raises(ValueError):
        viz.image_grid([_face()], titles=["a", "b"])
    with pytest.raises(ValueError):
        viz.image_grid([])


def test_image_grid_symmetric_colour_scale():
    fig = viz.image_grid([np.array([[-1.0, 3.0]]), np.zeros((2, 2))], symmetric=True)
    assert fig.axes[0].get_images()[0].get_clim() == (-3.0, 3.0)
    assert fig.axes[1].get_images()[0].get_clim() == (-1.0, 1.0)  # all-zero map: a unit scale
    plain = viz.image_grid([np.array([[-5.0, -2.0]])])
    assert plain.axes[0].get_images()[0].get_clim() == (-5.0, -2.0)


def test_as_display_image():
    assert viz.as_display_image(np.array([[[1.4, 254.6, -3.0]]])).tolist() == [[[1, 255, 0]]]
    assert viz.as_display_image(np.zeros((2, 2, 1), np.float32)).shape == (2, 2)
    with pytest.raises(ValueError):
        viz.as_display_image(np.zeros((2, 2, 4)))


def test_overlay_landmarks_colours_by_group_and_numbers():
    fig, ax = plt.subplots(figsize=(2, 2))
    pts = np.stack([np.arange(68.0), np.arange(68.0)], 1)
    art = viz.overlay_landmarks(ax, pts, numbers=True, scale=2.0)
    offsets = art.get_offsets()
    assert offsets.shape == (68, 2) and offsets[10, 0] == 20.0
    colors = art.get_facecolors()
    a, b = LANDMARK_GROUPS["outer_lips"]
    assert np.allclose(colors[a, :3], viz.GROUP_COLORS["outer_lips"])
    assert len(ax.texts) == 68 and ax.texts[5].get_text() == "5"
    art2 = viz.overlay_landmarks(ax, torch.zeros(3, 2), color=(1.0, 0.0, 0.0))
    assert np.allclose(art2.get_facecolors()[:, :3], [[1, 0, 0]] * 3)


def test_component_and_landmark_colors():
    assert len(viz.component_colors()) == 5 and viz.component_colors(7)[5] == viz.COMPONENT_COLORS[0]
    assert len(viz.landmark_colors()) == 68
    with pytest.raises(ValueError):
        viz.component_colors(0)


def test_heatmap_overlay_arithmetic():
    image = np.zeros((8, 8, 3), np.uint8)
    maps = np.zeros((2, 2, 2))
    maps[0, 0, 0] = 2.0  # top-left quarter, normalised to 1
    maps[1, 1, 1] = -1.0  # negative only: ignored
    out = viz.heatmap_overlay(image, maps, colors=[(1.0, 0.0, 0.0), (0.0, 1.0, 0.0)], alpha=0.5)
    assert out.shape == (8, 8, 3) and out.dtype == np.uint8
    assert (out[:4, :4] == [128, 0, 0]).all() and (out[4:, 4:] == 0).all()
    white = viz.heatmap_overlay(np.full((4, 4, 3), 255, np.uint8), torch.ones(1, 4, 4), alpha=1.0)
    assert (white == np.rint(np.array(viz.COMPONENT_COLORS[0]) * 255)).all()
    with pytest.raises(ValueError):
        viz.heatmap_overlay(image, np.zeros((1, 3, 3)))
    with pytest.raises(ValueError):
        viz.heatmap_overlay(image, maps, alpha=2.0)
    smooth = viz.heatmap_overlay(image, maps, colors=[(1.0, 0.0, 0.0), (0.0, 1.0, 0.0)], alpha=0.5,
                                 resample="bilinear")
    assert smooth.shape == (8, 8, 3) and smooth[0, 0, 0] == 128 and smooth[7, 7].max() == 0
    assert 0 < smooth[3, 3, 0] < 128  # smooth fall-off instead of a hard block edge


def test_radial_power_spectrum():
    n = 32
    x = np.arange(n)
    wave = np.cos(2 * np.pi * 4 * x / n)[None, :].repeat(n, 0)  # 4 cycles across: frequency 4/32
    freq, power = viz.radial_power_spectrum(wave)
    assert freq.shape == power.shape == (n // 2 + 1,)
    assert freq[-1] == 0.5 and power[0] < 1e-20
    assert int(np.argmax(power)) == 4
    # Parseval: the total power equals the mean squared (zero-mean) signal
    counts = np.bincount(np.rint(np.hypot(*(np.indices((n, n)) - n // 2))).astype(int).ravel())[: n // 2 + 1]
    assert np.isclose((power * counts).sum(), (wave**2).mean())
    with pytest.raises(ValueError):
        viz.radial_power_spectrum(np.zeros((4, 5)))


def test_upsample_nearest():
    a = np.arange(4).reshape(2, 2)
    assert viz.upsample_nearest(a, 2).tolist() == [[0, 0, 1, 1], [0, 0, 1, 1], [2, 2, 3, 3], [2, 2, 3, 3]]
