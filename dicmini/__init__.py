"""dicmini: a small, readable, faithful re-implementation of DIC / DICGAN.

Ma, Jiang, Rao, Lu, Zhou, "Deep Face Super-Resolution with Iterative Collaboration between
Attentive Recovery and Landmark Estimation", CVPR 2020 (arXiv:2003.13063).

Sub-packages (see README, "Architecture"):

* :mod:`dicmini.data`    synthetic faces, the 68-point layout, heatmaps, the x8 degradation, datasets
* :mod:`dicmini.models`  feedback blocks, attentive fusion, hourglass, DICNet, LightCNN, VGG19, converters
"""

__version__ = "0.1.0"


def __getattr__(name: str):
    """Lazy top-level exports (keeps ``import dicmini`` light): ``dicmini.super_resolve``."""
    if name == "super_resolve":
        from .train.inference import super_resolve

        return super_resolve
    raise AttributeError(f"module 'dicmini' has no attribute {name!r}")
