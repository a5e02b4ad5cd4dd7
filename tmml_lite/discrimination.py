"""The discrimination problem: can the class prompts an image is scored against still be told apart?

Every prompt learner scores image x against C class text features t_1(x), ..., t_C(x) (`learner.text_features`).
For CoOp they do not depend on x; for CoCoOp each is moved by the same image-conditioned shift pi(x). The
paper's argument is that this common shift makes the class features of an image harder to tell apart. The
measures below make that checkable on features T of shape (N images, C classes, D), unit norm::

    inter_class_cosine  mean cosine between the features of two different classes
                        for the same image (lower = classes further apart)
    class_spread        mean distance of a class's feature, image by image, from
                        its mean over the images (0 for CoOp: its prompts do not
                        move)
    shift_alignment     mean cosine between the moves t_c(x) - mean_x t_c(x) of
                        two different classes for the same image (1 = all classes
                        move together, as CoCoOp's shared pi(x) suggests; NaN
                        when nothing moves)
    silhouette          scikit-learn's silhouette score (cosine) of all N*C
                        features labelled by class: 1 when each class is a tight
                        cluster far from the others (exactly 1, trivially, when
                        the prompts ignore the image: each class is then a single
                        point)

and one measure tied to mistakes, from the logits of labelled images (`logit_margins`)::

    margin              logit of the true class minus the highest logit of
                        another class, per image: negative exactly when the image
                        is misclassified, small when a small move of the prompts
                        would flip it

For example::

    T = class_features_per_image(learner, subset.images[:200])
    # {"inter_class_cosine": ..., "class_spread": ..., ...}
    discrimination_stats(T)
    m = logit_margins(
        learner,
        subset.images[:200],
        subset.labels[:200],
        subset.classnames,
    )
    # {"accuracy": ..., "median_margin": ..., "near_misses": ...}
    margin_stats(m)
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from . import data
from .backbone import full_precision
from .engine import predict_logits


@torch.no_grad()
def class_features_per_image(learner, images: np.ndarray, classnames=None, batch_size: int = 64) -> torch.Tensor:
    """The unit-norm class text features (N, C, D) that `learner` scores each of `images` (uint8 N x H x W x 3)
    against, for `classnames` (default: the learner's current class list)."""
    if classnames is not None:
        learner.set_classnames(classnames)
    learner.eval()
    return torch.cat([full_precision(learner.text_features(batch)).cpu()
                      for batch in data.image_batches(images, learner.preprocess, batch_size, learner.device)])


def _check(features: torch.Tensor) -> torch.Tensor:
    if features.dim() != 3 or features.shape[1] < 2:
        raise ValueError(f"expected class features of shape (images, classes >= 2, dim), got "
                         f"{tuple(features.shape)}; build them with class_features_per_image(learner, images)")
    return F.normalize(full_precision(features), dim=-1)


def _mean_off_diagonal(gram: torch.Tensor) -> float:
    """Mean of the off-diagonal entries of a batch of (C, C) matrices."""
    n_classes = gram.shape[-1]
    off = gram.sum(dim=(-2, -1)) - gram.diagonal(dim1=-2, dim2=-1).sum(-1)
    return float(off.mean() / (n_classes * (n_classes - 1)))


def inter_class_cosine(features: torch.Tensor) -> float:
    """Mean cosine between two different classes' features of the same image; features (N, C, D)."""
    features = _check(features)
    return _mean_off_diagonal(features @ features.transpose(1, 2))


def class_moves(features: torch.Tensor) -> torch.Tensor:
    """How each class feature moves with the image: t_c(x) - mean over images of t_c, shape (N, C, D)."""
    features = _check(features)
    return features - features.mean(dim=0, keepdim=True)


def class_spread(features: torch.Tensor) -> float:
    """Mean distance of t_c(x) from its class's mean feature over the images (0: the prompts ignore x)."""
    return float(class_moves(features).norm(dim=-1).mean())


def shift_alignment(features: torch.Tensor, eps: float = 1e-6) -> float:
    """Mean cosine between the moves of two different classes for the same image; NaN when nothing moves."""
    moves = class_moves(features)
    if float(moves.norm(dim=-1).max()) < eps:
        return math.nan
    moves = F.normalize(moves, dim=-1)
    return _mean_off_diagonal(moves @ moves.transpose(1, 2))


def silhouette(features: torch.Tensor) -> float:
    """Silhouette score (cosine distance) of the N*C features labelled by class, in [-1, 1]."""
    from sklearn.metrics import silhouette_score
    features = _check(features)
    n_images, n_classes, _ = features.shape
    labels = np.tile(np.arange(n_classes), n_images)  # row n*C + c of the flattened features is class c
    return float(silhouette_score(features.reshape(-1, features.shape[-1]).numpy(), labels, metric="cosine"))


def discrimination_stats(features: torch.Tensor) -> dict[str, float]:
    """All four measures of this module for class features (N, C, D)."""
    return {"inter_class_cosine": inter_class_cosine(features), "class_spread": class_spread(features),
            "shift_alignment": shift_alignment(features), "silhouette": silhouette(features)}


def logit_margins(learner, images: np.ndarray, labels, classnames=None, batch_size: int = 64) -> torch.Tensor:
    """Per image, the logit of its true class minus the highest logit of any other class, shape (N,), for
    `classnames` (default: the learner's current class list). Negative exactly when `learner` gets the image
    wrong; in logit units, so comparable across learners that share CLIP's logit scale."""
    if classnames is not None:
        learner.set_classnames(classnames)
    logits = predict_logits(learner, images, batch_size)
    labels = torch.as_tensor(np.asarray(labels), dtype=torch.long)
    if logits.shape[0] != labels.shape[0]:
        raise ValueError(f"{logits.shape[0]} images but {labels.shape[0]} labels: pass one label per image")
    true = logits.gather(1, labels[:, None]).squeeze(1)
    others = logits.scatter(1, labels[:, None], float("-inf")).amax(dim=1)
    return true - others


def margin_stats(margins: torch.Tensor, near: float = 1.0) -> dict[str, float]:
    """Summary of `logit_margins`: accuracy in % (share of positive margins), the median margin, and the
    share in % of "near misses", images classified right by less than `near` logits."""
    margins = torch.as_tensor(margins, dtype=torch.float32)
    return {"accuracy": float((margins > 0).float().mean() * 100), "median_margin": float(margins.median()),
            "near_misses": float(((margins > 0) & (margins < near)).float().mean() * 100)}


COLUMNS = {"accuracy": "accuracy %", "median_margin": "median margin", "near_misses": "near misses %",
           "inter_class_cosine": "inter-class cos", "class_spread": "class spread",
           "shift_alignment": "shift align", "silhouette": "silhouette"}
# as many decimals as the measures keep from one run to another: a learner trained with 1 or with 2 CPU
# threads can differ in the third decimal of a cosine and the second of a margin
DECIMALS = {"accuracy": 1, "median_margin": 1, "near_misses": 1, "inter_class_cosine": 2, "class_spread": 3,
            "shift_alignment": 2, "silhouette": 2}
STILL = 1e-5  # a class spread below this: the prompts do not move with the image


def stats_frame(stats: dict):
    """A table of measures for the book: stats maps (classes, method), e.g. ("base", "CoOp"), to a dict of
    `discrimination_stats` and/or `margin_stats` values. Values that are degenerate by construction say why:
    when the prompts do not move with the image ("fixed"), shift alignment is undefined and the silhouette
    is 1."""
    import pandas as pd
    rows = []
    for (split, method), values in stats.items():
        row = {"classes": split, "method": method}
        still = values.get("class_spread", 1.0) < STILL
        for key, column in COLUMNS.items():
            if key not in values:
                continue
            if still and key == "shift_alignment":
                row[column] = "— (fixed)"
            elif still and key == "silhouette":
                row[column] = "1 (fixed)"
            else:
                row[column] = f"{values[key]:.{DECIMALS[key]}f}"
        rows.append(row)
    return pd.DataFrame(rows).set_index(["classes", "method"])


def tsne_embedding(features: torch.Tensor, seed: int = 0, perplexity: float | None = None) -> np.ndarray:
    """2-D t-SNE (scikit-learn, cosine metric) of the N*C features (N, C, D); returns (N*C, 2), row n*C + c.

    Identical features (CoOp's, which ignore the image) are embedded once and share one position: t-SNE
    given exact duplicates would scatter them and draw a difference that is not there.
    """
    from sklearn.manifold import TSNE
    features = _check(features)
    points = features.reshape(-1, features.shape[-1]).numpy()
    unique, inverse = np.unique(points, axis=0, return_inverse=True)
    if len(unique) < 3:
        raise ValueError(f"t-SNE needs at least 3 distinct features, got {len(unique)}")
    perplexity = perplexity or min(30.0, (len(unique) - 1) / 3)
    embedded = TSNE(n_components=2, perplexity=perplexity, metric="cosine", init="pca", random_state=seed
                    ).fit_transform(unique)
    return embedded[inverse.reshape(-1)]
