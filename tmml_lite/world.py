"""The procedural world: small RGB images with web-like captions, and downstream classification tasks.

It stands in for two things we cannot download: the web image-text pairs CLIP was pretrained on
(`pretraining_batch`) and the downstream benchmarks prompt learning is evaluated on (`TASKS`).
Everything is a pure function of its seed: the same (task, split, index) always gives the same image.

A scene has factors (shape, colour, size, position, count, background texture, drawing style, or a
seven-segment digit). Pretraining captions mention a random subset of the factors with varied templates
and everyday words, like alt-text, and rarely the words the tasks use as class names. Downstream images are
drawn in a shifted `Domain` (blur, noise, faded contrast, clutter, objects as line sketches), as real
benchmarks differ from web data, so zero-shot accuracy is below ceiling. How this world was chosen, with the
measurements of each attempt, is the design log on the book's reproduce page.

The tasks are world v4's: pictures come in several renderings (`RENDERINGS`: photo, sketch, negative, blurry,
dark), which web captions (`WEB`) name now and then, and some hold small distractors beside a smaller object, so
the wording that fits an image depends on the image and the evidence for its class is local, as in real
benchmarks.
"""

from __future__ import annotations

import colorsys
import functools
from dataclasses import dataclass, replace

import numpy as np
from matplotlib.path import Path as _Path

IMAGE_SIZE = 32

SHAPES = ("circle", "square", "triangle", "diamond", "star", "cross",
          "ring", "hexagon", "heart", "crescent", "arrow", "pentagon")
COLORS = {  # name -> RGB; objects get a per-image jitter around these
    "red": (215, 35, 35), "orange": (245, 140, 25), "yellow": (240, 220, 40), "green": (40, 165, 60),
    "cyan": (50, 210, 225), "blue": (40, 70, 215), "purple": (135, 55, 195), "pink": (250, 135, 195),
    "brown": (125, 75, 30), "white": (245, 245, 245),
}
TEXTURES = ("plain", "striped", "checkered", "dotted", "grid",
            "zigzag", "wavy", "speckled", "gradient", "concentric")
SIZES = {"small": 10, "medium": 13, "large": 18}  # object side in pixels
POSITIONS = ("top left", "top", "top right", "left", "center", "right", "bottom left", "bottom", "bottom right")
NUMBER_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten")

# How pretraining captions name a shape: by the everyday words below, and only now and then (TASK_WORD_RATE) by
# the word the tasks use as its class name, as web alt-text rarely uses a benchmark's vocabulary. Digits
# likewise: captions mostly write the numeral ("7"), the digits task names the word ("seven").
SHAPE_WORDS = {
    "circle": ["disc", "dot"], "square": ["box", "block"], "triangle": ["wedge", "pyramid"],
    "diamond": ["rhombus", "lozenge"], "star": ["sparkle", "starburst"], "cross": ["plus sign", "plus"],
    "ring": ["donut", "hoop"], "hexagon": ["hex", "honeycomb"], "heart": ["love symbol", "valentine"],
    "crescent": ["moon", "sickle"], "arrow": ["pointer", "signpost"], "pentagon": ["home plate", "five-sided shape"],
}
TASK_WORD_RATE = 0.1
COLOR_WORDS = {c: [c] for c in COLORS}
COLOR_WORDS.update({"purple": ["purple", "purple", "violet"], "cyan": ["cyan", "cyan", "turquoise"],
                    "gray": ["gray"]})
TEXTURE_WORDS = {
    "plain": ["plain", "plain", "solid"], "striped": ["striped"], "checkered": ["checkered", "checkerboard"],
    "dotted": ["dotted", "polka dot"], "grid": ["grid"], "zigzag": ["zigzag"], "wavy": ["wavy"],
    "speckled": ["speckled"], "gradient": ["gradient", "gradient", "faded"], "concentric": ["concentric"],
}


def plural(noun: str) -> str:
    """English plural of a shape word ("cross" -> "crosses", "plus sign" -> "plus signs")."""
    return noun + ("es" if noun.endswith(("s", "x", "sh", "ch")) else "s")


# ----------------------------------------------------------------------------------------------------
# Scenes and their rendering
# ----------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Scene:
    """What is in one image. `kind` is "object" (one shape), "count" (several equal shapes), "digit", or
    "texture" (the background alone). `rendering` is how the whole picture is taken (`RENDERINGS`: a sketch
    draws the object as an outline); `distractors` small things beside the object that no class names (digits
    beside a shape, shapes beside a digit: glyph names such as "star" or "digit7")."""
    kind: str = "object"
    shape: str = "circle"
    color: str = "red"
    size: str = "medium"
    position: str = "center"
    count: int = 1
    digit: int = 0
    texture: str = "plain"
    outline: bool = False
    rendering: str = "photo"
    distractors: tuple = ()


@dataclass(frozen=True)
class Domain:
    """How an image is drawn. Pretraining uses `CLEAN`; downstream tasks `SHIFTED` or `OBJECT_CENTRIC`.

    blur: Gaussian blur sigma in pixels; noise: std of additive pixel noise (0-1 scale);
    contrast: images are faded towards grey by this factor range; clutter: number of distractor specks;
    outline_prob: probability that an object is drawn as an outline instead of filled;
    background_contrast: if set, the background pattern behind objects, counts and digits is faded towards its
    mean colour by a factor from this range (a texture-alone scene keeps it: there it is the subject);
    object_sizes: if set, the side in pixels of a small, medium and large object (else `SIZES`);
    renderings: if set, ((rendering, probability), ...) each image's rendering is drawn from (then a sketch, not
    `outline_prob`, decides outlines; only single objects are sketched);
    distractors: probabilities of 1, 2, ... distractors beside an object or a digit (the rest: none);
    digit_sizes: the side in pixels of a digit drawn beside distractors, from lo to hi - 1;
    pixelate: the picture is averaged over blocks of this many pixels a side (a coarser camera than the web's;
    1: none);
    shape_name_rate, count_word_rate: a pretraining domain's captions name a shape by the tasks' word (else a
    synonym) and a count by its word (else mostly the numeral, "3 stars") this often.
    """
    blur: tuple = (0.0, 0.0)
    noise: float = 0.02
    contrast: tuple = (1.0, 1.0)
    clutter: tuple = (0, 0)
    outline_prob: float = 0.15
    background_contrast: tuple | None = None
    object_sizes: tuple | None = None
    renderings: tuple | None = None
    distractors: tuple = ()
    digit_sizes: tuple = (15, 19)
    pixelate: int = 1
    shape_name_rate: float = TASK_WORD_RATE
    count_word_rate: float = 0.9


# Web images: mostly filled objects, on backgrounds from full contrast down to a quarter of it.
CLEAN = Domain(background_contrast=(0.25, 1.0))
# Benchmarks are a shift from web data: blurred, noisy, faded, cluttered, and drawn as line sketches
# (like ImageNet-Sketch), which the image tower saw in 15 % of its pretraining objects.
SHIFTED = Domain(blur=(0.3, 0.7), noise=0.05, contrast=(0.7, 0.95), clutter=(1, 4), outline_prob=1.0)
# Object-centric benchmarks photograph the object large, in front of a quiet background.
OBJECT_CENTRIC = replace(SHIFTED, background_contrast=(0.2, 0.5), object_sizes=(13, 16, 18))

# How a picture is taken. Web captions name it now and then ("a blurry photo of ...", "a sketch of ..."), and
# CLIP's hand-written templates exist because the wording that fits an image depends on it: a negative turns a red
# object cyan, a dark photo makes orange look brown, a sketch of a circle looks like a ring.
RENDERINGS = ("photo", "sketch", "negative", "blurry", "dark")
RENDERING_TEMPLATES = {"photo": "a photo of a {}.", "sketch": "a sketch of a {}.",
                       "negative": "a negative photo of a {}.", "blurry": "a blurry photo of a {}.",
                       "dark": "a dark photo of a {}."}
RENDERING_CAPTIONS = {  # how web captions name a rendering; "photo" is not named beyond the generic wrappers
    "sketch": ("a sketch of {}", "a line drawing of {}", "{}, outline drawing", "a pencil sketch of {}"),
    "negative": ("a negative photo of {}", "an inverted photo of {}", "{}, inverted colors", "a negative of {}"),
    "blurry": ("a blurry photo of {}", "an out of focus photo of {}", "{}, blurry", "a blurred picture of {}"),
    "dark": ("a dark photo of {}", "{} at night", "a dim picture of {}", "a dark photo of {}, low light"),
}
RENDERING_WORD_RATE = 0.8  # how often a caption names a rendering other than a plain photo
# Web images (world v4): every rendering, and now and then small things beside the object.
# Its captions name shapes by the tasks' words and counts by number words rarely, as web alt-text rarely uses a
# benchmark's class names: the image tower still learns the shapes and counts (from synonyms and numerals).
WEB = replace(CLEAN, renderings=(("photo", 0.45), ("sketch", 0.25), ("negative", 0.1), ("blurry", 0.1),
                                 ("dark", 0.1)), distractors=(0.2, 0.1), shape_name_rate=0.05, count_word_rate=0.3)
# World v4's object-centric benchmarks are taken with a coarser camera than the web's (each 2 x 2 block of pixels
# averaged), as benchmark images are often smaller than web images (EuroSAT's 64 px, CIFAR's 32 px): a shift the
# captions never describe. Chosen from zero-shot and the linear probe alone (the design log's shift ranking).
COARSE = replace(OBJECT_CENTRIC, pixelate=2)
# Benchmarks that mix photos and sketches in equal parts (DomainNet's real and sketch domains, ImageNet with
# ImageNet-Sketch), on top of the shift. The web's other renderings (negative, blurry, dark) are left to the
# domain-generalization targets.
VARIED = replace(COARSE, renderings=(("photo", 0.5), ("sketch", 0.5)))
# Cluttered benchmarks (SVHN's neighbouring digits, a photo's other objects): one or two distractors beside a
# digit of 13-16 px.
CLUTTERED = replace(COARSE, distractors=(0.5, 0.5), digit_sizes=(13, 17))
DOMAINS = {"CLEAN": CLEAN, "WEB": WEB, "SHIFTED": SHIFTED, "OBJECT_CENTRIC": OBJECT_CENTRIC, "COARSE": COARSE,
           "VARIED": VARIED, "CLUTTERED": CLUTTERED}


def _grid(n: int):
    """Pixel-centre coordinates in [-1, 1], shape (n, n) each (v down, u right)."""
    c = (np.arange(n) + 0.5) / n * 2 - 1
    return np.meshgrid(c, c, indexing="ij")


def _regular_polygon(k: int, r: float, rot: float = -np.pi / 2):
    a = rot + np.arange(k) * 2 * np.pi / k
    return np.stack([r * np.cos(a), r * np.sin(a)], 1)


def _star(points=5, r_out=0.98, r_in=0.42):
    a = -np.pi / 2 + np.arange(2 * points) * np.pi / points
    r = np.where(np.arange(2 * points) % 2 == 0, r_out, r_in)
    return np.stack([r * np.cos(a), r * np.sin(a)], 1)


_POLYGONS = {
    "triangle": np.array([[0, -0.92], [0.95, 0.8], [-0.95, 0.8]]),
    "star": _star(),
    "hexagon": _regular_polygon(6, 0.95, 0.0),
    "pentagon": _regular_polygon(5, 0.95),
    "arrow": np.array([[-0.95, -0.28], [0.15, -0.28], [0.15, -0.75], [0.95, 0], [0.15, 0.75],
                       [0.15, 0.28], [-0.95, 0.28]]),
}


def _shape_inside(shape: str, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Boolean mask of a unit-size shape on coordinates u (right) and v (down) in [-1, 1]."""
    r = np.hypot(u, v)
    if shape == "circle":
        return r <= 0.92
    if shape == "square":
        return np.maximum(abs(u), abs(v)) <= 0.78
    if shape == "diamond":
        return abs(u) + abs(v) <= 0.98
    if shape == "cross":
        return ((abs(u) <= 0.3) & (abs(v) <= 0.95)) | ((abs(v) <= 0.3) & (abs(u) <= 0.95))
    if shape == "ring":
        return (r <= 0.95) & (r >= 0.52)
    if shape == "crescent":
        return (r <= 0.95) & (np.hypot(u - 0.42, v + 0.12) > 0.75)
    if shape == "heart":
        x, y = u * 1.25, -v * 1.25 + 0.25
        return (x ** 2 + y ** 2 - 1) ** 3 - x ** 2 * y ** 3 <= 0
    if shape in _POLYGONS:
        pts = np.stack([u.ravel(), v.ravel()], 1)
        return _Path(_POLYGONS[shape]).contains_points(pts).reshape(u.shape)
    raise ValueError(f"unknown shape {shape!r}; known shapes: {', '.join(SHAPES)}")


# Seven-segment digits: segments a..g as (v0, v1, u0, u1) boxes on a unit cell of aspect 1:1.6.
_SEGMENTS = {"a": (-1, -0.8, -0.6, 0.6), "b": (-1, 0.05, 0.4, 0.6), "c": (-0.05, 1, 0.4, 0.6),
             "d": (0.8, 1, -0.6, 0.6), "e": (-0.05, 1, -0.6, -0.4), "f": (-1, 0.05, -0.6, -0.4),
             "g": (-0.1, 0.1, -0.6, 0.6)}
_DIGIT_SEGMENTS = ("abcdef", "bc", "abged", "abgcd", "fgbc", "afgcd", "afgedc", "abc", "abcdefg", "abcdfg")


def _digit_inside(digit: int, u, v):
    m = np.zeros(u.shape, bool)
    for s in _DIGIT_SEGMENTS[digit]:
        v0, v1, u0, u1 = _SEGMENTS[s]
        m |= (v >= v0) & (v <= v1) & (u >= u0) & (u <= u1)
    return m


@functools.lru_cache(maxsize=4096)
def _alpha(glyph: str, size_px: int, outline: bool) -> np.ndarray:
    """Anti-aliased alpha mask (size_px, size_px) in [0, 1] of a shape or digit ("digit3"), cached."""
    ss = 4  # supersampling factor
    v, u = _grid(size_px * ss)
    inside = (_digit_inside(int(glyph[5:]), u, v) if glyph.startswith("digit")
              else _shape_inside(glyph, u, v))
    if outline:
        t = max(1, round(0.11 * size_px * ss))  # stroke about 1-2 px at 32 px images
        pad = np.pad(inside, t)
        eroded = np.ones_like(inside)
        for dy in (-t, 0, t):
            for dx in (-t, 0, t):
                eroded &= pad[t + dy: t + dy + inside.shape[0], t + dx: t + dx + inside.shape[1]]
        inside = inside & ~eroded
    return inside.reshape(size_px, ss, size_px, ss).mean(axis=(1, 3)).astype(np.float32)


def _muted_color(rng) -> np.ndarray:
    h, s, v = rng.random(), rng.uniform(0.05, 0.35), rng.uniform(0.3, 0.75)
    return np.array(colorsys.hsv_to_rgb(h, s, v), np.float32)


def _texture(name: str, rng, n: int = IMAGE_SIZE) -> np.ndarray:
    """Background pattern (n, n, 3) in [0, 1]: a two-colour mix driven by a procedural field."""
    c0, c1 = _muted_color(rng), _muted_color(rng)
    while np.abs(c0 - c1).sum() < 0.35:  # the two colours must be distinguishable
        c1 = _muted_color(rng)
    y, x = np.mgrid[0:n, 0:n].astype(np.float32)
    period = rng.uniform(6, 10)
    theta = rng.choice([0, np.pi / 2, np.pi / 4, -np.pi / 4]) + rng.uniform(-0.15, 0.15)
    along = x * np.cos(theta) + y * np.sin(theta)
    phase = rng.uniform(0, 2 * np.pi)
    if name == "plain":
        t = np.zeros((n, n), np.float32)
    elif name == "striped":
        t = (np.sin(2 * np.pi * along / period + phase) > 0).astype(np.float32)
    elif name == "checkered":
        p = int(round(period * 0.7))
        ox, oy = rng.integers(0, p, 2)
        t = (((x + ox) // p + (y + oy) // p) % 2).astype(np.float32)
    elif name == "dotted":
        p = period
        ox, oy = rng.uniform(0, p, 2)
        dx, dy = (x + ox) % p - p / 2, (y + oy) % p - p / 2
        t = (np.hypot(dx, dy) < p * 0.22).astype(np.float32)
    elif name == "grid":
        p = int(round(period))
        ox, oy = rng.integers(0, p, 2)
        t = (((x + ox) % p < 1) | ((y + oy) % p < 1)).astype(np.float32)
    elif name == "zigzag":
        across = -x * np.sin(theta) + y * np.cos(theta)
        tri = np.abs((along / period * 2) % 2 - 1) * period * 0.6
        t = (((across + tri + phase) % period) < period / 2).astype(np.float32)
    elif name == "wavy":
        across = -x * np.sin(theta) + y * np.cos(theta)
        t = (np.sin(2 * np.pi * (across + 2.0 * np.sin(2 * np.pi * along / 12)) / period + phase) > 0)
        t = t.astype(np.float32)
    elif name == "speckled":
        t = (rng.random((n, n)) < 0.22).astype(np.float32)
    elif name == "gradient":
        t = (along - along.min()) / (along.max() - along.min())
    elif name == "concentric":
        cy, cx = rng.uniform(0, n, 2)
        t = (np.sin(2 * np.pi * np.hypot(x - cx, y - cy) / period + phase) > 0).astype(np.float32)
    else:
        raise ValueError(f"unknown texture {name!r}; known textures: {', '.join(TEXTURES)}")
    return c0 + t[..., None] * (c1 - c0)


def _paste(img: np.ndarray, alpha: np.ndarray, color: np.ndarray, top: int, left: int) -> None:
    h, w = alpha.shape
    region = img[top:top + h, left:left + w]
    a = alpha[: region.shape[0], : region.shape[1], None]
    region *= 1 - a
    region += a * color


def _object_color(name: str, rng) -> np.ndarray:
    return np.clip((np.array(COLORS[name], np.float32) + rng.normal(0, 12, 3)) / 255, 0, 1)


def _position_topleft(position: str, size_px: int, rng, n: int = IMAGE_SIZE):
    row, col = divmod(POSITIONS.index(position), 3)
    cell = n / 3
    centre = np.array([(row + 0.5) * cell, (col + 0.5) * cell]) + rng.uniform(-1.5, 1.5, 2)
    centre = np.clip(centre, size_px / 2, n - size_px / 2)
    return [int(round(c - size_px / 2)) for c in centre]


def _gaussian_blur(img: np.ndarray, sigma: float) -> np.ndarray:
    if sigma <= 0:
        return img
    r = int(np.ceil(2.5 * sigma))
    k = np.exp(-0.5 * (np.arange(-r, r + 1) / sigma) ** 2)
    k /= k.sum()
    pad = np.pad(img, ((r, r), (r, r), (0, 0)), mode="edge")
    tmp = sum(k[i] * pad[i:i + img.shape[0]] for i in range(2 * r + 1))
    return sum(k[i] * tmp[:, i:i + img.shape[1]] for i in range(2 * r + 1))


def _pixelate(img: np.ndarray, k: int) -> np.ndarray:
    """Each k x k block of the picture replaced by its mean (the last row and column of blocks are smaller when
    k does not divide the side)."""
    n = img.shape[0]
    if n % k == 0:
        return img.reshape(n // k, k, n // k, k, 3).mean(axis=(1, 3)).repeat(k, axis=0).repeat(k, axis=1)
    block = np.arange(n) // k
    sums = np.zeros((block[-1] + 1, block[-1] + 1, 3))
    np.add.at(sums, (block[:, None], block[None, :]), img)
    sizes = np.bincount(block)
    return (sums / (sizes[:, None, None] * sizes[None, :, None]))[block][:, block]


def _place_distractors(img, glyphs, box, rng) -> None:
    """Paste small glyphs (shapes, or "digit7") where they do not overlap the object's box (top, left, h, w)."""
    n = IMAGE_SIZE
    for glyph in glyphs:
        s = int(rng.integers(7, 10))
        alpha = _alpha(glyph, s, False)
        if glyph.startswith("digit"):
            alpha = alpha[:, s // 5: s - s // 5]
        h, w = alpha.shape
        for _ in range(20):  # rejection sampling: outside the object's box, with a pixel to spare
            top, left = int(rng.integers(0, n - h + 1)), int(rng.integers(0, n - w + 1))
            if (top + h < box[0] - 1 or top > box[0] + box[2] + 1
                    or left + w < box[1] - 1 or left > box[1] + box[3] + 1):
                break
        _paste(img, alpha, _object_color(str(rng.choice(list(COLORS))), rng), top, left)


def render(scene: Scene, rng: np.random.Generator, domain: Domain = CLEAN, with_box: bool = False):
    """Draw a scene: uint8 array (IMAGE_SIZE, IMAGE_SIZE, 3); with `with_box`, also the labelled object's box
    (top, left, height, width) in pixels (the whole image for counts and textures)."""
    n = IMAGE_SIZE
    box = (0, 0, n, n)
    img = _texture(scene.texture, rng)
    if domain.background_contrast is not None and scene.kind != "texture":
        mean = img.mean((0, 1), keepdims=True)
        img = mean + rng.uniform(*domain.background_contrast) * (img - mean)
    if scene.kind == "object":
        s = dict(zip(SIZES, domain.object_sizes))[scene.size] if domain.object_sizes else SIZES[scene.size]
        top, left = _position_topleft(scene.position, s, rng)
        _paste(img, _alpha(scene.shape, s, scene.outline), _object_color(scene.color, rng), top, left)
        box = (top, left, s, s)
    elif scene.kind == "count":
        s, cell = 7, 8  # small shapes on distinct cells of a 4 x 4 grid
        for c in rng.choice(16, size=scene.count, replace=False):
            row, col = divmod(int(c), 4)
            top = row * cell + int(rng.integers(0, cell - s + 1))
            left = col * cell + int(rng.integers(0, cell - s + 1))
            _paste(img, _alpha(scene.shape, s, False), _object_color(scene.color, rng), top, left)
    elif scene.kind == "texture":
        pass
    elif scene.kind == "digit":
        if scene.distractors:  # a smaller digit anywhere, leaving room for what is beside it
            s = int(rng.integers(*domain.digit_sizes))
            top, left = rng.integers(0, n - s + 1, 2)
        else:
            s = int(rng.integers(16, 21))
            top, left = (n - s) // 2 + rng.integers(-4, 5, 2)
        alpha = _alpha(f"digit{scene.digit}", s, False)[:, s // 5: s - s // 5]  # narrow the cell
        _paste(img, alpha, _object_color(scene.color, rng), int(top), int(left))
        box = (int(top), int(left), alpha.shape[0], alpha.shape[1])
    else:
        raise ValueError(f"unknown scene kind {scene.kind!r}; use 'object', 'count', 'digit' or 'texture'")
    if scene.distractors:
        _place_distractors(img, scene.distractors, box, rng)
    for _ in range(int(rng.integers(domain.clutter[0], domain.clutter[1] + 1))):
        y, x = rng.integers(0, n - 1, 2)
        img[y:y + 2, x:x + 1 + int(rng.integers(0, 2))] = rng.random(3)
    sigma = rng.uniform(*domain.blur)
    if scene.rendering == "blurry":
        sigma = float(np.hypot(sigma, rng.uniform(1.0, 1.5)))
    img = _gaussian_blur(img, sigma)
    if domain.pixelate > 1:
        img = _pixelate(img, domain.pixelate)
    fade = rng.uniform(*domain.contrast)
    img = 0.5 + fade * (img - 0.5)
    if scene.rendering == "dark":
        img = img * rng.uniform(0.45, 0.6)
    elif scene.rendering == "negative":
        img = 1 - img
    img = img + rng.normal(0, domain.noise, img.shape)
    img = (np.clip(img, 0, 1) * 255 + 0.5).astype(np.uint8)
    return (img, box) if with_box else img


def object_crop(image: np.ndarray, box, scale: float = 1.5) -> np.ndarray:
    """The oracle crop: a square around the labelled object's box (`scale` x its longer side, at least 16 px),
    resized back to the image size. uint8 (H, W, 3) -> uint8 (H, W, 3)."""
    from PIL import Image
    n = image.shape[0]
    top, left, h, w = box
    side = int(min(n, max(16, round(scale * max(h, w)))))
    cy, cx = top + h / 2, left + w / 2
    y0 = int(np.clip(round(cy - side / 2), 0, n - side))
    x0 = int(np.clip(round(cx - side / 2), 0, n - side))
    crop = Image.fromarray(image[y0:y0 + side, x0:x0 + side])
    return np.asarray(crop.resize((n, n), Image.BICUBIC))


# ----------------------------------------------------------------------------------------------------
# Pretraining: (image, caption) pairs like web alt-text
# ----------------------------------------------------------------------------------------------------

_WRAPPERS = ("{}", "a photo of {}", "an image of {}", "a drawing of {}", "clip art of {}", "{}.",
             "there is {} in this picture", "a picture showing {}", "look at {}", "my favourite: {}",
             "{}, simple illustration", "an icon of {}")


def random_scene(rng: np.random.Generator, domain: Domain = CLEAN, kind: str | None = None) -> Scene:
    """A scene with every factor drawn uniformly (object 60 %, count 17 %, digit 13 %, texture alone 10 %, unless
    `kind` is given), its rendering and distractors drawn from the domain's."""
    drawn = rng.choice(["object", "count", "digit", "texture"], p=[0.6, 0.17, 0.13, 0.1])
    scene = Scene(kind=kind or str(drawn), shape=str(rng.choice(SHAPES)), color=str(rng.choice(list(COLORS))),
                  size=str(rng.choice(list(SIZES))), position=str(rng.choice(POSITIONS)),
                  count=int(rng.integers(1, 11)), digit=int(rng.integers(0, 10)),
                  texture=str(rng.choice(TEXTURES)), outline=bool(rng.random() < domain.outline_prob))
    if domain.renderings is not None:  # only single objects are sketched
        names, p = zip(*((r, q) for r, q in domain.renderings if r != "sketch" or scene.kind == "object"))
        rendering = str(rng.choice(names, p=np.array(p) / sum(p)))
        scene = replace(scene, rendering=rendering, outline=rendering == "sketch")
    if domain.distractors and scene.kind in ("object", "digit"):
        k = int(rng.choice(len(domain.distractors) + 1, p=[1 - sum(domain.distractors), *domain.distractors]))
        others = [f"digit{d}" for d in range(10)] if scene.kind == "object" else list(SHAPES)
        scene = replace(scene, distractors=tuple(str(g) for g in rng.choice(others, size=k)))
    return scene


def _pick(rng, options):
    return options[int(rng.integers(len(options)))]


def caption(scene: Scene, rng: np.random.Generator, domain: Domain = CLEAN) -> str:
    """A web-like caption that mentions a random subset of the scene's factors, with synonyms (how often it uses
    the tasks' words: the domain's `shape_name_rate` and `count_word_rate`)."""
    texture = _pick(rng, TEXTURE_WORDS[scene.texture])
    if scene.kind == "texture" or rng.random() < 0.1:  # some captions describe only the background
        return _pick(rng, ["a {} pattern", "{} wallpaper", "a {} texture", "{} background"]).format(texture)
    color = _pick(rng, COLOR_WORDS[scene.color]) if rng.random() < 0.7 else ""
    if scene.kind == "digit":
        word = NUMBER_WORDS[scene.digit] if rng.random() < TASK_WORD_RATE else str(scene.digit)
        np_ = _pick(rng, [f"the number {word}", f"the digit {word}", f"a {color} {word}", f"a sign showing {word}"])
    else:
        if rng.random() < 0.85:
            noun = scene.shape if rng.random() < domain.shape_name_rate else _pick(rng, SHAPE_WORDS[scene.shape])
        else:
            noun = _pick(rng, ["shape", "object"])
        style = "outlined" if scene.outline and rng.random() < 0.5 else ""
        if scene.kind == "count":
            noun = noun if scene.count == 1 else plural(noun)
            r = rng.random()  # the word, else the numeral ("3 stars"), else "some"
            number = (NUMBER_WORDS[scene.count] if r < domain.count_word_rate
                      else str(scene.count) if r < 0.9 else "some")
            np_ = f"{number} {color} {style} {noun}"
        else:
            size = scene.size if rng.random() < 0.3 else ""
            np_ = f"a {size} {color} {style} {noun}"
            if scene.size != "large" and rng.random() < 0.3:
                np_ += _pick(rng, [" in the {}", " at the {}", " placed {}"]).format(scene.position)
    if scene.distractors and rng.random() < 0.3:  # now and then the caption names a thing beside the object
        glyph = scene.distractors[0]
        np_ += (f" next to a {glyph[5:]}" if glyph.startswith("digit")
                else f" next to a small {_pick(rng, SHAPE_WORDS[glyph])}")
    if rng.random() < 0.5:
        np_ += _pick(rng, [" on a {} background", " over a {} pattern", " with a {} backdrop"]).format(texture)
    wrapper = _pick(rng, _WRAPPERS)
    if scene.rendering != "photo" and rng.random() < RENDERING_WORD_RATE:
        wrapper = _pick(rng, RENDERING_CAPTIONS[scene.rendering])
    return with_articles(wrapper.format(np_))


def with_articles(text: str) -> str:
    """Collapse repeated spaces and write "an" before a vowel sound: "a  orange ring" -> "an orange ring"."""
    words = text.split()
    for i, word in enumerate(words[:-1]):
        if word.lower() in ("a", "an"):
            vowel = words[i + 1][0].lower() in "aeiou" and not words[i + 1].lower().startswith(("one", "uni"))
            words[i] = ("an" if vowel else "a") if word.islower() else ("An" if vowel else "A")
    return " ".join(words)


def pretraining_batch(batch_size: int, seed: int, step: int, domain: Domain = CLEAN):
    """(images uint8 (B, H, W, 3), captions list[str]) for one pretraining step, a pure function of (seed, step)
    and the domain web images are drawn in (`CLEAN` for world v3, `WEB` for v4)."""
    rng = np.random.default_rng([seed, step, 0xC11])
    scenes = [random_scene(rng, domain) for _ in range(batch_size)]
    images = np.stack([render(s, rng, domain) for s in scenes])
    return images, [caption(s, rng, domain) for s in scenes]


# ----------------------------------------------------------------------------------------------------
# Downstream tasks
# ----------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Task:
    """A downstream classification task: class names, what it mirrors, and CoOp-style prompt templates.

    draw: the seed its images are drawn with (with `WORLD_SEED`, the split and the index); another draw of the
    same task is the same Task with another `draw`. A Task can be handed to `data.base_to_new` as it is.
    rule: which task's scene rule draws its images (default: its name), so a shifted copy of a task can have a
    name of its own ("fine_grained-sketch" draws fine_grained's scenes).
    """
    name: str
    classnames: tuple
    mirrors: str
    templates: tuple
    domain: Domain = SHIFTED
    description: str = ""
    test_per_class: int | None = None  # images per class in the test split, if not SPLIT_SIZES["test"]
    draw: int | None = None
    rule: str | None = None

    def scene(self, label: int, rng: np.random.Generator) -> Scene:
        """A random scene of class `label`, all other factors random."""
        rule = self.rule or self.name
        if rule not in _TASK_KINDS:
            raise ValueError(f"task {self.name!r} has no scene rule; give Task(..., rule=<one of "
                             f"{', '.join(_TASK_KINDS)}>)")
        base = random_scene(rng, self.domain, _TASK_KINDS[rule])
        cls = self.classnames[label]
        if rule == "shapes":
            return replace(base, shape=cls)
        if rule == "textures":
            return replace(base, texture=cls, size=str(rng.choice(["small", "medium"])))
        if rule == "fine_grained":
            color, shape = cls.split(" ")
            return replace(base, color=color, shape=shape)
        if rule == "counting":
            return replace(base, count=NUMBER_WORDS.index(cls.split(" ")[0]))
        return replace(base, digit=NUMBER_WORDS.index(cls))


_TASK_KINDS = {"shapes": "object", "textures": "object", "fine_grained": "object", "counting": "count",
               "digits": "digit"}


_FG_COLORS = ("red", "orange", "pink", "purple")  # close hues: the fine-grained task's classes differ subtly

# The tasks of world v4 (design log "v4d", frozen before any CoCoOp or TMML run). The test images of shapes and
# fine_grained are half photos, half sketches, so the wording that fits an image depends on the image; digits hold
# distractors beside a smaller digit, so the evidence for the class is local. Every object-centric task is taken
# with a coarser camera (`COARSE`); textures keeps the shifted domain. The backbone is pretrained on `WEB`.
TASKS = {t.name: t for t in [
    Task("shapes", SHAPES, "ImageNet / Caltech101 (generic objects)",
         ("a photo of a {}.", "a drawing of a {}.", "an icon of a {}."), VARIED, draw=0),
    Task("textures", TEXTURES, "DTD (describable textures)",
         ("a {} pattern.", "a {} texture.", "a {} background."), SHIFTED, draw=1),
    Task("fine_grained", tuple(f"{c} {s}" for s in SHAPES for c in _FG_COLORS),
         "StanfordCars / FGVCAircraft (fine-grained: many similar classes)",
         ("a photo of a {}.", "a drawing of a {}.", "an icon of a {}."), VARIED, test_per_class=100, draw=2),
    Task("counting", tuple(f"{w} {'shape' if w == 'one' else 'shapes'}" for w in NUMBER_WORDS[1:11]),
         "CLEVR-Count (counting is hard for CLIP)",
         ("a photo of {}.", "an image of {}.", "{}."), COARSE, draw=3),
    Task("digits", NUMBER_WORDS[:10], "SVHN / rendered text (reading)",
         ("the number {}.", "the digit {}.", "a sign showing {}."), CLUTTERED, draw=4),
]}

# The field's other two protocols (CoCoOp's Tables 2 and 3) train on a source task with all its classes. The
# world's ImageNet is its task with the most classes, fine_grained (48), here in photos. Cross-dataset transfer
# tests on the other tasks; domain generalization on the source's classes under four shifts that mirror
# ImageNet's: another draw from the same distribution (ImageNet-V2), sketches (-Sketch), renditions: negative,
# blurry and dark photos (-R), and hard photos: a small object among other things (-A). -R and -A keep 12 of the
# 48 classes (one colour of each shape), as ImageNet-R and -A keep 200 of ImageNet's 1000.
PHOTOS = replace(VARIED, renderings=(("photo", 1.0),))


def _one_colour_per_shape(offset: int) -> tuple:
    names = TASKS["fine_grained"].classnames  # colour varies fastest: i = shape * 4 + colour
    return tuple(c for i, c in enumerate(names) if i % 4 == (i // 4 + offset) % 4)


SOURCE_TASK = replace(TASKS["fine_grained"], name="fine_grained-photo", domain=PHOTOS, draw=20,
                      rule="fine_grained", mirrors="ImageNet (the source of both protocols)")
DG_TASKS = {t.name: t for t in [
    replace(SOURCE_TASK, name="fine_grained-v2", draw=21, mirrors="ImageNet-V2 (a fresh draw)"),
    replace(SOURCE_TASK, name="fine_grained-sketch", domain=replace(VARIED, renderings=(("sketch", 1.0),)),
            draw=22, mirrors="ImageNet-Sketch (sketches)"),
    replace(SOURCE_TASK, name="fine_grained-r", classnames=_one_colour_per_shape(0), draw=23,
            domain=replace(VARIED, renderings=(("negative", 1 / 3), ("blurry", 1 / 3), ("dark", 1 / 3))),
            mirrors="ImageNet-R (renditions)", test_per_class=300),
    replace(SOURCE_TASK, name="fine_grained-a", classnames=_one_colour_per_shape(1), draw=24,
            domain=replace(PHOTOS, object_sizes=(10, 12, 14), distractors=(0.5, 0.5)),
            mirrors="ImageNet-A (hard photos: small, among other things)", test_per_class=300),
]}
CROSS_DATASET_TASKS = {name: t for name, t in TASKS.items() if name != "fine_grained"}

# Images per class in each split. 300 test images per class give each base or new half at least 1500 test
# images (5 classes), a binomial standard error near one point; fine_grained's 48 classes need fewer each.
SPLIT_SIZES = {"train": 64, "val": 16, "test": 300}
_SPLIT_IDS = {"train": 1, "val": 2, "test": 3}
WORLD_SEED = 2023  # the downstream datasets are fixed like real benchmarks; protocol seeds pick the shots


def get_task(name: str) -> Task:
    """The downstream task called `name` (see `TASKS`)."""
    if name not in TASKS:
        raise KeyError(f"unknown task {name!r}; available tasks: {', '.join(TASKS)}")
    return TASKS[name]


def task_image(task: str | Task, split: str, index: int, details: bool = False):
    """Image `index` of a task's split: (uint8 (H, W, 3), label). Labels cycle through the classes. With
    `details`, also {"rendering": str, "box": (top, left, height, width) of the labelled object}."""
    task = get_task(task) if isinstance(task, str) else task
    if split not in _SPLIT_IDS:
        raise ValueError(f"unknown split {split!r}; use one of {', '.join(_SPLIT_IDS)}")
    if task.draw is None:
        raise ValueError(f"task {task.name!r} has no draw seed; give Task(..., draw=<int>), the seed its images "
                         f"are drawn with (the tasks of TASKS use {[t.draw for t in TASKS.values()]})")
    label = index % len(task.classnames)
    rng = np.random.default_rng([WORLD_SEED, task.draw, _SPLIT_IDS[split], index])
    scene = task.scene(label, rng)
    image, box = render(scene, rng, task.domain, with_box=True)
    return (image, label, {"rendering": scene.rendering, "box": box}) if details else (image, label)


def task_split(task: str | Task, split: str, n_per_class: int | None = None, details: bool = False):
    """All images of a split: (uint8 (N, H, W, 3), int64 labels (N,)), N = classes x images per class; with
    `details`, also the list of each image's details (see `task_image`)."""
    task = get_task(task) if isinstance(task, str) else task
    if n_per_class is None:
        n_per_class = task.test_per_class if split == "test" and task.test_per_class else SPLIT_SIZES[split]
    n = len(task.classnames) * n_per_class
    triples = [task_image(task, split, i, details=True) for i in range(n)]
    images, labels = np.stack([t[0] for t in triples]), np.array([t[1] for t in triples], np.int64)
    return (images, labels, [t[2] for t in triples]) if details else (images, labels)
