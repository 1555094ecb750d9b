"""One training engine for DIC, DICGAN and the landmark-branch pre-training (paper §4.1).

What is trained -- the model, its losses, its validation -- is a task object of :mod:`dicmini.train.tasks`
(:class:`~dicmini.train.tasks.HourglassPretraining`, :class:`~dicmini.train.tasks.DICTraining`,
:class:`~dicmini.train.tasks.DICGANTraining`); this engine owns optimisers, schedules, accumulation, processes,
host syncs, checkpoints, logs and resume. One iteration (:meth:`Trainer.train_step`), as the official solvers and
MMagic's ``DIC.train_step`` do it:

1. **Landmark-branch freeze** (official recipe): before ``release_hourglass_step`` the parameters of
   ``model.landmark_estimator`` have ``requires_grad=False``; gradients still flow *through* the hourglass
   (and through the attention maps) to the SR branch.
2. **Generator step**: the discriminator is frozen (``requires_grad=False``); loss
   :func:`dicmini.losses.dic_generator_loss` = ``sum_t [pixel + alignment]`` and, for DICGAN once
   ``step >= pixel_init``, ``+ 0.1 feature + 0.005 GAN`` on the last step; gradients of ``accum_steps``
   micro-batches are accumulated (each scaled by ``1/accum_steps``) and averaged across processes; Adam.
3. **Discriminator step(s)** (DICGAN, ``step >= pixel_init``): ``disc_repeat`` times
   ``BCE(D(HR), 1) + BCE(D(SR_last.detach()), 0)`` on the same batch and the SR of step 2; Adam.
4. ``MultiStepLR`` of both optimisers stepped once (the schedule is in iterations).

A non-finite loss or gradient stops the run before the optimiser step with :class:`TrainingDiverged`;
nothing is written then, so the last checkpoint stays the last good one. Validation every ``val_every``
iterations (per-step PSNR/SSIM/NME, :func:`dicmini.train.evaluate.evaluate`) keeps ``best.pt`` (highest
last-step PSNR; lowest NME for the hourglass); ``last.pt`` is written every ``ckpt_every`` iterations and at
the end. Resuming from ``last.pt`` continues bit-identically (weights, optimisers, schedulers, scalers, RNG
states, and a data order that is a function of the iteration counter).
"""

from __future__ import annotations

import contextlib
import math
import os
import re
import signal
import sys
import threading
import time
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader
from tqdm.auto import tqdm

from ..models.convert import CheckpointError, load_state_dict_strict
from ..utils import atomic_write, seed_everything
from . import ddp, performance
from .checkpoint import (all_finite, capture_rng_state, cpu_state_dict, model_payload, read_training_checkpoint,
                         restore_rng_state, save_checkpoint, unwrap)
from .config import TrainConfig, apply_overrides, config_from_dict, config_to_dict
from .data import IterationBatchSampler, build_datasets, collate
from .evaluate import EvalResult
from .log import JsonlLog
from .resume import relay_schedule, resume_changes
from .runfolder import lock_run_folder
from .tasks import make_task


def _schedule_factor(config: TrainConfig, milestones: list[int], gamma: float) -> Callable[[int], float]:
    """The learning-rate factor of iteration ``t`` of ``config.lr_schedule`` (closed form)."""
    if config.lr_schedule == "cosine":
        ratio, total = config.min_lr_ratio, config.iterations
        return lambda t: ratio + (1 - ratio) * 0.5 * (1 + math.cos(math.pi * min(t, total) / total))
    return lambda t: gamma ** sum(t >= m for m in milestones)


def make_scheduler(optimizer: torch.optim.Optimizer, config: TrainConfig, milestones: list[int],
                   gamma: float) -> torch.optim.lr_scheduler.LRScheduler:
    """The per-iteration learning-rate schedule of ``config.lr_schedule``: MultiStepLR (both references,
    docs/reference_implementations.md, Recipes) or cosine annealing to ``min_lr_ratio`` of the initial rate over
    ``config.iterations``. Parameter groups with their own rate or a warm-up (the landmark branch,
    ``hourglass_lr_scale`` / ``hourglass_warmup``) get the same factor, times a linear ramp from 0 over ``warmup``
    iterations counted from ``warmup_start``."""
    groups = optimizer.param_groups
    if any(g.get("lr_scale", 1.0) != 1.0 or g.get("warmup", 0) for g in groups):
        base = _schedule_factor(config, milestones, gamma)

        def factor(start: int, ramp: int) -> Callable[[int], float]:
            return lambda t: base(t) * (min(1.0, max(0.0, (t - start + 1) / ramp)) if ramp else 1.0)

        return torch.optim.lr_scheduler.LambdaLR(
            optimizer, [factor(g.get("warmup_start", 0), g.get("warmup", 0)) for g in groups])
    if config.lr_schedule == "cosine":
        base = groups[0]["lr"]
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=config.iterations,
                                                          eta_min=base * config.min_lr_ratio)
    return torch.optim.lr_scheduler.MultiStepLR(optimizer, milestones, gamma)


class TrainingDiverged(RuntimeError):
    """A loss or gradient became NaN/inf; the run stopped before the optimiser step and wrote nothing."""


Batch = Mapping[str, Any]


class Trainer:
    """Train a DICNet (``task="dic"``/``"dicgan"``) or a feedback hourglass (``task="hourglass"``).

    Args:
        config: the run's :class:`~dicmini.train.config.TrainConfig` (for a resume, normally the checkpoint's
            ``train_config``, see :meth:`from_checkpoint`).
        out_dir: where ``last.pt``, ``best.pt``, ``log.jsonl`` and ``config.json`` go (default ``runs/<name>``).
        resume: a training checkpoint to continue from (weights, optimisers, schedulers, RNG, step, best).

    Under ``torchrun`` each process builds its own ``Trainer``; the process group is joined here
    (:func:`dicmini.train.ddp.setup`). Call :meth:`fit`, or :meth:`train_step` for single iterations.
    """

    def __init__(self, config: TrainConfig, out_dir: str | os.PathLike | None = None, *,
                 resume: str | os.PathLike | None = None, _checkpoint: Mapping[str, Any] | None = None) -> None:
        config.validate()
        self.dist, self.device = ddp.setup(config.device)
        checkpoint = _checkpoint
        if checkpoint is None and resume is not None:
            checkpoint = read_training_checkpoint(resume)
        if config.seed is None:  # MMagic's runtime default: a random seed, recorded for resuming
            drawn = int.from_bytes(os.urandom(4), "little") % 2**31
            config = replace(config, seed=ddp.broadcast_int(drawn, self.dist, self.device))
        self.config = config
        self.out_dir = Path(out_dir if out_dir is not None else Path("runs") / config.name)
        self.log = JsonlLog(self.out_dir / "log.jsonl", enabled=self.dist.is_main)
        self.notes: list[str] = []
        if self.device.type != "cuda" and config.amp != "none":
            self.notes.append(f"amp={config.amp} ignored on {self.device.type} (mixed precision is CUDA-only)")

        if config.threads:
            torch.set_num_threads(config.threads)
        seed_everything(config.seed, deterministic=config.deterministic)
        performance.configure_backends(self.device, config.deterministic)
        self.channels_last = performance.resolve_channels_last(config.channels_last, self.device)
        self.train_set, self.val_set = build_datasets(config)
        #: what is trained (model, losses, validation): :mod:`dicmini.train.tasks`
        self.task = make_task(config, self.out_dir)
        self.model = performance.to_memory_format(self.task.build_model(load_init=checkpoint is None).to(self.device),
                                                  self.channels_last)
        if self.task.kind == "dicnet":
            performance.set_hr_transitions(self.model, performance.resolve_hr_transitions(config.hr_transitions))
        performance.set_prelu_backward(self.model, performance.resolve_prelu_backward(config.prelu_backward,
                                                                                      self.device))
        #: further trained modules (DICGAN: ``{"discriminator": D}``), each with its own optimiser and schedule
        self.adversaries = self.task.adversaries(self.device, self.channels_last)
        self.notes.extend(self.task.notes)

        self.optimizers: dict[str, torch.optim.Optimizer] = {
            "generator": performance.make_adam(self.task.generator_parameters(self.model), self.device, lr=config.lr,
                                               betas=config.betas, weight_decay=config.weight_decay)}
        self.schedulers: dict[str, torch.optim.lr_scheduler.LRScheduler] = {
            "generator": make_scheduler(self.optimizers["generator"], config, list(config.milestones), config.gamma)}
        for name, module in self.adversaries.items():
            self.optimizers[name] = performance.make_adam(module.parameters(), self.device, lr=config.d_lr,
                                                          betas=config.d_betas)
            self.schedulers[name] = make_scheduler(self.optimizers[name], config, list(config.d_milestones),
                                                   config.d_gamma)
        fp16 = self.device.type == "cuda" and config.amp == "fp16"
        self.scalers = {name: torch.amp.GradScaler("cuda", enabled=fp16) for name in self.optimizers}

        self.step = 0
        self.best: dict[str, Any] = {}
        self.last_checkpoint: Path | None = None
        #: schedule settings a resume changed (:func:`dicmini.train.resume.resume_changes`)
        self.resume_changes: list[str] = []
        self._interrupt_requested = False
        self._finite: Tensor | bool = True  # every loss and gradient norm since the last host sync was finite
        for module in (self.model, *self.adversaries.values()):
            ddp.broadcast_module(module, self.dist)
        if checkpoint is not None:
            self._load_training_state(checkpoint, Path(resume) if resume is not None else Path("<checkpoint>"))
        self._warn_about_recipe(checkpoint is None)
        if config.compile:  # after loading: compiled submodules keep their parameter names
            self.compiled = performance.compile_submodules(unwrap(self.model))

    # -- construction --------------------------------------------------------------------------------------

    @classmethod
    def from_checkpoint(cls, path: str | os.PathLike, out_dir: str | os.PathLike | None = None,
                        overrides: Mapping[str, Any] | Sequence[str] = ()) -> Trainer:
        """Resume the run of a training checkpoint with its own config plus ``overrides`` (``key=value``
        strings or a mapping, e.g. more ``iterations``); ``out_dir`` defaults to the checkpoint's folder."""
        ckpt = read_training_checkpoint(path)
        config = apply_overrides(config_from_dict(ckpt["train_config"]), overrides)
        return cls(config, out_dir if out_dir is not None else Path(path).parent, resume=path, _checkpoint=ckpt)

    @property
    def model_kind(self) -> str:
        return self.task.kind

    @property
    def model_config(self) -> dict[str, Any]:
        return self.task.model_config(self.model)

    @property
    def discriminator(self) -> nn.Module | None:
        """DICGAN's discriminator (``None`` for other tasks)."""
        return self.adversaries.get("discriminator")

    @property
    def feature_net(self) -> nn.Module | None:
        """DICGAN's frozen feature network of the feature loss (``None`` without one)."""
        return getattr(self.task, "feature_net", None)

    def _warn_about_recipe(self, fresh: bool) -> None:
        cfg = self.config
        if fresh and cfg.task != "hourglass" and cfg.release_hourglass_step > 0 and not cfg.init_hourglass \
                and not cfg.init_generator and not cfg.hourglass_stage:
            self.notes.append(f"the landmark branch is frozen until iteration {cfg.release_hourglass_step} but no "
                              "pretrained hourglass was given (--set init_hourglass=PATH); the official recipe "
                              "starts from FB_HG_68_CelebA.pth")
        if fresh and cfg.name == "official-dicgan" and not cfg.init_generator:
            self.notes.append("official DICGAN fine-tunes a trained DIC generator (--set init_generator=PATH)")
        for note in self.notes:
            if self.dist.is_main:
                warnings.warn(note, UserWarning, stacklevel=3)

    # -- state ----------------------------------------------------------------------------------------------

    def state_payload(self, metrics: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """The full training checkpoint (see :mod:`dicmini.train.checkpoint`)."""
        payload = model_payload(self.model, self.model_kind, self.model_config)
        payload.update(
            step=self.step,
            train_config=config_to_dict(self.config),
            optimizers={k: o.state_dict() for k, o in self.optimizers.items()},
            schedulers={k: s.state_dict() for k, s in self.schedulers.items()},
            scalers={k: s.state_dict() for k, s in self.scalers.items()},
            rng=capture_rng_state(),
            best=dict(self.best),
            metrics=dict(metrics or {}),
        )
        for name, module in self.adversaries.items():
            payload[name] = cpu_state_dict(module)
        return payload

    def _load_training_state(self, ckpt: Mapping[str, Any], source: Path) -> None:
        self.resume_changes = resume_changes(config_from_dict(ckpt["train_config"]), self.config, str(source))
        if ckpt.get("kind") != self.model_kind:
            raise ValueError(f"{source}: a {ckpt.get('kind')!r} checkpoint cannot resume a {self.config.task!r} run")
        try:
            self._restore_state(ckpt, source)
        except (KeyError, TypeError, IndexError, RuntimeError, ValueError) as err:
            if isinstance(err, CheckpointError):
                raise
            first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            raise CheckpointError(f"{source}: damaged training state ({type(err).__name__}: {first})") from None
        if self.resume_changes:
            self._relay_schedules()

    def _relay_schedules(self) -> None:
        """Apply changed optimiser/schedule settings on resume (:mod:`dicmini.train.resume`)."""
        cfg = self.config
        self.schedulers["generator"] = relay_schedule(
            self.optimizers["generator"], lambda o: make_scheduler(o, cfg, list(cfg.milestones), cfg.gamma),
            self.step, lr=cfg.lr, betas=cfg.betas, weight_decay=cfg.weight_decay)
        for name in self.adversaries:
            self.schedulers[name] = relay_schedule(
                self.optimizers[name], lambda o: make_scheduler(o, cfg, list(cfg.d_milestones), cfg.d_gamma),
                self.step, lr=cfg.d_lr, betas=cfg.d_betas)

    def _restore_state(self, ckpt: Mapping[str, Any], source: Path) -> None:
        load_state_dict_strict(unwrap(self.model), ckpt["model"], str(source))
        for name, module in self.adversaries.items():
            if name not in ckpt:
                raise ValueError(f"{source}: no {name} state to resume a {self.config.task} run")
            load_state_dict_strict(module, ckpt[name], f"{source} ({name})")
        for name, opt in self.optimizers.items():
            opt.load_state_dict(ckpt["optimizers"][name])
        for name, sched in self.schedulers.items():
            sched.load_state_dict(ckpt["schedulers"][name])
        for name, scaler in self.scalers.items():
            state = ckpt.get("scalers", {}).get(name)
            if state and scaler.is_enabled():
                scaler.load_state_dict(state)
        self.step = int(ckpt["step"])
        self.best = dict(ckpt.get("best") or {})
        self.last_checkpoint = source
        restore_rng_state(ckpt["rng"])
        self.log.truncate_after(self.step)

    def save(self, name: str, metrics: Mapping[str, Any] | None = None) -> Path | None:
        """Write ``out_dir/name`` atomically (rank 0 only); refuses to write non-finite weights."""
        if not self.dist.is_main:
            return None
        for module in (self.model, *self.adversaries.values()):
            if not all_finite(module):
                raise TrainingDiverged(f"refusing to write {self.out_dir / name}: the weights contain NaN/inf "
                                       f"at iteration {self.step}; the last good checkpoint is "
                                       f"{self.last_checkpoint or 'none'}")
        return save_checkpoint(self.out_dir / name, self.state_payload(metrics))

    # -- one iteration ----------------------------------------------------------------------------------

    def _autocast(self) -> contextlib.AbstractContextManager:
        if self.device.type == "cuda" and self.config.amp != "none":
            dtype = torch.bfloat16 if self.config.amp == "bf16" else torch.float16
            return torch.autocast("cuda", dtype=dtype)
        return contextlib.nullcontext()

    def gan_active(self) -> bool:
        """Whether this iteration uses the adversarial losses and updates the adversaries (DICGAN after
        ``pixel_init``)."""
        return bool(self.adversaries) and self.task.adversarial(self.step)

    def _reduce(self, logs: dict[str, Tensor]) -> dict[str, Tensor]:
        """Mean of the log values (0-d tensors) over processes (the same keys on every rank), on the device."""
        if not self.dist.enabled:
            return logs
        keys = sorted(logs)
        t = torch.stack([logs[k].detach().reshape(()).to(self.device, torch.float64) for k in keys])
        ddp.all_reduce_mean(t, self.dist)
        return {k: t[i] for i, k in enumerate(keys)}

    def _sync_now(self) -> bool:
        """Whether the iteration being run reads its values back to the host (every ``sync_every``, and the first)."""
        return self.step == 0 or (self.step + 1) % self.config.sync_every == 0

    def _check_finite(self, sync: bool, what: str, logs: dict[str, Any]) -> dict[str, Any]:
        """On a sync iteration: ``logs`` as floats, raising :meth:`_diverged` if they (or any value since the last
        sync) are not finite. Otherwise: the device tensors, the finiteness recorded for the next sync."""
        if not sync:
            self._finite = performance.all_finite_values(logs) & self._finite
            return logs
        floats = performance.host_values(logs)
        earlier = bool(self._finite) if isinstance(self._finite, Tensor) else self._finite
        self._finite = True
        if not earlier:
            raise self._diverged(f"{what} (or a loss / gradient since the previous host sync, sync_every="
                                 f"{self.config.sync_every})", floats)
        if not all(math.isfinite(v) for v in floats.values()):
            raise self._diverged(what, floats)
        return floats

    def _diverged(self, what: str, logs: Mapping[str, float]) -> TrainingDiverged:
        shown = ", ".join(f"{k}={v:.4g}" for k, v in logs.items())
        record = {"type": "diverged", "step": self.step + 1, "what": what, **logs}
        self.log.write(record)
        return TrainingDiverged(
            f"training diverged: non-finite {what} at iteration {self.step + 1} ({shown}); stopped before the "
            f"optimiser step, nothing was written; last good checkpoint: {self.last_checkpoint or 'none yet'} "
            + ("(at the first iteration: check the init, e.g. --set init=default)" if self.step == 0
               else f"(continue with a lower rate: dicmini train --resume {self.last_checkpoint} --set lr=..., or "
                    "amp=none)" if self.last_checkpoint else "(try a lower --set lr=..., or amp=none)"))

    def _optimizer_step(self, name: str, module: nn.Module, logs: dict[str, Any], sync: bool = True) -> Any:
        """Average gradients over processes, check them, step optimiser ``name``; return the grad norm (a float,
        or a 0-d device tensor between host syncs, checked at the next one)."""
        opt, scaler = self.optimizers[name], self.scalers[name]
        params = [p for p in module.parameters() if p.grad is not None]
        ddp.average_gradients(params, self.dist)
        scaler.unscale_(opt)
        norm = torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(p.grad.float()) for p in params])) \
            if params else torch.zeros((), device=self.device)
        if scaler.is_enabled():  # fp16: the scaler skips non-finite steps itself
            norm = float(norm) if sync else norm.detach()
        else:
            norm = self._check_finite(sync, f"{name} gradient", {**logs, "grad_norm": norm})["grad_norm"]
        scaler.step(opt)
        scaler.update()
        return norm

    def train_step(self, micro_batches: Sequence[Batch]) -> dict[str, float]:
        """One iteration on ``micro_batches`` (this process's ``accum_steps`` shards of the global batch).
        Returns the logged values (process means): loss terms, ``total``, ``grad_norm``, ``d_loss``, ``lr``; floats,
        except between host syncs (``sync_every > 1``) where they are 0-d device tensors."""
        cfg = self.config
        sync = self._sync_now()
        self.task.before_step(self.model, self.step)
        gan = self.gan_active()
        frozen = self.task.generator_frozen(self.step)  # discriminator warm-up: the generator is only run
        self.model.train()
        n = len(micro_batches)

        # generator step (adversaries frozen)
        for module in self.adversaries.values():
            module.requires_grad_(False)
        self.optimizers["generator"].zero_grad(set_to_none=True)
        sums: dict[str, Tensor] = {}
        fakes: list[Tensor] = []
        for batch in micro_batches:
            with self._autocast(), torch.no_grad() if frozen else contextlib.nullcontext():
                loss, terms, sr_last = self.task.generator_loss(self.model, batch, self.step, self.device,
                                                                self.channels_last, gan)
            if not frozen:
                self.scalers["generator"].scale(loss / n).backward()
            for k, v in terms.items():
                v = (v.double() if isinstance(v, Tensor) else torch.tensor(float(v), dtype=torch.float64)) / n
                sums[k] = sums[k] + v if k in sums else v
            if gan:
                fakes.append(sr_last.detach())
        logs = self._check_finite(sync, "loss", self._reduce(sums))
        logs["grad_norm"] = 0.0 if frozen else self._optimizer_step("generator", self.model, logs, sync)

        # adversary step(s) (DICGAN's discriminator) on the same batch and the SR of the generator step
        for name, module in self.adversaries.items() if gan else ():
            module.requires_grad_(True)
            key = "d" if name == "discriminator" else name
            for _ in range(cfg.disc_repeat):
                self.optimizers[name].zero_grad(set_to_none=True)
                d_sum = torch.zeros((), dtype=torch.float64, device=self.device)
                for batch, fake in zip(micro_batches, fakes):
                    with self._autocast():
                        d_loss = self.task.adversary_loss(name, batch, fake, self.device, self.channels_last)
                    self.scalers[name].scale(d_loss / n).backward()
                    d_sum = d_sum + d_loss.detach().double() / n
                checked = self._check_finite(sync, f"{name} loss", {**logs, **self._reduce({f"{key}_loss": d_sum})})
                d_logs = {f"{key}_loss": checked[f"{key}_loss"]}
                d_logs[f"{key}_grad_norm"] = self._optimizer_step(name, module, {**logs, **d_logs}, sync)
            logs.update(d_logs)

        logs["lr"] = self.optimizers["generator"].param_groups[0]["lr"]
        with warnings.catch_warnings():
            # the schedule counts iterations, also those without a D update (warm-up) or with a step skipped
            # by the fp16 scaler; PyTorch's "scheduler before optimizer" warning does not apply
            warnings.filterwarnings("ignore", message=re.escape("Detected call of `lr_scheduler.step()` before"))
            for sched in self.schedulers.values():
                sched.step()
        self.step += 1
        return logs

    # -- validation and the loop -------------------------------------------------------------------------

    def validate(self) -> EvalResult:
        """Per-step metrics on the validation set (run by rank 0)."""
        return self.task.validate(self.model, self.val_set, self.device)

    def _validate_and_keep_best(self) -> dict[str, Any]:
        metrics: dict[str, Any] = {}
        if self.dist.is_main:
            result = self.validate()
            metrics = result.to_dict()
            name, value = self.task.best_metric, self.task.best_value(result)
            better = (lambda new, old: new > old) if self.task.higher_is_better else (lambda new, old: new < old)
            self.log.write({"type": "val", "step": self.step, "protocol": result.protocol, "psnr": result.psnr,
                            "ssim": result.ssim, "nme": result.nme, "num_images": result.num_images})
            new_best = math.isfinite(value) and (not self.best or better(value, self.best["value"]))
            if new_best:
                self.best = {"metric": f"last-step {name}", "value": value, "step": self.step}
                self.save("best.pt", metrics)
                self.log.write({"type": "best", "step": self.step, **self.best})
            if self.config.progress:
                unit = " dB" if name == "psnr" else ""
                tqdm.write(f"iteration {self.step}: validation last-step {name} {value:.4f}{unit} "
                           f"({'new best' if new_best else 'best ' + format(self.best.get('value', math.nan), '.4f')})",
                           file=sys.stderr)
        ddp.barrier(self.dist)
        return metrics

    def _batches(self, stop: int) -> Iterator[list[Batch]]:
        cfg = self.config
        sampler = IterationBatchSampler(len(self.train_set), cfg.batch_size, cfg.seed, self.step, stop,
                                        rank=self.dist.rank, world_size=self.dist.world_size,
                                        accum_steps=cfg.accum_steps)
        loader = DataLoader(self.train_set, batch_sampler=sampler, num_workers=cfg.num_workers, collate_fn=collate,
                            pin_memory=self.device.type == "cuda",
                            generator=torch.Generator().manual_seed(cfg.seed))  # leaves the global RNG alone
        it = iter(loader)
        for _ in range(self.step, stop):
            yield [next(it) for _ in range(cfg.accum_steps)]

    def _time_up(self, started: float) -> bool:
        limit = self.config.time_limit_minutes
        if not limit:
            return False
        up = int(time.monotonic() - started >= 60.0 * limit)
        return bool(ddp.broadcast_int(up, self.dist, self.device))

    def fit(self, stop_at: int | None = None) -> dict[str, Any]:
        """Train until ``config.iterations`` (or ``stop_at``, or the time limit, or Ctrl-C); returns a summary.

        Writes ``config.json``, appends to ``log.jsonl`` (a ``train`` record every ``log_every`` iterations, a
        ``val`` record per validation), keeps ``best.pt`` and ``last.pt`` (also at the stop). The output folder is
        locked for the run (:func:`dicmini.train.runfolder.lock_run_folder`: a second run into it fails). A first
        Ctrl-C (SIGINT) finishes the current iteration, writes ``last.pt`` and returns with ``stopped ==
        "interrupted"``; a second one interrupts at once.
        """
        lock = lock_run_folder(self.out_dir) if self.dist.is_main else contextlib.nullcontext()
        with lock, self._sigint_finishes_iteration():
            return self._fit(stop_at)

    @contextlib.contextmanager
    def _sigint_finishes_iteration(self) -> Iterator[None]:
        """While training, the first SIGINT sets a flag checked after every iteration. Only in the main thread
        and only where SIGINT has Python's default handler; elsewhere nothing changes."""
        previous = signal.getsignal(signal.SIGINT)

        def handler(signum: int, frame: Any) -> None:
            self._interrupt_requested = True
            signal.signal(signal.SIGINT, previous)
            if self.dist.is_main:
                print(f"\ndicmini: Ctrl-C: finishing iteration {self.step + 1}, then writing "
                      f"{self.out_dir / 'last.pt'} (Ctrl-C again to stop at once, without saving)",
                      file=sys.stderr, flush=True)

        installed = False
        if previous is signal.default_int_handler and threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGINT, handler)
            installed = True
        try:
            yield
        finally:
            if installed:
                signal.signal(signal.SIGINT, previous)

    def _interrupted(self) -> bool:
        flag = int(self._interrupt_requested)
        return bool(ddp.broadcast_int(flag, self.dist, self.device)) if self.dist.enabled else bool(flag)

    def _fit(self, stop_at: int | None) -> dict[str, Any]:
        cfg = self.config
        stop = cfg.iterations if stop_at is None else min(stop_at, cfg.iterations)
        if self.dist.is_main:
            import json

            atomic_write(self.out_dir / "config.json",
                         lambda tmp: tmp.write_text(json.dumps(config_to_dict(cfg), indent=2) + "\n"))
            self.log.write({"type": "start", "step": self.step, "config": cfg.name, "task": cfg.task,
                            "device": str(self.device), "world_size": self.dist.world_size, "seed": cfg.seed,
                            "resumed_from": str(self.last_checkpoint) if self.last_checkpoint else None,
                            "notes": self.notes})
        started = time.monotonic()
        reason = "completed" if stop == cfg.iterations else "stop_at"
        bar = tqdm(total=stop, initial=self.step, desc=f"train {cfg.name}", dynamic_ncols=True,
                   disable=not (cfg.progress and self.dist.is_main))
        try:
            for micro_batches in self._batches(stop):
                logs = self.train_step(micro_batches)
                bar.update(1)
                if isinstance(logs["total"], float):
                    bar.set_postfix(loss=f"{logs['total']:.4f}", refresh=False)
                if self.step % cfg.log_every == 0 or self.step == 1:
                    self.log.write({"type": "train", "step": self.step, **logs,
                                    "elapsed_s": round(time.monotonic() - started, 3)})
                metrics = None
                if self.step % cfg.val_every == 0 or self.step == cfg.iterations:
                    metrics = self._validate_and_keep_best()
                time_up = self._time_up(started)
                interrupted = self._interrupted()
                if self.step % cfg.ckpt_every == 0 or self.step == stop or time_up or interrupted:
                    path = self.save("last.pt", metrics)
                    self.last_checkpoint = path or self.last_checkpoint
                if time_up or interrupted:
                    reason = "interrupted" if interrupted else "time_limit"
                    break
        finally:
            bar.close()
        summary: dict[str, Any] = {"step": self.step, "stopped": reason, "out_dir": str(self.out_dir),
                                   "last_checkpoint": str(self.out_dir / "last.pt"), "best": dict(self.best)}
        if self.dist.enabled:
            summary["replicas_identical"] = all(ddp.replicas_identical(m, self.dist)
                                                for m in (self.model, *self.adversaries.values()))
        if self.dist.is_main:
            self.log.write({"type": "end", **summary, "world_size": self.dist.world_size})
        return summary
