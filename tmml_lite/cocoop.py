"""CoCoOp (Zhou et al., CVPR 2022): CoOp whose context moves with the image.

A small meta-net turns the image feature into one shift pi(x) of the token-embedding space, added to every
context vector:   ctx(x) = ctx + pi(x),   pi = Linear(D, D/16) -> ReLU -> Linear(D/16, width).

The prompt of class c for image x is then prefix_c | ctx(x) | suffix_c, so the text features depend on the
image: one text-encoder pass per (image, class) pair instead of one per class. That is what makes CoCoOp slow
and memory-hungry; `class_chunk` bounds how many classes go through the text encoder at once. Note that pi(x)
is the *same* shift for every class: all class prompts move together (the problem TMML's CTP addresses).
"""

from __future__ import annotations

from collections import OrderedDict

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.checkpoint import checkpoint

from .coop import CoOp, seeded


class CoCoOp(CoOp):
    """CoCoOp prompt learner: images (B, 3, H, W) or image features (B, D) -> logits (B, C).

    The arguments are CoOp's (the context is always unified), plus
    class_chunk: classes per text-encoder pass; a pass encodes B x class_chunk prompts. When the classes need
        several passes during training, each pass is recomputed in the backward pass (activation
        checkpointing), so memory stays at about one chunk whatever the number of classes.
    """

    def __init__(self, backbone, classnames, n_ctx: int | None = None, ctx_init: str | None = "a photo of a",
                 class_chunk: int = 16, truncate: bool = True, seed: int | None = 0):
        super().__init__(backbone, classnames, n_ctx=n_ctx, ctx_init=ctx_init, class_specific=False,
                         truncate=truncate, seed=seed)
        if class_chunk < 1:
            raise ValueError(f"class_chunk must be >= 1, got {class_chunk}")
        self.class_chunk = class_chunk
        hidden = max(1, self.image_dim // 16)  # CoCoOp's bottleneck: vis_dim / 16
        with seeded(seed):
            self.meta_net = nn.Sequential(OrderedDict([
                ("linear1", nn.Linear(self.image_dim, hidden)),
                ("relu", nn.ReLU(inplace=True)),
                ("linear2", nn.Linear(hidden, self.ctx_width)),
            ])).to(self.ctx.device)

    def metadata(self) -> dict:
        return {**super().metadata(), "meta_net_hidden": self.meta_net.linear1.out_features}

    def class_text_features(self, ctx: torch.Tensor, classes: slice) -> torch.Tensor:
        """Unit-norm text features (B, c, D) of the classes in `classes`, one prompt per (image, class).

        ctx: the image-conditioned contexts (B, M, width).
        """
        prefix, suffix, eot = self.token_prefix[classes], self.token_suffix[classes], self.eot[classes]
        n_images, n_classes = ctx.shape[0], prefix.shape[0]
        prompts = torch.cat([
            prefix.expand(n_images, -1, -1, -1),  # (B, c, 1, width)
            ctx[:, None].expand(-1, n_classes, -1, -1),  # (B, c, M, width): the same ctx(x) for every class
            suffix.expand(n_images, -1, -1, -1),  # (B, c, S, width)
        ], dim=2).flatten(0, 1)  # (B * c, L, width)
        features = self.text_encoder(prompts, eot.repeat(n_images), truncate=self.truncate)  # (B * c, D)
        return F.normalize(features, dim=-1).view(n_images, n_classes, -1)

    def image_contexts(self, image_features: torch.Tensor) -> torch.Tensor:
        """ctx(x) = ctx + pi(x): one context (M, width) per image, (B, M, width)."""
        return self.ctx + self.meta_net(image_features)[:, None, :]

    def text_features(self, images_or_features: torch.Tensor) -> torch.Tensor:
        """The unit-norm class text features (B, C, D) each image is scored against, one prompt per pair."""
        ctx = self.image_contexts(self.encode_image(images_or_features))
        return torch.cat([self.class_text_features(ctx, slice(start, start + self.class_chunk))
                          for start in range(0, self.n_classes, self.class_chunk)], dim=1)

    def forward(self, images_or_features: torch.Tensor) -> torch.Tensor:
        image_features = self.encode_image(images_or_features)  # (B, D)
        ctx = self.image_contexts(image_features)  # (B, M, width): ctx + pi(x)
        several_passes = self.n_classes > self.class_chunk
        logits = []
        for start in range(0, self.n_classes, self.class_chunk):
            classes = slice(start, start + self.class_chunk)
            if several_passes and torch.is_grad_enabled():  # keep one chunk of activations, not all of them
                text_features = checkpoint(self.class_text_features, ctx, classes, use_reentrant=False)
            else:
                text_features = self.class_text_features(ctx, classes)
            logits.append(torch.einsum("bd,bcd->bc", image_features, text_features))  # (B, c) cosines
        return self.clip.logit_scale.exp() * torch.cat(logits, dim=1)  # (B, C)
