"""The attempts of the design log (book/reproduce.md): variants of the shipped world's downstream tasks, each
measured with the premise table on the shipped TinyCLIP. A research tool, not part of the library: an attempt
is a set of `world.Task`s (the shipped ones with some fields replaced), handed to the premise table as they are,
which prints it for CoOp trained for each number of epochs asked for. The log's attempts on world v3 were measured
before the book moved to world v4 (the tag world-v3 holds v3's tasks and backbone); run here, they start from v4's.

    TMML_PROFILE=tiny python experiments/world_attempts.py shipped --epochs 10 50
    TMML_PROFILE=tiny python experiments/world_attempts.py fine-grained-colour-major --tasks fine_grained

Everything goes to runs/attempts/<attempt>/ (resumable: measured premise rows are kept). The earlier attempts
of the log, which changed pretraining too (v0 to v2), are re-run from the commit that holds them:
`git checkout ab9808f && TMML_PROFILE=tiny python scripts/world_attempts.py v2` (the script lived in
`scripts/` then).
"""

from __future__ import annotations

import argparse
import json
from dataclasses import replace
from pathlib import Path

from tmml_lite import premises, world
from tmml_lite.backbone import load_clip
from tmml_lite.engine import TrainConfig

_FILLED = dict(outline_prob=0.3)  # the landed world before this log: 30 % of downstream objects as outlines


def _tasks(**changes):
    """`world.TASKS` with some tasks replaced: changes maps a task name to the fields it gets."""
    return {name: replace(task, **changes.get(name, {})) for name, task in world.TASKS.items()}


def _every_domain(**fields):
    return {name: {"domain": replace(task.domain, **fields)} for name, task in world.TASKS.items()}


ATTEMPTS = {
    "shipped": lambda: _tasks(),
    # the fine_grained task of the landed world before this log: 4 shapes x 3 colours
    "fine-grained-12": lambda: _tasks(fine_grained={"classnames": tuple(
        f"{c} {s}" for s in ("square", "diamond", "hexagon", "pentagon") for c in ("red", "orange", "pink"))}),
    # the same 48 classes ordered colour by colour: base and new classes then share every shape
    "fine-grained-colour-major": lambda: _tasks(fine_grained={"classnames": tuple(
        f"{c} {s}" for c in ("red", "orange", "pink", "purple") for s in world.SHAPES)}),
    # downstream objects filled as in pretraining (70 %), not drawn as sketches
    "filled": lambda: _tasks(**_every_domain(**_FILLED)),
    # every task in front of the full-contrast background, objects at pretraining sizes
    "full-background": lambda: _tasks(**{name: {"domain": world.SHIFTED} for name in world.TASKS}),
    # the same tasks drawn anew: each task takes the next task's draw seed (the last one the first's)
    "another-draw": lambda: {name: replace(task, draw=(task.draw + 1) % len(world.TASKS))
                             for name, task in world.TASKS.items()},
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("attempt", choices=list(ATTEMPTS))
    parser.add_argument("--tasks", nargs="+", default=list(world.TASKS))
    parser.add_argument("--seeds", nargs="+", type=int, default=[1, 2, 3])
    parser.add_argument("--epochs", nargs="+", type=int, default=[TrainConfig().epochs],
                        help="CoOp epochs (one table each)")
    parser.add_argument("--lr", type=float, default=TrainConfig().lr, help="CoOp's learning rate")
    args = parser.parse_args()
    tasks = ATTEMPTS[args.attempt]()
    out = Path("runs/attempts") / args.attempt
    out.mkdir(parents=True, exist_ok=True)
    (out / "attempt.json").write_text(json.dumps(vars(args), indent=1))
    backbone = load_clip()
    for epochs in args.epochs:
        rows = premises.premise_rows(backbone, [tasks[name] for name in args.tasks], args.seeds,
                                     results=out / f"premises_coop{epochs}_lr{args.lr}.csv",
                                     coop_config=replace(TrainConfig(), epochs=epochs, lr=args.lr), progress=False)
        print(f"== {args.attempt}, CoOp {epochs} epochs at lr {args.lr}")
        print(premises.premise_markdown(premises.premise_table(rows)))
        for letter, (holds, numbers) in premises.check_premises(rows).items():
            print(f"({letter}) {'holds' if holds else 'fails'}: {numbers}")


if __name__ == "__main__":
    main()
