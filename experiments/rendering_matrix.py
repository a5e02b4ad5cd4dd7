"""Which wording fits which picture? Zero-shot accuracy of each rendering's template on each rendering's images.

For a task of the world whose test images come in several renderings (`world.RENDERINGS`), one table per
half (base, new): a row per template of `world.RENDERING_TEMPLATES`, a column per rendering of the images. A
rendering whose own template beats the photo template on its own images (and loses on the others) is one where
the wording depends on the image; one whose column is flat is one the image tower has learned to see through.

    TMML_PROFILE=tiny python experiments/rendering_matrix.py --tasks fine_grained shapes
"""

from __future__ import annotations

import argparse

import numpy as np
import pandas as pd
import torch

from tmml_lite import data, world
from tmml_lite.backbone import load_clip
from tmml_lite.zeroshot import encode_images, similarity_matrix, text_classifier


def rendering_matrix(backbone, task: world.Task) -> dict[str, pd.DataFrame]:
    """{half: DataFrame (template x image rendering) of zero-shot accuracy in %}."""
    model, preprocess, tokenizer = backbone
    images, labels, details = world.task_split(task, "test", details=True)
    renderings = np.array([d["rendering"] for d in details])
    features = encode_images(model, preprocess, images)
    base, new = data.base_new_classes(len(task.classnames))
    tables = {}
    for half, ids in (("base", base), ("new", new)):
        keep = np.isin(labels, ids)
        y, shown = labels[keep] - ids[0], renderings[keep]
        names = [task.classnames[i] for i in ids]
        rows = {}
        for rendering, template in world.RENDERING_TEMPLATES.items():
            text = text_classifier(model, tokenizer, names, [template])
            predicted = similarity_matrix(features[torch.as_tensor(keep)], text).argmax(1).numpy()
            rows[f"{rendering} template"] = {r: round(100 * float((predicted[shown == r] == y[shown == r]).mean()), 1)
                                             for r in world.RENDERINGS if (shown == r).any()}
        tables[half] = pd.DataFrame(rows).T
    return tables


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", default=None, help="TinyCLIP weights (default: the shipped checkpoint)")
    parser.add_argument("--tasks", nargs="+", default=["fine_grained", "shapes"])
    args = parser.parse_args()
    backbone = load_clip(pretrained=args.checkpoint or "default")
    for name in args.tasks:
        for half, table in rendering_matrix(backbone, world.TASKS[name]).items():
            print(f"== {name}, {half} classes: rows are templates, columns the images' renderings")
            print(table.to_string())


if __name__ == "__main__":
    main()
