"""How much the two speed-ups of `fit` buy: `python -m tmml_lite bench-speed`.

For CoOp and CoCoOp, one training step (forward, loss, backward, SGD step) is timed on two paths:

* naive: every prompt runs all 77 tokens through the text tower, and every step re-encodes its images;
* ours:  prompts are cut after the longest end-of-text token, and the frozen image features are computed once.

Memory: the peak allocated during one step, measured by the CUDA allocator on a GPU and by `peak_cpu_memory`
(torch.profiler) on a CPU.
"""

from __future__ import annotations

import contextlib
import os
import statistics
import sys
import time

import torch

from . import data
from .cocoop import CoCoOp
from .coop import CoOp
from .engine import TrainConfig, run_seed
from .methods import COCOOP_CONFIG


@contextlib.contextmanager
def _silent_stderr():
    """Send file descriptor 2 to /dev/null for a block: the profiler's C++ side logs start/stop lines there
    (with timestamps), which would land in notebook outputs."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def peak_cpu_memory(fn) -> int:
    """Bytes: the peak, over one call of `fn()`, of the memory torch allocated on the CPU minus what it freed
    (torch.profiler's per-operator memory records, summed in time order). CPU tensors have no allocator
    statistics like `torch.cuda.max_memory_allocated`; this is the CPU counterpart."""
    from torch.profiler import ProfilerActivity, profile
    with _silent_stderr(), profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        fn()
    current = peak = 0
    for event in sorted(prof.events(), key=lambda e: e.time_range.start):
        current += event.self_cpu_memory_usage
        peak = max(peak, current)
    return peak


def _train_step(learner, optimizer, inputs: torch.Tensor, labels: torch.Tensor) -> None:
    loss = learner.training_loss(inputs, labels)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_training_step(learner, images, labels: torch.Tensor, batch_size: int, cached: bool,
                       steps: int = 10, warmup: int = 2) -> dict:
    """Median seconds per training step and memory (MB) of one step, on `images` (uint8 N x H x W x 3)."""
    device = learner.device
    t0 = time.perf_counter()
    if cached:  # the frozen inputs, once
        inputs, frozen = learner.cache_inputs(images).to(device), lambda x: x
    else:  # images, through the frozen tower at every step
        inputs, frozen = data.preprocess_images(images, learner.preprocess).to(device), learner.frozen_inputs
    _sync(device)
    setup_s = time.perf_counter() - t0
    labels = labels.to(device)
    params = [p for p in learner.parameters() if p.requires_grad]
    optimizer = torch.optim.SGD(params, lr=1e-3, momentum=0.9)
    learner.train()
    times = []
    for step in range(warmup + steps):
        batch = torch.arange(step * batch_size, (step + 1) * batch_size) % len(labels)
        _sync(device)
        t0 = time.perf_counter()
        _train_step(learner, optimizer, frozen(inputs[batch.to(device)]), labels[batch.to(device)])
        _sync(device)
        if step >= warmup:
            times.append(time.perf_counter() - t0)
    batch = torch.arange(batch_size) % len(labels)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
        before = torch.cuda.memory_allocated(device)
        _train_step(learner, optimizer, frozen(inputs[batch.to(device)]), labels[batch.to(device)])
        memory = torch.cuda.max_memory_allocated(device) - before
    else:
        memory = peak_cpu_memory(lambda: _train_step(learner, optimizer, frozen(inputs[batch]), labels[batch]))
    return {"step_s": statistics.median(times), "memory_mb": memory / 2 ** 20, "setup_s": setup_s}


def bench_speed(backbone=None, task="shapes", shots: int = 16, steps: int = 10, device=None) -> list[dict]:
    """For CoOp and CoCoOp, the naive and our training step side by side: one row per (method, path).

    Rows: {"method", "path", "batch_size", "classes", "tokens", "step_s", "memory_mb", "setup_s"}.
    Batch sizes are those of the training configs (TrainConfig() for CoOp, COCOOP_CONFIG for CoCoOp).
    """
    from .backbone import load_clip
    backbone = backbone or load_clip(device=device)
    train = data.base_to_new(task, shots, seed=1)["train"]
    labels = torch.as_tensor(train.labels)
    rows = []
    for method, cfg in ((CoOp, TrainConfig()), (CoCoOp, COCOOP_CONFIG)):
        for path in ("naive", "ours"):
            learner = method(backbone, train.classnames, truncate=path == "ours")
            result = time_training_step(learner, train.images, labels, cfg.batch_size, cached=path == "ours",
                                        steps=steps)
            rows.append({"method": method.__name__, "path": path, "batch_size": cfg.batch_size,
                         "classes": len(train.classnames), "tokens": learner.token_suffix.shape[1] + 1 +
                         learner.n_ctx, **result})
    return rows


def class_names(n: int) -> list[str]:
    """`n` distinct class names from the world ("red circle", "red square", ..., then "red circle on a striped
    background", ...), up to 1320, for cost measurements (ImageNet's base half is 500 classes)."""
    from .world import COLORS, SHAPES, TEXTURES
    names = [f"{color} {shape}" for color in COLORS for shape in SHAPES]
    names += [f"{name} on a {texture} background" for texture in TEXTURES for name in names]
    if not 1 <= n <= len(names):
        raise ValueError(f"class_names gives between 1 and {len(names)} names, not {n}")
    return names[:n]


def cost_vs_classes(backbone, methods=(CoOp, CoCoOp), class_counts=(4, 8, 16, 32), batch_size: int = 4,
                    steps: int = 5, warmup: int = 2) -> list[dict]:
    """Time and memory of one training step (our path: truncated prompts, cached image features) as the number
    of classes grows, at the same batch size for every method.

    methods: learner classes (or callables (backbone, classnames) -> learner).
    Rows: {"method", "classes", "batch_size", "step_s", "memory_mb"}.
    """
    size = backbone.model.visual.image_size
    size = size[0] if isinstance(size, (tuple, list)) else size
    images = torch.randint(0, 256, (batch_size, size, size, 3), generator=torch.Generator().manual_seed(0),
                           dtype=torch.uint8).numpy()
    labels = torch.arange(batch_size)
    rows = []
    for method in methods:
        for n in class_counts:
            learner = method(backbone, class_names(n))
            result = time_training_step(learner, images, labels % n, batch_size, cached=True, steps=steps,
                                        warmup=warmup)
            rows.append({"method": getattr(method, "__name__", str(method)), "classes": n,
                         "batch_size": batch_size, "step_s": result["step_s"], "memory_mb": result["memory_mb"]})
    return rows


def format_bench(rows: list[dict]) -> str:
    """The rows of `bench_speed` as a table, with our step time as a fraction of the naive one."""
    lines = [f"{'method':7s} {'path':6s} {'batch':>5s} {'classes':>7s} {'tokens':>6s} {'ms/step':>9s} "
             f"{'peak MB':>11s} {'ours/naive':>10s}"]
    naive = {}
    for r in rows:
        ratio = ""
        if r["path"] == "naive":
            naive[r["method"]] = r
        else:
            ratio = f"{r['step_s'] / naive[r['method']]['step_s']:.2f}"
        lines.append(f"{r['method']:7s} {r['path']:6s} {r['batch_size']:5d} {r['classes']:7d} {r['tokens']:6d} "
                     f"{1e3 * r['step_s']:9.2f} {r['memory_mb']:11.2f} {ratio:>10s}")
    return "\n".join(lines)


def thread_dependence(backbone, threads=(1, 2), task="textures", seed: int = 1,
                      cfg: TrainConfig = TrainConfig()) -> list[dict]:
    """Train the same CoOp run (`task`, `seed`, recipe `cfg`) once per thread count, in the backbone's dtype.

    A CPU sums the terms of a matrix product in an order set by its thread count, and float32 sums in another
    order differ in the last bits; training can carry that into the accuracies. Rows: {"threads", "base",
    "new", "ctx_gap"}, ctx_gap = the largest absolute difference between this run's learned context and the
    first run's.
    """
    before, rows, first = torch.get_num_threads(), [], None
    try:
        for n in threads:
            torch.set_num_threads(n)
            run = run_seed(lambda names, s: CoOp(backbone, names, seed=s), task, cfg, seed=seed, progress=False)
            ctx = run["learner"].ctx.detach()
            first = ctx if first is None else first
            rows.append({"threads": n, "base": run["base"], "new": run["new"],
                         "ctx_gap": (ctx - first).abs().max().item()})
    finally:
        torch.set_num_threads(before)
    return rows
