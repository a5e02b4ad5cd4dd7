"""CTP, the class-aware text prompt (image -> text). OUR RECONSTRUCTION from the TMML paper's abstract.

The abstract says: CoCoOp adds one image-conditioned shift to the prompt of every class, so the class prompts
move together; CTP instead injects *label-related* image information into each class's prompt. We implement that
as class-conditioned cross-attention over the image's patch tokens::

    q_c   = unit(W_q t_c)
        t_c: the frozen text feature of class c ("a photo of a {c}.")
    k_i   = unit(W_k p_i),  v_i = p_i
        p_i: patch token i of the frozen image tower, in the joint space
    a_ci  = softmax_i(q_c . k_i / tau)
        what class c looks at in this image (a cosine over a temperature)
    u_c   = sum_i a_ci v_i
        class c's view of the image
    delta_c = g(u_c)
        g = Linear -> ReLU -> Linear into the token-embedding space
        (CoCoOp's meta-net shape)

and the prompt of class c for image x gets the context ctx + delta_c(x). Because the query is the class,
delta_c(x) differs from class to class. W_q and W_k start as the identity and tau at 0.07, the temperature
CLIP's pretraining starts from, so at initialisation class c attends to the patches that CLIP already finds
most similar to its name; the last layer of the mapping starts at zero, so training starts from the plain
prompt.

With one image token (the global feature) a softmax over one key gives every class the same u_c: that is
CoCoOp again. `source="global"` is therefore the class-dependent *gate* variant kept for the ablation:
u_c = sigmoid(q_c . k / tau - mean over classes) * v, where k and v come from the global feature.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from .layers import bottleneck, identity_linear

SOURCES = ("patches", "global")


class ClassAwarePrompt(nn.Module):
    """Class text features (C, D) + image tokens (B, P, D) -> per-class context shifts (B, C, width) and the
    attention (B, C, P) of each class over the tokens.

    Args:
        dim: the joint embedding dimension D.
        ctx_width: the token-embedding width of the text tower.
        source: "patches" (cross-attention over the patch tokens) or "global" (a class-dependent gate on the
            global image feature; the ablation).
        zero_init: start the last layer of `to_context` at zero, so training starts from the un-shifted
            prompt (CoCoOp's meta-net starts random instead; compare the rows CTP and "CTP random init" of
            the grid in chapter 6).
        output_bias: give the last layer of `to_context` a bias. The bias is the same for every image and
            class, so it can learn a constant offset of the context; without it, every shift must come from
            the attended image tokens (the row "CTP no bias" of the grid in chapter 6).
    """

    def __init__(self, dim: int, ctx_width: int, source: str = "patches", zero_init: bool = True,
                 output_bias: bool = True):
        super().__init__()
        if source not in SOURCES:
            raise ValueError(f"source must be one of {SOURCES}, got {source!r}")
        self.source = source
        self.query = identity_linear(dim)
        self.key = identity_linear(dim)
        self.log_temperature = nn.Parameter(torch.tensor(math.log(0.07)))  # CLIP's initial temperature
        self.to_context = bottleneck(dim, ctx_width, bias=output_bias)  # the shape of CoCoOp's meta-net
        if zero_init:  # start with no shift at all: the prompts begin as CoOp's, i.e. as zero-shot CLIP's
            nn.init.zeros_(self.to_context.linear2.weight)
            if output_bias:
                nn.init.zeros_(self.to_context.linear2.bias)

    def attention(self, class_features: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
        """Scores of each class over the tokens, (B, C, P): softmax over the patches, or a sigmoid gate
        (centred over the classes) for the global variant (P = 1)."""
        queries = nn.functional.normalize(self.query(class_features), dim=-1)  # (C, D)
        keys = nn.functional.normalize(self.key(tokens), dim=-1)  # (B, P, D)
        scores = torch.einsum("cd,bpd->bcp", queries, keys) / self.log_temperature.exp()  # (B, C, P)
        if self.source == "global":  # centred over the classes, so the gates do not all saturate at 1
            return torch.sigmoid(scores - scores.mean(dim=1, keepdim=True))
        return scores.softmax(dim=-1)

    def forward(self, class_features: torch.Tensor, tokens: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """class_features (C, D), tokens (B, P, D) -> context shifts (B, C, width), attention (B, C, P)."""
        attention = self.attention(class_features, tokens)  # (B, C, P)
        views = torch.einsum("bcp,bpd->bcd", attention, tokens)  # (B, C, D): u_c, class c's view of the image
        return self.to_context(views), attention
