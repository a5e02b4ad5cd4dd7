"""The methods of the book and the ablations of TMML, each with its training recipe: their one home.

A method is a `MethodSpec`: a name, how to build its learner, the recipe it trains with and, rarely, its own
optimizer. `METHODS` holds every method the chapters and the committed grids use, so a recipe cannot differ
between a chapter and a grid. A variant is a new spec, not an entry added to `METHODS`: the grid runner
(`grid.run_grid`, `grid.run_method`) takes spec objects as well as names. For example::

    spec = METHODS["CoOp (batch 4)"]
    # the same control at another learning rate, run by the grid like any method
    faster = replace(spec, name="CoOp (batch 4) lr 0.01",
                     config=replace(spec.config, lr=0.01))
    grid.run_grid([spec, faster], ["textures"])
    # a fresh learner, as the engine builds it
    learner = spec.learners(backbone)(classnames, seed)
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Callable

import torch
from torch import nn

from .backbone import TINY_MODELS
from .cocoop import CoCoOp
from .coop import CoOp
from .engine import TrainConfig, make_optimizer
from .tmml import TMML, TMMLOptions
from .zeroshot import OWN

# CoCoOp's recipe, also TMML's and every ablation's: one text-encoder pass per (image, class) makes a step cost
# about batch_size times a CoOp step, so the batch is small (CoCoOp itself uses 1) and the epochs are few. The
# lr is the papers' 0.002, chosen on the control "CoOp (batch 4)" alone (experiments/batch4_recipe.py): at 0.01
# and 0.02 that control falls below zero-shot on textures on every seed.
COCOOP_CONFIG = TrainConfig(epochs=10, batch_size=4, lr=0.002)

# The papers train every learner with SGD at lr 0.002 on ViT-B/16 (CoOp, CoCoOp); the tiny CoOp recipe uses
# ten times that, which TinyCLIP needs, and the batch-4 recipe already uses 0.002. Only the learning rate changes
# with the backbone: epochs and batch sizes stay those of the tiny recipes. Not tuned on ViT-B/16 (chapter 08).
PAPER_LR = 0.002


@dataclass(frozen=True)
class MethodSpec:
    """A method: build(backbone, classnames, seed) -> learner, its recipe, what it is, and the optimizer factory
    `fit` uses (make_optimizer(params, cfg) -> (optimizer, scheduler); the engine's SGD by default). With a
    `template`, it is zero-shot CLIP with that hand-written template (`zeroshot.OWN`: each task's own), and the
    runners score it without building or training a learner."""
    name: str
    build: Callable
    config: TrainConfig
    about: str
    make_optimizer: Callable = make_optimizer
    template: str | None = None

    def learners(self, backbone) -> Callable:
        """make_learner(classnames, seed) -> a fresh learner of this method, as `engine.run_seed` takes it."""
        return lambda names, seed: self.build(backbone, names, seed)


class SharedOffsetCoOp(CoOp):
    """The control "CoOp + shared offset": CoOp plus one learned vector, starting at zero, added to every context
    token. ctx + offset is just another ctx, so it adds no prompt CoOp could not reach; it changes how training
    gets there. It is what the output bias of CTP's last layer amounts to, measured without CTP."""

    def __init__(self, backbone, classnames, **coop_args):
        super().__init__(backbone, classnames, **coop_args)
        self.offset = nn.Parameter(self.ctx.new_zeros(self.ctx.shape[-1]))  # (width,)

    def context(self) -> torch.Tensor:
        return self.ctx + self.offset


def _coop(backbone, names, seed):
    return CoOp(backbone, names, seed=seed)


def _coop_offset(backbone, names, seed):
    return SharedOffsetCoOp(backbone, names, seed=seed)


def _cocoop(backbone, names, seed):
    return CoCoOp(backbone, names, seed=seed)


def tmml_variant(**switches) -> Callable:
    """build(backbone, classnames, seed) of TMML with `TMMLOptions(**switches)`."""
    options = TMMLOptions(**switches)

    def build(backbone, names, seed):
        return TMML(backbone, names, options, seed=seed)
    return build


METHODS = {spec.name: spec for spec in [
    # the papers' zero-shot row: each task's own hand-written template (CoOp's CUSTOM_TEMPLATES), not the
    # "a photo of a {}." that CoOp starts from
    MethodSpec("zero-shot", _coop, TrainConfig(epochs=0), "the task's own hand-written prompt", template=OWN),
    MethodSpec("CoOp", _coop, TrainConfig(), "learned context, batch 32"),
    MethodSpec("CoCoOp", _cocoop, COCOOP_CONFIG, "context + meta-net shift pi(x), batch 4"),
    MethodSpec("TMML", tmml_variant(), COCOOP_CONFIG, "CTP + TFT + contrastive loss (our reconstruction), batch 4"),
    # ablations of TMML, all with the recipe of TMML
    MethodSpec("CoOp (batch 4)", _coop, COCOOP_CONFIG, "CoOp trained with the recipe of TMML"),
    MethodSpec("CoOp + shared offset", _coop_offset, COCOOP_CONFIG,
               "CoOp (batch 4) plus one learned vector added to every context token: CTP's output bias alone"),
    MethodSpec("CTP", tmml_variant(use_tft=False), COCOOP_CONFIG, "class-aware text prompt only"),
    MethodSpec("TFT", tmml_variant(use_ctp=False), COCOOP_CONFIG, "text-guided feature tuning only"),
    MethodSpec("CTP global", tmml_variant(use_tft=False, ctp_source="global"), COCOOP_CONFIG,
               "CTP on the pooled feature with a class-dependent gate, not on patch tokens"),
    MethodSpec("CTP random init", tmml_variant(use_tft=False, ctp_zero_init=False), COCOOP_CONFIG,
               "CTP whose output layer starts random, as CoCoOp's meta-net"),
    MethodSpec("CTP no bias", tmml_variant(use_tft=False, ctp_output_bias=False), COCOOP_CONFIG,
               "CTP without the output bias: no constant context offset, every shift from the image"),
    MethodSpec("TMML alpha 0.03", tmml_variant(tft_ratio=0.03), COCOOP_CONFIG, "TFT residual weight 0.03"),
    MethodSpec("TMML alpha 0.3", tmml_variant(tft_ratio=0.3), COCOOP_CONFIG, "TFT residual weight 0.3"),
    MethodSpec("TMML + symmetric", tmml_variant(symmetric=1.0), COCOOP_CONFIG,
               "loss + text-to-image InfoNCE over the batch"),
    MethodSpec("TMML + consistency", tmml_variant(consistency=1.0), COCOOP_CONFIG,
               "loss + pull of the class texts towards the hand-written prompts"),
]}
BOOK_METHODS = ("zero-shot", "CoOp", "CoCoOp", "TMML")
ABLATIONS = ("CoOp (batch 4)", "CoOp + shared offset", "CTP", "TFT", "TMML", "CTP global", "CTP random init",
             "CTP no bias", "TMML alpha 0.03", "TMML alpha 0.3", "TMML + symmetric", "TMML + consistency")


def get_method(method: str | MethodSpec) -> MethodSpec:
    """The spec of a method: a name of `METHODS`, or a spec given as it is."""
    if isinstance(method, MethodSpec):
        return method
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; choose from {sorted(METHODS)}, or pass a MethodSpec")
    return METHODS[method]


def recipe(spec: MethodSpec, backbone_name: str) -> TrainConfig:
    """The training recipe of a method for a backbone: `spec.config` for TinyCLIP, the papers' lr otherwise."""
    return spec.config if backbone_name in TINY_MODELS else replace(spec.config, lr=PAPER_LR)
