"""Downstream data under the field's protocols: few-shot sampling and the base-to-new split (CoCoOp).

Base-to-new: sort the class ids; base = the first ceil(n/2), new = the rest, each relabelled from 0.
K shots per class (val: min(K, 4)) are sampled *before* the classes are split. The chosen indices are saved
as JSON so a reader can inspect exactly which images a run trained on.

A task is a task of the procedural world (`world.TASKS`, uint8 arrays in memory) or a real dataset
(`datasets.DATASETS`, a lazy `ImageList` of PIL images read from disk); both index the same way.
"""

from __future__ import annotations

import functools
import json
import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from . import datasets, world


def check_classnames(classnames) -> list[str]:
    """The class names as a list; a clear error if they are empty, not strings, or duplicated."""
    if isinstance(classnames, str) or not hasattr(classnames, "__iter__"):
        raise TypeError(f"class names must be a list of strings, got {type(classnames).__name__}")
    names = list(classnames)
    if not names:
        raise ValueError("the class list is empty; give at least one class name")
    if not all(isinstance(n, str) and n.strip() for n in names):
        raise ValueError(f"every class name must be a non-empty string, got {names!r}")
    seen, dups = set(), []
    for n in names:
        if n in seen:
            dups.append(n)
        seen.add(n)
    if dups:
        raise ValueError(f"duplicated class names {sorted(set(dups))}: each class needs a distinct name")
    return names


def task_name(task) -> str:
    """The name of a task given by name or as a `world.Task`."""
    return task.name if isinstance(task, world.Task) else task


def _is_dataset(task) -> bool:
    return isinstance(task, str) and datasets.is_dataset(task)


def _world_task(task) -> world.Task:
    return task if isinstance(task, world.Task) else world.get_task(task)


@functools.lru_cache(maxsize=64)
def _split_cached(task: world.Task, split: str):
    images, labels = world.task_split(task, split)
    images.setflags(write=False)
    labels.setflags(write=False)
    return images, labels


def load_split(task, split: str):
    """A whole split of a downstream task (a name, or a `world.Task`): images and labels (N,). Images are uint8
    (N, H, W, 3), cached in memory, for a task of the world, and a lazy `datasets.ImageList` for a real
    dataset."""
    if _is_dataset(task):
        return datasets.load_split(task, split)
    return _split_cached(_world_task(task), split)


def task_classnames(task) -> list[str]:
    """The class names of a world task (a name or a `world.Task`) or a real dataset, in label order."""
    if _is_dataset(task):
        return datasets.classnames(task)
    return list(_world_task(task).classnames)


def task_templates(task) -> list[str]:
    """The hand-written templates of a task (like CoOp's CUSTOM_TEMPLATES): several per world task, CoOp's
    one per real dataset."""
    if _is_dataset(task):
        return [datasets.get_dataset(task).template]
    return list(_world_task(task).templates)


def few_shot_indices(labels: np.ndarray, shots: int, seed: int) -> list[int]:
    """`shots` indices per class, drawn without replacement with a seeded generator, sorted by class."""
    if shots < 1:
        raise ValueError(f"shots must be >= 1, got {shots}")
    rng = np.random.default_rng(seed)
    chosen = []
    for c in np.unique(labels):
        pool = np.flatnonzero(labels == c)
        if shots > len(pool):
            raise ValueError(f"asked for {shots} shots but class {int(c)} has only {len(pool)} images in this "
                             f"split; use shots <= {len(pool)}")
        chosen += sorted(int(i) for i in rng.choice(pool, size=shots, replace=False))
    return chosen


def base_new_classes(n_classes: int) -> tuple[list[int], list[int]]:
    """Class ids of the base half (first ceil(n/2)) and the new half (the rest)."""
    if n_classes < 2:
        raise ValueError(f"a base/new split needs at least 2 classes, got {n_classes}")
    n_base = math.ceil(n_classes / 2)
    return list(range(n_base)), list(range(n_base, n_classes))


def subsample_classes(indices, labels: np.ndarray, class_ids) -> tuple[list[int], np.ndarray]:
    """Keep the indices whose label is in `class_ids`, relabelled 0..len(class_ids)-1 in that order."""
    relabel = {c: i for i, c in enumerate(class_ids)}
    kept = [int(i) for i in indices if int(labels[i]) in relabel]
    return kept, np.array([relabel[int(labels[i])] for i in kept], np.int64)


@dataclass
class Subset:
    """Images (uint8, N x H x W x 3), labels (N,) and the class names they index."""
    images: np.ndarray
    labels: np.ndarray
    classnames: list[str]

    def __len__(self):
        return len(self.labels)


def base_to_new(task, shots: int = 16, seed: int = 1, save_dir: str | Path | None = None) -> dict[str, Subset]:
    """The base-to-new benchmark of one task (a name, or a `world.Task` as it is) and seed: {"train", "val" (base
    classes, few-shot), "test_base", "test_new"} as `Subset`s. With `save_dir`, the few-shot indices are
    written there as JSON."""
    classnames = check_classnames(task_classnames(task))
    base, new = base_new_classes(len(classnames))
    out, record = {}, {"task": task_name(task), "shots": shots, "seed": seed,
                       "base_classes": [classnames[c] for c in base], "new_classes": [classnames[c] for c in new]}
    for name, split, k in (("train", "train", shots), ("val", "val", min(shots, 4))):
        images, labels = load_split(task, split)
        idx = few_shot_indices(labels, k, seed)  # shots first, then classes, as CoCoOp's code does
        idx, rel = subsample_classes(idx, labels, base)
        out[name] = Subset(images[idx], rel, record["base_classes"])
        record[f"{name}_indices"] = idx
    images, labels = load_split(task, "test")
    for name, ids in (("test_base", base), ("test_new", new)):
        idx, rel = subsample_classes(range(len(labels)), labels, ids)
        out[name] = Subset(images[idx], rel, [classnames[c] for c in ids])
    if save_dir is not None:
        path = Path(save_dir) / f"{task_name(task)}_shots{shots}_seed{seed}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(record, indent=1))
    return out


def all_classes(task, shots: int = 16, seed: int = 1, split: str = "test") -> dict[str, Subset]:
    """A task with all its classes, as the source of cross-dataset transfer and domain generalization (CoCoOp):
    {"train", "val" (`shots` and min(shots, 4) per class, drawn as in `base_to_new`), "test"}; with
    shots=0, only "test" (a target is only tested)."""
    classnames = check_classnames(task_classnames(task))
    out = {}
    if shots:
        for name, k in (("train", shots), ("val", min(shots, 4))):
            images, labels = load_split(task, name)
            idx = few_shot_indices(labels, k, seed)
            out[name] = Subset(images[idx], np.array(labels)[idx], classnames)
    images, labels = load_split(task, split)
    out["test"] = Subset(images, np.array(labels), classnames)  # a copy: the cached labels are read-only
    return out


def as_pil(image) -> Image.Image:
    """A uint8 (H, W, 3) array or a PIL image, as an RGB PIL image."""
    return Image.fromarray(image) if isinstance(image, np.ndarray) else image.convert("RGB")


def preprocess_images(images, preprocess) -> torch.Tensor:
    """Images (uint8 (N, H, W, 3) or a sequence of PIL images) -> model input (N, 3, S, S) through the
    backbone's own preprocess (PIL path)."""
    return torch.stack([preprocess(as_pil(images[i])) for i in range(len(images))])


class PreprocessedImages(torch.utils.data.Dataset):
    """Images as a torch Dataset of preprocessed tensors (3, S, S), for a DataLoader with worker processes."""

    def __init__(self, images, preprocess):
        self.images, self.preprocess = images, preprocess

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int) -> torch.Tensor:
        return self.preprocess(as_pil(self.images[i]))


def loader_options(device) -> dict:
    """DataLoader settings for `device`: on CUDA, worker processes decode and resize images while the GPU
    works, and pinned memory makes the copy to the GPU asynchronous; on the CPU, the main process does it all
    (workers would compete with the model for the same cores)."""
    if torch.device(device).type == "cuda":
        return {"num_workers": min(8, os.cpu_count() or 1), "pin_memory": True}
    return {"num_workers": 0, "pin_memory": False}


def image_batches(images, preprocess, batch_size: int = 256, device="cpu", num_workers: int | None = None):
    """Preprocessed batches (b, 3, S, S) of `images`, in order, on `device`. num_workers=None: `loader_options`."""
    options = loader_options(device)
    if num_workers is not None:
        options["num_workers"] = num_workers
    # a DataLoader draws its workers' base seed from torch's global RNG unless given a generator: with its own,
    # encoding images leaves the RNG that training (and a resumed run) depends on untouched
    loader = torch.utils.data.DataLoader(PreprocessedImages(images, preprocess), batch_size=batch_size,
                                         shuffle=False, generator=torch.Generator(), **options)
    for batch in loader:
        yield batch.to(device, non_blocking=options["pin_memory"])
