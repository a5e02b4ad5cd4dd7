import numpy as np
import pytest

from tmml_lite import world


def test_task_images_are_a_pure_function_of_task_split_index():
    a, la = world.task_image("shapes", "test", 7)
    b, lb = world.task_image("shapes", "test", 7)
    c, _ = world.task_image("shapes", "test", 8)
    d, _ = world.task_image("shapes", "train", 7)
    assert a.dtype == np.uint8 and a.shape == (world.IMAGE_SIZE, world.IMAGE_SIZE, 3)
    assert np.array_equal(a, b) and la == lb
    assert not np.array_equal(a, c) and not np.array_equal(a, d)


def test_pretraining_batches_are_deterministic_and_captions_vary():
    images, captions = world.pretraining_batch(64, seed=0, step=3)
    images2, captions2 = world.pretraining_batch(64, seed=0, step=3)
    images3, _ = world.pretraining_batch(64, seed=0, step=4)
    assert np.array_equal(images, images2) and captions == captions2
    assert not np.array_equal(images, images3)
    assert len(set(captions)) > 50  # web-like variety, not one template
    words = " ".join(captions)
    for factor in ("circle", "red", "background", "number", "three"):
        assert factor in " ".join(world.pretraining_batch(256, 0, 0)[1]) or factor in words


def test_captions_use_the_right_article():
    assert world.with_articles("a  orange ring") == "an orange ring"
    assert world.with_articles("An square on a eight") == "A square on an eight"
    assert world.with_articles("a one") == "a one"
    captions = " ".join(world.pretraining_batch(256, seed=0, step=0)[1]).split()
    for article, word in zip(captions, captions[1:]):
        if article in ("a", "an") and word not in ("one",):
            assert (article == "an") == (word[0] in "aeiou"), (article, word)


def test_at_least_five_tasks_of_at_least_ten_classes():
    assert len(world.TASKS) >= 5
    for task in world.TASKS.values():
        assert len(task.classnames) >= 10, task.name
        assert len(set(task.classnames)) == len(task.classnames)
        assert all("{}" in t for t in task.templates)


@pytest.mark.parametrize("task", list(world.TASKS))
def test_each_class_renders_and_labels_cycle(task):
    n = len(world.TASKS[task].classnames)
    labels = [world.task_image(task, "val", i)[1] for i in range(n)]
    assert labels == list(range(n))


def test_downstream_domain_is_shifted_from_pretraining():
    """Same scenes, drawn in the two domains (backgrounds alike, noise off to compare edges): downstream images
    are blurrier and fainter, and their objects are sketches (outlines)."""
    from dataclasses import replace
    rng = np.random.default_rng(0)
    scenes = [world.random_scene(rng) for _ in range(64)]
    quiet = dict(noise=0.0, background_contrast=world.CLEAN.background_contrast)
    domains = replace(world.CLEAN, **quiet), replace(world.SHIFTED, **quiet, clutter=(0, 0))
    clean, shifted = ([world.render(s, np.random.default_rng(i), d).astype(float) for i, s in enumerate(scenes)]
                      for d in domains)
    edges = lambda ims: np.mean([np.abs(np.diff(im, axis=1)).mean() for im in ims])
    contrast = lambda ims: np.mean([im.std() for im in ims])
    assert edges(shifted) < 0.8 * edges(clean) and contrast(shifted) < 0.95 * contrast(clean)
    assert all(world.random_scene(rng, world.SHIFTED).outline for _ in range(20))


def test_unknown_task_and_split_get_clear_errors():
    with pytest.raises(KeyError, match="available tasks"):
        world.get_task("imagenet")
    with pytest.raises(ValueError, match="use one of"):
        world.task_image("shapes", "dev", 0)


def test_a_task_is_drawn_by_its_own_seed_and_handed_to_base_to_new_as_it_is():
    """Another draw of a task is the same Task with another `draw`, and it goes to `data.base_to_new` without
    being registered in TASKS; a Task without a draw seed is refused."""
    from dataclasses import replace

    from tmml_lite import data
    shapes = replace(world.get_task("shapes"), test_per_class=4)  # a quick test split
    again = replace(shapes, draw=7)
    assert not np.array_equal(world.task_image(again, "test", 3)[0], world.task_image(shapes, "test", 3)[0])
    splits = data.base_to_new(again, shots=2, seed=1)
    assert splits["train"].classnames == list(shapes.classnames[:len(splits["train"].classnames)])
    assert np.array_equal(splits["test_base"].images[0], world.task_image(again, "test", 0)[0])
    assert world.TASKS["shapes"].draw == 0 and world.TASKS["shapes"].test_per_class is None
    with pytest.raises(ValueError, match="draw"):
        world.task_image(replace(shapes, draw=None), "test", 0)


def test_candidate_renderings_change_the_picture_and_captions_name_them():
    """World v4: a negative is the picture's colours inverted, a dark photo is darker, a blurry one has softer
    edges, a sketch outlines its object; web captions name a rendering now and then."""
    from dataclasses import replace
    scene = world.Scene(kind="object", shape="square", color="red", size="large", texture="plain")
    quiet = replace(world.CLEAN, noise=0.0, background_contrast=None)
    draw = lambda rendering: world.render(replace(scene, rendering=rendering, outline=rendering == "sketch"),
                                          np.random.default_rng(0), quiet).astype(float)
    photo = draw("photo")
    assert np.abs(draw("negative") - (255 - photo)).max() <= 1
    assert draw("dark").mean() < 0.65 * photo.mean()
    sharpness = lambda im: (np.diff(im, axis=1) ** 2).mean()  # blur spreads a step: smaller squared steps
    assert sharpness(draw("blurry")) < 0.5 * sharpness(photo)
    assert (draw("sketch") == photo).mean() > 0.5 and not np.array_equal(draw("sketch"), photo)
    rng = np.random.default_rng(1)
    scenes = [world.random_scene(rng, world.WEB) for _ in range(400)]
    assert {s.rendering for s in scenes} == set(world.RENDERINGS)
    assert all(s.outline == (s.rendering == "sketch") and (s.kind == "object" or not s.outline) for s in scenes)
    _, captions = world.pretraining_batch(256, 0, 0, world.WEB)
    assert any("sketch" in c for c in captions) and any("blurry" in c for c in captions)
    assert not any("sketch" in c or "blurry" in c for c in world.pretraining_batch(256, 0, 0)[1])  # v3
    circle = replace(scene, shape="circle")  # edges across the 2 x 2 blocks
    sharp, coarse = (world.render(circle, np.random.default_rng(0), replace(quiet, pixelate=k)).astype(float)
                     for k in (1, 2))
    assert np.array_equal(coarse[::2, ::2], coarse[1::2, 1::2])  # a coarser camera: 2 x 2 blocks
    assert abs(coarse.mean() - sharp.mean()) < 1 and not np.array_equal(coarse, sharp)
    thirds = world.render(circle, np.random.default_rng(0), replace(quiet, pixelate=3)).astype(float)
    assert all(len(np.unique(thirds[r:r + 3, c:c + 3].reshape(-1, 3), axis=0)) == 1  # 3 x 3 blocks, and the
               for r in range(0, 32, 3) for c in range(0, 32, 3))  # 2-pixel ones at the edge


def test_web_captions_name_shapes_and_counts_by_the_tasks_words_less_often():
    """v4's web captions use "3 stars" more than "three stars"; v3's (CLEAN) keep their number words."""
    rng = np.random.default_rng(0)
    counts = [world.random_scene(rng, world.WEB, kind="count") for _ in range(300)]
    for domain, low, high in ((world.WEB, 0.15, 0.4), (world.CLEAN, 0.7, 0.95)):  # a tenth: background only
        worded = [world.NUMBER_WORDS[s.count] in world.caption(s, rng, domain).split() for s in counts]
        assert low < np.mean(worded) < high, (domain.count_word_rate, np.mean(worded))


def test_distractors_stay_outside_the_labelled_objects_box_and_the_crop_enlarges_it():
    """CLUTTERED digits hold one or two shapes beside a smaller digit; the oracle crop around the digit's box
    leaves the distractors out and draws the digit larger."""
    task = world.TASKS["digits"]
    for index in range(6):
        image, label, details = world.task_image(task, "test", index, details=True)
        top, left, h, w = details["box"]
        assert 0 <= top and top + h <= world.IMAGE_SIZE and 0 <= left and left + w <= world.IMAGE_SIZE
        crop = world.object_crop(image, details["box"])
        assert crop.shape == image.shape and crop.dtype == np.uint8
    rng = np.random.default_rng(0)
    scenes = [task.scene(0, rng) for _ in range(50)]
    assert all(1 <= len(s.distractors) <= 2 and all(g in world.SHAPES for g in s.distractors) for s in scenes)
    assert all(13 <= world.task_image(task, "test", i, details=True)[2]["box"][0 + 2] <= 16 for i in range(20))
    web = [world.random_scene(rng, world.WEB, kind="object") for _ in range(50)]
    assert any(s.distractors for s in web) and all(g.startswith("digit") for s in web for g in s.distractors)
