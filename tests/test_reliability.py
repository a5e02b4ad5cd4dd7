"""Reliability and security: the rows of the table in the README ("Reliability and security")."""
import math
import os
import pickle
import signal
import textwrap
from dataclasses import replace

import pytest
import torch

from tmml_lite import CoOp, TrainConfig, bench, data, engine, get_task
from tmml_lite.checkpoint import load_tensors, save_tensors

CFG = TrainConfig(epochs=4, batch_size=8)


def _steps_per_epoch(task) -> int:
    """Optimizer steps per epoch of CFG on the base classes of `task` with 16 shots (no image is drawn)."""
    n_base = math.ceil(len(task.classnames) / 2)
    return math.ceil(16 * n_base / CFG.batch_size)


def killed_training(folder):
    """A fresh Python that runs `fit` into folder/killed and SIGKILLs itself in the middle of epoch 3."""
    kill_after_steps = 2 * _steps_per_epoch(get_task("shapes")) + 3
    code = textwrap.dedent(f"""
        import dataclasses, os, signal
        import torch
        from tmml_lite import CoOp, TrainConfig, data, engine, get_task, load_clip
        steps = 0
        step = torch.optim.SGD.step
        def counting_step(self, *args, **kwargs):
            global steps
            result = step(self, *args, **kwargs)
            steps += 1
            if steps == {kill_after_steps!r}:
                os.kill(os.getpid(), signal.SIGKILL)  # no cleanup, no flush: as if the machine died
            return result
        torch.optim.SGD.step = counting_step
        # shapes with a one-image test split: training reads only the train split, the same as small_shapes'
        shapes = dataclasses.replace(get_task("shapes"), test_per_class=1)
        splits = data.base_to_new(shapes, shots=16, seed=1)
        learner = CoOp(load_clip(), splits["train"].classnames)
        engine.fit(learner, splits["train"], TrainConfig(epochs={CFG.epochs}, batch_size={CFG.batch_size}),
                   run_dir={str(folder / "killed")!r}, progress=False)
    """)
    return code, {**os.environ, "TMML_PROFILE": "tiny"}


@pytest.mark.fresh_python("killed_training")
def test_training_killed_with_sigkill_mid_epoch_resumes_to_the_uninterrupted_result(tiny, small_shapes, tmp_path,
                                                                                     monkeypatch, fresh_python):
    splits = data.base_to_new(small_shapes, shots=16, seed=1)
    steps_per_epoch = _steps_per_epoch(small_shapes)
    assert steps_per_epoch == -(-len(splits["train"]) // CFG.batch_size)
    killed = fresh_python.result()
    killed_dir = fresh_python.folder / "killed"
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    assert (killed_dir / "state.json").exists()  # epochs 1 and 2 were checkpointed
    resumed = CoOp(tiny, splits["train"].classnames)
    steps, step = [], torch.optim.SGD.step
    monkeypatch.setattr(torch.optim.SGD, "step", lambda self, *a, **k: (steps.append(1), step(self, *a, **k))[1])
    engine.fit(resumed, splits["train"], CFG, run_dir=killed_dir, progress=False)
    monkeypatch.undo()
    assert len(steps) == (CFG.epochs - 2) * steps_per_epoch  # it continued from epoch 2, it did not start over
    straight = CoOp(tiny, splits["train"].classnames)
    engine.fit(straight, splits["train"], CFG, run_dir=tmp_path / "straight", progress=False)
    assert torch.equal(resumed.ctx, straight.ctx)


def test_an_interrupted_checkpoint_write_never_replaces_a_good_one(tmp_path, monkeypatch):
    path = tmp_path / "learner.safetensors"
    save_tensors(path, {"ctx": torch.ones(2, 3)})

    def power_cut(*args, **kwargs):
        raise OSError("disk write interrupted")

    monkeypatch.setattr(os, "replace", power_cut)  # the new file is written but never renamed into place
    with pytest.raises(OSError, match="interrupted"):
        save_tensors(path, {"ctx": torch.zeros(2, 3)})
    monkeypatch.undo()
    assert torch.equal(load_tensors(path)["ctx"], torch.ones(2, 3))  # the good checkpoint is intact
    assert [p.name for p in tmp_path.iterdir()] == ["learner.safetensors"]  # no temporary file left behind


class _Payload:
    """A pickle that runs code when loaded: creates a marker file."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_a_pickled_checkpoint_with_a_malicious_payload_is_refused(tiny, tmp_path):
    marker = tmp_path / "pwned"
    bad = tmp_path / "learner.safetensors"
    bad.write_bytes(pickle.dumps({"ctx": _Payload(marker)}))
    with pytest.raises(ValueError, match="not a readable safetensors"):
        CoOp(tiny, ["circle", "square"]).load(bad)
    with pytest.raises(ValueError, match="not a readable safetensors"):
        load_tensors(bad)
    assert not marker.exists()  # the payload never ran


def test_the_same_seed_gives_the_same_numbers_twice(tiny, small_digits):
    runs = [engine.run_seed(lambda names, seed: CoOp(tiny, names, seed=seed), small_digits, TrainConfig(epochs=3),
                            seed=2, progress=False) for _ in range(2)]
    assert (runs[0]["base"], runs[0]["new"]) == (runs[1]["base"], runs[1]["new"])
    assert runs[0]["log"]["losses"] == runs[1]["log"]["losses"]
    assert torch.equal(runs[0]["learner"].ctx, runs[1]["learner"].ctx)


def test_every_test_named_in_the_readme_tables_exists():
    """The README's reliability and bad-input tables name their tests; each must exist."""
    import re
    from pathlib import Path
    root = Path(__file__).parents[1]
    readme = (root / "README.md").read_text()
    section = readme[readme.index("## Reliability and security"):readme.index("## Base-to-new results")]
    named = re.findall(r"`(test_\w+\.py)::(test_\w+)`", section)
    assert len(named) >= 15
    for file, name in named:
        assert f"def {name}(" in (root / "tests" / file).read_text(), f"{file}::{name}"


def test_the_thread_count_does_not_change_what_a_run_learns(tiny):
    """The stored outputs must not depend on the reader's CPU: TinyCLIP computes in float64, where the order of
    a sum (set by the thread count and vector width) moves this 3-epoch context by about 2e-17, not by
    float32's 1e-8 (`python -m tmml_lite thread-check --epochs 3`; the recipe's 200 epochs grow float32's
    into tenths of a point of accuracy: `python -m tmml_lite thread-check`)."""
    textures = replace(get_task("textures"), test_per_class=20)  # the same training; a quicker test split
    one, two = bench.thread_dependence(tiny, threads=(1, 2), task=textures, cfg=TrainConfig(epochs=3))
    assert (one["base"], one["new"]) == (two["base"], two["new"])
    assert two["ctx_gap"] < 1e-11
