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

from dataclasses import asdict, dataclass, fields, replace

import torch
import torch.nn.functional as F

from .backbone import encode_image_tokens
from .ctp import ClassAwarePrompt
from .layers import seeded
from .losses import contrastive_loss
from .prompt_learner import CTX_INIT, PromptLearner
from .tft import TextGuidedFeatureTuning
from .zeroshot import CLIP_TEMPLATE


@dataclass(frozen=True)
class TMMLOptions:
    """Which TMML: the parts switched on and the ablation choices, saved with a learner and checked as one value.

    * use_ctp, use_tft: the class-aware text prompt and the text-guided feature tuning, on or off.
    * ctp_source: "patches" (cross-attention over patch tokens) or "global" (class-dependent gate, ablation).
    * ctp_zero_init: CTP's output layer starts at zero (training starts from CoOp's prompt); False: random,
      as CoCoOp's meta-net.
    * ctp_output_bias: CTP's output layer has a bias (a constant context offset it can learn).
    * tft_ratio: alpha, the weight of TFT's residual.
    * symmetric, consistency: weights of the optional loss terms (see `contrastive_loss`).
    """
    use_ctp: bool = True
    use_tft: bool = True
    ctp_source: str = "patches"
    ctp_zero_init: bool = True
    ctp_output_bias: bool = True
    tft_ratio: float = 0.1
    symmetric: float = 0.0
    consistency: float = 0.0


class TMML(PromptLearner):
    """TMML prompt learner: images (B, 3, H, W) -> logits (B, C); `logits`, `features` and `training_loss` take
    the frozen inputs (B, 1 + P, D) instead: the pooled feature and the patch tokens (`frozen_inputs`). The
    arguments are CoOp's (the context is unified), plus the following.

    Args:
        options: which TMML (`TMMLOptions`); keyword switches are shorthand for it, so
            `TMML(backbone, names, use_tft=False)` is `TMML(backbone, names, TMMLOptions(use_tft=False))`.
        class_chunk: classes per text-encoder pass (B x class_chunk prompts).
    """

    compatibility_keys = PromptLearner.compatibility_keys + ("options",)

    def __init__(self, backbone, classnames, options: TMMLOptions = TMMLOptions(), n_ctx: int | None = None,
                 ctx_init: str | None = CTX_INIT, class_chunk: int = 16, truncate: bool = True,
                 seed: int | None = 0, **switches):
        super().__init__(backbone, classnames, n_ctx=n_ctx, ctx_init=ctx_init, truncate=truncate,
                         class_chunk=class_chunk, seed=seed)
        unknown = sorted(set(switches) - {f.name for f in fields(TMMLOptions)})
        if unknown:
            raise TypeError(f"TMML got unknown switches {unknown}; the switches are the fields of TMMLOptions: "
                            f"{[f.name for f in fields(TMMLOptions)]}")
        self.options = options = replace(options, **switches)
        with seeded(seed):
            self.ctp = (ClassAwarePrompt(self.image_dim, self.ctx_width, options.ctp_source,
                                         zero_init=options.ctp_zero_init, output_bias=options.ctp_output_bias)
                        if options.use_ctp else None)
            self.tft = TextGuidedFeatureTuning(self.image_dim, options.tft_ratio) if options.use_tft else None
        self.to(self.device, self.dtype)  # CTP and TFT where the frozen CLIP is

    def set_classnames(self, classnames) -> None:
        super().set_classnames(classnames)
        with torch.no_grad():  # the frozen hand-written prompts: CTP's queries and the consistency target
            tokens = self.tokenizer([CLIP_TEMPLATE.format(c) for c in self.classnames]).to(self.device)
            zero_shot = F.normalize(self.text_encoder.encode_tokens(tokens).to(self.dtype), dim=-1)
        self.register_buffer("zero_shot_text", zero_shot, persistent=False)  # (C, D)

    def metadata(self) -> dict:
        return {**super().metadata(), "options": asdict(self.options)}

    # --- image side ---------------------------------------------------------------------------------------

    @torch.no_grad()
    def frozen_inputs(self, images: torch.Tensor) -> torch.Tensor:
        """Pooled feature and patch tokens of the frozen tower, unit norm, stacked: (B, 1 + P, D)."""
        pooled, tokens = encode_image_tokens(self.clip, images.to(self.dtype))
        return F.normalize(torch.cat([pooled[:, None], tokens], dim=1).to(self.dtype), dim=-1)

    def image_features(self, frozen: torch.Tensor) -> torch.Tensor:
        """Unit-norm image features (B, D), before TFT: the pooled feature of the frozen inputs."""
        return frozen[:, 0].to(self.dtype)

    def patch_tokens(self, frozen: torch.Tensor) -> torch.Tensor:
        """Unit-norm patch tokens (B, P, D) of the frozen inputs."""
        return frozen[:, 1:].to(self.dtype)

    # --- text side ----------------------------------------------------------------------------------------

    def class_aware_text(self, image_features: torch.Tensor, tokens: torch.Tensor):
        """Text features (B, C, D) of the class-aware prompts and CTP's attention (B, C, P); CoOp's prompts,
        expanded, and None without CTP."""
        if self.ctp is None:
            return self.encode_text()[None].expand(image_features.shape[0], -1, -1), None
        keys = tokens if self.options.ctp_source == "patches" else image_features[:, None]  # (B, P or 1, D)
        shifts, attention = self.ctp(self.zero_shot_text, keys)  # (B, C, width): a different shift per class
        return self.shifted_text_features(shifts), attention  # (B, C, D), (B, C, P)

    # --- both ---------------------------------------------------------------------------------------------

    def features(self, frozen: torch.Tensor) -> dict[str, torch.Tensor | None]:
        """Everything the forward pass computes from the frozen inputs (B, 1 + P, D): "image" (B, D) after TFT,
        "text" (B, C, D), "ctp_attention" (B, C, P) and "tft_attention" (B, C) (None for a part switched off)."""
        image_features, tokens = self.image_features(frozen), self.patch_tokens(frozen)
        text, ctp_attention = self.class_aware_text(image_features, tokens)
        tft_attention = None
        if self.tft is not None:
            image_features, tft_attention = self.tft(image_features, text)
        return {"image": image_features, "text": text, "ctp_attention": ctp_attention,
                "tft_attention": tft_attention}

    def text_features(self, images: torch.Tensor) -> torch.Tensor:
        return self.features(self.frozen_inputs(images))["text"]

    def logits(self, frozen: torch.Tensor) -> torch.Tensor:
        out = self.features(frozen)
        return self.clip.logit_scale.exp() * torch.einsum("bd,bcd->bc", out["image"], out["text"])  # (B, C)

    def training_loss(self, frozen: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        out = self.features(frozen)
        return contrastive_loss(out["image"], out["text"], labels.to(self.device), self.clip.logit_scale,
                                symmetric=self.options.symmetric, consistency=self.options.consistency,
                                zero_shot_text=self.zero_shot_text)
