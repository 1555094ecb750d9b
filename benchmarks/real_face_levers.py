"""Real faces: what each change to the synthetic training faces buys, measured on the real-face benchmark.

Each lever is a short fine-tune of a trained tiny DIC, the *start* model of its series, through ``dicmini train``
(1,500 iterations, Adam 5e-4 with a cosine decay, the tiny recipe of the series otherwise), beside a *control*
fine-tune with the same settings and no lever, so that the effect of fine-tuning itself is not credited to the lever.
Each checkpoint is then scored on the 62 faces of the real-face benchmark (``benchmarks/real_faces_eval.py``,
notebook 09b) and on 200 held-out synthetic faces (``dicmini test``). This script reads those results and writes
the table: per run, the last-step PSNR gain over bicubic on real faces (mean +- standard error), on how many faces
SR is closer to the person's identity than bicubic (dlib descriptor), the landmark NME, the synthetic figures, and
the paired difference to the control on the same real faces.

Three series (:data:`SERIES`), each with its start model and its fine-tune:

* ``start``: the tiny DIC shipped until the recipe weighed later steps more (``git show 7b42a82:...``), fine-tuned
  with the recipe of its time (equal step weights, alignment weight 1): the framing, light and camera levers;
* ``shipped``: the tiny DIC shipped at ``5e013dc`` (the step-weighted recipe), fine-tuned with today's ``tiny``
  recipe: the control and the best lever set again, then the softened features and the jittered guidance; then the
  dead-leaves backdrop (``synthetic_backdrop``) and a stronger camera (``hr_camera_effects``, ``hr_camera_blur``);
  then stronger cameras still, a fourth recurrent step, a squared-error pixel loss (``pixel_kind``) and smiling
  faces (``synthetic_grin``); then a wider recovery branch (``init_widen``, ``mid_channels``), and the 1.2-4 px
  camera on it;
* ``tiny_real``: the packaged ``tiny-real`` (``dicmini/assets/dic_tiny_real.pt``) is itself the control, and each
  lever is its config with more ``--set``s (``runs/levers3/NAME``); its row is evaluated from the packaged file
  (``--checkpoint tiny-real``).

Runs (the commands are in each series' ``runs``; ``runs/levers*/`` is not committed, the evaluations are)::

    mkdir -p runs/levers && git show 7b42a82:dicmini/assets/dic_tiny.pt > runs/levers/start.pt
    mkdir -p runs/levers2 && git show 5e013dc:dicmini/assets/dic_tiny.pt > runs/levers2/shipped.pt
    dicmini train --config tiny --out runs/levers/NAME --set hourglass_stage= --set iterations=1500 \\
        --set lr=5e-4 --set release_hourglass_step=0 --set val_every=500 --set step_decay=1 --set align_weight=1 \\
        --set init_generator=runs/levers/start.pt --set hr_camera=P          # (the series' fine-tune + the lever)
    OMP_NUM_THREADS=1 python benchmarks/real_faces_eval.py --checkpoint runs/levers/NAME/last.pt \\
        --out benchmarks/results/real_face_levers/NAME.json --crops-dir ''
    dicmini test --checkpoint runs/levers/NAME/last.pt --data synthetic --n 200 --no-identity --no-lpips \\
        --json benchmarks/results/real_face_levers/NAME.synthetic.json
    python benchmarks/real_face_levers.py        # -> benchmarks/results/real_face_levers/summary.json, SUMMARY.md

The collaboration goals of the recipe on synthetic faces (does the recovery use *this* face's landmarks?) for some of
the second series' runs: ``OMP_NUM_THREADS=2 python benchmarks/recipe_targets.py --checkpoint
runs/levers2/shipped_control/last.pt runs/levers2/shipped_jitter/last.pt runs/levers2/shipped_soft/last.pt
runs/levers2/shipped_all5/last.pt --out benchmarks/results/real_face_levers/recipe_targets.jsonl``; then, appended
the same way, ``runs/levers3/tiny_real_wide48/last.pt runs/levers2/shipped_all5_camera_3_wide48x2_camera_4x2/last.pt``
and then ``runs/levers3/NAME/last.pt`` for NAME in tiny_real_full, tiny_real_full_camera_4,
tiny_real_three_quarters, tiny_real_full_wide48.

The flip ensemble (:mod:`dicmini.models.flip_ensemble`, a test-time option: the mean of the answers for the face
and its mirror image) is scored on the same checkpoints with ``--flip`` into ``NAME.flip.json`` and
``NAME.flip.synthetic.json``; its table pairs each with the single pass of the same checkpoint::

    OMP_NUM_THREADS=1 python benchmarks/real_faces_eval.py --checkpoint runs/levers2/NAME/last.pt --flip \
        --out benchmarks/results/real_face_levers/NAME.flip.json --crops-dir ''
    dicmini test --checkpoint runs/levers2/NAME/last.pt --data synthetic --n 200 --no-identity --no-lpips --flip \
        --json benchmarks/results/real_face_levers/NAME.flip.synthetic.json

Consistency with the input (:mod:`dicmini.models.consistency`, a test-time option: every image corrected so that its
PIL-bicubic x1/8 is exactly the 16-px input) is scored on some of them with ``--consistent`` alone and with ``--flip
--consistent`` (``NAME.consistent.json``, ``NAME.flip_consistent.json``, ``NAME.flip_consistent.synthetic.json``)::

    OMP_NUM_THREADS=1 python benchmarks/real_faces_eval.py --checkpoint runs/levers2/NAME/last.pt --consistent \
        --out benchmarks/results/real_face_levers/NAME.consistent.json --crops-dir ''
    OMP_NUM_THREADS=1 python benchmarks/real_faces_eval.py --checkpoint runs/levers2/NAME/last.pt --flip \
        --consistent --out benchmarks/results/real_face_levers/NAME.flip_consistent.json --crops-dir ''
    dicmini test --checkpoint runs/levers2/NAME/last.pt --data synthetic --n 200 --no-identity --no-lpips --flip \
        --consistent --json benchmarks/results/real_face_levers/NAME.flip_consistent.synthetic.json

dlib's landmarks as guidance (:mod:`dicmini.faces.guidance`, a test-time option: steps 2..T guided by the 68 points
dlib's shape predictor finds on the model's own SR face) are scored on some of them alone and with all three
options (``NAME.dlib.json``, ``NAME.flip_consistent_dlib.json``)::

    OMP_NUM_THREADS=1 python benchmarks/real_faces_eval.py --checkpoint runs/levers2/NAME/last.pt --guidance dlib \
        --out benchmarks/results/real_face_levers/NAME.dlib.json --crops-dir ''
    OMP_NUM_THREADS=1 python benchmarks/real_faces_eval.py --checkpoint runs/levers2/NAME/last.pt --flip \
        --consistent --guidance dlib --out benchmarks/results/real_face_levers/NAME.flip_consistent_dlib.json \
        --crops-dir ''

A start model's row comes from the same two evaluations of its checkpoint (``runs/levers/start.pt``,
``runs/levers2/shipped.pt``, ``tiny-real``), written as ``start.json`` / ``shipped.json`` / ``tiny_real.json`` and
their ``.synthetic.json``.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from dicmini.utils import atomic_write

ROOT = Path(__file__).resolve().parents[1]

RESULTS = ROOT / "benchmarks" / "results" / "real_face_levers"


@dataclass(frozen=True)
class Series:
    """Fine-tunes of one start model, each beside its control."""

    #: the start model's run name (its evaluations are ``<start>.json`` and ``<start>.synthetic.json``)
    start: str
    #: what the start model is, and how its checkpoint is made
    start_what: str
    start_command: str
    #: the command every run of the series shares, with ``{name}`` and ``{sets}`` (the run's own ``--set``)
    fine_tune: str
    #: run name -> (what changes, the run's own ``--set`` values)
    runs: dict[str, tuple[str, str]]
    #: run name -> the run it is paired with (its control)
    controls: dict[str, str]


#: the ``--set`` of the runs that start from the first series' start model
FROM_START = "--set init_generator=runs/levers/start.pt"
#: ... and from the second's (the model shipped at 5e013dc)
FROM_SHIPPED = "--set init_generator=runs/levers2/shipped.pt"
#: the framing, pose and camera levers together
ALL3 = "--set hr_crop_rule=1.0 --set hr_camera=1.0 --set synthetic_yaw=20,40"
#: ... with the softened features and the jittered guidance
ALL5 = f"{ALL3} --set hr_soft_features=1.0 --set guidance_jitter=0.1"
#: ... with the crop rule, the camera and the softened features on half of the faces
ALL5_HALF = ("--set hr_crop_rule=0.5 --set hr_camera=0.5 --set synthetic_yaw=20,40 --set hr_soft_features=0.5 "
             "--set guidance_jitter=0.1")
#: a stronger camera than the default (each effect with probability 0.6, blur sigma 0.3-1.2 HR px) ...
CAMERA_STRONG = "--set hr_camera_effects=0.8 --set hr_camera_blur=0.5,2"
#: ... and stronger still
CAMERA_3 = "--set hr_camera_effects=0.9 --set hr_camera_blur=0.8,3"
#: ... and the strongest: every effect on every face, blur sigma 1.2-4 HR px
CAMERA_4 = "--set hr_camera_effects=1.0 --set hr_camera_blur=1.2,4"
#: ... and beyond: blur sigma 2-6 HR px
CAMERA_6 = "--set hr_camera_effects=1.0 --set hr_camera_blur=2,6"
#: the pixel loss as PSNR counts it: squared error, weighted so that its gradients are about L1's at the error
#: these models leave (about 0.03)
MSE = "--set pixel_kind=mse --set pixel_weight=20"
#: a wider recovery branch: the start model's 16 channels widened to C (the same images at the start; the new
#: channels train in the fine-tune, dicmini.models.widen)
WIDEN = "--set init_widen=true --set mid_channels={}"
#: tiny-real's crop rule, camera and softened features on a share P of the faces (its config: half) ...
SHARES = "--set hr_crop_rule={0} --set hr_camera={0} --set hr_soft_features={0}"
#: ... and on every face
FULL = SHARES.format("1.0")

#: the third series: the tiny-real config with more ``--set``s, each against tiny-real itself
TINY_REAL_RUNS: dict[str, tuple[str, str]] = {
    "tiny_real_mse": ("a squared-error pixel loss (20 x MSE in place of L1)", MSE),
    "tiny_real_grin": ("half of the faces smile as people in photos do (wider, open mouths with teeth)",
                       "--set synthetic_grin=0.5"),
    "tiny_real_wide48": ("a recovery branch three times as wide (16 -> 48 channels, DIC's width; tiny widened "
                         "at the start)", WIDEN.format(48)),
    "tiny_real_three_quarters": ("the crop rule, the camera and the softened features on three faces in four",
                                 SHARES.format("0.75")),
    "tiny_real_full": ("the crop rule, the camera and the softened features on every face (not half)", FULL),
    "tiny_real_full_camera_4": ("all of tiny_real_full and the 1.2-4 px camera", f"{FULL} {CAMERA_4}"),
    "tiny_real_full_wide48": ("all of tiny_real_full at 48 channels", f"{WIDEN.format(48)} {FULL}"),
}

SERIES: tuple[Series, ...] = (
    Series(
        start="start",
        start_what="the start model: the tiny DIC shipped before the recipe weighed later steps more",
        start_command="git show 7b42a82:dicmini/assets/dic_tiny.pt > runs/levers/start.pt",
        # the tiny recipe of the start model's time (equal step weights, alignment weight 1)
        fine_tune=("dicmini train --config tiny --out runs/levers/{name} --set hourglass_stage= --set iterations=1500 "
                   "--set lr=5e-4 --set release_hourglass_step=0 --set val_every=500 --set step_decay=1 "
                   "--set align_weight=1 {sets}"),
        runs={
            "control": ("no lever: the fine-tune alone", f"{FROM_START} --set hr_camera=0"),
            "camera25": ("a random camera (blur, noise, JPEG) on 25 % of the HR faces",
                         f"{FROM_START} --set hr_camera=0.25"),
            "camera": ("a random camera (blur, noise, JPEG) on 50 % of the HR faces",
                       f"{FROM_START} --set hr_camera=0.5"),
            "camera100": ("a random camera (blur, noise, JPEG) on every HR face",
                          f"{FROM_START} --set hr_camera=1.0"),
            "controlx2": ("control, then 1,500 more iterations (no lever)",
                          "--set init_generator=runs/levers/control/last.pt --set hr_camera=0"),
            "camera100x2": ("camera100, then 1,500 more iterations with the camera on every face",
                            "--set init_generator=runs/levers/camera100/last.pt --set hr_camera=1.0"),
            "croprule": ("every face re-framed by the real-photo crop rule (eyes higher, tighter spread)",
                         f"{FROM_START} --set hr_crop_rule=1.0"),
            "croprule_camera": ("the crop rule and the camera on every face",
                                f"{FROM_START} --set hr_crop_rule=1.0 --set hr_camera=1.0"),
            "all3": ("the crop rule, the camera and the wider yaw on every face", f"{FROM_START} {ALL3}"),
            "light": ("every face relit (a directional light, uneven shading, a colour cast, an exposure curve)",
                      f"{FROM_START} --set hr_lighting=1.0"),
            "light_camera": ("every face relit, then through the camera",
                             f"{FROM_START} --set hr_lighting=1.0 --set hr_camera=1.0"),
            "camera_priordrop": ("the camera on every face, and steps 2..T guided by no landmarks on half the "
                                 "iterations", f"{FROM_START} --set hr_camera=1.0 --set prior_dropout=0.5"),
        },
        controls={"camera25": "control", "camera": "control", "camera100": "control", "camera100x2": "controlx2",
                  "croprule": "control", "croprule_camera": "camera100", "all3": "camera100",
                  "light": "control", "light_camera": "camera100", "camera_priordrop": "camera100"}),
    Series(
        start="shipped",
        start_what="the tiny DIC shipped at 5e013dc (later steps weigh more, 3x alignment)",
        start_command="git show 5e013dc:dicmini/assets/dic_tiny.pt > runs/levers2/shipped.pt",
        # today's tiny recipe (step weights 0.25^(T-t), alignment weight 3, truth guidance on half the iterations)
        fine_tune=("dicmini train --config tiny --out runs/levers2/{name} --set hourglass_stage= "
                   "--set iterations=1500 --set lr=5e-4 --set release_hourglass_step=0 --set val_every=500 {sets}"),
        runs={
            "shipped_control": ("no lever: the fine-tune alone", FROM_SHIPPED),
            "shipped_all3": ("the crop rule, the camera and the wider yaw on every face", f"{FROM_SHIPPED} {ALL3}"),
            "shipped_soft": ("every face's eyes, brows and lips softened to a photo's contrast",
                             f"{FROM_SHIPPED} --set hr_soft_features=1.0"),
            "shipped_jitter": ("steps 2..T guided by ground-truth landmarks moved ~0.1 eye-corner distances (as far "
                               "as a real face's estimate is off)", f"{FROM_SHIPPED} --set guidance_jitter=0.1"),
            "shipped_all3_soft": ("the crop rule, the camera, the wider yaw and the softened features on every face",
                                  f"{FROM_SHIPPED} {ALL3} --set hr_soft_features=1.0"),
            "shipped_all5": ("all five: the crop rule, the camera, the wider yaw, the softened features and the "
                             "jittered guidance", f"{FROM_SHIPPED} {ALL5}"),
            "shipped_all5x2": ("shipped_all5, then 1,500 more iterations with all five",
                               f"--set init_generator=runs/levers2/shipped_all5/last.pt {ALL5}"),
            "shipped_all5_half": ("all five, the crop rule, the camera and the softened features on half of the faces",
                                  f"{FROM_SHIPPED} {ALL5_HALF}"),
            "shipped_leaves": ("every face on a dead-leaves backdrop (occluding discs of every size) instead of the "
                               "smooth background", f"{FROM_SHIPPED} --set synthetic_backdrop=1.0"),
            "shipped_all3_soft_leaves": ("the crop rule, the camera, the wider yaw, the softened features and the "
                                         "dead-leaves backdrop on every face",
                                         f"{FROM_SHIPPED} {ALL3} --set hr_soft_features=1.0 "
                                         "--set synthetic_backdrop=1.0"),
            "shipped_all5_camera_strong": ("all five with a stronger camera: each effect with probability 0.8 (was "
                                           "0.6), blur sigma 0.5-2 HR px (was 0.3-1.2)",
                                           f"{FROM_SHIPPED} {ALL5} {CAMERA_STRONG}"),
            "shipped_all5_camera_3": ("all five with a stronger camera still: each effect with probability 0.9, blur "
                                      "sigma 0.8-3 HR px", f"{FROM_SHIPPED} {ALL5} {CAMERA_3}"),
            "shipped_all5_camera_3_light": ("shipped_all5_camera_3, and every face relit",
                                            f"{FROM_SHIPPED} {ALL5} {CAMERA_3} --set hr_lighting=1.0"),
            "shipped_all5_camera_4": ("all five with the strongest camera: every effect on every face, blur sigma "
                                      "1.2-4 HR px", f"{FROM_SHIPPED} {ALL5} {CAMERA_4}"),
            "shipped_all5_camera_6": ("all five with the camera beyond that: every effect on every face, blur sigma "
                                      "2-6 HR px", f"{FROM_SHIPPED} {ALL5} {CAMERA_6}"),
            "shipped_all5_camera_3_steps4": ("shipped_all5_camera_3 with one more recurrent step (4, as DIC)",
                                             f"{FROM_SHIPPED} {ALL5} {CAMERA_3} --set num_steps=4"),
            "shipped_all5_camera_3_mse": ("shipped_all5_camera_3 with a squared-error pixel loss (20 x MSE in place "
                                          "of L1)", f"{FROM_SHIPPED} {ALL5} {CAMERA_3} {MSE}"),
            "shipped_all5_camera_3_grin": ("shipped_all5_camera_3, and half of the faces smile as people in photos "
                                           "do (wider, open mouths with teeth)",
                                           f"{FROM_SHIPPED} {ALL5} {CAMERA_3} --set synthetic_grin=0.5"),
            "shipped_all5_camera_3_wide32": ("shipped_all5_camera_3 with a recovery branch twice as wide (16 -> 32 "
                                             "channels, widened from the start model)",
                                             f"{FROM_SHIPPED} {ALL5} {CAMERA_3} {WIDEN.format(32)}"),
            "shipped_all5_camera_3_wide48": ("shipped_all5_camera_3 with a recovery branch three times as wide (16 "
                                             "-> 48 channels, DIC's width)",
                                             f"{FROM_SHIPPED} {ALL5} {CAMERA_3} {WIDEN.format(48)}"),
            "shipped_all5_camera_3x2": ("shipped_all5_camera_3, then 1,500 more iterations",
                                        "--set init_generator=runs/levers2/shipped_all5_camera_3/last.pt "
                                        f"{ALL5} {CAMERA_3}"),
            "shipped_all5_camera_3_wide32x2": ("shipped_all5_camera_3_wide32, then 1,500 more iterations",
                                               "--set init_generator=runs/levers2/shipped_all5_camera_3_wide32/last.pt "
                                               f"--set mid_channels=32 {ALL5} {CAMERA_3}"),
            "shipped_all5_camera_3_wide48x2": ("shipped_all5_camera_3_wide48, then 1,500 more iterations",
                                               "--set init_generator=runs/levers2/shipped_all5_camera_3_wide48/last.pt "
                                               f"--set mid_channels=48 {ALL5} {CAMERA_3}"),
            "shipped_all5_camera_3_wide48x3": ("shipped_all5_camera_3_wide48x2, then 1,500 more iterations",
                                               "--set init_generator=runs/levers2/shipped_all5_camera_3_wide48x2/"
                                               f"last.pt --set mid_channels=48 {ALL5} {CAMERA_3}"),
            "shipped_all5_camera_4x2": ("shipped_all5_camera_4, then 1,500 more iterations",
                                        "--set init_generator=runs/levers2/shipped_all5_camera_4/last.pt "
                                        f"{ALL5} {CAMERA_4}"),
            "shipped_all5_camera_3_wide48x2_camera_4": (
                "shipped_all5_camera_3_wide48x2, then 1,500 iterations with the 1.2-4 px camera",
                "--set init_generator=runs/levers2/shipped_all5_camera_3_wide48x2/last.pt --set mid_channels=48 "
                f"{ALL5} {CAMERA_4}"),
            "shipped_all5_camera_3_wide48x2_camera_4x2": (
                "shipped_all5_camera_3_wide48x2_camera_4, then 1,500 more iterations with the 1.2-4 px camera",
                "--set init_generator=runs/levers2/shipped_all5_camera_3_wide48x2_camera_4/last.pt "
                f"--set mid_channels=48 {ALL5} {CAMERA_4}"),
            "shipped_all5_camera_4_wide48": (
                "shipped_all5_camera_4 widened to 48 channels, then 1,500 iterations with the 1.2-4 px camera",
                f"--set init_generator=runs/levers2/shipped_all5_camera_4/last.pt {ALL5} {CAMERA_4} "
                f"{WIDEN.format(48)}"),
        },
        controls={"shipped_all3": "shipped_control", "shipped_soft": "shipped_control",
                  "shipped_jitter": "shipped_control", "shipped_all3_soft": "shipped_all3",
                  "shipped_all5": "shipped_all3_soft", "shipped_all5x2": "shipped_all5",
                  "shipped_all5_half": "shipped_all5", "shipped_leaves": "shipped_control",
                  "shipped_all3_soft_leaves": "shipped_all3_soft", "shipped_all5_camera_strong": "shipped_all5",
                  "shipped_all5_camera_3": "shipped_all5", "shipped_all5_camera_3_light": "shipped_all5_camera_3",
                  "shipped_all5_camera_4": "shipped_all5_camera_3", "shipped_all5_camera_6": "shipped_all5_camera_3",
                  "shipped_all5_camera_3_steps4": "shipped_all5_camera_3",
                  "shipped_all5_camera_3_mse": "shipped_all5_camera_3",
                  "shipped_all5_camera_3_grin": "shipped_all5_camera_3",
                  "shipped_all5_camera_3_wide32": "shipped_all5_camera_3",
                  "shipped_all5_camera_3_wide48": "shipped_all5_camera_3",
                  "shipped_all5_camera_3x2": "shipped_all5_camera_3",
                  "shipped_all5_camera_3_wide32x2": "shipped_all5_camera_3_wide32",
                  "shipped_all5_camera_3_wide48x2": "shipped_all5_camera_3_wide48",
                  "shipped_all5_camera_3_wide48x3": "shipped_all5_camera_3_wide48x2",
                  "shipped_all5_camera_4x2": "shipped_all5_camera_4",
                  "shipped_all5_camera_3_wide48x2_camera_4": "shipped_all5_camera_3_wide48x3",
                  "shipped_all5_camera_3_wide48x2_camera_4x2": "shipped_all5_camera_3_wide48x2_camera_4",
                  "shipped_all5_camera_4_wide48": "shipped_all5_camera_4x2"}),
    Series(
        start="tiny_real",
        start_what="tiny-real, the packaged model for real photos (its own config: a fine-tune of tiny with the crop "
                   "rule, the camera and the softened features on half of the faces)",
        start_command="dicmini train --config tiny-real --out runs/tiny-real  # = dicmini/assets/dic_tiny_real.pt",
        # the tiny-real config: 1,500 iterations from the packaged tiny; its own run is the control
        fine_tune="dicmini train --config tiny-real --out runs/levers3/{name} {sets}",
        runs=TINY_REAL_RUNS,
        controls=dict.fromkeys(TINY_REAL_RUNS, "tiny_real")),
)


def find_run(name: str) -> tuple[Series, str, str]:
    """``(series, what, command)`` of a run or a start model named ``name``."""
    for series in SERIES:
        if name == series.start:
            return series, series.start_what, series.start_command
        if name in series.runs:
            what, sets = series.runs[name]
            return series, what, series.fine_tune.format(name=name, sets=sets)
    raise KeyError(name)


#: the test-time evaluations a checkpoint may have beside its plain ones (``NAME.<tag>.json``; docstring)
TEST_TIME_FILES = ("flip", "flip.synthetic", "consistent", "flip_consistent", "flip_consistent.synthetic", "dlib",
                   "flip_consistent_dlib")


def last_step_gain(real: dict[str, Any], keys: list[str]) -> np.ndarray:
    """Per face (in ``keys`` order): last-step PSNR minus bicubic PSNR."""
    return np.array([real["faces"][k]["steps"][-1]["psnr"] - real["faces"][k]["bicubic"]["psnr"] for k in keys])


def mean_sem(values: np.ndarray) -> tuple[float, float]:
    return float(values.mean()), float(values.std(ddof=1) / math.sqrt(len(values)))


def row(name: str, real: dict[str, Any], synthetic: dict[str, Any], control: dict[str, Any] | None,
        keys: list[str]) -> dict[str, Any]:
    """One line of the table: the real-face figures from the evaluation's own summary
    (``benchmarks/real_faces_eval.py``), the synthetic ones, and (``control``: the real-face evaluation of this
    run's control, if any) the paired difference to the control, face by face."""
    real_summary = real["summary"]
    series, what, command = find_run(name)
    out: dict[str, Any] = {
        "run": name, "series": series.start, "what": what, "command": command,
        "real_faces": real_summary["faces"],
        "real_gain_db": (real_summary["psnr_gain_last_step"], real_summary["psnr_gain_sem"]),
        "real_faces_above_bicubic": real_summary["faces_last_step_above_bicubic_psnr"],
        "real_identity_closer": real_summary["faces_last_step_identity_below_bicubic"],
        "real_identity_closer_fraction": real_summary["identity_closer_fraction"],
        "real_nme_last": real_summary["step_nme"][-1],
        # the same faces with steps 2..T guided by no landmarks (all-zero maps) and by the true ones
        "real_gain_no_prior_db": real_summary["psnr_gain_last_step_guided_none"],
        "real_gain_true_landmarks_db": real_summary["psnr_gain_last_step_guided_truth"],
        "synthetic_faces": synthetic["num_images"],
        "synthetic_gain_db": synthetic["psnr"][-1] - synthetic["bicubic_psnr"],
        "synthetic_nme": synthetic["nme"],
    }
    if control is not None:
        d = last_step_gain(real, keys) - last_step_gain(control, keys)
        out["control"] = series.controls[name]
        out["vs_control_db"] = mean_sem(d)
        out["vs_control_better_faces"] = int((d > 0).sum())
    return out


def summarise(results: Path = RESULTS) -> dict[str, Any]:
    """The table from the committed evaluations (runs without both files are left out; a series without its start
    model's evaluations is refused)."""
    reals, synthetics = {}, {}
    for name in [n for series in SERIES for n in (series.start, *series.runs)]:
        real, synth = results / f"{name}.json", results / f"{name}.synthetic.json"
        if synth.is_file() and real.is_file():
            synthetics[name] = json.loads(synth.read_text())
            reals[name] = json.loads(real.read_text())
    for series in SERIES:       # the first series' start is the reference of every run's faces
        if series.start not in reals and (series is SERIES[0] or any(n in reals for n in series.runs)):
            raise SystemExit(f"real_face_levers: {results}/{series.start}.json and {series.start}.synthetic.json "
                             "(the start model's evaluations) are missing; see the docstring")
    first = SERIES[0].start
    keys = sorted(reals[first]["faces"])
    for name, real in reals.items():
        if sorted(real["faces"]) != keys:
            raise SystemExit(f"real_face_levers: {name}.json scores other faces than {first}.json; re-run it")
    rows = [row(n, reals[n], synthetics[n], reals.get(find_run(n)[0].controls.get(n, "")), keys)
            for n in synthetics]
    flips, consistent, guided = [], [], []
    for r in rows:
        tagged = {tag: json.loads(f.read_text()) for tag in TEST_TIME_FILES
                  if (f := results / f"{r['run']}.{tag}.json").is_file()}
        plain = reals[r["run"]]
        if files := _all_of(tagged, "flip", "flip.synthetic"):
            flips.append(flip_row(r, plain, *files, keys))
        if files := _all_of(tagged, "consistent", "flip_consistent", "flip_consistent.synthetic"):
            consistent.append(consistent_row(r, plain, tagged.get("flip"), *files, keys))
        if files := _all_of(tagged, "dlib", "flip_consistent_dlib"):
            guided.append(dlib_row(r, plain, *files, keys))
    return {"what": __doc__.split("\n\n")[0], "fine_tunes": {s.start: s.fine_tune for s in SERIES}, "rows": rows,
            "flip": flips, "consistent": consistent, "dlib_guidance": guided}


def _all_of(tagged: dict[str, dict[str, Any]], *tags: str) -> list[dict[str, Any]] | None:
    """The evaluations ``tags`` of one checkpoint, in that order, or None unless every one was found."""
    return [tagged[t] for t in tags] if all(t in tagged for t in tags) else None


def _check_options(name: str, tag: str, result: dict[str, Any], plain: dict[str, Any], keys: list[str],
                   **options: Any) -> None:
    """Refuse ``NAME.TAG.json`` unless it scores ``plain``'s checkpoint on the faces ``keys`` with exactly the
    test-time ``options`` (``flip``, ``consistent``: booleans; ``guidance``: ``"dlib"`` or None)."""
    recorded = {"flip": bool(result.get("flip")), "consistent": bool(result.get("consistent")),
                "guidance": result.get("guidance")}
    if (any(recorded[k] != v for k, v in options.items()) or sorted(result["faces"]) != keys
            or result["checkpoint_sha256"] != plain["checkpoint_sha256"]):
        flags = " ".join(f"--{k}" if v is True else f"--{k} {v}" for k, v in options.items() if v)
        raise SystemExit(f"real_face_levers: {name}.{tag}.json is not {name}.json's checkpoint scored with "
                         f"{flags} on the benchmark's faces")


def flip_row(single: dict[str, Any], plain: dict[str, Any], flipped: dict[str, Any],
             flipped_synthetic: dict[str, Any], keys: list[str]) -> dict[str, Any]:
    """The checkpoint of the table row ``single`` (its real-face evaluation: ``plain``) scored again as the flip
    ensemble (``flipped``), paired face by face; refused unless both score the same checkpoint on the same faces
    and ``flipped`` is the ensemble's."""
    name = single["run"]
    if not flipped.get("flip") or flipped["checkpoint_sha256"] != plain["checkpoint_sha256"]:
        raise SystemExit(f"real_face_levers: {name}.flip.json is not the flip ensemble of {name}.json's checkpoint")
    if sorted(flipped["faces"]) != keys or not flipped_synthetic.get("flip"):
        raise SystemExit(f"real_face_levers: {name}.flip.json / {name}.flip.synthetic.json: re-run with --flip on "
                         "the benchmark's faces")
    gain, single_gain = last_step_gain(flipped, keys), last_step_gain(plain, keys)  # unrounded, to pair
    d = gain - single_gain
    return {"run": name, "real_gain_db": mean_sem(single_gain), "real_gain_flip_db": mean_sem(gain),
            "flip_minus_single_db": mean_sem(d), "flip_better_faces": int((d > 0).sum()),
            "real_identity_closer": single["real_identity_closer"],
            "real_identity_closer_flip": flipped["summary"]["faces_last_step_identity_below_bicubic"],
            "real_faces": len(keys), "synthetic_gain_db": single["synthetic_gain_db"],
            "synthetic_gain_flip_db": flipped_synthetic["psnr"][-1] - flipped_synthetic["bicubic_psnr"]}


def consistent_row(single: dict[str, Any], plain: dict[str, Any], flipped: dict[str, Any] | None,
                   consistent: dict[str, Any], flip_consistent: dict[str, Any],
                   flip_consistent_synthetic: dict[str, Any], keys: list[str]) -> dict[str, Any]:
    """The checkpoint of the table row ``single`` (its real-face evaluation: ``plain``; its flip ensemble's:
    ``flipped``, if scored) made consistent with the input, alone and after the flip ensemble, paired face by face;
    refused unless every file scores the same checkpoint on the same faces with the options its name says."""
    name = single["run"]
    _check_options(name, "consistent", consistent, plain, keys, flip=False, consistent=True, guidance=None)
    _check_options(name, "flip_consistent", flip_consistent, plain, keys, flip=True, consistent=True, guidance=None)
    if not (flip_consistent_synthetic.get("consistent") and flip_consistent_synthetic.get("flip")):
        raise SystemExit(f"real_face_levers: {name}.flip_consistent.synthetic.json: re-run with --flip --consistent")
    single_gain, gain, both = (last_step_gain(r, keys) for r in (plain, consistent, flip_consistent))
    d = gain - single_gain
    summary = consistent["summary"]
    return {"run": name, "real_faces": len(keys), "real_gain_db": mean_sem(single_gain),
            "real_gain_consistent_db": mean_sem(gain), "consistent_minus_single_db": mean_sem(d),
            "consistent_better_faces": int((d > 0).sum()),
            "real_gain_flip_db": None if flipped is None else mean_sem(last_step_gain(flipped, keys)),
            "real_gain_flip_consistent_db": mean_sem(both),
            "real_identity_closer": single["real_identity_closer"],
            "real_identity_closer_consistent": summary["faces_last_step_identity_below_bicubic"],
            "real_identity_closer_flip_consistent":
                flip_consistent["summary"]["faces_last_step_identity_below_bicubic"],
            "bicubic_consistent_gain_db": summary["psnr_gain_bicubic_consistent"],
            "synthetic_gain_db": single["synthetic_gain_db"],
            "synthetic_gain_flip_consistent_db": (flip_consistent_synthetic["psnr"][-1]
                                                  - flip_consistent_synthetic["bicubic_psnr"])}


def dlib_row(single: dict[str, Any], plain: dict[str, Any], guided: dict[str, Any], all_three: dict[str, Any],
             keys: list[str]) -> dict[str, Any]:
    """The checkpoint of the table row ``single`` (its real-face evaluation: ``plain``) guided by dlib's landmarks
    (``guided``) and with the flip ensemble and consistency as well (``all_three``), paired face by face; refused
    unless both score the same checkpoint on the same faces with the options their names say."""
    name = single["run"]
    _check_options(name, "dlib", guided, plain, keys, flip=False, consistent=False, guidance="dlib")
    _check_options(name, "flip_consistent_dlib", all_three, plain, keys, flip=True, consistent=True,
                   guidance="dlib")
    single_gain, gain, both = (last_step_gain(r, keys) for r in (plain, guided, all_three))
    d = gain - single_gain
    return {"run": name, "real_faces": len(keys), "real_gain_db": mean_sem(single_gain),
            "real_gain_dlib_db": mean_sem(gain), "dlib_minus_single_db": mean_sem(d),
            "dlib_better_faces": int((d > 0).sum()),
            "real_gain_true_landmarks_db": single["real_gain_true_landmarks_db"],
            "real_gain_flip_consistent_dlib_db": mean_sem(both),
            "real_nme_own": single["real_nme_last"], "real_nme_dlib_guide": guided["summary"]["dlib_guide_nme"],
            "real_identity_closer": single["real_identity_closer"],
            "real_identity_closer_dlib": guided["summary"]["faces_last_step_identity_below_bicubic"],
            "real_identity_closer_flip_consistent_dlib":
                all_three["summary"]["faces_last_step_identity_below_bicubic"]}


def markdown(summary: dict[str, Any]) -> str:
    lines = ["# Real faces: what each change to the training faces buys", "",
             "Made by `python benchmarks/real_face_levers.py` from the evaluations in this folder (commands in its "
             "docstring). Real: the 62 faces of the real-face benchmark, mmagic protocol; synthetic: 200 held-out "
             "faces. Paired: the same real faces, this run minus its control (the fine-tune of the same length without "
             "the lever).", "",
             "Last two columns: the same model on the real faces with steps 2..T guided by no landmarks (all-zero "
             "maps) and by the true (dlib) landmarks."]
    for series in SERIES:
        rows = [r for r in summary["rows"] if r["series"] == series.start]
        if not rows:
            continue
        lines += ["", f"## From {series.start_what}", "", f"Fine-tune: `{series.fine_tune}`", "",
                  "| run | what | real gain (dB) | > bicubic | identity closer | real NME | synthetic gain (dB) | "
                  "synthetic NME (step 1 → last) | vs its control (dB) | real gain, no prior | real gain, true "
                  "landmarks |", "|---|---|---|---|---|---|---|---|---|---|---|"]
        lines += [_line(r) for r in rows]
    if summary.get("flip"):
        n = summary["flip"][0]["real_faces"]
        lines += ["", "## The flip ensemble (test time)", "",
                  "The same checkpoints scored with `--flip`: each step's image is the mean of the answers for the "
                  "face and for its mirror image (`dicmini.models.flip_ensemble`; twice the compute, no training).",
                  "",
                  "| run | real gain, single pass (dB) | real gain, flip ensemble (dB) | flip − single, same faces "
                  "(dB) | identity closer, single → flip | synthetic gain, single → flip (dB) |",
                  "|---|---|---|---|---|---|"]
        lines += [f"| {r['run']} | {r['real_gain_db'][0]:+.3f} ± {r['real_gain_db'][1]:.3f} | "
                  f"{r['real_gain_flip_db'][0]:+.3f} ± {r['real_gain_flip_db'][1]:.3f} | "
                  f"{r['flip_minus_single_db'][0]:+.3f} ± {r['flip_minus_single_db'][1]:.3f} "
                  f"({r['flip_better_faces']}/{n} faces) | {r['real_identity_closer']}/{n} → "
                  f"{r['real_identity_closer_flip']}/{n} | {r['synthetic_gain_db']:+.2f} → "
                  f"{r['synthetic_gain_flip_db']:+.2f} |" for r in summary["flip"]]
    if summary.get("consistent"):
        n = summary["consistent"][0]["real_faces"]
        bicubic = summary["consistent"][0]["bicubic_consistent_gain_db"]
        lines += ["", "## Consistency with the input (test time)", "",
                  "The same checkpoints scored with `--consistent`: each step's image is corrected, by the least "
                  "change, so that its PIL-bicubic x1/8 is exactly the 16-px input (`dicmini.models.consistency`; "
                  "no training). The baseline stays plain bicubic; bicubic made consistent the same way is itself "
                  f"{bicubic[0]:+.3f} ± {bicubic[1]:.3f} dB over it.", "",
                  "| run | real gain (dB): single | consistent | flip | flip + consistent | consistent − single, same "
                  "faces (dB) | identity closer: single → consistent → flip + consistent | synthetic gain, single → "
                  "flip + consistent (dB) |", "|---|---|---|---|---|---|---|---|"]
        for r in summary["consistent"]:
            flip = r["real_gain_flip_db"]
            lines.append(
                f"| {r['run']} | {r['real_gain_db'][0]:+.3f} | {r['real_gain_consistent_db'][0]:+.3f} | "
                + (f"{flip[0]:+.3f}" if flip else "–")
                + f" | {r['real_gain_flip_consistent_db'][0]:+.3f} ± {r['real_gain_flip_consistent_db'][1]:.3f} | "
                f"{r['consistent_minus_single_db'][0]:+.3f} ± {r['consistent_minus_single_db'][1]:.3f} "
                f"({r['consistent_better_faces']}/{n} faces) | {r['real_identity_closer']} → "
                f"{r['real_identity_closer_consistent']} → {r['real_identity_closer_flip_consistent']} /{n} | "
                f"{r['synthetic_gain_db']:+.2f} → {r['synthetic_gain_flip_consistent_db']:+.2f} |")
    if summary.get("dlib_guidance"):
        n = summary["dlib_guidance"][0]["real_faces"]
        lines += ["", "## dlib's landmarks as guidance (test time)", "",
                  "The same checkpoints with steps 2..T guided by the 68 points dlib's shape predictor finds on the "
                  "model's own last-step SR image, inside the box of the model's own landmarks "
                  "(`dicmini.faces.guidance`; one more pass, not DIC). Beside: the model's own landmark NME, dlib's on "
                  "the SR image, and the gain with the true (dlib on the HR photo) landmarks.", "",
                  "| run | real gain (dB): own landmarks | dlib's | true | flip + consistent + dlib's | dlib − own, "
                  "same faces (dB) | NME: own → dlib on SR | identity closer: own → dlib's → all three |",
                  "|---|---|---|---|---|---|---|---|"]
        lines += [f"| {r['run']} | {r['real_gain_db'][0]:+.3f} | {r['real_gain_dlib_db'][0]:+.3f} | "
                  f"{r['real_gain_true_landmarks_db'][0]:+.3f} | **{r['real_gain_flip_consistent_dlib_db'][0]:+.3f}** "
                  f"± {r['real_gain_flip_consistent_dlib_db'][1]:.3f} | {r['dlib_minus_single_db'][0]:+.3f} ± "
                  f"{r['dlib_minus_single_db'][1]:.3f} ({r['dlib_better_faces']}/{n} faces) | "
                  f"{100 * r['real_nme_own']:.1f} → {100 * r['real_nme_dlib_guide']:.1f} % | "
                  f"{r['real_identity_closer']} → {r['real_identity_closer_dlib']} → "
                  f"**{r['real_identity_closer_flip_consistent_dlib']}** /{n} |" for r in summary["dlib_guidance"]]
    return "\n".join(lines) + "\n"


def _line(r: dict[str, Any]) -> str:
    """One row of the markdown table."""
    g, s = r["real_gain_db"], r.get("vs_control_db")
    paired = (f"{s[0]:+.3f} ± {s[1]:.3f} vs {r['control']} ({r['vs_control_better_faces']}/{r['real_faces']} "
              "faces)") if s else "–"
    return (f"| {r['run']} | {r['what']} | {g[0]:+.3f} ± {g[1]:.3f} | {r['real_faces_above_bicubic']}/"
            f"{r['real_faces']} | {r['real_identity_closer']}/{r['real_faces']} | "
            f"{100 * r['real_nme_last']:.1f} % | {r['synthetic_gain_db']:+.2f} | "
            f"{100 * r['synthetic_nme'][0]:.2f} → {100 * r['synthetic_nme'][-1]:.2f} % | {paired} | "
            f"{r['real_gain_no_prior_db'][0]:+.3f} | {r['real_gain_true_landmarks_db'][0]:+.3f} |")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--results", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    summary = summarise(args.results)
    text = json.dumps(summary, indent=1) + "\n"
    atomic_write(args.results / "summary.json", lambda tmp: tmp.write_text(text))
    table = markdown(summary)
    atomic_write(args.results / "SUMMARY.md", lambda tmp: tmp.write_text(table))
    print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
