"""TFT, text-guided feature tuning (text -> image). OUR RECONSTRUCTION from the TMML paper's abstract.

The abstract says: instead of keeping the whole image representation, tune the image feature, guided by the
class text features, towards the class-related content. We implement that as one cross-attention step from the
image feature to the class text features of that image, added as a small residual::

    a_c = softmax_c(unit(W_q f) . unit(W_k t_c) / tau)
        which classes' descriptions the image resembles
    f~  = unit(f + alpha * W_v (sum_c a_c t_c))
        alpha = `ratio`, small: f~ stays close to CLIP's f

The text features t_c may be the same for every image (CoOp's prompts) or the class-aware features of CTP for
this image, (B, C, D): then text and image tune each other, the "mutual learning" of the paper. W_q, W_k and
W_v start as the identity, so at initialisation TFT pulls f towards the class texts CLIP already finds closest.
The attention runs over whatever classes are given, so TFT works unchanged on new classes.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from .layers import identity_linear


class TextGuidedFeatureTuning(nn.Module):
    """Image features (B, D) + class text features (C, D) or (B, C, D) -> tuned image features (B, D), unit
    norm, and the attention (B, C) of each image over the classes.

    dim: the joint embedding dimension D. ratio: alpha, the weight of the text-guided residual.
    """

    def __init__(self, dim: int, ratio: float = 0.1):
        super().__init__()
        if not 0 <= ratio <= 1:
            raise ValueError(f"ratio (alpha) must be in [0, 1], got {ratio}")
        self.ratio = ratio
        self.query = identity_linear(dim)
        self.key = identity_linear(dim)
        self.value = identity_linear(dim)
        self.log_temperature = nn.Parameter(torch.tensor(math.log(0.07)))

    def forward(self, image_features: torch.Tensor, text_features: torch.Tensor) -> tuple[torch.Tensor,
                                                                                             torch.Tensor]:
        # (C, D), the same class texts for every image, broadcasts to (B, C, D); (B, C, D) stays as it is
        text_features = text_features.expand(image_features.shape[0], -1, -1)  # (B, C, D)
        queries = F.normalize(self.query(image_features), dim=-1)  # (B, D)
        keys = F.normalize(self.key(text_features), dim=-1)  # (B, C, D)
        attention = (torch.einsum("bd,bcd->bc", queries, keys) / self.log_temperature.exp()).softmax(dim=-1)
        guidance = self.value(torch.einsum("bc,bcd->bd", attention, text_features))  # (B, D)
        tuned = image_features + self.ratio * guidance
        return F.normalize(tuned, dim=-1), attention
