"""The committed region table of the real-face benchmark (benchmarks/real_face_regions.py): its figures follow from
its summed errors, and its regions partition the image."""

import json
import math
from pathlib import Path

import numpy as np
import pytest

from benchscripts import load_benchmark

ROOT = Path(__file__).resolve().parents[1]
REGIONS_JSON = ROOT / "benchmarks" / "results" / "real_face_levers" / "regions.json"


@pytest.fixture(scope="module")
def regions():
    return load_benchmark("real_face_regions")


def test_the_regions_partition_the_face_crop(regions):
    from dicmini.data.synthetic import render_face

    _, points = render_face(3)
    masks = regions.region_masks(points.astype(np.float64), 128)
    assert list(masks) == list(regions.ALL_REGIONS)
    stacked = np.stack(list(masks.values())).astype(int)
    assert (stacked.sum(axis=0) == 1).all()                     # every pixel in exactly one region
    assert all(masks[name].any() for name in regions.ALL_REGIONS)
    # the eyes sit where the eye landmarks are
    ys, xs = np.nonzero(masks["eyes"])
    assert abs(xs.mean() - points[36:48, 0].mean()) < 2 and abs(ys.mean() - points[36:48, 1].mean()) < 2


def test_committed_ratios_and_gains_rederive_from_the_summed_errors(regions):
    payload = json.loads(REGIONS_JSON.read_text())
    assert payload["faces"] == 62
    crop_pixels = payload["faces"] * (128 - 2 * payload["crop_border"]) ** 2
    assert {"shipped", "shipped_all5"} <= set(payload["checkpoints"])
    for entry in payload["checkpoints"].values():
        for result in (entry["own"], entry.get("none")):
            if result is None:
                continue
            rows = result["regions"]
            assert list(rows) == list(regions.ALL_REGIONS)
            assert sum(r["pixels"] for r in rows.values()) == crop_pixels
            bicubic, sr = (sum(r[k] for r in rows.values()) for k in ("bicubic_sse", "sr_sse"))
            assert result["gain_db_pooled"] == pytest.approx(10 * math.log10(bicubic / sr), abs=1e-9)
            for r in rows.values():
                assert r["ratio"] == pytest.approx(r["sr_sse"] / r["bicubic_sse"])
    # bicubic's errors are the same whatever the model
    first, *rest = payload["checkpoints"].values()
    for entry in rest:
        for name in regions.ALL_REGIONS:
            assert entry["own"]["regions"][name]["bicubic_sse"] == pytest.approx(
                first["own"]["regions"][name]["bicubic_sse"])
