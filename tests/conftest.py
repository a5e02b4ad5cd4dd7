import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

os.environ.setdefault("TMML_PROFILE", "tiny")


# --- fresh Pythons, started when the session starts ------------------------------------------------------
# A few tests need a fresh Python (to see what importing the library does, or to kill it with SIGKILL). Its
# imports alone (torch, open_clip) take about 5 s, so each is started as soon as the tests are collected and
# runs beside the others; the test that needs it waits for it. A test asks for one with
# @pytest.mark.fresh_python("launcher"), where launcher(folder) -> (code, env) is a function of its module.

class FreshPython:
    """A `python -c code` started now, in its own scratch folder; `result()` waits for it."""

    def __init__(self, code: str, env: dict, folder: Path):
        self.folder = folder
        self.stdout, self.stderr = (open(folder / name, "w+") for name in ("stdout.txt", "stderr.txt"))
        self.process = subprocess.Popen([sys.executable, "-c", code], stdout=self.stdout, stderr=self.stderr,
                                        text=True, env=env)

    def result(self, timeout: float = 300) -> subprocess.CompletedProcess:
        self.process.wait(timeout=timeout)
        out = []
        for f in (self.stdout, self.stderr):
            f.seek(0)
            out.append(f.read())
        return subprocess.CompletedProcess(self.process.args, self.process.returncode, *out)


FRESH: dict[str, FreshPython] = {}


def pytest_configure(config):
    if os.environ.get("PYTEST_XDIST_WORKER"):
        # `make test` runs two workers on two cores: one thread each, so they do not fight over the cores, and
        # the fresh Pythons below inherit it (pretraining is float32: a resumed run equals a straight one only
        # on the same thread count; the tiny profile's float64 results do not depend on it).
        os.environ["OMP_NUM_THREADS"] = "1"
        import torch
        torch.set_num_threads(1)
    config.addinivalue_line("markers", "fresh_python(launcher): the test waits for a fresh Python started when "
                                       "the session starts, by launcher(folder) -> (code, env) of its module")


def start_fresh_python(item) -> None:
    """Start the fresh Python that `item`'s fresh_python marker names, unless it is running already."""
    marker = item.get_closest_marker("fresh_python")
    if marker is not None and marker.args[0] not in FRESH:
        folder = Path(tempfile.mkdtemp(prefix="tmml-fresh-"))
        code, env = getattr(item.module, marker.args[0])(folder)
        FRESH[marker.args[0]] = FreshPython(code, env, folder)


def pytest_collection_finish(session):
    if os.environ.get("PYTEST_XDIST_WORKER"):
        return  # each worker collects every test but runs only some: it starts a fresh Python when one asks
    for item in session.items:  # the selected tests only
        start_fresh_python(item)


def pytest_sessionfinish(session):
    for fresh in FRESH.values():
        if fresh.process.poll() is None:
            fresh.process.kill()
            fresh.process.wait()
        for f in (fresh.stdout, fresh.stderr):
            f.close()
        shutil.rmtree(fresh.folder, ignore_errors=True)


@pytest.fixture
def fresh_python(request) -> FreshPython:
    """The fresh Python this test's fresh_python marker names, started when the session started (or now, on
    a pytest-xdist worker)."""
    start_fresh_python(request.node)
    return FRESH[request.node.get_closest_marker("fresh_python").args[0]]


@pytest.fixture(scope="session")
def tiny():
    """The shipped, pretrained TinyCLIP (model, preprocess, tokenizer)."""
    from tmml_lite import load_clip
    return load_clip(profile="tiny")


@pytest.fixture(scope="session")
def vit_b16_random():
    """open_clip ViT-B-16 with random weights (builds offline): the full profile's shapes, without a download."""
    from tmml_lite import load_clip
    return load_clip("ViT-B-16", pretrained=None, profile="full")


@pytest.fixture(scope="session")
def small_digits():
    """The digits task with 4 test images per class instead of 300: quick runs through the whole protocol, for
    tests of machinery that does not need the full test split."""
    from dataclasses import replace

    from tmml_lite import world
    return replace(world.get_task("digits"), test_per_class=4)


@pytest.fixture(scope="session")
def small_shapes():
    """The shapes task with 50 test images per class instead of 300 (train and val splits unchanged)."""
    from dataclasses import replace

    from tmml_lite import world
    return replace(world.get_task("shapes"), test_per_class=50)
