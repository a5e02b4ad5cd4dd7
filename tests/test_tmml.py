import numpy as np
import pytest
import torch
import torch.nn.functional as F

from tmml_lite import CoCoOp, CoOp, world
from tmml_lite.backbone import encode_image_tokens
from tmml_lite.ctp import ClassAwarePrompt
from tmml_lite.losses import contrastive_loss
from tmml_lite.saving import check_compatible, learned_tensors
from tmml_lite.tft import TextGuidedFeatureTuning
from tmml_lite.tmml import TMML, TMMLOptions

NAMES = ["circle", "square", "plus sign", "star", "heart"]


def _images(backbone, n=3):
    images = np.stack([world.task_image("shapes", "test", i)[0] for i in range(n)])
    return torch.stack([backbone.preprocess(__import__("PIL.Image").Image.fromarray(im)) for im in images])


@pytest.mark.parametrize("backbone", ["tiny", "vit_b16_random"])
def test_image_tokens_come_with_the_same_pooled_feature_as_encode_image(backbone, request):
    backbone = request.getfixturevalue(backbone)
    model = backbone.model
    size = model.visual.image_size
    size = size[0] if isinstance(size, (tuple, list)) else size
    images = torch.randn(2, 3, size, size, generator=torch.Generator().manual_seed(0),
                         dtype=model.visual.proj.dtype)
    with torch.no_grad():
        pooled, tokens = encode_image_tokens(model, images)
        torch.testing.assert_close(pooled, model.encode_image(images), atol=1e-5, rtol=1e-5)
    grid = size // model.visual.patch_size[0]
    assert tokens.shape == (2, grid * grid, model.visual.output_dim)
    assert model.visual.output_tokens is False  # the switch is put back


def test_with_both_parts_off_tmml_is_coop(tiny):
    images = _images(tiny)
    learner = TMML(tiny, NAMES, use_ctp=False, use_tft=False)
    with torch.no_grad():
        torch.testing.assert_close(learner(images), CoOp(tiny, NAMES)(images), atol=1e-5, rtol=1e-5)
    assert [n for n, p in learner.named_parameters() if p.requires_grad] == ["ctx"]


def test_ctp_starts_as_coop_and_learns_away_from_it(tiny):
    """CTP's output layer starts at zero (ctp_zero_init), so training starts from CoOp's prompt."""
    images = _images(tiny)
    learner = TMML(tiny, NAMES, use_tft=False)
    with torch.no_grad():
        torch.testing.assert_close(learner(images), CoOp(tiny, NAMES)(images), atol=1e-4, rtol=1e-5)
    loss = learner.training_loss(learner.frozen_inputs(images), torch.tensor([0, 1, 2]))
    loss.backward()
    assert learner.ctp.to_context.linear2.weight.grad.abs().sum() > 0  # the zero layer still learns
    random_init = TMML(tiny, NAMES, use_tft=False, ctp_zero_init=False)
    with torch.no_grad():
        assert not torch.allclose(random_init(images), learner(images), atol=1e-3)


def test_ctp_without_output_bias_has_no_constant_shift_to_learn(tiny):
    """ctp_output_bias=False: no tensor of CTP adds the same shift to every image and class; it too starts
    as CoOp, and a learner saved with the bias does not load into one without."""
    images = _images(tiny)
    learner = TMML(tiny, NAMES, use_tft=False, ctp_output_bias=False)
    assert learner.ctp.to_context.linear2.bias is None
    assert "ctp.to_context.linear2.bias" not in learned_tensors(learner)
    with torch.no_grad():
        torch.testing.assert_close(learner(images), CoOp(tiny, NAMES)(images), atol=1e-4, rtol=1e-5)
    with pytest.raises(ValueError, match="ctp_output_bias"):
        check_compatible(learner, TMML(tiny, NAMES, use_tft=False).metadata())


@pytest.mark.parametrize("source", ["patches", "global"])
def test_ctp_gives_every_class_its_own_context_shift(tiny, source):
    """The point of CTP: unlike CoCoOp's pi(x), the image-derived shift of class c depends on c."""
    learner = TMML(tiny, NAMES, ctp_source=source, use_tft=False, ctp_zero_init=False)  # as after training
    with torch.no_grad():
        frozen = learner.frozen_inputs(_images(tiny))  # (B, 1 + P, D)
        keys = learner.patch_tokens(frozen) if source == "patches" else learner.image_features(frozen)[:, None]
        shifts, attention = learner.ctp(learner.zero_shot_text, keys)  # (B, C, width), (B, C, P)
    assert shifts.shape == (3, len(NAMES), learner.ctx_width)
    for b in range(3):
        distances = torch.cdist(shifts[b], shifts[b])  # (C, C)
        assert distances[~torch.eye(len(NAMES), dtype=bool)].min() > 1e-5  # CoCoOp: exactly 0
    if source == "patches":
        torch.testing.assert_close(attention.sum(-1), torch.ones(3, len(NAMES), dtype=attention.dtype))  # a softmax over the patches


def test_ctp_with_the_same_shift_for_every_class_is_cocoop(tiny):
    """What makes CTP different is only that the shift depends on the class: give every class CoCoOp's pi(x)
    and the logits are CoCoOp's."""
    images = _images(tiny)
    cocoop = CoCoOp(tiny, NAMES).eval()
    learner = TMML(tiny, NAMES, use_tft=False).eval()
    with torch.no_grad():
        pi = cocoop.meta_net(cocoop.encode_image(images))  # (B, width)

    class SameShiftForAll(torch.nn.Module):
        def forward(self, class_features, tokens):
            return pi[:, None].expand(-1, len(class_features), -1), None

    learner.ctp = SameShiftForAll()
    with torch.no_grad():
        torch.testing.assert_close(learner(images), cocoop(images), atol=1e-4, rtol=1e-5)


def test_softmax_attention_over_one_token_would_not_be_class_aware():
    """Why CTP needs several image tokens (or a gate): with one key the softmax is 1 for every class."""
    ctp = ClassAwarePrompt(dim=16, ctx_width=8, source="patches", zero_init=False)
    shifts, attention = ctp(torch.randn(4, 16), torch.randn(2, 1, 16))
    assert torch.allclose(attention, torch.ones_like(attention))
    torch.testing.assert_close(shifts[:, 0], shifts[:, 3])


def test_tft_is_a_small_residual_over_any_class_set():
    tft = TextGuidedFeatureTuning(dim=16, ratio=0.1)
    image = F.normalize(torch.randn(3, 16), dim=-1)
    for n_classes in (2, 7):  # base or new classes: the same module
        text = F.normalize(torch.randn(n_classes, 16), dim=-1)
        tuned, attention = tft(image, text)
        assert tuned.shape == (3, 16) and attention.shape == (3, n_classes)
        torch.testing.assert_close(attention.sum(-1), torch.ones(3))
        assert (F.cosine_similarity(tuned, image) > 0.9).all()
    other_text = F.normalize(torch.randn(7, 16), dim=-1)
    assert not torch.allclose(tft(image, other_text)[0], tuned)  # the tuned feature depends on the class set
    untouched, _ = TextGuidedFeatureTuning(dim=16, ratio=0.0)(image, text)
    torch.testing.assert_close(untouched, image)
    with pytest.raises(ValueError, match="ratio"):
        TextGuidedFeatureTuning(dim=16, ratio=2.0)


def test_class_chunks_give_the_same_logits_and_gradients(tiny):
    inputs = TMML(tiny, NAMES).cache_inputs(np.stack([world.task_image("shapes", "test", i)[0] for i in range(4)]))
    labels = torch.tensor([0, 1, 2, 4])
    results = []
    for chunk in (len(NAMES), 2):
        learner = TMML(tiny, NAMES, class_chunk=chunk, ctp_zero_init=False).train()  # gradients reach W_q
        loss = learner.training_loss(inputs, labels)
        loss.backward()
        results.append((loss.detach(), learner.ctx.grad.clone(), learner.ctp.query.weight.grad.clone(),
                        learner.tft.value.weight.grad.clone()))
    for a, b in zip(*results):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-4)


def test_cached_inputs_give_the_same_logits_as_images(tiny):
    learner = TMML(tiny, NAMES).eval()
    images = _images(tiny)
    with torch.no_grad():
        torch.testing.assert_close(learner(images), learner.logits(learner.frozen_inputs(images)))


SWITCHES = [dict(), dict(use_tft=False), dict(use_ctp=False), dict(use_ctp=False, use_tft=False),
            dict(ctp_source="global"), dict(symmetric=1.0, consistency=1.0)]
# on ViT-B/16 every combination but two: the full TMML and TMML with both parts off (CoOp's prompts) train on
# ViT-B/16 in tests/test_gpu_readiness.py (TMML and CoOp through the whole recipe)
VIT_SWITCHES = [s for s in SWITCHES if s not in (dict(), dict(use_ctp=False, use_tft=False))]


@pytest.mark.parametrize("backbone, switches", [("tiny", s) for s in SWITCHES]
                         + [("vit_b16_random", s) for s in VIT_SWITCHES],
                         ids=lambda v: v if isinstance(v, str) else ",".join(f"{k}={x}" for k, x in v.items()) or "all")
def test_every_switch_combination_takes_a_step_that_changes_only_the_learner(backbone, switches, request):
    backbone = request.getfixturevalue(backbone)
    learner = TMML(backbone, NAMES[:3], class_chunk=2, **switches).train()
    before = {n: p.clone() for n, p in learner.clip.named_parameters()}
    size = learner.clip.visual.image_size
    size = size[0] if isinstance(size, (tuple, list)) else size
    images = torch.randn(2, 3, size, size, generator=torch.Generator().manual_seed(0), dtype=learner.dtype)
    learned = {n: p.clone() for n, p in learner.named_parameters() if p.requires_grad}
    optimizer = torch.optim.SGD([p for p in learner.parameters() if p.requires_grad], lr=0.01)
    loss = learner.training_loss(learner.frozen_inputs(images), torch.tensor([0, 2]))
    loss.backward()
    optimizer.step()
    assert torch.isfinite(loss)
    assert not torch.equal(learned["ctx"], learner.ctx)
    assert all(torch.equal(before[n], p) for n, p in learner.clip.named_parameters())
    assert not any(p.requires_grad for p in learner.clip.parameters())


def test_the_variant_is_one_value_and_switches_are_shorthand_for_it(tiny):
    assert TMML(tiny, NAMES, use_tft=False).options == TMMLOptions(use_tft=False)
    assert TMML(tiny, NAMES, TMMLOptions(tft_ratio=0.3)).metadata()["options"]["tft_ratio"] == 0.3
    with pytest.raises(TypeError, match="TMMLOptions"):
        TMML(tiny, NAMES, use_fft=False)


def test_saved_tmml_loads_only_into_the_same_variant(tiny, tmp_path):
    learner = TMML(tiny, NAMES)
    with torch.no_grad():
        learner.ctx.add_(0.1)
    learner.save(tmp_path / "tmml.safetensors")
    other = TMML(tiny, ["zigzag", "wavy"]).load(tmp_path / "tmml.safetensors")  # another class list is fine
    torch.testing.assert_close(other.ctx, learner.ctx)
    with pytest.raises(ValueError, match="use_tft"):
        TMML(tiny, NAMES, use_tft=False).load(tmp_path / "tmml.safetensors")
    with pytest.raises(ValueError, match="CoCoOp"):
        CoCoOp(tiny, NAMES).load(tmp_path / "tmml.safetensors")


def test_contrastive_loss_terms():
    image = F.normalize(torch.randn(4, 8), dim=-1)
    text = F.normalize(torch.randn(4, 3, 8), dim=-1)
    labels = torch.tensor([0, 1, 2, 1])
    scale = torch.tensor(2.0)
    plain = contrastive_loss(image, text, labels, scale)
    expected = F.cross_entropy(scale.exp() * torch.einsum("bd,bcd->bc", image, text), labels)
    torch.testing.assert_close(plain, expected)
    assert contrastive_loss(image, text, labels, scale, symmetric=1.0) > plain
    zero_shot = F.normalize(torch.randn(3, 8), dim=-1)
    assert contrastive_loss(image, text, labels, scale, consistency=1.0, zero_shot_text=zero_shot) > plain
    with pytest.raises(ValueError, match="zero_shot_text"):
        contrastive_loss(image, text, labels, scale, consistency=1.0)
