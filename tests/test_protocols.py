"""Cross-dataset transfer and domain generalization: the world's source and targets, the runner, the tables."""
from dataclasses import replace

import numpy as np
import pytest

from tmml_lite import data, world
from tmml_lite.engine import TrainConfig
from tmml_lite.methods import METHODS
from tmml_lite.premises import check_transfer
from tmml_lite.protocols import TINY, Protocol, read_transfer_rows, run_transfer, transfer_frame


def _small(task, classes=None):
    """The task with 2 test images per class, and only its first `classes` classes."""
    return replace(task, test_per_class=2, classnames=task.classnames[:classes])


def test_the_source_holds_all_its_classes_and_the_targets_their_own():
    assert len(world.SOURCE_TASK.classnames) == 48
    task = _small(world.SOURCE_TASK, 5)
    source = data.all_classes(task, shots=3, seed=1)
    assert source["train"].classnames == source["test"].classnames == list(task.classnames)
    assert np.bincount(source["train"].labels).tolist() == [3] * 5
    assert np.bincount(source["val"].labels).tolist() == [3] * 5 and len(source["test"]) == 10
    assert set(data.all_classes(_small(world.DG_TASKS["fine_grained-r"], 2), shots=0)) == {"test"}


def test_the_shifted_targets_mirror_imagenets():
    """-V2 is the source's distribution drawn again; -Sketch all sketches; -R renditions and -A small objects
    among distractors, each on 12 of the 48 classes, one colour of each shape."""
    source, dg = world.SOURCE_TASK, world.DG_TASKS
    assert dg["fine_grained-v2"].domain == source.domain and dg["fine_grained-v2"].draw != source.draw
    renderings = {name: {world.task_image(t, "test", i, details=True)[2]["rendering"] for i in range(40)}
                  for name, t in dg.items()}
    assert renderings["fine_grained-v2"] == {"photo"} and renderings["fine_grained-sketch"] == {"sketch"}
    assert renderings["fine_grained-r"] == {"negative", "blurry", "dark"}
    for name in ("fine_grained-r", "fine_grained-a"):
        names = dg[name].classnames
        assert len(names) == 12 and set(names) < set(source.classnames)
        assert sorted(n.split()[1] for n in names) == sorted(world.SHAPES)
    image, label = world.task_image(dg["fine_grained-a"], "test", 0)
    assert dg["fine_grained-a"].classnames[label] in source.classnames and image.shape == (32, 32, 3)
    assert not set(world.CROSS_DATASET_TASKS) & {t.name for t in (source, *dg.values())}


@pytest.fixture(scope="module")
def small_protocols():
    source = _small(world.SOURCE_TASK, 6)
    return {"cross-dataset": Protocol("cross-dataset", source, (_small(world.CROSS_DATASET_TASKS["shapes"], 4),)),
            "domain-generalization": Protocol("domain-generalization", source,
                                              (_small(world.DG_TASKS["fine_grained-sketch"], 6),
                                               _small(world.DG_TASKS["fine_grained-r"], 4)))}


def test_one_training_serves_both_protocols_and_a_second_call_runs_nothing(tiny, small_protocols, tmp_path):
    coop = replace(METHODS["CoOp"], config=TrainConfig(epochs=2, batch_size=32))
    path = tmp_path / "transfer.csv"
    rows = run_transfer(["zero-shot", coop], list(small_protocols.values()), seeds=(1, 2), shots=2, results=path,
                        backbone=tiny, progress=False)
    tasks = ["fine_grained-photo", "shapes", "fine_grained-sketch", "fine_grained-r"]
    assert sorted((r["method"], r["target"], r["seed"]) for r in rows) == sorted(
        (m, t, s) for m in ("zero-shot", "CoOp") for t in tasks for s in (1, 2))
    zs = {(r["target"], r["seed"]): r["accuracy"] for r in rows if r["method"] == "zero-shot"}
    assert all(zs[(t, 1)] == zs[(t, 2)] for t in tasks)  # zero-shot trains nothing
    again = run_transfer(["zero-shot", coop], list(small_protocols.values()), seeds=(1, 2), shots=2, results=path,
                         backbone=tiny, progress=False)
    assert again == rows == read_transfer_rows(path)
    frame = transfer_frame(rows, small_protocols["domain-generalization"])
    assert list(frame.columns) == ["fine_grained-photo", "fine_grained-sketch", "fine_grained-r", "average"]
    for method in ("zero-shot", "CoOp"):
        assert frame.loc[method, "average"] == pytest.approx(
            (frame.loc[method, "fine_grained-sketch"] + frame.loc[method, "fine_grained-r"]) / 2, abs=0.06)


def _rows(zs: dict, coop: dict) -> list[dict]:
    """Transfer rows from {task: accuracy} for zero-shot and {task: [accuracy per seed]} for CoOp."""
    rows = [{"method": "zero-shot", "target": t, "seed": s, "accuracy": a} for t, a in zs.items() for s in (1, 2, 3)]
    return rows + [{"method": "CoOp", "target": t, "seed": s + 1, "accuracy": a}
                   for t, accs in coop.items() for s, a in enumerate(accs)]


def test_premises_g_and_h_read_the_paired_gains():
    dg, cd = TINY["domain-generalization"], TINY["cross-dataset"]
    source, shifted, others = "fine_grained-photo", [t.name for t in dg.targets], [t.name for t in cd.targets]
    zs = {t: 50.0 for t in [source, *shifted, *others]}
    like_the_papers = {source: [60.0, 61.0, 59.5], **{t: [53.0, 53.5, 52.5] for t in shifted},
                       **{t: [49.0, 48.5, 49.5] for t in others}}
    checks = check_transfer(_rows(zs, like_the_papers))
    assert checks["g"][0] and checks["h"][0], checks
    carries_over = {**like_the_papers, **{t: [54.0, 55.0, 54.5] for t in others}}
    assert not check_transfer(_rows(zs, carries_over))["h"][0]  # +4.5 on the other tasks
    gains_as_much_shifted = {**like_the_papers, **{t: [58.0, 59.0, 58.5] for t in shifted}}
    assert not check_transfer(_rows(zs, gains_as_much_shifted))["g"][0]


def test_the_paired_differences_of_a_protocol_are_per_seed_and_mark_ties():
    from tmml_lite.protocols import transfer_paired_frame
    dg = TINY["domain-generalization"]
    source, shifted = "fine_grained-photo", [t.name for t in dg.targets]
    zs = {t: 50.0 for t in [source, *shifted]}
    coop = {source: [60.0, 61.0, 59.0], shifted[0]: [51.0, 49.0, 53.0], **{t: [50.0, 50.0, 50.0] for t in shifted[1:]}}
    frame = transfer_paired_frame(_rows(zs, coop), "domain-generalization", "CoOp", "zero-shot", "TinyCLIP-P8")
    assert frame.index.tolist() == ["CoOp − zero-shot"] and frame.index.name == "domain-generalization"
    assert frame.loc["CoOp − zero-shot", source] == "+10.0 ± 1.0"
    assert frame.loc["CoOp − zero-shot", shifted[0]] == "+1.0 ± 2.0 (tie)"
    assert frame.loc["CoOp − zero-shot", "average"] == "+0.2 ± 0.5 (tie)"  # the targets' mean, seed by seed
    with pytest.raises(ValueError, match="share no seed"):
        transfer_paired_frame(_rows(zs, coop), "domain-generalization", "CoOp", "TMML", "TinyCLIP-P8")


def test_merge_prints_both_protocols_in_the_papers_shape(tmp_path, capsys):
    from tmml_lite.__main__ import main
    from tmml_lite.protocols import TRANSFER_STORE
    path = tmp_path / "transfer.csv"
    tasks = [t.name for t in TINY["domain-generalization"].tasks] + [t.name for t in TINY["cross-dataset"].targets]
    for i, task in enumerate(tasks):
        TRANSFER_STORE.append(path, {"method": "CoOp", "source": "fine_grained-photo", "target": task, "seed": 1,
                                     "shots": 16, "backbone": "TinyCLIP-P8", "accuracy": 50.0 + i, "seconds": 1.0})
    assert main(["merge", str(path)]) == 0
    out = capsys.readouterr().out
    assert "cross-dataset" in out and "domain-generalization" in out
    assert "| CoOp | 50.0 | 51.0 | 52.0 | 53.0 | 54.0 | 52.5 |" in out  # source, 4 shifted targets, their mean


def test_the_committed_transfer_grids_hold_every_run_of_chapter_7_once():
    """The premise rows (zero-shot, CoOp; run first) and the methods' grid (run after them) together hold each
    (method, tested task, seed) of both protocols exactly once, on the shipped backbone."""
    from tmml_lite.premises import COMMITTED_TRANSFER
    from tmml_lite.protocols import TRANSFER_RESULTS
    tasks = {t.name for protocol in TINY.values() for t in protocol.tasks}
    for path, methods in ((COMMITTED_TRANSFER, {"zero-shot", "CoOp"}),
                          (TRANSFER_RESULTS, {"CoOp (batch 4)", "CoCoOp", "TMML"})):
        rows = read_transfer_rows(path)
        cells = [(r["method"], r["target"], r["seed"]) for r in rows]
        assert sorted(cells) == sorted((m, t, s) for m in methods for t in tasks for s in (1, 2, 3)), path.name
        assert {(r["source"], r["shots"], r["backbone"]) for r in rows} == {("fine_grained-photo", 16, "TinyCLIP-P8")}
