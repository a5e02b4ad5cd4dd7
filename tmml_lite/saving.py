"""Saving and loading prompt learners: only what was learned (a few KB), never the frozen CLIP weights.

A learner file is a safetensors file of the learned tensors whose header holds `learner.metadata()` (JSON
values): the method, the backbone, the widths and the switches a learner must share to load it. For example::

    # or learner.save(...)
    save_learner(learner, "coop.safetensors")
    # or learner.load(...)
    load_learner(CoOp(backbone, other_names), "coop.safetensors")
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from .checkpoint import load_metadata, load_tensors, save_tensors


def learned_tensors(learner) -> dict[str, torch.Tensor]:
    """The learner's trainable tensors by name (detached), not the frozen CLIP weights."""
    return {name: p.detach() for name, p in learner.named_parameters() if p.requires_grad}


def learner_header(learner) -> dict[str, str]:
    """`learner.metadata()`, each value as JSON: the header of a learner file."""
    return {k: json.dumps(v) for k, v in learner.metadata().items()}


def save_learner(learner, path: str | Path) -> None:
    """Write the learned tensors and `learner_header` to a safetensors file, atomically."""
    save_tensors(path, learned_tensors(learner), learner_header(learner))


def load_learner(learner, path: str | Path):
    """Load learned tensors written by `save_learner` into `learner` (returned); a clear ValueError if they
    belong to another learner."""
    saved = {k: json.loads(v) for k, v in load_metadata(path).items()}
    check_compatible(learner, saved, source=str(path))
    load_learned(learner, load_tensors(path), source=str(path))
    return learner


def check_compatible(learner, saved: dict, source: str = "the checkpoint") -> None:
    """Raise a ValueError that says what to do when `saved` metadata does not fit `learner`."""
    mine = learner.metadata()
    if "method" not in saved:
        raise ValueError(f"{source} is not a saved prompt learner (its header has no learner metadata); "
                         f"give a file written by learner.save(...) or fit(..., run_dir=...)")
    if saved.get("method") != mine["method"]:
        raise ValueError(f"{source} holds a {saved.get('method')} learner, not a {mine['method']}; build a "
                         f"{saved.get('method')} to load it")
    if (saved.get("backbone"), saved.get("ctx_width"), saved.get("image_dim")) != \
            (mine["backbone"], mine["ctx_width"], mine["image_dim"]):
        raise ValueError(f"{source} was learned on backbone {saved.get('backbone')} (context width "
                         f"{saved.get('ctx_width')}, image dim {saved.get('image_dim')}), but this learner "
                         f"uses {mine['backbone']} (context width {mine['ctx_width']}, image dim "
                         f"{mine['image_dim']}). Prompts only make sense for the CLIP they were learned "
                         f"with: load that backbone (load_clip({saved.get('backbone')!r}, ...)) or train "
                         f"a new learner")
    for key in learner.compatibility_keys:
        if saved.get(key) != mine[key]:
            raise ValueError(f"{source} has {key}={saved.get(key)} but this learner has {key}={mine[key]}; "
                             f"build the learner with {key}={saved.get(key)}")
    if mine["class_specific"] and saved.get("classnames") != mine["classnames"]:
        raise ValueError(f"{source} holds class-specific contexts for {saved.get('classnames')}, not for "
                         f"{mine['classnames']}; build the learner with those class names")


def load_learned(learner, tensors: dict[str, torch.Tensor], source: str = "the checkpoint") -> None:
    """Copy learned tensors into the learner's parameters (names and shapes must match exactly)."""
    params = dict(learner.named_parameters())
    expected = set(learned_tensors(learner))
    if set(tensors) != expected:
        raise ValueError(f"{source} has tensors {sorted(tensors)} but this learner learns {sorted(expected)}")
    with torch.no_grad():
        for name, value in tensors.items():
            if value.shape != params[name].shape:
                raise ValueError(f"{source}: {name} has shape {tuple(value.shape)}, this learner needs "
                                 f"{tuple(params[name].shape)}")
            params[name].copy_(value)
