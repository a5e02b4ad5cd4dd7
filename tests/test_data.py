import json
import math

import numpy as np
import pytest

from tmml_lite import data, world


def test_few_shot_indices_are_k_per_class_and_seeded():
    labels = np.repeat(np.arange(5), 20)
    a = data.few_shot_indices(labels, 4, seed=1)
    assert np.bincount(labels[a]).tolist() == [4] * 5
    assert a == data.few_shot_indices(labels, 4, seed=1)
    assert a != data.few_shot_indices(labels, 4, seed=2)


def test_k_larger_than_available_is_a_clear_error():
    labels = np.repeat(np.arange(3), 5)
    with pytest.raises(ValueError, match="has only 5 images"):
        data.few_shot_indices(labels, 6, seed=1)


@pytest.mark.parametrize("n", [2, 5, 10, 11, 12])
def test_base_is_first_ceil_half(n):
    base, new = data.base_new_classes(n)
    assert base == list(range(math.ceil(n / 2))) and new == list(range(math.ceil(n / 2), n))


def test_subsample_relabels_from_zero():
    labels = np.array([0, 1, 2, 3, 4, 3])
    idx, rel = data.subsample_classes(range(6), labels, [3, 4])
    assert idx == [3, 4, 5] and rel.tolist() == [0, 1, 0]


@pytest.mark.parametrize("bad,match", [([], "empty"), (["a", "b", "a"], "duplicated"), ("cat", "list"),
                                       (["a", ""], "non-empty")])
def test_bad_class_lists_are_refused(bad, match):
    with pytest.raises((ValueError, TypeError), match=match):
        data.check_classnames(bad)


def test_base_to_new_protocol_and_saved_indices(small_shapes, tmp_path):
    splits = data.base_to_new(small_shapes, shots=4, seed=2, save_dir=tmp_path)
    n = len(world.TASKS["shapes"].classnames)
    n_base = math.ceil(n / 2)
    assert len(splits["train"]) == 4 * n_base and set(splits["train"].labels.tolist()) == set(range(n_base))
    assert len(splits["val"]) == 4 * n_base  # min(K, 4)
    assert splits["test_new"].classnames == list(world.TASKS["shapes"].classnames[n_base:])
    assert splits["test_new"].labels.min() == 0  # relabelled from 0
    record = json.loads((tmp_path / "shapes_shots4_seed2.json").read_text())
    assert record["train_indices"] and record["seed"] == 2
    images, _ = data.load_split(small_shapes, "train")
    assert np.array_equal(images[record["train_indices"]], splits["train"].images)
