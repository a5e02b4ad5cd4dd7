"""The TMML training loss: image -> text contrastive over the class set, with optional terms for the ablations.

Written out::

    logits_bc = s * cos(f~_b, t_c(x_b))
                    s = CLIP's logit scale, f~ the tuned image feature
    loss      = CE(logits, y)
                    image -> text over the classes (always)
              + symmetric * InfoNCE(text -> image)
                    over the batch: t_{y_b}(x_b) must pick its own image
              + consistency * mean_c (1 - cos(t_c(x), t_c^zero-shot))
                    stay near the hand-written prompts
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def contrastive_loss(image_features: torch.Tensor, text_features: torch.Tensor, labels: torch.Tensor,
                     logit_scale: torch.Tensor, symmetric: float = 0.0, consistency: float = 0.0,
                     zero_shot_text: torch.Tensor | None = None) -> torch.Tensor:
    """Scalar loss. image_features (B, D) and text_features (C, D) or (B, C, D), both unit norm; labels (B,).

    Args:
        symmetric: weight of the text -> image InfoNCE term over the batch (each image's true-class text
            feature against all images of the batch; images of the same class count as positives).
        consistency: weight of the pull of the text features towards `zero_shot_text` (C, D).
    """
    text_features = text_features.expand(image_features.shape[0], -1, -1)  # (C, D) broadcasts to (B, C, D)
    scale = logit_scale.exp()
    logits = scale * torch.einsum("bd,bcd->bc", image_features, text_features)  # (B, C)
    loss = F.cross_entropy(logits, labels)
    if symmetric:
        own_text = text_features[torch.arange(len(labels), device=labels.device), labels]  # (B, D): t_{y_b}(x_b)
        text_to_image = scale * own_text @ image_features.t()  # (B text, B images)
        positives = (labels[:, None] == labels[None, :]).float()
        log_probs = text_to_image.log_softmax(dim=-1)
        loss = loss + symmetric * -(positives * log_probs).sum(-1).div(positives.sum(-1)).mean()
    if consistency:
        if zero_shot_text is None:
            raise ValueError("consistency > 0 needs zero_shot_text, the (C, D) features of hand-written prompts")
        cosines = torch.einsum("bcd,cd->bc", text_features, zero_shot_text.to(text_features.dtype))
        loss = loss + consistency * (1 - cosines).mean()
    return loss
