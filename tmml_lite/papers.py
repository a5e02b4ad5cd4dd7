"""The published ViT-B/16 results of all three protocols, and ours in the same shape, row for row.

For example::

    rows = paper_rows(grid.summarize_rows(grid.read_rows("results/full.csv")))
    print(markdown(rows))   # or pandas.DataFrame(rows)
    published("CoOp", "eurosat")  # CoOp's (Base, New, H) on EuroSAT

The papers (16 shots, seeds 1-3, 11 datasets, ViT-B/16 with OpenAI's weights) report Base / New / H per
dataset and averaged over the 11: "average" is the mean of Base and of New over the datasets, and its H is H of
those two means. The numbers and the paper each comes from are in `assets/papers/` (CSV files with a README that
says how they were checked). TMML's paper is known to us by its abstract only: its gains over CoCoOp on the
average, no per-dataset numbers.
"""

from __future__ import annotations

import csv
from pathlib import Path

from .metrics import harmonic_mean

PAPERS = Path(__file__).parent / "assets" / "papers"

# the papers' dataset order (CoCoOp, Table 1) and names; ours on the left (UCF101 is not registered here)
PAPER_DATASETS = {
    "imagenet": "ImageNet", "caltech101": "Caltech101", "oxford_pets": "OxfordPets",
    "stanford_cars": "StanfordCars", "flowers102": "Flowers102", "food101": "Food101",
    "fgvc_aircraft": "FGVCAircraft", "sun397": "SUN397", "dtd": "DTD", "eurosat": "EuroSAT", "ucf101": "UCF101",
}
PAPER_METHODS = {"zero-shot": "CLIP", "CoOp": "CoOp", "CoCoOp": "CoCoOp", "TMML": "TMML"}  # ours -> the papers'


def _read(name: str) -> list[dict]:
    with (PAPERS / name).open(newline="") as f:
        return list(csv.DictReader(f))


# (method, dataset or "average") -> (Base, New, H), the papers' names: CLIP (a hand-written template per dataset),
# CoOp and CoCoOp from the CoCoOp paper's Table 1, KgCoOp, MaPLe, PromptSRC, TCP and MMRL from their own papers.
PUBLISHED = {(r["method"], r["dataset"]): (float(r["base"]), float(r["new"]), float(r["H"]))
             for r in _read("base_to_new_vit_b16.csv")}
SOURCES = {(r["method"], r["dataset"]): r["source"] for r in _read("base_to_new_vit_b16.csv")}
# Source: Long et al., "Task-Oriented Multi-Modal Mutual Learning for Vision-Language Models", ICCV 2023
# (arXiv:2303.17169), abstract: over CoCoOp, on average over the 11 datasets. Its Base is not in the abstract.
TMML_GAINS_OVER_COCOOP = {"new": 4.03, "H": 3.19}


def published(method: str, dataset: str = "average") -> tuple[float | None, float | None, float | None]:
    """(Base, New, H) the papers report for `method` (ours or the papers' name) on `dataset` (ours, the
    papers' name or "average", over their 11 datasets); None where they report nothing."""
    method, dataset = PAPER_METHODS.get(method, method), PAPER_DATASETS.get(dataset, dataset)
    if method == "TMML" and dataset == "average":
        _, new, h = PUBLISHED[("CoCoOp", "average")]
        return None, new + TMML_GAINS_OVER_COCOOP["new"], h + TMML_GAINS_OVER_COCOOP["H"]
    return PUBLISHED.get((method, dataset), (None, None, None))


def published_average(method: str, datasets) -> tuple[float | None, float | None, float | None]:
    """The papers' average of `method` over `datasets` (ours or the papers' names), computed as they compute
    theirs (the mean Base, the mean New, H of the two), so that an average over fewer datasets is compared
    with the papers' average over the same ones; over all 11 it is the published average. (None, None, None)
    when a dataset has no published row."""
    names = {PAPER_DATASETS.get(d, d) for d in datasets}
    if names == set(PAPER_DATASETS.values()):
        return published(method)
    rows = [published(method, d) for d in names]
    if not rows or any(r[0] is None for r in rows):
        return None, None, None
    base, new = sum(r[0] for r in rows) / len(rows), sum(r[1] for r in rows) / len(rows)
    return base, new, harmonic_mean(base, new)


def published_frame(methods, dataset: str):
    """What the papers publish for `methods` (ours or the papers' names) on `dataset` (ours or the papers'
    name), as a DataFrame: one row per method that has one (Base, New, H in %)."""
    import pandas as pd
    name = PAPER_DATASETS.get(dataset, dataset)
    records = []
    for method in methods:
        base, new, h = published(method, name)
        if base is not None:
            records.append({"method": method, "Base": base, "New": new, "H": h})
    frame = pd.DataFrame(records, columns=["method", "Base", "New", "H"]).set_index("method")
    return frame.rename_axis(columns=f"{name}, ViT-B/16, papers")


def paper_rows(summary: list[dict]) -> list[dict]:
    """One row per (dataset, method) of `grid.summarize_rows(...)`, in the papers' order (the average first),
    with our seed-averaged Base / New / H and the published ones beside them (None where there are none): per
    dataset the paper's row, and beside our average the papers' average over the same datasets."""
    tasks = [t for t in dict.fromkeys(r["task"] for r in summary) if t != "average"]
    order = {name: i for i, name in enumerate(PAPER_DATASETS)}
    tasks.sort(key=lambda t: order.get(t, len(order)))  # the papers' datasets first, in their order
    methods = list(dict.fromkeys(r["method"] for r in summary))
    cell = {(r["method"], r["task"]): r for r in summary}
    rows = []
    for task in ["average"] + tasks:
        label = f"average of {len(tasks)}" if task == "average" else PAPER_DATASETS.get(task, task)
        for method in methods:
            r = cell.get((method, task))
            if r is None:
                continue
            paper = published_average(method, tasks) if task == "average" else published(method, task)
            rows.append({"dataset": label, "method": method, "seeds": r["seeds"], "Base": r["base"],
                         "New": r["new"], "H": r["H"],
                         "paper Base": paper[0], "paper New": paper[1], "paper H": paper[2]})
    return rows


def markdown(rows: list[dict]) -> str:
    """`paper_rows` as a Markdown table, numbers to 0.1 point (to 0.01 for the published ones), "" for none."""
    columns = list(rows[0]) if rows else ["dataset", "method"]

    def text(column, value):
        if value is None:
            return ""
        if isinstance(value, float):
            return f"{value:.2f}" if column.startswith("paper") else f"{value:.1f}"
        return str(value)
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(text(c, row[c]) for c in columns) + " |" for row in rows]
    return "\n".join(lines)


# The other two protocols: prompts learned on ImageNet (all 1000 classes, 16 shots), tested on other datasets
# (cross-dataset; "average" is over the 10 targets, UCF101 included, ImageNet excluded) or on ImageNet's shifted
# versions (domain generalization; the average of the 4 targets). (protocol, method) -> {dataset or "average":
# accuracy %}; CLIP, CoOp and CoCoOp from the CoCoOp paper's Tables 2 and 3 (the CLIP row of cross-dataset as
# later papers quote it), the later methods from their own papers; each row's source is in its CSV.
PUBLISHED_TRANSFER: dict[tuple[str, str], dict[str, float]] = {}
for _protocol, _file in (("cross-dataset", "cross_dataset_vit_b16.csv"),
                         ("domain-generalization", "domain_generalization_vit_b16.csv")):
    for _r in _read(_file):
        _dataset = "average" if _r["role"] == "average" else _r["dataset"]
        PUBLISHED_TRANSFER.setdefault((_protocol, _r["method"]), {})[_dataset] = float(_r["accuracy"])
TRANSFER_DATASETS = {"imagenet_v2": "ImageNet-V2", "imagenet_sketch": "ImageNet-Sketch", "imagenet_a": "ImageNet-A",
                     "imagenet_r": "ImageNet-R"}


def published_transfer(protocol: str) -> dict[str, dict[str, float]]:
    """{our method name: {our dataset name or "average": accuracy %}} the papers publish for `protocol`
    ("cross-dataset" or "domain-generalization")."""
    ours = {v: k for k, v in {**PAPER_DATASETS, **TRANSFER_DATASETS}.items()}
    methods = {v: k for k, v in PAPER_METHODS.items()}
    return {methods.get(m, m): {ours.get(d, d): acc for d, acc in values.items()}
            for (p, m), values in PUBLISHED_TRANSFER.items() if p == protocol}
