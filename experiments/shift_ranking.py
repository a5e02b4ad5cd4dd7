"""Which downstream shift leaves room for a linear probe over zero-shot? Zero-shot (each task's own template) and
the 16-shot linear probe on the base classes, per task and seed, for variants of the candidate world's tasks: the
cheap part of the premise table ((a) and (b)), for ranking shifts on a backbone before any CoOp run.

    TMML_PROFILE=tiny python experiments/shift_ranking.py --checkpoint runs/TinyCLIP-P8-v4c.safetensors \\
        --variant pixelate=2
"""

from __future__ import annotations

import argparse
import statistics
from dataclasses import replace

from tmml_lite import data, world
from tmml_lite.backbone import load_clip
from tmml_lite.premises import linear_probe
from tmml_lite.zeroshot import encode_images, features_accuracy, own_template


def zs_and_probe(backbone, task, seed: int) -> tuple[float, float]:
    """(zero-shot base with the task's own template, 16-shot linear probe base), in %."""
    model, preprocess, _ = backbone
    splits = data.base_to_new(task, 16, seed)
    features = {k: encode_images(model, preprocess, splits[k].images) for k in ("train", "val", "test_base")}
    test = splits["test_base"]
    zs = features_accuracy(backbone, features["test_base"], test.labels, test.classnames, [own_template(task)])
    return zs, linear_probe(backbone, splits, features=features)[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkpoint", required=True)
    parser.add_argument("--tasks", nargs="+", default=["shapes", "fine_grained", "counting", "digits"])
    parser.add_argument("--variant", nargs="*", default=[], help="Domain fields set on every task, e.g. pixelate=2")
    parser.add_argument("--seeds", nargs="+", type=int, default=[1, 2, 3])
    args = parser.parse_args()
    changes = {k: int(v) if v.isdigit() else float(v) for k, v in (a.split("=") for a in args.variant)}
    backbone = load_clip(pretrained=args.checkpoint)
    print(f"variant {changes or 'none'}")
    print(f"{'task':14s} {'ZS base':>8s} {'LP base':>8s} {'LP - ZS':>8s}")
    for name in args.tasks:
        task = world.TASKS[name]
        task = replace(task, domain=replace(task.domain, **changes))
        runs = [zs_and_probe(backbone, task, seed) for seed in args.seeds]
        zs, lp = statistics.mean(r[0] for r in runs), statistics.mean(r[1] for r in runs)
        print(f"{name:14s} {zs:8.1f} {lp:8.1f} {lp - zs:+8.1f}", flush=True)


if __name__ == "__main__":
    main()
