import torch

from tmml_lite.text_encoder import PromptTextEncoder, eot_index


def test_eot_is_argmax_of_token_ids(tiny):
    _, _, tokenizer = tiny
    tokens = tokenizer(["a red circle", "a photo of a large blue outlined star on a striped background"])
    eot = eot_index(tokens)
    assert (tokens[torch.arange(2), eot] == tokens.max()).all()
    assert eot[0] < eot[1]


def test_truncated_encoder_equals_open_clip_encode_text(tiny):
    model, _, tokenizer = tiny
    tokens = tokenizer(["a red circle", "the number seven", "three small green crosses on a grid background"])
    encoder = PromptTextEncoder(model)
    with torch.no_grad():
        reference = model.encode_text(tokens)
        torch.testing.assert_close(encoder.encode_tokens(tokens, truncate=False), reference, atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(encoder.encode_tokens(tokens), reference, atol=1e-5, rtol=1e-5)
