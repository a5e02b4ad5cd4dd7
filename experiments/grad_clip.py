"""Does clipping the gradient norm keep the controls out of the collapse, and how far? Chosen on controls alone.

A collapsed run ends with every class prompt on the same text feature and its Base below zero-shot's
(experiments/collapse_trace.py). The three controls of the book (CoOp, "CoOp (batch 4)" and "CoOp + shared offset",
the last two on the batch-4 recipe that CoCoOp and TMML share) are trained on every task and seed of a world with
the gradient norm clipped to each value asked for ("none": no clipping), as variants run by the grid (resumable).
The rule, fixed before the sweep ran: take the first setting in the order given (the mildest intervention
first) under which no seed of any task of any control ends below zero-shot on its base classes; among settings
that all pass, the first one is kept. New classes play no part in the choice.

    TMML_PROFILE=tiny python experiments/grad_clip.py --clips none 1.0 0.5
"""

from __future__ import annotations

import argparse
from dataclasses import replace

from tmml_lite import grid, world
from tmml_lite.backbone import load_clip
from tmml_lite.methods import get_method

CONTROLS = ("CoOp", "CoOp (batch 4)", "CoOp + shared offset")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clips", nargs="+", default=["none", "1.0", "0.5"])
    parser.add_argument("--checkpoint", default=None, help="TinyCLIP weights (default: the shipped checkpoint)")
    parser.add_argument("--seeds", nargs="+", type=int, default=[1, 2, 3])
    parser.add_argument("--results", default="runs/recipes/grad_clip.csv")
    args = parser.parse_args()
    tasks = list(world.TASKS.values())
    backbone = load_clip(pretrained=args.checkpoint or "default")
    variants = {}  # clip setting -> the controls at that setting
    for clip in args.clips:
        norm = None if clip == "none" else float(clip)
        variants[clip] = [replace(spec, name=f"{spec.name} clip {clip}",
                                  config=replace(spec.config, max_grad_norm=norm))
                          for spec in map(get_method, CONTROLS)]
    specs = [get_method("zero-shot")] + [s for group in variants.values() for s in group]
    results = args.results
    rows = grid.run_grid(specs, tasks, args.seeds, results=results, backbone=backbone)
    zero_shot = {r["task"]: r["base"] for r in rows if r["method"] == "zero-shot"}
    print(grid.results_frame(rows, methods=[s.name for s in specs], tasks=[t.name for t in tasks]).to_string())
    chosen = None
    for clip, group in variants.items():
        names = {s.name for s in group}
        mine = [r for r in rows if r["method"] in names and r["seed"] in args.seeds]
        below = [(r["method"], r["task"], r["seed"], r["base"]) for r in mine if r["base"] < zero_shot[r["task"]]]
        average = sum(r["base"] for r in mine) / len(mine)
        print(f"clip {clip}: average Base {average:.1f}; runs below zero-shot base: {len(below)} {below}")
        if not below and chosen is None:
            chosen = clip
    print("chosen (the first setting with no run below zero-shot base):", chosen)


if __name__ == "__main__":
    main()
