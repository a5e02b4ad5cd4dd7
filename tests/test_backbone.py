import os
import socket

import open_clip
import pytest
import torch

from tmml_lite import backbone, load_clip
from tmml_lite.text_encoder import PromptTextEncoder


def test_profile_is_automatic_and_overridable(monkeypatch):
    monkeypatch.delenv("TMML_PROFILE", raising=False)
    assert backbone.get_profile() == ("full" if torch.cuda.is_available() else "tiny")
    monkeypatch.setenv("TMML_PROFILE", "full")
    assert backbone.get_profile() == "full"
    monkeypatch.setenv("TMML_PROFILE", "huge")
    with pytest.raises(ValueError, match="'tiny'.*'full'"):
        backbone.get_profile()


def test_tiny_model_is_registered_with_open_clip():
    assert backbone.TINY_MODEL in open_clip.list_models()
    model = open_clip.create_model(backbone.TINY_MODEL)
    assert isinstance(model, open_clip.model.CLIP)


def test_load_clip_tiny_gives_frozen_pretrained_model(tiny):
    model, preprocess, tokenizer = tiny
    assert not any(p.requires_grad for p in model.parameters())
    random = backbone.create_tiny(checkpoint=None).model
    assert not torch.equal(random.token_embedding.weight, model.token_embedding.weight)


def test_a_tiny_checkpoint_is_loaded_from_its_path(tiny):
    """`pretrained` may name a checkpoint written by `python -m tmml_lite pretrain --out FILE` (a candidate
    backbone); anything else that is not the shipped one or None is refused with what to give."""
    again = load_clip(pretrained=str(backbone.TINY_CHECKPOINT), profile="tiny").model
    assert torch.equal(again.token_embedding.weight, tiny.model.token_embedding.weight)
    with pytest.raises(ValueError, match="path of a .safetensors file"):
        load_clip(pretrained="openai", profile="tiny")


def test_unknown_model_lists_tiny_models_and_points_to_open_clip():
    with pytest.raises(ValueError) as err:
        load_clip("ViT-Q-99")
    assert backbone.TINY_MODEL in str(err.value) and "open_clip.list_models()" in str(err.value)


def test_a_tiny_model_without_shipped_weights_is_not_silently_random():
    other = [m for m in backbone.TINY_MODELS if m != backbone.TINY_MODEL][0]
    with pytest.raises(ValueError, match="no checkpoint ships"):
        load_clip(other, profile="tiny")
    model = load_clip(other, pretrained=None, profile="tiny").model
    assert isinstance(model, open_clip.model.CLIP)


def test_model_without_spliceable_text_tower_is_refused():
    cfg = open_clip.get_model_config(backbone.TINY_MODEL)
    custom = open_clip.CustomTextCLIP(cfg["embed_dim"], cfg["vision_cfg"], cfg["text_cfg"])
    with pytest.raises(TypeError, match="no spliceable text tower"):
        backbone.check_spliceable(custom, "CustomTextCLIP")
    with pytest.raises(TypeError, match="Hugging Face"):
        PromptTextEncoder(custom)


def test_vit_b16_random_weights_through_the_same_loader(vit_b16_random):
    model, preprocess, tokenizer = vit_b16_random  # load_clip("ViT-B-16", pretrained=None, profile="full")
    from PIL import Image
    image = preprocess(Image.new("RGB", (64, 48), (200, 30, 30))).unsqueeze(0)
    with torch.no_grad():
        image_features = model.encode_image(image)
        tokens = tokenizer(["a photo of a red circle."])
        text_features = model.encode_text(tokens)
        ours = PromptTextEncoder(model).encode_tokens(tokens)
    assert image_features.shape == text_features.shape == (1, 512)
    torch.testing.assert_close(ours, text_features, atol=1e-5, rtol=1e-5)


# --- the full profile's pretrained weights: QuickGELU, the local cache, a clear error offline -------------------

def activations(model) -> set[str]:
    """The class names of the activation modules in the MLPs of both towers."""
    return {type(m).__name__ for m in model.modules() if type(m).__name__ in ("GELU", "QuickGELU")}


def block_sockets(monkeypatch):
    def refuse(*args, **kwargs):
        raise OSError("network is unreachable (sockets blocked by the test)")
    for target, name in ((socket.socket, "connect"), (socket.socket, "connect_ex"), (socket, "create_connection"),
                         (socket, "getaddrinfo")):
        monkeypatch.setattr(target, name, refuse)


def standin_hub_cache(root, repo_id="timm/vit_base_patch16_clip_224.openai",
                      filename="open_clip_model.safetensors"):
    """A Hugging Face cache in the layout huggingface_hub writes (refs/main -> snapshots/<commit>/<file>),
    holding a stand-in weights file; returns its path."""
    folder = root / ("models--" + repo_id.replace("/", "--"))
    commit = "0" * 40
    (folder / "refs").mkdir(parents=True)
    (folder / "refs" / "main").write_text(commit)
    path = folder / "snapshots" / commit / filename
    path.parent.mkdir(parents=True)
    path.write_bytes(b"stand-in")
    return path


def test_openai_weights_build_quick_gelu_and_load_from_the_cache_offline(tmp_path, monkeypatch, recwarn):
    import huggingface_hub.constants
    import open_clip.factory
    cached = standin_hub_cache(tmp_path)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path))
    block_sockets(monkeypatch)
    loaded = []  # open_clip's loader gets the cached file; a random ViT-B-16 stays random (no 600 MB stand-in)
    monkeypatch.setattr(open_clip.factory, "load_checkpoint", lambda model, path, **kw: loaded.append(path) or {})
    model = load_clip("ViT-B-16", pretrained="openai", profile="full").model
    assert [os.path.realpath(p) for p in loaded] == [os.path.realpath(cached)]
    assert activations(model) == {"QuickGELU"}
    assert not [w for w in recwarn if "QuickGELU" in str(w.message)]


def test_random_weights_keep_the_config_activation(vit_b16_random):
    """Only the openai weights switch ViT-B-16 to QuickGELU (above); random weights keep the config's GELU."""
    assert activations(vit_b16_random.model) == {"GELU"}


def test_weights_are_taken_from_the_cache_or_downloaded_only_when_the_hub_answers(tmp_path, monkeypatch):
    import huggingface_hub.constants
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path))
    monkeypatch.setattr(backbone, "reachable", lambda url, timeout=5.0: True)
    assert backbone.check_weights_available("ViT-B-16", "openai") == "download"
    monkeypatch.setattr(backbone, "reachable", lambda url, timeout=5.0: False)
    with pytest.raises(backbone.WeightsUnavailableError, match="TMML_PROFILE=tiny"):
        backbone.check_weights_available("ViT-B-16", "openai")
    standin_hub_cache(tmp_path, filename="open_clip_pytorch_model.bin")  # the older file name counts too
    assert backbone.check_weights_available("ViT-B-16", "openai") == "cache"


def test_an_unknown_pretrained_tag_lists_the_known_tags():
    with pytest.raises(ValueError) as err:
        load_clip("ViT-B-16", pretrained="opneai", profile="full")
    assert "'opneai'" in str(err.value) and "openai" in str(err.value) and "laion2b_s34b_b88k" in str(err.value)
