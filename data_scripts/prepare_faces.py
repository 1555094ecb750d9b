#!/usr/bin/env python
"""Prepare a folder of photos as 128x128 faces with 68 landmarks (needs ``pip install 'dicmini[faces]'``).

Same as ``dicmini data prepare IN_DIR OUT_DIR [options]``: detect the face (dlib HOG, best box), its 68
landmarks (dlib shape predictor), crop the landmark square (side 1.6 x the landmarks' extent, centred
between eyes and mouth), resize to 128 with PIL bicubic and write ``NAME.png`` + ``landmarks.json``.
Photos without a face are listed in ``OUT_DIR/not_found.txt``; re-running resumes. Recipes for CelebA,
CelebA-HQ and Helen: docs/real_faces.md. Examples::

    python data_scripts/prepare_faces.py photos/ data/my_faces --workers 2
    python data_scripts/prepare_faces.py img_celeba/ data/celeba_test --list list_eval_partition.txt --partition 2
    python data_scripts/prepare_faces.py celeba_hq_256/test data/celebahq_test --protocol aligned
"""

import sys

from dicmini.cli import main

if __name__ == "__main__":
    sys.exit(main(["data", "prepare", *sys.argv[1:]]))
