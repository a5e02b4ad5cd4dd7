"""The published ViT-B/16 base-to-new results, and ours in the same shape, row for row.

For example::

    rows = paper_rows(grid.summarize_rows(grid.read_rows("results/full.csv")))
    print(markdown(rows))   # or pandas.DataFrame(rows)

The papers (16 shots, seeds 1-3, 11 datasets, ViT-B/16 with OpenAI's weights) report Base / New / H per dataset
and averaged over the 11. Only the averages are here: we could not read the per-dataset part of the CoCoOp
paper's Table 1 from a source available to us, so a dataset's row has no published numbers (left empty, never
copied from memory). TMML's paper is known to us by its abstract only: its gains over CoCoOp on the average.
"""

from __future__ import annotations

# the papers' dataset order (CoCoOp, Table 1) and names; ours on the left (UCF101 is not registered here)
PAPER_DATASETS = {
    "imagenet": "ImageNet", "caltech101": "Caltech101", "oxford_pets": "OxfordPets",
    "stanford_cars": "StanfordCars", "flowers102": "Flowers102", "food101": "Food101",
    "fgvc_aircraft": "FGVCAircraft", "sun397": "SUN397", "dtd": "DTD", "eurosat": "EuroSAT", "ucf101": "UCF101",
}
PAPER_METHODS = {"zero-shot": "CLIP", "CoOp": "CoOp", "CoCoOp": "CoCoOp", "TMML": "TMML"}  # ours -> the papers'

# (method, dataset) -> (Base, New, H). Source: Zhou et al., "Conditional Prompt Learning for Vision-Language
# Models" (CoCoOp), CVPR 2022, Table 1 (a), "Average over 11 datasets", ViT-B/16.
PUBLISHED = {
    ("CLIP", "average"): (69.34, 74.22, 71.70),
    ("CoOp", "average"): (82.69, 63.22, 71.66),
    ("CoCoOp", "average"): (80.47, 71.69, 75.83),
}
# Source: Long et al., "Task-Oriented Multi-Modal Mutual Learning for Vision-Language Models", ICCV 2023
# (arXiv:2303.17169), abstract: over CoCoOp, on average over the 11 datasets. Its Base is not in the abstract.
TMML_GAINS_OVER_COCOOP = {"new": 4.03, "H": 3.19}


def published(method: str, dataset: str = "average") -> tuple[float | None, float | None, float | None]:
    """(Base, New, H) the papers report for `method` (ours or the papers' name) on `dataset` (ours, the
    papers' name or "average"); None where they report nothing we could read."""
    method, dataset = PAPER_METHODS.get(method, method), PAPER_DATASETS.get(dataset, dataset)
    if method == "TMML" and dataset == "average":
        _, new, h = PUBLISHED[("CoCoOp", "average")]
        return None, new + TMML_GAINS_OVER_COCOOP["new"], h + TMML_GAINS_OVER_COCOOP["H"]
    return PUBLISHED.get((method, dataset), (None, None, None))


def paper_rows(summary: list[dict]) -> list[dict]:
    """One row per (dataset, method) of `grid.summarize_rows(...)`, in the papers' order (the average first),
    with our seed-averaged Base / New / H and the published ones beside them (None where there are none)."""
    tasks = [t for t in dict.fromkeys(r["task"] for r in summary) if t != "average"]
    order = {name: i for i, name in enumerate(PAPER_DATASETS)}
    tasks.sort(key=lambda t: order.get(t, len(order)))  # the papers' datasets first, in their order
    methods = list(dict.fromkeys(r["method"] for r in summary))
    cell = {(r["method"], r["task"]): r for r in summary}
    rows = []
    for task in ["average"] + tasks:
        label = f"average ({len(tasks)} here, 11 in the papers)" if task == "average" else \
            PAPER_DATASETS.get(task, task)
        for method in methods:
            r = cell.get((method, task))
            if r is None:
                continue
            paper = published(method, task)
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
# versions (domain generalization; the average of the 4 targets). Sources: CoCoOp paper (Zhou et al., CVPR 2022),
# Table 2 (cross-dataset, CoOp and CoCoOp) and Table 3 (domain generalization, CLIP, CoOp and CoCoOp); the CLIP
# row of cross-dataset is not in that Table 2 but quoted by later papers (e.g. ProText, Table 4).
PUBLISHED_TRANSFER = {
    ("cross-dataset", "CLIP"): {
        "ImageNet": 66.72, "Caltech101": 92.98, "OxfordPets": 89.13, "StanfordCars": 65.29, "Flowers102": 71.30,
        "Food101": 86.11, "FGVCAircraft": 24.90, "SUN397": 62.59, "DTD": 44.56, "EuroSAT": 47.84, "UCF101": 66.83,
        "average": 65.15},
    ("cross-dataset", "CoOp"): {
        "ImageNet": 71.51, "Caltech101": 93.70, "OxfordPets": 89.14, "StanfordCars": 64.51, "Flowers102": 68.71,
        "Food101": 85.30, "FGVCAircraft": 18.47, "SUN397": 64.15, "DTD": 41.92, "EuroSAT": 46.39, "UCF101": 66.55,
        "average": 63.88},
    ("cross-dataset", "CoCoOp"): {
        "ImageNet": 71.02, "Caltech101": 94.43, "OxfordPets": 90.14, "StanfordCars": 65.32, "Flowers102": 71.88,
        "Food101": 86.06, "FGVCAircraft": 22.94, "SUN397": 67.36, "DTD": 45.73, "EuroSAT": 45.37, "UCF101": 68.21,
        "average": 65.74},
    ("domain-generalization", "CLIP"): {
        "ImageNet": 66.73, "ImageNet-V2": 60.83, "ImageNet-Sketch": 46.15, "ImageNet-A": 47.77, "ImageNet-R": 73.96,
        "average": 57.18},
    ("domain-generalization", "CoOp"): {
        "ImageNet": 71.51, "ImageNet-V2": 64.20, "ImageNet-Sketch": 47.99, "ImageNet-A": 49.71, "ImageNet-R": 75.21,
        "average": 59.28},
    ("domain-generalization", "CoCoOp"): {
        "ImageNet": 71.02, "ImageNet-V2": 64.07, "ImageNet-Sketch": 48.75, "ImageNet-A": 50.63, "ImageNet-R": 76.18,
        "average": 59.91},
}
TRANSFER_DATASETS = {"imagenet_v2": "ImageNet-V2", "imagenet_sketch": "ImageNet-Sketch", "imagenet_a": "ImageNet-A",
                     "imagenet_r": "ImageNet-R"}


def published_transfer(protocol: str) -> dict[str, dict[str, float]]:
    """{our method name: {our dataset name or "average": accuracy %}} the papers publish for `protocol`
    ("cross-dataset" or "domain-generalization")."""
    ours = {v: k for k, v in {**PAPER_DATASETS, **TRANSFER_DATASETS}.items()}
    methods = {v: k for k, v in PAPER_METHODS.items()}
    return {methods[m]: {ours.get(d, d): acc for d, acc in values.items()}
            for (p, m), values in PUBLISHED_TRANSFER.items() if p == protocol}
