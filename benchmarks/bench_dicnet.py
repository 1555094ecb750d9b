"""Time and memory of DICNet: forward (eval, no_grad) and forward+backward (train), per config and device.

Every measurement runs in a fresh subprocess, so that its peak memory is its own:

* CPU:  ``resource.getrusage(RUSAGE_SELF).ru_maxrss`` at the end of the run (peak resident set size of the
  whole process), reported together with the baseline right after building the model and the inputs
  (``peak - baseline`` = what the forward/backward passes added).
* CUDA: ``torch.cuda.max_memory_allocated()`` (tensors only, reset after building the model).

Timing: ``--warmup`` untimed calls, then ``--repeats`` timed calls (``time.perf_counter``, CUDA
synchronised); the median is reported. A training call is ``zero_grad`` + forward + loss + ``backward``
(no optimizer step); ``--loss all`` = ``sum_t L1(sr_t, hr) + 0.1 MSE(heatmap_t, target)`` (the DIC
training loss, docs/reference_implementations.md#losses), ``--loss last`` = ``L1(sr[-1], hr)`` (the reference
measurement, docs/reference_implementations.md#cpu-cost).
Gradient checkpointing only changes training runs, so forward runs are measured without it.

Configs (:data:`CONFIGS`, DICNet keyword arguments): ``default`` = ``DICNet()`` (MMagic ``DICNet(3, 3, 48)``,
21.8 M parameters), ``small`` = config A of the reference vectors, ``tiny`` = ``small`` with a x4
internal projection scale (128x128 instead of 256x256 HR grid inside the feedback blocks).

Variants (``--variant``): ``new`` = today's defaults (HR transitions summed over weight slices — an ``addmm``
chain on channels-last features —, channels-last model and input, the fused PReLU backward of
:mod:`dicmini.models.prelu`), ``old`` = the reference evaluation (HR features re-concatenated, NCHW, PyTorch's
PReLU backward).

``--quick`` prints the speed-up ratios of ``new`` over ``old`` measured in *one* process with interleaved
repetitions (old, new, old, new, ...; median of each), so the machine's load affects both alike; about 2 minutes
on the quiet 2-core machine:

* train step (zero_grad + forward + loss + backward) and forward (eval, no_grad) of the full default DICNet at
  batch :data:`QUICK_BATCH` = 2 (``--batch``);
* the tiny recipe's iterations per minute (``dicmini.train.Trainer`` on ``get_config("tiny")``, data included),
  with ``channels_last=true, hr_transitions=sum, prelu_backward=fused`` and the pre-rendered face pool (new)
  against ``false``/``concat``/``native`` and faces painted when read (old), one iteration at a time;
* with ``--memory``, afterwards: the peak RSS of one batch-8 training step of the full default DICNet with
  checkpointing (``call``) and without, each in a fresh subprocess (absolute MiB, about 1.5 minutes more).

``benchmarks/results/bench_dicnet.json`` was made by ``python benchmarks/bench_dicnet.py --quick --memory
--threads 2 --out benchmarks/results/bench_dicnet.json`` on the quiet 2-core machine; its figures are in the
README's feature table and ``tests/test_performance.py`` re-derives its ratios from the raw timings. The ratios
depend on the batch and on the machine's load. Measured on the same machine, same day: train step 0.70-0.74 at
batch 1 (a single sample gains least: the reference's NCHW path is at its best there), 0.57-0.60 at batch 2,
0.49 at batch 4; forward 0.60-0.70 at batch 1 and 0.39-0.64 at batch 2; the tiny recipe 1.09-1.59x (single
runs under bursts of load from other machines at the low end).

Examples::

    python benchmarks/bench_dicnet.py --configs tiny --batch 2 --repeats 1          # quick check
    python benchmarks/bench_dicnet.py --batch 8 --repeats 3 --out bench.json       # the full table
    python benchmarks/bench_dicnet.py --quick --threads 2                          # the ratios, ~2 min
    python benchmarks/bench_dicnet.py --quick --memory --threads 2 --out benchmarks/results/bench_dicnet.json

Reference (docs/reference_implementations.md#cpu-cost, MMagic code, 2-core CPU, 2 threads, batch 8,
``--loss last``): forward 24.2 s / 2.3 GiB, forward+backward 63.9 s / 17.1 GiB peak RSS.
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

#: Benchmark configurations: DICNet keyword arguments.
CONFIGS: dict[str, dict[str, Any]] = {
    "default": {},
    "small": dict(mid_channels=16, num_blocks=2, hg_mid_channels=32),
    "tiny": dict(mid_channels=16, num_blocks=2, hg_mid_channels=32, upscale_factor=4),
}
MODES = ("forward", "train")
#: ``--quick``: batch of the train-step and forward ratios, the smallest batch a recipe could train with (a
#: batch of one has no batch dimension to speak of; the recipes use 4 to 8, where each step takes minutes here).
QUICK_BATCH = 2
VARIANTS = ("new", "old")


def use_variant(model: Any, variant: str) -> bool:
    """Put ``model`` (a DICNet) in ``variant`` (:data:`VARIANTS`); return whether inputs must be channels-last."""
    import torch

    from dicmini.train.performance import set_hr_transitions, set_prelu_backward

    if variant not in VARIANTS:
        raise ValueError(f"variant: expected one of {VARIANTS}, got {variant!r}")
    new = variant == "new"
    set_hr_transitions(model, new)
    set_prelu_backward(model, new)
    model.to(memory_format=torch.channels_last if new else torch.contiguous_format)
    return new


def _rss_mib() -> float:
    """Peak resident set size of this process so far, MiB: ``VmHWM`` of ``/proc/self/status`` on Linux (the
    high-water mark of this address space, which starts afresh at ``exec``; ``ru_maxrss`` would start at the
    parent's resident size), else ``ru_maxrss`` (KiB on Linux, bytes on macOS)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 2**10
    except OSError:
        pass
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 2**10


def run_worker(spec: dict[str, Any]) -> dict[str, Any]:
    """One measurement (called in a fresh process): build, warm up, time, report peak memory."""
    import torch
    import torch.nn.functional as F

    from dicmini.models import DICNet

    torch.set_num_threads(spec["threads"])
    device = torch.device(spec["device"])
    cuda = device.type == "cuda"
    torch.manual_seed(0)
    model = DICNet(**CONFIGS[spec["config"]], gradient_checkpointing=spec["checkpointing"]).to(device)
    channels_last = use_variant(model, spec.get("variant", "new"))
    b, s = spec["batch"], spec["lr_size"]
    lr = torch.rand(b, 3, s, s, device=device) - 0.45
    if channels_last:
        lr = lr.contiguous(memory_format=torch.channels_last)
    hr = torch.rand(b, 3, 8 * s, 8 * s, device=device) - 0.45
    heat = torch.rand(b, model.config["hg_num_keypoints"], 2 * s, 2 * s, device=device)

    def sync() -> None:
        if cuda:
            torch.cuda.synchronize(device)

    def forward() -> None:
        with torch.no_grad():
            model(lr)

    def train() -> None:
        model.zero_grad(set_to_none=True)
        sr, heatmaps = model(lr)
        if spec["loss"] == "last":
            loss = F.l1_loss(sr[-1], hr)
        else:
            loss = sum(F.l1_loss(x, hr) + 0.1 * F.mse_loss(h, heat) for x, h in zip(sr, heatmaps))
        loss.backward()

    step = forward if spec["mode"] == "forward" else train
    model.train(spec["mode"] == "train")
    sync()
    baseline = _rss_mib()
    if cuda:
        torch.cuda.reset_peak_memory_stats(device)
        base_cuda = torch.cuda.memory_allocated(device) / 2**20
    for _ in range(spec["warmup"]):
        step()
        sync()
    times = []
    for _ in range(spec["repeats"]):
        start = time.perf_counter()
        step()
        sync()
        times.append(time.perf_counter() - start)
    result = dict(spec, times_s=times, median_s=statistics.median(times),
                  params=sum(p.numel() for p in model.parameters()),
                  baseline_rss_mib=baseline, peak_rss_mib=_rss_mib())
    if cuda:
        result.update(baseline_cuda_mib=base_cuda, peak_cuda_mib=torch.cuda.max_memory_allocated(device) / 2**20,
                      device_name=torch.cuda.get_device_name(device))
    return result


def _measure(spec: dict[str, Any], timeout: float | None) -> dict[str, Any]:
    cmd = [sys.executable, __file__, "--worker", json.dumps(spec)]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return dict(spec, error=f"timed out after {timeout} s")
    if proc.returncode != 0:
        tail = (proc.stderr.strip().splitlines() or [f"exit code {proc.returncode}"])[-1]
        return dict(spec, error=tail)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def interleaved(functions: dict[str, Any], repeats: int, warmup: int = 1) -> dict[str, list[float]]:
    """Call every function in turn (a, b, a, b, ...) ``warmup`` times untimed, then ``repeats`` times timed;
    return each one's wall times in seconds."""
    for _ in range(warmup):
        for fn in functions.values():
            fn()
    times: dict[str, list[float]] = {name: [] for name in functions}
    for _ in range(repeats):
        for name, fn in functions.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return times


def ratio(times: dict[str, list[float]], new: str = "new", old: str = "old") -> float:
    """Median time of ``new`` over the median time of ``old`` (< 1: ``new`` is faster)."""
    return statistics.median(times[new]) / statistics.median(times[old])


def model_ratios(config: dict[str, Any], batch: int, lr_size: int, repeats: int, warmup: int = 1) -> dict[str, Any]:
    """Train-step and forward times of ``new`` and ``old`` (one model, switched between variants) in this process."""
    import torch
    import torch.nn.functional as F

    from dicmini.models import DICNet

    torch.manual_seed(0)
    model = DICNet(**config)
    lr = torch.rand(batch, 3, lr_size, lr_size) - 0.45
    hr = torch.rand(batch, 3, 8 * lr_size, 8 * lr_size) - 0.45
    heat = torch.rand(batch, model.config["hg_num_keypoints"], 2 * lr_size, 2 * lr_size)
    inputs = {"old": lr, "new": lr.contiguous(memory_format=torch.channels_last)}
    outputs: dict[str, torch.Tensor] = {}

    def call(variant: str, train: bool) -> None:
        use_variant(model, variant)
        x = inputs[variant]
        model.train(train)
        if not train:
            with torch.no_grad():
                outputs[variant] = model(x).sr[-1]
            return
        model.zero_grad(set_to_none=True)
        sr, heatmaps = model(x)
        sum(F.l1_loss(y, hr) + 0.1 * F.mse_loss(h, heat) for y, h in zip(sr, heatmaps)).backward()

    result: dict[str, Any] = {}
    for mode in ("train", "forward"):
        times = interleaved({v: (lambda v=v: call(v, mode == "train")) for v in ("old", "new")}, repeats, warmup)
        result[mode] = {"times_s": times, "ratio": ratio(times)}
    result["max_abs_diff_sr"] = float((outputs["new"] - outputs["old"]).abs().max())
    return result


def tiny_recipe_ratio(iterations: int, threads: int, warmup: int = 2) -> dict[str, Any]:
    """Iterations per minute of the tiny recipe's joint stage, ``new`` (channels-last, summed transitions, the
    pre-rendered face pool) vs ``old`` (NCHW, re-concatenating, every face painted when it is read), in this
    process: two trainers advance one iteration at a time in turn, ``warmup`` times untimed, then ``iterations``
    times timed, data loading included (each iteration timed alone, so that a burst of load on the machine spoils
    single iterations, which the median then ignores).
    The pool is rendered once before timing (about a minute for 4,000 faces, kept in ``.cache/face-pool``)."""
    import tempfile

    import torch

    from dicmini.train import Trainer, apply_overrides, get_config

    stop = iterations + warmup
    with tempfile.TemporaryDirectory() as tmp:
        trainers, batches = {}, {}
        for variant in ("old", "new"):
            fast = variant == "new"
            cfg = apply_overrides(get_config("tiny"), {"progress": False, "threads": threads,
                                                      "channels_last": "true" if fast else "false",
                                                      "hr_transitions": "sum" if fast else "concat",
                                                      "prelu_backward": "fused" if fast else "native",
                                                      "face_pool": fast, "hourglass_stage": "",
                                                      "release_hourglass_step": 0})
            trainers[variant] = Trainer(cfg, f"{tmp}/{variant}")
            batches[variant] = trainers[variant]._batches(stop)

        def run(variant: str) -> None:
            trainers[variant].train_step(next(batches[variant]))

        times = interleaved({v: (lambda v=v: run(v)) for v in ("old", "new")}, iterations, warmup=warmup)
        weights = {v: [p.detach().clone() for p in trainers[v].model.parameters()] for v in trainers}
    per_minute = {v: 60.0 / statistics.median(t) for v, t in times.items()}
    return {"iterations_per_chunk": 1, "times_s": times, "iterations_per_minute": per_minute,
            "ratio": per_minute["new"] / per_minute["old"],
            "max_abs_weight_diff": max(float((a - b).abs().max()) for a, b in zip(weights["new"], weights["old"])),
            "torch_threads": torch.get_num_threads()}


def quick(args: argparse.Namespace) -> dict[str, Any]:
    """The ``--quick`` figures (see the module docstring); prints them as they come."""
    import torch

    threads = args.threads or torch.get_num_threads()
    torch.set_num_threads(threads)
    out: dict[str, Any] = {"command": " ".join([Path(sys.argv[0]).as_posix(), *sys.argv[1:]]), "threads": threads}
    started = time.perf_counter()
    name = args.configs[0] if args.configs else "default"
    out["model"] = dict(config=name, batch=args.batch, lr_size=args.lr_size, repeats=args.repeats,
                        **model_ratios(CONFIGS[name], args.batch, args.lr_size, args.repeats, warmup=args.warmup))
    print(f"train step new/old {out['model']['train']['ratio']:.3f}   forward new/old "
          f"{out['model']['forward']['ratio']:.3f}   (batch {args.batch}, {threads} threads, max |diff| "
          f"{out['model']['max_abs_diff_sr']:.1e})", flush=True)
    out["tiny_recipe"] = tiny_recipe_ratio(args.tiny_iterations, threads)
    print(f"tiny recipe iterations/min new/old {out['tiny_recipe']['ratio']:.3f}  "
          f"({out['tiny_recipe']['iterations_per_minute']['new']:.0f} vs "
          f"{out['tiny_recipe']['iterations_per_minute']['old']:.0f})", flush=True)
    out["ratios_wall_s"] = time.perf_counter() - started
    # after the timings: right after an 11 GiB child exits, training steps here ran 5-10x slower for about
    # 100 s (the kernel reclaiming the freed memory). Each child reports its own peak (VmHWM, see _rss_mib).
    out["memory"] = []
    for ckpt in (["call", False] if args.memory else []):
        spec = dict(config=name, device="cpu", mode="train", checkpointing=ckpt,
                    batch=args.memory_batch, lr_size=args.lr_size, repeats=1, warmup=0, threads=threads,
                    loss="all", variant="new")
        result = _measure(spec, args.timeout)
        out["memory"].append(result)
        print(f"peak RSS, batch {args.memory_batch} train step, checkpointing {ckpt or 'none'}: "
              + (f"{result['peak_rss_mib'] / 1024:.2f} GiB ({result['median_s']:.0f} s)" if "error" not in result
                 else f"ERROR {result['error']}"), flush=True)
    out["wall_s"] = time.perf_counter() - started
    return out


def _format_row(r: dict[str, Any]) -> str:
    head = f"{r['config']:8} {r['device']:5} {r['mode']:8} {'yes' if r['checkpointing'] else 'no':5} {r['batch']:5}"
    if "error" in r:
        return f"{head}  ERROR: {r['error']}"
    runs = ", ".join(f"{t:.2f}" for t in r["times_s"])
    if r["device"].startswith("cuda"):
        mem = f"{r['peak_cuda_mib']:10.0f} (cuda, model {r['baseline_cuda_mib']:.0f})"
    else:
        mem = f"{r['peak_rss_mib']:10.0f} (rss, +{r['peak_rss_mib'] - r['baseline_rss_mib']:.0f} over build)"
    return f"{head} {r['median_s']:9.3f}  {mem}  runs: {runs}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--configs", nargs="+", choices=sorted(CONFIGS), default=["default", "tiny"])
    parser.add_argument("--modes", nargs="+", choices=MODES, default=list(MODES))
    parser.add_argument("--devices", nargs="+", default=None,
                        help="torch devices to measure (default: cpu, plus cuda when available)")
    parser.add_argument("--checkpointing", choices=["off", "on", "both"], default="both",
                        help="gradient checkpointing for training runs")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--lr-size", type=int, default=16, help="LR side (multiple of 8); output is 8x")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's default)")
    parser.add_argument("--loss", choices=["all", "last"], default="all")
    parser.add_argument("--timeout", type=float, default=None, help="seconds per measurement")
    parser.add_argument("--out", default=None, help="write all results to this JSON file")
    parser.add_argument("--variant", choices=VARIANTS, default="new", help="model evaluation for the table")
    parser.add_argument("--quick", action="store_true", help="new/old ratios in one process (see the docstring)")
    parser.add_argument("--tiny-iterations", type=int, default=15,
                        help="--quick: timed tiny-recipe iterations per variant (each timed alone)")
    parser.add_argument("--memory", action="store_true",
                        help="--quick: also the peak RSS of a batch-8 step with and without checkpointing (~1.5 min)")
    parser.add_argument("--memory-batch", type=int, default=8, help="--quick --memory: batch of the peak-RSS runs")
    parser.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.quick:
        if args.configs == parser.get_default("configs"):
            args.configs = ["default"]
        if args.batch == parser.get_default("batch"):
            args.batch = QUICK_BATCH
        result = quick(args)
        if args.out:
            Path(args.out).parent.mkdir(parents=True, exist_ok=True)
            Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
            print(f"wrote {args.out}")
        return 1 if any("error" in r for r in result["memory"]) else 0

    if args.worker is not None:
        print(json.dumps(run_worker(json.loads(args.worker))))
        return 0

    import torch

    devices = args.devices or (["cpu", "cuda"] if torch.cuda.is_available() else ["cpu"])
    threads = args.threads or torch.get_num_threads()
    ckpt_options = {"off": [False], "on": [True], "both": [False, True]}[args.checkpointing]
    print(f"torch {torch.__version__}, {threads} CPU threads, batch {args.batch}, "
          f"{args.lr_size}x{args.lr_size} -> {8 * args.lr_size}x{8 * args.lr_size}, loss {args.loss}")
    print(f"{'config':8} {'dev':5} {'mode':8} {'ckpt':5} {'batch':5} {'median s':>9}  {'peak MiB':>10}")
    results = []
    for config in args.configs:
        for device in devices:
            for mode in args.modes:
                for ckpt in (ckpt_options if mode == "train" else [False]):
                    spec = dict(config=config, device=device, mode=mode, checkpointing=ckpt, batch=args.batch,
                                lr_size=args.lr_size, repeats=args.repeats, warmup=args.warmup, threads=threads,
                                loss=args.loss, variant=args.variant)
                    result = _measure(spec, args.timeout)
                    results.append(result)
                    print(_format_row(result), flush=True)
    if args.out:
        meta = dict(torch=torch.__version__, python=platform.python_version(), machine=platform.machine(),
                    processor=platform.processor(), cpu_threads=threads, configs=CONFIGS,
                    date=time.strftime("%Y-%m-%d %H:%M:%S"))
        with open(args.out, "w") as f:
            json.dump({"meta": meta, "results": results}, f, indent=2)
        print(f"wrote {args.out}")
    return 1 if any("error" in r for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
