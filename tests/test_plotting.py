import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest

from tmml_lite import plotting


def test_a_shared_shift_brings_the_classes_together_and_class_aware_shifts_need_not():
    angles = np.deg2rad([0, 90, 180, 270])
    text = np.stack([np.cos(angles), np.sin(angles)], axis=1)
    image = np.array([1.0, 0.2])
    shared = plotting.shift_sketch(text, np.tile([0.8, 0.0], (4, 1)), image, list("abcd"))
    assert shared["inter_after"] > shared["inter_before"]  # every class moved the same way
    assert np.all(shared["cos_after"] >= shared["cos_before"] - 1e-9)
    apart = plotting.shift_sketch(text, 0.3 * text, image, list("abcd"))  # each class pushed outwards
    assert apart["inter_after"] == pytest.approx(apart["inter_before"])
    assert apart["cos_after"] == pytest.approx(apart["cos_before"])
    matplotlib.pyplot.close("all")
