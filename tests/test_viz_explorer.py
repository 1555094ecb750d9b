"""Tests of the iteration explorer (dicmini.viz.explorer, notebook 10).

A small random DICNet (tiny channel counts, 3 steps) runs on 3 synthetic faces. The tests check that the
cache agrees with the model's own trace (SR images, heatmaps, the attention that guided each step), that the
metrics are the library's, that the pure figure functions give the documented panels and titles and leave
their inputs alone, and that the widget app reacts to its controls (image bytes and label) without printing.
"""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from dicmini.data.degrade import denormalize, downsample, normalize  # noqa: E402
from dicmini.data.landmarks import heatmaps_to_landmarks  # noqa: E402
from dicmini.data.synthetic import HELD_OUT_SEED_START, render_faces  # noqa: E402
from dicmini.metrics import nme, psnr, ssim  # noqa: E402
from dicmini.models import DICNet  # noqa: E402
from dicmini.viz import collect_iterations, iteration_explorer, render_frame  # noqa: E402
from dicmini.viz.explorer import (  # noqa: E402
    frame_titles,
    heatmap_max_overlay,
    iteration_grid,
    metrics_text,
)

SMALL = dict(mid_channels=4, num_blocks=1, hg_mid_channels=8, num_steps=3, upscale_factor=2, num_fusion_blocks=1)


@pytest.fixture(autouse=True)
def _close_figures():
    plt.close("all")
    yield
    plt.close("all")


@pytest.fixture(scope="module")
def faces():
    hr, points = render_faces(range(HELD_OUT_SEED_START, HELD_OUT_SEED_START + 3))
    lr = np.stack([downsample(h) for h in hr])
    return lr, hr, points


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return DICNet(**SMALL).eval()


@pytest.fixture(scope="module")
def data(model, faces):
    lr, hr, points = faces
    return collect_iterations(model, lr, hr, points, names=["a", "b", "c"], batch_size=2)


# ------------------------------------------------------------------------------------------------ the cache
def test_shapes_and_names(data):
    assert (data.num_steps, data.num_faces, data.scale) == (3, 3, 8)
    assert data.sr.shape == (3, 3, 128, 128, 3) and data.sr.dtype == np.float32
    assert data.heatmaps.shape == (3, 3, 68, 32, 32)
    assert data.components.shape == (3, 3, 5, 32, 32)
    assert data.points.shape == (3, 3, 68, 2)
    assert data.psnr.shape == data.ssim.shape == data.nme.shape == (3, 3)
    assert data.bicubic.shape == (3, 128, 128, 3) and data.bicubic.dtype == np.uint8
    assert data.names == ("a", "b", "c") and data.crop_border == 8


def test_cache_matches_the_models_trace(model, faces, data):
    lr, hr, points = faces
    with torch.no_grad():
        trace = model.trace(normalize(lr))
    for t in range(3):
        np.testing.assert_allclose(data.sr[t], denormalize(trace.sr[t]), atol=1e-3)
        np.testing.assert_allclose(data.heatmaps[t], trace.heatmaps[t].numpy(), atol=1e-4)
        np.testing.assert_allclose(data.points[t], heatmaps_to_landmarks(trace.heatmaps[t]).numpy(), atol=1e-4)
    for face in range(3):
        assert data.attention_into(face, 1) is None
        for step in (2, 3):          # the attention of step t+1 comes from step t's heatmaps
            np.testing.assert_allclose(data.attention_into(face, step), trace.attention[step - 1][face].numpy(),
                                       rtol=1e-4, atol=1e-3)


def test_metrics_are_the_librarys(faces, data):
    lr, hr, points = faces
    for t in range(3):
        for i in range(3):
            assert data.psnr[t, i] == pytest.approx(psnr(data.sr[t, i], hr[i], 8, "mmagic"))
            assert data.ssim[t, i] == pytest.approx(ssim(data.sr[t, i], hr[i], 8, "mmagic"))
            assert data.nme[t, i] == pytest.approx(nme(data.points[t, i], points[i]))
        assert data.bicubic_psnr[t] == pytest.approx(psnr(data.bicubic[t], hr[t]))


def test_batching_does_not_change_the_cache(model, faces, data):
    lr, hr, points = faces
    again = collect_iterations(model, lr, hr, points, batch_size=8)
    np.testing.assert_allclose(again.sr, data.sr, atol=1e-3)
    np.testing.assert_allclose(again.psnr, data.psnr, atol=1e-4)
    assert again.names == ("face 0", "face 1", "face 2")


def test_training_mode_restored_and_no_landmarks(faces):
    lr, hr, _ = faces
    torch.manual_seed(0)
    net = DICNet(**SMALL).train()
    d = collect_iterations(net, lr[:1], hr[:1])
    assert net.training
    assert d.nme is None and d.gt_points is None
    assert "NME" not in metrics_text(d, 0, 1)
    assert frame_titles(d, 0, 1)[-1] == "HR"


def test_bad_inputs_are_rejected(model, faces, data):
    lr, hr, points = faces
    with pytest.raises(ValueError, match="uint8"):
        collect_iterations(model, lr.astype(np.float32), hr)
    with pytest.raises(ValueError, match="faces"):
        collect_iterations(model, lr[:2], hr)
    with pytest.raises(ValueError, match="landmarks"):
        collect_iterations(model, lr, hr, points[:, :5])
    with pytest.raises(ValueError, match="names"):
        collect_iterations(model, lr, hr, names=["x"])
    with pytest.raises(ValueError, match="step"):
        data.check(0, 0)
    with pytest.raises(ValueError, match="face"):
        data.check(3, 1)


# ------------------------------------------------------------------------------------------- pure figures
def test_metrics_text(data):
    p, b = data.psnr[1, 2], data.bicubic_psnr[2]
    assert metrics_text(data, 2, 2) == (f"c · step 2/3 · PSNR {p:.2f} dB ({p - b:+.2f} vs bicubic) · "
                                        f"SSIM {data.ssim[1, 2]:.3f} · NME {100 * data.nme[1, 2]:.1f} %")


@pytest.mark.parametrize("flags, n_panels", [((False, False, False), 3), ((True, False, False), 4),
                                             ((False, True, True), 4), ((True, True, True), 5)])
def test_render_frame_panels(data, flags, n_panels):
    fig = render_frame(data, 1, 2, *flags)
    titles = [ax.get_title() for ax in fig.axes]
    assert len(fig.axes) == n_panels
    assert titles == frame_titles(data, 1, 2, *flags)
    assert titles[1] == f"step 2 of 3\n{data.psnr[1, 1]:.2f} dB"
    assert fig._suptitle.get_text() == metrics_text(data, 1, 2)
    assert len(plt.get_fignums()) == 1
    # landmark points: one scatter on the SR panel and one (GT) on the HR panel
    scatters = sum(len(ax.collections) for ax in fig.axes)
    assert scatters == (2 if flags[2] else 0)


def test_render_frame_step_one_has_no_attention(data):
    fig = render_frame(data, 0, 1, False, True, False)
    assert [ax.get_title() for ax in fig.axes][2] == "attention → step 1\nnone"
    fig3 = render_frame(data, 0, 3, False, True, False, suptitle=False)
    assert fig3._suptitle is None
    assert [ax.get_title() for ax in fig3.axes][2] == "attention → step 3\nfrom step 2's maps"


def test_render_frame_is_pure(data):
    before = {k: getattr(data, k).copy() for k in ("sr", "heatmaps", "components", "points")}
    render_frame(data, 0, 3, True, True, True)
    iteration_grid(data)
    for k, v in before.items():
        np.testing.assert_array_equal(getattr(data, k), v)


def test_iteration_grid(data):
    fig = iteration_grid(data, [0, 2])
    assert len(fig.axes) == 4 * 6                 # 2 faces x (image row + component row) x (LR, bic, 3 steps, HR)
    titles = [ax.get_title() for ax in fig.axes]
    assert titles[0] == "a\nLR x8" and titles[6 * 2] == "c\nLR x8"
    assert titles[2] == f"step 1\n{data.psnr[0, 0]:.2f} dB"
    assert titles[6 + 2] == "components 1" and titles[11] == "GT components"
    fig1 = iteration_grid(data, [1], show_attention=False)
    assert len(fig1.axes) == 6
    with pytest.raises(ValueError):
        iteration_grid(data, [])


def test_heatmap_max_overlay():
    image = np.zeros((8, 8, 3), dtype=np.uint8)
    maps = np.zeros((2, 4, 4))
    out = heatmap_max_overlay(image, maps)
    np.testing.assert_array_equal(out, image)                  # no heat: the image shows through
    maps[1, 0, 0] = 2.0
    out = heatmap_max_overlay(image, maps, alpha=1.0)
    assert out.shape == (8, 8, 3) and out.dtype == np.uint8
    assert out[:2, :2].max() > 0 and out[2:, 2:].max() == 0    # the peak cell (2x2 pixels) is coloured
    with pytest.raises(ValueError):
        heatmap_max_overlay(np.zeros((6, 6, 3), np.uint8), maps)


# --------------------------------------------------------------------------------------------------- widget
def test_explorer_widget_state(data, capsys):
    widgets = pytest.importorskip("ipywidgets")
    app = iteration_explorer(data)
    assert isinstance(app.box, widgets.VBox)
    assert app.state() == (0, 3, False, True, True)
    assert app.step.continuous_update is False and (app.step.min, app.step.max) == (1, 3)
    assert [label for label, _ in app.face.options] == ["a", "b", "c"]
    assert app.label.value == metrics_text(data, 0, 3)
    first = app.image.value
    assert first[:8] == b"\x89PNG\r\n\x1a\n"
    app.step.value = 1
    assert app.image.value != first and app.label.value == metrics_text(data, 0, 1)
    app.face.value = 2
    assert app.label.value == metrics_text(data, 2, 1)
    renders = app.renders
    app.show_heatmaps.value = True
    assert app.renders == renders + 1
    with_heat = app.image.value
    app.show_heatmaps.value = False
    app.show_heatmaps.value = True                 # cached: no new drawing, same bytes
    assert app.renders == renders + 1 and app.image.value == with_heat
    app.show_points.value = False
    app.show_attention.value = False
    assert app.state() == (2, 1, True, False, False)
    assert "application/vnd.jupyter.widget-view+json" in app._repr_mimebundle_()
    assert capsys.readouterr().out == ""
    assert not plt.get_fignums()                   # frames are drawn to PNG and closed


def test_explorer_rejects_bad_start(data):
    pytest.importorskip("ipywidgets")
    with pytest.raises(ValueError):
        iteration_explorer(data, step=4)


def test_landmark_motion(data):
    from dicmini.viz.explorer import landmark_motion

    motion = landmark_motion(data.points)
    assert motion.shape == (2, 3)
    expected = np.mean(np.hypot(*(data.points[2, 1] - data.points[1, 1]).T))
    assert motion[1, 1] == pytest.approx(expected)
    still = np.repeat(data.points[:1], 3, axis=0)
    np.testing.assert_array_equal(landmark_motion(still), 0.0)
    with pytest.raises(ValueError):
        landmark_motion(data.points[:1])
