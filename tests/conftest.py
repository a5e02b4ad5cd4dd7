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


@pytest.fixture(scope="session")
def small_digits():
    """The digits task with 4 test images per class instead of 300: quick runs through the whole protocol, for
    tests of machinery that does not need the full test split."""
    from dataclasses import replace

    from tmml_lite import world
    return replace(world.get_task("digits"), test_per_class=4)


@pytest.fixture(scope="session")
def small_shapes():
    """The shapes task with 50 test images per class instead of 300 (train and val splits unchanged)."""
    from dataclasses import replace

    from tmml_lite import world
    return replace(world.get_task("shapes"), test_per_class=50)
