import pytest
import torch

from tmml_lite import CoCoOp, CoOp, zeroshot
from tmml_lite.backbone import create_tiny
from tmml_lite.methods import SharedOffsetCoOp
from tmml_lite.text_encoder import eot_index

NAMES = ["circle", "square", "plus sign", "large blue outlined star"]  # names of 1 to 4 tokens


def test_splice_keeps_token_count_and_positions(tiny):
    model, _, tokenizer = tiny
    learner = CoOp(tiny, NAMES, ctx_init=None, truncate=False)
    prompts = learner.prompts()
    assert prompts.shape == (len(NAMES), model.context_length, model.token_embedding.embedding_dim)
    tokens = tokenizer([f"X X X X {name}." for name in NAMES])
    with torch.no_grad():
        embedded = model.token_embedding(tokens)
    m = learner.n_ctx
    assert torch.equal(prompts[:, :1], embedded[:, :1])  # SOS
    assert torch.equal(prompts[:, 1:1 + m], learner.ctx.expand(len(NAMES), -1, -1))  # the learned context
    assert torch.equal(prompts[:, 1 + m:], embedded[:, 1 + m:])  # name, ".", EOT, padding: same positions
    assert torch.equal(learner.eot, eot_index(tokens))


def test_eot_index_is_the_argmax_and_points_at_the_eot_token(tiny):
    learner = CoOp(tiny, NAMES)
    ids = learner.class_token_ids
    assert torch.equal(learner.eot, ids.argmax(dim=-1))
    assert (ids[torch.arange(len(NAMES)), learner.eot] == 49407).all()
    assert learner.eot.tolist() == sorted(learner.eot.tolist())  # longer names end later
    assert learner.prompts().shape[1] == int(learner.eot.max()) + 1  # truncated right after the longest EOT


def test_context_from_words_equals_zero_shot_clip_with_that_template(tiny):
    """Before training, CoOp initialised from "a photo of a" *is* zero-shot CLIP with "a photo of a {}."."""
    model, _, tokenizer = tiny
    learner = CoOp(tiny, NAMES, ctx_init="a photo of a")
    with torch.no_grad():
        expected = zeroshot.text_classifier(model, tokenizer, NAMES, ["a photo of a {}."])
        torch.testing.assert_close(learner.encode_text(), expected, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("backbone", ["tiny", "vit_b16_random"])
@pytest.mark.parametrize("method", [CoOp, CoCoOp])
def test_truncated_prompts_equal_the_full_77_token_path(backbone, method, request):
    backbone = request.getfixturevalue(backbone)
    features = torch.randn(2, backbone.model.visual.output_dim, generator=torch.Generator().manual_seed(0))
    short, full = (method(backbone, NAMES[:3], ctx_init=None, truncate=t) for t in (True, False))
    assert short.prompts().shape[1] < full.prompts().shape[1] == backbone.model.context_length
    scale = float(backbone.model.logit_scale.exp())  # logits are scaled cosines: compare the cosines
    with torch.no_grad():
        if method is CoOp:
            torch.testing.assert_close(short.encode_text(), full.encode_text(), atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(short.logits(features) / scale, full.logits(features) / scale, atol=1e-5, rtol=1e-5)


def test_dimensions_come_from_the_model(vit_b16_random, tiny):
    for backbone, width in ((tiny, 128), (vit_b16_random, 512)):
        learner = CoOp(backbone, NAMES)
        assert learner.ctx.shape == (4, width) == (4, backbone.model.token_embedding.embedding_dim)
        assert learner.logits(torch.randn(3, backbone.model.visual.output_dim)).shape == (3, len(NAMES))


def test_set_classnames_keeps_the_context_and_rebuilds_the_buffers(tiny):
    learner = CoOp(tiny, NAMES[:2])
    ctx = learner.ctx.detach().clone()
    features = torch.randn(5, tiny.model.visual.output_dim)
    assert learner.logits(features).shape == (5, 2)
    learner.set_classnames(NAMES)
    assert learner.logits(features).shape == (5, len(NAMES))
    assert torch.equal(learner.ctx, ctx) and learner.classnames == NAMES
    assert learner.token_suffix.shape[0] == len(NAMES)
    with pytest.raises(ValueError, match="duplicated"):
        learner.set_classnames(["circle", "circle"])


def test_images_and_their_features_give_the_same_logits(tiny):
    model, preprocess, _ = tiny
    learner = CoOp(tiny, NAMES)
    images = torch.randn(3, 3, 32, 32, dtype=learner.dtype)
    with torch.no_grad():
        torch.testing.assert_close(learner(images), learner.logits(model.encode_image(images)))


@pytest.mark.parametrize("class_specific", [False, True])
def test_only_the_context_receives_gradients(tiny, class_specific):
    learner = CoOp(tiny, NAMES, class_specific=class_specific).train()
    logits = learner(torch.randn(4, 3, 32, 32))
    torch.nn.functional.cross_entropy(logits, torch.tensor([0, 1, 2, 3])).backward()
    assert [n for n, p in learner.named_parameters() if p.requires_grad] == ["ctx"]
    assert learner.ctx.grad is not None and learner.ctx.grad.abs().sum() > 0
    assert all(p.grad is None and not p.requires_grad for p in learner.clip.parameters())
    assert not learner.clip.training  # frozen towers stay in inference mode
    if class_specific:
        assert learner.ctx.shape == (len(NAMES), 4, 128)
        assert (learner.ctx.grad.flatten(1).abs().sum(1) > 0).all()  # every class has its own context


def test_class_specific_context_cannot_score_other_classes(tiny):
    learner = CoOp(tiny, NAMES, class_specific=True)
    with pytest.raises(ValueError, match="class_specific=False"):
        learner.set_classnames(["star", "heart"])


def test_n_ctx_must_match_the_init_words(tiny):
    assert CoOp(tiny, NAMES, ctx_init="a drawing of a").n_ctx == 4
    assert CoOp(tiny, NAMES, ctx_init=None, n_ctx=16).ctx.shape == (16, 128)
    with pytest.raises(ValueError, match="n_ctx=4"):
        CoOp(tiny, NAMES, ctx_init="a photo of a", n_ctx=8)


def test_random_context_is_seeded_and_leaves_the_global_rng_alone(tiny):
    torch.manual_seed(123)
    state = torch.get_rng_state()
    a, b, c = CoOp(tiny, NAMES, ctx_init=None, seed=1), CoOp(tiny, NAMES, ctx_init=None, seed=1), \
        CoOp(tiny, NAMES, ctx_init=None, seed=2)
    assert torch.equal(a.ctx, b.ctx) and not torch.equal(a.ctx, c.ctx)
    assert torch.equal(torch.get_rng_state(), state)
    csc = CoOp(tiny, NAMES, ctx_init=None, class_specific=True).ctx  # (C, M, width), drawn per class as in CoOp
    assert csc.shape == (len(NAMES), 4, 128) and not torch.equal(csc[0], csc[1])


def test_a_saved_context_loads_against_another_class_list(tiny, tmp_path):
    learner = CoOp(tiny, NAMES[:2], ctx_init=None, seed=3)
    learner.save(tmp_path / "coop.safetensors")
    other = CoOp(tiny, ["heart", "ring", "arrow"], ctx_init=None, seed=4).load(tmp_path / "coop.safetensors")
    assert torch.equal(other.ctx, learner.ctx) and other.classnames == ["heart", "ring", "arrow"]


def test_loading_a_learner_saved_for_another_backbone_is_refused(tiny, vit_b16_random, tmp_path):
    p4 = create_tiny("TinyCLIP-P4", checkpoint=None)  # same widths as TinyCLIP-P8, another model
    CoOp(p4, NAMES).save(tmp_path / "p4.safetensors")
    with pytest.raises(ValueError, match="backbone TinyCLIP-P4.*load_clip"):
        CoOp(tiny, NAMES).load(tmp_path / "p4.safetensors")
    CoOp(vit_b16_random, NAMES).save(tmp_path / "vit.safetensors")
    with pytest.raises(ValueError, match="context width 512"):
        CoOp(tiny, NAMES).load(tmp_path / "vit.safetensors")
    CoOp(tiny, NAMES, ctx_init=None, n_ctx=8).save(tmp_path / "m8.safetensors")
    with pytest.raises(ValueError, match="n_ctx=8"):
        CoOp(tiny, NAMES).load(tmp_path / "m8.safetensors")
    CoCoOp(tiny, NAMES).save(tmp_path / "cocoop.safetensors")
    with pytest.raises(ValueError, match="build a CoCoOp"):
        CoOp(tiny, NAMES).load(tmp_path / "cocoop.safetensors")
    CoOp(tiny, NAMES, class_specific=True).save(tmp_path / "csc.safetensors")
    with pytest.raises(ValueError, match="class-specific contexts for"):
        CoOp(tiny, NAMES[::-1], class_specific=True).load(tmp_path / "csc.safetensors")


def test_a_corrupt_or_foreign_learner_file_is_refused(tiny, tmp_path):
    good = tmp_path / "good.safetensors"
    CoOp(tiny, NAMES).save(good)
    cut = tmp_path / "cut.safetensors"
    cut.write_bytes(good.read_bytes()[:-100])  # a write that stopped half-way
    with pytest.raises(ValueError, match="not a readable safetensors"):
        CoOp(tiny, NAMES).load(cut)
    from tmml_lite.checkpoint import save_tensors
    save_tensors(tmp_path / "plain.safetensors", {"ctx": torch.zeros(4, 128)})
    with pytest.raises(ValueError, match="not a saved prompt learner"):
        CoOp(tiny, NAMES).load(tmp_path / "plain.safetensors")


def test_a_shared_offset_starts_as_coop_and_moves_every_context_token_alike(tiny, tmp_path):
    """"CoOp + shared offset" (chapter 6): at zero it is CoOp; trained, one vector moves all M tokens."""
    names = ["circle", "square", "star"]
    plain, offset = CoOp(tiny, names), SharedOffsetCoOp(tiny, names)
    features = torch.randn(4, tiny.model.visual.output_dim)
    torch.testing.assert_close(offset.logits(features), plain.logits(features))
    offset.logits(features).logsumexp(-1).sum().backward()
    assert offset.offset.grad is not None and offset.offset.grad.abs().sum() > 0
    with torch.no_grad():
        offset.offset += 0.1
    moved = offset.prompts()[:, 1:1 + offset.n_ctx] - plain.prompts()[:, 1:1 + plain.n_ctx]
    torch.testing.assert_close(moved, torch.full_like(moved, 0.1))
    offset.save(tmp_path / "offset.safetensors")
    again = SharedOffsetCoOp(tiny, ["ring", "heart"])
    again.load(tmp_path / "offset.safetensors")
    torch.testing.assert_close(again.offset, offset.offset.detach())
