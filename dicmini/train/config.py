"""Training configurations: one typed dataclass and the named recipes of DIC / DICGAN.

Every named reference recipe reproduces one column of the recipe table of ``docs/reference_implementations.md``
(Recipes: optimisation, schedule, hourglass freeze, GAN warm-up, discriminator updates, seed, validation
interval; Losses: loss weights). Field names are the
``--set key=value`` names of ``dicmini train``; values are parsed by the field's type (:func:`apply_overrides`).

Named recipes (:data:`CONFIGS`):

``tiny``
    dicmini's CPU recipe, found by measurement (research log ``benchmarks/results/recipe_log.md``): SR width 16, 2
    projection groups, hourglass width 64, 3 steps, internal projection scale 2, 7 fusion blocks; ``kaiming-sr``
    init with the last reconstruction conv x0.1 (every step starts at the bilinear skip); the landmark branch pre-
    trained first (stage ``tiny-hourglass``), frozen for 1,000 iterations, then trained at 0.2x the rate; ground-
    truth maps guide steps 2..T on half the iterations (``truth_guidance``); Adam 2e-3 with a cosine decay to 5 %
    over 6,500 iterations; batch 4; sigma-2 heatmaps with a 1.0-weighted MSE alignment loss; 4,000 synthetic
    training faces from a pre-rendered pool; one thread. Makes the packaged ``dic_tiny.pt``.
``tiny-hourglass``
    Stage 1 of ``tiny``: the feedback hourglass (width 64) alone, 3 passes per image with the hidden state fed back,
    on HR faces and, for half of them, blurred copies; Adam 1e-3 cosine, 2,800 iterations, batch 8, sigma 2.
``tiny-probe``
    The independent landmark estimator of the causal experiments (notebooks 03-05): ``tiny-hourglass`` on sharp HR
    faces only, from seed 1, 2,000 iterations (``benchmarks/ship_probe.py`` ships it).
``tiny-real``
    The packaged tiny DIC fine-tuned for real photos (``dic_tiny_real.pt``; docs/real_faces.md): 1,500 iterations at
    Adam 5e-4 (cosine) on synthetic faces of which a share is framed by the real-photo crop rule, put through a
    random camera (each effect with probability 0.7, blur 0.4-1.6 px) and has its eyes, brows and lips softened,
    with the wider yaw of real crops.
``tiny-dicgan``
    DICGAN as a short fine-tune of the packaged tiny DIC: discriminator warm-up, then G and D in turn; a VGG16
    perceptual loss in the slot of the LightCNN identity loss (``benchmarks/dicgan_finetune.py``).
``official-celeba``
    Official DIC (``SRLandmarkSolver``, CelebA): Kaiming-normal init, hourglass from a pretrained
    ``FB_HG_68_CelebA.pth`` (``init_hourglass``), frozen until iteration 2,000; Adam 1e-4; ×0.5 at
    10k/20k/40k/80k; 150k iterations; batch 8; 0.1·MSE alignment; validation every 2k; seed 0.
``mmagic-celebahq``
    MMagic 1.x DIC: PyTorch default init, hourglass trained from scratch, same schedule, 0.1·MSE alignment,
    validation every 2k, runtime-default (random) seed.
``mmedit-celebahq``
    MMEditing 0.x, the code that produced the published MMagic checkpoints: as ``mmagic-celebahq`` but the
    alignment term is 1.0·L1 (the 0.x bug, docs/reference_implementations.md, Losses).
``official-dicgan``
    Official DICGAN (``SRLandmarkGANSolver``, CelebA): generator from the DIC ``best_ckp.pth``
    (``init_generator``; no Kaiming init in that branch), D default init; G and D Adam 1e-4; ×0.5 at
    10k/20k/40k; 80k iterations; hourglass frozen for the whole run (``release_HG_grad_step`` 2e6); one D step
    per iteration, no warm-up; the pixel-loss quirk ``4·L1(SR_last, HR)``; validation every 1k; seed 0.
``mmagic-dicgan``
    MMagic DICGAN: from scratch, default init; G Adam 1e-4, D Adam 1e-5; ×0.5 at 100k/200k/300k/400k;
    500k iterations; 10k pixel-only warm-up; 2 D steps per iteration; validation every 5k; random seed.
``hourglass``
    Pre-training of the landmark branch alone (``FeedbackHourglass`` on HR images -> GT heatmaps, MSE),
    the role of the official pretrained ``FB_HG_68_CelebA.pth`` whose training recipe is not published:
    a dicmini recipe (PyTorch default init: a Kaiming-initialised hourglass overflows, see
    :mod:`dicmini.train.init`). Start a DIC run from it with ``--set init_hourglass=runs/hourglass/best.pt``.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import types
import typing
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from ..data.camera_effects import BLUR_SIGMA as CAMERA_BLUR_SIGMA
from ..data.camera_effects import EFFECT_PROBABILITY as CAMERA_EFFECT_PROBABILITY
from ..data.face_shape import PORTRAIT_YAW, REAL_CROP_YAW

# The allowed values of the fields this module owns. Those of ``init`` / ``d_init`` live with the schemes
# (:mod:`dicmini.train.init`), those of ``fusion`` and the DICNet arguments with the model
# (:mod:`dicmini.models.dic`), the named loss weights with the losses (:data:`dicmini.losses.RECIPES`); they are
# imported where used, so that importing this module stays free of torch.
TASKS = ("dic", "dicgan", "hourglass")
AMP_MODES = ("none", "bf16", "fp16")
#: the criteria of the pixel and alignment terms (:mod:`dicmini.losses`)
LOSS_KINDS = ("mse", "l1")
LR_SCHEDULES = ("multistep", "cosine")
CHECKPOINT_GRANULARITIES = ("call", "fine")
CHANNELS_LAST_MODES = ("auto", "true", "false")
HR_TRANSITIONS = ("auto", "sum", "concat")
PRELU_BACKWARDS = ("auto", "fused", "native")


@dataclass
class TrainConfig:
    """All settings of one training run (docs/reference_implementations.md, Recipes). Defaults are the full-size
    official DIC values."""

    name: str = "custom"
    #: ``"dic"`` (generator only), ``"dicgan"`` (+ LightCNN discriminator and feature loss), ``"hourglass"``
    #: (landmark branch alone on HR images).
    task: str = "dic"

    # -- data (docs/reference_implementations.md, Data and degradation) ------------------------------------------------
    #: ``"synthetic"`` (procedural faces: training seeds from 0, validation from the held-out range) or a
    #: prepared folder holding ``train/`` and ``val/`` sub-folders (``dicmini data synth --split`` writes them).
    data: str = "synthetic"
    #: validation folder; empty = ``<data>/val`` (ignored for synthetic data).
    val_data: str = ""
    #: synthetic data only: number of distinct training faces (seeds ``0 .. train_size-1``).
    train_size: int = 8000
    #: validation faces (synthetic: held-out seeds; folder: the first ``val_size`` files, 0 = all).
    val_size: int = 16
    num_workers: int = 0
    #: synthetic data only: render the training faces once into a pool file (``.cache/face-pool``, see
    #: :mod:`dicmini.data.face_pool`) and read them back, instead of painting every face again each epoch.
    face_pool: bool = False

    # -- generator architecture (paper §3; docs/reference_implementations.md, Architecture) ----------------------------
    mid_channels: int = 48
    num_blocks: int = 6
    hg_mid_channels: int = 256
    hg_num_keypoints: int = 68
    num_steps: int = 4
    upscale_factor: int = 8
    num_fusion_blocks: int = 7
    detach_attention: bool = False
    prelu_init: float = 0.2
    #: ``"attention"`` (the paper), ``"concat"`` or ``"none"`` (no landmark prior): ablations of :class:`DICNet`.
    fusion: str = "attention"
    #: recompute the feedback blocks and hourglass in the backward pass (less memory, more compute).
    gradient_checkpointing: bool = False
    #: what ``gradient_checkpointing`` recomputes: ``"call"`` (each feedback-block and hourglass call) or
    #: ``"fine"`` (also each projection group inside them; measured no leaner on the CPU: prefer ``"call"``).
    checkpoint_granularity: str = "call"

    # -- initialisation (docs/reference_implementations.md, Initialisation) --------------------------------------------
    #: ``"kaiming"`` (official: Kaiming-normal fan_in, a=0, zero bias on every conv/deconv/linear of the
    #: generator), ``"default"`` (PyTorch's constructors, as MMagic) or ``"kaiming-sr"`` (Kaiming on the SR
    #: branch, default on the landmark branch: for runs without a pretrained hourglass, see
    #: :mod:`dicmini.train.init`).
    init: str = "kaiming"
    #: pretrained landmark branch loaded after init: official ``FB_HG_68_CelebA.pth``, a ``hourglass`` run's
    #: checkpoint, or any DICNet checkpoint or packaged model name (``"tiny"``; its landmark estimator is used).
    #: Empty = none.
    init_hourglass: str = ""
    #: a named ``task="hourglass"`` config (e.g. ``"tiny-hourglass"``) that pre-trains the landmark branch first:
    #: ``dicmini train`` runs it into ``<out>/hourglass-stage/`` and this run starts its landmark branch from that
    #: stage (:mod:`dicmini.train.stages`). Empty = no stage.
    hourglass_stage: str = ""
    #: DICNet checkpoint the generator starts from (official DICGAN fine-tunes DIC's ``best_ckp.pth``).
    init_generator: str = ""
    #: start from an ``init_generator`` with a narrower recovery branch (fewer ``mid_channels``): its weights are
    #: widened so the wider model computes the same images at the start, and the new channels train from there
    #: (:mod:`dicmini.models.widen`).
    init_widen: bool = False
    #: LightCNN feature-network weights for the DICGAN feature loss (MMagic ``light_cnn_feature.pth`` or the
    #: official ``LightCNN_feature.pth``). Empty = random weights (a warning says the loss is then not an
    #: identity loss).
    feature_weights: str = ""
    #: network of the DICGAN feature loss: ``"lightcnn"`` (the paper's identity loss, weights from
    #: ``feature_weights``), a pretrained perceptual loss ``"vgg16:<layer>"`` (e.g. ``"vgg16:relu3_3"``: the
    #: ImageNet VGG16 fetched by ``python -m dicmini.models.vgg_weights fetch``; Johnson et al. 2016, SRGAN), or
    #: ``"auto"``: LightCNN when ``feature_weights`` names a file, else the pretrained VGG16 at
    #: :data:`AUTO_FEATURE_LAYER` when its weights are fetched, else a random LightCNN (with a warning).
    feature_net: str = "auto"
    #: the last reconstruction conv's initial weights are multiplied by this (dicmini; 1 = unchanged).
    reconstruction_init_scale: float = 1.0

    # -- losses (paper §3.4; docs/reference_implementations.md, Losses) ------------------------------------------------
    #: sigma (heatmap pixels) of the Gaussian training heatmaps; 1 in both references
    #: (docs/reference_implementations.md, Data and degradation).
    heatmap_sigma: float = 1.0
    pixel_weight: float = 1.0
    #: criterion of the pixel term, ``"l1"`` (both references) or ``"mse"`` (dicmini's option: PSNR's own loss;
    #: :func:`dicmini.losses.pixel_loss`)
    pixel_kind: str = "l1"
    align_kind: str = "mse"
    align_weight: float = 0.1
    feature_weight: float = 0.1
    gan_weight: float = 0.005
    #: step ``t`` of ``T`` weighs ``step_decay ** (T - t)`` in the pixel and alignment sums (dicmini, after
    #: recurrent refinement networks such as RAFT; 1 = equal weights, as the references;
    #: :func:`dicmini.losses.step_weights`)
    step_decay: float = 1.0
    #: official DICGAN solver: ``pixel_weight * num_steps * L1(SR_last, HR)`` instead of ``sum_t L1(SR_t, HR)``.
    official_dicgan_pixel_quirk: bool = False

    # -- optimisation and schedule (docs/reference_implementations.md, Recipes) ----------------------------------------
    iterations: int = 150_000
    #: effective batch per optimiser step, over all processes and accumulation steps (8 in every recipe).
    batch_size: int = 8
    #: gradient-accumulation micro-batches per step (per process): micro-batch = batch / (world * accum).
    accum_steps: int = 1
    lr: float = 1e-4
    betas: tuple[float, float] = (0.9, 0.999)
    weight_decay: float = 0.0
    #: ``"multistep"`` (both references: MultiStepLR at ``milestones`` x ``gamma``) or ``"cosine"``
    #: (dicmini: cosine from ``lr`` to ``lr * min_lr_ratio`` over ``iterations``). Stepped once per iteration.
    lr_schedule: str = "multistep"
    #: MultiStepLR milestones, in iterations.
    milestones: tuple[int, ...] = (10_000, 20_000, 40_000, 80_000)
    gamma: float = 0.5
    min_lr_ratio: float = 0.0
    #: learning rate of the landmark branch relative to ``lr`` (dicmini: a pretrained hourglass fine-tuned slowly
    #: inside DIC; 1 = one rate for the whole generator, as both references).
    hourglass_lr_scale: float = 1.0
    #: iterations over which the landmark branch's learning rate ramps up linearly from 0, counted from
    #: ``release_hourglass_step`` (dicmini: a fresh Adam's first steps are large and wipe out a pre-trained branch).
    hourglass_warmup: int = 0
    #: probability, per iteration, that steps 2..T are guided by the ground-truth heatmaps instead of the model's
    #: own estimate (dicmini: teaches the attentive fusion to read precise landmarks; 0 = never, as the references).
    #: The alignment loss still scores the model's own heatmaps.
    truth_guidance: float = 0.0
    #: probability, per iteration not guided by the ground truth, that steps 2..T are guided by all-zero maps (no
    #: landmark prior; dicmini: the SR branch must also do well without the prior, so wrong landmarks cost less;
    #: 0 = never, as the references).
    prior_dropout: float = 0.0
    #: on iterations guided by the ground truth, how far its landmarks are moved first, in outer-eye-corner
    #: distances (:func:`dicmini.train.augment.jittered_guidance`; dicmini: real faces' estimates are that far off;
    #: 0 = exact, as the references).
    guidance_jitter: float = 0.0
    #: ``dic``/``dicgan`` tasks: probability that a training HR face goes through a random camera (blur, sensor
    #: noise, JPEG; :mod:`dicmini.data.camera_effects`) before its LR input is made from it (dicmini, for faces
    #: that look more like photos; 0 = never, as the references).
    hr_camera: float = 0.0
    #: the camera of ``hr_camera``: the probability of each of its effects (blur, noise, JPEG), and the range of the
    #: blur's sigma in HR pixels (:mod:`dicmini.data.camera_effects`; dicmini: the real-face benchmark's crops are
    #: softer than the default camera makes the procedural faces).
    hr_camera_effects: float = CAMERA_EFFECT_PROBABILITY
    hr_camera_blur: tuple[float, float] = CAMERA_BLUR_SIGMA
    #: ``dic``/``dicgan`` tasks: probability that a training HR face is relit (a directional light, uneven shading,
    #: a colour cast, an exposure curve; :mod:`dicmini.data.lighting`) before the camera and the x8 degradation
    #: (dicmini: real photos are lit less evenly than the procedural faces; 0 = never, as the references).
    hr_lighting: float = 0.0
    #: ``dic``/``dicgan`` tasks: probability that a training HR face is re-framed by the crop rule of real photos
    #: (:mod:`dicmini.data.crop`, what ``dicmini data prepare`` does to a photo) before the camera and the x8
    #: degradation, landmarks and heatmaps moved with it (dicmini: the procedural faces sit lower and vary less in
    #: the frame than the crops of the real-face benchmark; 0 = never, as the references).
    hr_crop_rule: float = 0.0
    #: ``dic``/``dicgan`` tasks: probability that a training HR face has its eyes, brows and lips softened to the
    #: contrast of a photo (:mod:`dicmini.data.soft_features`) before the light, the camera and the x8 degradation
    #: (dicmini: the procedural faces draw them as crisp strokes; 0 = never, as the references).
    hr_soft_features: float = 0.0
    #: synthetic data only: (standard deviation, limit) in degrees of the training faces' yaw
    #: (:func:`dicmini.data.face_shape.sample_shape`; dicmini's default is mild, the real-face benchmark's crops spread
    #: wider: ``face_shape.REAL_CROP_YAW``). Validation faces keep the default.
    synthetic_yaw: tuple[float, float] = PORTRAIT_YAW
    #: synthetic data only: share of the training faces whose background is a dead-leaves backdrop (occluding discs
    #: of every size; :mod:`dicmini.data.synthetic.dead_leaves`; dicmini: real backgrounds have edges at every
    #: scale, the default background a few smooth blobs). Validation faces keep the default background.
    synthetic_backdrop: float = 0.0
    #: synthetic data only: share of the training faces with a photographed expression (a wider, smiling, often
    #: open mouth with teeth; :func:`dicmini.data.face_shape.grin`; dicmini: people in photos smile more than the
    #: default faces). Validation faces keep the default expressions.
    synthetic_grin: float = 0.0
    #: ``hourglass`` task: probability that a training image is replaced by a blurred copy (area-downsampled by
    #: 2, 4 or 8, then bicubic-upsampled), so that the pretrained branch also reads the blurry SR of early steps.
    hourglass_degrade: float = 0.0
    #: landmark-branch parameters have ``requires_grad=False`` before this iteration (gradients still flow
    #: *through* the hourglass to the SR branch). 0 = trained from the start.
    release_hourglass_step: int = 0

    # -- DICGAN (paper §3.4; docs/reference_implementations.md, Losses and Recipes) ------------------------------------
    d_lr: float = 1e-4
    d_betas: tuple[float, float] = (0.9, 0.999)
    d_milestones: tuple[int, ...] = (10_000, 20_000, 40_000)
    d_gamma: float = 0.5
    #: iterations of pixel-only warm-up: no feature/GAN loss and no discriminator update before it.
    pixel_init: int = 0
    #: discriminator updates per iteration (on the same batch).
    disc_repeat: int = 1
    #: iterations at the start in which only the discriminator learns, on the frozen generator's outputs (dicmini's
    #: DICGAN fine-tune: the generator's first adversarial gradients come from a discriminator that already tells
    #: SR from HR). 0 = none, as both references.
    d_warmup: int = 0
    #: discriminator initialisation (``"default"`` in both references).
    d_init: str = "default"

    # -- run --------------------------------------------------------------------------------------------------
    #: random seed; ``None`` draws one at start (MMagic's runtime default) and records it in the checkpoints.
    seed: int | None = 0
    val_every: int = 2000
    ckpt_every: int = 2000
    log_every: int = 100
    #: PSNR/SSIM protocol of validation (``dicmini.metrics.PROTOCOLS``).
    protocol: str = "mmagic"
    crop_border: int = 8
    #: mixed precision on CUDA: ``"bf16"`` or ``"fp16"`` autocast (fp16 with a GradScaler); no-op on CPU.
    amp: str = "none"
    #: ``""`` = CUDA if available, else CPU (each process of a ``torchrun`` job takes ``cuda:LOCAL_RANK``).
    device: str = ""
    progress: bool = True
    #: CPU threads of each process (``torch.set_num_threads``); 0 = PyTorch's default.
    threads: int = 0
    #: stop (and checkpoint) after this many minutes of training; 0 = no limit.
    time_limit_minutes: float = 0.0

    # -- speed (dicmini.train.performance; none of these changes what is computed beyond rounding) -----------
    #: CUDA: deterministic algorithms (no cuDNN autotuning, no TF32); false = cuDNN autotuning. No-op on CPU.
    deterministic: bool = False
    #: channels-last (NHWC) model and input tensors: ``"auto"`` (on: faster on CPU and CUDA), ``"true"``, ``"false"``.
    channels_last: str = "auto"
    #: feedback-block HR transitions: ``"sum"`` over weight slices (no re-concatenation), ``"concat"`` (the
    #: references' evaluation), ``"auto"`` (= sum). See :mod:`dicmini.models.feedback`.
    hr_transitions: str = "auto"
    #: PReLU backward pass: ``"fused"`` (CPU only; about 4x faster there), ``"native"`` (PyTorch's, as the
    #: references), ``"auto"`` (= fused on the CPU). See :mod:`dicmini.models.prelu`.
    prelu_backward: str = "auto"
    #: ``torch.compile`` the feedback blocks, hourglass and reconstruction one by one (slow first iterations).
    compile: bool = False
    #: read losses and gradient norms back to the host (and check them) every this many iterations; between
    #: two reads they stay on the device and a NaN is caught at the next read. Must divide ``log_every``.
    sync_every: int = 1

    def model_kwargs(self) -> dict[str, Any]:
        """The :class:`~dicmini.models.DICNet` constructor arguments of this config: every field named like one
        (:data:`dicmini.models.dic.DICNET_ARGUMENTS`), ``gradient_checkpointing`` combined with
        ``checkpoint_granularity``."""
        from ..models.dic import DICNET_ARGUMENTS

        fields = {f.name for f in dataclasses.fields(self)}
        kwargs = {name: getattr(self, name) for name in DICNET_ARGUMENTS if name in fields}
        if self.gradient_checkpointing and self.checkpoint_granularity != "call":
            kwargs["gradient_checkpointing"] = self.checkpoint_granularity
        return kwargs

    def validate(self) -> TrainConfig:
        """Raise ``ValueError`` naming the field for any value out of range; return ``self``."""
        def choice(name: str, allowed: tuple[str, ...]) -> None:
            if getattr(self, name) not in allowed:
                raise ValueError(f"config {name}: expected one of {list(allowed)}, got {getattr(self, name)!r}")

        from ..models.dic import FUSIONS
        from .init import GENERATOR_SCHEMES, INIT_SCHEMES

        choice("task", TASKS)
        choice("init", GENERATOR_SCHEMES)
        choice("d_init", INIT_SCHEMES)
        choice("amp", AMP_MODES)
        choice("align_kind", LOSS_KINDS)
        choice("pixel_kind", LOSS_KINDS)
        choice("fusion", FUSIONS)
        choice("lr_schedule", LR_SCHEDULES)
        choice("checkpoint_granularity", CHECKPOINT_GRANULARITIES)
        choice("channels_last", CHANNELS_LAST_MODES)
        choice("hr_transitions", HR_TRANSITIONS)
        choice("prelu_backward", PRELU_BACKWARDS)
        from ..metrics import PROTOCOLS
        choice("protocol", tuple(PROTOCOLS))
        for name in ("iterations", "batch_size", "accum_steps", "train_size", "val_every", "ckpt_every",
                     "log_every", "disc_repeat", "num_steps", "sync_every"):
            if getattr(self, name) < 1:
                raise ValueError(f"config {name}: expected a positive integer, got {getattr(self, name)}")
        for name in ("val_size", "num_workers", "pixel_init", "release_hourglass_step", "crop_border", "threads",
                     "min_lr_ratio", "d_warmup", "hourglass_warmup"):
            if getattr(self, name) < 0:
                raise ValueError(f"config {name}: expected >= 0, got {getattr(self, name)}")
        for name in ("lr", "d_lr", "gamma", "d_gamma", "heatmap_sigma"):
            if not getattr(self, name) > 0:
                raise ValueError(f"config {name}: expected > 0, got {getattr(self, name)}")
        for name in ("milestones", "d_milestones"):
            values = list(getattr(self, name))
            if values != sorted(values) or any(v < 1 for v in values):
                raise ValueError(f"config {name}: expected increasing positive iterations, got {values}")
        if self.batch_size % self.accum_steps:
            raise ValueError(f"config batch_size={self.batch_size} is not divisible by accum_steps={self.accum_steps}")
        if self.log_every % self.sync_every:
            raise ValueError(f"config sync_every={self.sync_every} must divide log_every={self.log_every} (the "
                             "logged values are read back at host synchronisations)")
        if self.seed is not None and self.seed < 0:
            raise ValueError(f"config seed: expected >= 0 or None, got {self.seed}")
        if self.time_limit_minutes < 0:
            raise ValueError(f"config time_limit_minutes: expected >= 0, got {self.time_limit_minutes}")
        self._validate_numbers()
        if self.hg_num_keypoints != 68:
            raise ValueError(f"config hg_num_keypoints: the training data has 68 landmark heatmaps, got "
                             f"{self.hg_num_keypoints}")
        if self.feature_net not in ("lightcnn", "auto"):
            from ..models.vgg import VGG16_LAYER_NAMES

            arch, _, layer = self.feature_net.partition(":")
            if arch != "vgg16" or layer not in VGG16_LAYER_NAMES:
                raise ValueError(f"config feature_net: expected 'auto', 'lightcnn' or 'vgg16:<layer>' with a VGG16 "
                                 f"layer such as relu3_3, got {self.feature_net!r}")
        if self.hourglass_stage:
            self._validate_stage()
        if self.init_widen and not self.init_generator:
            raise ValueError("config init_widen: widens the init_generator checkpoint; set init_generator too")
        if self.task == "hourglass" and (self.init_hourglass or self.init_generator):
            raise ValueError("config init_hourglass / init_generator: not used by the 'hourglass' task "
                             "(it trains the landmark branch alone)")
        return self


    def _validate_stage(self) -> None:
        if self.task == "hourglass" or self.init_hourglass:
            raise ValueError("config hourglass_stage: only for DIC/DICGAN runs without init_hourglass (the stage "
                             "provides the pretrained landmark branch)")
        if get_config(self.hourglass_stage).task != "hourglass":
            raise ValueError(f"config hourglass_stage: {self.hourglass_stage!r} must be a 'hourglass' config")

    def resolved_feature_net(self) -> str:
        """What ``feature_net="auto"`` means on this machine (see the field's comment); other values unchanged."""
        if self.feature_net != "auto":
            return self.feature_net
        if self.feature_weights:
            return "lightcnn"
        from ..models.vgg_weights import weights_available

        return f"vgg16:{AUTO_FEATURE_LAYER}" if weights_available() else "lightcnn"

    def _validate_numbers(self) -> None:
        """Finite floats, ratios and betas in range, architecture sizes within :data:`dicmini.models.dic.ARCH_LIMITS`
        (checked before anything is allocated)."""
        from ..models.dic import ARCH_LIMITS

        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            numbers = value if isinstance(value, tuple) else (value,)
            if any(isinstance(v, float) and not math.isfinite(v) for v in numbers):
                raise ValueError(f"config {f.name}: expected a finite number, got {value}")
        for name in ("pixel_weight", "align_weight", "feature_weight", "gan_weight", "weight_decay"):
            if getattr(self, name) < 0:
                raise ValueError(f"config {name}: expected >= 0, got {getattr(self, name)}")
        for name in ("truth_guidance", "prior_dropout", "hourglass_degrade", "hr_camera", "hr_crop_rule",
                     "hr_lighting", "hr_soft_features", "synthetic_backdrop", "synthetic_grin", "hr_camera_effects"):
            if not 0 <= getattr(self, name) <= 1:
                raise ValueError(f"config {name}: expected a probability in [0, 1], got {getattr(self, name)}")
        if not 0 <= self.guidance_jitter <= 1:
            raise ValueError(f"config guidance_jitter: expected a distance in [0, 1] eye-corner distances, got "
                             f"{self.guidance_jitter}")
        if not 0 < self.step_decay <= 1:
            raise ValueError(f"config step_decay: expected a number in (0, 1], got {self.step_decay}")
        lo, hi = self.hr_camera_blur
        if not 0 < lo <= hi <= 10:
            raise ValueError(f"config hr_camera_blur: expected 0 < low <= high <= 10 (blur sigma in HR pixels), got "
                             f"{list(self.hr_camera_blur)}")
        sd, limit = self.synthetic_yaw
        if not (sd > 0 and 0 <= limit <= 60):
            raise ValueError(f"config synthetic_yaw: expected a standard deviation > 0 and a limit in [0, 60] degrees, "
                             f"got {list(self.synthetic_yaw)}")
        if not self.hourglass_lr_scale > 0:
            raise ValueError(f"config hourglass_lr_scale: expected > 0, got {self.hourglass_lr_scale}")
        if self.min_lr_ratio > 1:
            raise ValueError(f"config min_lr_ratio: expected a fraction of lr in [0, 1], got {self.min_lr_ratio}")
        for name in ("betas", "d_betas"):
            if not all(0 <= b < 1 for b in getattr(self, name)):
                raise ValueError(f"config {name}: expected two values in [0, 1), got {list(getattr(self, name))}")
        for name, limit in ARCH_LIMITS.items():
            if getattr(self, name) > limit:
                raise ValueError(f"config {name}: expected <= {limit} (dicmini's size limit), got "
                                 f"{getattr(self, name)}")


# -- named recipes (docs/reference_implementations.md, Recipes) --------------------------------------------------------

def _tiny() -> TrainConfig:
    # Stage 2 of dicmini's CPU recipe (stage 1: ``tiny-hourglass``); the research log is
    # benchmarks/results/recipe_log.md, the earlier search benchmarks/results/tiny_search/SUMMARY.md.
    return TrainConfig(
        name="tiny", task="dic", data="synthetic", train_size=4000, val_size=64, face_pool=True,
        mid_channels=16, num_blocks=2, hg_mid_channels=64, num_steps=3, upscale_factor=2, num_fusion_blocks=7,
        init="kaiming-sr", reconstruction_init_scale=0.1, hourglass_stage="tiny-hourglass", hourglass_lr_scale=0.2,
        truth_guidance=0.5, lr=2e-3, lr_schedule="cosine", min_lr_ratio=0.05,
        iterations=6500, batch_size=4, heatmap_sigma=2.0, align_kind="mse", align_weight=3.0, step_decay=0.25,
        release_hourglass_step=1000, val_every=500, ckpt_every=500, log_every=50, seed=0, threads=1)
    # channels_last, hr_transitions and prelu_backward keep their defaults (channels-last, summed transitions,
    # fused PReLU backward on the CPU: 1.4x the iterations per minute, benchmarks/results/bench_dicnet.json);
    # `--set channels_last=false --set hr_transitions=concat --set prelu_backward=native` is the references'
    # evaluation, which notebook 07 uses to compare a hand-written step with Trainer.train_step to 1e-6.


def _loss_weights(recipe: str) -> dict[str, Any]:
    """The loss weights (``pixel_weight``, ``align_kind``, ``align_weight``, ``feature_weight``, ``gan_weight``)
    of a reference recipe, from their one home :data:`dicmini.losses.RECIPES`."""
    from ..losses import RECIPES

    weights = dataclasses.asdict(RECIPES[recipe])
    del weights["name"], weights["description"]
    return weights


def _official_celeba() -> TrainConfig:
    return TrainConfig(
        name="official-celeba", task="dic", data="data/celeba", init="kaiming", lr=1e-4, betas=(0.9, 0.999),
        weight_decay=0.0, milestones=(10_000, 20_000, 40_000, 80_000), gamma=0.5, iterations=150_000,
        batch_size=8, release_hourglass_step=2000, **_loss_weights("official"),
        val_every=2000, ckpt_every=2000, seed=0)


def _mmagic_celebahq() -> TrainConfig:
    return TrainConfig(
        name="mmagic-celebahq", task="dic", data="data/celeba-hq", init="default", lr=1e-4, betas=(0.9, 0.999),
        weight_decay=0.0, milestones=(10_000, 20_000, 40_000, 80_000), gamma=0.5, iterations=150_000,
        batch_size=8, release_hourglass_step=0, **_loss_weights("mmagic"),
        val_every=2000, ckpt_every=2000, seed=None)


def _mmedit_celebahq() -> TrainConfig:
    return dataclasses.replace(_mmagic_celebahq(), name="mmedit-celebahq", **_loss_weights("mmedit"))


def _official_dicgan() -> TrainConfig:
    return TrainConfig(
        name="official-dicgan", task="dicgan", data="data/celeba", init="default", d_init="default",
        lr=1e-4, betas=(0.9, 0.999), weight_decay=0.0, milestones=(10_000, 20_000, 40_000), gamma=0.5,
        d_lr=1e-4, d_betas=(0.9, 0.999), d_milestones=(10_000, 20_000, 40_000), d_gamma=0.5,
        iterations=80_000, batch_size=8, release_hourglass_step=2_000_000, pixel_init=0, disc_repeat=1,
        official_dicgan_pixel_quirk=True, **_loss_weights("official"), val_every=1000, ckpt_every=1000, seed=0)


def _mmagic_dicgan() -> TrainConfig:
    return TrainConfig(
        name="mmagic-dicgan", task="dicgan", data="data/celeba-hq", init="default", d_init="default",
        lr=1e-4, betas=(0.9, 0.999), weight_decay=0.0, milestones=(100_000, 200_000, 300_000, 400_000), gamma=0.5,
        d_lr=1e-5, d_betas=(0.9, 0.999), d_milestones=(100_000, 200_000, 300_000, 400_000), d_gamma=0.5,
        iterations=500_000, batch_size=8, release_hourglass_step=0, pixel_init=10_000, disc_repeat=2,
        official_dicgan_pixel_quirk=False, **_loss_weights("mmagic"), val_every=5000, ckpt_every=5000, seed=None)


def _hourglass() -> TrainConfig:
    return TrainConfig(
        name="hourglass", task="hourglass", data="synthetic", hg_mid_channels=256, hg_num_keypoints=68,
        num_steps=4, init="default", lr=1e-4, milestones=(20_000, 40_000), gamma=0.5, iterations=60_000,
        batch_size=8, align_kind="mse", align_weight=1.0, val_every=2000, ckpt_every=2000, seed=0)


def _tiny_dicgan() -> TrainConfig:
    # DICGAN as a fine-tune of the shipped tiny DIC (the official DICGAN starts from a trained DIC): discriminator
    # warm-up, then G and D in turn; the feature loss on the ImageNet VGG16 (no pretrained LightCNN offline).
    return dataclasses.replace(
        _tiny(), name="tiny-dicgan", task="dicgan", init_generator="tiny", hourglass_stage="", truth_guidance=0.0,
        hourglass_lr_scale=1.0, release_hourglass_step=0, lr=2e-4, d_lr=2e-4, lr_schedule="multistep",
        milestones=(100_000,), d_milestones=(100_000,), iterations=280, d_warmup=80, pixel_init=0, disc_repeat=1,
        feature_net="vgg16:relu3_3", feature_weight=0.05, gan_weight=0.02, val_size=16, val_every=50,
        ckpt_every=50, log_every=10)


def _tiny_real() -> TrainConfig:
    # The tiny DIC fine-tuned for real photos: the levers of the real-face series (docs/real_faces.md, "Synthetic
    # faces that transfer") on part of the training faces, at the series' fine-tune length and rate, with a camera a
    # little stronger than the default (a stronger one breaks the +4.2 dB synthetic goal); no jittered guidance,
    # which costs the collaboration (own landmarks vs another face's) more than it gives real faces.
    return dataclasses.replace(
        _tiny(), name="tiny-real", init_generator="tiny", hourglass_stage="", release_hourglass_step=0, lr=5e-4,
        iterations=1500, hr_crop_rule=0.5, hr_camera=0.5, hr_camera_effects=0.7, hr_camera_blur=(0.4, 1.6),
        synthetic_yaw=REAL_CROP_YAW, hr_soft_features=0.5)


def _tiny_hourglass() -> TrainConfig:
    # Stage 1 of the tiny recipe: the landmark branch alone on HR faces and blurred copies of them.
    return TrainConfig(
        name="tiny-hourglass", task="hourglass", data="synthetic", train_size=4000, val_size=64, face_pool=True,
        hg_mid_channels=64, hg_num_keypoints=68, num_steps=3, init="default", lr=1e-3, lr_schedule="cosine",
        min_lr_ratio=0.05, iterations=2800, batch_size=8, heatmap_sigma=2.0, align_kind="mse", align_weight=1.0,
        hourglass_degrade=0.5, val_every=500, ckpt_every=500, log_every=50, seed=0, threads=1)


def _tiny_probe() -> TrainConfig:
    # An independent landmark estimator for the causal experiments (dicmini.analysis.landmark_probe, notebooks
    # 03-05): stage 1's recipe on sharp HR faces only, from another seed, never part of a DIC model.
    return dataclasses.replace(_tiny_hourglass(), name="tiny-probe", hourglass_degrade=0.0, iterations=2000, seed=1)


#: VGG16 layer of ``feature_net="auto"`` when no LightCNN file is given: relu3_3, the layer of the committed
#: DICGAN fine-tune (config ``tiny-dicgan``, evaluated by ``benchmarks/dicgan_finetune.py``; notebook 08) and of
#: Johnson et al.'s style-free perceptual loss.
AUTO_FEATURE_LAYER = "relu3_3"

#: Settings that change how a run is shown, where it runs or in which order the same sums are evaluated (memory
#: layout, summed or concatenated transitions, PReLU backward: equal to ~1e-7), not what it trains: a checkpoint
#: made by a named config may differ from it in these only.
RUN_ONLY_KEYS = ("progress", "device", "channels_last", "hr_transitions", "prelu_backward")

#: Named recipes; ``get_config(name)`` returns a fresh copy.
CONFIGS: dict[str, Callable[[], TrainConfig]] = {
    "tiny": _tiny,
    "official-celeba": _official_celeba,
    "mmagic-celebahq": _mmagic_celebahq,
    "mmedit-celebahq": _mmedit_celebahq,
    "official-dicgan": _official_dicgan,
    "mmagic-dicgan": _mmagic_dicgan,
    "hourglass": _hourglass,
    "tiny-hourglass": _tiny_hourglass,
    "tiny-dicgan": _tiny_dicgan,
    "tiny-probe": _tiny_probe,
    "tiny-real": _tiny_real,
}


def _suggest(word: str, choices: Iterable[str], listing: str = "") -> str:
    close = difflib.get_close_matches(word, list(choices), n=3, cutoff=0.5)
    return f"; did you mean {', '.join(close)}?" if close else listing


def get_config(name: str) -> TrainConfig:
    """A fresh :class:`TrainConfig` of the named recipe; unknown names raise ``ValueError`` with close matches."""
    if name not in CONFIGS:
        raise ValueError(f"--config: unknown config {name!r}{_suggest(name, CONFIGS)} "
                         f"(known: {', '.join(CONFIGS)})")
    return CONFIGS[name]()


# -- typed --set parsing ------------------------------------------------------------------------------------

_KEYS_HINT = " (`dicmini train --print-config` shows every key)"
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}
_NONE = {"none", "null"}


def _field_types() -> dict[str, Any]:
    return typing.get_type_hints(TrainConfig)


def _parse_scalar(text: str, kind: type, key: str) -> Any:
    text = text.strip()
    if kind is bool:
        low = text.lower()
        if low in _TRUE:
            return True
        if low in _FALSE:
            return False
        raise ValueError(f"--set {key}: expected true/false, got {text!r}")
    if kind is int:
        try:
            return int(text)
        except ValueError:
            try:
                value = float(text)
            except ValueError:
                value = float("nan")
            if value == value and value == int(value):  # "2e6", "1e4"
                return int(value)
            raise ValueError(f"--set {key}: expected an integer, got {text!r}") from None
    if kind is float:
        try:
            return float(text)
        except ValueError:
            raise ValueError(f"--set {key}: expected a number, got {text!r}") from None
    return text


def parse_value(key: str, text: str) -> Any:
    """Parse ``text`` as the type of config field ``key`` (int, float, bool, str, ``X | None``, tuples).

    Tuples are comma-separated (``10000,20000``; brackets optional; ``()`` or empty is the empty tuple);
    ``none``/``null`` gives ``None`` for optional fields; booleans accept true/false/yes/no/1/0/on/off.
    """
    hints = _field_types()
    if key not in hints:
        raise ValueError(f"--set: unknown config key {key!r}{_suggest(key, hints, _KEYS_HINT)}")
    kind = hints[key]
    origin = typing.get_origin(kind)
    if origin in (types.UnionType, typing.Union):
        args = [a for a in typing.get_args(kind) if a is not type(None)]
        if text.strip().lower() in _NONE:
            return None
        return _parse_scalar(text, args[0], key)
    if origin is tuple:
        args = typing.get_args(kind)
        body = text.strip().strip("[]()").strip()
        parts = [p for p in (s.strip() for s in body.split(",")) if p] if body else []
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_parse_scalar(p, args[0], key) for p in parts)
        if len(parts) != len(args):
            raise ValueError(f"--set {key}: expected {len(args)} comma-separated values, got {text!r}")
        return tuple(_parse_scalar(p, a, key) for p, a in zip(parts, args))
    return _parse_scalar(text, kind, key)


def apply_overrides(config: TrainConfig, overrides: Iterable[str] | Mapping[str, Any]) -> TrainConfig:
    """A copy of ``config`` with ``key=value`` strings (typed by :func:`parse_value`) or a mapping applied,
    validated. Unknown keys raise a one-line ``ValueError`` that lists close matches."""
    changes: dict[str, Any] = {}
    if isinstance(overrides, Mapping):
        hints = _field_types()
        for key, value in overrides.items():
            if key not in hints:
                raise ValueError(f"--set: unknown config key {key!r}{_suggest(key, hints, _KEYS_HINT)}")
            changes[key] = parse_value(key, value) if isinstance(value, str) else value
    else:
        for item in overrides:
            key, sep, value = item.partition("=")
            if not sep or not key.strip():
                raise ValueError(f"--set: expected key=value, got {item!r}")
            changes[key.strip()] = parse_value(key.strip(), value)
    return dataclasses.replace(config, **changes).validate()


def config_to_dict(config: TrainConfig) -> dict[str, Any]:
    """Plain ``dict`` of a config (tuples become lists): JSON- and ``weights_only``-safe."""
    return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(config).items()}


#: Settings whose default differs from what runs did before the setting existed: a stored config without the
#: key reads as this value (so that such a run resumes exactly as it was trained). Other missing keys read as
#: their defaults, which are the earlier behaviour.
EARLIER_BEHAVIOUR: dict[str, Any] = {"prelu_backward": "native"}


def config_from_dict(data: Mapping[str, Any]) -> TrainConfig:
    """Inverse of :func:`config_to_dict` (e.g. the ``train_config`` of a checkpoint); unknown keys raise; a key
    missing from ``data`` reads as :data:`EARLIER_BEHAVIOUR`'s value, else as its default."""
    hints = _field_types()
    unknown = sorted(set(data) - set(hints))
    if unknown:
        raise ValueError(f"train config: unknown key(s) {unknown}{_suggest(unknown[0], hints)}")
    data = {**{k: v for k, v in EARLIER_BEHAVIOUR.items() if k not in data}, **data}
    values = {k: tuple(v) if typing.get_origin(hints[k]) is tuple else v for k, v in data.items()}
    return TrainConfig(**values).validate()


def config_fields() -> list[str]:
    """The ``--set`` keys, in declaration order."""
    return [f.name for f in dataclasses.fields(TrainConfig)]


__all__ = ["TrainConfig", "CONFIGS", "RUN_ONLY_KEYS", "TASKS", "get_config", "apply_overrides", "parse_value",
           "config_to_dict", "config_from_dict", "config_fields"]
