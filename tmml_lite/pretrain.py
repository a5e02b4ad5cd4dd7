"""Pretraining TinyCLIP on the procedural world with CLIP's contrastive loss: `python -m tmml_lite pretrain`.

Each step draws a fresh batch of (image, caption) pairs from `world.pretraining_batch(seed, step)`, so the data
is a pure function of the step and a resumed run sees exactly the batches it would have seen.
Checkpoints (model, optimizer, step, loss history) are written every `save_every` steps and committed together
(`checkpoint.save_checkpoint`, as training does), so a run killed at any moment resumes to the same weights.
"""

from __future__ import annotations

import math
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from . import world
from .backbone import TINY_CHECKPOINT, TINY_MODEL, create_tiny
from .checkpoint import (load_optimizer_tensors, load_tensors, optimizer_tensors, read_checkpoint, save_checkpoint,
                         save_json, save_tensors)
from .text_encoder import PromptTextEncoder


@dataclass
class PretrainConfig:
    """Hyper-parameters of TinyCLIP pretraining (defaults reproduce the shipped checkpoint)."""
    model: str = TINY_MODEL
    steps: int = 3000
    batch_size: int = 256
    lr: float = 1e-3
    weight_decay: float = 0.1
    warmup: int = 100
    seed: int = 0
    save_every: int = 100
    domain: str = "WEB"  # the web images' `world.DOMAINS` entry: WEB (several renderings) or CLEAN (world v3)


def images_to_tensor(images: np.ndarray, model) -> torch.Tensor:
    """uint8 (B, H, W, 3) -> normalised float (B, 3, H, W), the same maths as the model's preprocess."""
    mean = torch.tensor(model.visual.preprocess_cfg["mean"]).view(1, 3, 1, 1)
    std = torch.tensor(model.visual.preprocess_cfg["std"]).view(1, 3, 1, 1)
    x = torch.from_numpy(images).permute(0, 3, 1, 2).float() / 255
    return (x - mean) / std


def clip_loss(image_features: torch.Tensor, text_features: torch.Tensor, logit_scale: torch.Tensor):
    """Symmetric InfoNCE over the batch: the i-th image matches the i-th caption."""
    image_features, text_features = F.normalize(image_features, dim=-1), F.normalize(text_features, dim=-1)
    logits = logit_scale.exp() * image_features @ text_features.t()  # (B, B)
    target = torch.arange(len(logits), device=logits.device)
    return (F.cross_entropy(logits, target) + F.cross_entropy(logits.t(), target)) / 2


def _lr_factor(step: int, cfg: PretrainConfig) -> float:
    if step < cfg.warmup:
        return (step + 1) / cfg.warmup
    progress = (step - cfg.warmup) / max(1, cfg.steps - cfg.warmup)
    return 0.5 * (1 + math.cos(math.pi * progress))


CHECKPOINT_FILES = ("model.safetensors", "optimizer.safetensors")


def pretrain(cfg: PretrainConfig = PretrainConfig(), run_dir: str | Path = "runs/pretrain",
             out: str | Path | None = TINY_CHECKPOINT, progress: bool = True, until_step: int | None = None) -> dict:
    """Train TinyCLIP from scratch (or resume from `run_dir`); write the final weights to `out`.

    `until_step` stops after that many steps as if the run were killed there (the tests use it to check resuming).

    Returns the log: {"config", "losses" (one per step), "seconds"}.
    """
    if cfg.domain not in world.DOMAINS:
        raise ValueError(f"unknown domain {cfg.domain!r}; pretrain on one of {', '.join(world.DOMAINS)} "
                         f"(CLEAN for world v3, WEB for v4)")
    torch.manual_seed(cfg.seed)
    backbone = create_tiny(cfg.model, checkpoint=None)
    model, tokenizer = backbone.model.train().requires_grad_(True), backbone.tokenizer
    text_encoder = PromptTextEncoder(model)
    decay = [p for n, p in model.named_parameters() if p.ndim >= 2 and "embedding" not in n]
    no_decay = [p for n, p in model.named_parameters() if not (p.ndim >= 2 and "embedding" not in n)]
    optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": cfg.weight_decay},
                                   {"params": no_decay, "weight_decay": 0.0}], lr=cfg.lr, betas=(0.9, 0.98),
                                  eps=1e-6, fused=True)  # fused: half the optimizer time on CPU
    run_dir = Path(run_dir)
    log = {"config": asdict(cfg), "losses": [], "seconds": 0.0}
    start = 0
    state = read_checkpoint(run_dir, CHECKPOINT_FILES, "step")
    if state is not None:  # resume
        if state["config"] != asdict(cfg):
            raise ValueError(f"{run_dir} holds a run with another config {state['config']}; "
                             f"use another --run-dir or delete it")
        model.load_state_dict(load_tensors(run_dir / "model.safetensors"))
        load_optimizer_tensors(optimizer, load_tensors(run_dir / "optimizer.safetensors"), state["optimizer"])
        log, start = state["log"], state["step"]

    def batch(step):
        images, captions = world.pretraining_batch(cfg.batch_size, cfg.seed, step, world.DOMAINS[cfg.domain])
        return images_to_tensor(images, model), tokenizer(captions)

    t0 = time.perf_counter()
    with ThreadPoolExecutor(1) as pool:  # render the next batch while this one trains
        upcoming = pool.submit(batch, start) if start < cfg.steps else None
        bar = tqdm(range(start, min(cfg.steps, until_step or cfg.steps)), initial=start, total=cfg.steps,
                   disable=not progress, desc="pretrain TinyCLIP")
        for step in bar:
            images, tokens = upcoming.result()
            upcoming = pool.submit(batch, step + 1) if step + 1 < cfg.steps else None
            for group in optimizer.param_groups:
                group["lr"] = cfg.lr * _lr_factor(step, cfg)
            loss = clip_loss(model.encode_image(images), text_encoder.encode_tokens(tokens), model.logit_scale)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            with torch.no_grad():
                model.logit_scale.clamp_(0, math.log(100))
            log["losses"].append(round(loss.item(), 4))
            bar.set_postfix(loss=f"{loss.item():.3f}")
            done = step + 1
            if done % cfg.save_every == 0 or done == cfg.steps:
                log["seconds"] += time.perf_counter() - t0
                t0 = time.perf_counter()
                tensors, plain = optimizer_tensors(optimizer)
                save_checkpoint(run_dir, {"model.safetensors": (model.state_dict(), {}),
                                          "optimizer.safetensors": (tensors, {})},
                                {"config": asdict(cfg), "step": done, "optimizer": plain, "log": log}, counter="step")
    if out is not None and len(log["losses"]) == cfg.steps:
        out = Path(out)
        # shipped in half precision (half the download); loading casts back to fp32, and the stated zero-shot
        # accuracies are measured on the loaded model
        weights = {k: v.half() if v.is_floating_point() else v for k, v in model.state_dict().items()}
        save_tensors(out, weights, metadata={"model": cfg.model, "steps": cfg.steps, "seed": cfg.seed,
                                             "domain": cfg.domain, "dtype": "float16"})
        save_json(out.with_suffix(".log.json"), log)
    return log


def benchmark_rendering(batch_size: int = 256, steps: int = 3, model: str = TINY_MODEL) -> dict:
    """Seconds to render one pretraining batch vs one training step (forward + backward) on it."""
    backbone = create_tiny(model, checkpoint=None)
    clip, tokenizer = backbone.model.train().requires_grad_(True), backbone.tokenizer
    text_encoder = PromptTextEncoder(clip)
    render, step = [], []
    for i in range(steps + 1):
        t0 = time.perf_counter()
        images, captions = world.pretraining_batch(batch_size, 0, i)
        t1 = time.perf_counter()
        loss = clip_loss(clip.encode_image(images_to_tensor(images, clip)),
                         text_encoder.encode_tokens(tokenizer(captions)), clip.logit_scale)
        loss.backward()
        t2 = time.perf_counter()
        if i:  # the first iteration warms up
            render.append(t1 - t0)
            step.append(t2 - t1)
    return {"batch_size": batch_size, "render_s": float(np.median(render)), "step_s": float(np.median(step))}
