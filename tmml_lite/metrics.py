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


def paired_difference(a, b) -> dict:
    """The difference a - b of two methods run on the same seeds (so on the same shots): a and b are
    per-seed values in the same seed order. Returns {"mean", "std" (over seeds; 0 for one seed), "n",
    "beyond_noise" (the mean beyond twice the std, over at least two seeds: a difference, not a tie)}."""
    a, b = [float(x) for x in a], [float(x) for x in b]
    if len(a) != len(b) or not a:
        raise ValueError(f"a paired difference needs the same non-zero number of seeds on both sides, got "
                         f"{len(a)} and {len(b)}")
    d = [x - y for x, y in zip(a, b)]
    mean = sum(d) / len(d)
    std = (sum((x - mean) ** 2 for x in d) / (len(d) - 1)) ** 0.5 if len(d) > 1 else 0.0
    return {"mean": mean, "std": std, "n": len(d), "beyond_noise": len(d) > 1 and abs(mean) > 2 * std}


def difference_text(d: dict) -> str:
    """A paired difference as the chapters print it: "+2.1 ± 0.4", with " (tie)" when within its noise."""
    return f"{d['mean']:+.1f} ± {d['std']:.1f}" + ("" if d["beyond_noise"] else " (tie)")
