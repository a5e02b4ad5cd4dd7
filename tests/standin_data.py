"""Tiny stand-ins for the benchmark datasets, written in the on-disk layout torchvision reads.

The real datasets are gigabytes and need a download; the tests run offline. For each name in
``STANDIN_NAMES``, ``make_standin(name, root)`` writes a few small random-colour JPEGs plus the
metadata files the torchvision class opens with ``download=False`` (or, for "imagenet" and its four
test-only targets "imagenet_v2", "imagenet_sketch", "imagenet_a", "imagenet_r", our own CoOp-style folder
format), and returns the class names in label order. Every split holds every
class with at least two images, so few-shot sampling works. ``remove_one_file(name, root)``
deletes one file or folder the reader needs, so a test can check the message a reader sees.

Splits: ``SPLITS[name]`` lists the ``split=`` values the registry passes; an empty tuple means
the torchvision class takes no split argument (EuroSAT, Caltech101, SUN397 are one pool).

Flowers102 and the md5 check
----------------------------
``Flowers102.__init__`` calls ``self._check_integrity()``, which requires ``flowers-102/jpg`` to
be a folder and runs ``torchvision.datasets.utils.check_integrity(path, md5)`` on
``imagelabels.mat`` and ``setid.mat`` against the md5 sums in ``Flowers102._file_dict``. A
stand-in cannot match those sums, so the constructor raises ``RuntimeError("Dataset not found
or corrupted. ...")``. A test bypasses only the md5 part, keeping the existence checks::

    monkeypatch.setattr(torchvision.datasets.Flowers102, "_check_integrity",
                        standin_data.flowers102_files_exist)

(or, in the registry, a flag that does the same for a subclass). Note also that
``Flowers102.classes`` is a fixed class attribute with all 102 names; the stand-in uses labels
0..n_classes-1, so ``make_standin`` returns ``Flowers102.classes[:n_classes]`` (the registry reports all
102 names, so its tests write a stand-in with n_classes=102).

Flowers102 and StanfordCars need scipy (the .mat files), both here and in torchvision.
"""
from __future__ import annotations

import json
import shutil
import zlib
from pathlib import Path

import numpy as np
from PIL import Image

STANDIN_NAMES = (
    "eurosat", "dtd", "oxford_pets", "flowers102", "food101",
    "fgvc_aircraft", "stanford_cars", "caltech101", "sun397", "imagenet",
    "imagenet_v2", "imagenet_sketch", "imagenet_a", "imagenet_r",
)

SPLITS: dict[str, tuple[str, ...]] = {
    "eurosat": (),
    "dtd": ("train", "val", "test"),
    "oxford_pets": ("trainval", "test"),
    "flowers102": ("train", "val", "test"),
    "food101": ("train", "test"),
    "fgvc_aircraft": ("train", "val", "test"),
    "stanford_cars": ("train", "test"),
    "caltech101": (),
    "sun397": (),
    "imagenet": ("train", "val"),
    "imagenet_v2": (), "imagenet_sketch": (), "imagenet_a": (), "imagenet_r": (),  # a test set each
}

# Realistic class names, ten per dataset (twelve for ImageNet), in the form each dataset writes them.
_NAMES = {
    "eurosat": ["AnnualCrop", "Forest", "HerbaceousVegetation", "Highway", "Industrial",
                "Pasture", "PermanentCrop", "Residential", "River", "SeaLake"],
    "dtd": ["banded", "blotchy", "braided", "bubbly", "bumpy",
            "chequered", "cobwebbed", "cracked", "crosshatched", "crystalline"],
    # Pets ids are "<breed>_<n>": cat breeds capitalised, dog breeds lower case; class ids
    # follow the case-insensitive alphabetical order, as in the real list.
    "oxford_pets": ["Abyssinian", "american_bulldog", "american_pit_bull_terrier", "basset_hound",
                    "beagle", "Bengal", "Birman", "Bombay", "boxer", "British_Shorthair"],
    "food101": ["apple_pie", "baby_back_ribs", "baklava", "beef_carpaccio", "beef_tartare",
                "beet_salad", "beignets", "bibimbap", "bread_pudding", "breakfast_burrito"],
    # variants.txt order is the label order; some names have spaces or a slash.
    "fgvc_aircraft": ["707-320", "A320", "Cessna 172", "F/A-18", "737-800",
                      "DC-10", "Falcon 2000", "Tu-154", "ATR-72", "Hawk T1"],
    "stanford_cars": ["AM General Hummer SUV 2000", "Acura RL Sedan 2012", "Acura TL Sedan 2012",
                      "Acura TL Type-S 2008", "Acura TSX Sedan 2012", "Acura Integra Type R 2001",
                      "Acura ZDX Hatchback 2012", "Aston Martin V8 Vantage Convertible 2012",
                      "Audi R8 Coupe 2012", "BMW M3 Coupe 2012"],
    # Caltech's capitalised folders sort before the lower-case ones.
    "caltech101": ["Faces_easy", "accordion", "airplanes", "anchor", "ant",
                   "barrel", "bass", "beaver", "binocular", "bonsai"],
    # ClassName.txt lines; the class is the line without its "/x/" prefix.
    "sun397": ["/a/abbey", "/a/airplane_cabin", "/a/apartment_building/outdoor", "/b/bakery/shop",
               "/b/bamboo_forest", "/c/campus", "/d/dining_room", "/f/forest_path", "/k/kitchen",
               "/r/river"],
    "imagenet": ["tench", "goldfish", "great white shark", "tiger shark", "hammerhead shark",
                 "electric ray", "stingray", "cock", "hen", "ostrich", "brambling", "goldfinch"],
}
# ImageNet's first twelve wnids (sorted, as ImageFolder labels them), the classes of _NAMES["imagenet"].
IMAGENET_WNIDS = ["n01440764", "n01443537", "n01484850", "n01491361", "n01494475", "n01496331",
                  "n01498041", "n01514668", "n01514859", "n01518878", "n01530575", "n01531178"]

# What remove_one_file deletes (relative to root), and which readers it breaks.
REMOVED = {
    "eurosat": "eurosat/2750",                            # the images folder
    "dtd": "dtd/dtd/labels/train1.txt",                   # split="train" only
    "oxford_pets": "oxford-iiit-pet/annotations/trainval.txt",  # split="trainval" only
    "flowers102": "flowers-102/setid.mat",                # every split
    "food101": "food-101/meta/train.json",                # split="train" only
    "fgvc_aircraft": "fgvc-aircraft-2013b/data/variants.txt",   # every split
    "stanford_cars": "stanford_cars/devkit/cars_meta.mat",      # every split
    "caltech101": "caltech101/101_ObjectCategories",      # the images folder
    "sun397": "SUN397/ClassName.txt",
    "imagenet": "imagenet/classnames.txt",                # read by the registry, not ImageFolder
    "imagenet_v2": "imagenetv2/imagenetv2-matched-frequency-format-val",  # the image folders
    "imagenet_sketch": "imagenet-sketch/sketch",
    "imagenet_a": "imagenet-adversarial/imagenet-a",
    "imagenet_r": "imagenet-rendition/imagenet-r",
}


def make_standin(name: str, root: Path, n_classes: int = 4, per_class: int = 6, size: int = 16) -> list[str]:
    """Write a tiny stand-in of dataset `name` under `root` in the exact on-disk layout torchvision's class reads
    with download=False; returns the class names as torchvision's dataset object reports them (its `classes`
    or `categories` attribute, in label order).

    `per_class` is the number of images of each class over all splits, dealt round-robin to the splits.
    Exceptions to "as the dataset object reports them": Flowers102 (its 102-name class attribute, cut to
    the first n_classes) and imagenet and its targets (the human-readable names from classnames.txt, in the
    order of the sorted wnids). A target's `n_classes` counts ImageNet's classes (those of classnames.txt);
    imagenet_a holds the odd ones of them and imagenet_r the even ones (see `target_class_ids`).
    """
    if name not in _WRITERS:
        raise ValueError(f"no stand-in for {name!r}; choose one of {STANDIN_NAMES}")
    n_splits = max(1, len(SPLITS[name]))
    if per_class < 2 * n_splits:
        raise ValueError(f"{name}: per_class={per_class} gives a split fewer than 2 images per class; "
                         f"use per_class >= {2 * n_splits}")
    if not 1 <= n_classes <= (102 if name == "flowers102" else len(_NAMES.get(name, _NAMES["imagenet"]))):
        raise ValueError(f"{name}: n_classes={n_classes} is out of range for this stand-in")
    writer = _Writer(name, Path(root), size)
    return _WRITERS[name](writer, n_classes, per_class)


def remove_one_file(name: str, root: Path) -> Path:
    """Delete one file or folder that the reader of stand-in `name` needs (see REMOVED); return its path."""
    path = Path(root) / REMOVED[name]
    if path.is_dir():
        shutil.rmtree(path)
    else:
        path.unlink()
    return path


def flowers102_files_exist(self) -> bool:
    """Drop-in for Flowers102._check_integrity: the same files must exist, without the md5 check."""
    files = [self._file_dict[key][0] for key in ("label", "setid")]
    return self._images_folder.is_dir() and all((self._base_folder / f).is_file() for f in files)


class _Writer:
    """Deterministic image writer: one seeded generator per dataset, a colour per class."""

    def __init__(self, name: str, root: Path, size: int):
        self.rng = np.random.default_rng(zlib.crc32(name.encode()))
        self.root = root
        self.size = size
        self.class_colours: dict[int, np.ndarray] = {}

    def image(self, path: Path, label: int) -> None:
        """A size x size RGB JPEG: the class colour plus a little per-pixel noise."""
        if label not in self.class_colours:
            self.class_colours[label] = self.rng.integers(40, 216, size=3)
        noise = self.rng.integers(-30, 31, size=(self.size, self.size, 3))
        pixels = np.clip(self.class_colours[label] + noise, 0, 255).astype(np.uint8)
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(pixels, "RGB").save(path, "JPEG", quality=90)

    def unique_ids(self, count: int, digits: int) -> list[str]:
        """`count` distinct random zero-padded numbers, like Food101's and Aircraft's image ids."""
        ids = self.rng.choice(10 ** digits, size=count, replace=False)
        return [f"{i:0{digits}d}" for i in ids]


def _deal(per_class: int, splits: tuple[str, ...]) -> list[str]:
    """The split of each of a class's images: round-robin, so every split gets per_class // len(splits)."""
    return [splits[i % len(splits)] for i in range(per_class)]


def _write_lines(path: Path, lines: list[str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(line + "\n" for line in lines))


def _eurosat(w: _Writer, n: int, per_class: int) -> list[str]:
    """EuroSAT (RGB): root/eurosat/2750/<Class>/<Class>_<k>.jpg, read as an ImageFolder."""
    classes = _NAMES["eurosat"][:n]
    for label, cls in enumerate(classes):
        for k in range(1, per_class + 1):
            w.image(w.root / "eurosat" / "2750" / cls / f"{cls}_{k}.jpg", label)
    return sorted(classes)


def _dtd(w: _Writer, n: int, per_class: int) -> list[str]:
    """DTD: root/dtd/dtd/images/<cls>/<cls>_<kkkk>.jpg and labels/{train,val,test}1.txt of "<cls>/<file>"."""
    data = w.root / "dtd" / "dtd"
    classes = _NAMES["dtd"][:n]
    lines: dict[str, list[str]] = {s: [] for s in SPLITS["dtd"]}
    for label, cls in enumerate(classes):
        for k, split in enumerate(_deal(per_class, SPLITS["dtd"]), 1):
            w.image(data / "images" / cls / f"{cls}_{k:04d}.jpg", label)
            lines[split].append(f"{cls}/{cls}_{k:04d}.jpg")
    for split, split_lines in lines.items():
        _write_lines(data / "labels" / f"{split}1.txt", split_lines)
    return sorted(classes)


def _oxford_pets(w: _Writer, n: int, per_class: int) -> list[str]:
    """Oxford-IIIT Pet: root/oxford-iiit-pet/images/<Breed>_<k>.jpg and annotations/{trainval,test}.txt
    with lines "<id> <class id> <species: 1 cat, 2 dog> <breed id within species>" (ids 1-based)."""
    base = w.root / "oxford-iiit-pet"
    breeds = _NAMES["oxford_pets"][:n]
    lines: dict[str, list[str]] = {s: [] for s in SPLITS["oxford_pets"]}
    species_count = {1: 0, 2: 0}
    for label, breed in enumerate(breeds):
        species = 1 if breed[0].isupper() else 2
        species_count[species] += 1
        for k, split in enumerate(_deal(per_class, SPLITS["oxford_pets"]), 1):
            w.image(base / "images" / f"{breed}_{k}.jpg", label)
            lines[split].append(f"{breed}_{k} {label + 1} {species} {species_count[species]}")
    for split, split_lines in lines.items():
        _write_lines(base / "annotations" / f"{split}.txt", split_lines)
    # torchvision names a class by its id prefix, split on "_" and title-cased.
    return [" ".join(part.title() for part in breed.split("_")) for breed in breeds]


def _flowers102(w: _Writer, n: int, per_class: int) -> list[str]:
    """Flowers102: root/flowers-102/jpg/image_<iiiii>.jpg, imagelabels.mat {"labels": 1 x N, 1-based}
    and setid.mat {"trnid", "valid", "tstid": 1 x k image ids}."""
    from scipy.io import savemat
    from torchvision.datasets import Flowers102

    base = w.root / "flowers-102"
    labels: list[int] = []
    ids: dict[str, list[int]] = {"train": [], "val": [], "test": []}
    for label in range(n):
        for split in _deal(per_class, SPLITS["flowers102"]):
            labels.append(label + 1)
            ids[split].append(len(labels))
            w.image(base / "jpg" / f"image_{len(labels):05d}.jpg", label)
    savemat(base / "imagelabels.mat", {"labels": np.array(labels, dtype=np.uint8)})
    savemat(base / "setid.mat", {"trnid": np.array(ids["train"], dtype=np.uint16),
                                 "valid": np.array(ids["val"], dtype=np.uint16),
                                 "tstid": np.array(ids["test"], dtype=np.uint16)})
    return list(Flowers102.classes[:n])


def _food101(w: _Writer, n: int, per_class: int) -> list[str]:
    """Food-101: root/food-101/images/<cls>/<id>.jpg and meta/{train,test}.json mapping
    class -> ["<cls>/<id>", ...] (no extension)."""
    base = w.root / "food-101"
    classes = _NAMES["food101"][:n]
    meta: dict[str, dict[str, list[str]]] = {s: {} for s in SPLITS["food101"]}
    for label, cls in enumerate(classes):
        splits = _deal(per_class, SPLITS["food101"])
        for image_id, split in zip(w.unique_ids(per_class, 7), splits):
            w.image(base / "images" / cls / f"{image_id}.jpg", label)
            meta[split].setdefault(cls, []).append(f"{cls}/{image_id}")
    (base / "meta").mkdir(parents=True, exist_ok=True)
    for split, content in meta.items():
        (base / "meta" / f"{split}.json").write_text(json.dumps(content))
    return sorted(classes)


def _fgvc_aircraft(w: _Writer, n: int, per_class: int) -> list[str]:
    """FGVC-Aircraft 2013b: root/fgvc-aircraft-2013b/data/images/<7-digit id>.jpg, data/variants.txt
    (label order) and data/images_variant_{train,val,trainval,test}.txt of "<id> <variant>"."""
    data = w.root / "fgvc-aircraft-2013b" / "data"
    variants = _NAMES["fgvc_aircraft"][:n]
    lines: dict[str, list[str]] = {s: [] for s in SPLITS["fgvc_aircraft"]}
    ids = iter(w.unique_ids(n * per_class, 7))
    for label, variant in enumerate(variants):
        for split in _deal(per_class, SPLITS["fgvc_aircraft"]):
            image_id = next(ids)
            w.image(data / "images" / f"{image_id}.jpg", label)
            lines[split].append(f"{image_id} {variant}")
    lines["trainval"] = lines["train"] + lines["val"]
    _write_lines(data / "variants.txt", variants)
    for split, split_lines in lines.items():
        _write_lines(data / f"images_variant_{split}.txt", split_lines)
    return variants


def _stanford_cars(w: _Writer, n: int, per_class: int) -> list[str]:
    """Stanford Cars: root/stanford_cars/cars_{train,test}/<iiiii>.jpg, devkit/cars_meta.mat
    {"class_names": 1 x C cell}, devkit/cars_train_annos.mat and cars_test_annos_withlabels.mat
    {"annotations": 1 x N struct with bbox_x1, bbox_y1, bbox_x2, bbox_y2, class (1-based), fname}."""
    from scipy.io import savemat

    base = w.root / "stanford_cars"
    classes = _NAMES["stanford_cars"][:n]
    annotations: dict[str, list[tuple[int, str]]] = {s: [] for s in SPLITS["stanford_cars"]}
    for label in range(n):
        for split in _deal(per_class, SPLITS["stanford_cars"]):
            fname = f"{len(annotations[split]) + 1:05d}.jpg"
            w.image(base / f"cars_{split}" / fname, label)
            annotations[split].append((label + 1, fname))
    fields = [("bbox_x1", "O"), ("bbox_y1", "O"), ("bbox_x2", "O"), ("bbox_y2", "O"),
              ("class", "O"), ("fname", "O")]
    files = {"train": base / "devkit" / "cars_train_annos.mat",
             "test": base / "cars_test_annos_withlabels.mat"}
    (base / "devkit").mkdir(parents=True, exist_ok=True)
    for split, rows in annotations.items():
        structs = np.zeros((1, len(rows)), dtype=fields)
        for i, (cls, fname) in enumerate(rows):
            box = [np.uint16(v) for v in (1, 1, w.size, w.size)]
            structs[0, i] = (*box, np.uint8(cls), fname)
        savemat(files[split], {"annotations": structs})
    savemat(base / "devkit" / "cars_meta.mat", {"class_names": np.array(classes, dtype=object)[None, :]})
    return classes


def _caltech101(w: _Writer, n: int, per_class: int) -> list[str]:
    """Caltech101: root/caltech101/101_ObjectCategories/<category>/image_<kkkk>.jpg, numbered from 1
    without gaps (torchvision counts the files), plus the BACKGROUND_Google folder it drops."""
    folder = w.root / "caltech101" / "101_ObjectCategories"
    categories = sorted(_NAMES["caltech101"][:n])
    for label, category in enumerate(categories):
        for k in range(1, per_class + 1):
            w.image(folder / category / f"image_{k:04d}.jpg", label)
    for k in range(1, 3):
        w.image(folder / "BACKGROUND_Google" / f"image_{k:04d}.jpg", -1)
    return categories


def _sun397(w: _Writer, n: int, per_class: int) -> list[str]:
    """SUN397: root/SUN397/ClassName.txt of "/a/abbey" lines and root/SUN397/a/abbey/sun_<20 letters>.jpg."""
    data = w.root / "SUN397"
    lines = _NAMES["sun397"][:n]
    letters = np.array(list("abcdefghijklmnopqrstuvwxyz"))
    for label, line in enumerate(lines):
        for _ in range(per_class):
            stem = "".join(w.rng.choice(letters, size=20))
            w.image(data / line.lstrip("/") / f"sun_{stem}.jpg", label)
    _write_lines(data / "ClassName.txt", lines)
    return [line[3:] for line in lines]


def _imagenet_classnames(w: _Writer, n: int) -> list[str]:
    """root/imagenet/classnames.txt of "<wnid> <class name>" lines for ImageNet's first n classes, in a
    shuffled order (the reader sorts by wnid); returns the wnids, sorted."""
    wnids = IMAGENET_WNIDS[:n]
    lines = [f"{wnid} {name}" for wnid, name in zip(wnids, _NAMES["imagenet"])]
    _write_lines(w.root / "imagenet" / "classnames.txt", [lines[i] for i in w.rng.permutation(n)])
    return wnids


def _imagenet(w: _Writer, n: int, per_class: int) -> list[str]:
    """Our ImageNet format (like CoOp's): root/imagenet/{train,val}/<wnid>/*.JPEG, read with
    ImageFolder, and root/imagenet/classnames.txt of "<wnid> <class name>" lines."""
    base = w.root / "imagenet"
    wnids = _imagenet_classnames(w, n)
    for label, wnid in enumerate(wnids):
        for k, split in enumerate(_deal(per_class, SPLITS["imagenet"]), 1):
            stem = f"{wnid}_{k}" if split == "train" else f"ILSVRC2012_val_{label * per_class + k:08d}"
            w.image(base / split / wnid / f"{stem}.JPEG", label)
    return _NAMES["imagenet"][:n]


def target_class_ids(name: str, n_classes: int) -> list[int]:
    """The ImageNet labels of a target stand-in's classes, in its label order: all n_classes for imagenet_v2
    and imagenet_sketch, the odd ones for imagenet_a, the even ones for imagenet_r."""
    start, step = {"imagenet_a": (1, 2), "imagenet_r": (0, 2)}.get(name, (0, 1))
    return list(range(start, n_classes, step))


def _imagenet_target(name: str):
    """A writer of an ImageNet target's test set as its release unpacks, plus root/imagenet/classnames.txt:
    imagenetv2/imagenetv2-matched-frequency-format-val/<ImageNet label>/*.jpeg,
    imagenet-sketch/sketch/<wnid>/*.JPEG, imagenet-adversarial/imagenet-a/<wnid>/*.jpg and
    imagenet-rendition/imagenet-r/<wnid>/*.jpg (A and R with their README.txt beside the class folders)."""
    images = Path(REMOVED[name])
    suffix = {"imagenet_v2": ".jpeg", "imagenet_sketch": ".JPEG"}.get(name, ".jpg")  # as each release has them

    def write(w: _Writer, n: int, per_class: int) -> list[str]:
        wnids = _imagenet_classnames(w, n)
        ids = target_class_ids(name, n)
        for k in ids:
            folder = w.root / images / (str(k) if name == "imagenet_v2" else wnids[k])
            for i in range(per_class):
                w.image(folder / f"{name}_{k}_{i}{suffix}", k)
        if name in ("imagenet_a", "imagenet_r"):
            _write_lines(w.root / images / "README.txt", ["200 ImageNet classes, one folder each"])
        return [_NAMES["imagenet"][k] for k in ids]
    return write


_WRITERS = {
    "eurosat": _eurosat, "dtd": _dtd, "oxford_pets": _oxford_pets, "flowers102": _flowers102,
    "food101": _food101, "fgvc_aircraft": _fgvc_aircraft, "stanford_cars": _stanford_cars,
    "caltech101": _caltech101, "sun397": _sun397, "imagenet": _imagenet,
    **{name: _imagenet_target(name) for name in ("imagenet_v2", "imagenet_sketch", "imagenet_a", "imagenet_r")},
}
