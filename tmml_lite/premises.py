"""The field's premises, measured: does a backbone and its downstream tasks leave prompt learning something to learn?

For real CLIP (ViT-B/16, 11 datasets, 16 shots) the field agrees on four facts, and every chapter of the book
builds on them. Per task and on average over seeds 1-3, with the base-to-new protocol:

(a) room to learn: zero-shot accuracy on the base classes is between 2 x chance and 85 % on every task;
(b) the image features carry the classes: a 16-shot linear probe on the frozen image features is at least
    5 points above zero-shot on base classes on average, and not below it on at least half the tasks;
(c) CoOp learns: CoOp's base accuracy is at least 8 points above zero-shot on average, and not below it on any task;
(d) CoOp overfits its base classes: CoOp's new-class accuracy is at least 3 points below zero-shot on average.

Each average difference of (b)-(d) must also exceed twice its standard deviation over seeds (paired: the same
seed means the same shots). On ViT-B/16: CoOp base +13.4 and new -11.0 against zero-shot.

For example::

    rows = premise_rows(load_clip(), ["shapes", "textures"], seeds=(1, 2, 3))
    print(premise_markdown(premise_table(rows)))
    print(check_premises(rows))
"""

from __future__ import annotations

import statistics
from pathlib import Path

import torch

from . import data
from .engine import TrainConfig, run_seed
from .methods import get_method, recipe
from .metrics import accuracy, paired_difference
from .store import CsvStore
from .zeroshot import CLIP_TEMPLATE, encode_images, similarity_matrix, text_classifier

FIELDS = ("task", "seed", "shots", "backbone", "chance", "zs_base", "zs_new", "lp_base", "lp_C", "coop_base",
          "coop_new")
PREMISE_STORE = CsvStore(FIELDS, key=("task", "seed", "shots", "backbone"),
                         types={k: int if k in ("seed", "shots") else float for k in FIELDS
                                if k not in ("task", "backbone")})
MEASURES = ("chance", "zs_base", "zs_new", "lp_base", "coop_base", "coop_new")  # the accuracies of a row (%)
PROBE_C = (0.01, 0.1, 1.0, 10.0, 100.0, 1000.0)  # inverse regularisation strengths the probe chooses from
# the committed premise table of the book's backbone (`make bench`):
#   TMML_PROFILE=tiny python -m tmml_lite premises --results tmml_lite/assets/premises.csv
COMMITTED_PREMISES = Path(__file__).parent / "assets" / "premises.csv"


def linear_probe(backbone, splits: dict, Cs=PROBE_C, features: dict | None = None) -> tuple[float, float]:
    """The linear-probe baseline of CLIP and CoOp: logistic regression on the frozen, unit-norm image features
    of the few-shot training images, its strength C chosen on the few-shot validation images (the first C of
    the best). Returns (accuracy % on the base test images, chosen C). `features`: the splits' image features
    ({"train", "val", "test_base": (N, D)}, from `zeroshot.encode_images`) if they are already encoded."""
    from sklearn.linear_model import LogisticRegression
    model, preprocess, _ = backbone
    if features is None:
        features = {k: encode_images(model, preprocess, splits[k].images) for k in ("train", "val", "test_base")}
    x_train, x_val, x_test = (features[k].cpu().numpy() for k in ("train", "val", "test_base"))
    best = None
    for C in Cs:
        probe = LogisticRegression(C=C, max_iter=2000).fit(x_train, splits["train"].labels)
        val = float((probe.predict(x_val) == splits["val"].labels).mean())
        if best is None or val > best[0]:
            best = (val, C, probe)
    _, C, probe = best
    return 100.0 * float((probe.predict(x_test) == splits["test_base"].labels).mean()), C


def premise_row(backbone, task, seed: int, shots: int = 16, coop_config: TrainConfig | None = None) -> dict:
    """One (task, seed) of a task given by name or as a `world.Task`: chance, zero-shot base / new, the linear
    probe on base, and CoOp base / new (all in %), CoOp being the book's (`methods.METHODS["CoOp"]`, its recipe
    unless `coop_config` is given)."""
    spec = get_method("CoOp")
    splits = data.base_to_new(task, shots, seed)
    model, preprocess, tokenizer = backbone
    features = {k: encode_images(model, preprocess, subset.images) for k, subset in splits.items()}  # once each

    def zero_shot(k):  # `zeroshot_accuracy` of the half's classes, on the features encoded above
        classifier = text_classifier(model, tokenizer, splits[k].classnames, [CLIP_TEMPLATE])
        return accuracy(similarity_matrix(features[k], classifier), torch.as_tensor(splits[k].labels))
    zs_base, zs_new = zero_shot("test_base"), zero_shot("test_new")
    lp_base, C = linear_probe(backbone, splits, features=features)
    coop = run_seed(spec.learners(backbone), task, coop_config or recipe(spec, backbone.name), seed, shots,
                    progress=False)
    return {"task": data.task_name(task), "seed": seed, "shots": shots, "backbone": backbone.name,
            "chance": round(100 / len(splits["test_base"].classnames), 2), "zs_base": round(zs_base, 2),
            "zs_new": round(zs_new, 2), "lp_base": round(lp_base, 2), "lp_C": C,
            "coop_base": round(coop["base"], 2), "coop_new": round(coop["new"], 2)}


def read_premise_rows(path) -> list[dict]:
    """The rows of a premise CSV (none if the file is missing)."""
    return PREMISE_STORE.read(path)


def premise_rows(backbone, tasks, seeds=(1, 2, 3), shots: int = 16, results: str | Path | None = None,
                 coop_config: TrainConfig | None = None, progress: bool = True) -> list[dict]:
    """`premise_row` for every task (names, or `world.Task` objects) and seed. With `results`, each row is appended to
    that CSV as soon as it is measured, and rows already there are not measured again (an interrupted run
    continues)."""
    from tqdm.auto import tqdm
    tasks = {data.task_name(t): t for t in tasks}
    rows = read_premise_rows(results) if results else []
    done = {PREMISE_STORE.cell(r) for r in rows}
    todo = [(t, s) for t in tasks for s in seeds if (t, s, shots, backbone.name) not in done]
    for task, seed in tqdm(todo, desc="premises", disable=not progress):
        row = premise_row(backbone, tasks[task], seed, shots, coop_config)
        rows.append(row)
        if results:
            PREMISE_STORE.append(results, row)
    wanted = {(t, s) for t in tasks for s in seeds}
    return [r for r in rows if (r["task"], r["seed"]) in wanted and r["shots"] == shots
            and r["backbone"] == backbone.name]


DIFFERENCES = {"LP - ZS base": ("lp_base", "zs_base"), "CoOp - ZS base": ("coop_base", "zs_base"),
               "CoOp - ZS new": ("coop_new", "zs_new")}


def _by_task(rows):
    tasks = list(dict.fromkeys(r["task"] for r in rows))
    return {t: sorted((r for r in rows if r["task"] == t), key=lambda r: r["seed"]) for t in tasks}


def premise_table(rows: list[dict]) -> list[dict]:
    """Per task and on average over the tasks: seed means of every measure, and the paired differences
    (mean and std over seeds). The average row averages each seed over the tasks first, then pairs the seeds."""
    by_task = _by_task(rows)
    seeds = sorted(set.intersection(*({r["seed"] for r in runs} for runs in by_task.values())))
    table = []
    for task, runs in list(by_task.items()) + [("average", None)]:
        if runs is None:  # per seed, the mean over tasks
            runs = [{k: statistics.mean(by_task[t][i][k] for t in by_task) for k in MEASURES}
                    for i in range(len(seeds))]
        row = {"task": task, "seeds": len(runs)}
        for k in MEASURES:
            row[k] = statistics.mean(r[k] for r in runs)
        for name, (a, b) in DIFFERENCES.items():
            d = paired_difference([r[a] for r in runs], [r[b] for r in runs])
            row[name], row[name + " std"] = d["mean"], d["std"]
        table.append(row)
    return table


def check_premises(rows: list[dict]) -> dict[str, tuple[bool, str]]:
    """Premises (a)-(d) of the module docstring: {letter: (holds, the numbers that decide it)}."""
    table = premise_table(rows)
    tasks, avg = table[:-1], table[-1]

    def beyond(name, sign):
        return sign * avg[name] > 2 * avg[name + " std"]

    low = [t["task"] for t in tasks if not 2 * t["chance"] <= t["zs_base"] <= 85]
    lp_ok = [t["task"] for t in tasks if t["LP - ZS base"] >= 0]
    coop_below = [t["task"] for t in tasks if t["CoOp - ZS base"] < 0]
    out = {
        "a": (not low, "zero-shot base within [2 x chance, 85] on every task"
              + (f"; not on {', '.join(low)}" if low else "")),
        "b": (avg["LP - ZS base"] >= 5 and 2 * len(lp_ok) >= len(tasks) and beyond("LP - ZS base", 1),
              f"LP - ZS base {avg['LP - ZS base']:+.1f} ± {avg['LP - ZS base std']:.1f} (need >= +5); "
              f"LP >= ZS on {len(lp_ok)} of {len(tasks)} tasks (need half)"),
        "c": (avg["CoOp - ZS base"] >= 8 and not coop_below and beyond("CoOp - ZS base", 1),
              f"CoOp - ZS base {avg['CoOp - ZS base']:+.1f} ± {avg['CoOp - ZS base std']:.1f} (need >= +8)"
              + (f"; below zero-shot on {', '.join(coop_below)}" if coop_below else "")),
        "d": (avg["CoOp - ZS new"] <= -3 and beyond("CoOp - ZS new", -1),
              f"CoOp - ZS new {avg['CoOp - ZS new']:+.1f} ± {avg['CoOp - ZS new std']:.1f} (need <= -3)"),
    }
    return out


def premise_frames(rows: list[dict]):
    """The premise table for the chapters, as two pandas DataFrames indexed by task (and "average"): the
    accuracies (seed means, %) and the paired differences ("+d ± std", "(tie)" when within twice the std)."""
    import pandas as pd
    from .grid import difference_text
    table = premise_table(rows)
    names = {"chance": "chance", "zs_base": "zero-shot B", "zs_new": "zero-shot N", "lp_base": "LP16 B",
             "coop_base": "CoOp B", "coop_new": "CoOp N"}
    accuracies = pd.DataFrame([{"task": r["task"], **{v: round(r[k], 1) for k, v in names.items()}}
                               for r in table]).set_index("task")
    columns = {"LP - ZS base": "LP16 − zero-shot, Base", "CoOp - ZS base": "CoOp − zero-shot, Base",
               "CoOp - ZS new": "CoOp − zero-shot, New"}
    differences = pd.DataFrame([
        {"task": r["task"], **{column: difference_text(
            {"mean": r[n], "std": r[n + " std"], "beyond_noise": r["seeds"] > 1 and abs(r[n]) > 2 * r[n + " std"]})
            for n, column in columns.items()}} for r in table]).set_index("task")
    return accuracies, differences

def premise_markdown(table: list[dict]) -> str:
    """The premise table as Markdown: means over seeds, and each paired difference as mean ± std."""
    lines = ["| task | chance | zero-shot B / N | LP16 B | CoOp B / N | LP - ZS base | CoOp - ZS base | "
             "CoOp - ZS new |", "|---|---|---|---|---|---|---|---|"]
    for r in table:
        diffs = " | ".join(f"{r[n]:+.1f} ± {r[n + ' std']:.1f}" for n in DIFFERENCES)
        lines.append(f"| {r['task']} | {r['chance']:.1f} | {r['zs_base']:.1f} / {r['zs_new']:.1f} | "
                     f"{r['lp_base']:.1f} | {r['coop_base']:.1f} / {r['coop_new']:.1f} | {diffs} |")
    return "\n".join(lines)
