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


def test_vit_b16_random_weights_through_the_same_loader():
    model, preprocess, tokenizer = load_clip("ViT-B-16", pretrained=None, profile="full")
    from PIL import Image
    image = preprocess(Image.new("RGB", (64, 48), (200, 30, 30))).unsqueeze(0)
    with torch.no_grad():
        image_features = model.encode_image(image)
        tokens = tokenizer(["a photo of a red circle."])
        text_features = model.encode_text(tokens)
        ours = PromptTextEncoder(model).encode_tokens(tokens)
    assert image_features.shape == text_features.shape == (1, 512)
    torch.testing.assert_close(ours, text_features, atol=1e-5, rtol=1e-5)
