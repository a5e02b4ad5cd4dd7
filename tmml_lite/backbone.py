"""Loading CLIP: our pretrained TinyCLIP in the `tiny` profile, any open_clip CLIP in the `full` profile.

For example::

    # profile chosen automatically
    model, preprocess, tokenizer = load_clip()
    model, preprocess, tokenizer = load_clip("ViT-B-16", pretrained="openai")

The tiny model configs live in `tmml_lite/assets/*.json` and are registered with `open_clip.add_model_config`,
so `open_clip.create_model("TinyCLIP-P4")` works like any other model name.
"""

from __future__ import annotations

import logging
import os
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import open_clip
import torch
from open_clip.constants import HF_SAFE_WEIGHTS_NAME, HF_WEIGHTS_NAME
from torchvision import transforms

from .checkpoint import load_metadata

ASSETS = Path(__file__).parent / "assets"
TINY_MODEL = "TinyCLIP-P8"
# World v4's backbone, frozen with its premise table before any CoCoOp or TMML run on it (the book's reproduce
# page, design log "v4d"); `python -m tmml_lite pretrain` regenerates it.
TINY_CHECKPOINT = ASSETS / f"{TINY_MODEL}.safetensors"
TINY_MODELS = tuple(sorted(p.stem for p in (ASSETS / "model_configs").glob("TinyCLIP-*.json")))
FULL_MODEL, FULL_PRETRAINED = "ViT-B-16", "openai"
PROFILES = ("tiny", "full")
# The tiny profile computes in float64. In float32 a CPU's sums depend on its thread count and vector width, and a
# few hundred SGD steps grow those last-bit differences into a few tenths of a point of accuracy (CoOp, textures,
# seed 1: 86.1 / 84.2 with one thread, 85.9 / 84.3 with two); in float64 the learned contexts stay within 1e-11,
# so a reader's laptop prints the book's numbers (`python -m tmml_lite thread-check`). It costs little on a model
# this small (the reproduce page measures it).
TINY_DTYPE = torch.float64

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


def full_precision(x: torch.Tensor) -> torch.Tensor:
    """`x` in float32, or float64 if it already is: undoes autocast's fp16/bf16 without narrowing float64."""
    return x if x.dtype == torch.float64 else x.float()


def _tiny_preprocess(model, dtype: torch.dtype) -> transforms.Compose:
    """PIL image -> (3, S, S) tensor in the model's dtype, resized and normalised as in pretraining."""
    mean, std = model.visual.preprocess_cfg["mean"], model.visual.preprocess_cfg["std"]
    size = model.visual.image_size
    size = size[0] if isinstance(size, (tuple, list)) else size
    return transforms.Compose([transforms.Resize(size), transforms.CenterCrop(size), transforms.ToTensor(),
                               transforms.Normalize(mean, std),
                               transforms.ConvertImageDtype(dtype)])


def create_tiny(name: str = TINY_MODEL, checkpoint: str | Path | None = TINY_CHECKPOINT,
                dtype: torch.dtype = torch.float32) -> Backbone:
    """A TinyCLIP from its config in `dtype` (its preprocess gives images in that dtype too); weights from
    `checkpoint` (safetensors) unless it is None (random init). `load_clip` makes it float64 (`TINY_DTYPE`)."""
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
    model.to(dtype).eval()
    return Backbone(model, _tiny_preprocess(model, dtype), open_clip.get_tokenizer(name), name)


def load_clip(model_name: str | None = None, pretrained: str | None = "default", device=None,
              profile: str | None = None) -> Backbone:
    """Load a frozen CLIP: returns Backbone(model, preprocess, tokenizer), which unpacks as a 3-tuple.

    Args:
        model_name: a TinyCLIP name (tiny profile) or any open_clip model name; default from the profile.
        pretrained: open_clip pretrained tag (e.g. "openai"), None for random weights; "default" means the
            shipped TinyCLIP checkpoint in the tiny profile and "openai" for ViT-B-16 in the full profile; for a
            TinyCLIP, also the path of a checkpoint written by `python -m tmml_lite pretrain --out FILE`.
    """
    profile = profile or get_profile()
    if profile not in PROFILES:
        raise ValueError(f"unknown profile {profile!r}; use one of {PROFILES}")
    if model_name is None:
        model_name = TINY_MODEL if profile == "tiny" else FULL_MODEL
    if model_name in TINY_MODELS:
        if pretrained not in ("default", None) and not str(pretrained).endswith(".safetensors"):
            raise ValueError(f"{model_name} has one shipped checkpoint, ours; use pretrained='default', None "
                             f"(random) or the path of a .safetensors file written by `python -m tmml_lite pretrain`")
        if pretrained == "default" and model_name != TINY_MODEL:
            raise ValueError(f"no checkpoint ships for {model_name} (only for {TINY_MODEL}); train one with "
                             f"`python -m tmml_lite pretrain --model {model_name} --out FILE` and load it with "
                             f"tmml_lite.backbone.create_tiny({model_name!r}, FILE), or pass pretrained=None")
        backbone = create_tiny(model_name, TINY_CHECKPOINT if pretrained == "default" else pretrained, TINY_DTYPE)
    else:
        if model_name not in open_clip.list_models():
            raise ValueError(f"unknown model {model_name!r}. Tiny models (offline, CPU): {', '.join(TINY_MODELS)}; "
                             f"any open_clip name also works, see open_clip.list_models() "
                             f"(e.g. 'ViT-B-16' with pretrained='openai')")
        if pretrained == "default":
            pretrained = FULL_PRETRAINED if model_name == FULL_MODEL else None
        backbone = _create_open_clip(model_name, pretrained)
    check_spliceable(backbone.model, model_name)
    model = backbone.model.eval().requires_grad_(False)
    if device is not None:
        model.to(device)
    return backbone


class WeightsUnavailableError(RuntimeError):
    """Pretrained weights that are neither in open_clip's local cache nor downloadable from here."""


def _create_open_clip(model_name: str, pretrained: str | None) -> Backbone:
    """An open_clip CLIP with the activation its weights were trained with, weights from the cache when there."""
    quick_gelu, offline = False, False
    if pretrained is not None and not Path(pretrained).is_file():  # open_clip also takes a weights file
        tag = open_clip.get_pretrained_cfg(model_name, pretrained)
        if not tag:
            known = open_clip.list_pretrained_tags_by_model(model_name)
            raise ValueError(f"open_clip knows no pretrained tag {pretrained!r} for {model_name}; its tags: "
                             f"{', '.join(known) if known else 'none (use pretrained=None for random weights)'}")
        # OpenAI's checkpoints (and a few others) were trained with QuickGELU, but a config such as ViT-B-16
        # uses nn.GELU and open_clip only warns about the mismatch: follow the tag, never the warning.
        quick_gelu = bool(tag.get("quick_gelu", False))
        offline = check_weights_available(model_name, pretrained) == "cache"
    with _hub_offline(offline), _warnings_off(pretrained is None):
        # with pretrained=None open_clip warns that it loaded no weights: exactly what was asked for
        model, _, preprocess = open_clip.create_model_and_transforms(model_name, pretrained=pretrained,
                                                                     force_quick_gelu=quick_gelu)
    return Backbone(model, preprocess, open_clip.get_tokenizer(model_name), model_name)


@contextmanager
def _warnings_off(off: bool):
    """Silence logging's warnings for a block when `off`."""
    if not off:
        yield
        return
    logging.disable(logging.WARNING)
    try:
        yield
    finally:
        logging.disable(logging.NOTSET)


def _hub_repo(model_name: str, pretrained: str) -> tuple[str, str] | None:
    """(repo id, file name or "") of a tag on the Hugging Face hub, which open_clip prefers when it has one."""
    hub = open_clip.get_pretrained_cfg(model_name, pretrained).get("hf_hub")
    return os.path.split(hub) if hub and open_clip.pretrained.has_hf_hub() else None


def _weights_source(model_name: str, pretrained: str) -> tuple[str, Path]:
    """Where open_clip downloads the weights of a pretrained tag from, and the cache folder it keeps them in."""
    hub = _hub_repo(model_name, pretrained)
    if hub:
        from huggingface_hub import constants
        folder = Path(constants.HF_HUB_CACHE) / f"models--{hub[0].replace('/', '--')}"
        return f"{constants.ENDPOINT}/{hub[0]}", folder
    return open_clip.get_pretrained_url(model_name, pretrained), Path("~/.cache/clip").expanduser()


def cached_weights(model_name: str, pretrained: str) -> Path | None:
    """The weights file of an open_clip pretrained tag in the local cache (where open_clip looks), or None."""
    hub = _hub_repo(model_name, pretrained)
    if hub:
        from huggingface_hub import try_to_load_from_cache
        repo_id, filename = hub
        for name in [filename] if filename else [HF_SAFE_WEIGHTS_NAME, HF_WEIGHTS_NAME]:  # open_clip's order
            path = try_to_load_from_cache(repo_id, name)
            if isinstance(path, str):
                return Path(path)
        return None
    url, folder = _weights_source(model_name, pretrained)
    path = folder / os.path.basename(url)
    return path if path.is_file() else None


def reachable(url: str, timeout: float = 5.0) -> bool:
    """Does `url` answer within `timeout` seconds (any HTTP status counts; proxies from the environment apply)?"""
    import threading
    import urllib.error
    import urllib.request
    answer = []

    def probe():
        try:
            urllib.request.urlopen(urllib.request.Request(url, method="HEAD"), timeout=timeout).close()
            answer.append(True)
        except urllib.error.HTTPError:
            answer.append(True)  # the server answered, with an error status
        except Exception:  # noqa: BLE001 - no route, no DNS, refused, timed out: all mean unreachable
            answer.append(False)
    # a thread, because name resolution ignores the socket timeout and can hang much longer
    thread = threading.Thread(target=probe, daemon=True)
    thread.start()
    thread.join(timeout)
    return bool(answer and answer[0])


def check_weights_available(model_name: str, pretrained: str, timeout: float = 5.0) -> str:
    """"cache" if the weights of the tag are in open_clip's local cache, "download" if their source answers
    within `timeout`; otherwise raise WeightsUnavailableError, before open_clip's own retries (a minute)."""
    if cached_weights(model_name, pretrained) is not None:
        return "cache"
    from huggingface_hub import constants
    source, folder = _weights_source(model_name, pretrained)
    if not constants.HF_HUB_OFFLINE and reachable(source, timeout):
        return "download"
    if _hub_repo(model_name, pretrained):
        where = (f"the Hugging Face cache ($HF_HUB_CACHE, else $HF_HOME/hub, by default ~/.cache/huggingface/hub), "
                 f"in its folder {folder.name}")
    else:
        where = f"{folder} (open_clip's cache for downloads by URL)"
    raise WeightsUnavailableError(
        f"{model_name} with pretrained={pretrained!r} needs weights that are not in open_clip's local cache, "
        f"and {source} cannot be reached from this machine{' (HF_HUB_OFFLINE is set)' * constants.HF_HUB_OFFLINE}.\n"
        f"open_clip keeps these weights in {where}; here that is {folder}.\n"
        f"To fill it, run on a machine with internet\n"
        f"    python -c \"import open_clip; open_clip.create_model({model_name!r}, pretrained={pretrained!r})\"\n"
        f"then copy {folder.name} from that machine's cache into {folder.parent} here (or set HF_HOME to a copy of "
        f"that machine's Hugging Face folder).\n"
        f"Without these weights, TMML_PROFILE=tiny runs everything offline on the CPU with TinyCLIP, which ships "
        f"with the package.")


@contextmanager
def _hub_offline(offline: bool):
    """Let the Hugging Face hub read only its local cache while open_clip loads weights found there: offline,
    a lookup of a file the cache lacks (open_clip tries safetensors first) would otherwise retry for a minute."""
    from huggingface_hub import constants
    previous = constants.HF_HUB_OFFLINE
    constants.HF_HUB_OFFLINE = previous or offline
    try:
        yield
    finally:
        constants.HF_HUB_OFFLINE = previous


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
