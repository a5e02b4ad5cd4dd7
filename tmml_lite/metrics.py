"""Metrics of the field: top-1 accuracy and the harmonic mean H of base and new accuracy."""

from __future__ import annotations

import torch


def accuracy(logits: torch.Tensor, labels: torch.Tensor) -> float:
    """Top-1 accuracy in % of logits (N, C) against integer labels (N,)."""
    if len(labels) == 0:
        raise ValueError("accuracy of an empty set is undefined; check that the split has images")
    return 100.0 * (logits.argmax(dim=-1).cpu() == labels.cpu()).float().mean().item()


def harmonic_mean(base: float, new: float) -> float:
    """H = 2BN / (B + N). In base-to-new tables B and N are first averaged over seeds (DESIGN section 4)."""
    return 0.0 if base + new == 0 else 2 * base * new / (base + new)
