"""Why does `CoOp + shared offset` collapse on `textures` with seed 1? A diagnostic, not a recipe change.

The row adds one learned vector to every context token (`methods.SharedOffsetCoOp`). ctx + offset is just
another ctx, so the offset adds nothing CoOp could not express; it only changes how training moves the prompt.
This script trains the row with the offset's learning rate scaled by each factor asked for (the context keeps
the recipe's lr) and prints Base and New. Factor 1 is the grid's row, factor 0 freezes the offset at zero,
which is the control "CoOp (batch 4)".

    TMML_PROFILE=tiny python experiments/offset_lr.py --scales 1 0.2 0.1 0.05 0 --seeds 1
"""

from __future__ import annotations

import argparse
from dataclasses import replace

from tmml_lite.backbone import load_clip
from tmml_lite.engine import make_optimizer
from tmml_lite.grid import run_method
from tmml_lite.methods import get_method


def optimizer_with_offset_scale(scale: float):
    """The engine's `make_optimizer` given two parameter groups: the offset, the learner's one 1-D parameter, at
    lr * scale, everything else at the recipe's lr."""
    def make(params, cfg):
        offset = [p for p in params if p.dim() == 1]
        if len(offset) != 1:
            raise ValueError(f"expected one 1-D offset among the learned tensors, got {[p.shape for p in params]}")
        rest = [p for p in params if p.dim() != 1]
        return make_optimizer([{"params": rest}, {"params": offset, "lr": cfg.lr * scale}], cfg)
    return make


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scales", nargs="+", type=float, default=[1.0, 0.2, 0.1, 0.05, 0.0])
    parser.add_argument("--task", default="textures")
    parser.add_argument("--seeds", nargs="+", type=int, default=[1])
    args = parser.parse_args()
    backbone, spec = load_clip(), get_method("CoOp + shared offset")
    print(f"CoOp + shared offset on {args.task!r}, its recipe (lr {spec.config.lr}); the offset's lr scaled")
    for scale in args.scales:
        variant = replace(spec, name=f"{spec.name}, offset lr x {scale:g}",
                          make_optimizer=optimizer_with_offset_scale(scale))
        for seed in args.seeds:
            run = run_method(variant, args.task, backbone, seeds=(seed,))["runs"][0]
            print(f"offset lr x {scale:<5g} seed {seed}: Base {run['base']:.2f}, New {run['new']:.2f}")


if __name__ == "__main__":
    main()
