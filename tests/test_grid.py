import csv

import pytest

from tmml_lite import grid
from tmml_lite.metrics import harmonic_mean



def test_shards_split_the_grid_without_overlap():
    cells = grid.grid_cells(["CoOp", "TMML"], ["textures", "counting"], (1, 2, 3))
    shards = [grid.grid_cells(["CoOp", "TMML"], ["textures", "counting"], (1, 2, 3), shard=(k, 3))
              for k in (1, 2, 3)]
    assert sorted(sum(shards, [])) == sorted(cells) and len(cells) == 12
    with pytest.raises(ValueError, match="k/n"):
        grid.grid_cells(["CoOp"], ["textures"], (1,), shard=(4, 3))


def test_the_grid_appends_one_row_per_run_and_skips_finished_runs(tiny, small_digits, tmp_path):
    results = tmp_path / "grid.csv"
    rows = grid.run_grid(["zero-shot"], [small_digits], seeds=(1,), results=results, backbone=tiny, progress=False)
    assert [(r["method"], r["task"], r["seed"]) for r in rows] == [("zero-shot", "digits", 1)]
    with results.open("a") as f:
        f.write("CoOp,digits,1,16,TinyCLIP-P8,9")  # a line cut by a kill
    rows = grid.run_grid(["zero-shot"], [small_digits], seeds=(1,), results=results, backbone=tiny, progress=False)
    assert len(rows) == 1  # the finished run is not repeated, the cut line is ignored
    with pytest.raises(ValueError, match="unknown method"):
        grid.run_grid(["CoOpp"], ["textures"], results=results, backbone=tiny, progress=False)


def test_the_grid_runs_a_variant_and_a_task_it_is_handed_without_registering_either(tiny, small_digits, tmp_path):
    """A script or a chapter runs a variant of a method (a `MethodSpec`) on a variant of a task (a `Task`) by
    handing them to the grid: nothing is added to `methods.METHODS` or `world.TASKS`."""
    from dataclasses import replace

    from tmml_lite import methods, world
    coop = methods.get_method("CoOp")
    variant = replace(coop, name="CoOp, 2 epochs", config=replace(coop.config, epochs=2))
    rows = grid.run_grid(["zero-shot", variant], [small_digits], seeds=(1,), results=tmp_path / "variant.csv",
                         backbone=tiny, progress=False)
    assert [(r["method"], r["task"]) for r in rows] == [("zero-shot", "digits"), ("CoOp, 2 epochs", "digits")]
    assert rows[1]["base"] != rows[0]["base"] or rows[1]["new"] != rows[0]["new"]  # the variant trained
    assert variant.name not in methods.METHODS and world.TASKS["digits"] is not small_digits


def test_summary_takes_h_on_seed_means_and_averages_over_tasks():
    rows = [{"method": "m", "task": t, "seed": s, "base": b, "new": n}
            for t, s, b, n in [("a", 1, 80, 60), ("a", 2, 90, 70), ("b", 1, 50, 40)]]
    table = {(r["method"], r["task"]): r for r in grid.summarize_rows(rows)}
    assert table["m", "a"]["H"] == pytest.approx(harmonic_mean(85, 65))
    assert table["m", "average"]["base"] == pytest.approx((85 + 50) / 2)
    assert table["m", "average"]["H"] == pytest.approx(harmonic_mean(67.5, 52.5))
    assert "| m |" in grid.markdown_table(grid.summarize_rows(rows))


def test_the_committed_grids_and_premise_table_agree_on_the_same_run():
    """CoOp on textures, seed 1, with the book's recipe is one run, whichever command wrote it: the ablation
    grid, the benchmark grid and the premise table hold the same Base and New for it. The premise row is re-run
    from scratch by tests/test_premises.py, so this ties a trained cell of both grids to a fresh run."""
    from tmml_lite.premises import COMMITTED_PREMISES, read_premise_rows
    (premise,) = [r for r in read_premise_rows(COMMITTED_PREMISES) if (r["task"], r["seed"]) == ("textures", 1)]
    for results in (grid.ABLATION_RESULTS, grid.BENCHMARK_RESULTS):
        (row,) = [r for r in grid.read_rows(results)
                  if (r["method"], r["task"], r["seed"]) == ("CoOp", "textures", 1)]
        assert (row["base"], row["new"]) == (premise["coop_base"], premise["coop_new"]), results.name


def test_a_chapter_takes_the_learner_and_recipe_of_the_committed_grid(tiny):
    """The chapters call `grid.run_method`, which builds the method of `methods.METHODS` with its recipe: the
    committed zero-shot cell comes out the same, in the one summary format (Base, New, stds, H)."""
    committed = [r for r in grid.read_rows(grid.ABLATION_RESULTS)
                 if (r["method"], r["task"], r["seed"]) == ("zero-shot", "textures", 1)]
    result = grid.run_method("zero-shot", "textures", tiny, seeds=(1,))
    assert (round(result["base"], 2), round(result["new"], 2)) == (committed[0]["base"], committed[0]["new"])
    assert result["seeds"] == 1 and result["base_std"] == result["new_std"] == 0.0
    assert result["H"] == pytest.approx(harmonic_mean(result["base"], result["new"]))
    assert [r["seed"] for r in result["runs"]] == [1] and result["learner"] is None  # nothing to train


def test_the_bench_command_runs_resumes_and_merges(tmp_path, capsys):
    """`bench` runs its shard of the grid, and the cell it runs is the committed one: the benchmark grid is not
    hand-written (its trained cells are tied to fresh runs by the test above and tests/test_premises.py)."""
    from tmml_lite.__main__ import main
    results = tmp_path / "shard.csv"
    args = ["bench", "--methods", "zero-shot", "--tasks", "textures", "--seeds", "1", "2", "--results",
            str(results), "--profile", "tiny", "--shard", "2/2"]
    main(args)
    (fresh,) = grid.read_rows(results)
    assert (fresh["method"], fresh["seed"]) == ("zero-shot", 2)  # every 2nd cell
    (committed,) = [r for r in grid.read_rows(grid.BENCHMARK_RESULTS)
                    if (r["method"], r["task"], r["seed"]) == ("zero-shot", "textures", 2)]
    assert (fresh["base"], fresh["new"]) == (committed["base"], committed["new"])
    main(["merge", str(results), "--out", str(tmp_path / "table.md")])
    assert "| zero-shot |" in capsys.readouterr().out and (tmp_path / "table.md").exists()


def test_bench_names_the_worlds_tasks_when_one_is_unknown(tmp_path):
    from tmml_lite.__main__ import main
    with pytest.raises(SystemExit, match="unknown tasks \\['shape'\\]; choose from the world's shapes, textures"):
        main(["bench", "--tasks", "shape", "--results", str(tmp_path / "r.csv"), "--profile", "tiny"])


def test_compare_tells_whether_a_regenerated_grid_or_checkpoint_equals_the_committed_one(tmp_path, capsys):
    """`compare` is how the README checks that `make bench` and `make pretrain` reproduce the committed files."""
    from tmml_lite.__main__ import main
    from tmml_lite.backbone import TINY_CHECKPOINT
    from tmml_lite.checkpoint import load_tensors, save_tensors
    rows = grid.read_rows(grid.BENCHMARK_RESULTS)
    copy, changed = tmp_path / "copy.csv", tmp_path / "changed.csv"
    with copy.open("w", newline="") as f:
        writer = csv.DictWriter(f, grid.FIELDS)
        writer.writeheader()
        writer.writerows({**r, "seconds": 0.0} for r in rows)  # run times may differ, results may not
    changed.write_text(copy.read_text().replace(f",{rows[0]['new']},", f",{rows[0]['new'] + 1},", 1))
    assert main(["compare", str(copy), str(grid.BENCHMARK_RESULTS)]) == 0
    assert main(["compare", str(changed), str(grid.BENCHMARK_RESULTS)]) == 1
    tensors = load_tensors(TINY_CHECKPOINT)
    save_tensors(tmp_path / "same.safetensors", tensors)
    tensors["logit_scale"] = tensors["logit_scale"] + 1
    save_tensors(tmp_path / "other.safetensors", tensors)
    assert main(["compare", str(tmp_path / "same.safetensors"), str(TINY_CHECKPOINT)]) == 0
    assert main(["compare", str(tmp_path / "other.safetensors"), str(TINY_CHECKPOINT)]) == 1
    assert "differs: logit_scale" in capsys.readouterr().out


def test_paired_differences_of_a_grid_pair_seeds_and_mark_ties():
    """The chapters' "A beats B" tables: differences per seed (same shots), their std, and ties marked."""
    def row(method, task, seed, base, new):
        return {"method": method, "task": task, "seed": seed, "shots": 16, "backbone": "m", "base": base,
                "new": new, "seconds": 1.0}
    rows = [row("A", "t1", s, 70 + s, 60.0) for s in (1, 2, 3)] + [row("B", "t1", s, 60 + s, 61 - s % 2)
                                                                   for s in (1, 2, 3)]
    rows += [row("A", "t2", s, 50.0, 50.0) for s in (1, 2)] + [row("B", "t2", s, 40.0, 40.0) for s in (1, 2)]
    d = grid.paired(rows, "A", "B", "t1", "base")
    assert d["mean"] == pytest.approx(10.0) and d["std"] == pytest.approx(0.0) and d["seeds"] == [1, 2, 3]
    new = grid.paired(rows, "A", "B", "t1", "new")  # differences -0, -1, 0... within noise
    assert not new["beyond_noise"]
    average = grid.paired(rows, "A", "B", "average", "base")  # seeds 1, 2 average t1 and t2; seed 3 t1 only
    assert average["mean"] == pytest.approx(10.0)
    frame = grid.paired_frame(rows, "A", "B", ["t1"])
    assert frame.loc["t1", "Base"] == "+10.0 ± 0.0" and frame.loc["t1", "New"].endswith("(tie)")
    table = grid.results_frame(rows)
    assert table.loc[("t1", "A"), "Base"] == "72.0 ± 1.0" and ("average", "B") in table.index
    with pytest.raises(ValueError, match="share no seed"):
        grid.paired(rows, "A", "C", "t1")
