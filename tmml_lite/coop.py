"""CoOp (Zhou et al., IJCV 2022): learn the words of the prompt instead of writing them.

A hand-written prompt "a photo of a {class}." becomes the token sequence::

    [SOS] [v_1] [v_2] ... [v_M] [class name tokens] [.] [EOT] [padding]
    prefix      ctx (learned)          suffix

The M context vectors `ctx` are free parameters in the token-embedding space; everything else comes from the
class name and stays fixed. `prefix` and `suffix` are buffers rebuilt from the class names by `set_classnames`,
so a context learned on base classes is scored on new classes by swapping the class list. Both CLIP towers are
frozen: the only trainable tensor is `ctx`. The splice, the class buffers and saving are shared with the other
learners in `PromptLearner`; what is CoOp's own is the sentence in `forward`. For example::

    # ctx initialised from "a photo of a"
    learner = CoOp(backbone, ["circle", "square"])
    logits = learner(images)  # (B, 2)
    # same ctx, other classes
    learner.set_classnames(["star", "heart", "ring"])
    logits = learner(images)  # (B, 3)
"""

from __future__ import annotations

import torch
from torch import nn

from .prompt_learner import CTX_INIT, PromptLearner


class CoOp(PromptLearner):
    """CoOp prompt learner over a frozen open_clip CLIP: images (B, 3, H, W) or image features (B, D) ->
    logits (B, C) over the current class list.

    Args:
        backbone: a `Backbone` (model, preprocess, tokenizer, name), e.g. from `load_clip()`.
        n_ctx: number of context vectors M; None means the token count of `ctx_init`, or 4 for a random
            context.
        ctx_init: words to initialise the context from ("a photo of a"), or None for N(0, 0.02^2) vectors.
        class_specific: one context per class (C, M, width) instead of one shared (unified) context
            (M, width). A class-specific context only exists for the classes it was learned on: it cannot
            score new classes.
        truncate: cut the prompts after the longest EOT (same result, much faster); False keeps all 77 tokens.
        seed: seeds the random initialisation, without touching the caller's random state.
        shared_offset: also learn one vector, starting at zero, added to every context token. It adds no
            prompt CoOp could not reach (ctx + offset is another ctx); it changes how training gets there. It
            is what the output bias of CTP's last layer amounts to, measured without CTP ("CoOp + shared
            offset" in chapter 6).
    """

    def __init__(self, backbone, classnames, n_ctx: int | None = None, ctx_init: str | None = CTX_INIT,
                 class_specific: bool = False, truncate: bool = True, seed: int | None = 0,
                 shared_offset: bool = False):
        super().__init__(backbone, classnames, n_ctx=n_ctx, ctx_init=ctx_init, class_specific=class_specific,
                         truncate=truncate, seed=seed)
        self.offset = nn.Parameter(self.ctx.new_zeros(self.ctx.shape[-1])) if shared_offset else None

    def context(self) -> torch.Tensor:
        return self.ctx if self.offset is None else self.ctx + self.offset

    def text_features(self, images_or_features: torch.Tensor) -> torch.Tensor:
        """The unit-norm class text features (B, C, D) each image is scored against: for CoOp, the same C
        features for every image (an expanded view, no copy)."""
        return self.encode_text()[None].expand(images_or_features.shape[0], -1, -1)

    def forward(self, images_or_features: torch.Tensor) -> torch.Tensor:
        image_features = self.encode_image(images_or_features)  # (B, D)
        text_features = self.encode_text()  # (C, D): prefix | ctx | suffix -> text encoder, once per class
        return self.clip.logit_scale.exp() * image_features @ text_features.t()  # (B, C)
