"""Plotting helpers for the notebooks (pure functions: they return figures or arrays, never show).

* :mod:`~dicmini.viz.images`  image rows and grids, landmark and heatmap overlays, power spectra
* :mod:`~dicmini.viz.explorer`  the iteration explorer (cached steps, render_frame, the widget app)
"""

from .images import (
    COMPONENT_COLORS,
    GROUP_COLORS,
    as_display_image,
    component_colors,
    heatmap_overlay,
    image_grid,
    image_row,
    landmark_colors,
    overlay_landmarks,
    radial_power_spectrum,
    upsample_nearest,
)
from .explorer import ExplorerData, collect_iterations, iteration_explorer, render_frame

__all__ = [
    "COMPONENT_COLORS", "GROUP_COLORS", "as_display_image", "component_colors", "heatmap_overlay", "image_grid",
    "image_row", "landmark_colors", "overlay_landmarks", "radial_power_spectrum", "upsample_nearest",
    "ExplorerData", "collect_iterations", "iteration_explorer", "render_frame",
]
