"""Why do some runs on `textures` collapse? Trace a collapsing run against a stable one, epoch by epoch.

A method of `methods.METHODS` (default "CoOp (batch 4)", which ends below zero-shot on every seed of
`textures` at lr >= 0.01, experiments/batch4_recipe.py) is trained at each learning rate asked for, one epoch
at a time (fit's checkpoint and resume: the same run as an uninterrupted one). After each epoch it prints:

* |ctx|: the mean norm of a context token as the prompts use it (`learner.context()`), and its distance from the
  start (d ctx), against the mean norm of TinyCLIP's token embeddings (the scale the context lives on);
* |grad|: the norm of the full-batch gradient of the training loss with respect to the context;
* loss: the training loss on all training images; s*cos: the logit scale times the mean cosine of an image
  with its own class text, and of an image with the other classes;
* text cos: the mean cosine between two class text features (1.0: every class has the same prompt);
* Base: accuracy on the base test images, and the lowest per-class accuracy there.

    TMML_PROFILE=tiny python experiments/collapse_trace.py --lrs 0.002 0.01 0.02 --seeds 1
    TMML_PROFILE=tiny python experiments/collapse_trace.py --lrs 0.01 --clip 0.5
    TMML_PROFILE=tiny python experiments/collapse_trace.py --method "CoOp + shared offset" --lrs 0.002
    TMML_PROFILE=tiny python experiments/collapse_trace.py --method "CoOp + shared offset" --lrs 0.002 --clip 0.5

What these showed (seed 1, a diagnosis; no recipe was changed for it): a collapse is every class prompt becoming
the same text feature (text cos 0.36 at the start, 0.997-0.999 within two epochs after the warm-up; the training
loss 1.39-1.54, near ln 5 = 1.61, a uniform guess over the 5 base classes; one class at 0-3 % Base by epoch 3). In
that basin the gradient is small (0.3-0.9) and the run stays there until the schedule ends. The way in is one
large move of the context: in the epoch it collapses, the context moves by 0.31 (lr 0.01), 0.70 (lr 0.02) and at
least 0.66 (the offset run, whose full-batch gradient norm had spiked from 0.19 at the start to 3.6), that is 1.4
to 3.1 times the mean norm of TinyCLIP's token embeddings (0.227); the stable run at lr 0.002 moves 0.27 in all
ten epochs. Clipping the gradient norm to 0.5 keeps the context near its start (at most 0.21 and 0.17 away) and
both runs out: CoOp (batch 4) at lr 0.01 ends at Base 85.1 (62.9 unclipped, 88.7 at lr 0.002), CoOp + shared
offset at lr 0.002 at 85.2 (55.8 unclipped). Stable runs meet the same spikes (gradient norms up to 6.3 at lr
0.002; 10.3 in the clipped lr-0.01 run), so a momentum step proportional to a spike is what throws a run off.
"""

from __future__ import annotations

import argparse
import tempfile
from dataclasses import replace
from pathlib import Path

import torch

from tmml_lite import data, engine
from tmml_lite.backbone import load_clip
from tmml_lite.discrimination import inter_class_cosine
from tmml_lite.methods import get_method, recipe


@torch.no_grad()
def _scores(learner, frozen, labels):
    """Mean s*cos of each image with its own class text and with the other classes' texts."""
    logits = learner.logits(frozen)  # (N, C): s * cos
    own = logits[torch.arange(len(labels)), labels]
    others = (logits.sum(1) - own) / (logits.shape[1] - 1)
    return float(own.mean()), float(others.mean())


def trace(backbone, method: str, task: str, seed: int, lr: float, clip: float | None = None) -> list[dict]:
    """One row per epoch of `method` trained on `task` with seed `seed` at learning rate `lr` (the gradient norm
    clipped to `clip` if given)."""
    spec = get_method(method)
    cfg = replace(recipe(spec, backbone.name), lr=lr, seed=seed, max_grad_norm=clip)
    splits = data.base_to_new(task, 16, seed)
    train, test = splits["train"], splits["test_base"]
    learner = spec.learners(backbone)(train.classnames, seed)
    start = learner.context().detach().clone()  # the context the prompts use (ctx + offset for the offset row)
    token_norm = float(backbone.model.token_embedding.weight.norm(dim=-1).mean())
    frozen = learner.cache_inputs(train.images)
    labels = torch.as_tensor(train.labels)
    rows = []
    with tempfile.TemporaryDirectory() as run_dir:
        for epoch in range(1, cfg.epochs + 1):
            engine.fit(learner, train, cfg, run_dir=Path(run_dir), until_epoch=epoch, progress=False,
                       make_optimizer=spec.make_optimizer)
            learner.zero_grad(set_to_none=True)
            loss = learner.training_loss(frozen, labels)
            loss.backward()
            grad = float(learner.ctx.grad.norm())
            learner.zero_grad(set_to_none=True)
            own, others = _scores(learner, frozen, labels)
            with torch.no_grad():
                text = learner.encode_text()  # (C, D), CoOp's prompts
            predictions = engine.predict_logits(learner, test.images).argmax(1)
            test_labels = torch.as_tensor(test.labels)
            per_class = [100 * float((predictions[test_labels == c] == c).float().mean())
                         for c in range(len(test.classnames))]
            ctx = learner.context().detach()
            rows.append({"epoch": epoch, "ctx": float(ctx.norm(dim=-1).mean()),
                         "d_ctx": float((ctx - start).norm(dim=-1).mean()), "token": token_norm,
                         "grad": grad, "loss": float(loss), "own": own, "others": others,
                         "text_cos": float(inter_class_cosine(text[None])),
                         "base": sum(per_class) / len(per_class), "worst": min(per_class)})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--method", default="CoOp (batch 4)")
    parser.add_argument("--task", default="textures")
    parser.add_argument("--lrs", nargs="+", type=float, default=[0.002, 0.01])
    parser.add_argument("--seeds", nargs="+", type=int, default=[1])
    parser.add_argument("--clip", type=float, default=None, help="clip the gradient norm to this before a step")
    args = parser.parse_args()
    backbone = load_clip()
    for lr in args.lrs:
        for seed in args.seeds:
            rows = trace(backbone, args.method, args.task, seed, lr, args.clip)
            clip = "" if args.clip is None else f", gradient norm clipped to {args.clip:g}"
            print(f"== {args.method} on {args.task!r}, seed {seed}, lr {lr}{clip} "
                  f"(mean token-embedding norm {rows[0]['token']:.3f})")
            print(f"{'epoch':>5s} {'|ctx|':>6s} {'d ctx':>6s} {'|grad|':>8s} {'loss':>6s} {'s*cos own':>9s} "
                  f"{'others':>6s} {'text cos':>8s} {'Base':>5s} {'worst':>5s}")
            for r in rows:
                print(f"{r['epoch']:5d} {r['ctx']:6.3f} {r['d_ctx']:6.3f} {r['grad']:8.4f} {r['loss']:6.3f} "
                      f"{r['own']:9.2f} {r['others']:6.2f} {r['text_cos']:8.3f} {r['base']:5.1f} "
                      f"{r['worst']:5.1f}")


if __name__ == "__main__":
    main()
