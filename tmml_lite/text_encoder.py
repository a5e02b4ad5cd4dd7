"""`PromptTextEncoder`: CLIP's text tower, fed token *embeddings* instead of token ids.

Put it beside open_clip's `CLIP.encode_text`: the steps are the same (embed, add positions, causal transformer,
final norm, pool at the end-of-text token, project). Two lines differ:

* the input is already embedded, so prompt learners can splice learnable vectors between real tokens;
* the sequence is cut right after the longest end-of-text (EOT) position. The attention mask is causal, so
  tokens after the EOT never influence it: cutting them changes nothing but the run time.
"""

from __future__ import annotations

import torch
from torch import nn

from .backbone import check_spliceable


def eot_index(tokens: torch.Tensor) -> torch.Tensor:
    """Position of the end-of-text token in each row of `tokens` (B, L): it has the largest id (49407)."""
    return tokens.argmax(dim=-1)


class PromptTextEncoder(nn.Module):
    """Frozen text tower of an open_clip CLIP: prompt embeddings (B, L, width) + EOT index (B,) -> features (B, D)."""

    def __init__(self, clip_model: nn.Module):
        super().__init__()
        check_spliceable(clip_model, type(clip_model).__name__)
        self.token_embedding = clip_model.token_embedding
        self.positional_embedding = clip_model.positional_embedding
        self.transformer = clip_model.transformer
        self.ln_final = clip_model.ln_final
        self.text_projection = clip_model.text_projection
        self.register_buffer("attn_mask", clip_model.attn_mask, persistent=False)

    def forward(self, prompts: torch.Tensor, eot: torch.Tensor, truncate: bool = True) -> torch.Tensor:
        if truncate:  # causal mask: nothing after the last EOT can reach any pooled token
            length = int(eot.max()) + 1
            prompts = prompts[:, :length]
        length = prompts.shape[1]
        x = prompts + self.positional_embedding[:length].to(prompts.dtype)  # (B, L, width)
        x = self.transformer(x, attn_mask=self.attn_mask[:length, :length])
        x = self.ln_final(x)
        x = x[torch.arange(x.shape[0], device=x.device), eot]  # (B, width): the EOT token's state
        if isinstance(self.text_projection, nn.Linear):
            return self.text_projection(x)
        return x @ self.text_projection  # (B, D)

    def encode_tokens(self, tokens: torch.Tensor, truncate: bool = True) -> torch.Tensor:
        """Token ids (B, L) -> text features (B, D); equals `CLIP.encode_text` (to float tolerance)."""
        return self(self.token_embedding(tokens), eot_index(tokens), truncate=truncate)
