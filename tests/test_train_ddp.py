"""Data-parallel training on CPU: 2 processes, gloo, launched with ``python -m torch.distributed.run``.

Run as a script (``torchrun --standalone --nproc_per_node 2 tests/test_train_ddp.py OUT``) this file is the
worker: it trains the tiny config and saves each rank's final weights to ``OUT/rank<r>.pt``.
"""

import json
import os
import subprocess
import sys
import warnings
from pathlib import Path

import pytest
import torch

TINY = {"mid_channels": 4, "num_blocks": 1, "hg_mid_channels": 8, "upscale_factor": 2, "num_fusion_blocks": 1,
        "batch_size": 2, "train_size": 8, "val_size": 2, "init": "default", "progress": False, "lr": 1e-3,
        "iterations": 2, "val_every": 2, "ckpt_every": 2, "log_every": 1, "seed": 0, "device": "cpu",
        # the recipe levers of the tiny config off: the reference behaviour these tests pin
        "hourglass_stage": "", "face_pool": False, "truth_guidance": 0.0, "hourglass_lr_scale": 1.0,
        "release_hourglass_step": 0}


def _config():
    from dicmini.train import apply_overrides, get_config

    return apply_overrides(get_config("tiny"), TINY)


def worker(out: Path) -> None:
    from dicmini.train import Trainer
    from dicmini.train import ddp

    torch.set_num_threads(1)
    warnings.filterwarnings("ignore")
    trainer = Trainer(_config(), out)
    summary = trainer.fit()
    torch.save({"model": trainer.model.state_dict(), "summary": summary, "world_size": trainer.dist.world_size},
               out / f"rank{trainer.dist.rank}.pt")
    ddp.cleanup()


def test_ddp_two_processes_end_identical_and_match_one_process(tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           str(Path(__file__).resolve()), str(tmp_path)]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    ranks = [torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in range(2)]
    assert [r["world_size"] for r in ranks] == [2, 2]
    for key, value in ranks[0]["model"].items():
        assert torch.equal(value, ranks[1]["model"][key]), key
    assert ranks[0]["summary"]["replicas_identical"] is True and ranks[0]["summary"]["step"] == 2
    records = [json.loads(line) for line in (tmp_path / "log.jsonl").read_text().splitlines()]
    assert records[0]["type"] == "start" and records[0]["world_size"] == 2  # rank 0 logged, once
    assert sum(r["type"] == "start" for r in records) == 1
    checkpoint = torch.load(tmp_path / "last.pt", weights_only=True)
    for key, value in checkpoint["model"].items():
        assert torch.equal(value, ranks[0]["model"][key])

    # one process with the same global batch: same losses (each rank held half of every batch)
    from dicmini.train import Trainer

    torch.set_num_threads(1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        single = Trainer(_config(), tmp_path / "single")
        single.fit()
    ddp_losses = [r["total"] for r in records if r["type"] == "train"]
    one_losses = [r["total"] for r in single.log.read() if r["type"] == "train"]
    assert ddp_losses == pytest.approx(one_losses, rel=1e-4)


if __name__ == "__main__":
    worker(Path(sys.argv[1]))
