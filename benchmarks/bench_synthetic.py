"""Throughput of the synthetic face generator on ONE CPU core.

    python benchmarks/bench_synthetic.py            # 300 faces at 128x128
    python benchmarks/bench_synthetic.py --size 64 --n 500
    python benchmarks/bench_synthetic.py --profile  # cProfile of the hot spots

Every thread pool (OpenMP, BLAS, OpenCV, torch) is limited to one thread before the libraries load.
Reports wall-clock and process-CPU faces/s; on a shared machine the CPU figure is the honest one.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMEXPR_NUM_THREADS",
             "VECLIB_MAXIMUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import time  # noqa: E402

import cv2  # noqa: E402

cv2.setNumThreads(1)

from dicmini.data.synthetic import render_face  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=300, help="faces to render (after 10 warm-up faces)")
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--start", type=int, default=0, help="first seed")
    ap.add_argument("--profile", action="store_true", help="print the top functions by own time")
    args = ap.parse_args()
    try:
        import torch

        torch.set_num_threads(1)
    except ImportError:  # torch is not needed by the generator
        pass
    for s in range(10):
        render_face(10_000_000 + s, args.size)
    seeds = range(args.start, args.start + args.n)
    if args.profile:
        import cProfile
        import pstats

        prof = cProfile.Profile()
        prof.enable()
    wall, cpu = time.perf_counter(), time.process_time()
    for s in seeds:
        render_face(s, args.size)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    if args.profile:
        prof.disable()
        pstats.Stats(prof).sort_stats("tottime").print_stats(15)
    print(f"size {args.size}: {args.n} faces, {args.n / wall:.1f} faces/s wall, {args.n / cpu:.1f} faces/s CPU "
          f"({1000 * cpu / args.n:.2f} ms/face), 1 thread")


if __name__ == "__main__":
    main()
