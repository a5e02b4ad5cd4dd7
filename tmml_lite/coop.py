"""CoOp (Zhou et al., IJCV 2022): learn the words of the prompt instead of writing them.

A hand-written prompt "a photo of a {class}." becomes the token sequence::

    [SOS] [v_1] [v_2] ... [v_M] [class name tokens] [.] [EOT] [padding]
    prefix      ctx (learned)          suffix

The M context vectors `ctx` are free parameters in the token-embedding space; everything else comes from the
class name and stays fixed. `prefix` and `suffix` are buffers rebuilt from the class names by `set_classnames`,
so a context learned on base classes is scored on new classes by swapping the class list. Both CLIP towers are
frozen: the only trainable tensor is `ctx`. For example::

    learner = CoOp(backbone, ["circle", "square"])          # ctx initialised from "a photo of a"
    logits = learner(images)                                # (B, 2)
    learner.set_classnames(["star", "heart", "ring"])       # same ctx, other classes
    logits = learner(images)                                # (B, 3)
"""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.checkpoint import checkpoint

from .checkpoint import load_metadata, load_tensors, save_tensors
from .data import check_classnames, image_batches
from .text_encoder import PromptTextEncoder, eot_index

CTX_PLACEHOLDER = "X"  # one BPE token; stands where the context vectors go while the class buffers are built


@contextlib.contextmanager
def seeded(seed: int | None):
    """Run a block with torch's CPU generator seeded, then give the caller its own generator state back."""
    if seed is None:
        yield
        return
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield


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
    """The fixed parts of every class prompt "[SOS] X*n_ctx {name}. [EOT]", embedded.

    Returns {"class_token_ids" (C, L), "token_prefix" (C, 1, width) = the SOS embedding,
    "token_suffix" (C, L - 1 - n_ctx, width) = name, ".", EOT and padding, "eot" (C,)}.
    With `truncate`, L stops right after the longest EOT (the causal mask makes later tokens irrelevant);
    without, L is the model's full context length (77).
    """
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


class CoOp(nn.Module):
    """CoOp prompt learner over a frozen open_clip CLIP: images (B, 3, H, W) or image features (B, D) ->
    logits (B, C) over the current class list.

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

    image_features_cacheable = True  # the image tower is frozen and nothing image-side is learned
    compatibility_keys = ("n_ctx", "class_specific")  # metadata a saved learner must share to be loaded

    def __init__(self, backbone, classnames, n_ctx: int | None = None, ctx_init: str | None = "a photo of a",
                 class_specific: bool = False, truncate: bool = True, seed: int | None = 0):
        super().__init__()
        model, self.preprocess, self.tokenizer = backbone
        self.backbone_name = getattr(backbone, "name", type(model).__name__)
        self.clip = model.eval().requires_grad_(False)  # both towers frozen
        self.text_encoder = PromptTextEncoder(model)
        self.class_specific, self.truncate = class_specific, truncate
        classnames = check_classnames(classnames)
        token_embedding = model.token_embedding
        self.ctx_width = token_embedding.embedding_dim  # read from the model: 128 for TinyCLIP, 512 for ViT-B-16
        self.image_dim = model.visual.output_dim

        shape = (len(classnames),) if class_specific else ()  # class-specific: one context per class
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
        self.ctx = nn.Parameter(ctx.to(token_embedding.weight.device))
        self.classnames: list[str] = []
        self.set_classnames(classnames)

    # --- the class list -------------------------------------------------------------------------------

    def set_classnames(self, classnames) -> None:
        """Rebuild the class-dependent buffers (prefix, suffix, EOT index) for another class list."""
        classnames = check_classnames(classnames)
        if self.class_specific and self.classnames and classnames != self.classnames:
            raise ValueError(f"this CoOp has a class-specific context learned for {self.classnames}; it cannot "
                             f"score other classes ({classnames}). Use CoOp(..., class_specific=False), a "
                             f"unified context, to evaluate on new classes")
        buffers = class_token_buffers(self.tokenizer, self.clip.token_embedding, classnames, self.n_ctx,
                                      self.truncate)
        for name, tensor in buffers.items():  # not persistent: they are a function of the class names
            self.register_buffer(name, tensor, persistent=False)
        self.classnames = classnames

    @property
    def n_classes(self) -> int:
        return len(self.classnames)

    # --- forward ----------------------------------------------------------------------------------------

    def prompts(self) -> torch.Tensor:
        """Prompt embeddings (C, L, width): prefix | ctx | suffix."""
        ctx = self.ctx
        if ctx.dim() == 2:  # unified: one context shared by every class
            ctx = ctx.expand(self.n_classes, -1, -1)  # (C, M, width)
        return torch.cat([self.token_prefix, ctx, self.token_suffix], dim=1)

    def encode_text(self) -> torch.Tensor:
        """Unit-norm class text features (C, D) of the learned prompts."""
        return F.normalize(self.text_encoder(self.prompts(), self.eot, truncate=self.truncate), dim=-1)

    @torch.no_grad()
    def frozen_inputs(self, images: torch.Tensor) -> torch.Tensor:
        """What the frozen image tower gives for images (B, 3, H, W), the part of the forward pass that can be
        computed once and cached: here the unit-norm image features (B, D)."""
        return F.normalize(self.clip.encode_image(images).float(), dim=-1)

    def cache_inputs(self, images, batch_size: int = 256) -> torch.Tensor:
        """`frozen_inputs` (fp32) of images (uint8 (N, H, W, 3) or PIL images), preprocessed and encoded in
        batches."""
        return torch.cat([self.frozen_inputs(x).float()
                          for x in image_batches(images, self.preprocess, batch_size, self.ctx.device)])

    def encode_image(self, images_or_features: torch.Tensor) -> torch.Tensor:
        """Unit-norm image features (B, D) from images (B, 3, H, W) or from (cached) features (B, D)."""
        if images_or_features.dim() == 2:
            features = images_or_features
        else:
            features = self.frozen_inputs(images_or_features)
        return F.normalize(features.float(), dim=-1)

    def training_loss(self, inputs: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """The loss `fit` minimises on a batch: cross-entropy of the logits."""
        return F.cross_entropy(self(inputs), labels.to(self.ctx.device))

    def class_text_features(self, shifts: torch.Tensor, classes: slice) -> torch.Tensor:
        """Unit-norm text features (B, c, D) of the classes in `classes`, one prompt per (image, class), whose
        context is ctx + shifts: shifts (B, c, width) hold one shift per image and class (CoCoOp: the same
        for every class; CTP: a different one). Needs a unified context."""
        prefix, suffix, eot = self.token_prefix[classes], self.token_suffix[classes], self.eot[classes]
        n_images, n_classes = shifts.shape[:2]
        prompts = torch.cat([
            prefix.expand(n_images, -1, -1, -1),  # (B, c, 1, width)
            self.ctx + shifts[:, :, None, :],  # (B, c, M, width)
            suffix.expand(n_images, -1, -1, -1),  # (B, c, S, width)
        ], dim=2).flatten(0, 1)  # (B * c, L, width)
        features = self.text_encoder(prompts, eot.repeat(n_images), truncate=self.truncate)  # (B * c, D)
        return F.normalize(features, dim=-1).view(n_images, n_classes, -1)

    def shifted_text_features(self, shifts: torch.Tensor, class_chunk: int) -> torch.Tensor:
        """`class_text_features` of all classes, (B, C, D), `class_chunk` classes per text-encoder pass. When
        training needs several passes, each is recomputed in the backward pass (activation checkpointing), so
        memory stays at about one chunk of B x class_chunk prompts whatever the number of classes."""
        several_passes = self.n_classes > class_chunk
        chunks = []
        for start in range(0, self.n_classes, class_chunk):
            classes = slice(start, start + class_chunk)
            if several_passes and torch.is_grad_enabled():
                chunks.append(checkpoint(self.class_text_features, shifts[:, classes], classes, use_reentrant=False))
            else:
                chunks.append(self.class_text_features(shifts[:, classes], classes))
        return chunks[0] if len(chunks) == 1 else torch.cat(chunks, dim=1)

    def text_features(self, images_or_features: torch.Tensor) -> torch.Tensor:
        """The unit-norm class text features (B, C, D) each image is scored against: for CoOp, the same C
        features for every image (an expanded view, no copy)."""
        return self.encode_text()[None].expand(images_or_features.shape[0], -1, -1)

    def forward(self, images_or_features: torch.Tensor) -> torch.Tensor:
        image_features = self.encode_image(images_or_features)  # (B, D)
        text_features = self.encode_text()  # (C, D)
        return self.clip.logit_scale.exp() * image_features @ text_features.t()  # (B, C)

    def train(self, mode: bool = True):
        super().train(mode)
        self.clip.eval()  # the frozen towers always run in inference mode
        return self

    # --- saving only what was learned -----------------------------------------------------------------

    def state_dict_to_save(self) -> dict[str, torch.Tensor]:
        """The learned tensors only (a few KB), not the frozen CLIP weights."""
        return {name: p.detach() for name, p in self.named_parameters() if p.requires_grad}

    def metadata(self) -> dict:
        """What a saved learner must match to be loaded again."""
        return {"method": type(self).__name__, "backbone": self.backbone_name, "n_ctx": self.n_ctx,
                "ctx_width": self.ctx_width, "image_dim": self.image_dim, "class_specific": self.class_specific,
                "classnames": self.classnames}

    def save(self, path: str | Path, extra: dict | None = None) -> None:
        """Write the learned tensors and `metadata()` (plus `extra`) to a safetensors file, atomically."""
        metadata = {**self.metadata(), **(extra or {})}
        save_tensors(path, self.state_dict_to_save(), {k: json.dumps(v) for k, v in metadata.items()})

    def load(self, path: str | Path):
        """Load learned tensors written by `save`; a clear ValueError if they belong to another learner."""
        saved = {k: json.loads(v) for k, v in load_metadata(path).items()}
        self.check_compatible(saved, source=str(path))
        self.load_learned(load_tensors(path), source=str(path))
        return self

    def check_compatible(self, saved: dict, source: str = "the checkpoint") -> None:
        """Raise a ValueError that says what to do when `saved` metadata does not fit this learner."""
        mine = self.metadata()
        if "method" not in saved:
            raise ValueError(f"{source} is not a saved prompt learner (its header has no learner metadata); "
                             f"give a file written by learner.save(...) or fit(..., run_dir=...)")
        if saved.get("method") != mine["method"]:
            raise ValueError(f"{source} holds a {saved.get('method')} learner, not a {mine['method']}; build a "
                             f"{saved.get('method')} to load it")
        if (saved.get("backbone"), saved.get("ctx_width"), saved.get("image_dim")) != \
                (mine["backbone"], mine["ctx_width"], mine["image_dim"]):
            raise ValueError(f"{source} was learned on backbone {saved.get('backbone')} (context width "
                             f"{saved.get('ctx_width')}, image dim {saved.get('image_dim')}), but this learner "
                             f"uses {mine['backbone']} (context width {mine['ctx_width']}, image dim "
                             f"{mine['image_dim']}). Prompts only make sense for the CLIP they were learned "
                             f"with: load that backbone (load_clip({saved.get('backbone')!r}, ...)) or train "
                             f"a new learner")
        for key in self.compatibility_keys:
            if saved.get(key) != mine[key]:
                raise ValueError(f"{source} has {key}={saved.get(key)} but this learner has {key}={mine[key]}; "
                                 f"build the learner with {key}={saved.get(key)}")
        if mine["class_specific"] and saved.get("classnames") != mine["classnames"]:
            raise ValueError(f"{source} holds class-specific contexts for {saved.get('classnames')}, not for "
                             f"{mine['classnames']}; build the learner with those class names")

    def load_learned(self, tensors: dict[str, torch.Tensor], source: str = "the checkpoint") -> None:
        """Copy learned tensors into this learner's parameters (names and shapes must match exactly)."""
        params = dict(self.named_parameters())
        expected = set(self.state_dict_to_save())
        if set(tensors) != expected:
            raise ValueError(f"{source} has tensors {sorted(tensors)} but this learner learns {sorted(expected)}")
        with torch.no_grad():
            for name, value in tensors.items():
                if value.shape != params[name].shape:
                    raise ValueError(f"{source}: {name} has shape {tuple(value.shape)}, this learner needs "
                                     f"{tuple(params[name].shape)}")
                params[name].copy_(value)
