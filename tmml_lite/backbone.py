"""Loading CLIP: our pretrained TinyCLIP in the `tiny` profile, any open_clip CLIP in the `full` profile.

For example::

    model, preprocess, tokenizer = load_clip()          # profile chosen automatically
    model, preprocess, tokenizer = load_clip("ViT-B-16", pretrained="openai")

The tiny model configs live in `tmml_lite/assets/*.json` and are registered with `open_clip.add_model_config`,
so `open_clip.create_model("TinyCLIP-P4")` works like any other model name.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import open_clip
import torch
from torchvision import transforms

from .checkpoint import load_metadata

ASSETS = Path(__file__).parent / "assets"
TINY_MODEL = "TinyCLIP-P8"
TINY_CHECKPOINT = ASSETS / f"{TINY_MODEL}.safetensors"
TINY_MODELS = tuple(sorted(p.stem for p in (ASSETS / "model_configs").glob("TinyCLIP-*.json")))
FULL_MODEL, FULL_PRETRAINED = "ViT-B-16", "openai"
PROFILES = ("tiny", "full")

open_clip.add_model_config(ASSETS / "model_configs")


def get_profile() -> str:
    """The active profile: $TMML_PROFILE if set, else "full" with CUDA and "tiny" without."""
    profile = os.environ.get("TMML_PROFILE", "").strip().lower()
    if not profile:
        return "full" if torch.cuda.is_available() else "tiny"
    if profile not in PROFILES:
        raise ValueError(f"TMML_PROFILE={os.environ['TMML_PROFILE']!r} is not a profile; "
                         f"set it to 'tiny' (TinyCLIP, CPU, offline) or 'full' (open_clip ViT-B-16, GPU), "
                         f"or unset it to choose automatically")
    return profile


@dataclass
class Backbone:
    """A frozen CLIP with what goes with it. Unpacks as (model, preprocess, tokenizer)."""
    model: open_clip.model.CLIP
    preprocess: transforms.Compose
    tokenizer: object
    name: str
    pretrained: str | None

    def __iter__(self):
        return iter((self.model, self.preprocess, self.tokenizer))


def check_spliceable(model: torch.nn.Module, name: str = "model") -> None:
    """Raise a clear error unless `model` has the open_clip CLIP text tower we splice prompts into."""
    needed = ("token_embedding", "positional_embedding", "transformer", "ln_final", "text_projection", "attn_mask")
    missing = [a for a in needed if getattr(model, a, None) is None]
    if missing:
        raise TypeError(
            f"{name} has no spliceable text tower (missing {', '.join(missing)}). Prompt learning here needs an "
            f"open_clip `CLIP` with its own token_embedding / transformer / ln_final (e.g. ViT-B-16); models with "
            f"a Hugging Face text tower (CustomTextCLIP, e.g. 'xlm-roberta' or 'hf-' models) are not supported.")


def _tiny_preprocess(model) -> transforms.Compose:
    mean, std = model.visual.preprocess_cfg["mean"], model.visual.preprocess_cfg["std"]
    size = model.visual.image_size
    size = size[0] if isinstance(size, (tuple, list)) else size
    return transforms.Compose([transforms.Resize(size), transforms.CenterCrop(size),
                               transforms.ToTensor(), transforms.Normalize(mean, std)])


def create_tiny(name: str = TINY_MODEL, checkpoint: str | Path | None = TINY_CHECKPOINT) -> Backbone:
    """A TinyCLIP from its config; weights from `checkpoint` (safetensors) unless it is None (random init)."""
    if name not in TINY_MODELS:
        raise ValueError(f"unknown tiny model {name!r}; tiny models: {', '.join(TINY_MODELS)}")
    if checkpoint is not None:
        checkpoint = Path(checkpoint)
        if not checkpoint.exists():
            raise FileNotFoundError(f"no TinyCLIP checkpoint at {checkpoint}; regenerate it with "
                                    f"`python -m tmml_lite pretrain` (or `make pretrain`)")
        load_metadata(checkpoint)  # header only: a clear error for a file that is not safetensors
    # open_clip loads a local safetensors file given as `pretrained` (fp16 weights are cast to fp32)
    model = open_clip.create_model(name, pretrained=None if checkpoint is None else str(checkpoint))
    model.eval()
    return Backbone(model, _tiny_preprocess(model), open_clip.get_tokenizer(name), name,
                    str(checkpoint) if checkpoint is not None else None)


def load_clip(model_name: str | None = None, pretrained: str | None = "default", device=None,
              profile: str | None = None) -> Backbone:
    """Load a frozen CLIP: returns Backbone(model, preprocess, tokenizer), which unpacks as a 3-tuple.

    Args:
        model_name: a TinyCLIP name (tiny profile) or any open_clip model name; default from the profile.
        pretrained: open_clip pretrained tag (e.g. "openai"), None for random weights; "default" means the
            shipped TinyCLIP checkpoint in the tiny profile and "openai" for ViT-B-16 in the full profile.
    """
    profile = profile or get_profile()
    if profile not in PROFILES:
        raise ValueError(f"unknown profile {profile!r}; use one of {PROFILES}")
    if model_name is None:
        model_name = TINY_MODEL if profile == "tiny" else FULL_MODEL
    if model_name in TINY_MODELS:
        if pretrained not in ("default", None):
            raise ValueError(f"{model_name} has one checkpoint, ours; use pretrained='default' or None (random)")
        if pretrained == "default" and model_name != TINY_MODEL:
            raise ValueError(f"no checkpoint ships for {model_name} (only for {TINY_MODEL}); train one with "
                             f"`python -m tmml_lite pretrain --model {model_name} --out FILE` and load it with "
                             f"tmml_lite.backbone.create_tiny({model_name!r}, FILE), or pass pretrained=None")
        backbone = create_tiny(model_name, TINY_CHECKPOINT if pretrained == "default" else None)
    else:
        if model_name not in open_clip.list_models():
            raise ValueError(f"unknown model {model_name!r}. Tiny models (offline, CPU): {', '.join(TINY_MODELS)}; "
                             f"any open_clip name also works, see open_clip.list_models() "
                             f"(e.g. 'ViT-B-16' with pretrained='openai')")
        if pretrained == "default":
            pretrained = FULL_PRETRAINED if model_name == FULL_MODEL else None
        model, _, preprocess = open_clip.create_model_and_transforms(model_name, pretrained=pretrained)
        backbone = Backbone(model, preprocess, open_clip.get_tokenizer(model_name), model_name, pretrained)
    check_spliceable(backbone.model, model_name)
    model = backbone.model.eval().requires_grad_(False)
    if device is not None:
        model.to(device)
    return backbone


def encode_image_tokens(model, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The frozen image tower's pooled feature (B, D), equal to `model.encode_image`, and its patch tokens
    (B, P, D), both in the joint space: the tokens go through the same final norm and projection as the pooled
    one. Uses open_clip's public `output_tokens` switch of `VisionTransformer`."""
    visual = model.visual
    if not hasattr(visual, "output_tokens"):
        raise ValueError(f"{type(visual).__name__} cannot return patch tokens; patch-token methods need an "
                         f"open_clip VisionTransformer image tower (ViT-B-16, TinyCLIP)")
    previous = visual.output_tokens
    visual.output_tokens = True
    try:
        pooled, tokens = visual(images)
    finally:
        visual.output_tokens = previous
    if visual.proj is not None:
        tokens = tokens @ visual.proj
    return pooled, tokens
