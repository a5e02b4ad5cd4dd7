"""How the batch-4 recipe (`methods.COCOOP_CONFIG`, shared by CoCoOp, TMML and its ablations) was chosen: on the
control "CoOp (batch 4)" alone, never on CoCoOp or TMML (premises before methods, book/reproduce.md).

For each learning rate asked for, CoOp (batch 4) is trained on every task and seed with the batch-4 recipe at
that rate, as a variant run by the grid (`grid.run_grid`, resumable). The rule, fixed before the sweep ran: among
the rates under which no seed of any task ends below zero-shot on its base classes (a recipe that collapses
its own control cannot compare modules), take the one with the highest Base averaged over tasks and seeds.
New classes play no part in the choice.

    TMML_PROFILE=tiny python experiments/batch4_recipe.py --lrs 0.002 0.005 0.01 0.02
"""

from __future__ import annotations

import argparse
from dataclasses import replace

from tmml_lite import grid, world
from tmml_lite.methods import COCOOP_CONFIG, get_method


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lrs", nargs="+", type=float, default=[0.002, 0.005, 0.01, 0.02])
    parser.add_argument("--tasks", nargs="+", default=list(world.TASKS))
    parser.add_argument("--seeds", nargs="+", type=int, default=[1, 2, 3])
    parser.add_argument("--results", default="runs/recipes/batch4.csv")
    args = parser.parse_args()
    control = get_method("CoOp (batch 4)")
    variants = {lr: replace(control, name=f"CoOp (batch 4) lr {lr}", config=replace(COCOOP_CONFIG, lr=lr))
                for lr in args.lrs}  # the control at each rate
    names = {lr: spec.name for lr, spec in variants.items()}
    rows = grid.run_grid(["zero-shot", *variants.values()], args.tasks, args.seeds, results=args.results)
    zero_shot = {r["task"]: r["base"] for r in rows if r["method"] == "zero-shot"}
    print(grid.results_frame(rows, methods=["zero-shot", *names.values()], tasks=args.tasks).to_string())
    best = None
    for lr, name in names.items():
        mine = [r for r in rows if r["method"] == name and r["task"] in args.tasks and r["seed"] in args.seeds]
        below = sum(r["base"] < zero_shot[r["task"]] for r in mine)
        average = sum(r["base"] for r in mine) / len(mine)
        print(f"lr {lr}: average Base {average:.1f}, seeds below zero-shot base: {below}")
        if below == 0 and (best is None or average > best[1]):
            best = (lr, average)
    print("chosen lr (no seed below zero-shot base, highest average Base):", best and best[0])


if __name__ == "__main__":
    main()
