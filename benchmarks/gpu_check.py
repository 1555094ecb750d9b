"""GPU readiness check of DIC training: one script, at most ~8 minutes on a CUDA machine, no edits needed.

1. **Table**: training iterations per second of the full default DICNet (paper §4: batch 8, 16 -> 128 px) for
   fp32 / bf16 autocast / per-submodule ``torch.compile`` (bf16) x activation checkpointing off / on (per
   call), channels-last, summed HR transitions, fused Adam, cuDNN autotuning; peak device memory; the largest
   absolute difference of the first training forward's last-step SR image against fp32 without checkpointing
   (same weights, same batch).
   Each cell runs in its own subprocess under a time limit, so a failing or slow ``torch.compile`` is
   recorded as skipped and the check goes on.
2. **Run**: ``dicmini train --config official-celeba`` on synthetic faces for ``--iterations`` (300) iterations
   with the speed settings, then the projected wall time of the paper's 150k-iteration recipe from the
   measured iteration times (iterations after the first log record, so start-up and warm-up are excluded).

Writes everything to ``--out`` (JSON, default ``benchmarks/results/gpu_check.json``) and prints the table.

Usage::

    python benchmarks/gpu_check.py                                  # on a CUDA machine, project installed
    python benchmarks/gpu_check.py --device cpu --quick --no-compile --out /tmp/gpu_check.json   # logic smoke test

``--quick`` uses the smallest widths, batch 1 and a few iterations (what the unit test runs on the CPU).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

#: The paper's DIC schedule (official-celeba recipe): iterations to project.
PAPER_ITERATIONS = 150_000
DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "gpu_check.json"
#: widths of ``--quick``: the smallest DICNet, so that the CPU smoke test (bf16 is emulated there) stays short.
QUICK_WIDTHS = dict(mid_channels=4, num_blocks=1, hg_mid_channels=8, num_steps=2, upscale_factor=2, num_fusion_blocks=1)
PRECISIONS = ("fp32", "bf16", "compiled")
#: activation checkpointing off / per feedback-block and hourglass call (``"fine"`` measured no leaner on the CPU)
CHECKPOINTING = ("none", "call")


def run_cell(spec: dict[str, Any]) -> dict[str, Any]:
    """One table cell, in this (fresh) process: build, first forward (saved for the diff), time, peak memory."""
    import torch
    import torch.nn.functional as F

    from dicmini.models import DICNet
    from dicmini.train import performance

    device = torch.device(spec["device"])
    cuda = device.type == "cuda"
    performance.configure_backends(device, deterministic=False)
    torch.manual_seed(0)
    model = DICNet(**spec["widths"], gradient_checkpointing=spec["checkpointing"]).to(device).train()
    performance.to_memory_format(model, True)
    performance.set_hr_transitions(model, True)
    performance.set_prelu_backward(model, performance.resolve_prelu_backward("auto", device))
    optimizer = performance.make_adam(model.parameters(), device, lr=1e-4)
    b = spec["batch"]
    lr = performance.as_input(torch.rand(b, 3, 16, 16) - 0.45, device, True)
    hr = performance.as_input(torch.rand(b, 3, 128, 128) - 0.45, device, True)
    heat = performance.as_input(torch.rand(b, model.config["hg_num_keypoints"], 32, 32), device, True)
    if spec["precision"] == "compiled":
        performance.compile_submodules(model)
    amp = spec["precision"] in ("bf16", "compiled")

    def sync() -> None:
        if cuda:
            torch.cuda.synchronize(device)

    def step() -> torch.Tensor:
        optimizer.zero_grad(set_to_none=True)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
            sr, heatmaps = model(lr)
            loss = sum(F.l1_loss(y.float(), hr) + 0.1 * F.mse_loss(h.float(), heat) for y, h in zip(sr, heatmaps))
        loss.backward()
        optimizer.step()
        return sr[-1].detach().float()

    if cuda:
        torch.cuda.reset_peak_memory_stats(device)
    start = time.perf_counter()
    first = step()
    sync()
    torch.save(first.cpu().contiguous(), spec["first_output"])
    for _ in range(spec["warmup"] - 1):
        step()
    sync()
    warm_s = time.perf_counter() - start
    done, start = 0, time.perf_counter()
    while done < spec["min_iterations"] or (time.perf_counter() - start < spec["seconds"]
                                            and done < spec["max_iterations"]):
        step()
        done += 1
        if done % 5 == 0:
            sync()
    sync()
    elapsed = time.perf_counter() - start
    out = dict(iterations=done, seconds=elapsed, it_per_s=done / elapsed, warmup_s=warm_s)
    if cuda:
        out.update(peak_mem_gib=torch.cuda.max_memory_allocated(device) / 2**30,
                   device_name=torch.cuda.get_device_name(device))
    else:
        import resource
        out.update(peak_mem_gib=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, peak_mem_kind="rss")
    return out


def _cell(spec: dict[str, Any], timeout: float) -> dict[str, Any]:
    """Run :func:`run_cell` in a subprocess under ``timeout`` seconds; errors and time-outs become ``skipped``."""
    cmd = [sys.executable, __file__, "--cell", json.dumps(spec)]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=max(timeout, 1.0))
    except subprocess.TimeoutExpired:
        return {"skipped": f"timed out after {timeout:.0f} s"}
    if proc.returncode != 0:
        tail = (proc.stderr.strip().splitlines() or [f"exit code {proc.returncode}"])[-1]
        return {"skipped": tail[-300:]}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def table(args: argparse.Namespace, deadline: float, tmp: Path) -> list[dict[str, Any]]:
    """Every (precision, checkpointing) cell, fp32 without checkpointing first (the reference of the diffs)."""
    import torch

    rows: list[dict[str, Any]] = []
    cells = [(p, c) for p in PRECISIONS for c in CHECKPOINTING]
    for index, (precision, ckpt) in enumerate(cells):
        row: dict[str, Any] = {"precision": precision, "checkpointing": ckpt}
        left = deadline - time.monotonic()
        if precision == "compiled" and args.no_compile:
            row["skipped"] = "--no-compile"
        elif left < 5:
            row["skipped"] = "table time budget spent"
        else:
            spec = dict(device=args.device, widths=QUICK_WIDTHS if args.quick else {}, batch=args.batch,
                        precision=precision, checkpointing=ckpt if ckpt != "none" else False,
                        warmup=args.warmup, min_iterations=args.min_iterations, max_iterations=args.max_iterations,
                        seconds=args.cell_seconds, first_output=str(tmp / f"{precision}-{ckpt}.pt"))
            # an equal share of what is left for the eager cells still to run; the compiled ones (compilation
            # dominates them) get what is left after those, at least half of the remainder
            eager_left = sum(1 for p, _ in cells[index:] if p != "compiled")
            compiled_left = 0 if args.no_compile else sum(1 for p, _ in cells[index:] if p == "compiled")
            share = left / (eager_left + 0.5 * compiled_left) if precision != "compiled" else left / compiled_left
            row.update(_cell(spec, min(share, left)))
            reference = tmp / "fp32-none.pt"
            if "skipped" not in row and reference.exists():
                row["max_abs_diff_vs_fp32"] = float((torch.load(spec["first_output"]) - torch.load(reference))
                                                    .abs().max())
        rows.append(row)
        print(_format(row), flush=True)
    return rows


def _format(row: dict[str, Any]) -> str:
    head = f"{row['precision']:9} ckpt {row['checkpointing']:5}"
    if "skipped" in row:
        return f"{head}  skipped: {row['skipped']}"
    return (f"{head}  {row['it_per_s']:7.2f} it/s  peak {row['peak_mem_gib']:6.2f} GiB  "
            f"max|diff| vs fp32 {row.get('max_abs_diff_vs_fp32', float('nan')):.2e}  (warm-up {row['warmup_s']:.0f} s)")


def train_run(args: argparse.Namespace, deadline: float, tmp: Path) -> dict[str, Any]:
    """``dicmini train`` for ``args.iterations`` on synthetic faces; per-iteration time and the 150k projection."""
    out_dir = tmp / "run"
    log_every = max(1, min(50, args.iterations // 6))
    sets = ["data=synthetic", f"iterations={args.iterations}", f"val_every={args.iterations}",
            f"ckpt_every={args.iterations}", f"log_every={log_every}", f"sync_every={log_every}",
            f"val_size={args.val_size}", f"device={args.device}", f"batch_size={args.batch}",
            f"amp={args.amp}", "channels_last=true", "progress=false", f"num_workers={args.num_workers}",
            f"train_size={max(64, args.batch * 8)}",
            # no pretrained hourglass here: a Kaiming-initialised hourglass overflows, and the recipe's frozen
            # hourglass (first 2,000 iterations) would make the iterations cheaper than the other 148,000
            "init=kaiming-sr", "release_hourglass_step=0"]
    if args.quick:
        sets += [f"{k}={v}" for k, v in QUICK_WIDTHS.items()]
    cmd = [sys.executable, "-m", "dicmini", "train", "--config", "official-celeba", "--out", str(out_dir), "--quiet"]
    for item in sets:
        cmd += ["--set", item]
    timeout = deadline - time.monotonic()
    if timeout < 10:
        return {"skipped": "time budget spent before the training run", "command": cmd}
    started = time.monotonic()
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        proc = None
    wall = time.monotonic() - started
    result: dict[str, Any] = {"command": " ".join(cmd[1:]), "wall_s": wall}
    if proc is None:
        result["error"] = f"timed out after {timeout:.0f} s"
    elif proc.returncode != 0:
        result["error"] = (proc.stderr.strip().splitlines() or [f"exit code {proc.returncode}"])[-1]
    log = out_dir / "log.jsonl"
    records = [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
    train = [r for r in records if r.get("type") == "train"]
    result["train_records"] = [{k: r[k] for k in ("step", "total", "grad_norm", "elapsed_s") if k in r} for r in train]
    if len(train) >= 2:
        first, last = train[0], train[-1]
        per_it = (last["elapsed_s"] - first["elapsed_s"]) / (last["step"] - first["step"])
        result.update(s_per_iteration=per_it, it_per_s=1.0 / per_it,
                      projected_hours_150k=PAPER_ITERATIONS * per_it / 3600,
                      startup_and_validation_s=wall - (last["elapsed_s"] - first["elapsed_s"]))
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cuda", help="torch device (default cuda; cpu for the smoke test)")
    parser.add_argument("--quick", action="store_true", help="tiny widths, batch 2, a few iterations")
    parser.add_argument("--no-compile", action="store_true", help="skip the torch.compile cells")
    parser.add_argument("--out", default=str(DEFAULT_OUT), help=f"JSON output (default {DEFAULT_OUT})")
    parser.add_argument("--budget-s", type=float, default=460.0, help="total time budget in seconds (default 460)")
    parser.add_argument("--table-share", type=float, default=0.6, help="share of the budget for the table")
    parser.add_argument("--cell-seconds", type=float, default=None, help="timed seconds per table cell")
    parser.add_argument("--iterations", type=int, default=None, help="training-run iterations (default 300)")
    parser.add_argument("--amp", choices=["none", "bf16"], default="bf16", help="training-run precision")
    parser.add_argument("--num-workers", type=int, default=None, help="training-run data workers")
    parser.add_argument("--cell", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.cell is not None:
        print(json.dumps(run_cell(json.loads(args.cell))))
        return 0

    import torch

    if args.device.startswith("cuda") and not torch.cuda.is_available():
        print("gpu_check: no CUDA device here (use --device cpu --quick for the logic smoke test)", file=sys.stderr)
        return 2
    quick = args.quick
    args.batch = 1 if quick else 8
    args.warmup = 1 if quick else 3
    args.min_iterations = 1 if quick else 5
    args.max_iterations = 2 if quick else 200
    args.cell_seconds = args.cell_seconds if args.cell_seconds is not None else (1.0 if quick else 15.0)
    args.iterations = args.iterations or (3 if quick else 300)
    args.val_size = 2 if quick else 16
    if args.num_workers is None:
        args.num_workers = 0 if quick else min(8, os.cpu_count() or 1)
    if args.device == "cpu":
        args.amp = "none"  # the trainer ignores amp on the CPU; say what ran
    started = time.monotonic()
    result: dict[str, Any] = {
        "command": " ".join(["benchmarks/gpu_check.py", *(argv if argv is not None else sys.argv[1:])]),
        "device": torch.cuda.get_device_name() if args.device.startswith("cuda") else platform.processor() or "cpu",
        "torch": torch.__version__, "quick": quick, "batch": args.batch, "date": time.strftime("%Y-%m-%d %H:%M:%S")}
    print(f"gpu_check on {result['device']} (torch {torch.__version__}), batch {args.batch}, "
          f"budget {args.budget_s:.0f} s")
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        result["table"] = table(args, started + args.table_share * args.budget_s, tmp)
        result["train_run"] = train_run(args, started + args.budget_s, tmp)
    run = result["train_run"]
    if "projected_hours_150k" in run:
        print(f"dicmini train, {args.iterations} iterations: {run['it_per_s']:.2f} it/s -> the paper's "
              f"{PAPER_ITERATIONS:,} iterations in {run['projected_hours_150k']:.1f} h (training steps only; "
              f"start-up + validation {run['startup_and_validation_s']:.0f} s)")
    else:
        print(f"training run: {run.get('error') or run.get('skipped')}")
    result["wall_s"] = time.monotonic() - started
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out} ({result['wall_s']:.0f} s)")
    return 0 if "projected_hours_150k" in run else 1


if __name__ == "__main__":
    sys.exit(main())
