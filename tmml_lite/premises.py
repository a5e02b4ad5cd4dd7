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

The zero-shot row uses each task's own hand-written template, as the papers' does. Two more premises say whether
the world leaves the paper's ideas room:

(e) the wording depends on the image: on the tasks whose pictures come in several renderings, an oracle that
    writes each image's prompts with its own rendering's template (`rendering_oracle`) beats the best single
    template by >= 5 points on the new classes, and CoOp's one context stays >= 3 below that oracle;
(f) the evidence is local: on a task with distractors, zero-shot on an oracle crop around the labelled object
    (`crop_oracle`) beats the whole image by >= 5 points on each of three draws of the test images.

For example::

    rows = premise_rows(load_clip(), ["shapes", "textures"], seeds=(1, 2, 3))
    print(premise_markdown(premise_table(rows)))
    print(check_premises(rows))
"""

from __future__ import annotations

import statistics
from pathlib import Path

import torch

import numpy as np

from . import data, world
from .engine import TrainConfig, run_seed
from .methods import get_method, recipe
from .metrics import accuracy, difference_text, paired_difference
from .store import CsvStore
from .zeroshot import (OWN, encode_images, features_accuracy, own_template, similarity_matrix,
                       text_classifier)

FIELDS = ("task", "seed", "shots", "backbone", "chance", "zs_base", "zs_new", "lp_base", "lp_C", "coop_base",
          "coop_new")
PREMISE_STORE = CsvStore(FIELDS, key=("task", "seed", "shots", "backbone"),
                         types={k: int if k in ("seed", "shots") else float for k in FIELDS
                                if k not in ("task", "backbone")})
MEASURES = ("chance", "zs_base", "zs_new", "lp_base", "coop_base", "coop_new")  # the accuracies of a row (%)
PROBE_C = (0.01, 0.1, 1.0, 10.0, 100.0, 1000.0)  # inverse regularisation strengths the probe chooses from
# the committed premise table of the book's backbone and world (`make bench`), with the oracles' rows of (e) and (f)
# and the transfer rows of (g) and (h) beside it:
#   TMML_PROFILE=tiny python -m tmml_lite premises --results tmml_lite/assets/premises.csv
COMMITTED_PREMISES = Path(__file__).parent / "assets" / "premises.csv"
COMMITTED_RENDERINGS, COMMITTED_CROPS, COMMITTED_TRANSFER = (COMMITTED_PREMISES.with_name(f"premises_{kind}.csv")
                                                             for kind in ("renderings", "crops", "transfer"))


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


def premise_row(backbone, task, seed: int, shots: int = 16, coop_config: TrainConfig | None = None,
                template: str = OWN) -> dict:
    """One (task, seed) of a task given by name or as a `world.Task`: chance, zero-shot base / new (with
    `template`, or the task's own if it is `OWN`), the linear probe on base, and CoOp base / new (all in %), CoOp
    being the book's (`methods.METHODS["CoOp"]`, its recipe unless `coop_config` is given)."""
    spec = get_method("CoOp")
    splits = data.base_to_new(task, shots, seed)
    model, preprocess, _ = backbone
    features = {k: encode_images(model, preprocess, subset.images) for k, subset in splits.items()}  # once each
    template = own_template(task) if template == OWN else template
    zs_base, zs_new = (features_accuracy(backbone, features[k], splits[k].labels, splits[k].classnames, [template])
                       for k in ("test_base", "test_new"))
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
                 coop_config: TrainConfig | None = None, progress: bool = True,
                 template: str = OWN) -> list[dict]:
    """`premise_row` for every task (names, or `world.Task` objects) and seed. With `results`, each row is appended to
    that CSV as soon as it is measured, and rows already there are not measured again (an interrupted run
    continues)."""
    from tqdm.auto import tqdm
    tasks = {data.task_name(t): t for t in tasks}
    rows = read_premise_rows(results) if results else []
    done = {PREMISE_STORE.cell(r) for r in rows}
    todo = [(t, s) for t in tasks for s in seeds if (t, s, shots, backbone.name) not in done]
    for task, seed in tqdm(todo, desc="premises", disable=not progress):
        row = premise_row(backbone, tasks[task], seed, shots, coop_config, template)
        rows.append(row)
        if results:
            PREMISE_STORE.append(results, row)
    wanted = {(t, s) for t in tasks for s in seeds}
    return [r for r in rows if (r["task"], r["seed"]) in wanted and r["shots"] == shots
            and r["backbone"] == backbone.name]


RENDERING_STORE = CsvStore(("task", "backbone", "half", "own", "best_template", "best", "oracle"),
                           key=("task", "backbone", "half"), types={"own": float, "best": float, "oracle": float})
CROP_STORE = CsvStore(("task", "draw", "backbone", "half", "whole", "crop"), key=("task", "draw", "backbone", "half"),
                      types={"draw": int, "whole": float, "crop": float})
DRAW_STEP = 1000  # another draw of a task's test images: its draw seed + k * DRAW_STEP


def _halves(task, labels):
    """For the base and the new half: (name, mask of its images, labels relabelled from 0, its class names)."""
    base, new = data.base_new_classes(len(task.classnames))
    for half, ids in (("base", base), ("new", new)):
        keep = np.isin(labels, ids)
        yield half, keep, torch.as_tensor(labels[keep] - ids[0]), [task.classnames[i] for i in ids]


def rendering_oracle(backbone, task) -> list[dict]:
    """Premise (e)'s zero-shot measures on a world task whose test images come in several renderings, per half
    (base, new), in %: the task's own template; the best single template among `world.RENDERING_TEMPLATES` and
    the task's own templates, and its accuracy; and the oracle that writes each image's prompts with the
    template of its own rendering."""
    model, preprocess, tokenizer = backbone
    task = world.get_task(task) if isinstance(task, str) else task
    images, labels, details = world.task_split(task, "test", details=True)
    renderings = np.array([d["rendering"] for d in details])
    features = encode_images(model, preprocess, images)
    rows = []
    for half, keep, y, names in _halves(task, labels):
        f = features[torch.as_tensor(keep)]
        templates = list(dict.fromkeys([*world.RENDERING_TEMPLATES.values(), *data.task_templates(task)]))
        logits = {t: similarity_matrix(f, text_classifier(model, tokenizer, names, [t]))
                  for t in templates}  # {template: (N, C)}
        single = {t: accuracy(l, y) for t, l in logits.items()}
        best = max(single, key=single.get)
        oracle = torch.stack([logits[world.RENDERING_TEMPLATES[r]][i] for i, r in enumerate(renderings[keep])])
        rows.append({"task": task.name, "backbone": backbone.name, "half": half,
                     "own": round(single[own_template(task)], 2), "best_template": best,
                     "best": round(single[best], 2), "oracle": round(accuracy(oracle, y), 2)})
    return rows


def crop_oracle(backbone, task, draws: int = 3) -> list[dict]:
    """Premise (f)'s zero-shot measures (the task's own template), per draw of the test images (the task's, then
    + DRAW_STEP, ...) and half, in %: on the whole image, and on the oracle crop around the labelled object
    (`world.object_crop`)."""
    from dataclasses import replace
    model, preprocess, _ = backbone
    task = world.get_task(task) if isinstance(task, str) else task
    rows = []
    for k in range(draws):
        drawn = replace(task, draw=task.draw + k * DRAW_STEP)
        images, labels, details = world.task_split(drawn, "test", details=True)
        crops = np.stack([world.object_crop(image, d["box"]) for image, d in zip(images, details)])
        whole, cropped = encode_images(model, preprocess, images), encode_images(model, preprocess, crops)
        for half, keep, y, names in _halves(task, labels):
            mask, template = torch.as_tensor(keep), [own_template(task)]
            rows.append({"task": task.name, "draw": drawn.draw, "backbone": backbone.name, "half": half,
                         "whole": round(features_accuracy(backbone, whole[mask], y, names, template), 2),
                         "crop": round(features_accuracy(backbone, cropped[mask], y, names, template), 2)})
    return rows


def oracle_rows(store: CsvStore, measure, backbone, tasks, results: str | Path | None = None) -> list[dict]:
    """`measure(backbone, task)` (`rendering_oracle` or `crop_oracle`) for every task, its rows appended to
    `results` (rows already there are kept, their tasks not measured again)."""
    rows = store.read(results) if results else []
    done = {r["task"] for r in rows if r["backbone"] == backbone.name}
    for task in tasks:
        if data.task_name(task) in done:
            continue
        for row in measure(backbone, task):
            rows.append(row)
            if results:
                store.append(results, row)
    names = {data.task_name(t) for t in tasks}
    return [r for r in rows if r["task"] in names and r["backbone"] == backbone.name]


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


def check_premises(rows: list[dict], renderings: list[dict] | None = None,
                   crops: list[dict] | None = None) -> dict[str, tuple[bool, str]]:
    """Premises (a)-(d) of the module docstring, and (e) and (f) when their oracle rows are given (`rendering_oracle`,
    `crop_oracle`): {letter: (holds, the numbers that decide it)}."""
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
    if renderings:
        out["e"] = _check_renderings(rows, renderings)
    if crops:
        out["f"] = _check_crops(crops)
    return out


def _check_renderings(rows, renderings):
    """(e): on the new classes of the tasks with mixed renderings, the rendering oracle beats the best single
    template by >= 5 on average, and CoOp's one context stays >= 3 below the oracle (per seed, averaged over the
    tasks, beyond twice its std over seeds)."""
    new = {r["task"]: r for r in renderings if r["half"] == "new"}
    tasks = sorted(new)
    gain = statistics.mean(new[t]["oracle"] - new[t]["best"] for t in tasks)
    by_task = _by_task([r for r in rows if r["task"] in new])
    if set(by_task) != set(tasks):
        return False, f"CoOp rows missing for {', '.join(sorted(set(tasks) - set(by_task)))}"
    seeds = range(min(len(v) for v in by_task.values()))
    oracle = [statistics.mean(new[t]["oracle"] for t in tasks) for _ in seeds]
    coop = [statistics.mean(by_task[t][i]["coop_new"] for t in tasks) for i in seeds]
    d = paired_difference(oracle, coop)
    holds = gain >= 5 and d["mean"] >= 3 and d["beyond_noise"]
    return holds, (f"on {', '.join(tasks)}, new classes: oracle - best single template {gain:+.1f} (need >= +5); "
                   f"oracle - CoOp {d['mean']:+.1f} ± {d['std']:.1f} (need >= +3)")


def crop_gains(crops: list[dict]) -> dict[str, list[float]]:
    """{task: zero-shot on the oracle crop minus the whole image, per draw of the test images (mean of the base
    and new halves)}, from `crop_oracle` rows."""
    gains: dict[str, dict[int, list[float]]] = {}
    for r in crops:
        gains.setdefault(r["task"], {}).setdefault(r["draw"], []).append(r["crop"] - r["whole"])
    return {t: [statistics.mean(g) for g in draws.values()] for t, draws in gains.items()}


def _check_crops(crops):
    """(f): zero-shot on the oracle crop beats the whole image by >= 5 points (mean of base and new) on every draw
    of some task."""
    per_task = crop_gains(crops)
    holding = [t for t, g in per_task.items() if len(g) >= 3 and min(g) >= 5]
    numbers = "; ".join(f"{t}: crop - whole " + ", ".join(f"{x:+.1f}" for x in g) for t, g in per_task.items())
    return bool(holding), numbers + " (need >= +5 on each of 3 draws)"


def check_transfer(rows: list[dict], protocols: dict | None = None) -> dict[str, tuple[bool, str]]:
    """Premises (g) and (h) from the rows of `protocols.run_transfer` for zero-shot and CoOp, paired by seed:
    (g) CoOp's gain over zero-shot on the source is at least twice its mean gain over the domain-generalization
    targets; (h) CoOp's mean over the cross-dataset targets is within 2 points of zero-shot's, or below it.
    {letter: (holds, the numbers that decide it)}."""
    from .protocols import TINY, per_seed_average
    protocols = protocols or TINY
    out = {}
    dg, cd = protocols["domain-generalization"], protocols["cross-dataset"]
    source = data.task_name(dg.source)
    acc = {(r["method"], r["target"], r["seed"]): r["accuracy"] for r in rows}
    zs_dg, coop_dg = per_seed_average(rows, dg, "zero-shot"), per_seed_average(rows, dg, "CoOp")
    seeds = sorted(s for s in coop_dg if ("CoOp", source, s) in acc)
    zs_seed = next(iter(zs_dg), None)  # zero-shot trains nothing: every seed gives the same numbers
    if seeds and zs_seed is not None:
        gain_source = [acc[("CoOp", source, s)] - acc[("zero-shot", source, zs_seed)] for s in seeds]
        gain_targets = [coop_dg[s] - zs_dg[zs_seed] for s in seeds]
        d = paired_difference(gain_source, [2 * g for g in gain_targets])
        src = paired_difference(gain_source, [0.0] * len(seeds))
        out["g"] = (d["mean"] > 0 and d["beyond_noise"] and src["mean"] > 0 and src["beyond_noise"],
                    f"CoOp - ZS on the source {src['mean']:+.1f} ± {src['std']:.1f}, on the shifted targets "
                    f"{statistics.mean(gain_targets):+.1f} (need the source's >= twice the targets', beyond noise: "
                    f"source - 2 x targets {d['mean']:+.1f} ± {d['std']:.1f})")
    zs_cd, coop_cd = per_seed_average(rows, cd, "zero-shot"), per_seed_average(rows, cd, "CoOp")
    if coop_cd and zs_cd:
        zs = zs_cd[next(iter(zs_cd))]
        d = paired_difference(list(coop_cd.values()), [zs] * len(coop_cd))
        out["h"] = (d["mean"] + 2 * d["std"] <= 2,
                    f"CoOp - ZS over the other tasks {d['mean']:+.1f} ± {d['std']:.1f} (need <= +2, "
                    f"noise included)")
    return out


def premise_frames(rows: list[dict]):
    """The premise table for the chapters, as two pandas DataFrames indexed by task (and "average"): the
    accuracies (seed means, %) and the paired differences ("+d ± std", "(tie)" when within twice the std)."""
    import pandas as pd
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


def room_frame(tasks, renderings: list[dict] | None = None, crops: list[dict] | None = None):
    """Where the world gives the paper's ideas room, as a pandas DataFrame indexed by task: premise (e), zero-shot
    with each image's own rendering template minus the best single template, on the new classes, and premise
    (f), zero-shot on an oracle crop of the labelled object minus the whole image, on each draw of the test
    images; "none" where a task has neither. The committed oracle rows by default."""
    import pandas as pd
    renderings = RENDERING_STORE.read(COMMITTED_RENDERINGS) if renderings is None else renderings
    crops = CROP_STORE.read(COMMITTED_CROPS) if crops is None else crops
    new = {r["task"]: r["oracle"] - r["best"] for r in renderings if r["half"] == "new"}
    local = crop_gains(crops)
    records = []
    for task in map(data.task_name, tasks):
        if task in new:
            records.append({"task": task, "room by": "(e) the wording depends on the image",
                            "oracle − zero-shot": f"{new[task]:+.1f} (new classes)"})
        elif task in local:
            records.append({"task": task, "room by": "(f) the evidence is local",
                            "oracle − zero-shot": ", ".join(f"{g:+.1f}" for g in local[task])
                            + f" ({len(local[task])} draws)"})
        else:
            records.append({"task": task, "room by": "none", "oracle − zero-shot": ""})
    return pd.DataFrame(records).set_index("task")


def oracle_markdown(renderings: list[dict], crops: list[dict]) -> str:
    """The oracle rows of premises (e) and (f) as Markdown tables."""
    lines = ["| task | half | own template | best single template | oracle: each image's rendering |",
             "|---|---|---|---|---|"]
    lines += [f"| {r['task']} | {r['half']} | {r['own']:.1f} | {r['best']:.1f} ({r['best_template']}) | "
              f"{r['oracle']:.1f} |" for r in renderings]
    lines += ["", "| task | draw | half | whole image | oracle crop |", "|---|---|---|---|---|"]
    lines += [f"| {r['task']} | {r['draw']} | {r['half']} | {r['whole']:.1f} | {r['crop']:.1f} |" for r in crops]
    return "\n".join(lines)
