"""``python -m dicmini.data.synthetic --out FILE.png``: a contact sheet of faces with their landmarks."""

from __future__ import annotations

import argparse


def main(argv: list[str] | None = None) -> int:
    """``python -m dicmini.data.synthetic --out docs/synthetic_faces.png``: a contact sheet of faces."""
    from PIL import Image

    from ..contact_sheet import contact_sheet
    from .render import render_faces

    ap = argparse.ArgumentParser(prog="python -m dicmini.data.synthetic",
                                 description="Render a contact sheet of synthetic faces with their landmarks.")
    ap.add_argument("--out", default="docs/synthetic_faces.png")
    ap.add_argument("--first", type=int, default=0, help="first seed")
    ap.add_argument("--n", type=int, default=16)
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--cols", type=int, default=4)
    ap.add_argument("--zoom", type=int, default=2)
    ap.add_argument("--no-landmarks", action="store_true")
    args = ap.parse_args(argv)
    seeds = list(range(args.first, args.first + args.n))
    images, points = render_faces(seeds, args.size)
    sheet = contact_sheet(list(images), None if args.no_landmarks else list(points), cols=args.cols, zoom=args.zoom,
                          labels=[str(s) for s in seeds])
    Image.fromarray(sheet).save(args.out)
    print(f"wrote {args.out}: seeds {seeds[0]}..{seeds[-1]}, {args.size} px x{args.zoom}")
    return 0
