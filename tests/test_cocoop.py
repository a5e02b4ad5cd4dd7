import pytest
import torch

from tmml_lite import CoCoOp, CoOp
from tmml_lite.saving import learned_tensors

NAMES = ["circle", "square", "plus sign", "star", "heart"]


def _features(backbone, n=3, seed=0):
    dtype = backbone.model.visual.proj.dtype  # float64 for TinyCLIP (backbone.TINY_DTYPE)
    return torch.randn(n, backbone.model.visual.output_dim, generator=torch.Generator().manual_seed(seed),
                       dtype=dtype)


@pytest.mark.parametrize("backbone", ["tiny", "vit_b16_random"])
def test_meta_net_is_linear_relu_linear_with_a_sixteenth_bottleneck(backbone, request):
    backbone = request.getfixturevalue(backbone)
    learner = CoCoOp(backbone, NAMES)
    image_dim, width = backbone.model.visual.output_dim, backbone.model.token_embedding.embedding_dim
    linear1, relu, linear2 = learner.meta_net
    assert (linear1.in_features, linear1.out_features) == (image_dim, image_dim // 16)
    assert isinstance(relu, torch.nn.ReLU)
    assert (linear2.in_features, linear2.out_features) == (image_dim // 16, width)
    assert learner.logits(_features(backbone)).shape == (3, len(NAMES))


def test_each_image_shifts_every_class_context_by_the_same_pi_x(tiny):
    """Row b of CoCoOp's logits equals CoOp's logits with the context ctx + pi(x_b), for every class."""
    learner = CoCoOp(tiny, NAMES, ctx_init=None, seed=1).eval()
    features = _features(tiny)
    coop = CoOp(tiny, NAMES, ctx_init=None).eval()
    with torch.no_grad():
        logits = learner.logits(features)
        image_features = torch.nn.functional.normalize(features, dim=-1)
        shifts = learner.meta_net(image_features)  # (B, width): pi(x)
        for b in range(len(features)):
            coop.ctx.copy_(learner.ctx + shifts[b])
            torch.testing.assert_close(logits[b], coop.logits(features[b:b + 1])[0], atol=1e-4, rtol=1e-5)
    assert not torch.allclose(shifts[0], shifts[1])  # the shift depends on the image


def test_with_a_zero_meta_net_cocoop_is_coop(tiny):
    learner = CoCoOp(tiny, NAMES)
    with torch.no_grad():
        learner.meta_net.linear2.weight.zero_()
        learner.meta_net.linear2.bias.zero_()
        torch.testing.assert_close(learner.logits(_features(tiny)), CoOp(tiny, NAMES).logits(_features(tiny)))


def test_class_chunks_give_the_same_logits_and_gradients(tiny):
    features = _features(tiny, n=4)
    labels = torch.tensor([0, 1, 2, 4])
    results = []
    for chunk in (len(NAMES), 2, 1):  # one pass; three passes (checkpointed); one class per pass
        learner = CoCoOp(tiny, NAMES, class_chunk=chunk).train()
        logits = learner.logits(features)
        torch.nn.functional.cross_entropy(logits, labels).backward()
        results.append((logits.detach(), learner.ctx.grad.clone(), learner.meta_net.linear1.weight.grad.clone()))
    for other in results[1:]:
        for a, b in zip(results[0], other):
            torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-4)


def test_only_the_context_and_the_meta_net_receive_gradients(tiny):
    learner = CoCoOp(tiny, NAMES).train()
    logits = learner(torch.randn(2, 3, 32, 32))
    torch.nn.functional.cross_entropy(logits, torch.tensor([0, 3])).backward()
    learned = [n for n, p in learner.named_parameters() if p.requires_grad]
    assert learned == ["ctx", "meta_net.linear1.weight", "meta_net.linear1.bias", "meta_net.linear2.weight",
                       "meta_net.linear2.bias"]
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for n, p in learner.named_parameters() if n in learned)
    assert all(p.grad is None for p in learner.clip.parameters())


def test_save_load_roundtrip_against_new_classes(tiny, tmp_path):
    learner = CoCoOp(tiny, NAMES[:3], seed=5)
    with torch.no_grad():
        learner.ctx.add_(0.1)
    learner.save(tmp_path / "cocoop.safetensors")
    other = CoCoOp(tiny, NAMES[3:], seed=6).load(tmp_path / "cocoop.safetensors")
    for name, tensor in learned_tensors(learner).items():
        assert torch.equal(learned_tensors(other)[name], tensor), name
    assert other.logits(_features(tiny)).shape == (3, 2)
    CoOp(tiny, NAMES).save(tmp_path / "coop.safetensors")
    with pytest.raises(ValueError, match="build a CoOp"):
        CoCoOp(tiny, NAMES).load(tmp_path / "coop.safetensors")


def test_bad_class_chunk_is_refused(tiny):
    with pytest.raises(ValueError, match="class_chunk"):
        CoCoOp(tiny, NAMES, class_chunk=0)
