"""``dicmini data ...``: make synthetic face folders, prepare folders from photos (``prepare``: real photos, in
:mod:`dicmini.faces.commands`, added to this group by :mod:`dicmini.cli`) and look at any prepared folder."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from PIL import Image

from ..utils import atomic_write, refuse_overwriting


def _split_sizes(text: str) -> tuple[int, int, int]:
    parts = text.replace("/", ",").split(",")
    try:
        sizes = tuple(int(p) for p in parts)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--split: expected three sizes like 800,100,100, got {text!r}") from None
    if len(sizes) != 3 or any(s < 0 for s in sizes) or sum(sizes) == 0:
        raise argparse.ArgumentTypeError(f"--split: expected three non-negative sizes like 800,100,100, got {text!r}")
    return sizes  # type: ignore[return-value]


def synth_plan(n: int | None, seed: int, split: tuple[int, int, int] | None) -> dict[str, range]:
    """Seeds of each folder to write.

    Without ``split``: one folder of ``n`` faces with seeds ``seed .. seed+n-1``. With ``split =
    (train, val, test)``: ``train/`` takes seeds from ``seed``, ``val/`` the next ones, and ``test/``
    is drawn from the held-out range (``HELD_OUT_SEED_START + seed`` on), so test faces can never be
    seen in training. Training seeds must stay below the held-out range.
    """
    from .synthetic import HELD_OUT_SEED_START

    if seed < 0:
        raise ValueError(f"--seed: expected >= 0, got {seed}")
    if split is None:
        if n is None or n <= 0:
            raise ValueError(f"--n: expected a positive number of faces, got {n}")
        return {"": range(seed, seed + n)}
    n_train, n_val, n_test = split
    if seed + n_train + n_val > HELD_OUT_SEED_START:
        raise ValueError(f"--seed/--split: training and validation seeds must stay below {HELD_OUT_SEED_START}")
    plan = {
        "train": range(seed, seed + n_train),
        "val": range(seed + n_train, seed + n_train + n_val),
        "test": range(HELD_OUT_SEED_START + seed, HELD_OUT_SEED_START + seed + n_test),
    }
    return {k: v for k, v in plan.items() if len(v)}


def run_synth(args: argparse.Namespace) -> int:
    from .face_folder import write_face_folder
    from .synthetic import render_face

    if args.n is not None and args.split is not None:
        raise ValueError("--n and --split: give one of them, not both")
    if not 16 <= args.size <= 1024 or args.size % 8:
        raise ValueError(f"--size: expected a multiple of 8 in 16..1024, got {args.size}")
    plan = synth_plan(args.n, args.seed, args.split)
    for sub, seeds in plan.items():
        folder = Path(args.out) / sub
        write_face_folder(folder, seeds, lambda s: render_face(s, size=args.size),
                          progress=not args.quiet, desc=f"synth {sub or folder.name}")
        print(f"{folder}: {len(seeds)} faces, seeds {seeds.start}..{seeds.stop - 1}")
    return 0


def run_show(args: argparse.Namespace) -> int:
    from .contact_sheet import contact_sheet
    from .datasets import LANDMARKS_FILE, FaceFolder, load_face_image

    for option, value, low, high in (("--n", args.n, 1, 10_000), ("--cols", args.cols, 1, 100),
                                     ("--zoom", args.zoom, 1, 8), ("--size", args.size, 8, 1024)):
        if not low <= value <= high:
            raise ValueError(f"{option}: expected {low}..{high}, got {value}")
    folder = FaceFolder(args.dir, size=args.size)
    out = Path(args.out) if args.out else folder.root.parent / f"{folder.root.name}_contact_sheet.png"
    refuse_overwriting([out], [folder.root / n for n in folder.files] + [folder.root / LANDMARKS_FILE], "--out")
    names = folder.files[: args.n]
    images = [load_face_image(folder.root / n, args.size) for n in names]
    points = [folder.landmarks[n] for n in names]
    sheet = contact_sheet(images, points, cols=args.cols, zoom=args.zoom)
    atomic_write(out, lambda tmp: Image.fromarray(np.asarray(sheet)).save(tmp, format="PNG"))
    print(f"wrote {out} ({len(images)} faces)")
    return 0


def register(sub: argparse._SubParsersAction) -> argparse._SubParsersAction:
    """Add the ``data`` group to the top-level ``dicmini`` commands; returns the group's actions, to which
    :func:`dicmini.cli.build_parser` adds ``prepare`` (:func:`dicmini.faces.commands.register_prepare`: the
    faces package sits above ``data``)."""
    data = sub.add_parser("data", help="make and inspect face data")
    data_sub = data.add_subparsers(dest="data_command", metavar="ACTION", required=True)

    synth = data_sub.add_parser("synth", help="write synthetic faces with exact landmarks to a folder")
    synth.add_argument("--out", required=True, help="output folder (created; re-running resumes)")
    synth.add_argument("--n", type=int, help="number of faces (one folder)")
    synth.add_argument("--seed", type=int, default=0, help="first seed (default 0)")
    synth.add_argument("--split", type=_split_sizes, metavar="TRAIN,VAL,TEST",
                       help="write train/ val/ test/ sub-folders of these sizes; test uses held-out seeds")
    synth.add_argument("--size", type=int, default=128, help="image size (default 128)")
    synth.add_argument("--quiet", action="store_true", help="no progress bar")
    synth.set_defaults(run=run_synth)

    show = data_sub.add_parser("show", help="write a contact sheet PNG of faces with landmarks overlaid")
    show.add_argument("dir", help="a prepared face folder (images + landmarks.json)")
    show.add_argument("--out", help="output PNG (default: DIR_contact_sheet.png beside DIR)")
    show.add_argument("--n", type=int, default=16, help="number of faces (default 16)")
    show.add_argument("--cols", type=int, default=4)
    show.add_argument("--zoom", type=int, default=2)
    show.add_argument("--size", type=int, default=128)
    show.set_defaults(run=run_show)
    return data_sub
