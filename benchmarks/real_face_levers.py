"""Real faces: what each change to the synthetic training faces buys, measured on the real-face benchmark.

Each lever is a short fine-tune of a trained tiny DIC, the *start* model, through ``dicmini train`` (1,500 iterations,
Adam 5e-4 with a cosine decay, the tiny recipe of its time otherwise: equal step weights, alignment weight 1),
beside a *control* fine-tune with the same settings and no lever, so that the effect of fine-tuning itself is not
credited to the lever. Each checkpoint is then scored on the 62 faces of the real-face benchmark
(``benchmarks/real_faces_eval.py``, notebook 09b) and on 200 held-out synthetic faces (``dicmini test``). This
script reads those results and writes the table: per run, the last-step PSNR gain over bicubic on real faces (mean
+- standard error), on how many faces SR is closer to the person's identity than bicubic (dlib descriptor), the
landmark NME, the synthetic figures, and the paired difference to the control on the same real faces.

The start model is the tiny DIC shipped until the recipe weighed later steps more (``step_decay``); it is in the
history, and the table was measured before that change. Runs (the commands are in :data:`RUNS`; ``runs/levers/``
is not committed, the evaluations are)::

    mkdir -p runs/levers && git show 7b42a82:dicmini/assets/dic_tiny.pt > runs/levers/start.pt
    dicmini train --config tiny --out runs/levers/NAME --set hourglass_stage= --set iterations=1500 \\
        --set lr=5e-4 --set release_hourglass_step=0 --set val_every=500 --set step_decay=1 --set align_weight=1 \\
        --set init_generator=runs/levers/start.pt --set hr_camera=P
    OMP_NUM_THREADS=1 python benchmarks/real_faces_eval.py --checkpoint runs/levers/NAME/last.pt \\
        --out benchmarks/results/real_face_levers/NAME.json --crops-dir ''
    dicmini test --checkpoint runs/levers/NAME/last.pt --data synthetic --n 200 --no-identity --no-lpips \\
        --json benchmarks/results/real_face_levers/NAME.synthetic.json
    python benchmarks/real_face_levers.py        # -> benchmarks/results/real_face_levers/summary.json, SUMMARY.md

The start model's row comes from ``python benchmarks/real_faces_eval.py --checkpoint runs/levers/start.pt --out
benchmarks/results/real_face_levers/start.json --crops-dir ''`` and ``dicmini test --checkpoint runs/levers/start.pt
--data synthetic --n 200 --no-identity --no-lpips --json benchmarks/results/real_face_levers/start.synthetic.json``.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import Any

import numpy as np

from dicmini.utils import atomic_write

ROOT = Path(__file__).resolve().parents[1]

RESULTS = ROOT / "benchmarks" / "results" / "real_face_levers"

#: the row of the model every fine-tune starts from
START = "the start model: the tiny DIC shipped before the recipe weighed later steps more"
START_COMMAND = "git show 7b42a82:dicmini/assets/dic_tiny.pt > runs/levers/start.pt"
#: the ``--set`` of the runs that start from the start model
FROM_START = "--set init_generator=runs/levers/start.pt"

#: run name -> (what changes, the `--set` values beyond the common fine-tune :data:`FINE_TUNE`)
RUNS: dict[str, tuple[str, str]] = {
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
    "all3": ("the crop rule, the camera and the wider yaw on every face",
             f"{FROM_START} --set hr_crop_rule=1.0 --set hr_camera=1.0 "
             "--set synthetic_yaw=20,40"),
    "light": ("every face relit (a directional light, uneven shading, a colour cast, an exposure curve)",
              f"{FROM_START} --set hr_lighting=1.0"),
    "light_camera": ("every face relit, then through the camera",
                     f"{FROM_START} --set hr_lighting=1.0 --set hr_camera=1.0"),
    "camera_priordrop": ("the camera on every face, and steps 2..T guided by no landmarks on half the iterations",
                         f"{FROM_START} --set hr_camera=1.0 --set prior_dropout=0.5"),
}
#: the fine-tune every run shares: the tiny recipe of the start model's time (equal step weights, alignment weight 1)
#: from a trained generator, 1,500 iterations at Adam 5e-4 (cosine)
FINE_TUNE = ("dicmini train --config tiny --out runs/levers/{name} --set hourglass_stage= --set iterations=1500 "
             "--set lr=5e-4 --set release_hourglass_step=0 --set val_every=500 --set step_decay=1 --set align_weight=1 "
             "{sets}")
#: each run's control: the fine-tune of the same length without the lever
CONTROLS = {"camera25": "control", "camera": "control", "camera100": "control", "camera100x2": "controlx2",
            "croprule": "control", "croprule_camera": "camera100", "all3": "camera100",
            "light": "control", "light_camera": "camera100", "camera_priordrop": "camera100"}


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
    out: dict[str, Any] = {
        "run": name, "what": RUNS[name][0] if name in RUNS else START,
        "command": FINE_TUNE.format(name=name, sets=RUNS[name][1]) if name in RUNS else START_COMMAND,
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
        out["control"] = CONTROLS[name]
        out["vs_control_db"] = mean_sem(d)
        out["vs_control_better_faces"] = int((d > 0).sum())
    return out


def summarise(results: Path = RESULTS) -> dict[str, Any]:
    """The table from the committed evaluations (runs without both files are left out)."""
    reals, synthetics = {}, {}
    for name in ["start", *RUNS]:
        real, synth = results / f"{name}.json", results / f"{name}.synthetic.json"
        if synth.is_file() and real.is_file():
            synthetics[name] = json.loads(synth.read_text())
            reals[name] = json.loads(real.read_text())
    if "start" not in reals:
        raise SystemExit(f"real_face_levers: {results}/start.json and start.synthetic.json (the start model's "
                         "evaluations) are missing; see the docstring")
    keys = sorted(reals["start"]["faces"])
    for name, real in reals.items():
        if sorted(real["faces"]) != keys:
            raise SystemExit(f"real_face_levers: {name}.json scores other faces than start.json; re-run it")
    rows = [row(n, reals[n], synthetics[n], reals.get(CONTROLS.get(n, "")), keys) for n in synthetics]
    return {"what": __doc__.split("\n\n")[0], "fine_tune": FINE_TUNE, "rows": rows}


def markdown(summary: dict[str, Any]) -> str:
    lines = ["# Real faces: what each change to the training faces buys", "",
             "Made by `python benchmarks/real_face_levers.py` from the evaluations in this folder (commands in its "
             "docstring). Real: the 62 faces of the real-face benchmark, mmagic protocol; synthetic: 200 held-out "
             "faces. Paired: the same real faces, this run minus its control (the fine-tune of the same length without "
             "the lever).", "",
             "Last two columns: the same model on the real faces with steps 2..T guided by no landmarks (all-zero "
             "maps) and by the true (dlib) landmarks.", "",
             "| run | what | real gain (dB) | > bicubic | identity closer | real NME | synthetic gain (dB) | "
             "synthetic NME (step 1 → last) | vs its control (dB) | real gain, no prior | real gain, true landmarks |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in summary["rows"]:
        g, s = r["real_gain_db"], r.get("vs_control_db")
        paired = (f"{s[0]:+.3f} ± {s[1]:.3f} vs {r['control']} ({r['vs_control_better_faces']}/{r['real_faces']} "
                  "faces)") if s else "–"
        lines.append(f"| {r['run']} | {r['what']} | {g[0]:+.3f} ± {g[1]:.3f} | {r['real_faces_above_bicubic']}/"
                     f"{r['real_faces']} | {r['real_identity_closer']}/{r['real_faces']} | "
                     f"{100 * r['real_nme_last']:.1f} % | {r['synthetic_gain_db']:+.2f} | "
                     f"{100 * r['synthetic_nme'][0]:.2f} → {100 * r['synthetic_nme'][-1]:.2f} % | {paired} | "
                     f"{r['real_gain_no_prior_db'][0]:+.3f} | {r['real_gain_true_landmarks_db'][0]:+.3f} |")
    return "\n".join(lines) + "\n"


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
