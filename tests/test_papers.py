"""Results in the shape of the papers' base-to-new table, beside the published ViT-B/16 numbers."""
import csv

import pytest

from tmml_lite import grid, papers


def test_published_numbers_are_the_papers_averages_and_tmmls_reported_gains():
    assert papers.published("zero-shot") == (69.34, 74.22, 71.70)
    assert papers.published("CoCoOp", "average") == (80.47, 71.69, 75.83)
    base, new, h = papers.published("TMML")
    assert base is None and new == pytest.approx(71.69 + 4.03) and h == pytest.approx(75.83 + 3.19)
    assert papers.published("CoOp", "eurosat") == (None, None, None)  # per-dataset numbers: not read, not guessed
    assert papers.published("CTP") == (None, None, None)


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
    assert table[2] == "| average (2 here, 11 in the papers) | CoOp | 1 | 85.5 | 45.5 | 59.4 | 82.69 | 63.22 | 71.66 |"
    assert table[4].startswith("| DTD | CoOp | 1 | 80.0 | 40.0 | 53.3 |")  # the papers' order: DTD before EuroSAT
    assert table[6] == "| EuroSAT | CoOp | 2 | 91.0 | 51.0 | 65.4 |  |  |  |"
    rows = papers.paper_rows(grid.summarize_rows(grid.read_rows(results)))
    assert [(r["dataset"], r["method"]) for r in rows][2:] == [("DTD", "CoOp"), ("DTD", "zero-shot"),
                                                               ("EuroSAT", "CoOp"), ("EuroSAT", "zero-shot")]


def test_merge_of_the_tiny_grid_adds_the_papers_shape_only_when_asked(capsys):
    from tmml_lite.__main__ import main
    main(["merge", str(grid.BENCHMARK_RESULTS)])
    assert "paper Base" not in capsys.readouterr().out
    main(["merge", str(grid.BENCHMARK_RESULTS), "--papers"])
    n_tasks = len({r["task"] for r in grid.read_rows(grid.BENCHMARK_RESULTS)})
    assert f"| average ({n_tasks} here, 11 in the papers) | TMML | 3 |" in capsys.readouterr().out
