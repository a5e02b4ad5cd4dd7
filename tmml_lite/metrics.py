"""Metrics of the field: top-1 accuracy, the harmonic mean H of base and new accuracy, and the summary over seeds."""

from __future__ import annotations

import statistics

import torch


def accuracy(logits: torch.Tensor, labels: torch.Tensor) -> float:
    """Top-1 accuracy in % of logits (N, C) against integer labels (N,)."""
    if len(labels) == 0:
        raise ValueError("accuracy of an empty set is undefined; check that the split has images")
    return 100.0 * (logits.argmax(dim=-1).cpu() == labels.cpu()).float().mean().item()


def harmonic_mean(base: float, new: float) -> float:
    """H = 2BN / (B + N). In base-to-new tables B and N are first averaged over seeds (see `summarize`)."""
    return 0.0 if base + new == 0 else 2 * base * new / (base + new)


def summarize(base, new) -> dict:
    """Per-seed Base and New accuracies of one method on one task -> {"seeds" (how many), "base", "new" (the
    means), "base_std", "new_std" (over seeds; 0 for one seed), "H" (of the means, the field's convention, not
    the mean of per-seed H values)}. The one summary format of the engine, the grid and the chapters."""
    b, n = statistics.mean(base), statistics.mean(new)
    return {"seeds": len(base), "base": b, "new": n,
            "base_std": statistics.stdev(base) if len(base) > 1 else 0.0,
            "new_std": statistics.stdev(new) if len(new) > 1 else 0.0, "H": harmonic_mean(b, n)}
