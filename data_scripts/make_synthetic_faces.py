#!/usr/bin/env python
"""Write a folder (or train/val/test split) of synthetic faces with exact 68-point landmarks.

Same as ``dicmini data synth``; resumable and idempotent (re-running skips finished files, and a killed
run leaves no half-written file). Examples::

    python data_scripts/make_synthetic_faces.py --out data/synth --n 1000 --seed 0
    python data_scripts/make_synthetic_faces.py --out data/synth --split 8000,500,500
"""

import sys

from dicmini.cli import main

if __name__ == "__main__":
    sys.exit(main(["data", "synth", *sys.argv[1:]]))
