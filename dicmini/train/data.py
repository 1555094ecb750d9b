"""Training data: the datasets of a config and a deterministic, resumable, shardable batch order.

The order of training samples is a pure function of ``(seed, epoch)`` and the iteration counter — no
iterator state to save — so a run resumed at iteration ``k`` reads exactly the batches an uninterrupted run
reads from ``k`` on, and a ``torchrun`` job splits every batch across processes the way
``torch.utils.data.DistributedSampler`` would (rank ``r`` of ``W`` takes positions ``r, r+W, ...``).

Epochs drop the last incomplete batch, as both references do (``drop_last=True``; docs/reference_implementations.md,
Data and degradation): epoch ``e`` is
the permutation ``default_rng([seed, e]).permutation(n)`` cut into ``n // batch`` global batches.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
from torch.utils.data import Dataset, Sampler, Subset

from ..data.datasets import FaceFolder, SyntheticFaces
from ..data.datasets import collate as collate  # re-exported: the batches of training and evaluation
from .config import TrainConfig


def build_datasets(config: TrainConfig) -> tuple[Dataset, Dataset]:
    """``(train, val)`` datasets of ``config`` (HR 128x128, LR by PIL bicubic x1/8, 32x32 heatmaps;
    docs/reference_implementations.md, Data and degradation).

    ``data="synthetic"``: training faces are seeds ``0 .. train_size-1``, validation faces the first
    ``val_size`` held-out seeds (never seen in training). A folder: ``<data>/train`` and ``<data>/val`` (or
    ``val_data``), validation limited to the first ``val_size`` files when ``val_size > 0``.
    """
    if config.data == "synthetic":
        if config.val_size < 1:
            raise ValueError("config val_size: synthetic validation needs val_size >= 1 held-out faces")
        return (SyntheticFaces(config.train_size, first_seed=0, sigma=config.heatmap_sigma, pool=config.face_pool,
                               yaw=config.synthetic_yaw, backdrop=config.synthetic_backdrop,
                               grin=config.synthetic_grin),
                SyntheticFaces(config.val_size, first_seed=0, held_out=True, sigma=config.heatmap_sigma))
    root = Path(config.data)
    if not root.is_dir():
        raise FileNotFoundError(f"config data: {root} is not a directory (expected a prepared folder with train/ "
                                "and val/, e.g. from `dicmini data synth --split`, or --set data=synthetic)")
    train_dir = root / "train"
    if not train_dir.is_dir():
        raise FileNotFoundError(f"config data: {train_dir} not found (the data folder must hold train/ and val/)")
    val_dir = Path(config.val_data) if config.val_data else root / "val"
    if not val_dir.is_dir():
        raise FileNotFoundError(f"config val_data: {val_dir} not found (set --set val_data=DIR)")
    train = FaceFolder(train_dir, sigma=config.heatmap_sigma)
    val = FaceFolder(val_dir, sigma=config.heatmap_sigma)
    if config.val_size and config.val_size < len(val):
        val = Subset(val, range(config.val_size))
    return train, val


def epoch_permutation(n: int, seed: int, epoch: int) -> np.ndarray:
    """The sample order of one epoch: a permutation of ``range(n)`` determined by ``(seed, epoch)`` only."""
    return np.random.default_rng([seed, epoch]).permutation(n)


def global_batch(step: int, n: int, batch_size: int, seed: int) -> np.ndarray:
    """Dataset indices of the global batch of iteration ``step`` (0-based): ``batch_size`` indices."""
    per_epoch = n // batch_size
    if per_epoch < 1:
        raise ValueError(f"dataset of {n} samples is smaller than one batch of {batch_size}")
    epoch, j = divmod(step, per_epoch)
    return epoch_permutation(n, seed, epoch)[j * batch_size:(j + 1) * batch_size]


class IterationBatchSampler(Sampler[list[int]]):
    """Micro-batches of one process for iterations ``start .. stop-1`` (a ``DataLoader`` ``batch_sampler``).

    Iteration ``i``'s global batch (:func:`global_batch`) is sharded ``DistributedSampler``-style —
    rank ``r`` takes ``batch[r::world_size]`` — and each shard is cut into ``accum_steps`` consecutive
    micro-batches, yielded in order. ``batch_size`` is the global batch per optimiser step.
    """

    def __init__(self, n: int, batch_size: int, seed: int, start: int, stop: int, *, rank: int = 0,
                 world_size: int = 1, accum_steps: int = 1) -> None:
        if batch_size % (world_size * accum_steps):
            raise ValueError(f"config batch_size={batch_size} must be divisible by processes x accum_steps = "
                             f"{world_size} x {accum_steps}")
        if n < batch_size:
            raise ValueError(f"training set of {n} samples is smaller than one batch of {batch_size}")
        self.n, self.batch_size, self.seed = n, batch_size, seed
        self.start, self.stop = start, stop
        self.rank, self.world_size, self.accum_steps = rank, world_size, accum_steps
        self.micro = batch_size // (world_size * accum_steps)

    def __len__(self) -> int:
        return max(self.stop - self.start, 0) * self.accum_steps

    def __iter__(self) -> Iterator[list[int]]:
        for step in range(self.start, self.stop):
            shard = global_batch(step, self.n, self.batch_size, self.seed)[self.rank::self.world_size]
            for a in range(self.accum_steps):
                yield shard[a * self.micro:(a + 1) * self.micro].tolist()
