"""Interactive explorers for Jupyter and Colab. The static book cannot run them, so every chapter that shows
one also draws a static figure with the same content (`zeroshot_probabilities` is that content)."""

from __future__ import annotations

import matplotlib.pyplot as plt
import torch

from . import world
from .data import load_split
from .plotting import probability_bars
from .zeroshot import encode_images, task_templates, text_classifier


@torch.no_grad()
def zeroshot_probabilities(backbone, task: str, index: int, templates, split: str = "test"):
    """(image uint8, label, {template: class probabilities (C,)}) for one test image of a task."""
    model, preprocess, tokenizer = backbone
    images, labels = load_split(task, split)
    image_features = encode_images(model, preprocess, images[index:index + 1])
    probs = {}
    for template in templates:
        classifier = text_classifier(model, tokenizer, world.get_task(task).classnames, [template])
        probs[template] = (model.logit_scale.exp() * image_features @ classifier.t()).softmax(-1)[0].cpu()
    return images[index], int(labels[index]), probs


def plot_zeroshot_probabilities(backbone, task: str, index: int, templates=None, split: str = "test"):
    """The image and its class probabilities under each template, side by side; returns the figure."""
    templates = templates or task_templates(task)
    image, label, probs = zeroshot_probabilities(backbone, task, index, templates, split)
    names = world.get_task(task).classnames
    fig, axes = plt.subplots(1, len(templates) + 1, figsize=(2.0 + 2.6 * len(templates), 0.22 * len(names) + 1.6),
                             gridspec_kw={"width_ratios": [1.2] + [2] * len(templates)})
    axes[0].imshow(image, interpolation="nearest")
    axes[0].set_title(f"{task} #{index}\ntrue: {names[label]}", fontsize=8)
    axes[0].axis("off")
    for ax, (template, p) in zip(axes[1:], probs.items()):
        probability_bars(p.numpy(), names, ax=ax, title=repr(template), true_label=label)
    fig.tight_layout()
    return fig


def zeroshot_explorer(backbone, split: str = "test"):
    """Widget: pick a task and an image, see the class probabilities under each of the task's templates."""
    import ipywidgets as widgets
    from IPython.display import display

    task_box = widgets.Dropdown(options=list(world.TASKS), description="task")
    index_box = widgets.IntSlider(value=0, min=0, max=99, description="image")
    out = widgets.Output()

    def redraw(*_):
        with out:
            out.clear_output(wait=True)
            plot_zeroshot_probabilities(backbone, task_box.value, index_box.value, split=split)
            plt.show()

    task_box.observe(redraw, names="value")
    index_box.observe(redraw, names="value")
    redraw()
    ui = widgets.VBox([widgets.HBox([task_box, index_box]), out])
    display(ui)
    return ui
