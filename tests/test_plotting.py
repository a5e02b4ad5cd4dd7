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


def _summary():
    from tmml_lite import grid
    rows = [{"method": m, "task": t, "seed": s, "base": b + s, "new": n - s}
            for m, b, n in (("zero-shot", 70, 60), ("CoOp", 80, 50)) for t in ("a", "b") for s in (1, 2, 3)]
    return grid.summarize_rows(rows)


def test_the_results_figure_draws_every_method_and_task_at_its_value():
    fig = plotting.base_to_new_bars(_summary(), ["zero-shot", "CoOp"], ["a", "b", "average"])
    base, new, h = fig.axes
    heights = [p.get_height() for p in base.patches]
    assert heights == pytest.approx([72, 72, 72, 82, 82, 82])  # zero-shot's three groups, then CoOp's
    assert [p.get_facecolor()[:3] for p in base.patches[3:4]] == [matplotlib.colors.to_rgb("#1f77b4")]
    assert [p.get_height() for p in new.patches][:3] == pytest.approx([58, 58, 58])
    assert h.patches[3].get_height() == pytest.approx(2 * 82 * 48 / (82 + 48))
    matplotlib.pyplot.close("all")


def test_a_ranking_puts_the_lowest_first():
    ax = plotting.ranking_bars({"TMML alpha 0.3": 70.0, "CTP": 60.0, "TFT": 65.0}, "H (%)")
    assert [t.get_text() for t in ax.get_yticklabels()] == ["CTP", "TFT", "TMML alpha 0.3"]
    assert ax.patches[-1].get_facecolor()[:3] == matplotlib.colors.to_rgb(plotting.METHOD_COLORS["TMML"])
    matplotlib.pyplot.close("all")


def test_cost_curves_draw_one_line_per_method_and_measure():
    rows = [{"method": m, "classes": c, "step_s": 0.01 * c, "memory_mb": 2.0 * c}
            for m in ("CoCoOp", "TMML") for c in (8, 16)]
    fig = plotting.cost_curves(rows, ["CoCoOp", "TMML"])
    time_ax, memory_ax = fig.axes
    assert list(time_ax.lines[0].get_ydata()) == pytest.approx([80, 160])  # ms
    assert list(memory_ax.lines[1].get_ydata()) == pytest.approx([16, 32])
    matplotlib.pyplot.close("all")
