"""Figures shared by the chapters. One colour per method across the whole book (`METHOD_COLORS`)."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import torch

from . import discrimination

METHOD_COLORS = {
    "zero-shot": "#7f7f7f",
    "CoOp": "#1f77b4",
    "CoOp (batch 4)": "#aec7e8",  # CoOp with the recipe of the image-conditioned learners: its control
    "CoCoOp": "#ff7f0e",
    "CTP": "#2ca02c",
    "TFT": "#9467bd",
    "TMML": "#d62728",
}
CHANCE_COLOR = "#bbbbbb"
OTHER_COLOR = "#8c8c8c"  # any name without a colour of its own


def method_color(name: str) -> str:
    """The book's colour for a method; TMML's variants ("TMML w/o TFT") share TMML's, other names are grey."""
    if name in METHOD_COLORS:
        return METHOD_COLORS[name]
    return METHOD_COLORS["TMML"] if name.startswith("TMML") else OTHER_COLOR


def show_images(images, titles=None, ncols: int = 8, size: float = 1.35, fontsize: int = 7, suptitle=None):
    """A grid of uint8 images (N, H, W, 3) with optional titles; returns the figure."""
    n = len(images)
    nrows = int(np.ceil(n / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(ncols * size, nrows * size * 1.15), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for i, (ax, image) in enumerate(zip(axes.flat, images)):
        ax.imshow(image, interpolation="nearest")
        if titles is not None:
            ax.set_title(titles[i], fontsize=fontsize)
    if suptitle:
        fig.suptitle(suptitle)
    fig.tight_layout()
    return fig


def accuracy_bars(names, accuracies, chance=None, label="zero-shot", ax=None, title=None):
    """Bar chart of accuracy (%) per task, with chance level marked per bar."""
    ax = ax or plt.subplots(figsize=(7, 3.2))[1]
    x = np.arange(len(names))
    bars = ax.bar(x, accuracies, color=METHOD_COLORS.get(label, "#444444"), label=label)
    ax.bar_label(bars, fmt="%.1f", fontsize=8)
    if chance is not None:
        ax.hlines(chance, x - 0.4, x + 0.4, colors="black", linestyles="dashed", label="chance")
    ax.set_xticks(x, names, rotation=20)
    ax.set_ylabel("top-1 accuracy (%)")
    ax.set_ylim(0, 105)
    ax.legend(loc="upper right", fontsize=8)
    if title:
        ax.set_title(title)
    return ax


def similarity_heatmap(similarity, image_labels, class_names, ax=None, title=None):
    """Heat map of cosine similarities (N images x C classes)."""
    import seaborn as sns
    ax = ax or plt.subplots(figsize=(0.45 * len(class_names) + 2, 0.35 * len(image_labels) + 1.5))[1]
    sns.heatmap(np.asarray(similarity), ax=ax, cmap="viridis", xticklabels=class_names, yticklabels=image_labels,
                cbar_kws={"label": "cosine similarity"})
    ax.set_xlabel("class prompt")
    ax.set_ylabel("image (true class)")
    if title:
        ax.set_title(title)
    return ax


def probability_bars(probs, class_names, ax=None, title=None, true_label=None, color=METHOD_COLORS["zero-shot"]):
    """Horizontal bars of one image's class probabilities; the true class is marked in bold."""
    ax = ax or plt.subplots(figsize=(3, 0.25 * len(class_names) + 0.8))[1]
    y = np.arange(len(class_names))
    ax.barh(y, np.asarray(probs), color=color)
    ax.set_yticks(y, class_names, fontsize=7)
    if true_label is not None:
        ax.get_yticklabels()[true_label].set_fontweight("bold")
    ax.invert_yaxis()
    ax.set_xlim(0, 1)
    ax.set_xlabel("probability")
    if title:
        ax.set_title(title, fontsize=8)
    return ax


IMAGE_MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*", "<", ">")


def class_feature_map(points, n_images: int, classnames, ax=None, title=None):
    """Scatter of 2-D points (N*C, 2), row n*C + c, of N images' C class text features (e.g. a t-SNE):
    colour = class, marker = image. Points of the same class that sit together mean the class is recognisable
    whatever the image."""
    points = np.asarray(points)
    n_classes = len(classnames)
    ax = ax or plt.subplots(figsize=(4.5, 4))[1]
    palette = plt.get_cmap("tab10" if n_classes <= 10 else "tab20")
    for n in range(n_images):
        for c in range(n_classes):
            x, y = points[n * n_classes + c]
            ax.scatter(x, y, color=palette(c), marker=IMAGE_MARKERS[n % len(IMAGE_MARKERS)], s=36,
                       edgecolors="black", linewidths=0.3, label=classnames[c] if n == 0 else None)
    ax.set_xlabel("t-SNE 1")
    ax.set_ylabel("t-SNE 2")
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title)
    return ax


def method_bars(ax, groups, values: dict, errors: dict | None = None, width: float = 0.8, rotation: float = 0):
    """Grouped bars, the book's way of comparing methods: for each group (a task, or Base / New / H) one bar
    per method, in that method's colour. values: {method: one number per group}; errors: the same for error
    bars (e.g. the std over seeds), or None; rotation: of the group labels, in degrees. Returns `ax`."""
    x = np.arange(len(groups))
    bar = width / len(values)
    for k, (method, heights) in enumerate(values.items()):
        ax.bar(x + (k - (len(values) - 1) / 2) * bar, heights, bar,
               yerr=None if errors is None else errors[method], color=method_color(method),
               label=method)
    ax.set_xticks(x, groups, rotation=rotation)
    return ax



def base_to_new_bars(summary, methods, tasks, title=None, rotation: float = 15, size=(11, 3.6), legend_ncol=None):
    """The book's results figure: three panels (Base, New, H), one group of bars per task and one bar per
    method in its colour; error bars are the std over seeds (none on H, which is computed on the seed means).
    One legend below the panels, so that it covers no bar. summary: rows of `grid.summarize_rows` (tasks may
    include "average"). Returns the figure."""
    cell = {(r["method"], r["task"]): r for r in summary}
    fig, axes = plt.subplots(1, 3, figsize=size, sharey=True)
    for ax, metric, title_ in zip(axes, ("base", "new", "H"), ("Base", "New", "H")):
        means = {m: [cell[m, t][metric] for t in tasks] for m in methods}
        stds = None if metric == "H" else {m: [cell[m, t][f"{metric}_std"] for t in tasks] for m in methods}
        method_bars(ax, tasks, means, stds, rotation=rotation)
        ax.set_title(title_)
        ax.set_ylim(0, 105)
    axes[0].set_ylabel("accuracy (%)")
    fig.suptitle(title or "Base-to-new, 16 shots, seeds 1-3 (error bars: std over seeds)")
    fig.tight_layout(rect=(0, 0.08, 1, 1))  # room below the panels for the legend
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=legend_ncol or len(methods), fontsize=8, frameon=False)
    return fig


def task_bars(summary, methods, task, ax=None, title=None, legend: dict | None = None):
    """One task's Base, New and H as bars per method (error bars: std over seeds; none on H).
    summary: rows of `grid.summarize_rows`; legend: keyword arguments of `ax.legend`. Returns `ax`."""
    cell = {(r["method"], r["task"]): r for r in summary}
    ax = ax or plt.subplots(figsize=(6.5, 3.2))[1]
    means = {m: [cell[m, task][k] for k in ("base", "new", "H")] for m in methods}
    stds = {m: [cell[m, task]["base_std"], cell[m, task]["new_std"], 0.0] for m in methods}
    method_bars(ax, ["Base", "New", "H"], means, stds)
    ax.set_ylabel("accuracy (%)")
    ax.set_ylim(0, 105)
    ax.set_title(title or f"Base-to-new on '{task}', 16 shots")
    ax.legend(**{"fontsize": 8, **(legend or {})})
    return ax


def ranking_bars(values: dict, xlabel: str, title=None, ax=None):
    """Horizontal bars, lowest first, each labelled with its value: {name: number}, e.g. the average H of
    every ablation. TMML's variants are drawn in TMML's colour, other names without a colour in grey."""
    names = sorted(values, key=values.get)
    heights = [values[n] for n in names]
    colours = [method_color(n) for n in names]
    ax = ax or plt.subplots(figsize=(7, 4))[1]
    ax.barh(names, heights, color=colours)
    for y, h in enumerate(heights):
        ax.text(h + 0.2, y, f"{h:.1f}", va="center", fontsize=8)
    ax.set_xlim(min(heights) - 3, max(heights) + 2)
    ax.set_xlabel(xlabel)
    if title:
        ax.set_title(title)
    return ax


COST_AXES = {"step_s": ("ms per training step", 1e3), "memory_mb": ("peak memory of a step (MB)", 1.0)}


def cost_curves(rows, methods, measures=("step_s", "memory_mb"), title=None):
    """What a training step costs against the number of classes, one line per method in its colour and one
    panel per measure ("step_s" drawn in ms, "memory_mb"). rows: `bench.cost_vs_classes`. Returns the figure."""
    fig, axes = plt.subplots(1, len(measures), figsize=(5 * len(measures), 3.2), squeeze=False)
    for ax, measure in zip(axes[0], measures):
        label, scale = COST_AXES[measure]
        for method in methods:
            mine = [r for r in rows if r["method"] == method]
            ax.plot([r["classes"] for r in mine], [scale * r[measure] for r in mine], marker="o",
                    color=method_color(method), label=method)
        ax.set_xlabel("number of classes C")
        ax.set_ylabel(label)
        ax.legend()
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def feature_maps(features: dict, classnames, n_images: int = 8, seed: int = 0, title=None):
    """One t-SNE map per method of the class text features of the first `n_images` images, side by side:
    features {method: (N, C, D)} from `discrimination.class_features_per_image`. Titles in the method's colour,
    the class legend beside the last map. Returns the figure."""
    fig, axes = plt.subplots(1, len(features), figsize=(4.2 * len(features) + 1, 4), squeeze=False)
    for ax, (name, feats) in zip(axes[0], features.items()):
        points = discrimination.tsne_embedding(feats[:n_images], seed=seed)
        class_feature_map(points, n_images, classnames, ax=ax, title=name)
        ax.title.set_color(METHOD_COLORS.get(name, "black"))
    axes[0, -1].legend(title="class", fontsize=7, bbox_to_anchor=(1.02, 1), loc="upper left")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig

def attention_grid(images, attention, classnames, true_labels=None, size: float = 1.3, title=None):
    """Where each class looks: one row per image, the image and then one panel per class with that class's
    attention over the patches (B, C, P), P = g * g, upsampled and laid over the image. Returns the figure."""
    attention = np.asarray(attention)
    n_images, n_classes, n_patches = attention.shape
    grid = int(round(n_patches ** 0.5))
    if grid * grid != n_patches:
        raise ValueError(f"{n_patches} patches do not form a square grid")
    fig, axes = plt.subplots(n_images, n_classes + 1, figsize=((n_classes + 1) * size, n_images * size * 1.1),
                             squeeze=False)
    for b in range(n_images):
        image = np.asarray(images[b])
        height, width = image.shape[:2]
        axes[b, 0].imshow(image, interpolation="nearest")
        label = f"image ({classnames[true_labels[b]]})" if true_labels is not None else "image"
        axes[b, 0].set_title(label, fontsize=7)
        for c in range(n_classes):
            ax = axes[b, c + 1]
            ax.imshow(image, interpolation="nearest")
            ax.imshow(attention[b, c].reshape(grid, grid), cmap="magma", alpha=0.6, vmin=0,
                      vmax=attention[b].max(), extent=(-0.5, width - 0.5, height - 0.5, -0.5),
                      interpolation="nearest")
            if b == 0:
                ax.set_title(classnames[c], fontsize=7)
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return fig


def shift_sketch(text, shifts, image, classnames, ax=None, title=None) -> dict:
    """A two-dimensional sketch of what a prompt shift does to the class features of one image, as if the
    shift acted on the features directly (really it acts on context tokens, before the text encoder).

    text (C, 2): the class features; shifts (C, 2): what each class gets added (one row repeated for every
    class is CoCoOp's pi(x), different rows are CTP's delta_c(x)); image (2,): the image feature. Draws each
    class before (faint) and after (solid, back on the unit circle) and the image (black). Returns the
    cosines with the image before and after ("cos_before", "cos_after", one per class) and the mean cosine
    between two classes before and after ("inter_before", "inter_after").
    """
    unit = lambda v: v / np.linalg.norm(v, axis=-1, keepdims=True)  # noqa: E731
    before, image = unit(np.asarray(text, float)), unit(np.asarray(image, float))
    after = unit(before + np.asarray(shifts, float))
    n = len(before)

    def inter(t):  # the mean cosine between two classes, as chapter 3 measures it on real features
        return discrimination.inter_class_cosine(torch.as_tensor(t)[None])

    ax = ax or plt.subplots(figsize=(3.6, 3.6))[1]
    ax.add_patch(plt.Circle((0, 0), 1, fill=False, color=CHANCE_COLOR, lw=0.8))
    palette = plt.get_cmap("tab10")
    for c in range(n):
        ax.annotate("", after[c], before[c], arrowprops=dict(arrowstyle="->", color=palette(c), lw=0.8))
        ax.plot(*zip((0, 0), before[c]), color=palette(c), alpha=0.3, lw=2)
        ax.plot(*zip((0, 0), after[c]), color=palette(c), lw=2, label=classnames[c])
    ax.plot(*zip((0, 0), image), color="black", lw=2, ls="--", label="image $f(x)$")
    ax.set_xlim(-1.2, 1.2)
    ax.set_ylim(-1.2, 1.2)
    ax.set_aspect("equal")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.legend(fontsize=7, loc="lower left")
    if title:
        ax.set_title(title, fontsize=9)
    return {"cos_before": before @ image, "cos_after": after @ image,
            "inter_before": inter(before), "inter_after": inter(after)}
