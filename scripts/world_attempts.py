"""The attempts of the design log (book/reproduce.md): variants of the tiny world, each pretrained and measured
with the premise table. A research tool, not part of the library: each attempt patches `tmml_lite.world` in
this process only (rendering and captions), pretrains TinyCLIP from scratch unless given a checkpoint, and
prints the premise table for CoOp trained for each number of epochs asked for.

    TMML_PROFILE=tiny python scripts/world_attempts.py v1 --epochs 10 50
    TMML_PROFILE=tiny python scripts/world_attempts.py v1-faded-downstream --checkpoint runs/attempts/v1/model.safetensors

Everything goes to runs/attempts/<attempt>/ (resumable: pretraining continues from its checkpoints, and
measured premise rows are kept). The variant that wins moves into world.py and becomes the shipped world.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import replace
from pathlib import Path

import numpy as np

from tmml_lite import data, premises, world
from tmml_lite.backbone import create_tiny
from tmml_lite.engine import TrainConfig
from tmml_lite.pretrain import PretrainConfig, pretrain

# Levers: "pretrain_fade" (lo, hi): object, count and digit scenes of pretraining show their background pattern
# at a contrast drawn from this range around its mean colour (a texture-alone scene keeps full contrast: it is
# the subject); "downstream_fade": the same for every downstream image; "downstream_sizes": object side in
# pixels per size word in downstream images; "rare_names": captions name a shape by the task's word with this
# probability and otherwise by an everyday word (EVERYDAY), and a digit by its word ("seven") with this
# probability and otherwise by its numeral; "test_per_class": images per class of the test split;
# "fine_grained" (colours, shapes): the classes of the fine_grained task, every colour with every shape.
ATTEMPTS = {
    "v1": dict(pretrain_fade=(0.25, 1.0), test_per_class=300),
    "v1-faded-downstream": dict(pretrain_fade=(0.25, 1.0), downstream_fade=(0.2, 0.5), test_per_class=300),
    "v1-object-centric": dict(pretrain_fade=(0.25, 1.0), downstream_fade=(0.2, 0.5),
                              downstream_sizes={"small": 13, "medium": 16, "large": 18}, test_per_class=300),
    "v2": dict(pretrain_fade=(0.25, 1.0), rare_names=0.1, test_per_class=300),
    "v2-fine-grained-48": dict(pretrain_fade=(0.25, 1.0), rare_names=0.1, test_per_class=300,
                               fine_grained=(("red", "orange", "pink", "purple"), world.SHAPES)),
}

EVERYDAY = {"circle": ["disc", "dot"], "square": ["box", "block"], "triangle": ["wedge", "pyramid"],
            "diamond": ["rhombus", "lozenge"], "star": ["sparkle", "starburst"], "cross": ["plus sign", "plus"],
            "ring": ["donut", "hoop"], "hexagon": ["hex", "honeycomb"], "heart": ["love symbol", "valentine"],
            "crescent": ["moon", "sickle"], "arrow": ["pointer", "signpost"],
            "pentagon": ["home plate", "five-sided shape"]}

LEVERS: dict = {}
_render, _caption = world.render, world.caption


def render(scene, rng, domain=world.CLEAN):
    """world.render with the background faded and downstream objects resized as the attempt says."""
    clean = domain is world.CLEAN
    fade = LEVERS.get("pretrain_fade" if clean else "downstream_fade")
    sizes = None if clean else LEVERS.get("downstream_sizes")
    texture = world._texture

    def faded_texture(name, rng_, n=world.IMAGE_SIZE):
        img = texture(name, rng_, n)
        if fade is None or (clean and scene.kind == "texture"):
            return img
        mean = img.mean((0, 1), keepdims=True)
        return mean + rng_.uniform(*fade) * (img - mean)

    world._texture, old_sizes = faded_texture, dict(world.SIZES)
    if sizes:
        world.SIZES.update(sizes)
    try:
        return _render(scene, rng, domain)
    finally:
        world._texture = texture
        world.SIZES.clear()
        world.SIZES.update(old_sizes)


def caption(scene, rng):
    """world.caption with `rare_names`: the task's shape and digit words only now and then."""
    p = LEVERS.get("rare_names")
    if p is None:
        return _caption(scene, rng)
    w = world
    texture = w._pick(rng, w.TEXTURE_WORDS[scene.texture])
    if scene.kind == "texture" or rng.random() < 0.1:
        return w._pick(rng, ["a {} pattern", "{} wallpaper", "a {} texture", "{} background"]).format(texture)
    color = w._pick(rng, w.COLOR_WORDS[scene.color]) if rng.random() < 0.7 else ""
    if scene.kind == "digit":
        word = w.NUMBER_WORDS[scene.digit] if rng.random() < p else str(scene.digit)
        np_ = w._pick(rng, [f"the number {word}", f"the digit {word}", f"a {color} {word}",
                            f"a sign showing {word}"])
    else:
        if rng.random() < 0.85:
            noun = scene.shape if rng.random() < p else w._pick(rng, EVERYDAY[scene.shape])
        else:
            noun = w._pick(rng, ["shape", "object"])
        style = "outlined" if scene.outline and rng.random() < 0.5 else ""
        if scene.kind == "count":
            noun = noun if scene.count == 1 else w.plural(noun)
            number = w.NUMBER_WORDS[scene.count] if rng.random() < 0.9 else "some"
            np_ = f"{number} {color} {style} {noun}"
        else:
            size = scene.size if rng.random() < 0.3 else ""
            np_ = f"a {size} {color} {style} {noun}"
            if scene.size != "large" and rng.random() < 0.3:
                np_ += w._pick(rng, [" in the {}", " at the {}", " placed {}"]).format(scene.position)
    if rng.random() < 0.5:
        np_ += w._pick(rng, [" on a {} background", " over a {} pattern", " with a {} backdrop"]).format(texture)
    return w.with_articles(w._pick(rng, w._WRAPPERS).format(np_))


def apply(levers: dict) -> None:
    LEVERS.clear()
    LEVERS.update(levers)
    world.render, world.caption = render, caption
    if "test_per_class" in levers:
        world.SPLIT_SIZES["test"] = levers["test_per_class"]
    if "fine_grained" in levers:
        colours, shapes = levers["fine_grained"]
        world.TASKS["fine_grained"] = replace(world.TASKS["fine_grained"],
                                              classnames=tuple(f"{c} {s}" for s in shapes for c in colours))
    data._split_cached.cache_clear()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("attempt", choices=list(ATTEMPTS))
    parser.add_argument("--steps", type=int, default=2000, help="pretraining steps")
    parser.add_argument("--checkpoint", default=None, help="measure these TinyCLIP weights instead of pretraining")
    parser.add_argument("--tasks", nargs="+", default=list(world.TASKS))
    parser.add_argument("--seeds", nargs="+", type=int, default=[1, 2, 3])
    parser.add_argument("--epochs", nargs="+", type=int, default=[10], help="CoOp epochs (one table each)")
    parser.add_argument("--lr", type=float, default=TrainConfig().lr, help="CoOp's learning rate")
    args = parser.parse_args()
    apply(ATTEMPTS[args.attempt])
    out = Path("runs/attempts") / args.attempt
    out.mkdir(parents=True, exist_ok=True)
    checkpoint = args.checkpoint or out / "model.safetensors"
    if args.checkpoint is None and not Path(checkpoint).exists():
        log = pretrain(PretrainConfig(steps=args.steps), run_dir=out / "pretrain", out=checkpoint, progress=False)
        print(f"pretrained {args.steps} steps in {log['seconds'] / 60:.1f} min; mean loss of the last 50 "
              f"steps {np.mean(log['losses'][-50:]):.3f}")
    backbone = create_tiny(PretrainConfig().model, checkpoint)
    (out / "attempt.json").write_text(json.dumps({"levers": ATTEMPTS[args.attempt], **vars(args)}, indent=1))
    for epochs in args.epochs:
        rows = premises.premise_rows(backbone, args.tasks, args.seeds,
                                     results=out / f"premises_coop{epochs}_lr{args.lr}.csv",
                                     coop_config=replace(TrainConfig(), epochs=epochs, lr=args.lr), progress=False)
        print(f"== {args.attempt}, CoOp {epochs} epochs at lr {args.lr}")
        print(premises.premise_markdown(premises.premise_table(rows)))
        for letter, (holds, numbers) in premises.check_premises(rows).items():
            print(f"({letter}) {'holds' if holds else 'fails'}: {numbers}")


if __name__ == "__main__":
    main()
