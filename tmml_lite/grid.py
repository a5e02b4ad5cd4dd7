"""The base-to-new grid: methods x tasks x seeds, one CSV row per run, resumable and shardable.

For example::

    rows = run_grid(
        ["CoOp", "TMML"],
        ["textures"],
        seeds=(1, 2, 3),
        results="results/grid.csv",
    )
    print(markdown_table(summarize_rows(read_rows("results/grid.csv"))))
    # one cell, in memory: Base, New, H, learner
    result = run_method("CoOp", "textures", backbone)

A method is a name of `methods.METHODS` or a `methods.MethodSpec` (a variant needs no registration): its learner,
its recipe (`methods.recipe`) and its optimizer. A run appends one row to the CSV as soon as it ends
(`store.CsvStore`); a cell already in the file is skipped, so an interrupted grid continues where it stopped,
and shards (`shard=(k, n)`) can run on several machines and append to their own files, merged by reading them
all.
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path

from .engine import run_seed, run_seeds
from .methods import MethodSpec, get_method, recipe
from .metrics import difference_text, harmonic_mean, paired_difference, summarize
from .store import CsvStore
from .zeroshot import base_new_accuracy

FIELDS = ("method", "task", "seed", "shots", "backbone", "base", "new", "seconds")
GRID_STORE = CsvStore(FIELDS, key=("method", "task", "seed", "shots", "backbone"),
                      types={"seed": int, "shots": int, "base": float, "new": float, "seconds": float})
# the grids the book shows, made by `make bench`:
#   chapter 06, the ablations on three tasks:
#     TMML_PROFILE=tiny python -m tmml_lite bench --results tmml_lite/assets/ablation.csv
#   chapter 07, the book's four methods on all five tasks:
#     TMML_PROFILE=tiny python -m tmml_lite bench --methods zero-shot CoOp CoCoOp TMML \
#         --tasks shapes textures fine_grained counting digits --results tmml_lite/assets/benchmark.csv
ABLATION_RESULTS = Path(__file__).parent / "assets" / "ablation.csv"
BENCHMARK_RESULTS = Path(__file__).parent / "assets" / "benchmark.csv"


def run_method(method: str | MethodSpec, task, backbone, seeds=(1, 2, 3), shots: int = 16, run_dir=None,
               progress: bool = False) -> dict:
    """The base-to-new benchmark of one method (a name of `methods.METHODS` or a spec) on one task, with its
    learner, its recipe (`methods.recipe`) and its optimizer: `engine.run_seeds`, i.e. the summary (Base, New,
    their stds, H) plus "runs" and "learner" (None for zero-shot, which trains nothing)."""
    spec = get_method(method)
    if spec.template:
        runs = [run_cell(spec, task, backbone, seed, shots) for seed in seeds]
        return {**summarize([r["base"] for r in runs], [r["new"] for r in runs]),
                "runs": [{"seed": s, "base": r["base"], "new": r["new"]} for s, r in zip(seeds, runs)],
                "learner": None}
    return run_seeds(spec.learners(backbone), task, recipe(spec, backbone.name), seeds, shots, run_dir, progress,
                     spec.make_optimizer)


def run_cell(method: str | MethodSpec, task, backbone, seed: int, shots: int = 16) -> dict:
    """One cell of the grid: {"base", "new"} in %, and "learner" (None for zero-shot with a hand-written
    template, which trains nothing)."""
    spec = get_method(method)
    if spec.template:
        return {**base_new_accuracy(backbone, task, seed, shots, spec.template), "learner": None}
    return run_seed(spec.learners(backbone), task, recipe(spec, backbone.name), seed, shots, progress=False,
                    make_optimizer=spec.make_optimizer)


def read_rows(*paths) -> list[dict]:
    """The rows of one or more result CSVs (a missing file has none; a line cut by a kill is skipped)."""
    return GRID_STORE.read(*paths)


def differing_cells(rows: list[dict], reference: list[dict]) -> list[tuple]:
    """The (method, task, seed, shots, backbone) cells of `reference` that `rows` lacks or gives another Base
    or New (the run time may differ), sorted."""
    mine = {GRID_STORE.cell(r): (r["base"], r["new"]) for r in rows}
    return sorted(GRID_STORE.cell(r) for r in reference if mine.get(GRID_STORE.cell(r)) != (r["base"], r["new"]))


def grid_cells(methods, tasks, seeds, shard: tuple[int, int] = (1, 1)) -> list[tuple[str, str, int]]:
    """The (method, task, seed) cells of the grid in a fixed order; shard (k, n) keeps every n-th from k."""
    k, n = shard
    if not 1 <= k <= n:
        raise ValueError(f"shard must be k/n with 1 <= k <= n, got {k}/{n}")
    cells = [(m, t, s) for t in tasks for m in methods for s in seeds]
    return cells[k - 1::n]


def run_grid(methods, tasks, seeds=(1, 2, 3), shots: int = 16, results: str | Path = "results/grid.csv",
             backbone=None, shard: tuple[int, int] = (1, 1), progress: bool = True) -> list[dict]:
    """Run every missing cell of the grid, appending one row per run to `results`; returns all rows there.
    methods: names of `methods.METHODS`, or `methods.MethodSpec` objects; tasks: names, or `world.Task`
    objects. Rows are keyed by the method's and the task's names, so give a variant a name of its own."""
    from tqdm.auto import tqdm
    from .backbone import load_clip
    from .data import task_name
    specs = {spec.name: spec for spec in map(get_method, methods)}
    tasks = {task_name(t): t for t in tasks}
    backbone = backbone or load_clip()
    done = GRID_STORE.done(results)
    todo = [c for c in grid_cells(list(specs), list(tasks), seeds, shard)
            if (c[0], c[1], c[2], shots, backbone.name) not in done]
    for method, task, seed in tqdm(todo, desc="grid", disable=not progress):
        spec = specs[method]
        t0 = time.perf_counter()
        run = run_cell(spec, tasks[task], backbone, seed, shots)
        GRID_STORE.append(results, {"method": method, "task": task, "seed": seed, "shots": shots,
                                    "backbone": backbone.name, "base": round(run["base"], 2),
                                    "new": round(run["new"], 2), "seconds": round(time.perf_counter() - t0, 1)})
    return read_rows(results)


def real_data_frame(methods, dataset: str, seeds=(1, 2, 3), shots: int = 16, results: str | Path | None = None,
                    backbone=None):
    """A chapter's experiment on real data: `run_grid` of `methods` on `dataset` (a name of
    `datasets.DATASETS`) with the full profile's ViT-B/16 on the GPU (or `backbone`), resumable in `results`
    (default results/<dataset>.csv), as a DataFrame: per method our seed means of Base, New and H beside the
    papers' row for that method on that dataset (empty where they publish none)."""
    import pandas as pd
    import torch
    from .backbone import load_clip
    from .datasets import DATASETS
    from .papers import paper_rows
    if dataset not in DATASETS:
        raise ValueError(f"{dataset!r} is not a registered dataset; use one of {', '.join(DATASETS)}")
    backbone = backbone or load_clip(profile="full", device="cuda" if torch.cuda.is_available() else None)
    names = [get_method(m).name for m in methods]
    results = Path("results") / f"{dataset}.csv" if results is None else Path(results)
    rows = [r for r in run_grid(methods, [dataset], seeds, shots, results, backbone)
            if r["method"] in names and r["task"] == dataset and r["seed"] in seeds and r["shots"] == shots
            and r["backbone"] == backbone.name]
    table = [r for r in paper_rows(summarize_rows(rows)) if not r["dataset"].startswith("average")]
    frame = pd.DataFrame(table).set_index(["dataset", "method"])
    ours, papers = ["Base", "New", "H"], ["paper Base", "paper New", "paper H"]
    return frame.astype({c: float for c in papers}).round({**dict.fromkeys(ours, 1), **dict.fromkeys(papers, 2)})


def summarize_rows(rows: list[dict]) -> list[dict]:
    """Per (method, task): seed means and stds of Base and New and H on the means; plus, per method, an
    "average" row over its tasks (Base and New averaged over tasks, H of those averages, as the papers do)."""
    groups: dict[tuple, list[dict]] = {}
    for r in rows:
        groups.setdefault((r["method"], r["task"]), []).append(r)
    table = [{"method": method, "task": task, **summarize([r["base"] for r in runs], [r["new"] for r in runs])}
             for (method, task), runs in groups.items()]
    for method in dict.fromkeys(r["method"] for r in table):
        mine = [r for r in table if r["method"] == method]
        b, n = statistics.mean(r["base"] for r in mine), statistics.mean(r["new"] for r in mine)
        table.append({"method": method, "task": "average", "seeds": min(r["seeds"] for r in mine), "base": b,
                      "new": n, "base_std": 0.0, "new_std": 0.0, "H": harmonic_mean(b, n)})
    return table


def results_frame(rows: list[dict], methods=None, tasks=None):
    """The grid as a pandas DataFrame for the chapters: one row per (task, method), Base and New as
    "mean ± std" over seeds and H on the means; the "average" rows average Base and New over the tasks."""
    import pandas as pd
    summary = {(r["method"], r["task"]): r for r in summarize_rows(rows)}
    tasks = tasks or list(dict.fromkeys(r["task"] for r in rows)) + ["average"]
    methods = methods or list(dict.fromkeys(r["method"] for r in rows))

    def cell(mean, std, task):
        return f"{mean:.1f}" if task == "average" else f"{mean:.1f} ± {std:.1f}"
    records = [{"task": t, "method": m, "Base": cell(r["base"], r["base_std"], t),
                "New": cell(r["new"], r["new_std"], t), "H": f"{r['H']:.1f}"}
               for t in tasks for m in methods if (r := summary.get((m, t)))]
    return pd.DataFrame(records).set_index(["task", "method"])


def paired(rows: list[dict], a: str, b: str, task: str, metric: str = "new") -> dict:
    """The paired difference a - b of two methods of a grid on one task and metric ("base", "new" or "H"),
    over the seeds both ran (same seed, same shots): `metrics.paired_difference` plus "seeds". With
    task="average", each seed's Base and New are first averaged over the tasks of `rows` (H of those, as in
    the tables)."""
    def per_seed(method):
        runs: dict[int, list] = {}
        for r in rows:
            if r["method"] == method and task in ("average", r["task"]):
                runs.setdefault(r["seed"], []).append(r)
        values = {}
        for seed, mine in runs.items():
            base, new = statistics.mean(r["base"] for r in mine), statistics.mean(r["new"] for r in mine)
            values[seed] = {"base": base, "new": new, "H": harmonic_mean(base, new)}[metric]
        return values
    va, vb = per_seed(a), per_seed(b)
    seeds = sorted(set(va) & set(vb))
    if not seeds:
        raise ValueError(f"{a!r} and {b!r} share no seed on task {task!r} in these rows")
    return {**paired_difference([va[s] for s in seeds], [vb[s] for s in seeds]), "seeds": seeds}


def paired_frame(rows: list[dict], a: str, b: str, tasks=None, metrics=("base", "new", "H")):
    """The paired differences a - b (`paired`) per task and on average, as a DataFrame of "+d ± std" cells;
    a difference within twice its std over seeds is marked "(tie)"."""
    import pandas as pd
    tasks = tasks or list(dict.fromkeys(r["task"] for r in rows if r["method"] == a))
    rows = [r for r in rows if r["task"] in tasks]  # the average is over these tasks
    records = []
    for task in [*tasks, "average"]:
        record = {"task": task}
        for metric in metrics:
            record[metric if metric == "H" else metric.capitalize()] = difference_text(paired(rows, a, b, task, metric))
        records.append(record)
    return pd.DataFrame(records).set_index("task").rename_axis(f"{a} − {b}")


def markdown_table(summary: list[dict], tasks=None, methods=None) -> str:
    """The summary as a Markdown table: one row per method, Base / New / H per task."""
    tasks = tasks or list(dict.fromkeys(r["task"] for r in summary))
    methods = methods or list(dict.fromkeys(r["method"] for r in summary))
    cell = {(r["method"], r["task"]): r for r in summary}
    lines = ["| method | " + " | ".join(f"{t} B / N / H" for t in tasks) + " |",
             "|---|" + "---|" * len(tasks)]
    for m in methods:
        values = []
        for t in tasks:
            r = cell.get((m, t))
            values.append("" if r is None else f"{r['base']:.1f} / {r['new']:.1f} / {r['H']:.1f}")
        lines.append(f"| {m} | " + " | ".join(values) + " |")
    return "\n".join(lines)
