import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from tmml_lite import CoCoOp, CoOp, data, world
from tmml_lite import discrimination as d

NAMES = ["circle", "square", "plus sign", "star"]


def _images(n=6):
    return np.stack([world.task_image("shapes", "test", i)[0] for i in range(n)])


def test_text_features_are_what_the_logits_score_against(tiny):
    images = torch.randn(3, 3, 32, 32, generator=torch.Generator().manual_seed(0), dtype=tiny.model.logit_scale.dtype)
    for learner in (CoOp(tiny, NAMES), CoCoOp(tiny, NAMES, class_chunk=3)):
        with torch.no_grad():
            logits = learner.eval()(images)
            text = learner.text_features(images)  # (B, C, D)
            image = learner.encode_image(images)
        assert text.shape == (3, len(NAMES), image.shape[1])
        torch.testing.assert_close(logits, learner.clip.logit_scale.exp() * torch.einsum("bd,bcd->bc", image, text),
                                   atol=1e-4, rtol=1e-5)


def test_coop_prompts_do_not_move_with_the_image(tiny):
    features = d.class_features_per_image(CoOp(tiny, NAMES), _images())
    stats = d.discrimination_stats(features)
    assert features.shape[:2] == (6, len(NAMES))
    assert stats["class_spread"] < 1e-5
    assert math.isnan(stats["shift_alignment"])
    assert stats["silhouette"] == pytest.approx(1.0, abs=1e-4)  # every class is a single point


def test_cocoop_prompts_move_with_the_image(tiny):
    learner = CoCoOp(tiny, NAMES)
    with torch.no_grad():  # a meta-net with a visible effect, as after training
        learner.meta_net.linear2.weight.mul_(50)
    features = d.class_features_per_image(learner, _images(), classnames=NAMES)
    stats = d.discrimination_stats(features)
    assert stats["class_spread"] > 1e-3
    assert -1 <= stats["shift_alignment"] <= 1 and stats["silhouette"] < 1


def test_measures_on_hand_made_features():
    base = F.normalize(torch.randn(5, 64, generator=torch.Generator().manual_seed(0)), dim=-1)  # 5 classes
    shifts = torch.randn(8, 1, 64, generator=torch.Generator().manual_seed(1))  # one shift per image
    together = base[None] + 0.1 * shifts  # every class moved the same way: CoCoOp's picture
    apart = base[None] + 0.1 * torch.randn(8, 5, 64, generator=torch.Generator().manual_seed(2))
    assert d.shift_alignment(together) > 0.9
    assert abs(d.shift_alignment(apart)) < 0.2
    gram = base @ base.T
    expected = (gram.sum() - gram.trace()) / 20
    assert d.inter_class_cosine(base[None].expand(3, -1, -1)) == pytest.approx(float(expected), abs=1e-6)
    assert d.tsne_embedding(together, seed=0).shape == (40, 2)
    same = d.tsne_embedding(base[None].expand(4, -1, -1), seed=0).reshape(4, 5, 2)  # CoOp: 4 copies of 5
    assert np.allclose(same, same[:1])  # duplicates share one position


def test_features_of_the_wrong_shape_get_a_clear_error():
    with pytest.raises(ValueError, match="class_features_per_image"):
        d.inter_class_cosine(torch.randn(4, 16))
    with pytest.raises(ValueError, match="classes >= 2"):
        d.discrimination_stats(torch.randn(4, 1, 16))


def test_margins_are_negative_exactly_on_mistakes(tiny, small_shapes):
    subset = data.base_to_new(small_shapes, shots=1, seed=1)["test_base"]
    learner = CoOp(tiny, subset.classnames)
    pick = np.arange(0, len(subset), len(subset) // 40)[:40]  # every class, not only the first
    images, labels = subset.images[pick], subset.labels[pick]
    margins = d.logit_margins(learner, images, labels)
    with torch.no_grad():
        logits = torch.cat([learner(b) for b in data.image_batches(
            images, learner.preprocess, 64, learner.device)])
    right = logits.argmax(1) == torch.as_tensor(labels)
    assert margins.shape == (40,)
    assert 0 < int(right.sum()) < 40  # some right, some wrong
    assert torch.equal(margins > 0, right)
    stats = d.margin_stats(margins)
    assert stats["accuracy"] == pytest.approx(float(right.float().mean() * 100))
    assert 0 <= stats["near_misses"] <= stats["accuracy"]
    with pytest.raises(ValueError, match="one label per image"):
        d.logit_margins(learner, images, labels[:3])


def test_degenerate_values_say_why():
    fixed = d.discrimination_stats(F.normalize(torch.randn(1, 4, 16), dim=-1).expand(5, -1, -1))
    moving = d.discrimination_stats(F.normalize(torch.randn(5, 4, 16, generator=torch.Generator().manual_seed(0)),
                                                dim=-1))
    frame = d.stats_frame({("base", "CoOp"): fixed, ("base", "CoCoOp"): moving})
    assert frame.loc[("base", "CoOp"), "shift align"] == "— (fixed)"
    assert frame.loc[("base", "CoOp"), "silhouette"] == "1 (fixed)"
    assert frame.loc[("base", "CoCoOp"), "shift align"] != "— (fixed)"
