"""The registry of real datasets, on stand-in data written in each dataset's on-disk format (no network)."""
import json
import socket

import numpy as np
import pytest
import torchvision
from PIL import Image

from tmml_lite import data, datasets
from tmml_lite.coop import CoOp
from tmml_lite.engine import TrainConfig, evaluate, fit
from tmml_lite.zeroshot import zeroshot_accuracy

import standin_data

PER_CLASS = 12  # 4 images per class in each of three splits, 6 in each of two


def readable(name: str, standin_names: list[str]) -> list[str]:
    """The class names the registry should report for the stand-in's raw names."""
    if name == "eurosat":
        return [datasets.EUROSAT_NAMES[n] for n in standin_names]
    if name == "oxford_pets":
        return [n.lower() for n in standin_names]
    if name == "caltech101":  # Faces_easy is dropped, as in CoOp
        return [datasets.CALTECH_NAMES.get(n, n.replace("_", " ")) for n in standin_names if n != "Faces_easy"]
    if name == "flowers102":  # torchvision writes "pink-yellow dahlia?"
        return [n.rstrip("?") for n in standin_names]
    if name == "sun397":
        return [" ".join(p.replace("_", " ") for p in reversed(n.split("/"))) for n in standin_names]
    return [n.replace("_", " ") for n in standin_names]


@pytest.fixture
def standin(tmp_path, monkeypatch):
    """make(name) writes a stand-in under a fresh data root, which becomes $TMML_DATA."""
    # a stand-in cannot match the MD5 of Flowers102's real .mat files: check that they exist, not their sums
    monkeypatch.setattr(torchvision.datasets.Flowers102, "_check_integrity", standin_data.flowers102_files_exist)
    monkeypatch.setenv("TMML_DATA", str(tmp_path))

    def make(name, **kwargs):
        if name == "flowers102":  # the reader names all 102 flowers, so every split must hold all of them
            kwargs.setdefault("n_classes", len(torchvision.datasets.Flowers102.classes))
        return standin_data.make_standin(name, tmp_path, per_class=PER_CLASS, **kwargs)
    return make


@pytest.mark.parametrize("name", standin_data.STANDIN_NAMES)
def test_every_registered_dataset_loads_with_every_class_in_every_split(name, standin):
    assert set(standin_data.STANDIN_NAMES) == set(datasets.DATASETS)
    expected = readable(name, standin(name))
    names, splits = datasets.load(name, download=False)
    assert names == expected
    assert set(splits) == set(datasets.get_dataset(name).splits)  # ImageNet's targets: "test" only
    for split, (images, labels) in splits.items():
        assert len(images) == len(labels) > 0
        assert set(labels.tolist()) == set(range(len(names))), split
        image = images[0]
        assert isinstance(image, Image.Image) and image.mode == "RGB"
    if set(splits) == set(datasets.SPLITS) and name != "imagenet":  # ImageNet's val is its test, as in CoOp
        train, val, test = (splits[s][0] for s in datasets.SPLITS)
        if train.dataset is val.dataset:
            assert not set(train.indices) & set(val.indices)
        if train.dataset is test.dataset:
            assert not set(train.indices) & set(test.indices) and not set(val.indices) & set(test.indices)


@pytest.mark.parametrize("name", standin_data.STANDIN_NAMES)
def test_a_missing_or_incomplete_dataset_folder_says_what_to_do(name, standin, tmp_path):
    standin(name)
    removed = standin_data.remove_one_file(name, tmp_path)
    spec = datasets.get_dataset(name)
    with pytest.raises(datasets.DatasetNotFoundError) as error:
        datasets.load(name, download=False)
    message = str(error.value)
    assert spec.title in message and spec.how_to_get in message and "TMML_DATA" in message, message
    assert removed.name in message or spec.folder in message


def test_an_empty_data_root_names_the_download_or_the_manual_step(tmp_path):
    with pytest.raises(datasets.DatasetNotFoundError, match="Pass download=True"):
        datasets.load("dtd", root=tmp_path, download=False)
    with pytest.raises(datasets.DatasetNotFoundError, match="cannot download"):
        datasets.load("stanford_cars", root=tmp_path)
    with pytest.raises(ValueError, match="unknown dataset 'eurosatt'"):
        datasets.load("eurosatt", root=tmp_path)


def test_files_already_on_disk_are_not_downloaded_again(standin, monkeypatch):
    standin("eurosat")
    standin("dtd")

    def refuse(*args, **kwargs):
        raise RuntimeError("network access attempted")
    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    for name in ("eurosat", "dtd"):
        assert datasets.load(name, download=True)[0]


def test_splits_made_by_us_do_not_depend_on_the_order_files_are_listed_in(standin):
    standin("sun397")
    _, splits = datasets.load("sun397", download=False)
    dataset = splits["train"][0].dataset
    files = lambda split: {str(dataset._image_files[i]) for i in splits[split][0].indices}  # noqa: E731
    before = {s: files(s) for s in datasets.SPLITS}
    dataset._image_files.reverse()
    dataset._labels.reverse()
    after = datasets._no_split(dataset)
    assert {s: {str(dataset._image_files[i]) for i in after[s][0].indices} for s in datasets.SPLITS} == before


def test_base_to_new_on_a_real_dataset_format_trains_and_evaluates(standin, tiny):
    standin("eurosat")
    splits = data.base_to_new("eurosat", shots=2, seed=1)
    assert splits["train"].classnames == ["Annual Crop Land", "Forest"]
    assert splits["test_new"].classnames == ["Herbaceous Vegetation Land", "Highway or Road"]
    assert len(splits["train"]) == 4 and isinstance(splits["train"].images, datasets.ImageList)
    learner = CoOp(tiny, splits["train"].classnames)
    log = fit(learner, splits["train"], TrainConfig(epochs=2, batch_size=2), progress=False)
    assert np.isfinite(log["losses"]).all()
    for subset in (splits["test_base"], splits["test_new"]):
        assert 0 <= evaluate(learner, subset) <= 100
    assert data.task_templates("eurosat") == ["a centered satellite photo of {}."]
    assert 0 <= zeroshot_accuracy(tiny, "eurosat") <= 100


# --- CoOp's split files -----------------------------------------------------------------------------------

def coop_split_content(name: str, root, seed: int = 0) -> dict:
    """A CoOp-format split of a stand-in with class folders, as CoOp writes it ({"train" | "val" | "test":
    [[path relative to the image folder, label, class name], ...]}, underscores in the names): a shuffled
    part of the images in each list, some images in none, so only an exact reading reproduces it."""
    images = root / datasets.get_dataset(name).folder / datasets.COOP_SPLIT_FILES[name][1]
    names = datasets.classnames(name, download=False)  # ours, in label order = sorted class folders
    files = sorted(p.relative_to(images) for p in images.rglob("*.jpg"))
    folders = sorted({str(f.parent) for f in files})
    rng = np.random.default_rng(seed)
    entries = [[str(f), folders.index(str(f.parent)), names[folders.index(str(f.parent))].replace(" ", "_")]
               for f in files]
    order = rng.permutation(len(entries))
    return {"train": [entries[i] for i in order[0::4]], "val": [entries[i] for i in order[1::4]],
            "test": [entries[i] for i in order[2::4]]}  # order[3::4]: in no list


def write_json(path, content):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(content))
    return path


@pytest.mark.parametrize("name", ["eurosat", "dtd", "sun397"])  # three image-folder layouts
def test_coop_split_files_are_used_exactly(name, standin, tmp_path):
    standin(name)
    assert datasets.split_file(name) is None
    content = coop_split_content(name, tmp_path)
    path = write_json(tmp_path / datasets.get_dataset(name).folder / datasets.COOP_SPLIT_FILES[name][0], content)
    assert datasets.split_file(name) == path
    names, splits = datasets.load(name, download=False)
    images = (tmp_path / datasets.get_dataset(name).folder / datasets.COOP_SPLIT_FILES[name][1]).resolve()
    for split, (image_list, labels) in splits.items():
        listed = [image_list.dataset.paths[i] for i in image_list.indices]
        assert listed == [images / rel for rel, _, _ in content[split]]
        assert labels.tolist() == [label for _, label, _ in content[split]]
        assert isinstance(image_list[0], Image.Image)
    coop_names = {label: cname for s in content.values() for _, label, cname in s}
    assert names == [coop_names[k].replace("_", " ") for k in range(len(names))]


def test_a_coop_split_file_in_the_folder_named_by_tmml_splits_is_used(standin, tmp_path, monkeypatch):
    standin("eurosat")
    content = coop_split_content("eurosat", tmp_path)
    path = write_json(tmp_path / "coop_splits" / "split_zhou_EuroSAT.json", content)
    monkeypatch.setenv("TMML_SPLITS", str(tmp_path / "coop_splits"))
    assert datasets.split_file("eurosat") == path
    assert len(datasets.load_split("eurosat", "test", download=False)[1]) == len(content["test"])
    assert datasets.split_file("fgvc_aircraft") is None  # CoOp uses Aircraft's own split


def test_a_split_file_with_a_missing_image_names_the_file_and_the_folder(standin, tmp_path):
    standin("eurosat")
    content = coop_split_content("eurosat", tmp_path)
    content["val"].insert(1, ["Forest/Forest_999.jpg", 1, "Forest"])
    write_json(tmp_path / "eurosat" / "split_zhou_EuroSAT.json", content)
    with pytest.raises(datasets.DatasetNotFoundError) as error:
        datasets.load("eurosat", download=False)
    assert "Forest/Forest_999.jpg" in str(error.value) and str(tmp_path / "eurosat" / "2750") in str(error.value)


def test_a_split_file_of_another_dataset_is_refused_with_both_sizes(standin, tmp_path):
    standin("eurosat")
    textures = ["banded", "blotchy", "braided", "bubbly", "bumpy", "chequered"]
    content = {s: [[f"{c}/{c}_0001.jpg", k, c] for k, c in enumerate(textures)] for s in datasets.SPLITS}
    write_json(tmp_path / "eurosat" / "split_zhou_EuroSAT.json", content)
    with pytest.raises(ValueError, match="names 6 classes and the dataset .* has 4, 0 of them in common"):
        datasets.load("eurosat", download=False)


# --- ImageNet's targets of domain generalization (test sets only, in ImageNet's classes) --------------------

TARGETS = list(datasets.IMAGENET_TARGETS)


@pytest.mark.parametrize("name", TARGETS)
def test_every_image_of_an_imagenet_target_gets_its_imagenet_class(name, tmp_path):
    # 12 classes: ImageNet-V2's folders "10" and "11" sort before "2" as strings, but are ImageNet's classes 10, 11
    standin_data.make_standin(name, tmp_path, n_classes=12, per_class=2)
    names, splits = datasets.load(name, root=tmp_path, download=False)
    ids = datasets.imagenet_class_ids(name, root=tmp_path)
    assert ids == standin_data.target_class_ids(name, 12)
    assert names == [standin_data._NAMES["imagenet"][k] for k in ids]
    assert list(splits) == ["test"] and datasets.get_dataset(name).template == "a photo of a {}."
    images, labels = splits["test"]
    assert len(images) == 2 * len(ids) and isinstance(images[0], Image.Image)
    for index, label in zip(images.indices, labels):
        folder = images.dataset.samples[index][0].split("/")[-2]  # "<ImageNet label>" (V2) or "<wnid>"
        imagenet_id = int(folder) if name == "imagenet_v2" else standin_data.IMAGENET_WNIDS.index(folder)
        assert ids[label] == imagenet_id and names[label] == standin_data._NAMES["imagenet"][imagenet_id]


def test_imagenet_a_and_r_hold_a_subset_of_imagenets_classes_labelled_in_imagenets_order(tmp_path):
    standin_data.make_standin("imagenet_a", tmp_path)  # ImageNet's classes 1 and 3 of 4, plus a README.txt
    names, splits = datasets.load("imagenet_a", root=tmp_path, download=False)
    assert names == ["goldfish", "tiger shark"] and datasets.imagenet_class_ids("imagenet_a", tmp_path) == [1, 3]
    assert sorted(set(splits["test"][1].tolist())) == [0, 1]
    with pytest.raises(ValueError, match="no ImageNet target"):
        datasets.imagenet_class_ids("imagenet", tmp_path)


@pytest.mark.parametrize("name", TARGETS)
def test_a_target_has_no_train_split_and_says_to_train_on_imagenet(name, tmp_path):
    for split in ("train", "val"):  # refused before any file is read
        with pytest.raises(ValueError, match=f"no {split} split: it is a test-only target of domain general"
                                             r"ization. Train on 'imagenet'"):
            datasets.load_split(name, split, root=tmp_path)


def test_a_target_is_tested_with_all_its_classes(standin):
    expected = standin("imagenet_r")
    test = data.all_classes("imagenet_r", shots=0)
    assert list(test) == ["test"] and test["test"].classnames == expected
    assert len(datasets.load_split("imagenet_r", "test")[1]) == len(test["test"])


def test_a_folder_that_is_no_imagenet_class_is_refused_as_coop_refuses_it(tmp_path):
    standin_data.make_standin("imagenet_r", tmp_path)
    stray = tmp_path / "imagenet-rendition" / "imagenet-r" / "n99999999"
    stray.mkdir()
    Image.new("RGB", (8, 8)).save(stray / "x.jpg")
    with pytest.raises(datasets.DatasetNotFoundError, match="1 folders that are no ImageNet class .* 'n99999999'"):
        datasets.load("imagenet_r", root=tmp_path, download=False)


@pytest.mark.parametrize("name", TARGETS)
def test_a_missing_target_or_classnames_file_names_the_folder_to_fill(name, tmp_path):
    folder = datasets.get_dataset(name).folder
    with pytest.raises(datasets.DatasetNotFoundError) as error:
        datasets.load(name, root=tmp_path / "empty", download=False)
    message = str(error.value)
    assert f"unpack it into {folder}/" in message and str(tmp_path / "empty" / folder) in message, message
    standin_data.make_standin(name, tmp_path)
    (tmp_path / "imagenet" / "classnames.txt").unlink()
    with pytest.raises(datasets.DatasetNotFoundError, match="imagenet/classnames.txt is missing"):
        datasets.load(name, root=tmp_path, download=False)


def test_imagenet_sketch_is_also_read_from_coops_images_folder(tmp_path):
    expected = standin_data.make_standin("imagenet_sketch", tmp_path)
    (tmp_path / "imagenet-sketch" / "sketch").rename(tmp_path / "imagenet-sketch" / "images")
    assert datasets.classnames("imagenet_sketch", root=tmp_path, download=False) == expected
