"""Real benchmark datasets for the `full` profile, read through torchvision, with the CoCoOp protocol on top.

    names = datasets.classnames("eurosat")                 # downloads into $TMML_DATA on first use
    images, labels = datasets.load_split("eurosat", "train") # a lazy ImageList of PIL images, int labels

`data.base_to_new("eurosat", shots=16, seed=1)` then works as for a task of the procedural world. Each entry of
`DATASETS` says where torchvision keeps the files, whether torchvision downloads them by itself (it checks the
archive's MD5 and skips the download when the files are already there) or a manual step is needed, and the
prompt template CoOp uses for it.

Splits. When CoOp's split file (`split_zhou_<Dataset>.json`, see `COOP_SPLIT_FILES`) lies in the dataset's
folder or in the folder $TMML_SPLITS, its train / val / test lists and CoOp's class names are used exactly:
the papers' splits, image for image. Otherwise: where a dataset has an official train / val / test split, we
use it. Where it has no validation split, 20 % of each class of the training split becomes val. Where it has
no split at all (EuroSAT, Caltech101, SUN397), each class is split 50 / 20 / 30 % with a fixed seed: the
proportions of CoOp's split files, not the files themselves, so comparable in protocol, not image for image.
ImageNet's val split is its test set, as in CoOp. `split_file(name)` says which applies.

ImageNet's four domain-generalization targets (`IMAGENET_TARGETS`: ImageNet-V2, -Sketch, -A, -R) have a test split
only: a learner trains on `imagenet` and is tested on them. `imagenet_class_ids(name)` maps their labels to ImageNet's.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

SPLITS = ("train", "val", "test")


def data_root() -> Path:
    """Where datasets live: $TMML_DATA, else ~/.cache/tmml_lite/data."""
    return Path(os.environ.get("TMML_DATA", "~/.cache/tmml_lite/data")).expanduser()


class DatasetNotFoundError(FileNotFoundError):
    """A dataset folder is missing or incomplete; the message says how to get the files."""


class ImageList:
    """A lazy list of images: item i is the RGB PIL image `dataset[indices[i]][0]`, read from disk when asked.
    A slice or a list of positions gives another ImageList, so it indexes like the world's uint8 arrays."""

    def __init__(self, dataset, indices):
        self.dataset, self.indices = dataset, np.asarray(indices, dtype=np.int64)

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, key):
        if isinstance(key, (int, np.integer)):
            return self.dataset[int(self.indices[key])][0].convert("RGB")
        return ImageList(self.dataset, self.indices[key])


@dataclass(frozen=True)
class DatasetSpec:
    """One benchmark: `load(root, download)` -> (class names, {split: (ImageList, labels)})."""
    name: str
    title: str
    template: str  # CoOp's hand-written prompt for this dataset
    folder: str  # what torchvision (or we) keep under the data root
    downloads: bool  # torchvision fetches it by itself
    how_to_get: str
    load: Callable
    splits: tuple[str, ...] = SPLITS  # the splits `load` returns; ("test",) for a target of domain generalization


def labels_of(dataset) -> np.ndarray:
    """The integer label of every item of a torchvision dataset, without opening the images when the dataset
    keeps them in a list (every dataset used here does); otherwise item by item."""
    for attribute in ("targets", "_labels", "y"):
        if hasattr(dataset, attribute):
            return np.asarray(getattr(dataset, attribute), dtype=np.int64)
    if hasattr(dataset, "_samples"):
        return np.asarray([label for _, label in dataset._samples], dtype=np.int64)
    return np.asarray([dataset[i][1] for i in range(len(dataset))], dtype=np.int64)


def _per_class_split(labels: np.ndarray, fractions: tuple[float, ...], seed: int = 0) -> list[np.ndarray]:
    """Split the indices of every class by `fractions` (shuffled with a fixed seed); one index array per part."""
    rng = np.random.default_rng(seed)
    parts = [[] for _ in fractions]
    for c in np.unique(labels):
        pool = rng.permutation(np.flatnonzero(labels == c))
        ends = np.round(np.cumsum(fractions) / sum(fractions) * len(pool)).astype(int)
        for part, chunk in zip(parts, np.split(pool, ends[:-1])):
            part.extend(sorted(chunk.tolist()))
    return [np.asarray(p, dtype=np.int64) for p in parts]


def _whole(dataset) -> tuple[ImageList, np.ndarray]:
    labels = labels_of(dataset)
    return ImageList(dataset, np.arange(len(labels))), labels


def _subset(dataset, labels: np.ndarray, indices: np.ndarray) -> tuple[ImageList, np.ndarray]:
    return ImageList(dataset, indices), labels[indices]


def _no_split(dataset, keep_classes=None) -> dict:
    """50 / 20 / 30 % of every class, for datasets that ship without splits; `keep_classes` drops the others.
    The split depends on the files, not on the order the file system lists them in."""
    labels = labels_of(dataset)
    files = getattr(dataset, "_image_files", None)  # SUN397 lists its files in file-system order
    order = np.argsort([str(f) for f in files]) if files is not None else np.arange(len(labels))
    if keep_classes is not None:  # relabel the kept classes 0..k-1
        relabel = np.full(labels.max() + 1, -1)
        relabel[keep_classes] = np.arange(len(keep_classes))
        labels = relabel[labels]
    parts = [np.sort(order[p]) for p in _per_class_split(labels[order], (0.5, 0.2, 0.3))]
    parts = [p[labels[p] >= 0] for p in parts]
    return {split: _subset(dataset, labels, p) for split, p in zip(SPLITS, parts)}


def _val_from_train(train, test) -> dict:
    """Official train and test; val = 20 % of each class of train."""
    labels = labels_of(train)
    fit, val = _per_class_split(labels, (0.8, 0.2))
    return {"train": _subset(train, labels, fit), "val": _subset(train, labels, val), "test": _whole(test)}


def _words(name: str) -> str:
    return name.replace("_", " ").strip()


# ---------------------------------------------------------------------------------------------------------
# One loader per dataset: torchvision's reader, our split, readable class names.

EUROSAT_NAMES = {  # CoOp's names for EuroSAT's folder names
    "AnnualCrop": "Annual Crop Land", "Forest": "Forest", "HerbaceousVegetation": "Herbaceous Vegetation Land",
    "Highway": "Highway or Road", "Industrial": "Industrial Buildings", "Pasture": "Pasture Land",
    "PermanentCrop": "Permanent Crop Land", "Residential": "Residential Buildings", "River": "River",
    "SeaLake": "Sea or Lake",
}
CALTECH_NAMES = {"airplanes": "airplane", "Faces": "face", "Leopards": "leopard", "Motorbikes": "motorbike"}


def _eurosat(root: Path, download: bool):
    from torchvision.datasets import EuroSAT
    ds = EuroSAT(root, download=download)
    return [EUROSAT_NAMES.get(c, _words(c)) for c in ds.classes], _no_split(ds)


def _dtd(root: Path, download: bool):
    from torchvision.datasets import DTD
    parts = {s: DTD(root, split=s, partition=1, download=download) for s in SPLITS}
    return [_words(c) for c in parts["train"].classes], {s: _whole(ds) for s, ds in parts.items()}


def _pets(root: Path, download: bool):
    from torchvision.datasets import OxfordIIITPet
    trainval, test = (OxfordIIITPet(root, split=s, target_types="category", download=download)
                      for s in ("trainval", "test"))
    return [c.lower() for c in trainval.classes], _val_from_train(trainval, test)


def _flowers(root: Path, download: bool):
    from torchvision.datasets import Flowers102
    parts = {s: Flowers102(root, split=s, download=download) for s in SPLITS}
    names = getattr(Flowers102, "classes", None)
    if names is None:
        raise RuntimeError("this torchvision has no Flowers102.classes (the flower names); upgrade torchvision")
    return [n.rstrip("?") for n in names], {s: _whole(ds) for s, ds in parts.items()}  # "pink-yellow dahlia?"


def _food(root: Path, download: bool):
    from torchvision.datasets import Food101
    train, test = (Food101(root, split=s, download=download) for s in ("train", "test"))
    return [_words(c) for c in train.classes], _val_from_train(train, test)


def _aircraft(root: Path, download: bool):
    from torchvision.datasets import FGVCAircraft
    parts = {s: FGVCAircraft(root, split=s, annotation_level="variant", download=download) for s in SPLITS}
    return list(parts["train"].classes), {s: _whole(ds) for s, ds in parts.items()}


def _cars(root: Path, download: bool):
    from torchvision.datasets import StanfordCars
    train, test = (StanfordCars(root, split=s, download=False) for s in ("train", "test"))  # no download exists
    return list(train.classes), _val_from_train(train, test)


def _caltech(root: Path, download: bool):
    from torchvision.datasets import Caltech101
    ds = Caltech101(root, target_type="category", download=download)
    keep = [i for i, c in enumerate(ds.categories) if c != "Faces_easy"]  # CoOp drops it (a copy of Faces)
    return [CALTECH_NAMES.get(ds.categories[i], _words(ds.categories[i])) for i in keep], _no_split(ds, keep)


def _sun(root: Path, download: bool):
    from torchvision.datasets import SUN397
    ds = SUN397(root, download=download)
    # "apartment_building/outdoor" -> "outdoor apartment building"
    names = [" ".join(_words(p) for p in reversed(c.split("/"))) for c in ds.classes]
    return names, _no_split(ds)


def _imagenet_classes(root: Path) -> dict[str, str]:
    """ImageNet's classes from imagenet/classnames.txt: {wnid: class name} in label order, i.e. sorted by wnid as
    ImageFolder sorts the class folders."""
    table = root / "imagenet" / "classnames.txt"
    if not table.is_file():
        raise FileNotFoundError(f"{table} is missing (ImageNet's class names, a line '<wnid> <class name>' each)")
    return dict(sorted(line.strip().split(" ", 1) for line in table.read_text().splitlines() if line.strip()))


def _imagenet(root: Path, download: bool):
    from torchvision.datasets import ImageFolder
    folder = root / "imagenet"
    table, names = folder / "classnames.txt", _imagenet_classes(root)
    train, test = (ImageFolder(folder / s) for s in ("train", "val"))
    if train.classes != test.classes:
        raise FileNotFoundError(f"{folder / 'train'} and {folder / 'val'} hold different class folders")
    unnamed = [w for w in train.classes if w not in names]
    if unnamed:
        raise FileNotFoundError(f"{table} names no class for {len(unnamed)} folders, e.g. {unnamed[0]}")
    test_part = _whole(test)
    return [names[w] for w in train.classes], {"train": _whole(train), "val": test_part, "test": test_part}


# ImageNet's targets of domain generalization: folders under CoOp's names, with the image folder as each release
# unpacks it (ImageNet-Sketch's `sketch/`, or `images/` as CoOp renames it).
IMAGENET_TARGETS = {  # dataset -> the image folder(s) to look for inside its folder
    "imagenet_v2": ("imagenetv2-matched-frequency-format-val",),
    "imagenet_sketch": ("sketch", "images"),
    "imagenet_a": ("imagenet-a",),
    "imagenet_r": ("imagenet-r",),
}


def _target_classes(name: str, root: Path) -> tuple[Path, dict[str, int]]:
    """A target's image folder and {class folder: its class's label in ImageNet}, in label order."""
    folder = root / get_dataset(name).folder
    images = next((folder / f for f in IMAGENET_TARGETS[name] if (folder / f).is_dir()), None)
    if images is None:
        raise FileNotFoundError(f"no folder {' or '.join(str(folder / f) for f in IMAGENET_TARGETS[name])}")
    wnids = list(_imagenet_classes(root))
    # ImageNet-V2 names folder k after ImageNet's class k; the others name each folder after its class's wnid
    ids = {str(k): k for k in range(len(wnids))} if name == "imagenet_v2" else {w: k for k, w in enumerate(wnids)}
    folders = [f.name for f in images.iterdir() if f.is_dir()]
    strays = sorted(f for f in folders if f not in ids)
    if strays:  # CoOp, too, fails on a folder that is not an ImageNet class
        raise ValueError(f"{images} holds {len(strays)} folders that are no ImageNet class of "
                         f"{root / 'imagenet' / 'classnames.txt'}, e.g. {strays[0]!r}")
    return images, {f: ids[f] for f in sorted(folders, key=ids.get)}


def _imagenet_target(name: str, root: Path, download: bool):
    """One of IMAGENET_TARGETS: ImageNet's class names of its classes and its only split, {"test": ...}."""
    from torchvision.datasets import ImageFolder
    images, classes = _target_classes(name, root)
    imagenet_names = list(_imagenet_classes(root).values())
    if name in ("imagenet_v2", "imagenet_sketch"):  # all of ImageNet's classes, under ImageNet's labels
        names, label_of = imagenet_names, classes
    else:  # 200 of ImageNet's classes, labelled 0..199 in ImageNet's order, as in CoOp
        names = [imagenet_names[k] for k in classes.values()]
        label_of = {folder: label for label, folder in enumerate(classes)}
    dataset = ImageFolder(images)  # its labels follow the folder names as strings ("10" before "2"): relabel
    labels = np.asarray([label_of[c] for c in dataset.classes], dtype=np.int64)[labels_of(dataset)]
    return names, {"test": (ImageList(dataset, np.arange(len(labels))), labels)}


def imagenet_class_ids(name: str, root: str | Path | None = None) -> list[int]:
    """For each class of an ImageNet target, in its label order, that class's label in ImageNet (sorted wnids):
    0..999 for imagenet_v2 and imagenet_sketch, 200 of them for imagenet_a and imagenet_r."""
    if name not in IMAGENET_TARGETS:
        raise ValueError(f"{name!r} is no ImageNet target; they are {', '.join(IMAGENET_TARGETS)}")
    load(name, root, download=False)  # the checks and messages of `load` when a folder is missing
    root = Path(root).expanduser() if root is not None else data_root()
    return list(_target_classes(name, root)[1].values())


_AUTO = "torchvision downloads it by itself on first use (download=True, the default) and checks its MD5."
DATASETS = {spec.name: spec for spec in [
    DatasetSpec("eurosat", "EuroSAT", "a centered satellite photo of {}.", "eurosat", True, _AUTO, _eurosat),
    DatasetSpec("dtd", "DTD (Describable Textures)", "{} texture.", "dtd", True, _AUTO, _dtd),
    DatasetSpec("oxford_pets", "Oxford-IIIT Pet", "a photo of a {}, a type of pet.", "oxford-iiit-pet", True,
                _AUTO, _pets),
    DatasetSpec("flowers102", "Oxford Flowers 102", "a photo of a {}, a type of flower.", "flowers-102", True,
                _AUTO, _flowers),
    DatasetSpec("food101", "Food-101", "a photo of {}, a type of food.", "food-101", True, _AUTO, _food),
    DatasetSpec("fgvc_aircraft", "FGVC Aircraft", "a photo of a {}, a type of aircraft.", "fgvc-aircraft-2013b",
                True, _AUTO, _aircraft),
    DatasetSpec("stanford_cars", "Stanford Cars", "a photo of a {}.", "stanford_cars", False,
                "torchvision cannot download it (the original address is gone). Get the images and the devkit "
                "(for example from a Kaggle mirror of Stanford Cars) and arrange them as "
                "stanford_cars/{devkit/cars_meta.mat, devkit/cars_train_annos.mat, cars_train/, cars_test/, "
                "cars_test_annos_withlabels.mat}.", _cars),
    DatasetSpec("caltech101", "Caltech101", "a photo of a {}.", "caltech101", True,
                _AUTO + " If the download fails, put the unpacked 101_ObjectCategories/ and Annotations/ folders "
                "of caltech-101.zip into caltech101/.", _caltech),
    DatasetSpec("sun397", "SUN397", "a photo of a {}.", "SUN397", True, _AUTO + " It is large; a Colab disk "
                "holds it, but the download takes long.", _sun),
    DatasetSpec("imagenet", "ImageNet (from a folder)", "a photo of a {}.", "imagenet", False,
                "ImageNet needs an account at image-net.org. Put the ILSVRC-2012 images into imagenet/train/<wnid>/ "
                "and imagenet/val/<wnid>/ (val sorted into class folders) and a file imagenet/classnames.txt with "
                "one line '<wnid> <class name>' per class (CoOp's classnames.txt has this format).", _imagenet),
]}

_TARGET = (" It is a test set only, in ImageNet's classes, so it also needs ImageNet's class names: the file "
           "imagenet/classnames.txt of the imagenet entry (the images of ImageNet itself are not needed).")
DATASETS.update({spec.name: spec for spec in [
    DatasetSpec(name, title, "a photo of a {}.", folder, False, how_to_get + _TARGET,
                functools.partial(_imagenet_target, name), splits=("test",))
    for name, title, folder, how_to_get in [
        ("imagenet_v2", "ImageNet-V2", "imagenetv2",
         "Download imagenetv2-matched-frequency.tar.gz (github.com/modestyachts/ImageNetV2) and unpack it into "
         "imagenetv2/, giving imagenetv2/imagenetv2-matched-frequency-format-val/0/ ... /999/ (folder k holds "
         "ImageNet's class k in sorted wnid order)."),
        ("imagenet_sketch", "ImageNet-Sketch", "imagenet-sketch",
         "Download ImageNet-Sketch.zip (github.com/HaohanWang/ImageNet-Sketch) and unpack it into "
         "imagenet-sketch/, giving imagenet-sketch/sketch/<wnid>/ for all 1000 classes (CoOp's name "
         "imagenet-sketch/images/ works too)."),
        ("imagenet_a", "ImageNet-A", "imagenet-adversarial",
         "Download imagenet-a.tar (github.com/hendrycks/natural-adv-examples) and unpack it into "
         "imagenet-adversarial/, giving imagenet-adversarial/imagenet-a/<wnid>/ for its 200 classes."),
        ("imagenet_r", "ImageNet-R", "imagenet-rendition",
         "Download imagenet-r.tar (github.com/hendrycks/imagenet-r) and unpack it into imagenet-rendition/, "
         "giving imagenet-rendition/imagenet-r/<wnid>/ for its 200 classes."),
    ]
]})


# ---------------------------------------------------------------------------------------------------------
# CoOp's split files: {"train" | "val" | "test": [[path relative to the image folder, label, class name], ...]}.
# CoOp's repository (DATASETS.md) links them; FGVC Aircraft and ImageNet have none (CoOp uses their own splits).

COOP_SPLIT_FILES = {  # dataset -> (CoOp's file name, the folder its paths are relative to, under our folder)
    "eurosat": ("split_zhou_EuroSAT.json", "2750"),
    "dtd": ("split_zhou_DescribableTextures.json", "dtd/images"),
    "oxford_pets": ("split_zhou_OxfordPets.json", "images"),
    "flowers102": ("split_zhou_OxfordFlowers.json", "jpg"),
    "food101": ("split_zhou_Food101.json", "images"),
    "stanford_cars": ("split_zhou_StanfordCars.json", "."),
    "caltech101": ("split_zhou_Caltech101.json", "101_ObjectCategories"),
    "sun397": ("split_zhou_SUN397.json", "."),
}


def split_file(name: str, root: str | Path | None = None) -> Path | None:
    """CoOp's split file for dataset `name` if there is one in $TMML_SPLITS or in the dataset's folder, else
    None (then the splits are ours, see the module's docstring)."""
    spec = get_dataset(name)
    if name not in COOP_SPLIT_FILES:
        return None
    root = Path(root).expanduser() if root is not None else data_root()
    folders = [Path(os.environ["TMML_SPLITS"]).expanduser()] if os.environ.get("TMML_SPLITS") else []
    for folder in folders + [root / spec.folder]:
        if (folder / COOP_SPLIT_FILES[name][0]).is_file():
            return folder / COOP_SPLIT_FILES[name][0]
    return None


class ImageFiles:
    """Images named by path: item i is (PIL image, labels[i]), like a torchvision dataset."""

    def __init__(self, paths: list[Path], labels: np.ndarray):
        self.paths, self.labels = paths, labels

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int):
        from PIL import Image
        with Image.open(self.paths[i]) as image:
            return image.convert("RGB"), int(self.labels[i])


def _normalized(name: str) -> str:
    return name.lower().replace("_", " ").rstrip("?").strip()


def _coop_splits(spec: DatasetSpec, root: Path, path: Path, names: list[str]) -> tuple[list[str], dict]:
    """CoOp's class names and {split: (ImageList, labels)} exactly as listed in its split file `path`; `names`
    are the dataset's own class names, to refuse a file made for another dataset."""
    import json
    content = json.loads(path.read_text())
    missing_keys = [s for s in SPLITS if s not in content]
    if missing_keys:
        raise ValueError(f"{path} is not a CoOp split file: it has no {missing_keys[0]!r} list "
                         f"(expected {{'train': [[path, label, class name], ...], 'val': ..., 'test': ...}})")
    label_names = {}
    for split in SPLITS:
        for _, label, classname in content[split]:
            if label_names.setdefault(int(label), classname) != classname:
                raise ValueError(f"{path} gives label {label} two class names: "
                                 f"{label_names[int(label)]!r} and {classname!r}")
    if sorted(label_names) != list(range(len(label_names))):
        raise ValueError(f"{path}: labels must be 0..{len(label_names) - 1}, got {sorted(label_names)[:5]}...")
    coop_names = [label_names[k].replace("_", " ") for k in range(len(label_names))]  # as CoOp's prompts do
    if {_normalized(n) for n in coop_names} != {_normalized(n) for n in names}:
        common = len({_normalized(n) for n in coop_names} & {_normalized(n) for n in names})
        raise ValueError(f"{path} is not a split file of {spec.title}: it names {len(coop_names)} classes and "
                         f"the dataset under {root / spec.folder} has {len(names)}, {common} of them in common. "
                         f"Use CoOp's {COOP_SPLIT_FILES[spec.name][0]}, or remove the file to use our splits.")
    images = (root / spec.folder / COOP_SPLIT_FILES[spec.name][1]).resolve()
    splits = {}
    for split in SPLITS:
        files = [images / relative for relative, _, _ in content[split]]
        absent = next((f for f in files if not f.is_file()), None)
        if absent is not None:
            raise DatasetNotFoundError(f"{path} lists {absent.relative_to(images)} ({split}), which is not in "
                                       f"{images}. Is the split file for this copy of {spec.title}? "
                                       f"{spec.how_to_get}")
        labels = np.asarray([label for _, label, _ in content[split]], dtype=np.int64)
        splits[split] = (ImageList(ImageFiles(files, labels), np.arange(len(files))), labels)
    return coop_names, splits


def get_dataset(name: str) -> DatasetSpec:
    if name not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; real datasets: {', '.join(DATASETS)}")
    return DATASETS[name]


def is_dataset(name: str) -> bool:
    return name in DATASETS


@functools.lru_cache(maxsize=16)
def _loaded(name: str, root: Path, download: bool, coop_split: Path | None):
    spec = get_dataset(name)
    root.mkdir(parents=True, exist_ok=True)
    try:
        names, splits = spec.load(root, download and spec.downloads)
    except (RuntimeError, FileNotFoundError, OSError, ValueError, KeyError) as e:
        fetch = " Pass download=True to fetch it." if spec.downloads and not download else ""
        raise DatasetNotFoundError(f"{spec.title} is missing or incomplete under {root / spec.folder} "
                                   f"({type(e).__name__}: {e}). {spec.how_to_get}{fetch} The data root is "
                                   f"$TMML_DATA (default ~/.cache/tmml_lite/data) or the `root` argument.") from e
    if coop_split is not None:
        names, splits = _coop_splits(spec, root, coop_split, names)
    for split, (images, labels) in splits.items():
        missing = sorted(set(range(len(names))) - set(labels.tolist()))
        if missing:
            raise DatasetNotFoundError(f"{spec.title} under {root / spec.folder} is incomplete: its {split} split "
                                       f"has no image of {len(missing)} classes (e.g. {names[missing[0]]!r}); "
                                       f"delete the folder and fetch it again. {spec.how_to_get}")
    return names, splits


def load(name: str, root: str | Path | None = None, download: bool = True):
    """(class names, {"train" | "val" | "test": (ImageList, labels)}) of a real dataset, read once per process;
    CoOp's splits and class names when `split_file(name, root)` finds its split file."""
    root = Path(root).expanduser() if root is not None else data_root()
    return _loaded(name, root, bool(download), split_file(name, root))


def classnames(name: str, root=None, download: bool = True) -> list[str]:
    """The readable class names of a dataset, in label order."""
    return list(load(name, root, download)[0])


def load_split(name: str, split: str, root=None, download: bool = True) -> tuple[ImageList, np.ndarray]:
    """One split of a real dataset: (ImageList of PIL images, int64 labels)."""
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; use one of {SPLITS}")
    spec = get_dataset(name)
    if split not in spec.splits:
        raise ValueError(f"{spec.title} has no {split} split: it is a test-only target of domain generalization. "
                         f"Train on 'imagenet' and test on {name!r} (load_split({name!r}, 'test')).")
    return load(name, root, download)[1][split]
