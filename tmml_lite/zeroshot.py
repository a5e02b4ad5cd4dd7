"""Zero-shot CLIP: class names -> prompts -> text features; an image's class is its most similar prompt.

For example::

    # (C, D)
    classifier = text_classifier(
        model, tokenizer, ["circle", "square"], ["a photo of a {}."]
    )
    image_features = encode_images(model, preprocess, images)  # (N, D)
    # (N, C)
    probs = (model.logit_scale.exp() * image_features @ classifier.T).softmax(-1)
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from . import world
from .backbone import full_precision
from .data import (base_to_new, check_classnames, image_batches, load_split, task_classnames, task_name,
                   task_templates)
from .metrics import accuracy

CLIP_TEMPLATE = "a photo of a {}."  # the single template CLIP and CoOp start from
OWN = "own"  # as a zero-shot template: the task's own hand-written one (the papers' zero-shot row)


def own_template(task) -> str:
    """A task's own hand-written template, the one the papers' zero-shot row uses (CoOp's CUSTOM_TEMPLATES):
    the first of `data.task_templates`."""
    return task_templates(task)[0]


def _device(model) -> torch.device:
    return next(model.parameters()).device


@torch.no_grad()
def text_classifier(model, tokenizer, classnames, templates) -> torch.Tensor:
    """Unit-norm text features (C, D): each class's prompts encoded, normalised, averaged over templates."""
    classnames = check_classnames(classnames)
    if isinstance(templates, str):
        templates = [templates]
    if not templates or not all("{}" in t for t in templates):
        raise ValueError(f"templates must be a non-empty list of strings with a '{{}}' slot, got {templates!r}")
    tokens = tokenizer([t.format(c) for c in classnames for t in templates]).to(_device(model))
    features = F.normalize(full_precision(model.encode_text(tokens)), dim=-1)  # (C * T, D)
    features = features.view(len(classnames), len(templates), -1).mean(dim=1)  # template ensembling
    return F.normalize(features, dim=-1)


@torch.no_grad()
def encode_images(model, preprocess, images, batch_size: int = 256) -> torch.Tensor:
    """Unit-norm image features (N, D) of images: uint8 (N, H, W, 3) or a sequence of PIL images."""
    device = _device(model)
    return torch.cat([F.normalize(full_precision(model.encode_image(x)), dim=-1)
                      for x in image_batches(images, preprocess, batch_size, device)])


def similarity_matrix(image_features: torch.Tensor, text_features: torch.Tensor) -> torch.Tensor:
    """Cosine similarities (N, C) between unit-norm image (N, D) and text (C, D) features."""
    return image_features @ text_features.t()


def features_accuracy(backbone, image_features: torch.Tensor, labels, classnames, templates) -> float:
    """Top-1 accuracy in % of zero-shot CLIP on image features already encoded (N, D), against `classnames`
    written with `templates` (ensembled)."""
    model, _, tokenizer = backbone
    classifier = text_classifier(model, tokenizer, classnames, templates)
    return accuracy(similarity_matrix(image_features, classifier), torch.tensor(np.asarray(labels)))


def zeroshot_accuracy(backbone, task: str, templates=None, split: str = "test", classnames=None) -> float:
    """Top-1 accuracy in % of zero-shot CLIP on a task split (default: the task's own templates, ensembled).

    With `classnames` (a subset of the task's classes), only those classes' images are scored, only against them.
    """
    model, preprocess, _ = backbone
    all_names = task_classnames(task)
    images, labels = load_split(task, split)
    names = all_names
    if classnames is not None:
        names = check_classnames(classnames)
        unknown = [n for n in names if n not in all_names]
        if unknown:
            raise ValueError(f"{unknown} are not classes of task {task_name(task)!r}: {', '.join(all_names)}")
        ids = [all_names.index(n) for n in names]
        keep = np.isin(labels, ids)
        images, labels = images[keep], np.array([ids.index(int(l)) for l in labels[keep]])
    return features_accuracy(backbone, encode_images(model, preprocess, images), labels, names,
                             templates or task_templates(task))


def zeroshot_table(backbone, tasks=None, split: str = "test") -> list[dict]:
    """One row per task: classes, chance, accuracy with "a photo of a {}." and with the task's templates (%)."""
    model, preprocess, _ = backbone
    rows = []
    for task in tasks or list(world.TASKS):
        names = task_classnames(task)
        images, labels = load_split(task, split)
        image_features = encode_images(model, preprocess, images)  # encoded once, scored twice
        row = {"task": task, "classes": len(names), "chance": round(100 / len(names), 1)}
        for column, templates in (("clip_template", [CLIP_TEMPLATE]), ("task_templates", task_templates(task))):
            row[column] = round(features_accuracy(backbone, image_features, labels, names, templates), 1)
        rows.append(row)
    return rows


def base_new_accuracy(backbone, task, seed: int, shots: int = 16, template: str = OWN) -> dict:
    """Zero-shot CLIP on the base-to-new split of `task` with one template (`OWN`: the task's own), each half
    scored against its own class names: {"base", "new"} in %. Nothing is trained, so the seed only picks the
    shots, which zero-shot never sees."""
    model, preprocess, _ = backbone
    template = own_template(task) if template == OWN else template
    splits = base_to_new(task, shots, seed)
    return {half: features_accuracy(backbone, encode_images(model, preprocess, splits[f"test_{half}"].images),
                                    splits[f"test_{half}"].labels, splits[f"test_{half}"].classnames, [template])
            for half in ("base", "new")}
