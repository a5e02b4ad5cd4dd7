import os

import pytest

os.environ.setdefault("TMML_PROFILE", "tiny")


@pytest.fixture(scope="session")
def tiny():
    """The shipped, pretrained TinyCLIP (model, preprocess, tokenizer)."""
    from tmml_lite import load_clip
    return load_clip(profile="tiny")
