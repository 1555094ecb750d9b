"""Pinned pixels: SHA-256 of the image and landmark bytes of a few synthetic faces.

These hashes were recorded from the renderer before it was split into modules (issue #16). They guard
every refactor of :mod:`dicmini.data.synthetic`: a changed hash means a changed face, hence changed
datasets, notebook outputs and committed numbers. The pins cover training seeds, held-out seeds and
three output sizes other than 128 (different supersampling factors).

Exact pixels depend on the NumPy and OpenCV builds (anti-aliased drawing, resampling), so the pins are
checked only with the versions they were recorded with; elsewhere the test is skipped, saying why.
To re-pin after a deliberate change of the faces: ``python tests/test_synthetic_pinned.py``.
"""

from __future__ import annotations

import hashlib

import cv2
import numpy as np
import pytest

from dicmini.data.synthetic import render_face

#: Library versions the pins were recorded with.
PINNED_VERSIONS = {"numpy": "2.4.6", "opencv": "5.0.0"}

#: (seed, size) -> (sha256 of image bytes, sha256 of landmark bytes).
PINS: dict[tuple[int, int], tuple[str, str]] = {
    (0, 128): ("4b0aec162ae7d127067f7c3d70cca01d7c06bbe783379de6e06aa13b90d2a962",
               "a25718ae7029d74cd8e4651376528f8336e622a267fd5e8dcae8588641a99531"),
    (1, 128): ("81b153334ffc47bebbe0e178a96e240fb90081da943c3cc58b820a08178403fb",
               "354c453b20f81e491a90974d6070102f59bc66ebc09b1f9c78d84c7bf11f6cc6"),
    (7, 128): ("257dbabc80308aa08615c3e17c4bc5643cb633e2c2e8ab819a70d6f20f7c436d",
               "d21947fee953677a503df9cd81063f9c1ca38f8787973104cf93dece694de0da"),
    (123, 128): ("80be6921d92907e44e4bba8a1a099b13925032adf95daf95cef8d2917dc7ad66",
                 "02375bd15e790ed4d2d9c39d8d5453b07b76ca2c69d1ae4aabf92510a6623176"),
    (4242, 128): ("7487fcd4834c1742460da293c28cb6eea6261f6fd87074d1149640e1800f434a",
                  "7f73b3c71d240a6d27fe3b8e5cf3722e3df6112e202d2d8daedea7a7feba949e"),
    (900000, 128): ("beffc1f068abf027a713961412c1eeeb8e2ddb4f9268af65023afa2f66bc9b30",
                    "a1dea5bb81cf878611c9d6b00cc20373cce1db55e15e1b9dc5b20ab11db04ab8"),
    (900123, 128): ("a7e2bbedb637e238761b5fe4fb68d1489389fcaaf03efcd8de2fd8e549c676cb",
                    "00ce5b55721be35d37c0cb0f0b5ac52e23abb92270720ec2ae3ec6b0d31f1f5b"),
    (9, 64): ("77520c58d78eec5646c0023e38c3120596d6493991b58e43880711e62ab4d265",
              "d0c3cddbb5be9700c41b951461086ff00690708975222def51b431985d4e2eed"),
    (9, 256): ("a1191391184905a32e417f018c49b119ea94de4814e5277c798bb958333f9fe6",
               "5c1c197b86173133769410bfd2ed468942cd9801c43a0c4a9a6288b2aed20e8a"),
    (31, 16): ("4f1e01630ec1c3858b54f87701ce5056ac1ddde9d0535fe81f655e4b474038e2",
               "a1a9cbe7c296cf797e3d5f5aa697d80f4d742eb6c0c18e8b21424db133cacf81"),
}


def _versions() -> dict[str, str]:
    return {"numpy": np.__version__, "opencv": cv2.__version__}


def _digests(seed: int, size: int) -> tuple[str, str]:
    image, points = render_face(seed, size)
    return hashlib.sha256(image.tobytes()).hexdigest(), hashlib.sha256(points.tobytes()).hexdigest()


@pytest.mark.parametrize(("seed", "size"), list(PINS))
def test_pinned_faces_are_unchanged(seed, size):
    if _versions() != PINNED_VERSIONS:
        pytest.skip(f"pins recorded with {PINNED_VERSIONS}, running {_versions()}")
    image_hash, points_hash = _digests(seed, size)
    assert points_hash == PINS[seed, size][1], f"landmarks of seed {seed} at size {size} changed"
    assert image_hash == PINS[seed, size][0], f"pixels of seed {seed} at size {size} changed"


if __name__ == "__main__":  # print a fresh table to paste above after a deliberate change
    print(f"PINNED_VERSIONS = {_versions()!r}")
    for seed, size in PINS:
        image_hash, points_hash = _digests(seed, size)
        print(f'    ({seed}, {size}): ("{image_hash}",\n        "{points_hash}"),')
