"""Command-line entry points of :mod:`dicmini.faces`.

* ``dicmini data prepare IN_DIR OUT_DIR [options]`` -- photos -> prepared face folder (also
  ``data_scripts/prepare_faces.py``); added to the ``data`` group by :mod:`dicmini.cli` with :func:`register_prepare`.
* ``dicmini sr-photo IN OUT [--simulate]`` -- super-resolve the small faces of a photo, or demonstrate x8 on the
  larger ones (:mod:`dicmini.faces.photo`); exit status 1 and one line when no face is found or used.

Without the optional extra both print one line (``dlib is not installed: pip install 'dicmini[faces]'``)
and exit with status 2, like every user-fixable error of the CLI.
"""

from __future__ import annotations

import argparse
import sys

from ..errors import CLIError
from ..data.crop import CROP_SCALE

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


SR_PHOTO_HELP = ("super-resolve the small (~16-px) faces of a photo with DIC; --simulate demonstrates x8 on larger "
                 "faces (needs dicmini[faces])")
SR_PHOTO_DESCRIPTION = """\
What the model does: it super-resolves 16x16 faces to 128x128 (x8). Two uses:

  * faces that really are small in the photo (dlib's box <= --max-face px) are cropped, brought to 16 px,
    super-resolved and pasted back into OUT (use --zoom to see them at full resolution);
  * --simulate: larger faces are shrunk to 16 px to *demonstrate* x8 recovery; OUT is then a side-by-side
    figure per face (LR | bicubic | SR | original), never a degraded photo.

Larger faces without --simulate, and detections scoring below --min-score (badges, patterns), are skipped
with the reason. Nothing is written when no face is used (exit status 1)."""


def run_sr_photo(args: argparse.Namespace) -> int:
    from pathlib import Path

    from .detect import FacesExtraMissing
    from .photo import NoFaceFound, face_size, sr_photo_file

    if not Path(args.input).is_file():
        raise FileNotFoundError(f"{args.input}: photo not found")
    for option, value, low, high in (("--zoom", args.zoom, 1, 8), ("--upsample", args.upsample, 0, 4),
                                     ("--feather", args.feather, 0.0, 0.5), ("--scale", args.scale, 0.5, 4.0),
                                     ("--min-score", args.min_score, -10.0, 10.0),
                                     ("--max-face", args.max_face, 1, 4096)):
        if not low <= value <= high:
            raise ValueError(f"{option}: expected {low}..{high}, got {value}")
    if args.simulate and args.zoom != 1:
        raise ValueError("--zoom scales the output photo; --simulate writes a figure of 128-px faces instead")
    options = dict(upsample=args.upsample, best_only=args.best_only, scale=args.scale, min_score=args.min_score,
                   max_face=args.max_face, device=args.device, flip=args.flip,
                   consistent=args.consistent, dlib_guidance=args.guidance == "dlib")
    if not args.simulate:
        options.update(zoom=args.zoom, feather=args.feather)
    try:
        faces, skipped = sr_photo_file(args.input, args.output, args.checkpoint, simulate_faces=args.simulate,
                                       faces_dir=args.faces_dir, **options)
    except FacesExtraMissing as err:
        raise _user_error(err) from None
    except NoFaceFound as err:
        print(f"dicmini: {args.input}: {err}", file=sys.stderr)
        return EXIT_NO_FACE
    what = "shrunk to 16 px -> SR 128 px (simulation)" if args.simulate else "-> 16 px -> SR 128 px, pasted back"
    if args.flip:
        what += "; flip ensemble"
    if args.consistent:
        what += "; consistent with the 16-px face"
    if args.guidance == "dlib":
        what += "; guided by dlib's landmarks on the SR face"
    for i, f in enumerate(faces):
        print(f"face {i}: {face_size(f.detector_box)} px, score {f.score:.2f}, crop {f.box.side} px at "
              f"({f.box.left}, {f.box.top}) {what}")
    for s in skipped:
        print(f"skipped: {face_size(s.detector_box)} px detection at ({s.detector_box[0]}, {s.detector_box[1]}), "
              f"score {s.score:.2f}: {s.reason}")
    if not faces:
        hint = ("" if args.simulate else "; --simulate demonstrates x8 on larger faces, and faces smaller than "
                "~40 px need --upsample 2 or 3")
        print(f"dicmini: {args.input}: no face to {'simulate' if args.simulate else 'super-resolve'} "
              f"({len(skipped)} detection{'s' if len(skipped) != 1 else ''} skipped{hint}); nothing written",
              file=sys.stderr)
        return EXIT_NO_FACE
    kind = "side-by-side figure" if args.simulate else "photo"
    print(f"wrote {args.output} ({kind}, {len(faces)} face{'s' if len(faces) != 1 else ''}; {len(skipped)} skipped)")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``sr-photo`` to the top-level ``dicmini`` commands."""
    from ..train.inference import CONSISTENT_HELP, FLIP_HELP
    from .detect import MIN_SCORE
    from .photo import SMALL_FACE_MAX

    p = sub.add_parser("sr-photo", help=SR_PHOTO_HELP, description=SR_PHOTO_DESCRIPTION,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("input", metavar="IN", help="input photo")
    p.add_argument("output", metavar="OUT", help="output photo, or with --simulate the figure (.png or .jpg)")
    p.add_argument("--checkpoint", default="tiny",
                   help="DIC checkpoint (dicmini, MMagic or official) or a packaged model: 'tiny' (trained on "
                        "synthetic faces; default) or 'tiny-real' (tiny fine-tuned for real photos)")
    p.add_argument("--simulate", action="store_true",
                   help="shrink the larger faces to 16 px and write a LR | bicubic | SR | original figure")
    p.add_argument("--max-face", type=int, default=SMALL_FACE_MAX,
                   help=f"faces with a detector box of at most this many px are 'small' (default {SMALL_FACE_MAX})")
    p.add_argument("--min-score", type=float, default=MIN_SCORE,
                   help=f"skip detections scoring below this (badges, patterns; default {MIN_SCORE})")
    p.add_argument("--upsample", type=int, default=1,
                   help="detector upsampling: 1 finds faces from ~40 px, 2 ~20 px, 3 ~10 px (default 1)")
    p.add_argument("--best-only", action="store_true", help="only the highest-scoring face")
    p.add_argument("--zoom", type=int, default=1, help="scale the output photo by this whole factor (default 1)")
    p.add_argument("--scale", type=float, default=CROP_SCALE, help=f"crop rule scale (default {CROP_SCALE})")
    p.add_argument("--feather", type=float, default=0.15,
                   help="blend ramp width as a fraction of the crop side (default 0.15)")
    p.add_argument("--faces-dir", help="also write each face's 16 px input, bicubic x8 and SR (and original) here")
    p.add_argument("--device", help="torch device (default: the checkpoint's, CPU)")
    p.add_argument("--flip", action="store_true", help=FLIP_HELP)
    p.add_argument("--consistent", action="store_true", help=CONSISTENT_HELP)
    p.add_argument("--guidance", choices=("own", "dlib"), default="own",
                   help="what guides the recovery's steps 2..T: the model's own landmarks (DIC, default) or those "
                        "dlib finds on the model's SR face (one more pass; not part of DIC)")
    p.set_defaults(run=run_sr_photo)
