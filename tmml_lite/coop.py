"""CoOp (Zhou et al., IJCV 2022): learn the words of the prompt instead of writing them.

A hand-written prompt "a photo of a {class}." becomes the token sequence::

    [SOS] [v_1] [v_2] ... [v_M] [class name tokens] [.] [EOT] [padding]
    prefix      ctx (learned)          suffix

The M context vectors `ctx` are free parameters in the token-embedding space; everything else comes from the
class name and stays fixed. `prefix` and `suffix` are buffers rebuilt from the class names by `set_classnames`,
so a context learned on base classes is scored on new classes by swapping the class list. Both CLIP towers are
frozen: the only trainable tensor is `ctx`. The splice, the class buffers and saving are shared with the other
learners in `PromptLearner`; what is CoOp's own is the sentence in `logits`. For example::

    # ctx initialised from "a photo of a"
    learner = CoOp(backbone, ["circle", "square"])
    logits = learner(images)  # (B, 2)
    # same ctx, other classes
    learner.set_classnames(["star", "heart", "ring"])
    logits = learner(images)  # (B, 3)
"""

from __future__ import annotations

import torch

from .prompt_learner import CTX_INIT, PromptLearner


class CoOp(PromptLearner):
    """CoOp prompt learner over a frozen open_clip CLIP: images (B, 3, H, W) -> logits (B, C) over the current
    class list; `logits` takes the frozen image features (B, D) instead of images.

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
    """

    def text_features(self, images: torch.Tensor) -> torch.Tensor:
        """The unit-norm class text features (B, C, D) each image is scored against: for CoOp, the same C
        features for every image (an expanded view, no copy)."""
        return self.encode_text()[None].expand(images.shape[0], -1, -1)

    def logits(self, frozen: torch.Tensor) -> torch.Tensor:
        image_features = self.image_features(frozen)  # (B, D)
        text_features = self.encode_text()  # (C, D): prefix | ctx | suffix -> text encoder, once per class
        return self.clip.logit_scale.exp() * image_features @ text_features.t()  # (B, C)
