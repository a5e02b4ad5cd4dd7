"""`PromptLearner`: what every prompt learner shares. `CoOp`, `CoCoOp` and `TMML` are its subclasses, siblings
that each add their own modules and write their own `forward`.

Shared here: the frozen CLIP; the learned context `ctx` and its initialisation; the class buffers and the one
splice prefix | ctx | suffix of a class prompt (drawn in `coop`); prompts per (image, class) for the learners
whose context depends on the image, in class chunks recomputed in the backward pass; the cacheable output of
the frozen image tower; and the members the engine relies on, listed in the docstring of `PromptLearner`.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.checkpoint import checkpoint

from .data import check_classnames, image_batches
from .layers import seeded
from .saving import load_learner, save_learner
from .text_encoder import PromptTextEncoder, eot_index
from .zeroshot import CLIP_TEMPLATE

CTX_INIT = CLIP_TEMPLATE.split(" {}")[0]  # "a photo of a": the template's words before the class name
CTX_PLACEHOLDER = "X"  # one BPE token; stands where the context vectors go while the class buffers are built


def context_from_words(tokenizer, token_embedding: nn.Embedding, words: str) -> torch.Tensor:
    """The token embeddings (M, width) of `words` ("a photo of a" -> M = 4), to initialise a context."""
    tokens = tokenizer([words]).to(token_embedding.weight.device)  # (1, L): [SOS] words [EOT] 0 0 ...
    n_words = int(eot_index(tokens)[0]) - 1
    if n_words < 1:
        raise ValueError(f"ctx_init={words!r} has no tokens; give words such as 'a photo of a', or None for a "
                         f"random context")
    with torch.no_grad():
        return token_embedding(tokens)[0, 1:1 + n_words].clone()


def class_token_buffers(tokenizer, token_embedding: nn.Embedding, classnames: list[str], n_ctx: int,
                        truncate: bool = True) -> dict[str, torch.Tensor]:
    """The fixed parts of every class prompt "[SOS] X*n_ctx {name}. [EOT]", embedded: {"class_token_ids"
    (C, L), "token_prefix" (C, 1, width), "token_suffix" (C, L - 1 - n_ctx, width), "eot" (C,)}. With
    `truncate`, L stops right after the longest EOT (the mask is causal); without, L is the full context (77)."""
    placeholder = " ".join([CTX_PLACEHOLDER] * n_ctx)
    tokens = tokenizer([f"{placeholder} {name}." for name in classnames]).to(token_embedding.weight.device)
    eot = eot_index(tokens)
    if (eot <= 1 + n_ctx).any():
        raise ValueError(f"with {n_ctx} context tokens there is no room left for the class names in the "
                         f"{tokens.shape[1]}-token context; use a smaller n_ctx")
    if truncate:
        tokens = tokens[:, :int(eot.max()) + 1]
    with torch.no_grad():
        embedding = token_embedding(tokens)  # (C, L, width)
    return {"class_token_ids": tokens, "token_prefix": embedding[:, :1].clone(),
            "token_suffix": embedding[:, 1 + n_ctx:].clone(), "eot": eot}


class PromptLearner(nn.Module):
    """A frozen open_clip CLIP with a learned context `ctx` (M, width), or (C, M, width) if `class_specific`.

    The contract: `engine` (fit, evaluate, predict_logits), `saving`, `discrimination` and `bench` use these
    members of a learner and no others, besides what every nn.Module has (tests/test_layers.py checks).

    * ``clip``, ``preprocess``: the frozen CLIP (no parameter requires a gradient) and its image transform.
    * ``device``, ``dtype``: where the learned tensors are and their dtype (the frozen CLIP's).
    * ``set_classnames(names)``, ``classnames``, ``n_classes``: the class list the logits are over.
    * ``frozen_inputs(images)``: what the frozen tower gives for images (B, 3, H, W), the *frozen inputs* of the
      batch (unit-norm features (B, D), or for TMML the pooled feature and the patch tokens, (B, 1 + P, D));
      ``cache_inputs(images)``: the same for uint8 images (N, H, W, 3), computed once per run (the towers
      never change).
    * ``logits(frozen)`` -> (B, C) and ``training_loss(frozen, labels)`` -> the scalar `fit` minimises, both
      on frozen inputs; ``forward(images)`` is ``logits(frozen_inputs(images))``.
    * ``encode_image(images)`` -> image features (B, D); ``text_features(images)`` -> the class text features
      (B, C, D) each image is scored against.
    * ``parameters()`` that require gradients: all `fit` optimises. ``train()`` keeps the towers in eval mode.
    * ``class_chunk``: classes per text-encoder pass for learners with one prompt per (image, class), else
      None; ``prompts_per_pass``: the most prompts one pass may take (None: no limit), which `evaluate` keeps
      its batches within. These two are the only members the engine writes: on CUDA `fit` sets both from
      the free memory.
    * ``ctx``, ``n_ctx``, ``token_suffix``: the learned context and the class prompts' fixed tail (`bench`
      counts the tokens of a prompt and compares contexts).
    * ``metadata()``, ``compatibility_keys``: what a saved learner must match; ``save(path)``, ``load(path)``.

    The arguments are `CoOp`'s (backbone, classnames, n_ctx, ctx_init, class_specific, truncate, seed), plus
    `class_chunk`, the classes per text-encoder pass of the learners with one prompt per (image, class).
    """

    compatibility_keys = ("n_ctx", "class_specific")  # metadata a saved learner must share to be loaded

    def __init__(self, backbone, classnames, n_ctx: int | None = None, ctx_init: str | None = CTX_INIT,
                 class_specific: bool = False, truncate: bool = True, class_chunk: int | None = None,
                 seed: int | None = 0):
        super().__init__()
        model, self.preprocess, self.tokenizer = backbone
        self.backbone_name = getattr(backbone, "name", type(model).__name__)
        self.clip = model.eval().requires_grad_(False)  # both towers frozen
        self.text_encoder = PromptTextEncoder(model)
        self.class_specific, self.truncate = class_specific, truncate
        if class_chunk is not None and class_chunk < 1:
            raise ValueError(f"class_chunk must be >= 1, got {class_chunk}")
        self.class_chunk, self.prompts_per_pass = class_chunk, None
        classnames = check_classnames(classnames)
        token_embedding = model.token_embedding
        self.ctx_width = token_embedding.embedding_dim  # read from the model: 128 for TinyCLIP, 512 for ViT-B-16
        self.image_dim = model.visual.output_dim
        shape = (len(classnames),) if class_specific else ()
        if ctx_init:
            ctx = context_from_words(self.tokenizer, token_embedding, ctx_init)  # (M, width)
            if n_ctx is not None and n_ctx != len(ctx):
                raise ValueError(f"ctx_init={ctx_init!r} is {len(ctx)} tokens but n_ctx={n_ctx}; pass "
                                 f"n_ctx={len(ctx)} (or None), or ctx_init=None for a random context")
            ctx = ctx.expand(*shape, -1, -1).clone()  # ([C,] M, width): every class starts from the words
        else:
            with seeded(seed):  # CoOp's N(0, 0.02^2) initialisation
                ctx = torch.randn(*shape, n_ctx or 4, self.ctx_width) * 0.02  # ([C,] M, width)
        self.n_ctx = ctx.shape[-2]
        self.ctx = nn.Parameter(ctx.to(token_embedding.weight))  # the model's device and dtype
        self.classnames: list[str] = []
        self.set_classnames(classnames)

    @property
    def device(self) -> torch.device:
        return self.ctx.device

    @property
    def dtype(self) -> torch.dtype:
        """The frozen CLIP's dtype (float64 for TinyCLIP, `backbone.TINY_DTYPE`), which the learned modules share."""
        return self.ctx.dtype

    @property
    def n_classes(self) -> int:
        return len(self.classnames)

    def set_classnames(self, classnames) -> None:
        """Rebuild the class-dependent buffers (prefix, suffix, EOT index) for another class list."""
        classnames = check_classnames(classnames)
        if self.class_specific and self.classnames and classnames != self.classnames:
            raise ValueError(f"this {type(self).__name__} has a class-specific context learned for "
                             f"{self.classnames}; it cannot score other classes ({classnames}). Use "
                             f"CoOp(..., class_specific=False), a unified context, to evaluate on new classes")
        buffers = class_token_buffers(self.tokenizer, self.clip.token_embedding, classnames, self.n_ctx,
                                      self.truncate)
        for name, tensor in buffers.items():  # not persistent: they are a function of the class names
            self.register_buffer(name, tensor, persistent=False)
        self.classnames = classnames

    # --- the image side: the frozen tower, cacheable -------------------------------------------------

    @torch.no_grad()
    def frozen_inputs(self, images: torch.Tensor) -> torch.Tensor:
        """What the frozen tower gives for images (B, 3, H, W): here the unit-norm image features (B, D)."""
        return F.normalize(self.clip.encode_image(images.to(self.dtype)).to(self.dtype), dim=-1)

    def cache_inputs(self, images, batch_size: int = 256) -> torch.Tensor:
        """`frozen_inputs` (in the learner's dtype) of uint8 (N, H, W, 3) or PIL images, preprocessed and encoded in
        batches."""
        return torch.cat([self.frozen_inputs(x)
                          for x in image_batches(images, self.preprocess, batch_size, self.device)])

    def image_features(self, frozen: torch.Tensor) -> torch.Tensor:
        """Unit-norm image features (B, D) from the frozen inputs of a batch (`frozen_inputs`)."""
        return F.normalize(frozen.to(self.dtype), dim=-1)

    def encode_image(self, images: torch.Tensor) -> torch.Tensor:
        """Unit-norm image features (B, D) of images (B, 3, H, W)."""
        return self.image_features(self.frozen_inputs(images))

    # --- the text side: class prompts, one per class or one per (image, class) --------------------------

    def context(self) -> torch.Tensor:
        """The learned context as the prompts use it: `ctx`, (M, width) or (C, M, width)."""
        return self.ctx

    def prompts(self) -> torch.Tensor:
        """Prompt embeddings (C, L, width): prefix | ctx | suffix."""
        ctx = self.context()
        ctx = ctx if self.class_specific else ctx.expand(self.n_classes, -1, -1)  # (C, M, width)
        return torch.cat([self.token_prefix, ctx, self.token_suffix], dim=1)

    def encode_text(self) -> torch.Tensor:
        """Unit-norm class text features (C, D) of the learned prompts."""
        return F.normalize(self.text_encoder(self.prompts(), self.eot, truncate=self.truncate), dim=-1)

    def class_text_features(self, shifts: torch.Tensor, classes: slice) -> torch.Tensor:
        """Unit-norm text features (B, c, D) of the classes in `classes`, one prompt per (image, class) with the
        context ctx + shift: shifts (B, c, width). Needs a unified context."""
        prefix, suffix, eot = self.token_prefix[classes], self.token_suffix[classes], self.eot[classes]
        n_images, n_classes = shifts.shape[:2]
        prompts = torch.cat([
            prefix.expand(n_images, -1, -1, -1),  # (B, c, 1, width)
            self.context() + shifts[:, :, None, :],  # (B, c, M, width)
            suffix.expand(n_images, -1, -1, -1),  # (B, c, S, width)
        ], dim=2).flatten(0, 1)  # (B * c, L, width)
        features = self.text_encoder(prompts, eot.repeat(n_images), truncate=self.truncate)  # (B * c, D)
        return F.normalize(features, dim=-1).view(n_images, n_classes, -1)

    def shifted_text_features(self, shifts: torch.Tensor) -> torch.Tensor:
        """`class_text_features` of all classes, (B, C, D), `class_chunk` classes per pass; when training needs
        several passes, each is recomputed in the backward pass, so memory stays at about one chunk."""
        several_passes = self.n_classes > self.class_chunk
        chunks = []
        for start in range(0, self.n_classes, self.class_chunk):
            classes = slice(start, start + self.class_chunk)
            if several_passes and torch.is_grad_enabled():
                chunks.append(checkpoint(self.class_text_features, shifts[:, classes], classes, use_reentrant=False))
            else:
                chunks.append(self.class_text_features(shifts[:, classes], classes))
        return chunks[0] if len(chunks) == 1 else torch.cat(chunks, dim=1)

    # --- scoring, training, saving ------------------------------------------------------------------------

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Logits (B, C) of images (B, 3, H, W) against the current classes: `logits` of their frozen inputs."""
        return self.logits(self.frozen_inputs(images))

    def logits(self, frozen: torch.Tensor) -> torch.Tensor:
        """Logits (B, C) from the frozen inputs of a batch; each learner writes its own."""
        raise NotImplementedError(f"{type(self).__name__} must define logits(frozen)")

    def text_features(self, images: torch.Tensor) -> torch.Tensor:
        """The unit-norm class text features (B, C, D) each image (B, 3, H, W) is scored against."""
        raise NotImplementedError(f"{type(self).__name__} must define text_features(images)")

    def training_loss(self, frozen: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """The loss `fit` minimises on a batch of frozen inputs: here the cross-entropy of the logits."""
        return F.cross_entropy(self.logits(frozen), labels.to(self.device))

    def train(self, mode: bool = True):
        super().train(mode)
        self.clip.eval()  # the frozen towers always run in inference mode
        return self

    def metadata(self) -> dict:
        """What a saved learner must match to be loaded again."""
        return {"method": type(self).__name__, "backbone": self.backbone_name, "n_ctx": self.n_ctx,
                "ctx_width": self.ctx_width, "image_dim": self.image_dim, "class_specific": self.class_specific,
                "classnames": self.classnames}

    def save(self, path) -> None:
        """Write the learned tensors and `metadata()` to a safetensors file, atomically."""
        save_learner(self, path)

    def load(self, path):
        """Load learned tensors written by `save`; a clear ValueError if they belong to another learner."""
        return load_learner(self, path)
