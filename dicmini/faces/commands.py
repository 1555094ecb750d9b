"""Command-line entry points of :mod:`dicmini.faces`.

* ``dicmini data prepare IN_DIR OUT_DIR [options]`` -- photos -> prepared face folder (also
  ``data_scripts/prepare_faces.py``); registered into the ``data`` group by :func:`register_prepare`.
* ``dicmini sr-photo IN OUT --checkpoint PATH`` -- super-resolve the faces of a photo; exit status 1 and
  one line when no face is found.

Without the optional extra both print one line (``dlib is not installed: pip install 'dicmini[faces]'``)
and exit with status 2, like every user-fixable error of the CLI.
"""

from __future__ import annotations

import argparse
import sys

from ..errors import CLIError
from .crop import CROP_SCALE

EXIT_NO_FACE = 1


def _user_error(err: Exception) -> Exception:
    return CLIError(str(err))


def run_prepare(args: argparse.Namespace) -> int:
    from .detect import FacesExtraMissing
    from .prepare import PrepareOptions, prepare_folder, read_list

    options = PrepareOptions(protocol=args.protocol, size=args.size, scale=args.scale, pad_mode=args.pad,
                             upsample=args.upsample)
    if args.partition is not None and args.list is None:
        raise ValueError("--partition needs --list (e.g. CelebA's list_eval_partition.txt)")
    if args.workers < 1:
        raise ValueError(f"--workers: expected >= 1, got {args.workers}")
    names = read_list(args.list, args.partition) if args.list else None
    try:
        result = prepare_folder(args.in_dir, args.out_dir, options=options, names=names, workers=args.workers,
                                retry_not_found=args.retry_not_found, progress=not args.quiet)
    except FacesExtraMissing as err:
        raise _user_error(err) from None
    for name, reason in list(result.not_found.items())[:10]:
        print(f"  no face: {name} ({reason})")
    if len(result.not_found) > 10:
        print(f"  ... and {len(result.not_found) - 10} more")
    print(result.summary())
    return 0


def add_prepare_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("in_dir", metavar="IN_DIR", help="folder of photos (.jpg .png .bmp .ppm .tif .webp)")
    p.add_argument("out_dir", metavar="OUT_DIR", help="output face folder (created; re-running resumes)")
    p.add_argument("--protocol", choices=("crop", "aligned"), default="crop",
                   help="crop: detect, crop the landmark square, resize (CelebA/Helen; default). aligned: "
                        "resize the whole square image and detect landmarks on it (MMagic CelebA-HQ)")
    p.add_argument("--size", type=int, default=128, help="output side in pixels (default 128)")
    p.add_argument("--scale", type=float, default=CROP_SCALE,
                   help=f"crop side / largest landmark extent (default {CROP_SCALE})")
    p.add_argument("--pad", choices=("edge", "constant", "reflect"), default="edge",
                   help="how crop parts outside the photo are filled (default edge: replicate the border)")
    p.add_argument("--upsample", type=int, default=1,
                   help="upsample up to N times when no face is found (0: faces >= ~80 px, 1: ~40 px, "
                        "2: ~20 px; default 1)")
    p.add_argument("--workers", type=int, default=1, help="worker processes (default 1)")
    p.add_argument("--list", metavar="FILE", help="prepare only the files named in FILE (first column)")
    p.add_argument("--partition", metavar="N",
                   help="with --list: only lines whose second column is N (CelebA: 0 train, 1 val, 2 test)")
    p.add_argument("--retry-not-found", action="store_true", help="try again the photos in not_found.txt")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def register_prepare(data_sub: argparse._SubParsersAction) -> None:
    """Add ``prepare`` to the ``dicmini data`` group."""
    p = data_sub.add_parser("prepare", help="photos -> prepared 128x128 face folder (needs dicmini[faces])")
    add_prepare_arguments(p)
    p.set_defaults(run=run_prepare)


def run_sr_photo(args: argparse.Namespace) -> int:
    from pathlib import Path

    from .detect import FacesExtraMissing
    from .photo import NoFaceFound, sr_photo_file

    if not Path(args.input).is_file():
        raise FileNotFoundError(f"{args.input}: photo not found")
    for option, value, low, high in (("--zoom", args.zoom, 1, 8), ("--upsample", args.upsample, 0, 4),
                                     ("--feather", args.feather, 0.0, 0.5), ("--scale", args.scale, 0.5, 4.0)):
        if not low <= value <= high:
            raise ValueError(f"{option}: expected {low}..{high}, got {value}")
    try:
        faces = sr_photo_file(args.input, args.output, args.checkpoint, faces_dir=args.faces_dir,
                              upsample=args.upsample, best_only=args.best_only, zoom=args.zoom,
                              scale=args.scale, feather=args.feather, device=args.device)
    except FacesExtraMissing as err:
        raise _user_error(err) from None
    except NoFaceFound as err:
        print(f"dicmini: {args.input}: {err}", file=sys.stderr)
        return EXIT_NO_FACE
    for i, f in enumerate(faces):
        print(f"face {i}: score {f.score:.2f}, crop {f.box.side} px at ({f.box.left}, {f.box.top}) -> 16 px -> SR 128 px")
    print(f"wrote {args.output} ({len(faces)} face{'s' if len(faces) != 1 else ''})")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``sr-photo`` to the top-level ``dicmini`` commands."""
    p = sub.add_parser("sr-photo", help="super-resolve the faces of a photo with DIC (needs dicmini[faces])")
    p.add_argument("input", metavar="IN", help="input photo")
    p.add_argument("output", metavar="OUT", help="output photo (.png or .jpg)")
    p.add_argument("--checkpoint", required=True, help="DIC checkpoint (dicmini, MMagic or official) or 'tiny'")
    p.add_argument("--upsample", type=int, default=1, help="detector upsampling for small faces (default 1)")
    p.add_argument("--best-only", action="store_true", help="only the highest-scoring face")
    p.add_argument("--zoom", type=int, default=1, help="scale the output photo by this whole factor (default 1)")
    p.add_argument("--scale", type=float, default=CROP_SCALE, help=f"crop rule scale (default {CROP_SCALE})")
    p.add_argument("--feather", type=float, default=0.15,
                   help="blend ramp width as a fraction of the crop side (default 0.15)")
    p.add_argument("--faces-dir", help="also write each face's 16 px input, bicubic x8 and SR here")
    p.add_argument("--device", help="torch device (default: the checkpoint's, CPU)")
    p.set_defaults(run=run_sr_photo)
