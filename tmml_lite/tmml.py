"""TMML (Long et al., ICCV 2023): task-oriented multi-modal mutual learning. OUR RECONSTRUCTION of CTP and TFT.

For image x with pooled feature f and patch tokens p_1..p_P (frozen tower, joint space, unit norm)::

    delta_c(x), a_c = CTP(t_c^zs, p)
        class-aware context shift of class c (`ClassAwarePrompt`)
    t_c(x)       = TextEncoder(prefix_c | ctx + delta_c(x) | suffix_c)
        one prompt per (image, class)
    f~(x)        = TFT(f, t_1(x), ..., t_C(x))
        image feature tuned by the class texts
    logits_c     = s * cos(f~(x), t_c(x))
    loss         = contrastive_loss(f~, t(x), y)
        image -> text over the classes (+ ablation terms)

t_c^zs is the frozen text feature of "a photo of a {c}.", the query that makes CTP class-aware. Each part can be
switched off: without CTP the prompts are CoOp's (one pass per class); without TFT f~ = f; without both, TMML
is exactly CoOp. The classes go through the text encoder in chunks, each recomputed in the backward pass, so
memory stays at about one chunk of B x class_chunk prompts.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .backbone import encode_image_tokens
from .ctp import ClassAwarePrompt
from .layers import seeded
from .losses import contrastive_loss
from .prompt_learner import CTX_INIT, PromptLearner
from .tft import TextGuidedFeatureTuning
from .zeroshot import CLIP_TEMPLATE


class TMML(PromptLearner):
    """TMML prompt learner: images (B, 3, H, W) or cached frozen inputs (B, 1 + P, D) -> logits (B, C).

    The arguments are CoOp's (the context is unified), plus the following.

    Args:
        use_ctp, use_tft: switch the class-aware text prompt and the text-guided feature tuning on or off.
        ctp_source: "patches" (cross-attention over patch tokens) or "global" (class-dependent gate,
            ablation).
        ctp_zero_init: CTP's output layer starts at zero (training starts from CoOp's prompt); False: random,
            as CoCoOp's meta-net.
        ctp_output_bias: CTP's output layer has a bias (a constant context offset it can learn).
        tft_ratio: alpha, the weight of TFT's residual.
        symmetric, consistency: weights of the optional loss terms (see `contrastive_loss`).
        class_chunk: classes per text-encoder pass (B x class_chunk prompts).
    """

    compatibility_keys = PromptLearner.compatibility_keys + ("use_ctp", "use_tft", "ctp_source", "ctp_output_bias")

    def __init__(self, backbone, classnames, n_ctx: int | None = None, ctx_init: str | None = CTX_INIT,
                 use_ctp: bool = True, use_tft: bool = True, ctp_source: str = "patches", ctp_zero_init: bool = True,
                 ctp_output_bias: bool = True, tft_ratio: float = 0.1,
                 symmetric: float = 0.0, consistency: float = 0.0, class_chunk: int = 16, truncate: bool = True,
                 seed: int | None = 0):
        super().__init__(backbone, classnames, n_ctx=n_ctx, ctx_init=ctx_init, truncate=truncate,
                         class_chunk=class_chunk, seed=seed)
        self.use_ctp, self.use_tft, self.ctp_source = use_ctp, use_tft, ctp_source if use_ctp else None
        self.ctp_output_bias = ctp_output_bias if use_ctp else None
        self.symmetric, self.consistency = symmetric, consistency
        with seeded(seed):
            self.ctp = (ClassAwarePrompt(self.image_dim, self.ctx_width, ctp_source, zero_init=ctp_zero_init,
                                         output_bias=ctp_output_bias) if use_ctp else None)
            self.tft = TextGuidedFeatureTuning(self.image_dim, tft_ratio) if use_tft else None
        self.to(self.device, self.dtype)  # CTP and TFT where the frozen CLIP is

    def set_classnames(self, classnames) -> None:
        super().set_classnames(classnames)
        with torch.no_grad():  # the frozen hand-written prompts: CTP's queries and the consistency target
            tokens = self.tokenizer([CLIP_TEMPLATE.format(c) for c in self.classnames]).to(self.device)
            zero_shot = F.normalize(self.text_encoder.encode_tokens(tokens).to(self.dtype), dim=-1)
        self.register_buffer("zero_shot_text", zero_shot, persistent=False)  # (C, D)

    def metadata(self) -> dict:
        return {**super().metadata(), "use_ctp": self.use_ctp, "use_tft": self.use_tft,
                "ctp_source": self.ctp_source, "ctp_output_bias": self.ctp_output_bias,
                "tft_ratio": self.tft.ratio if self.tft else None}

    # --- image side ---------------------------------------------------------------------------------------

    @torch.no_grad()
    def frozen_inputs(self, images: torch.Tensor) -> torch.Tensor:
        """Pooled feature and patch tokens of the frozen tower, unit norm, stacked: (B, 1 + P, D)."""
        pooled, tokens = encode_image_tokens(self.clip, images.to(self.dtype))
        return F.normalize(torch.cat([pooled[:, None], tokens], dim=1).to(self.dtype), dim=-1)

    def _image(self, images_or_inputs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        cached = images_or_inputs.dim() == 3
        inputs = images_or_inputs.to(self.dtype) if cached else self.frozen_inputs(images_or_inputs)
        return inputs[:, 0], inputs[:, 1:]  # image features (B, D), patch tokens (B, P, D)

    def encode_image(self, images_or_inputs: torch.Tensor) -> torch.Tensor:
        """Unit-norm image features (B, D), before TFT."""
        return self._image(images_or_inputs)[0]

    # --- text side ----------------------------------------------------------------------------------------

    def class_aware_text(self, image_features: torch.Tensor, tokens: torch.Tensor):
        """Text features (B, C, D) of the class-aware prompts and CTP's attention (B, C, P); CoOp's prompts,
        expanded, and None without CTP."""
        if self.ctp is None:
            return self.encode_text()[None].expand(image_features.shape[0], -1, -1), None
        keys = tokens if self.ctp_source == "patches" else image_features[:, None]  # (B, P or 1, D)
        shifts, attention = self.ctp(self.zero_shot_text, keys)  # (B, C, width): a different shift per class
        return self.shifted_text_features(shifts), attention  # (B, C, D), (B, C, P)

    # --- both ---------------------------------------------------------------------------------------------

    def features(self, images_or_inputs: torch.Tensor) -> dict[str, torch.Tensor | None]:
        """Everything the forward pass computes: "image" (B, D) after TFT, "text" (B, C, D), "ctp_attention"
        (B, C, P) and "tft_attention" (B, C) (None for a part that is switched off)."""
        image_features, tokens = self._image(images_or_inputs)
        text, ctp_attention = self.class_aware_text(image_features, tokens)
        tft_attention = None
        if self.tft is not None:
            image_features, tft_attention = self.tft(image_features, text)
        return {"image": image_features, "text": text, "ctp_attention": ctp_attention,
                "tft_attention": tft_attention}

    def text_features(self, images_or_inputs: torch.Tensor) -> torch.Tensor:
        return self.features(images_or_inputs)["text"]

    def forward(self, images_or_inputs: torch.Tensor) -> torch.Tensor:
        out = self.features(images_or_inputs)
        return self.clip.logit_scale.exp() * torch.einsum("bd,bcd->bc", out["image"], out["text"])  # (B, C)

    def training_loss(self, inputs: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        out = self.features(inputs)
        return contrastive_loss(out["image"], out["text"], labels.to(self.device), self.clip.logit_scale,
                                symmetric=self.symmetric, consistency=self.consistency,
                                zero_shot_text=self.zero_shot_text)
