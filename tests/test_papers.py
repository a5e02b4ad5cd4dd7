"""Results in the shape of the papers' base-to-new table, beside the published ViT-B/16 numbers."""
import csv

import pytest

from tmml_lite import grid, papers


def test_published_numbers_are_the_papers_rows_and_tmmls_reported_gains():
    assert papers.published("zero-shot") == (69.34, 74.22, 71.70)
    assert papers.published("CoCoOp", "average") == (80.47, 71.69, 75.83)
    assert papers.published("CoOp", "eurosat") == papers.published("CoOp", "EuroSAT") == (92.19, 54.74, 68.69)
    assert "Table 1" in papers.SOURCES[("CoOp", "EuroSAT")]
    base, new, h = papers.published("TMML")
    assert base is None and new == pytest.approx(71.69 + 4.03) and h == pytest.approx(75.83 + 3.19)
    assert papers.published("TMML", "eurosat") == (None, None, None)  # the abstract gives averages only
    assert papers.published("CTP") == (None, None, None)


def test_an_average_over_some_datasets_is_compared_with_the_papers_average_over_the_same_ones():
    """Like with like: the papers' mean over the datasets that were run; over all 11, their published average,
    which the mean of their 11 rows reproduces."""
    base, new, h = papers.published_average("CoOp", ["dtd", "eurosat"])
    assert (base, new) == pytest.approx(((79.44 + 92.19) / 2, (41.18 + 54.74) / 2))
    assert h == pytest.approx(2 * base * new / (base + new))
    everything = list(papers.PAPER_DATASETS)
    for method in ("CLIP", "CoOp", "CoCoOp", "MaPLe", "PromptSRC"):
        rows = [papers.published(method, d) for d in everything]
        mean_base, mean_new = (sum(r[k] for r in rows) / 11 for k in (0, 1))
        published = papers.published_average(method, everything)
        assert (mean_base, mean_new) == pytest.approx(published[:2], abs=0.02), method
    assert papers.published_average("TMML", ["dtd"]) == (None, None, None)
    assert papers.published_average("CoOp", ["dtd", "textures"]) == (None, None, None)  # no paper row for ours


def test_the_published_transfer_tables_average_their_targets():
    for protocol in ("cross-dataset", "domain-generalization"):
        for method, values in papers.published_transfer(protocol).items():
            targets = [v for d, v in values.items() if d not in ("imagenet", "average")]
            assert sum(targets) / len(targets) == pytest.approx(values["average"], abs=0.01), (protocol, method)
    assert papers.published_transfer("domain-generalization")["CoCoOp"]["imagenet_a"] == 50.63


def write_results(path, cells):
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, grid.FIELDS)
        writer.writeheader()
        for method, task, seed, base, new in cells:
            writer.writerow({"method": method, "task": task, "seed": seed, "shots": 16, "backbone": "ViT-B-16",
                             "base": base, "new": new, "seconds": 1.0})


def test_merge_of_real_datasets_prints_the_papers_shape_in_their_order(tmp_path, capsys):
    from tmml_lite.__main__ import main
    results = tmp_path / "full.csv"
    write_results(results, [("CoOp", "eurosat", 1, 90.0, 50.0), ("CoOp", "eurosat", 2, 92.0, 52.0),
                            ("CoOp", "dtd", 1, 80.0, 40.0), ("zero-shot", "eurosat", 1, 56.0, 64.0),
                            ("zero-shot", "dtd", 1, 53.0, 59.0)])
    main(["merge", str(results)])
    out = capsys.readouterr().out
    table = out[out.index("| dataset |"):].splitlines()
    assert table[0] == "| dataset | method | seeds | Base | New | H | paper Base | paper New | paper H |"
    base, new, h = papers.published_average("CoOp", ["dtd", "eurosat"])  # the papers' over the same two
    assert table[2] == (f"| average of 2 | CoOp | 1 | 85.5 | 45.5 | 59.4 | {base:.2f} | {new:.2f} | {h:.2f} |")
    assert table[4].startswith("| DTD | CoOp | 1 | 80.0 | 40.0 | 53.3 |")  # the papers' order: DTD before EuroSAT
    assert table[6] == "| EuroSAT | CoOp | 2 | 91.0 | 51.0 | 65.4 | 92.19 | 54.74 | 68.69 |"
    rows = papers.paper_rows(grid.summarize_rows(grid.read_rows(results)))
    assert [(r["dataset"], r["method"]) for r in rows][2:] == [("DTD", "CoOp"), ("DTD", "zero-shot"),
                                                               ("EuroSAT", "CoOp"), ("EuroSAT", "zero-shot")]


def test_merge_of_the_tiny_grid_adds_the_papers_shape_only_when_asked(capsys):
    from tmml_lite.__main__ import main
    main(["merge", str(grid.BENCHMARK_RESULTS)])
    assert "paper Base" not in capsys.readouterr().out
    main(["merge", str(grid.BENCHMARK_RESULTS), "--papers"])
    n_tasks = len({r["task"] for r in grid.read_rows(grid.BENCHMARK_RESULTS)})
    out = capsys.readouterr().out
    assert f"| average of {n_tasks} | TMML | 3 |" in out and out.rstrip().endswith("|  |  |  |")  # no paper row


def test_the_published_frame_holds_the_rows_the_papers_print_for_a_dataset():
    frame = papers.published_frame(["zero-shot", "CoOp", "CoOp (batch 4)", "TMML"], "caltech101")
    assert list(frame.index) == ["zero-shot", "CoOp"]  # no paper reports the control, TMML only averages
    assert tuple(frame.loc["CoOp"]) == papers.PUBLISHED[("CoOp", "Caltech101")]
