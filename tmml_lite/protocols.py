"""The field's other two protocols (CoCoOp, Tables 2 and 3): cross-dataset transfer and domain generalization.

Both train a learner once on a source with all its classes (16 shots, seeds 1-3) and test it, unchanged, on
targets, each only against the target's own class names: other datasets with all their classes
(cross-dataset), or the source's classes under shifts (domain generalization). The papers' source is ImageNet;
the world's is its task with the most classes (`world.SOURCE_TASK`). Zero-shot scores every task with the
task's own hand-written template, as the papers' zero-shot row does. For example::

    rows = run_transfer(["zero-shot", "CoOp"], seeds=(1, 2, 3), results="results/transfer.csv")
    print(transfer_frame(rows, "domain-generalization"))

A run (method, seed) appends one row per task it is tested on, the source included, as soon as it ends; a run
whose rows are all in the file is not run again, so an interrupted grid continues where it stopped.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass, replace
from pathlib import Path

from . import data, world
from .engine import evaluate, fit
from .methods import get_method, recipe
from .metrics import difference_text, paired_difference
from .store import CsvStore
from .zeroshot import encode_images, features_accuracy

FIELDS = ("method", "source", "target", "seed", "shots", "backbone", "accuracy", "seconds")
TRANSFER_STORE = CsvStore(FIELDS, key=("method", "target", "seed", "shots", "backbone"),
                          types={"seed": int, "shots": int, "accuracy": float, "seconds": float})


@dataclass(frozen=True)
class Protocol:
    """A source trained on with all its classes, and the targets the learned prompt is tested on (tasks of the
    world or names of `datasets.DATASETS`)."""
    name: str
    source: object
    targets: tuple

    @property
    def tasks(self) -> tuple:
        return (self.source, *self.targets)


# The committed grid of chapter 7 on the world's protocols: the step-matched control, CoCoOp and TMML, seeds 1-3
# (zero-shot's and CoOp's rows are the premise table's, `premises.COMMITTED_TRANSFER`, run before these):
#   TMML_PROFILE=tiny python -m tmml_lite bench --protocol cross-dataset domain-generalization \
#       --methods "CoOp (batch 4)" CoCoOp TMML --results tmml_lite/assets/transfer.csv
TRANSFER_RESULTS = Path(__file__).parent / "assets" / "transfer.csv"

TINY = {
    "cross-dataset": Protocol("cross-dataset", world.SOURCE_TASK, tuple(world.CROSS_DATASET_TASKS.values())),
    "domain-generalization": Protocol("domain-generalization", world.SOURCE_TASK, tuple(world.DG_TASKS.values())),
}
FULL = {  # CoCoOp's datasets; UCF101, the papers' tenth cross-dataset target, is not among ours
    "cross-dataset": Protocol("cross-dataset", "imagenet", ("caltech101", "oxford_pets", "stanford_cars",
                                                            "flowers102", "food101", "fgvc_aircraft", "sun397",
                                                            "dtd", "eurosat")),
    "domain-generalization": Protocol("domain-generalization", "imagenet",
                                      ("imagenet_v2", "imagenet_sketch", "imagenet_a", "imagenet_r")),
}


def protocols_for(backbone_name: str) -> dict[str, Protocol]:
    """The protocols of a backbone's profile: the world's for TinyCLIP, the real datasets' otherwise."""
    from .backbone import TINY_MODELS
    return TINY if backbone_name in TINY_MODELS else FULL


def zeroshot_scores(backbone, tasks) -> dict[str, float]:
    """{task name: zero-shot accuracy in %} on each task's test split with its own first template."""
    model, preprocess, _ = backbone
    scores = {}
    for task in tasks:
        test = data.all_classes(task, shots=0)["test"]
        features = encode_images(model, preprocess, test.images)
        scores[data.task_name(task)] = features_accuracy(backbone, features, test.labels, test.classnames,
                                                         data.task_templates(task)[:1])
    return scores


def transfer_run(method, backbone, tasks, seed: int, shots: int = 16, run_dir=None,
                 progress: bool = False) -> dict[str, float]:
    """Train `method` (a name of `methods.METHODS` or a spec) on the first of `tasks` with all its classes,
    then test it on every one of `tasks`: {task name: accuracy in %}. Zero-shot trains nothing."""
    spec = get_method(method)
    if spec.template:  # zero-shot: each task scored with its own hand-written template
        return zeroshot_scores(backbone, tasks)
    source = data.all_classes(tasks[0], shots, seed)
    learner = spec.learners(backbone)(source["train"].classnames, seed)
    fit(learner, source["train"], replace(recipe(spec, backbone.name), seed=seed),
        run_dir=None if run_dir is None else Path(run_dir) / f"seed{seed}", progress=progress,
        make_optimizer=spec.make_optimizer)
    return {data.task_name(t): evaluate(learner, data.all_classes(t, shots=0)["test"]) for t in tasks}


def run_transfer(methods, protocols=("cross-dataset", "domain-generalization"), seeds=(1, 2, 3), shots: int = 16,
                 results: str | Path = "results/transfer.csv", backbone=None, shard: tuple[int, int] = (1, 1),
                 progress: bool = True) -> list[dict]:
    """Run every missing (method, seed) of the protocols (they share one source, so one training serves both),
    appending a row per tested task to `results`; returns all rows there. shard (k, n) keeps every n-th run."""
    from tqdm.auto import tqdm
    from .backbone import load_clip
    backbone = backbone or load_clip()
    chosen = [protocols_for(backbone.name)[p] if isinstance(p, str) else p for p in protocols]
    sources = {data.task_name(p.source) for p in chosen}
    if len(sources) != 1:
        raise ValueError(f"these protocols train on different sources {sorted(sources)}; run them one at a time")
    tasks = list({data.task_name(t): t for p in chosen for t in p.tasks}.values())
    k, n = shard
    if not 1 <= k <= n:
        raise ValueError(f"shard must be k/n with 1 <= k <= n, got {k}/{n}")
    runs = [(get_method(m), s) for m in methods for s in seeds][k - 1::n]
    done = TRANSFER_STORE.done(results)
    todo = [(spec, s) for spec, s in runs
            if any((spec.name, data.task_name(t), s, shots, backbone.name) not in done for t in tasks)]
    zeroshot = None  # zero-shot trains nothing: its scores serve every seed
    for spec, seed in tqdm(todo, desc="transfer", disable=not progress):
        t0 = time.perf_counter()
        if spec.template:
            zeroshot = zeroshot or transfer_run(spec, backbone, tasks, seed, shots)
            scores = zeroshot
        else:
            scores = transfer_run(spec, backbone, tasks, seed, shots)
        seconds = round(time.perf_counter() - t0, 1)
        for target, acc in scores.items():
            if (spec.name, target, seed, shots, backbone.name) not in done:
                TRANSFER_STORE.append(results, {"method": spec.name, "source": data.task_name(tasks[0]),
                                                "target": target, "seed": seed, "shots": shots,
                                                "backbone": backbone.name, "accuracy": round(acc, 2),
                                                "seconds": seconds})
    return TRANSFER_STORE.read(results)


def read_transfer_rows(*paths) -> list[dict]:
    """The rows of one or more transfer CSVs."""
    return TRANSFER_STORE.read(*paths)


def is_transfer_csv(path) -> bool:
    """Does `path` hold rows of `run_transfer` (rather than of the base-to-new grid)?"""
    path = Path(path)
    return path.exists() and path.open().readline().strip().split(",") == list(FIELDS)


def _target_names(protocol: Protocol) -> list[str]:
    return [data.task_name(t) for t in protocol.targets]


def transfer_means(rows: list[dict], protocol: Protocol) -> dict[str, dict]:
    """Per method: {"source", each target, "average" (of the targets, source excluded)}: seed means in %, and
    "seeds" (the seeds that have every task of the protocol)."""
    names = [data.task_name(protocol.source), *_target_names(protocol)]
    out = {}
    for method in dict.fromkeys(r["method"] for r in rows):
        mine = {(r["target"], r["seed"]): r["accuracy"] for r in rows if r["method"] == method}
        seeds = sorted(s for s in {s for _, s in mine} if all((t, s) in mine for t in names))
        if not seeds:
            continue
        means = {t: statistics.mean(mine[(t, s)] for s in seeds) for t in names}
        means["average"] = statistics.mean(means[t] for t in names[1:])
        out[method] = {**means, "seeds": seeds}
    return out


def per_seed_average(rows: list[dict], protocol: Protocol, method: str) -> dict[int, float]:
    """{seed: the method's mean over the protocol's targets} for the seeds that have them all."""
    targets = _target_names(protocol)
    mine = {(r["target"], r["seed"]): r["accuracy"] for r in rows if r["method"] == method}
    seeds = {s for _, s in mine}
    return {s: statistics.mean(mine[(t, s)] for t in targets) for s in sorted(seeds)
            if all((t, s) in mine for t in targets)}


def transfer_frame(rows: list[dict], protocol: str | Protocol, backbone_name: str | None = None):
    """The protocol in the papers' shape, as a DataFrame: one row per method, the source, each target and the
    average of the targets (source excluded), seed means in %."""
    import pandas as pd
    if isinstance(protocol, str):
        protocol = protocols_for(backbone_name or rows[0]["backbone"])[protocol]
    means = transfer_means(rows, protocol)
    columns = [data.task_name(protocol.source), *_target_names(protocol), "average"]
    records = [{"method": m, **{c: round(v[c], 1) for c in columns}} for m, v in means.items()]
    return pd.DataFrame(records, columns=["method", *columns]).set_index("method")


def transfer_paired_frame(rows: list[dict], protocol: str | Protocol, a: str, b: str,
                          backbone_name: str | None = None):
    """The paired differences a - b of two methods over the seeds both ran, on the source, each target and the
    average of the targets, as a one-row DataFrame of "+d ± std" cells ("(tie)" within twice the std)."""
    import pandas as pd
    if isinstance(protocol, str):
        protocol = protocols_for(backbone_name or rows[0]["backbone"])[protocol]
    names = [data.task_name(protocol.source), *_target_names(protocol)]

    def per_seed(method):
        mine = {(r["target"], r["seed"]): r["accuracy"] for r in rows if r["method"] == method}
        values = {}
        for seed in sorted({s for _, s in mine}):
            if all((t, seed) in mine for t in names):
                values[seed] = {**{t: mine[(t, seed)] for t in names},
                                "average": statistics.mean(mine[(t, seed)] for t in names[1:])}
        return values
    va, vb = per_seed(a), per_seed(b)
    seeds = sorted(set(va) & set(vb))
    if not seeds:
        raise ValueError(f"{a!r} and {b!r} share no seed with every task of {protocol.name} in these rows")
    record = {column: difference_text(paired_difference([va[s][column] for s in seeds],
                                                        [vb[s][column] for s in seeds]))
              for column in [*names, "average"]}
    return pd.DataFrame([record], index=pd.Index([f"{a} − {b}"], name=protocol.name))
