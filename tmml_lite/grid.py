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

Each method is a `MethodSpec`: how to build the learner and which training recipe it uses. `METHODS` holds the
methods of the book and the ablations of TMML; the chapters take their learners and recipes from it too, so a
recipe cannot differ between a chapter and the committed grids. A run appends one row to the CSV as soon as it
ends; a cell already in the file is skipped, so an interrupted grid continues where it stopped, and shards
(`shard=(k, n)`) can run on several machines and append to their own files, merged by reading them all.
"""

from __future__ import annotations

import csv
import statistics
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable

from .backbone import TINY_MODELS
from .cocoop import CoCoOp
from .coop import CoOp
from .engine import COCOOP_CONFIG, TrainConfig, run_seed, run_seeds
from .metrics import harmonic_mean, paired_difference, summarize
from .tmml import TMML
from .zeroshot import CLIP_TEMPLATE

FIELDS = ("method", "task", "seed", "shots", "backbone", "base", "new", "seconds")
# the grids the book shows, made by `make bench`:
#   chapter 06, the ablations on three tasks:
#     TMML_PROFILE=tiny python -m tmml_lite bench --results tmml_lite/assets/ablation.csv
#   chapter 07, the book's four methods on all five tasks:
#     TMML_PROFILE=tiny python -m tmml_lite bench --methods zero-shot CoOp CoCoOp TMML \
#         --tasks shapes textures fine_grained counting digits --results tmml_lite/assets/benchmark.csv
COMMITTED_RESULTS = Path(__file__).parent / "assets" / "ablation.csv"
BENCHMARK_RESULTS = Path(__file__).parent / "assets" / "benchmark.csv"


@dataclass(frozen=True)
class MethodSpec:
    """A learner and its recipe. build(backbone, classnames, seed) -> learner."""
    name: str
    build: Callable
    config: TrainConfig
    about: str


def _coop(backbone, names, seed):
    return CoOp(backbone, names, seed=seed)


def _coop_offset(backbone, names, seed):
    return CoOp(backbone, names, seed=seed, shared_offset=True)


def _cocoop(backbone, names, seed):
    return CoCoOp(backbone, names, seed=seed)


def _tmml(**options):
    def build(backbone, names, seed):
        return TMML(backbone, names, seed=seed, **options)
    return build


METHODS = {spec.name: spec for spec in [
    MethodSpec("zero-shot", _coop, TrainConfig(epochs=0), f'hand-written prompt "{CLIP_TEMPLATE}"'),
    MethodSpec("CoOp", _coop, TrainConfig(), "learned context, batch 32"),
    MethodSpec("CoCoOp", _cocoop, COCOOP_CONFIG, "context + meta-net shift pi(x), batch 4"),
    MethodSpec("TMML", _tmml(), COCOOP_CONFIG, "CTP + TFT + contrastive loss (our reconstruction), batch 4"),
    # ablations of TMML, all with the recipe of TMML
    MethodSpec("CoOp (batch 4)", _coop, COCOOP_CONFIG, "CoOp trained with the recipe of TMML"),
    MethodSpec("CoOp + shared offset", _coop_offset, COCOOP_CONFIG,
               "CoOp (batch 4) plus one learned vector added to every context token: CTP's output bias alone"),
    MethodSpec("CTP", _tmml(use_tft=False), COCOOP_CONFIG, "class-aware text prompt only"),
    MethodSpec("TFT", _tmml(use_ctp=False), COCOOP_CONFIG, "text-guided feature tuning only"),
    MethodSpec("CTP global", _tmml(use_tft=False, ctp_source="global"), COCOOP_CONFIG,
               "CTP on the pooled feature with a class-dependent gate, not on patch tokens"),
    MethodSpec("CTP random init", _tmml(use_tft=False, ctp_zero_init=False), COCOOP_CONFIG,
               "CTP whose output layer starts random, as CoCoOp's meta-net"),
    MethodSpec("CTP no bias", _tmml(use_tft=False, ctp_output_bias=False), COCOOP_CONFIG,
               "CTP without the output bias: no constant context offset, every shift from the image"),
    MethodSpec("TMML alpha 0.03", _tmml(tft_ratio=0.03), COCOOP_CONFIG, "TFT residual weight 0.03"),
    MethodSpec("TMML alpha 0.3", _tmml(tft_ratio=0.3), COCOOP_CONFIG, "TFT residual weight 0.3"),
    MethodSpec("TMML + symmetric", _tmml(symmetric=1.0), COCOOP_CONFIG,
               "loss + text-to-image InfoNCE over the batch"),
    MethodSpec("TMML + consistency", _tmml(consistency=1.0), COCOOP_CONFIG,
               "loss + pull of the class texts towards the hand-written prompts"),
]}
BOOK_METHODS = ("zero-shot", "CoOp", "CoCoOp", "TMML")
ABLATIONS = ("CoOp (batch 4)", "CoOp + shared offset", "CTP", "TFT", "TMML", "CTP global", "CTP random init",
             "CTP no bias", "TMML alpha 0.03", "TMML alpha 0.3", "TMML + symmetric", "TMML + consistency")


# The papers train every learner with SGD at lr 0.002 on ViT-B/16 (CoOp, CoCoOp); the tiny CoOp recipe uses
# ten times that, which TinyCLIP needs, and the batch-4 recipe already uses 0.002. Only the learning rate changes
# with the backbone: epochs and batch sizes stay those of the tiny recipes. Not tuned on ViT-B/16 (chapter 08).
PAPER_LR = 0.002


def recipe(spec: MethodSpec, backbone_name: str) -> TrainConfig:
    """The training recipe of a method for a backbone: `spec.config` for TinyCLIP, the papers' lr otherwise."""
    return spec.config if backbone_name in TINY_MODELS else replace(spec.config, lr=PAPER_LR)


def get_method(name: str) -> MethodSpec:
    if name not in METHODS:
        raise ValueError(f"unknown method {name!r}; choose from {sorted(METHODS)}")
    return METHODS[name]


def run_method(name: str, task: str, backbone, seeds=(1, 2, 3), shots: int = 16, run_dir=None,
               progress: bool = False) -> dict:
    """The base-to-new benchmark of one method of `METHODS` on one task, with its learner and its recipe
    (`recipe`): `engine.run_seeds`, i.e. the summary (Base, New, their stds, H) plus "runs" and "learner"."""
    spec = get_method(name)
    return run_seeds(_learners(spec, backbone), task, recipe(spec, backbone.name), seeds, shots, run_dir, progress)


def _learners(spec: MethodSpec, backbone) -> Callable:
    """make_learner(classnames, seed) -> a fresh learner of the method, as the engine takes it."""
    return lambda names, seed: spec.build(backbone, names, seed)


def read_rows(*paths) -> list[dict]:
    """The rows of one or more result CSVs (a missing file has none; a line cut by a kill is skipped)."""
    rows = []
    for path in paths:
        path = Path(path)
        if not path.exists():
            continue
        with path.open(newline="") as f:
            for row in csv.DictReader(f):
                if None in row.values() or None in row:  # a partial last line
                    continue
                try:
                    rows.append({**row, "seed": int(row["seed"]), "shots": int(row["shots"]),
                                 "base": float(row["base"]), "new": float(row["new"]),
                                 "seconds": float(row["seconds"])})
                except ValueError:
                    continue
    return rows


def _key(row: dict) -> tuple:
    return row["method"], row["task"], int(row["seed"]), int(row["shots"]), row["backbone"]


def differing_cells(rows: list[dict], reference: list[dict]) -> list[tuple]:
    """The (method, task, seed, shots, backbone) cells of `reference` that `rows` lacks or gives another Base
    or New (the run time may differ), sorted."""
    mine = {_key(r): (r["base"], r["new"]) for r in rows}
    return sorted(_key(r) for r in reference if mine.get(_key(r)) != (r["base"], r["new"]))


def grid_cells(methods, tasks, seeds, shard: tuple[int, int] = (1, 1)) -> list[tuple[str, str, int]]:
    """The (method, task, seed) cells of the grid in a fixed order; shard (k, n) keeps every n-th from k."""
    k, n = shard
    if not 1 <= k <= n:
        raise ValueError(f"shard must be k/n with 1 <= k <= n, got {k}/{n}")
    cells = [(m, t, s) for t in tasks for m in methods for s in seeds]
    return cells[k - 1::n]


def run_grid(methods, tasks, seeds=(1, 2, 3), shots: int = 16, results: str | Path = "results/grid.csv",
             backbone=None, shard: tuple[int, int] = (1, 1), progress: bool = True) -> list[dict]:
    """Run every missing cell of the grid, appending one row per run to `results`; returns all rows there."""
    from tqdm.auto import tqdm
    from .backbone import load_clip
    specs = [get_method(m) for m in methods]
    backbone = backbone or load_clip()
    results = Path(results)
    results.parent.mkdir(parents=True, exist_ok=True)
    done = {_key(r) for r in read_rows(results)}
    todo = [c for c in grid_cells([s.name for s in specs], tasks, seeds, shard)
            if (c[0], c[1], c[2], shots, backbone.name) not in done]
    new_file = not results.exists() or results.stat().st_size == 0
    with results.open("a", newline="") as f:
        writer = csv.DictWriter(f, FIELDS)
        if new_file:
            writer.writeheader()
        for method, task, seed in tqdm(todo, desc="grid", disable=not progress):
            spec = METHODS[method]
            t0 = time.perf_counter()
            run = run_seed(_learners(spec, backbone), task, recipe(spec, backbone.name), seed, shots, progress=False)
            writer.writerow({"method": method, "task": task, "seed": seed, "shots": shots,
                             "backbone": backbone.name, "base": round(run["base"], 2),
                             "new": round(run["new"], 2), "seconds": round(time.perf_counter() - t0, 1)})
            f.flush()  # a finished run is on disk before the next starts
    return read_rows(results)


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


def difference_text(d: dict) -> str:
    """A paired difference as the chapters print it: "+2.1 ± 0.4", with " (tie)" when within its noise."""
    return f"{d['mean']:+.1f} ± {d['std']:.1f}" + ("" if d["beyond_noise"] else " (tie)")


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
