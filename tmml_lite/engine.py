"""Training and evaluating prompt learners: `fit`, `evaluate`, and the base-to-new benchmark of one task,
`run_seed` (one seed) and `run_seeds` (several, summarised).

For example::

    learner = CoOp(backbone, splits["train"].classnames)
    # resumable: re-run to continue
    fit(learner, splits["train"], TrainConfig(), run_dir="runs/coop")
    # switches to the new class names
    evaluate(learner, splits["test_new"])

A learner is any `PromptLearner`; the members used here are the contract written in its docstring.

`fit` follows CoOp's recipe (SGD with momentum, one warm-up epoch at a tiny constant learning rate, then a cosine
schedule over the epochs), trains only the learner's own parameters and leaves both CLIP towers untouched.
With a `run_dir` it writes, atomically after every epoch, `learner.safetensors`, `optimizer.safetensors` and
`state.json` (epoch, scheduler, RNG state, config, losses) and nothing else; a stopped run continues from there
to exactly the parameters an uninterrupted run reaches.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import torch
from torchvision import transforms
from tqdm.auto import tqdm

from . import data
from .backbone import full_precision
from .checkpoint import load_optimizer_tensors, load_tensors, optimizer_tensors, read_checkpoint, save_checkpoint
from .metrics import accuracy, summarize
from .saving import learned_tensors, learner_header


@dataclass
class TrainConfig:
    """Hyper-parameters of prompt learning: CoOp's recipe (16 shots).

    CoOp itself trains 200 epochs at batch 32 and CoCoOp 10 epochs at batch 1, both with SGD at lr 0.002 and one
    warm-up epoch at lr 1e-5. The tiny profile keeps CoOp's epochs and batch with ten times the lr, which
    TinyCLIP needs; the CoOp recipe was chosen on the premise table (book/reproduce.md: 10, 50, 100, 200 epochs).
    """
    epochs: int = 200
    batch_size: int = 32
    lr: float = 0.02
    momentum: float = 0.9
    weight_decay: float = 5e-4
    warmup_epochs: int = 1
    warmup_lr: float = 1e-5
    # clip the gradient norm of the learned tensors to this before each step (None: no clipping). A spike of the
    # gradient times a momentum step can throw the context far past the scale of the token embeddings, into a
    # basin where every class prompt has the same feature (experiments/collapse_trace.py)
    max_grad_norm: float | None = None
    augment: bool = False  # random resized crop + flip; forbids caching the image features
    cache_features: bool = True  # encode the frozen images once, when the learner and `augment` allow it
    seed: int = 1
    # "fp32": no autocast (the model's own dtype; float64 for TinyCLIP); "bf16" or "fp16": autocast in that dtype;
    # "auto": no autocast on the CPU, bf16 (else fp16) on CUDA
    precision: str = "auto"


def lr_factor(epoch: int, cfg: TrainConfig) -> float:
    """Learning rate of `epoch` as a fraction of cfg.lr: constant warm-up, then cosine decay (per epoch)."""
    if epoch < cfg.warmup_epochs:
        return cfg.warmup_lr / cfg.lr
    return 0.5 * (1 + math.cos(math.pi * (epoch - cfg.warmup_epochs) / max(1, cfg.epochs - cfg.warmup_epochs)))


PRECISIONS = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}


def autocast_dtype(device, precision: str = "auto") -> torch.dtype | None:
    """The dtype matrix products run in under autocast, or None for no autocast: the model's own dtype, fp32 or,
    for TinyCLIP, float64 (`backbone.TINY_DTYPE`). "auto" uses none on the CPU (exact and deterministic, the tiny
    profile) and bf16 on a GPU that has it, else fp16. The learned parameters and the optimizer keep the model's
    dtype whatever the choice; only the frozen towers' arithmetic is cheaper."""
    if precision == "auto":
        if torch.device(device).type != "cuda":
            return None
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}; use 'auto', 'fp32', 'bf16' or 'fp16'")
    return PRECISIONS[precision]


def autocast(device, dtype: torch.dtype | None):
    """A context that runs the forward pass in `dtype` on `device` (does nothing for None)."""
    return torch.autocast(torch.device(device).type, dtype=dtype, enabled=dtype is not None)


def choose_class_chunk(bytes_per_prompt: float, batch_size: int, n_classes: int, free_bytes: float,
                       fraction: float = 0.5) -> int:
    """How many classes per text-encoder pass fit in `fraction` of `free_bytes`, when a pass over one class
    costs `bytes_per_prompt` per image of the batch (between 1 and n_classes)."""
    fit = int(fraction * free_bytes // max(1.0, bytes_per_prompt * batch_size))
    if fit < 1:
        raise MemoryError(f"even one class per pass needs {bytes_per_prompt * batch_size / 2**20:.0f} MiB for a "
                          f"batch of {batch_size}, more than {fraction:.0%} of the {free_bytes / 2**20:.0f} MiB "
                          f"free; use a smaller batch_size")
    return min(n_classes, fit)


def fit_class_chunk(learner, inputs: torch.Tensor, labels: torch.Tensor, dtype=None, probe_classes: int = 2,
                    fraction: float = 0.5) -> int | None:
    """On CUDA, measure the memory of one training step with `probe_classes` classes per pass and set
    `learner.class_chunk` to the most classes per pass that fit in `fraction` of the free GPU memory.
    Does nothing (returns None) on the CPU or for learners without class chunks (CoOp)."""
    device = torch.device(inputs.device)
    if device.type != "cuda" or learner.class_chunk is None:
        return None
    probe, previous = min(probe_classes, learner.n_classes), learner.class_chunk
    learner.class_chunk = probe
    try:
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
        start = torch.cuda.memory_allocated(device)
        with autocast(device, dtype):
            loss = learner.training_loss(inputs, labels)
        loss.backward()
        peak = torch.cuda.max_memory_allocated(device) - start
    finally:
        learner.zero_grad(set_to_none=True)
        learner.class_chunk = previous
    free, _ = torch.cuda.mem_get_info(device)
    learner.class_chunk = choose_class_chunk(peak / (len(labels) * probe), len(labels), learner.n_classes, free,
                                             fraction)
    learner.prompts_per_pass = learner.class_chunk * len(labels)  # what `evaluate` may put through at once
    return learner.class_chunk


def _augmentation(learner) -> transforms.Compose:
    size = learner.clip.visual.image_size
    size = size[0] if isinstance(size, (tuple, list)) else size
    return transforms.Compose([transforms.RandomResizedCrop(size, scale=(0.5, 1.0)),
                               transforms.RandomHorizontalFlip()])


class _Inputs:
    """The frozen inputs (`learner.frozen_inputs`) of a batch of training images: computed once for the whole
    run when they cannot change (no augmentation), else per batch from freshly augmented images."""

    def __init__(self, learner, images: np.ndarray, cfg: TrainConfig):
        self.images, self.preprocess, self.frozen_inputs = images, learner.preprocess, learner.frozen_inputs
        self.augment = _augmentation(learner) if cfg.augment else None
        self.cached = cfg.cache_features and not cfg.augment
        device = learner.device
        if self.cached:  # the frozen image tower gives the same output every epoch: compute it once
            self.tensors = learner.cache_inputs(images).to(device)
        elif not cfg.augment:  # preprocessing is deterministic too; only the image tower runs every step
            self.tensors = data.preprocess_images(images, learner.preprocess).to(device)
        self.device = device

    def __getitem__(self, index: torch.Tensor) -> torch.Tensor:
        if self.cached:
            return self.tensors[index.to(self.tensors.device)]
        if self.augment is None:
            return self.frozen_inputs(self.tensors[index.to(self.tensors.device)])
        # augmentation draws from torch's global RNG, which checkpoints save and restore
        pils = [self.augment(data.as_pil(self.images[int(i)])) for i in index]
        return self.frozen_inputs(torch.stack([self.preprocess(p) for p in pils]).to(self.device))


def _trainable(learner) -> list[torch.nn.Parameter]:
    clip_params = {id(p) for p in learner.clip.parameters()}
    params = [p for p in learner.parameters() if p.requires_grad]
    if any(id(p) in clip_params for p in params):
        raise ValueError("some CLIP weights require gradients; prompt learning keeps both towers frozen "
                         "(call learner.clip.requires_grad_(False))")
    if not params:
        raise ValueError(f"{type(learner).__name__} has no trainable parameters")
    return params


def make_optimizer(params, cfg: TrainConfig):
    """CoOp's optimizer for `params` (tensors or parameter groups): SGD with momentum and weight decay, and the
    warm-up + cosine schedule of `lr_factor`, stepped once per epoch. Returns (optimizer, scheduler)."""
    optimizer = torch.optim.SGD(params, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda epoch: lr_factor(epoch, cfg))
    return optimizer, scheduler


def _run_state(cfg: TrainConfig, learner, train: data.Subset) -> dict:
    """What a checkpoint in a run folder must agree with to be resumed."""
    return {"config": asdict(cfg), "learner": learner.metadata(), "train_classnames": list(train.classnames),
            "train_size": len(train)}


CHECKPOINT_FILES = ("learner.safetensors", "optimizer.safetensors")


def _save_checkpoint(run_dir: Path, learner, optimizer, scheduler, epoch: int, run: dict, log: dict) -> None:
    """Write the checkpoint of `epoch`: the learned tensors, the optimizer and state.json, committed together."""
    tensors, plain = optimizer_tensors(optimizer)
    scheduler_state = {k: v for k, v in scheduler.state_dict().items() if k != "lr_lambdas"}
    files = {"learner.safetensors": (learned_tensors(learner), learner_header(learner)),
             "optimizer.safetensors": (tensors, {})}
    save_checkpoint(run_dir, files, {**run, "epoch": epoch, "optimizer": plain, "scheduler": scheduler_state,
                                     "rng": torch.get_rng_state().tolist(), "log": log}, counter="epoch")


def _load_checkpoint(run_dir: Path, state: dict, learner, optimizer, scheduler, run: dict) -> tuple[int, dict]:
    for key in ("config", "learner", "train_classnames", "train_size"):
        if state.get(key) != run[key]:
            raise ValueError(f"{run_dir} holds a run with another {key}: {state.get(key)} (this run: {run[key]}); "
                             f"use another run_dir, delete it, or pass resume=False to start over")
    learner.load(run_dir / "learner.safetensors")
    load_optimizer_tensors(optimizer, load_tensors(run_dir / "optimizer.safetensors"), state["optimizer"])
    scheduler.load_state_dict({**state["scheduler"], "lr_lambdas": [None]})
    torch.set_rng_state(torch.tensor(state["rng"], dtype=torch.uint8))
    return state["epoch"], state["log"]


def fit(learner, train: data.Subset, cfg: TrainConfig = TrainConfig(), run_dir: str | Path | None = None,
        resume: bool = True, until_epoch: int | None = None, progress: bool = True,
        make_optimizer=make_optimizer) -> dict:
    """Train `learner` on the few-shot `train` subset; returns the log {"losses" (mean per epoch), "seconds"}.

    Args:
        run_dir: where per-epoch checkpoints go (None: keep nothing on disk). With `resume`, a checkpoint
            found there is continued; without, the run starts over and overwrites it.
        until_epoch: stop after this many epochs as if the run were killed there (to test resuming).
        make_optimizer: make_optimizer(params, cfg) -> (optimizer, scheduler), the scheduler stepped once per
            epoch; e.g. the engine's own `make_optimizer` given parameter groups with their own learning rates.
    """
    learner.set_classnames(train.classnames)
    params = _trainable(learner)
    torch.manual_seed(cfg.seed)
    optimizer, scheduler = make_optimizer(params, cfg)
    run = _run_state(cfg, learner, train)
    log, start = {"losses": [], "seconds": 0.0}, 0
    run_dir = Path(run_dir) if run_dir is not None else None
    state = read_checkpoint(run_dir, CHECKPOINT_FILES, "epoch") if run_dir is not None and resume else None
    if state is not None:  # continue the run found there
        start, log = _load_checkpoint(run_dir, state, learner, optimizer, scheduler, run)

    t0 = time.perf_counter()
    inputs = _Inputs(learner, train.images, cfg)
    labels = torch.as_tensor(train.labels, dtype=torch.long)
    device = learner.device
    dtype = autocast_dtype(device, cfg.precision)
    # fp16 gradients of a small loss can underflow to zero: scale the loss up, unscale before the step
    scaler = torch.amp.GradScaler(device.type, enabled=dtype == torch.float16)
    learner.train()
    if start < cfg.epochs and device.type == "cuda":  # classes per text-encoder pass from the free memory
        fit_class_chunk(learner, inputs[torch.arange(min(cfg.batch_size, len(labels)))],
                        labels[:cfg.batch_size], dtype)
    stop = min(cfg.epochs, until_epoch if until_epoch is not None else cfg.epochs)
    bar = tqdm(range(start, stop), initial=start, total=cfg.epochs, disable=not progress,
               desc=f"{type(learner).__name__}")
    for epoch in bar:
        # the batch order is a pure function of (seed, epoch), so a resumed run sees the same batches
        order = torch.randperm(len(labels), generator=torch.Generator().manual_seed(cfg.seed * 100_003 + epoch))
        losses = []
        for batch in order.split(cfg.batch_size):
            with autocast(device, dtype):
                loss = learner.training_loss(inputs[batch], labels[batch])
            if not torch.isfinite(loss):
                raise FloatingPointError(f"the loss became {loss.item()} in epoch {epoch + 1} (precision "
                                         f"{cfg.precision!r}, autocast {dtype}); train in fp32 "
                                         f"(TrainConfig(precision='fp32')) or lower the learning rate")
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            if cfg.max_grad_norm is not None:
                scaler.unscale_(optimizer)
                torch.nn.utils.clip_grad_norm_([p for g in optimizer.param_groups for p in g["params"]],
                                               cfg.max_grad_norm)
            scaler.step(optimizer)
            scaler.update()
            losses.append(loss.item())
        scheduler.step()
        log["losses"].append(round(sum(losses) / len(losses), 4))
        bar.set_postfix(loss=f"{log['losses'][-1]:.3f}", lr=f"{optimizer.param_groups[0]['lr']:.2g}")
        if run_dir is not None:
            log["seconds"] += time.perf_counter() - t0
            t0 = time.perf_counter()
            _save_checkpoint(run_dir, learner, optimizer, scheduler, epoch + 1, run, log)
    learner.eval()
    if run_dir is None:
        log["seconds"] += time.perf_counter() - t0
    return log


@torch.no_grad()
def predict_logits(learner, images, batch_size: int = 128, precision: str = "auto") -> torch.Tensor:
    """Logits (N, C) of `learner` for `images` (uint8 N x H x W x 3) against its current class list, in fp32 on
    the CPU. Images are decoded and preprocessed by `data.image_batches` (worker processes and pinned memory
    on CUDA); a pass never encodes more prompts than the training step measured (`prompts_per_pass`)."""
    learner.eval()
    device = learner.device
    dtype = autocast_dtype(device, precision)
    if learner.prompts_per_pass is not None:
        batch_size = max(1, min(batch_size, learner.prompts_per_pass // learner.class_chunk))
    logits = []
    for batch in data.image_batches(images, learner.preprocess, batch_size, device):
        with autocast(device, dtype):
            logits.append(full_precision(learner(batch)).cpu())
    return torch.cat(logits)


def evaluate(learner, subset: data.Subset, batch_size: int = 128, precision: str = "auto") -> float:
    """Top-1 accuracy in % of `learner` on `subset`, scored only against `subset.classnames`."""
    learner.set_classnames(subset.classnames)
    return accuracy(predict_logits(learner, subset.images, batch_size, precision), torch.as_tensor(subset.labels))


def run_seed(make_learner, task, cfg: TrainConfig, seed: int, shots: int = 16,
             run_dir: str | Path | None = None, progress: bool = True, make_optimizer=make_optimizer) -> dict:
    """One seed of the base-to-new benchmark of `task` (a name, or a `world.Task`): train on the base classes
    (`data.base_to_new` picks the shots of this seed), test on base and on new classes; {"base", "new"
    (accuracy %), "log", "learner"}, the learner set back to the base classes it was trained on.
    make_learner(classnames, seed) -> a fresh learner, e.g. `lambda names, seed: CoOp(backbone, names, seed=seed)`;
    training uses cfg.seed = seed and `make_optimizer` (see `fit`). With `run_dir`, it checkpoints to
    run_dir/seed{seed} and saves the few-shot indices under run_dir/splits."""
    splits = data.base_to_new(task, shots, seed, save_dir=None if run_dir is None else Path(run_dir) / "splits")
    learner = make_learner(splits["train"].classnames, seed)
    log = fit(learner, splits["train"], replace(cfg, seed=seed),
              run_dir=None if run_dir is None else Path(run_dir) / f"seed{seed}", progress=progress,
              make_optimizer=make_optimizer)
    base, new = evaluate(learner, splits["test_base"]), evaluate(learner, splits["test_new"])
    learner.set_classnames(splits["train"].classnames)  # hand the learner back on the classes it learned
    return {"base": base, "new": new, "log": log, "learner": learner}


def run_seeds(make_learner, task, cfg: TrainConfig = TrainConfig(), seeds=(1, 2, 3), shots: int = 16,
              run_dir: str | Path | None = None, progress: bool = True, make_optimizer=make_optimizer) -> dict:
    """`run_seed` for each seed, summarised: `metrics.summarize` of the per-seed accuracies (seed means and stds
    of Base and New, H on the means), plus "runs" (each seed's {"seed", "base", "new", "log"}) and "learner"
    (the last seed's trained learner, to inspect)."""
    runs = [run_seed(make_learner, task, cfg, seed, shots, run_dir, progress, make_optimizer) for seed in seeds]
    return {**summarize([r["base"] for r in runs], [r["new"] for r in runs]),
            "runs": [{"seed": s, "base": r["base"], "new": r["new"], "log": r["log"]} for s, r in zip(seeds, runs)],
            "learner": runs[-1]["learner"]}
