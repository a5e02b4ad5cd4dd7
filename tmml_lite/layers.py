"""Small building blocks the prompt learners share: seeded initialisation and two layer shapes."""

from __future__ import annotations

import contextlib
from collections import OrderedDict

import torch
from torch import nn


@contextlib.contextmanager
def seeded(seed: int | None):
    """Run a block with torch's CPU generator seeded, then give the caller its own generator state back."""
    if seed is None:
        yield
        return
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield


def identity_linear(dim: int) -> nn.Linear:
    """A dim x dim Linear without bias that starts as the identity."""
    layer = nn.Linear(dim, dim, bias=False)
    with torch.no_grad():
        layer.weight.copy_(torch.eye(dim))
    return layer


def bottleneck(dim: int, out_dim: int, bias: bool = True) -> nn.Sequential:
    """CoCoOp's meta-net shape: Linear(dim, dim/16) -> ReLU -> Linear(dim/16, out_dim), (..., dim) ->
    (..., out_dim). `bias` is the last layer's."""
    hidden = max(1, dim // 16)  # CoCoOp's bottleneck: vis_dim / 16
    return nn.Sequential(OrderedDict([
        ("linear1", nn.Linear(dim, hidden)),
        ("relu", nn.ReLU(inplace=True)),
        ("linear2", nn.Linear(hidden, out_dim, bias=bias)),
    ]))
