"""CoCoOp (Zhou et al., CVPR 2022): CoOp whose context moves with the image.

A small meta-net turns the image feature into one shift pi(x) of the token-embedding space, added to every
context vector:   ctx(x) = ctx + pi(x),   pi = Linear(D, D/16) -> ReLU -> Linear(D/16, width).

The prompt of class c for image x is then prefix_c | ctx(x) | suffix_c, so the text features depend on the
image: one text-encoder pass per (image, class) pair instead of one per class. That is what makes CoCoOp slow
and memory-hungry; `class_chunk` bounds how many classes go through the text encoder at once. Note that pi(x)
is the *same* shift for every class: all class prompts move together (the problem TMML's CTP addresses).
"""

from __future__ import annotations

import torch

from .layers import bottleneck, seeded
from .prompt_learner import CTX_INIT, PromptLearner


class CoCoOp(PromptLearner):
    """CoCoOp prompt learner: images (B, 3, H, W) -> logits (B, C); `logits` takes the frozen image features
    (B, D) instead of images.

    The arguments are CoOp's (the context is always unified), plus one.

    Args:
        class_chunk: classes per text-encoder pass; a pass encodes B x class_chunk prompts. When the classes
            need several passes during training, each pass is recomputed in the backward pass (activation
            checkpointing), so memory stays at about one chunk whatever the number of classes.
    """

    def __init__(self, backbone, classnames, n_ctx: int | None = None, ctx_init: str | None = CTX_INIT,
                 class_chunk: int = 16, truncate: bool = True, seed: int | None = 0):
        super().__init__(backbone, classnames, n_ctx=n_ctx, ctx_init=ctx_init, truncate=truncate,
                         class_chunk=class_chunk, seed=seed)
        with seeded(seed):
            self.meta_net = bottleneck(self.image_dim, self.ctx_width).to(self.device, self.dtype)

    def metadata(self) -> dict:
        return {**super().metadata(), "meta_net_hidden": self.meta_net.linear1.out_features}

    def image_shifts(self, image_features: torch.Tensor) -> torch.Tensor:
        """pi(x) for every class: (B, C, width), the same shift repeated for each class (an expanded view)."""
        return self.meta_net(image_features)[:, None, :].expand(-1, self.n_classes, -1)

    def text_features(self, images: torch.Tensor) -> torch.Tensor:
        """The unit-norm class text features (B, C, D) each image is scored against, one prompt per pair."""
        return self.shifted_text_features(self.image_shifts(self.encode_image(images)))

    def logits(self, frozen: torch.Tensor) -> torch.Tensor:
        image_features = self.image_features(frozen)  # (B, D)
        shifts = self.image_shifts(image_features)  # (B, C, width): ctx(x) = ctx + pi(x) for every class
        text_features = self.shifted_text_features(shifts)  # (B, C, D)
        return self.clip.logit_scale.exp() * torch.einsum("bd,bcd->bc", image_features, text_features)  # (B, C)
