import os

import pytest

os.environ.setdefault("TMML_PROFILE", "tiny")


@pytest.fixture(scope="session")
def tiny():
    """The shipped, pretrained TinyCLIP (model, preprocess, tokenizer)."""
    from tmml_lite import load_clip
    return load_clip(profile="tiny")


@pytest.fixture(scope="session")
def vit_b16_random():
    """open_clip ViT-B-16 with random weights (builds offline): the full profile's shapes, without a download."""
    from tmml_lite import load_clip
    return load_clip("ViT-B-16", pretrained=None, profile="full")
